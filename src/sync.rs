//! The one place that chooses the synchronisation primitives.
//!
//! Every lock-free protocol in the crate is written against this module, so
//! that `RUSTFLAGS="--cfg loom"` swaps in loom's atomics, threads and a small
//! model of the parking lot, and the model checker sees every interleaving.
//! Nothing else in the crate names `std::sync::atomic` or `parking_lot_core`.

#[cfg(not(loom))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(loom))]
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

#[cfg(not(loom))]
pub(crate) use crossbeam_deque::{Injector, Steal};

#[cfg(loom)]
pub(crate) use crossbeam_deque::Steal;

/// Under loom, a multi-producer multi-consumer queue with the API of
/// crossbeam's `Injector`, built on loom's mutex so the model sees it.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Injector<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

#[cfg(loom)]
impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Self(loom::sync::Mutex::new(std::collections::VecDeque::new()))
    }

    pub(crate) fn push(&self, value: T) {
        self.0.lock().unwrap().push_back(value);
    }

    pub(crate) fn steal(&self) -> Steal<T> {
        match self.0.lock().unwrap().pop_front() {
            Some(value) => Steal::Success(value),
            None => Steal::Empty,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

/// A mutex that loom sees: parking_lot's outside loom, loom's under it.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(
    #[cfg(not(loom))] parking_lot::Mutex<T>,
    #[cfg(loom)] loom::sync::Mutex<T>,
);

#[cfg(not(loom))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(parking_lot::Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.0.lock()
    }
}

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

/// Aligns its value to its own cache line (two, on x86_64 with its adjacent
/// line prefetcher), so that writes to it do not evict its neighbours.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A cell whose accesses loom checks for races (under loom it is loom's).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Spin-loop hint; under loom a yield, so that spinning code makes progress.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(loom))]
    std::hint::spin_loop();
    #[cfg(loom)]
    loom::thread::yield_now();
}

/// Address-keyed parking: threads sleep in a global table keyed by an
/// address, so a waiting primitive needs no storage of its own for the queue.
///
/// `validate` runs under the table's lock for `key`, as do the callbacks of
/// [`unpark_all`] and `timed_out`; that lock is what makes "check, then sleep"
/// race-free against "change, then wake".
pub(crate) mod parking {
    /// Why [`park`] returned.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum Parked {
        /// Woken by [`unpark_all`], with the waker's token.
        Unparked(usize),
        /// `validate` returned false: the thread never slept.
        Invalid,
        /// The deadline passed; `timed_out` ran under the lock.
        TimedOut,
    }

    #[cfg(not(loom))]
    mod imp {
        use super::Parked;
        use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkToken};
        use std::time::Instant;

        #[inline]
        pub(crate) fn park(
            key: usize,
            validate: impl FnOnce() -> bool,
            timed_out: impl FnOnce(),
            deadline: Option<Instant>,
        ) -> Parked {
            // SAFETY: `key` is the address of an object owned by the caller;
            // none of the callbacks panics or calls back into the parking lot.
            let result = unsafe {
                parking_lot_core::park(
                    key,
                    validate,
                    || {},
                    |_, _| timed_out(),
                    ParkToken(0),
                    deadline,
                )
            };
            match result {
                ParkResult::Unparked(UnparkToken(token)) => Parked::Unparked(token),
                ParkResult::Invalid => Parked::Invalid,
                ParkResult::TimedOut => Parked::TimedOut,
            }
        }

        #[inline]
        pub(crate) fn unpark_all(key: usize, decide: impl FnOnce() -> Option<usize>) -> usize {
            // `decide` must run under the lock before any thread is taken off
            // the queue: on the first call of the filter, or in the callback
            // when no thread is parked on `key`.
            let decide = std::cell::Cell::new(Some(decide));
            let decision = std::cell::Cell::new(None);
            let decided = || match decision.get() {
                Some(token) => token,
                None => {
                    let token = decide.take().and_then(|f| f());
                    decision.set(Some(token));
                    token
                }
            };
            // SAFETY: as for `park`; `decide` does not panic or park.
            let result = unsafe {
                parking_lot_core::unpark_filter(
                    key,
                    |_| match decided() {
                        Some(_) => FilterOp::Unpark,
                        None => FilterOp::Stop,
                    },
                    |_| UnparkToken(decided().unwrap_or(0)),
                )
            };
            result.unparked_threads
        }

        #[inline]
        pub(crate) fn with_lock<R>(key: usize, f: impl FnOnce() -> R) -> R {
            let f = std::cell::Cell::new(Some(f));
            let out = std::cell::Cell::new(None);
            // SAFETY: as for `park`; `f` does not panic or park. Every thread
            // parked on `key` is skipped: the callback only borrows the lock.
            unsafe {
                parking_lot_core::unpark_filter(
                    key,
                    |_| FilterOp::Skip,
                    |_| {
                        out.set(f.take().map(|f| f()));
                        UnparkToken(0)
                    },
                )
            };
            out.into_inner().expect("the callback runs once")
        }
    }

    /// A model of the parking lot for loom: one lock over a list of parked
    /// threads, each waiting on a condition variable for its token. A timed
    /// park may time out at any point loom chooses, which is exactly the
    /// freedom a real clock has.
    #[cfg(loom)]
    mod imp {
        use super::Parked;
        use loom::sync::{Condvar, Mutex};
        use std::time::Instant;

        struct Lot {
            parked: Mutex<Vec<Entry>>,
            wakeup: Condvar,
        }

        struct Entry {
            key: usize,
            id: usize,
            token: Option<usize>,
        }

        loom::lazy_static! {
            static ref LOT: Lot = Lot { parked: Mutex::new(Vec::new()), wakeup: Condvar::new() };
            static ref NEXT_ID: loom::sync::atomic::AtomicUsize = loom::sync::atomic::AtomicUsize::new(0);
        }

        fn take_token(parked: &mut Vec<Entry>, id: usize) -> Option<usize> {
            let at = parked.iter().position(|e| e.id == id)?;
            let token = parked[at].token?;
            parked.remove(at);
            Some(token)
        }

        pub(crate) fn park(
            key: usize,
            validate: impl FnOnce() -> bool,
            timed_out: impl FnOnce(),
            deadline: Option<Instant>,
        ) -> Parked {
            let id = NEXT_ID.fetch_add(1, loom::sync::atomic::Ordering::Relaxed);
            let mut parked = LOT.parked.lock().unwrap();
            if !validate() {
                return Parked::Invalid;
            }
            parked.push(Entry {
                key,
                id,
                token: None,
            });
            if deadline.is_some() {
                // Let the world run, then either take a token or time out.
                drop(parked);
                loom::thread::yield_now();
                let mut parked = LOT.parked.lock().unwrap();
                if let Some(token) = take_token(&mut parked, id) {
                    return Parked::Unparked(token);
                }
                parked.retain(|e| e.id != id);
                timed_out();
                return Parked::TimedOut;
            }
            loop {
                if let Some(token) = take_token(&mut parked, id) {
                    return Parked::Unparked(token);
                }
                parked = LOT.wakeup.wait(parked).unwrap();
            }
        }

        pub(crate) fn unpark_all(key: usize, decide: impl FnOnce() -> Option<usize>) -> usize {
            let mut parked = LOT.parked.lock().unwrap();
            let Some(token) = decide() else {
                return 0;
            };
            let chosen: Vec<usize> = parked
                .iter()
                .enumerate()
                .filter(|(_, e)| e.key == key && e.token.is_none())
                .map(|(i, _)| i)
                .collect();
            for &i in &chosen {
                parked[i].token = Some(token);
            }
            drop(parked);
            LOT.wakeup.notify_all();
            chosen.len()
        }

        pub(crate) fn with_lock<R>(_key: usize, f: impl FnOnce() -> R) -> R {
            let parked = LOT.parked.lock().unwrap();
            let out = f();
            drop(parked);
            out
        }
    }

    /// Parks the current thread on `key` unless `validate` (run under the
    /// lock) returns false. With a deadline, `timed_out` runs under the lock
    /// once the thread has been taken off the queue.
    pub(crate) use imp::park;
    /// Wakes every thread parked on `key`, if `decide` (run under the lock,
    /// before any thread is taken off the queue) returns the token to give
    /// them; wakes none if it returns `None`.
    pub(crate) use imp::unpark_all;
    /// Runs `f` under the lock for `key`, as `validate` and `decide` run:
    /// what `f` does is ordered with every park on and unpark of `key`.
    pub(crate) use imp::with_lock;
}

/// A shared read of the cell, as loom's `UnsafeCell::with` (which checks it
/// against concurrent writes).
#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
}
