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
//! `crate::spare` for when it must give it back).
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
use super::limit::Limiter;
use super::panics::Panics;
use super::spare::is_spare_for;
use crate::context::{self, Context};
use crate::job::{catch, drop_payload, JobRef};
use crate::lend::LendHost;
use crate::pool::registry::Registry;
use crate::pool::wait::Wait;
use crate::pool::worker::WorkerThread;
use std::sync::Arc as StdArc;

use crate::sync::{Arc, AtomicUsize, CachePadded, Ordering};
use crate::waitgroup::WaitGroup;

/// How many times a thread outside the pool looks at its scope's count
/// before it parks: half spin hints, half yields.
const EXTERNAL_SPIN_ROUNDS: u32 = 64;

/// What a scope is created with, besides its pool.
#[derive(Debug, Default, Clone)]
pub(crate) struct Options {
    pub(crate) deadline: Option<Instant>,
    pub(crate) max_concurrency: Option<usize>,
    pub(crate) name: Option<StdArc<str>>,
}

pub(crate) struct ScopeCore {
    /// Every spawn and every task's end writes it: alone on its line, so the
    /// read-mostly fields below stay in every core's cache.
    wg: CachePadded<WaitGroup>,
    pub(super) registry: NonNull<Registry>,
    /// The worker index of the thread that owns the scope, if it is a
    /// worker: it runs its own pool's jobs while it waits.
    owner: Option<usize>,
    /// The owner's pool, when it is not the scope's pool.
    owner_registry: Option<Arc<Registry>>,
    /// The context the scope was opened in: its parent.
    pub(super) parent: Context,
    cancellation: Cancellation,
    /// The panics of the body and the tasks, in the order they happened.
    panics: Panics,
    /// Tasks dropped without running because the scope was cancelled.
    pub(super) skipped: AtomicUsize,
    pub(super) limiter: Option<Limiter>,
    /// The scope's name, if it was given one: shown in its `Debug`, in its
    /// tasks' `JoinError`s and in the reports of their panics.
    pub(super) name: Option<StdArc<str>>,
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
            name: options.name,
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
            Some(payload) => {
                // The body's value loses to the panic; a panic in its
                // `Drop` must not replace it.
                if let Err(second) = catch(move || drop(value)) {
                    drop_payload(second);
                }
                Err(payload)
            }
            None => Ok(value.expect("a scope body that panicked left no payload")),
        }
    }

    /// The context of this scope's body, or of one of its tasks (`handle`
    /// if it has one; holding the slot of the limit hosted at `host`, if
    /// not null).
    pub(super) fn context(&self, handle: bool, host: *const LendHost) -> Context {
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
                worker.wait_for(&OwnerWait { core: self });
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
                        crate::sync::yield_now();
                    }
                }
                self.wg.wait();
            }
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

    pub(crate) fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn record_panic(&self, payload: Box<dyn Any + Send>) {
        self.panics.record(payload);
    }

    pub(crate) fn add_handle_panic(&self, slot: super::handle_state::PanicSlot) {
        self.panics.record_handle(slot);
    }
}

/// How a worker that owns a scope waits for it.
struct OwnerWait<'a> {
    core: &'a ScopeCore,
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
        if is_spare_for(self.core) {
            crate::spare::give_back();
        }
        None
    }
}
