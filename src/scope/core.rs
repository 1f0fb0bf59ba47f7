//! The machinery shared by [`Scope`](super::Scope) and
//! [`TryScope`](super::TryScope): counting, cancellation, panics, and the
//! completion hand-off.
//!
//! # Completion
//!
//! A scope's [`WaitGroup`] counts the body as one and each spawned task as
//! one; every count is a guard. The body runs on the calling thread. When it
//! returns (or unwinds) its guard is dropped and the caller waits for zero:
//!
//! * a thread outside any pool looks at the count a few times, then blocks
//!   in [`WaitGroup::wait`];
//! * a worker, of this pool or another, runs its own pool's jobs meanwhile
//!   (its own deque first) and sleeps in its pool's sleep protocol when
//!   there are none. The task whose `done` brings the count to zero wakes it
//!   by index, through the owner's pool: the scope's own registry, or an
//!   `Arc` of the other pool that the scope holds.
//!
//! The scope lives in the caller's frame, so the last `done` must not touch
//! it once the caller may return. The waitgroup guarantees that for its own
//! memory; `release` reads the owner's index and pool *before* its `done`,
//! and both outlive the scope.
//!
//! A finished task's unit does not always go back at once: the worker may
//! keep it as spare for its next spawn into the same scope (see [`Spare`]
//! for when it must give it back).
//!
//! # Cancellation
//!
//! A task checks its scope's flags (one atomic load per level of nesting)
//! before it starts; a cancelled task is dropped, never run. While a task or
//! a body runs, a thread-local names its scope (its *context*), so a scope
//! opened there records it as its parent and counts as cancelled when the
//! parent is: no registration, no list of children. Work done on behalf of
//! a task elsewhere (`join`'s stolen half, an `install`ed closure) carries
//! the context along; unrelated jobs that a waiting worker runs get none.

use std::any::Any;
use std::cell::Cell;
use std::mem::ManuallyDrop;
use std::ptr::{self, NonNull};
use std::time::Instant;

use super::cancel::Cancellation;
use super::limit::Limiter;
use super::panics::Panics;
use crate::job::{catch, HeapJob};
use crate::pool::registry::{Registry, WorkerThread};
use crate::pool::sleep::Sleep;
use crate::sync::{Arc, AtomicUsize, CachePadded, Ordering};
use crate::waitgroup::{WaitGroup, WaitGuard};

/// How many times a thread outside the pool looks at its scope's count
/// before it parks: half spin hints, half yields.
const EXTERNAL_SPIN_ROUNDS: u32 = 64;

thread_local! {
    /// The scope whose task or body is running on this thread.
    static CURRENT: Cell<*const ScopeCore> = const { Cell::new(ptr::null()) };
}

/// The scope whose task (or body) is running: a scope opened in it becomes
/// its child. Work that runs on behalf of a task elsewhere (the stolen half
/// of a `join`, an `install`ed closure) carries the task's context along;
/// unrelated work that a waiting worker picks up runs with none.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Context(*const ScopeCore);

/// Low bit of a context pointer: set when a task (not the body) of the
/// scope is running. A `ScopeCore` is 128-aligned, so the bit is free.
const TASK_TAG: usize = 1;

// SAFETY: a context is only dereferenced (as a parent) by code that runs on
// behalf of the task it names, which waits for that code to finish.
unsafe impl Send for Context {}

impl Context {
    /// No scope: the context of a worker's main loop and of unrelated jobs.
    pub(crate) const NONE: Context = Context(ptr::null());
}

/// The current thread's context.
#[inline]
pub(crate) fn current_context() -> Context {
    Context(CURRENT.with(Cell::get))
}

/// Runs `f` with `context` as the thread's context, restoring the previous
/// one afterwards, also if `f` unwinds.
#[inline]
pub(crate) fn with_context<R>(context: Context, f: impl FnOnce() -> R) -> R {
    struct Restore(*const ScopeCore);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|current| current.replace(context.0)));
    f()
}

/// What a scope is created with, besides its pool.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Options {
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_concurrency: Option<usize>,
}

pub(crate) struct ScopeCore {
    /// Every spawn and every task's end writes it: alone on its line, so the
    /// read-mostly fields below stay in every core's cache.
    wg: CachePadded<WaitGroup>,
    registry: NonNull<Registry>,
    /// The worker index of the thread that owns the scope, if it is a
    /// worker: it runs its own pool's jobs while it waits.
    owner: Option<usize>,
    /// The owner's pool, when it is not the scope's pool.
    owner_registry: Option<Arc<Registry>>,
    cancellation: Cancellation,
    /// The panics of the body and the tasks, in the order they happened.
    panics: Panics,
    /// Tasks dropped without running because the scope was cancelled.
    skipped: AtomicUsize,
    limiter: Option<Limiter>,
}

// SAFETY: the registry and the parent are `Sync` and outlive the scope; the
// rest is atomics and locks.
unsafe impl Send for ScopeCore {}
// SAFETY: as above.
unsafe impl Sync for ScopeCore {}

impl ScopeCore {
    pub(crate) fn new(registry: &Registry, options: Options) -> Self {
        let worker = WorkerThread::current();
        let owner = worker.map(WorkerThread::index);
        let owner_registry = worker
            .filter(|worker| !ptr::eq(worker.registry(), registry))
            .map(WorkerThread::registry_arc);
        Self {
            wg: CachePadded(WaitGroup::new()),
            registry: NonNull::from(registry),
            owner,
            owner_registry,
            // SAFETY: the scope whose task or body is running here outlives
            // this one: that task waits for this scope to end.
            cancellation: unsafe {
                Cancellation::new(
                    options.deadline,
                    CURRENT
                        .with(Cell::get)
                        .map_addr(|addr| addr & !TASK_TAG)
                        .as_ref()
                        .map_or(ptr::null(), |parent| &parent.cancellation),
                )
            },
            panics: Panics::default(),
            skipped: AtomicUsize::new(0),
            limiter: options.max_concurrency.map(Limiter::new),
        }
    }

    pub(crate) fn registry(&self) -> &Registry {
        // SAFETY: the registry is borrowed by the call that runs this scope.
        unsafe { self.registry.as_ref() }
    }

    /// The current thread, if it is a worker of this scope's pool.
    fn pool_worker(&self) -> Option<&'static WorkerThread> {
        WorkerThread::current().filter(|worker| ptr::eq(worker.registry(), self.registry()))
    }

    /// Runs the body: counted as one task, with this scope as the current
    /// one, and waits for every task. Returns the body's result; the first
    /// panic (of the body or of a task) is returned as `Err`.
    pub(crate) fn run_body<R>(&self, body: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
        let guard = self.wg.add();
        let value = match self.enter(|| catch(body)) {
            Ok(value) => Some(value),
            Err(payload) => {
                self.record_panic(payload);
                None
            }
        };
        guard.done();
        self.wait();
        match self.panics.take_first() {
            Some(payload) => Err(payload),
            None => Ok(value.expect("a scope body that panicked left no payload")),
        }
    }

    /// Runs the body `f` with this scope as the thread's current scope.
    fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        with_context(Context(self), f)
    }

    /// Runs a task `f` of this scope with it as the current scope, marked
    /// as a task (see `current_task_is_of`).
    fn enter_task<T>(&self, f: impl FnOnce() -> T) -> T {
        let tagged = (self as *const ScopeCore).map_addr(|addr| addr | TASK_TAG);
        with_context(Context(tagged), f)
    }

    /// Whether the code running on this thread is a task of this scope (as
    /// opposed to its body, or anything else).
    pub(crate) fn current_task_is_of(&self) -> bool {
        current_context().0 == (self as *const ScopeCore).map_addr(|addr| addr | TASK_TAG)
    }

    fn wait(&self) {
        match self.owner {
            Some(_) => {
                let worker = WorkerThread::current().expect("scope owner left its worker");
                worker.wait_until(|| {
                    // Units this thread keeps spare count too. Returned only
                    // once it goes idle, they would make it run unrelated
                    // jobs on top of its stack (unboundedly deep, when those
                    // open scopes of their own) before it saw the end.
                    if worker.spare.get().is_for(self) {
                        return_spare(worker);
                    }
                    self.wg.count() == 0
                });
            }
            None => {
                // Short scopes end within microseconds: look a few times
                // before paying for a park and an unpark.
                for round in 0..EXTERNAL_SPIN_ROUNDS {
                    if self.wg.count() == 0 {
                        return;
                    }
                    if round < EXTERNAL_SPIN_ROUNDS / 2 {
                        crate::sync::spin_hint();
                    } else {
                        std::thread::yield_now();
                    }
                }
                self.wg.wait();
            }
        }
    }

    /// Queues `f(target)` as a task of this scope.
    ///
    /// # Safety
    ///
    /// `target` lives at least as long as this scope (it is the scope, or
    /// the `TryScope` around it), and `f` borrows only what outlives the
    /// scope.
    #[track_caller]
    pub(crate) unsafe fn spawn<S, F>(&self, target: &S, f: F)
    where
        S: Sync,
        F: FnOnce(&S) + Send,
    {
        let worker = self.pool_worker();
        let guard = TaskGuard::new(self, worker);
        let target = SendPtr(target);
        let task = move || {
            // SAFETY: `guard` keeps the scope, and so `target`, alive until
            // it is dropped at the end of this closure.
            let (core, target) = unsafe { (guard.core(), target.get()) };
            if let Some(worker) = WorkerThread::current() {
                keep_spare_only_for(worker, core);
            }
            if core.is_cancelled() {
                core.skipped.fetch_add(1, Ordering::Relaxed);
                // Dropped, never run; its captures may still panic on drop.
                if let Err(payload) = catch(|| drop(f)) {
                    core.record_panic(payload);
                }
            } else if let Err(payload) = core.enter_task(|| catch(|| f(target))) {
                core.record_panic(payload);
            }
            if let Some(limiter) = &core.limiter {
                limiter.finished(|job| core.registry().push(job));
            }
            drop(guard);
        };
        // SAFETY: forwarded to the caller; the scope waits for `guard`.
        let job = unsafe { HeapJob::into_job_ref(task) };
        let push = |job| match worker {
            Some(worker) => worker.push(job),
            None => self.registry().inject(job),
        };
        match &self.limiter {
            Some(limiter) => limiter.submit(job, push),
            None => push(job),
        }
    }

    pub(crate) fn cancel(&self) {
        self.cancellation.cancel();
    }

    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancellation.is_cancelled()
    }

    pub(crate) fn deadline_passed(&self) -> bool {
        self.cancellation.deadline_passed()
    }

    pub(crate) fn skipped(&self) -> usize {
        self.skipped.load(Ordering::Relaxed)
    }

    pub(crate) fn count(&self) -> usize {
        self.wg.count()
    }

    pub(crate) fn owner(&self) -> Option<usize> {
        self.owner
    }

    pub(crate) fn limiter(&self) -> Option<&Limiter> {
        self.limiter.as_ref()
    }

    pub(crate) fn record_panic(&self, payload: Box<dyn Any + Send>) {
        self.panics.record(payload);
    }

    pub(crate) fn add_handle_panic(&self, slot: super::handle::PanicSlot) {
        self.panics.record_handle(slot);
    }
}

/// A pointer that tasks carry to other threads.
struct SendPtr<S>(*const S);

// SAFETY: only shared references are made from it, and `S: Sync`.
unsafe impl<S: Sync> Send for SendPtr<S> {}

impl<S> SendPtr<S> {
    /// # Safety
    ///
    /// The pointee is still alive.
    unsafe fn get(&self) -> &S {
        // SAFETY: forwarded to the caller.
        unsafe { &*self.0 }
    }
}

/// Units of one scope's count that a worker holds on to between tasks.
///
/// Each task's end is a `done` on its scope's count and each spawn an
/// `add`; when every worker hits the same count, those two RMWs are half
/// the cost of a small task. So a worker does not return a finished task's
/// unit at once: it keeps it as *spare* while it goes on running tasks of
/// the same scope, and a spawn into that scope on this worker takes a spare
/// unit instead of adding one. The count may read high, never low, so the
/// scope cannot end early. It cannot end late either, because the spare
/// goes back (one `done` for all of it) before the worker runs anything but
/// a task of that scope, before it goes idle, before a worker that owns the
/// scope looks at its count, and when a wait in which it ran such tasks
/// ends (the waiting code need not be a task of that scope, and may block):
/// a thread holds spare units only while it runs, or is about to look for,
/// a task of their scope.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spare {
    core: *const ScopeCore,
    units: u32,
}

impl Spare {
    pub(crate) const NONE: Spare = Spare {
        core: ptr::null(),
        units: 0,
    };

    /// Whether these are units of `core` (and there are any).
    #[inline]
    fn is_for(self, core: *const ScopeCore) -> bool {
        self.units != 0 && ptr::eq(self.core, core)
    }
}

/// Returns `worker`'s spare units to their scope.
pub(crate) fn return_spare(worker: &WorkerThread) {
    let spare = worker.spare.replace(Spare::NONE);
    if spare.units != 0 {
        // SAFETY: the units are counted in the scope, which they keep alive
        // until this returns them.
        unsafe { release(spare.core, spare.units) };
    }
}

/// Before a job that is not a scope task starts (it could block, or wait
/// for anything): the current worker's spare units go back.
#[inline]
pub(crate) fn return_spare_here() {
    if let Some(worker) = WorkerThread::current() {
        if worker.spare.get().units != 0 {
            return_spare(worker);
        }
    }
}

/// Before a task of `core` starts: spare units of any other scope go back.
#[inline]
fn keep_spare_only_for(worker: &WorkerThread, core: *const ScopeCore) {
    let spare = worker.spare.get();
    if spare.units != 0 && !spare.is_for(core) {
        return_spare(worker);
    }
}

/// Returns `units` of `core`'s count; the one that brings it to zero wakes
/// the scope's owner if it is a worker.
///
/// # Safety
///
/// The caller owns `units` counted units of the live scope `core`, and
/// runs on a worker of the scope's pool (only workers keep spare units).
unsafe fn release(core: *const ScopeCore, units: u32) {
    // SAFETY: the units keep the scope alive up to the `done` below; the
    // scope may be freed as soon as the count is zero, so everything the
    // wake-up needs is read first.
    let (wg, owner) = unsafe { (&(*core).wg.0 as *const WaitGroup, (*core).owner) };
    let Some(owner) = owner else {
        // SAFETY: forwarded.
        unsafe { WaitGroup::done_many(wg, units) };
        return;
    };
    // SAFETY: as above.
    match unsafe { &(*core).owner_registry } {
        // The owner works for another pool: hold it alive past the done.
        // SAFETY: forwarded.
        Some(registry) => unsafe { release_units(wg, units, owner, &Arc::clone(registry).sleep) },
        // The owner works for the scope's pool, whose workers run this
        // scope's tasks (and hold its units): the pool outlives the done.
        None => {
            // SAFETY: as above; the reference outlives the scope.
            let registry: *const Registry = unsafe { (*core).registry() };
            // SAFETY: units are forwarded; only workers hold spare units
            // (task ends run on workers), and this thread, a worker of
            // `registry`, keeps it alive.
            unsafe { release_units(wg, units, owner, &(*registry).sleep) }
        }
    }
}

/// `units` done on the count `wg` of a scope owned by worker `owner`: the
/// last one wakes the owner. The scope may be freed as soon as the count is
/// zero, so only `owner` and `sleep` (the registry's, which outlives the
/// scope) are used after it.
///
/// # Safety
///
/// The caller owns `units` counted units of the live group `wg` (guards it
/// forgot), which this consumes.
pub(crate) unsafe fn release_units(wg: *const WaitGroup, units: u32, owner: usize, sleep: &Sleep) {
    // SAFETY: forwarded to the caller.
    if unsafe { WaitGroup::done_many(wg, units) } {
        sleep.notify_worker(owner);
    }
}

/// A task's unit of its scope's count, from a spawn to the task's end.
struct TaskGuard {
    guard: ManuallyDrop<WaitGuard<'static>>,
    core: *const ScopeCore,
}

// SAFETY: the guard is `Send`, and `core` is only read while the guard keeps
// the scope alive.
unsafe impl Send for TaskGuard {}

impl TaskGuard {
    /// A unit for a new task: spare from `worker` (the current thread, if
    /// it is a worker of the scope's pool), or a fresh `add`.
    #[track_caller]
    #[inline]
    fn new(core: &ScopeCore, worker: Option<&WorkerThread>) -> Self {
        let guard = match worker {
            Some(worker) if worker.spare.get().is_for(core) => {
                let spare = worker.spare.get();
                worker.spare.set(Spare {
                    units: spare.units - 1,
                    ..spare
                });
                // SAFETY: the unit was spare, and now it is this guard's.
                unsafe { core.wg.revive() }
            }
            _ => core.wg.add(),
        };
        // SAFETY: the scope waits for this guard before it returns, so the
        // borrow it erases is in fact alive for as long as the guard.
        let guard = unsafe { std::mem::transmute::<WaitGuard<'_>, WaitGuard<'static>>(guard) };
        Self {
            guard: ManuallyDrop::new(guard),
            core,
        }
    }

    /// # Safety
    ///
    /// Not after the guard is dropped (it is what keeps the scope alive).
    unsafe fn core(&self) -> &ScopeCore {
        // SAFETY: forwarded to the caller.
        unsafe { &*self.core }
    }
}

impl Drop for TaskGuard {
    /// The task's end: its unit becomes the worker's spare.
    fn drop(&mut self) {
        // SAFETY: taken once, here; `self.guard` is not used again.
        let guard = unsafe { ManuallyDrop::take(&mut self.guard) };
        // SAFETY: the guard's unit keeps the scope alive.
        let Some(worker) = (unsafe { (*self.core).pool_worker() }) else {
            // A task that never ran, dropped where it was spawned (only if
            // queueing it panicked). A thread that is not one of the pool's
            // workers spawns only while the body runs (it borrows the
            // scope, and is not one of its tasks), and the body's
            // own unit keeps the count above zero: a plain done, which
            // cannot be the last and so wakes nobody, is enough.
            return guard.done();
        };
        let spare = worker.spare.get();
        let units = if spare.is_for(self.core) {
            spare.units
        } else {
            return_spare(worker);
            0
        };
        guard.forget();
        worker.spare.set(Spare {
            core: self.core,
            units: units + 1,
        });
    }
}
