//! [`TaskHandle`]: the result of one task of a scope.
//!
//! The handle and its task share a small heap state: a one-guard
//! [`WaitGroup`] that the task's sender marks done once the outcome is
//! written, and the index of a worker waiting in `join`, which the sender
//! wakes. A `join` on a worker of the scope's pool runs other jobs while it
//! waits; anywhere else it blocks on the group.
//!
//! A panic in a task with a handle belongs to the handle. So that it is not
//! lost when nobody joins, the scope also keeps it, and re-raises it at its
//! end unless a `join` took it first.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;

use super::core::ScopeCore;
use crate::error::JoinError;
use crate::pool::registry::{Registry, WorkerThread};
use crate::sync::{fence, Arc, AtomicUsize, Ordering, UnsafeCell};
use crate::waitgroup::{WaitGroup, WaitGuard};

/// A panic payload shared by a handle and its scope; whoever takes it first
/// owns it.
#[derive(Clone, Debug)]
pub(crate) struct PanicSlot(std::sync::Arc<parking_lot::Mutex<Option<Box<dyn Any + Send>>>>);

impl PanicSlot {
    fn new(payload: Box<dyn Any + Send>) -> Self {
        Self(std::sync::Arc::new(parking_lot::Mutex::new(Some(payload))))
    }

    pub(crate) fn take(&self) -> Option<Box<dyn Any + Send>> {
        self.0.lock().take()
    }
}

#[derive(Debug)]
pub(crate) enum Outcome<T> {
    Value(T),
    Panicked(PanicSlot),
    /// A `TryScope` task returned an error; the scope has it.
    Failed,
}

/// What a handle and its task share: the protocol of completion.
#[derive(Debug)]
pub(crate) struct State<T> {
    finished: WaitGroup,
    /// Written by the sender before `finished` reaches zero, read by `join`
    /// after; `None` then means the task was cancelled.
    outcome: UnsafeCell<Option<Outcome<T>>>,
    /// 1 + the index of a worker waiting in `join`, or 0.
    joiner: AtomicUsize,
    /// The joiner's pool, when it is not the task's: held here so that it
    /// outlives the wake-up, which comes after the joiner may have returned.
    joiner_pool: parking_lot::Mutex<Option<Arc<Registry>>>,
}

// SAFETY: `outcome` is written once by the sender and read once by `join`,
// ordered by `finished`; `T: Send` is all that crosses threads.
unsafe impl<T: Send> Sync for State<T> {}

impl<T> State<T> {
    /// A state whose task is outstanding, and the guard that finishes it.
    pub(crate) fn new() -> (Arc<Self>, WaitGuard<'static>) {
        let state = Arc::new(State {
            finished: WaitGroup::new(),
            outcome: UnsafeCell::new(None),
            joiner: AtomicUsize::new(0),
            joiner_pool: parking_lot::Mutex::new(None),
        });
        let guard = state.finished.add();
        // SAFETY: whoever holds the guard also holds an `Arc` of the state
        // and drops the guard first (see `Sender`).
        let guard = unsafe { std::mem::transmute::<WaitGuard<'_>, WaitGuard<'static>>(guard) };
        (state, guard)
    }

    pub(crate) fn is_finished(&self) -> bool {
        self.finished.count() == 0
    }

    /// Task side: the outcome, written before `finish`.
    ///
    /// # Safety
    ///
    /// Called at most once, by the holder of the finishing guard, before it
    /// is dropped.
    pub(crate) unsafe fn write(&self, outcome: Outcome<T>) {
        // SAFETY: forwarded; nobody reads before `finished` reaches zero.
        self.outcome
            .with_mut(|slot| unsafe { *slot = Some(outcome) });
    }

    /// Task side: marks the task finished and returns the worker waiting
    /// in `join`, if any, for the caller to wake.
    pub(crate) fn finish(&self, guard: WaitGuard<'_>) -> Option<usize> {
        guard.done();
        // Pairs with the fence in `wait_as_worker`: either we see the
        // joiner's index, or it sees the task finished. Acquire: what the
        // joiner wrote before its index (its pool) is then visible.
        fence(Ordering::SeqCst);
        self.joiner.load(Ordering::Acquire).checked_sub(1)
    }

    /// Task side: the joiner's pool, if it registered one (see
    /// `joiner_pool`).
    pub(crate) fn joiner_pool(&self) -> Option<Arc<Registry>> {
        self.joiner_pool.lock().clone()
    }

    /// Joiner side, on worker `index`: registers for a wake-up, then waits
    /// with `wait_until`, which runs jobs and sleeps until its condition
    /// holds.
    pub(crate) fn wait_as_worker(&self, index: usize, wait_until: impl FnOnce(&dyn Fn() -> bool)) {
        self.joiner.store(index + 1, Ordering::Release);
        fence(Ordering::SeqCst);
        wait_until(&|| self.is_finished());
    }

    /// Joiner side, off the pool: blocks.
    pub(crate) fn wait_blocking(&self) {
        self.finished.wait();
    }

    /// Joiner side, once finished: the outcome (`None`: cancelled).
    ///
    /// # Safety
    ///
    /// Called at most once, after `is_finished` returned true or a wait
    /// returned.
    pub(crate) unsafe fn take(&self) -> Option<Outcome<T>> {
        // SAFETY: forwarded; the writer is done, ordered by `finished`.
        self.outcome.with_mut(|slot| unsafe { (*slot).take() })
    }
}

/// The result of a task spawned with
/// [`Scope::spawn_handle`](crate::Scope::spawn_handle) or
/// [`TryScope::spawn_handle`](crate::TryScope::spawn_handle).
///
/// Dropping the handle leaves the task running; the scope joins it as
/// usual, and re-raises its panic, if any, at its end.
#[must_use = "dropping a TaskHandle detaches it; call `join` to get the result"]
pub struct TaskHandle<'scope, T> {
    state: Arc<State<T>>,
    registry: *const Registry,
    /// The task's scope; only used while the task is unfinished.
    core: *const ScopeCore,
    _scope: PhantomData<&'scope ()>,
}

// SAFETY: the handle only moves a `T: Send` out of the shared state, and
// dereferences `registry` only while the task, hence its scope, is alive.
unsafe impl<T: Send> Send for TaskHandle<'_, T> {}
// SAFETY: `&TaskHandle` only reads an atomic count.
unsafe impl<T: Send> Sync for TaskHandle<'_, T> {}

impl<T> TaskHandle<'_, T> {
    /// Whether the task has finished (run to the end, panicked, or been
    /// skipped because its scope was cancelled). `join` will not wait.
    pub fn is_finished(&self) -> bool {
        self.state.is_finished()
    }

    /// Waits for the task and returns its value.
    ///
    /// On a worker of any pool, `join` runs that pool's queued jobs while it
    /// waits, so it is safe even on a pool of one thread; elsewhere it
    /// blocks.
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
        // A task of a scope with a concurrency limit holds a slot; if the
        // task it joins waits in the scope's queue behind it, it lends its
        // slot and runs queued tasks itself.
        while !self.is_finished() {
            // SAFETY: the task is unfinished, so its scope is alive.
            let core = unsafe { &*self.core };
            let lent = match core.limiter() {
                Some(limiter) if core.current_task_is_of() => limiter.take_lent(),
                _ => None,
            };
            match lent {
                // SAFETY: a job taken out of the scope's queue runs once.
                Some(job) => unsafe { job.execute() },
                None => break,
            }
        }
        if !self.is_finished() {
            // SAFETY: the task is not finished, so its scope and the pool
            // it runs on are alive.
            let registry = unsafe { &*self.registry };
            match WorkerThread::current() {
                // A worker, of this pool or another, runs its own pool's
                // jobs while it waits (so pools that wait on each other
                // cannot deadlock), and is woken through its own pool.
                Some(worker) => {
                    if !ptr::eq(worker.registry(), registry) {
                        *self.state.joiner_pool.lock() = Some(worker.registry_arc());
                    }
                    self.state
                        .wait_as_worker(worker.index(), |done| worker.wait_until(done))
                }
                None => self.state.wait_blocking(),
            }
        }
        // SAFETY: the task has finished, and `join` consumes the handle.
        match unsafe { self.state.take() } {
            Some(Outcome::Value(value)) => Ok(value),
            Some(Outcome::Panicked(slot)) => {
                Err(JoinError::panicked(slot.take().unwrap_or_else(|| {
                    Box::new("taskgroup: this task's panic was already re-raised by its scope")
                })))
            }
            Some(Outcome::Failed) => Err(JoinError::failed()),
            None => Err(JoinError::cancelled()),
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

/// A handle and its sender, for a task of `core`.
pub(crate) fn channel<'scope, T>(core: &ScopeCore) -> (TaskHandle<'scope, T>, Sender<T>) {
    let (state, guard) = State::new();
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
