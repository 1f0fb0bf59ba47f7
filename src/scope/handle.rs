//! [`TaskHandle`]: the result of one task of a scope.
//!
//! The handle and its task share a small heap state: a one-guard
//! [`WaitGroup`] that the task's sender marks done once the outcome is
//! written, and the index of a worker waiting in `join`, which the sender
//! wakes.
//!
//! The state also holds the task itself, which `join` may run in place
//! (see `handle_state`).
//!
//! A panic in a task with a handle belongs to the handle. So that it is not
//! lost when nobody joins, the scope also keeps it, and re-raises it at its
//! end unless a `join` took it first.

use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;

use super::core::ScopeCore;
use super::handle_state::{tag, Outcome, PanicSlot, State};
use super::task::lend_slot;
use crate::error::{JoinError, TaskOrigin};
use crate::pool::registry::Registry;
use crate::pool::worker::WorkerThread;
use crate::sync::{Arc, Ordering};
use crate::waitgroup::WaitGuard;

/// The result of a task spawned with
/// [`Scope::spawn_handle`](crate::Scope::spawn_handle) or
/// [`TryScope::spawn_handle`](crate::TryScope::spawn_handle).
///
/// Dropping the handle leaves the task running; the scope joins it as
/// usual, and re-raises its panic, if any, at its end.
#[must_use = "dropping a TaskHandle detaches it; call `join` to get the result"]
pub struct TaskHandle<'scope, T> {
    state: Arc<State<T>>,
    /// The task's pool; only compared, never dereferenced: the handle may
    /// outlive it.
    registry: *const Registry,
    /// The task's scope; never dereferenced unless the current thread runs
    /// inside it (see `lend_slot`): the handle may outlive it.
    core: *const ScopeCore,
    _scope: PhantomData<&'scope ()>,
}

// SAFETY: the handle only moves a `T: Send` out of the shared state; its
// pointers are compared, not dereferenced (see the fields).
unsafe impl<T: Send> Send for TaskHandle<'_, T> {}
// SAFETY: `&TaskHandle` only reads an atomic count.
unsafe impl<T: Send> Sync for TaskHandle<'_, T> {}

impl<T> TaskHandle<'_, T> {
    pub(crate) fn state(&self) -> &Arc<State<T>> {
        &self.state
    }

    /// Whether the task has finished (run to the end, panicked, or been
    /// skipped because its scope was cancelled). `join` will not wait.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }

    /// Waits for the task and returns its value.
    ///
    /// On a worker of the task's pool, a task that has not started yet runs
    /// right here, inside `join` (in a scope with a concurrency limit, only
    /// if the caller can lend it a slot, or once it has one). Otherwise a
    /// worker of any pool runs that pool's queued jobs while it waits (only
    /// the jobs its own task queued, when that task has a handle itself:
    /// see the book's chapter on internals), and any other thread blocks.
    /// So a join cannot deadlock as long as no task waits, through handles
    /// and scopes, for itself: not on a pool of one thread, nor across
    /// pools.
    ///
    /// # Errors
    ///
    /// [`JoinError`] if the task panicked (the panic is then handed to you,
    /// not re-raised by the scope), was cancelled before it started, or, in a
    /// [`TryScope`](crate::TryScope), returned an error (which became the
    /// scope's result).
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// pool.scope(|s| {
    ///     let answer = s.spawn_handle(|_| 6 * 7);
    ///     let oops = s.spawn_handle(|_| -> u32 { panic!("boom") });
    ///     assert_eq!(answer.join().unwrap(), 42);
    ///     assert!(oops.join().unwrap_err().is_panic());
    /// }); // the panic was taken by `join`: the scope does not re-raise it
    /// ```
    pub fn join(self) -> Result<T, JoinError> {
        let mut asked = None;
        if !self.is_finished() {
            let worker = WorkerThread::current();
            if self.state.limited {
                asked = lend_slot(self.core, tag(&self.state), worker);
            }
            if let Some(worker) = worker.filter(|w| ptr::eq(w.registry(), self.registry)) {
                self.run_here(worker);
            }
        }
        if !self.is_finished() {
            self.wait();
        }
        if let Some(host) = asked {
            host.withdraw(tag(&self.state));
        }
        // SAFETY: the task has finished, and `join` consumes the handle.
        match unsafe { self.state.take() } {
            Some(Outcome::Value(value)) => Ok(value),
            Some(Outcome::Panicked(slot)) => {
                let payload = slot.take().unwrap_or_else(|| {
                    Box::new("taskgroup: this task's panic was already re-raised by its scope")
                });
                Err(JoinError::panicked(payload, self.state.origin.clone()))
            }
            Some(Outcome::Failed) => Err(JoinError::failed(self.state.origin.clone())),
            None => Err(JoinError::cancelled(self.state.origin.clone())),
        }
    }

    /// On a worker of the task's pool: runs the task here if it has not
    /// started and holds a slot of its scope's limit, if any.
    fn run_here(&self, worker: &WorkerThread) {
        if !self.is_finished() && self.state.launched.load(Ordering::Acquire) {
            worker.as_new_job(|| self.state.run_if_unclaimed());
        }
        // The task's units of its scope's count, kept spare by this worker,
        // go back: what follows here is not a task of that scope, and may
        // block.
        crate::spare::give_back();
    }

    /// Waits for the task to finish elsewhere.
    fn wait(&self) {
        match WorkerThread::current() {
            // A worker, of this pool or another, runs its own pool's jobs
            // while it waits (so pools that wait on each other cannot
            // deadlock), and is woken through its own pool.
            Some(worker) => {
                if !ptr::eq(worker.registry(), self.registry) {
                    *self.state.joiner_pool.lock() = Some(worker.registry_arc());
                }
                self.state
                    .wait_as_worker(worker.index(), |done| worker.wait_until(done))
            }
            None => self.state.wait_blocking(),
        }
    }
}

impl<T> fmt::Debug for TaskHandle<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

/// The task's end of a handle. Dropping it without sending means the task
/// was cancelled.
pub(crate) struct Sender<T> {
    state: Arc<State<T>>,
    guard: ManuallyDrop<WaitGuard<'static>>,
    core: *const ScopeCore,
}

// SAFETY: as for `TaskHandle`; `core` is only used while the task's scope
// guard keeps the scope alive (the sender is dropped before it).
unsafe impl<T: Send> Send for Sender<T> {}

/// A handle and its sender, for a task of `core` (`limited` if the scope
/// has a concurrency limit) spawned as `origin` says.
pub(crate) fn channel<'scope, T>(
    core: &ScopeCore,
    limited: bool,
    origin: TaskOrigin,
) -> (TaskHandle<'scope, T>, Sender<T>) {
    let (state, guard) = State::new(limited, origin);
    let sender = Sender {
        state: Arc::clone(&state),
        guard: ManuallyDrop::new(guard),
        core,
    };
    let handle = TaskHandle {
        state,
        registry: core.registry(),
        core,
        _scope: PhantomData,
    };
    (handle, sender)
}

impl<T> Sender<T> {
    /// Records what the task produced: its value, its panic, or (`Ok(None)`)
    /// that it failed with an error its scope took.
    pub(crate) fn send(self, result: std::thread::Result<Option<T>>) {
        let outcome = match result {
            Ok(Some(value)) => Outcome::Value(value),
            Ok(None) => Outcome::Failed,
            Err(payload) => {
                let slot = PanicSlot::new(payload);
                // SAFETY: the task is running, so its scope is alive.
                unsafe { (*self.core).add_handle_panic(slot.clone()) };
                Outcome::Panicked(slot)
            }
        };
        // SAFETY: the sender writes once, before its guard's `done` in `drop`.
        unsafe { self.state.write(outcome) };
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        // SAFETY: taken once, here.
        let guard = unsafe { ManuallyDrop::take(&mut self.guard) };
        if let Some(joiner) = self.state.finish(guard) {
            match self.state.joiner_pool() {
                Some(pool) => pool.sleep.notify_worker(joiner),
                None => {
                    // SAFETY: the task's scope guard is dropped after this
                    // sender, so the scope and its registry are alive.
                    let registry = unsafe { (*self.core).registry() };
                    registry.sleep.notify_worker(joiner);
                }
            }
        }
    }
}
