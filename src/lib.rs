//! Structured parallelism on a work-stealing thread pool.
//!
//! The unit of work is the *scope*: tasks spawned inside it may borrow from
//! the caller's stack, and the scope does not end until every one of them has
//! finished.
//!
//! ```
//! let pool = taskgroup::ThreadPool::new();
//! let mut data = vec![1u32; 1 << 16];
//! pool.scope(|s| {
//!     for chunk in data.chunks_mut(4096) {
//!         s.spawn(move |_| chunk.iter_mut().for_each(|x| *x += 1)); // borrows
//!     }
//! }); // joins here
//! assert!(data.iter().all(|&x| x == 2));
//! ```
//!
//! Each scope's lifetime is tracked by a [`WaitGroup`], one atomic word whose
//! adds and dones are made only by RAII guards, so the count can never go
//! negative and an add can never race the wait. The waitgroup is public and
//! useful on its own:
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
//!
//! The free functions ([`scope`], [`try_scope`], [`scope_builder`], [`join`],
//! [`spawn`], [`spawn_async`]) run on the pool of the current worker thread,
//! or on a global pool (one thread per CPU, built on first use, or
//! configured once with [`ThreadPoolBuilder::build_global`]).
//!
//! # Beyond fork-join
//!
//! * [`Scope::spawn_handle`] returns a [`TaskHandle`] whose
//!   [`join`](TaskHandle::join) gives the task's value or a [`JoinError`].
//! * [`Scope::cancel`]: tasks not yet started are dropped, never run, and
//!   cancellation reaches every scope opened inside the scope's tasks.
//! * [`ThreadPool::try_scope`]: tasks return `Result`; the first error
//!   cancels the rest and becomes the result (Go's errgroup).
//! * [`ThreadPool::scope_builder`]: a deadline after which the scope counts
//!   as cancelled, and a cap on how many of its tasks run at once.
//! * [`ThreadPool::broadcast`] runs a closure once on every worker;
//!   [`yield_now`] and [`yield_local`] let a long task run queued jobs.
//! * [`ThreadPool::spawn_async`] and [`spawn_async`] return an
//!   [`AsyncHandle`], a future of a task's result, so that async code
//!   offloads CPU-bound work without blocking its executor (any executor:
//!   only `std::task` is used); [`WaitGroup::wait_async`] awaits a group.
//! * [`WaitGroup::wait`] on a pool worker keeps running the pool's jobs, as
//!   a scope's wait does.
//! * Diagnostics: a [`JoinError`] says where its task was spawned
//!   ([`JoinError::spawned_at`]) and in which [named](ScopeBuilder::name)
//!   scope; [`ThreadPool::metrics`] shows what the workers have been doing.
//!
//! # Bad input
//!
//! Nothing here aborts the process or loses a task; every error names the
//! rule it enforces.
//!
//! | input | behaviour |
//! |---|---|
//! | `num_threads(0)` | [`BuildError::ZeroThreads`] |
//! | a stack size the OS refuses | [`BuildError::Spawn`], with the `io::Error` as its source |
//! | a stack size below [`ThreadPoolBuilder::MIN_STACK_SIZE`] (even `stack_size(1)`) | raised to that minimum, which a worker's whole life fits in |
//! | a `thread_name` closure that panics | [`BuildError::ThreadNamePanicked`] |
//! | a thread name with a NUL byte | [`BuildError::ThreadNameContainsNul`] |
//! | a `thread_name` closure whose captures panic when dropped | that panic reaches the caller of `build` |
//! | any of the `build` failures above | threads already started are stopped and joined (exit handlers run) before `build` returns or unwinds |
//! | a `start_handler` or `exit_handler` that panics | reported on stderr; the worker runs on |
//! | a `panic_handler` that panics | reported on stderr; the worker runs on |
//! | a task whose captures panic when dropped (after running, or when cancelled) | that panic is the task's panic, re-raised by the scope |
//! | a panic payload whose `Drop` panics | caught wherever the pool drops a payload; the worker runs on |
//! | a [`try_scope`] error whose `Drop` panics | a later error is dropped by the task that returned it: the panic is that task's; if the scope re-raises a panic, the first error is dropped first and a panic in that drop is swallowed (see [`TryScope`]) |
//! | a [`try_scope`] task that panics after another returned an error, or the reverse | the panic is re-raised; the error is dropped |
//! | more than `u32::MAX` outstanding guards of one [`WaitGroup`] | panic: "WaitGroup overflow: at most u32::MAX guards ..."; every add past the limit panics, also when several race, and the count never reads low |
//! | `build_global` after the global pool exists | [`BuildError::GlobalPoolAlreadyInitialized`] |
//! | `TASKGROUP_NUM_THREADS` set to anything but a positive integer (`""`, `"0"`, `"-1"`, `"4 "`, ...) when it decides a pool's size | [`BuildError::InvalidEnv`] naming the variable and the value; a panic with that message from [`ThreadPool::new`] and from the global pool's first use |
//! | `max_concurrency(0)` | panic: "max_concurrency must be at least 1 ..." |
//! | [`JoinError::into_panic`] on an error that is not a panic | panic naming the rule |
//! | a task spawning into its scope after the body returned | allowed: the task holds the scope open |
//! | a scope after its pool was dropped | impossible: scopes borrow their pool, and a [`ScopeBuilder`] either borrows it or looks up the current pool when it runs |
#![deny(missing_docs, unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations, unreachable_pub)]

// The layers, bottom up; imports point one way only (the book's Internals
// chapter says what each knows):
//   sync -> waitgroup, slots, error -> job
//   -> context, lend, spare, stack_job (what jobs and scopes leave on a thread)
//   -> pool/, join (the scheduler: nothing of scopes)
//   -> scope/ -> thread_pool, global, async_handle, this file (the API)

mod async_handle;
mod context;
mod error;
mod global;
mod job;
mod join;
mod lend;
mod local_wait;
mod pool;
mod scope;
mod slots;
mod spare;
mod stack_job;
mod sync;
mod thread_pool;
mod waitgroup;

#[cfg(doctest)]
mod book_tests;

pub use async_handle::{spawn_async, AsyncHandle};
pub use error::{BuildError, DeadlineExceeded, JoinError};
pub use pool::broadcast::BroadcastContext;
pub use pool::builder::ThreadPoolBuilder;
pub use pool::metrics::PoolMetrics;
pub use pool::yield_now::{yield_local, yield_now, Yield};
pub use scope::{Scope, ScopeBuilder, TaskHandle, TryScope};
pub use thread_pool::ThreadPool;
pub use waitgroup::{OwnedWaitGuard, WaitAsync, WaitGroup, WaitGuard};

use pool::worker::WorkerThread;

/// Internals exposed to the loom model checks in `tests/loom_*.rs` only.
#[cfg(loom)]
#[doc(hidden)]
#[path = "loom_api/mod.rs"]
pub mod __loom;

/// Runs `op` in a new [`Scope`] on the current pool (the global pool outside
/// any worker) and returns its value once every spawned task has finished.
/// See [`ThreadPool::scope`].
///
/// ```
/// let mut sums = [0u32; 2];
/// let (left, right) = sums.split_at_mut(1);
/// taskgroup::scope(|s| {
///     s.spawn(|_| left[0] = (1..=10).sum());
///     s.spawn(|_| right[0] = (11..=20).sum());
/// });
/// assert_eq!(sums, [55, 155]);
/// ```
pub fn scope<'scope, OP, R>(op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    scope::run(global::current_registry(), Default::default(), op)
}

/// Runs `op` in a new [`TryScope`] on the current pool (the global pool
/// outside any worker): the first error cancels the scope and becomes the
/// result. See [`ThreadPool::try_scope`].
///
/// # Errors
///
/// The first error returned by a task or by `op`.
///
/// ```
/// let r = taskgroup::try_scope(|s| {
///     s.spawn(|_| Err("no"));
///     s.spawn(|s| if s.is_cancelled() { Ok(()) } else { Ok(()) });
///     Ok(7)
/// });
/// assert_eq!(r, Err("no"));
/// ```
pub fn try_scope<'scope, OP, R, E>(op: OP) -> Result<R, E>
where
    OP: FnOnce(&TryScope<'scope, E>) -> Result<R, E>,
    E: Send + 'scope,
{
    scope::try_scope::run(global::current_registry(), Default::default(), op)
}

/// A [`ScopeBuilder`] (deadline, concurrency limit) for a scope on the
/// current pool (the global pool outside any worker), as found when the
/// scope runs.
///
/// ```
/// use std::time::Duration;
/// let r = taskgroup::scope_builder()
///     .max_concurrency(2)
///     .timeout(Duration::from_secs(10))
///     .scope(|s| {
///         for _ in 0..4 {
///             s.spawn(|_| {});
///         }
///     });
/// assert!(r.is_ok());
/// ```
pub fn scope_builder() -> ScopeBuilder<'static> {
    ScopeBuilder::new(None)
}

/// Runs `a` and `b`, potentially in parallel, on the current pool (the
/// global pool outside any worker). See [`ThreadPool::join`].
///
/// ```
/// let (a, b) = taskgroup::join(|| 1 + 1, || "two");
/// assert_eq!((a, b), (2, "two"));
/// ```
#[inline]
pub fn join<A, B, RA, RB>(a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    match WorkerThread::current() {
        Some(worker) => join::join_on_worker(worker, a, b),
        None => global::pool().join(a, b),
    }
}

/// Queues a detached `'static` task on the current pool (the global pool
/// outside any worker). See [`ThreadPool::spawn`].
///
/// ```
/// let (tx, rx) = std::sync::mpsc::channel();
/// taskgroup::spawn(move || tx.send("done").unwrap());
/// assert_eq!(rx.recv().unwrap(), "done");
/// ```
#[track_caller]
pub fn spawn<F>(f: F)
where
    F: FnOnce() + Send + 'static,
{
    pool::spawn_detached(global::current_registry(), f);
}

/// The number of threads of the current pool: the pool of the worker this
/// is called on, or the global pool anywhere else (which this builds, if
/// nothing has used it yet).
///
/// Use it to decide how finely to split work for the pool that will run it.
///
/// ```
/// let pool = taskgroup::ThreadPool::builder().num_threads(3).build().unwrap();
/// assert_eq!(pool.install(taskgroup::current_num_threads), 3);
/// // Outside any worker: the global pool (one thread per logical CPU,
/// // or as `TASKGROUP_NUM_THREADS` or `build_global` says).
/// assert!(taskgroup::current_num_threads() >= 1);
/// ```
///
/// # Panics
///
/// Outside a worker, if the global pool does not exist yet and cannot be
/// built (see [`ThreadPool::new`]).
pub fn current_num_threads() -> usize {
    global::current_registry().num_threads()
}

/// The index of the current thread in its pool, or `None` outside any pool's
/// workers.
///
/// ```
/// assert_eq!(taskgroup::current_thread_index(), None);
/// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
/// assert_eq!(pool.install(taskgroup::current_thread_index), Some(0));
/// ```
pub fn current_thread_index() -> Option<usize> {
    WorkerThread::current().map(WorkerThread::index)
}
