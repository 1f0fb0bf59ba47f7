//! Structured parallelism on a work-stealing thread pool.
//!
//! This first step holds the waitgroup that tracks every scope: one atomic
//! word whose adds and dones are made only by RAII guards.
//!
//! ```
//! use taskgroup::WaitGroup;
//!
//! let wg = WaitGroup::new();
//! let mut results = vec![0u64; 4];
//! std::thread::scope(|ts| {
//!     for (i, slot) in results.iter_mut().enumerate() {
//!         let guard = wg.add();
//!         ts.spawn(move || {
//!             *slot = (i as u64 + 1) * 10;
//!             guard.done();
//!         });
//!     }
//!     wg.wait();
//! });
//! assert_eq!(results, [10, 20, 30, 40]);
//! ```
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations, unreachable_pub)]
#![allow(dead_code, unused_imports)]

mod sync;
mod waitgroup;

pub use waitgroup::{OwnedWaitGuard, WaitGroup, WaitGuard};
