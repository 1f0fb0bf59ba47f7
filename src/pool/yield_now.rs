//! [`yield_now`] and [`yield_local`]: a running job lets its worker run one
//! other queued job, the way the worker loop would, then carries on.

use super::worker::WorkerThread;
use crate::job::JobRef;

/// What [`yield_now`] or [`yield_local`] did on a worker.
///
/// ```
/// use taskgroup::Yield;
///
/// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
/// // Nothing else is queued on the pool's only worker.
/// assert_eq!(pool.install(taskgroup::yield_now), Some(Yield::Idle));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Yield {
    /// A queued job ran (and finished) before the call returned.
    Executed,
    /// There was no queued job to run; nothing happened.
    Idle,
}

/// Runs one job that the current worker would otherwise run later, if there
/// is one, and returns whether it did: `Some(Yield::Executed)` after running
/// one, `Some(Yield::Idle)` if it found none, and `None` on a thread that is
/// not a pool worker (where it does nothing).
///
/// The job comes from wherever the worker would look for its next job: a
/// [`broadcast`](crate::ThreadPool::broadcast) share for this worker, its own
/// deque, the pool's injector, or another worker's deque. It may be
/// unrelated to the calling task (it runs with no scope context, as on an
/// idle worker), it may take long, and it may itself yield. Use it in a
/// long-running task that must not keep the pool's other work waiting, or in
/// a loop that polls for something other tasks produce, so that on a small
/// pool those tasks get to run. Unlike [`std::thread::yield_now`], it never
/// gives the CPU to another thread.
///
/// # Panics
///
/// Never because of the job it runs: a job's panic is handled as it would
/// be on an idle worker (recorded for its scope, or given to the panic
/// handler).
///
/// ```
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use taskgroup::Yield;
///
/// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
/// let ready = AtomicBool::new(false);
/// pool.scope(|s| {
///     s.spawn(|s| {
///         s.spawn(|_| ready.store(true, Ordering::Release));
///         // The pool's only worker is busy with this task: without the
///         // yield, the task above could not run until this one ends.
///         while !ready.load(Ordering::Acquire) {
///             assert_eq!(taskgroup::yield_now(), Some(Yield::Executed));
///         }
///     });
/// });
/// assert_eq!(taskgroup::yield_now(), None); // not on a worker
/// ```
pub fn yield_now() -> Option<Yield> {
    let worker = WorkerThread::current()?;
    Some(run(worker, worker.find_work_to_yield(false)))
}

/// Like [`yield_now`], but looks only at the current worker's own queues:
/// its deque (the jobs it queued itself and nobody has stolen yet) and the
/// [`broadcast`](crate::ThreadPool::broadcast) shares addressed to it, work
/// that no other worker would take from it first. It never takes a job from
/// the pool's injector or steals from another worker, so it touches no
/// memory that other threads write, unless it finds a job. `None` off the
/// pool's workers.
///
/// ```
/// use taskgroup::Yield;
///
/// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
/// let (first, second) = pool.install(|| {
///     // Queued on this worker's own deque.
///     taskgroup::spawn(|| {});
///     (taskgroup::yield_local(), taskgroup::yield_local())
/// });
/// assert_eq!((first, second), (Some(Yield::Executed), Some(Yield::Idle)));
/// assert_eq!(taskgroup::yield_local(), None); // not on a worker
/// ```
pub fn yield_local() -> Option<Yield> {
    let worker = WorkerThread::current()?;
    let job = worker.find_work_to_yield(true);
    Some(run(worker, job))
}

/// Runs `job`, if any, as the worker loop would, in the middle of the job
/// that is running now.
fn run(worker: &WorkerThread, job: Option<JobRef>) -> Yield {
    let Some(job) = job else {
        return Yield::Idle;
    };
    // The `join` frames of the running job are work nobody else can see,
    // and the job about to run may block: show them first, as a wait does.
    worker.publish_all();
    // SAFETY: a job taken out of a queue is executed once.
    unsafe { worker.execute(job) };
    // Units the job left spare belong to its scope, not to the job that
    // yielded, which may block and must not hold that scope open.
    crate::spare::give_back();
    Yield::Executed
}
