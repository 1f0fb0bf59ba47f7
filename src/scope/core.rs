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
//! keep it as spare for its next spawn into the same scope (see
//! [`Spare`](super::spare::Spare) for when it must give it back).
//!
//! # Cancellation
//!
//! A task checks its scope's flags (one atomic load per level of nesting)
//! before it starts; a cancelled task is dropped, never run. While a task or
//! a body runs, a thread-local names its scope (its *context*), so a scope
//! opened there records it as its parent and counts as cancelled when the
//! parent is: no registration, no list of children. Work done on behalf of
//! a task elsewhere (`join`'s stolen half, an `install`ed closure) carries
//! the context along; unrelated jobs that a waiting worker runs get none
//! (see `crate::context`).
//!
//! # Lending a slot
//!
//! With a concurrency limit, a task that waits for a queued sibling lends
//! it its slot (see `limit`). A task can also wait for such a sibling
//! through others: tasks of a scope it opened, the half of a `join` that
//! another worker stole, a closure it `install`ed on another pool. Its
//! slot is idle while it waits for them, so they may ask for the sibling
//! to be run on it: each running task of a limited scope hosts a
//! [`LendHost`] on its stack, reachable from the contexts of everything
//! that runs on its behalf, and serves the requests there itself while it
//! waits, one at a time, so the slot is never lent twice.

use std::any::Any;
use std::ptr::{self, NonNull};
use std::time::Instant;

use super::cancel::Cancellation;
use super::handle::{self, TaskHandle};
use super::limit::Limiter;
use super::panics::Panics;
use super::spare::{keep_spare_only_for, return_spare, TaskGuard};
use crate::context::{self, Context};
use crate::job::{catch, HeapJob, JobRef};
use crate::lend::LendHost;
use crate::pool::registry::Registry;
use crate::pool::sleep::Sleep;
use crate::pool::worker::{Wait, WorkerThread};
use crate::sync::{Arc, AtomicUsize, CachePadded, Ordering};
use crate::waitgroup::WaitGroup;

/// How many times a thread outside the pool looks at its scope's count
/// before it parks: half spin hints, half yields.
const EXTERNAL_SPIN_ROUNDS: u32 = 64;

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
    /// The context the scope was opened in: its parent.
    parent: Context,
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
        let parent = context::current();
        // SAFETY: the scope whose task or body is running here outlives
        // this one: that task waits for this scope to end.
        let parent_core = unsafe { (parent.scope() as *const ScopeCore).as_ref() };
        Self {
            wg: CachePadded(WaitGroup::new()),
            registry: NonNull::from(registry),
            owner,
            owner_registry,
            parent,
            // SAFETY: as above.
            cancellation: unsafe {
                Cancellation::new(
                    options.deadline,
                    parent_core.map_or(ptr::null(), |parent| &parent.cancellation),
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

    pub(super) fn wg(&self) -> &WaitGroup {
        &self.wg
    }

    pub(super) fn owner_registry(&self) -> Option<&Arc<Registry>> {
        self.owner_registry.as_ref()
    }

    /// The current thread, if it is a worker of this scope's pool.
    pub(super) fn pool_worker(&self) -> Option<&'static WorkerThread> {
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

    /// The context of this scope's body, or of one of its tasks (`handle`
    /// if it has one; holding the slot of the limit hosted at `host`, if
    /// not null).
    fn context(&self, handle: bool, host: *const LendHost) -> Context {
        let handle = handle || self.parent.in_handle_subtree();
        let host = if host.is_null() {
            self.parent.host()
        } else {
            host
        };
        Context::new(self as *const ScopeCore as *const (), handle, host)
    }

    /// Runs the body `f` with this scope as the thread's current scope.
    fn enter<T>(&self, f: impl FnOnce() -> T) -> T {
        context::with(self.context(false, ptr::null()), f)
    }

    fn wait(&self) {
        match self.owner {
            Some(_) => {
                let worker = WorkerThread::current().expect("scope owner left its worker");
                worker.wait_for(&OwnerWait { core: self, worker });
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
            core.run_task(target, f, false);
            core.task_ended();
            drop(guard);
        };
        // SAFETY: forwarded to the caller; the scope waits for `guard`.
        let job = unsafe { HeapJob::into_job_ref(task) };
        self.queue(job, 0, worker);
    }

    /// Queues `f(target, sender)` as a task of this scope, whose handle's
    /// `join` may run it in place if it has not started: the task is kept in
    /// the handle's state, and its queued job runs it only if `join` did not
    /// get there first.
    ///
    /// # Safety
    ///
    /// As for [`spawn`](Self::spawn).
    #[track_caller]
    pub(crate) unsafe fn spawn_with_handle<'scope, S, T, F>(
        &self,
        target: &S,
        f: F,
    ) -> TaskHandle<'scope, T>
    where
        S: Sync,
        T: Send,
        F: FnOnce(&S, handle::Sender<T>) + Send,
    {
        let worker = self.pool_worker();
        let (handle, sender) = handle::channel(self, self.limiter.is_some());
        let state = handle.state();
        // Two units: one for the task, wherever it runs, and one for its
        // queued job, which touches the scope (the limiter) after the task
        // may have been run by `join` and its unit dropped.
        let task_guard = TaskGuard::new(self, worker);
        let job_guard = TaskGuard::new(self, worker);
        let target = SendPtr(target);
        let run = move || {
            // SAFETY: `task_guard` keeps the scope, and so `target`, alive
            // until it is dropped at the end of this closure.
            let (core, target) = unsafe { (task_guard.core(), target.get()) };
            core.run_task(target, |target| f(target, sender), true);
            drop(task_guard);
        };
        // SAFETY: the task borrows only what outlives the scope (forwarded
        // to the caller), and the scope waits for `task_guard`, which the
        // task holds until it has run.
        unsafe { state.set_task(run) };
        let queued_state = Arc::clone(state);
        let job = move || {
            // SAFETY: as in `spawn`, with `job_guard`.
            let core = unsafe { job_guard.core() };
            queued_state.run_if_unclaimed();
            // Before the scope's unit: the state may hold the value, which
            // may borrow what the scope protects.
            drop(queued_state);
            core.task_ended();
            drop(job_guard);
        };
        // SAFETY: forwarded to the caller; the scope waits for `job_guard`.
        let job = unsafe { HeapJob::into_job_ref(job) };
        self.queue(job, handle::tag(state), worker);
        handle
    }

    /// Hands a new task's job to the pool, through the limiter if any.
    fn queue(&self, job: JobRef, tag: usize, worker: Option<&WorkerThread>) {
        let push = |job| match worker {
            Some(worker) => worker.push(job),
            None => self.registry().inject(job),
        };
        match &self.limiter {
            Some(limiter) => limiter.submit(job, tag, |job, tag| {
                // SAFETY: the tag names the state of a task that is queued,
                // whose job holds that state alive.
                unsafe { handle::mark_launched(tag) };
                push(job)
            }),
            None => push(job),
        }
    }

    /// Runs task `f(target)` of this scope here, as a task (the thread's
    /// context names it), unless the scope was cancelled: then `f` is
    /// dropped without running. A panic is recorded.
    fn run_task<S, F>(&self, target: &S, f: F, handle: bool)
    where
        F: FnOnce(&S),
    {
        let worker = WorkerThread::current();
        if let Some(worker) = worker {
            keep_spare_only_for(worker, self);
        }
        if self.is_cancelled() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            // Dropped, never run; its captures may still panic on drop.
            if let Err(payload) = catch(|| drop(f)) {
                self.record_panic(payload);
            }
            return;
        }
        // A task of a limited scope holds a slot: host requests for it.
        let host = match (&self.limiter, worker) {
            // SAFETY: `take_queued` and `wake` only need this scope and
            // the worker's pool, which outlive the task, hence the host.
            (Some(_), Some(worker)) => Some(unsafe {
                LendHost::new(
                    self as *const ScopeCore as *const (),
                    take_queued,
                    (worker.id(), worker.index()),
                    wake_worker,
                    &worker.registry().sleep as *const Sleep as *const (),
                    self.parent.host(),
                )
            }),
            _ => None,
        };
        let host = host
            .as_ref()
            .map_or(ptr::null(), |host| host as *const LendHost);
        let context = self.context(handle, host);
        if let Err(payload) = context::with(context, || catch(|| f(target))) {
            self.record_panic(payload);
        }
    }

    /// A task's job has ended: its slot of the limit, if any, goes on.
    fn task_ended(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.finished(|job, tag| {
                // SAFETY: as in `queue`.
                unsafe { handle::mark_launched(tag) };
                self.registry().push(job)
            });
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

    pub(crate) fn record_panic(&self, payload: Box<dyn Any + Send>) {
        self.panics.record(payload);
    }

    pub(crate) fn add_handle_panic(&self, slot: handle::PanicSlot) {
        self.panics.record_handle(slot);
    }
}

/// `LendHost::take` for a limited scope.
///
/// # Safety
///
/// `scope` is a live `ScopeCore` with a limit.
unsafe fn take_queued(scope: *const (), tag: usize) -> Option<JobRef> {
    // SAFETY: forwarded to the caller.
    let core = unsafe { &*(scope as *const ScopeCore) };
    core.limiter.as_ref()?.take_queued(tag)
}

/// `LendHost::wake`: a targeted wake-up of worker `index` of the pool
/// whose sleep state is `sleep`.
///
/// # Safety
///
/// `sleep` is a live `Sleep`.
unsafe fn wake_worker(sleep: *const (), index: usize) {
    // SAFETY: forwarded to the caller.
    unsafe { (*(sleep as *const Sleep)).notify_worker(index) };
}

/// Lends a slot of the limited scope `target` to its queued task tagged
/// `tag`, which the current thread is about to wait for, if some task of
/// `target` that this code runs on behalf of holds one: on that task's own
/// thread the queued task runs right here; elsewhere that task, blocked in
/// a wait, is asked to run it (see "Lending a slot"). Returns the host
/// asked, from which the request must be withdrawn once the wait is over.
///
/// `target` is only compared, never dereferenced: the handle that named it
/// may have outlived it.
pub(crate) fn lend_slot(
    target: *const ScopeCore,
    tag: usize,
    worker: Option<&WorkerThread>,
) -> Option<&'static LendHost> {
    // SAFETY: the current context's hosts are those of tasks that wait
    // for the code running here.
    let host = unsafe { LendHost::find(context::current().host(), target as *const ()) }?;
    match worker {
        Some(worker) if host.is_owned_by(worker.id()) => {
            if let Some(job) = host.take(tag) {
                // SAFETY: a job taken out of a queue is executed once.
                unsafe { worker.execute(job) };
            }
            None
        }
        _ => {
            host.request(tag);
            Some(host)
        }
    }
}

/// How a worker that owns a scope waits for it.
struct OwnerWait<'a> {
    core: &'a ScopeCore,
    worker: &'a WorkerThread,
}

impl Wait for OwnerWait<'_> {
    fn is_done(&self) -> bool {
        self.core.wg.count() == 0
    }

    fn own_job(&self) -> Option<JobRef> {
        // Units this thread keeps spare count too. Returned only once it
        // goes idle, they would make it run unrelated jobs on top of its
        // stack (unboundedly deep, when those open scopes of their own)
        // before it saw the end.
        if self.worker.spare.get().is_for(self.core) {
            return_spare(self.worker);
        }
        None
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
