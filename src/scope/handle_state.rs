//! What a [`TaskHandle`](super::TaskHandle) and its task share: the task
//! itself, its outcome, and who waits for it.
//!
//! Whoever *claims* the task first runs it: its queued job, or a `join` on
//! a worker of the task's pool that finds it not started. So a task that
//! joins a queued sibling runs it in place rather than waiting for a worker
//! to get to it (which, when the joiner's own wait may not run other jobs,
//! could be never). The queued job of a task run by `join` finds it claimed
//! and does nothing. In a scope with a concurrency limit, a task still in
//! the limit's queue holds no slot: `join` runs it only on a slot lent to
//! it (see `crate::lend`), and claims it otherwise only once it has left
//! the queue with a slot.

use std::any::Any;
use std::fmt;

use crate::error::TaskOrigin;
use crate::pool::registry::Registry;
use crate::sync::{fence, Arc, AtomicBool, AtomicUsize, Mutex, Ordering, UnsafeCell};
use crate::waitgroup::{WaitGroup, WaitGuard};

/// A panic payload shared by a handle and its scope; whoever takes it first
/// owns it.
#[derive(Clone, Debug)]
pub(crate) struct PanicSlot(std::sync::Arc<crate::sync::Mutex<Option<Box<dyn Any + Send>>>>);

impl PanicSlot {
    pub(super) fn new(payload: Box<dyn Any + Send>) -> Self {
        Self(std::sync::Arc::new(crate::sync::Mutex::new(Some(payload))))
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
    pub(super) launched: AtomicBool,
    /// Set by whoever runs the task: its queued job, or `join`.
    claimed: AtomicBool,
    /// The task, until it is claimed.
    task: UnsafeCell<Option<Task>>,
    /// Whether the task's scope has a concurrency limit.
    pub(super) limited: bool,
    /// Where the task was spawned, for its `JoinError`.
    pub(super) origin: TaskOrigin,
    finished: WaitGroup,
    /// Written by the sender before `finished` reaches zero, read by `join`
    /// after; `None` then means the task was cancelled.
    outcome: UnsafeCell<Option<Outcome<T>>>,
    /// 1 + the index of a worker waiting in `join`, or 0.
    joiner: AtomicUsize,
    /// The joiner's pool, when it is not the task's: held here so that it
    /// outlives the wake-up, which comes after the joiner may have returned.
    pub(super) joiner_pool: Mutex<Option<Arc<Registry>>>,
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
    pub(crate) fn new(limited: bool, origin: TaskOrigin) -> (Arc<Self>, WaitGuard<'static>) {
        let state = Arc::new(State {
            launched: AtomicBool::new(!limited),
            claimed: AtomicBool::new(false),
            task: UnsafeCell::new(None),
            limited,
            origin,
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
        self.outcome.with_mut(|slot| {
            // SAFETY: forwarded; nobody reads before `finished` reaches zero.
            unsafe { *slot = Some(outcome) }
        });
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
