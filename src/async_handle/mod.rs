//! Awaitable spawns: [`ThreadPool::spawn_async`], [`spawn_async`] and the
//! [`AsyncHandle`] they return, a future of the task's result.
//!
//! The task is a detached job (`pool::spawn_detached`) that also completes
//! a small shared state when it ends; the handle polls that state. The
//! protocol between the two, and why no wake-up is lost, is in `state`.
//! Only `std::task` is used, so the handle works under any executor.

pub(crate) mod state;

use std::fmt;
use std::future::Future;
use std::panic::{self, Location};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::error::{JoinError, TaskOrigin};
use crate::job::catch;
use crate::pool::registry::Registry;
use crate::pool::spawn_detached;
use crate::pool::worker::WorkerThread;
use crate::sync::Arc;
use crate::ThreadPool;
use state::{Outcome, Receiver};

/// A future of the result of a task spawned with
/// [`ThreadPool::spawn_async`] or [`spawn_async`]: the task's value, or a
/// [`JoinError`] if it panicked or was cancelled before it started.
///
/// The task runs on the pool whether or not the handle is polled. Awaiting
/// the handle never blocks the polling thread: a poll either finds the
/// result or leaves the waker it was given, which the task's worker wakes
/// when the task ends. It works with any executor (it uses `std::task`
/// only). The handle is `Send`, `Sync` and `Unpin`.
///
/// * Polled after the task ended, the handle is ready at once.
/// * Polled again with a waker that would wake another task, it wakes that
///   one only: the waker of the latest poll is the one woken.
/// * Dropping the handle detaches the task: it still runs, its value is
///   dropped, and a panic goes to the pool's
///   [`panic_handler`](crate::ThreadPoolBuilder::panic_handler) (or stderr
///   without one), as for [`ThreadPool::spawn`]. If the task has already
///   ended when the handle is dropped, this happens on the dropping thread:
///   the value is dropped there, and a panic (of the task, or of the value's
///   `Drop`) is handed to the panic handler there.
///
/// # Panics
///
/// Polling the handle again after it returned `Poll::Ready` panics, naming
/// that rule, as an `async fn` resumed after completion does.
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let pool = taskgroup::ThreadPool::builder().num_threads(2).build()?;
/// let runtime = tokio::runtime::Builder::new_current_thread().build()?;
/// let sum = runtime.block_on(async {
///     let data: Vec<u64> = (1..=10_000).collect();
///     // The runtime's thread is free while a worker sums.
///     pool.spawn_async(move || data.iter().sum::<u64>()).await
/// })?;
/// assert_eq!(sum, 50_005_000);
/// # Ok(())
/// # }
/// ```
pub struct AsyncHandle<T> {
    receiver: Receiver<T>,
    /// The task's pool, for a panic found in the outcome when the handle
    /// is dropped after the task ended.
    registry: Arc<Registry>,
    /// Where the task was spawned, for that panic's report.
    spawned_at: &'static Location<'static>,
}

impl<T> AsyncHandle<T> {
    /// Cancels the task if it has not started: it will never run, the
    /// handle is finished at once and resolves to a [`JoinError`] whose
    /// [`is_cancelled`](JoinError::is_cancelled) is true. The closure is
    /// dropped, unrun, on the worker that takes its job from the queue (a
    /// panic in that drop goes to the pool's panic handler).
    ///
    /// If the task has already started, `cancel` does nothing: the task
    /// runs to the end and the handle resolves to its value (or its panic).
    /// There is no preemption; a long task that should stop early can check
    /// a flag of its own. Never blocks. Calling it again, or after the task
    /// ended, does nothing.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// use futures::executor::block_on;
    ///
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// // Keep the only worker busy, so the next task cannot start yet.
    /// let (release, blocked) = mpsc::channel::<()>();
    /// pool.spawn(move || blocked.recv().unwrap());
    ///
    /// let handle = pool.spawn_async(|| unreachable!("cancelled before it started"));
    /// handle.cancel();
    /// assert!(handle.is_finished());
    /// release.send(()).unwrap();
    /// assert!(block_on(handle).unwrap_err().is_cancelled());
    /// ```
    pub fn cancel(&self) {
        self.receiver.state.cancel();
    }

    /// Whether the result is in: the task ran to the end (or panicked), or
    /// was cancelled before it started. Then awaiting the handle does not
    /// wait. Never blocks.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let handle = pool.spawn_async(|| 6 * 7);
    /// while !handle.is_finished() {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(futures::executor::block_on(handle).unwrap(), 42);
    /// ```
    pub fn is_finished(&self) -> bool {
        self.receiver.is_finished()
    }
}

impl<T> Future for AsyncHandle<T> {
    type Output = Result<T, JoinError>;

    /// The task's value once it has ended; otherwise leaves `cx`'s waker to
    /// be woken when it ends (in place of any waker an earlier poll left).
    ///
    /// # Errors
    ///
    /// A [`JoinError`]: [`is_panic`](JoinError::is_panic) if the task
    /// panicked ([`into_panic`](JoinError::into_panic) gives the original
    /// payload), [`is_cancelled`](JoinError::is_cancelled) if it was
    /// cancelled before it started.
    ///
    /// # Panics
    ///
    /// If an earlier poll returned `Poll::Ready`.
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.get_mut().receiver.poll(cx.waker())
    }
}

impl<T> Drop for AsyncHandle<T> {
    fn drop(&mut self) {
        if let Some(outcome) = self.receiver.detach() {
            dispose(outcome, &self.registry, self.spawned_at);
        }
    }
}

impl<T> fmt::Debug for AsyncHandle<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AsyncHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// Disposes of an outcome nobody will read: drops the value, and hands a
/// panic (of the task, or of the value's `Drop`) to the pool's handler.
fn dispose<T>(outcome: Outcome<T>, registry: &Registry, spawned_at: &'static Location<'static>) {
    let payload = match outcome {
        Ok(value) => match catch(move || drop(value)) {
            Ok(()) => return,
            Err(payload) => payload,
        },
        Err(payload) => payload,
    };
    registry.handle_panic(payload, spawned_at);
}

/// Queues `f` on `registry` as a detached job that completes the handle's
/// state when it ends; the caller's location goes into its `JoinError`.
#[track_caller]
fn spawn_on<F, T>(registry: Arc<Registry>, f: F) -> AsyncHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let spawned_at = Location::caller();
    let (sender, receiver) = state::channel(TaskOrigin::new(spawned_at, None));
    // A panic escaping this closure (from dropping a cancelled `f`, from
    // dropping the value of a detached task, or a detached task's own,
    // re-raised) goes to the pool's panic handler through `spawn_detached`.
    spawn_detached(&registry, move || {
        if !sender.start() {
            drop(f);
            return;
        }
        let outcome = catch(f);
        match sender.complete(outcome) {
            None => {}
            Some(Ok(value)) => drop(value),
            Some(Err(payload)) => panic::resume_unwind(payload),
        }
    });
    AsyncHandle {
        receiver,
        registry,
        spawned_at,
    }
}

impl ThreadPool {
    /// Queues `f` on this pool and returns an [`AsyncHandle`], a future of
    /// its result, so that async code can offload CPU-bound work without
    /// blocking its executor's threads.
    ///
    /// The job is queued as by [`spawn`](Self::spawn): on the current
    /// worker's own queue when called from a worker of this pool, in the
    /// pool's shared queue otherwise. `f` runs whether or not the handle is
    /// awaited; dropping the handle detaches it (see [`AsyncHandle`]).
    ///
    /// `f` must be `'static`. To run a [`scope`](crate::scope) whose tasks
    /// borrow data, move the data into `f` and open the scope inside it:
    /// `pool.spawn_async(move || taskgroup::scope(|s| ...))` (inside a
    /// worker, `taskgroup::scope` uses that worker's pool).
    ///
    /// # Cost
    ///
    /// One allocation, an `Arc` holding the state word, the waker slot and
    /// the result, plus the job: in a recycled job slot when `f` and one
    /// pointer fit in 96 bytes, else one more allocation. Then one push on a
    /// queue and, if a worker sleeps, waking it. When the task ends: one
    /// atomic read-modify-write, and waking the awaiting task's waker if
    /// it is pending.
    ///
    /// ```
    /// use futures::executor::block_on;
    ///
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// let data: Vec<u64> = (0..100_000).collect();
    /// let handle = pool.spawn_async(move || {
    ///     // The closure owns `data`; the scope's tasks borrow it.
    ///     let mut sums = [0u64; 4];
    ///     taskgroup::scope(|s| {
    ///         for (chunk, sum) in data.chunks(25_000).zip(&mut sums) {
    ///             s.spawn(move |_| *sum = chunk.iter().sum());
    ///         }
    ///     });
    ///     sums.iter().sum::<u64>()
    /// });
    /// assert_eq!(block_on(handle).unwrap(), 4_999_950_000);
    ///
    /// // A panic comes back as a JoinError holding the original payload.
    /// let err = block_on(pool.spawn_async(|| -> u8 { panic!("bad input") })).unwrap_err();
    /// assert!(err.is_panic());
    /// assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"bad input"));
    /// ```
    #[track_caller]
    pub fn spawn_async<F, T>(&self, f: F) -> AsyncHandle<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        spawn_on(Arc::clone(&self.registry), f)
    }
}

/// Queues `f` on the current pool (the global pool outside any worker) and
/// returns an [`AsyncHandle`], a future of its result. See
/// [`ThreadPool::spawn_async`].
///
/// On a worker, the job goes on that worker's own queue, as with
/// [`spawn`](crate::spawn).
///
/// ```
/// let handle = taskgroup::spawn_async(|| (1..=10u64).product::<u64>());
/// assert_eq!(futures::executor::block_on(handle).unwrap(), 3_628_800);
/// ```
#[track_caller]
pub fn spawn_async<F, T>(f: F) -> AsyncHandle<T>
where
    F: FnOnce() -> T + Send + 'static,
    T: Send + 'static,
{
    let registry = match WorkerThread::current() {
        Some(worker) => worker.registry_arc(),
        None => Arc::clone(&crate::global::pool().registry),
    };
    spawn_on(registry, f)
}
