//! [`TaskHandle`]: the result of one task of a scope.
//!
//! The handle and its task share a small heap state: a one-guard
//! [`WaitGroup`] that the task's sender marks done once the outcome is
//! written, and the index of a worker waiting in `join`, which the sender
//! wakes.
//!
//! The state also holds the task itself, and whoever *claims* it first runs
//! it: the task's queued job, or a `join` on a worker of the task's pool
//! that finds it not started. So a task that joins a queued sibling runs it
//! in place rather than waiting for a worker to get to it (which, when the
//! joiner's own wait may not run other jobs, could be never). The queued
//! job of a task run by `join` finds it claimed and does nothing. In a
//! scope with a concurrency limit, a task still in the limit's queue holds
//! no slot: `join` runs it only on a slot lent to it (see `core`), and
//! claims it otherwise only once it has left the queue with a slot.
//!
//! A panic in a task with a handle belongs to the handle. So that it is not
//! lost when nobody joins, the scope also keeps it, and re-raises it at its
//! end unless a `join` took it first.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::ptr;

use super::core::{lend_slot, ScopeCore};
use super::spare::return_spare;
use crate::error::JoinError;
use crate::pool::registry::Registry;
use crate::pool::worker::WorkerThread;
use crate::sync::{fence, Arc, AtomicBool, AtomicUsize, Mutex, Ordering, UnsafeCell};
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

/// The task of a handle, type-erased, as its scope queued it.
type Task = Box<dyn FnOnce() + Send>;

/// What a handle and its task share: the task itself, and the protocol of
/// completion.
pub(crate) struct State<T> {
    /// Whether the task has left its scope's limiter queue with a slot
    /// (from the start, without a limit). Its address is the task's tag in
    /// that queue: see [`tag`].
    launched: AtomicBool,
    /// Set by whoever runs the task: its queued job, or `join`.
    claimed: AtomicBool,
    /// The task, until it is claimed.
    task: UnsafeCell<Option<Task>>,
    /// Whether the task's scope has a concurrency limit.
    limited: bool,
    finished: WaitGroup,
    /// Written by the sender before `finished` reaches zero, read by `join`
    /// after; `None` then means the task was cancelled.
    outcome: UnsafeCell<Option<Outcome<T>>>,
    /// 1 + the index of a worker waiting in `join`, or 0.
    joiner: AtomicUsize,
    /// The joiner's pool, when it is not the task's: held here so that it
    /// outlives the wake-up, which comes after the joiner may have returned.
    joiner_pool: Mutex<Option<Arc<Registry>>>,
}

impl<T> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("claimed", &self.claimed.load(Ordering::Relaxed))
            .field("finished", &self.is_finished())
            .finish_non_exhaustive()
    }
}

// SAFETY: `task` is taken once, by whoever wins `claimed`; `outcome` is
// written once by the sender and read once by `join`, ordered by
// `finished`; `T: Send` is all that crosses threads.
unsafe impl<T: Send> Sync for State<T> {}
// SAFETY: as above.
unsafe impl<T: Send> Send for State<T> {}

/// The tag of `state`'s task in its scope's limiter queue: an address no
/// other live task shares while `state` is alive.
pub(crate) fn tag<T>(state: &State<T>) -> usize {
    &state.launched as *const AtomicBool as usize
}

/// Notes that the task tagged `tag` (or none, for 0) has left its scope's
/// limiter queue with a slot.
///
/// # Safety
///
/// A non-zero `tag` is the tag of a live state.
pub(crate) unsafe fn mark_launched(tag: usize) {
    if tag != 0 {
        // SAFETY: forwarded to the caller; `launched` is an atomic.
        unsafe { (*(tag as *const AtomicBool)).store(true, Ordering::Release) };
    }
}

impl<T> State<T> {
    /// A state whose task is outstanding, and the guard that finishes it.
    pub(crate) fn new(limited: bool) -> (Arc<Self>, WaitGuard<'static>) {
        let state = Arc::new(State {
            launched: AtomicBool::new(!limited),
            claimed: AtomicBool::new(false),
            task: UnsafeCell::new(None),
            limited,
            finished: WaitGroup::new(),
            outcome: UnsafeCell::new(None),
            joiner: AtomicUsize::new(0),
            joiner_pool: Mutex::new(None),
        });
        let guard = state.finished.add();
        // SAFETY: whoever holds the guard also holds an `Arc` of the state
        // and drops the guard first (see `Sender`).
        let guard = unsafe { std::mem::transmute::<WaitGuard<'_>, WaitGuard<'static>>(guard) };
        (state, guard)
    }

    /// Stores the task, before it is queued.
    ///
    /// # Safety
    ///
    /// Called once, before the state is shared. What `task` borrows
    /// outlives its run: the task holds a unit of its scope's count until
    /// it has run (or been dropped unrun).
    pub(crate) unsafe fn set_task<'a>(&self, task: impl FnOnce() + Send + 'a) {
        let task: Box<dyn FnOnce() + Send + 'a> = Box::new(task);
        // SAFETY: the lifetime is erased; the caller keeps what it borrows
        // alive while it can run.
        let task = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + 'a>, Task>(task) };
        // SAFETY: not shared yet (forwarded to the caller).
        self.task.with_mut(|slot| unsafe { *slot = Some(task) });
    }

    /// Runs the task here unless someone claimed it first. Returns whether
    /// it ran here.
    pub(crate) fn run_if_unclaimed(&self) -> bool {
        if self.claimed.swap(true, Ordering::AcqRel) {
            return false;
        }
        // SAFETY: we won the claim: nobody else touches `task`.
        let task = self.task.with_mut(|slot| unsafe { (*slot).take() });
        task.expect("a handle's task is stored before it is queued")();
        true
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
                Err(JoinError::panicked(slot.take().unwrap_or_else(|| {
                    Box::new("taskgroup: this task's panic was already re-raised by its scope")
                })))
            }
            Some(Outcome::Failed) => Err(JoinError::failed()),
            None => Err(JoinError::cancelled()),
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
        return_spare(worker);
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
/// has a concurrency limit).
pub(crate) fn channel<'scope, T>(
    core: &ScopeCore,
    limited: bool,
) -> (TaskHandle<'scope, T>, Sender<T>) {
    let (state, guard) = State::new(limited);
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
