//! A scope's tasks: how one is queued (through the concurrency limit, if
//! any), how it runs (as a task, unless the scope was cancelled), and how a
//! running task of a limited scope lends its slot (see `crate::lend`).

use std::any::Any;
use std::panic::Location;
use std::ptr;

use super::core::ScopeCore;
use super::handle::{self, TaskHandle};
use super::handle_state;
use super::panics;
use super::spare::{keep_spare_only_for, TaskGuard};
use crate::context;
use crate::error::TaskOrigin;
use crate::job::{catch, HeapJob, JobRef};
use crate::lend::LendHost;
use crate::pool::sleep::Sleep;
use crate::pool::worker::WorkerThread;
use crate::sync::{Arc, Ordering};

impl ScopeCore {
    /// Queues `f(target)` as a task of this scope, spawned at the location
    /// of the caller (`#[track_caller]` up to the public entry point).
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
        let spawned_at = Location::caller();
        let worker = self.pool_worker();
        let guard = TaskGuard::new(self, worker);
        let target = SendPtr(target);
        let task = move || {
            // SAFETY: `guard` keeps the scope, and so `target`, alive until
            // it is dropped at the end of this closure.
            let (core, target) = unsafe { (guard.core(), target.get()) };
            core.run_task(target, f, Kind::Plain(spawned_at));
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
        let origin = TaskOrigin::new(Location::caller(), self.name.clone());
        let (handle, sender) = handle::channel(self, self.limiter.is_some(), origin);
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
            core.run_task(target, |target| f(target, sender), Kind::Handle);
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
        self.queue(job, handle_state::tag(state), worker);
        handle
    }

    /// Hands a new task's job to the pool, through the limiter if any.
    pub(super) fn queue(&self, job: JobRef, tag: usize, worker: Option<&WorkerThread>) {
        let push = |job| match worker {
            Some(worker) => worker.push(job),
            None => self.registry().inject(job),
        };
        match &self.limiter {
            Some(limiter) => limiter.submit(job, tag, |job, tag| {
                // SAFETY: the tag names the state of a task that is queued,
                // whose job holds that state alive.
                unsafe { handle_state::mark_launched(tag) };
                push(job)
            }),
            None => push(job),
        }
    }

    /// Runs task `f(target)` of this scope here, as a task (the thread's
    /// context names it), unless the scope was cancelled: then `f` is
    /// dropped without running. A panic is recorded.
    fn run_task<S, F>(&self, target: &S, f: F, kind: Kind)
    where
        F: FnOnce(&S),
    {
        let worker = WorkerThread::current();
        if worker.is_some() {
            keep_spare_only_for(self);
        }
        if self.is_cancelled() {
            self.skipped.fetch_add(1, Ordering::Relaxed);
            // Dropped, never run; its captures may still panic on drop.
            if let Err(payload) = catch(|| drop(f)) {
                self.task_panicked(kind, payload, true);
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
        let context = self.context(matches!(kind, Kind::Handle), host);
        if let Err(payload) = context::with(context, || catch(|| f(target))) {
            self.task_panicked(kind, payload, false);
        }
    }

    /// Records the panic of a task (`unrun`: of its drop, the task never
    /// having run); a task without a handle reports it on stderr first.
    #[cold]
    fn task_panicked(&self, kind: Kind, payload: Box<dyn Any + Send>, unrun: bool) {
        if let Kind::Plain(spawned_at) = kind {
            let origin = TaskOrigin::new(spawned_at, self.name.clone());
            panics::report(&origin, &*payload, unrun);
        }
        self.record_panic(payload);
    }

    /// A task's job has ended: its slot of the limit, if any, goes on.
    fn task_ended(&self) {
        if let Some(limiter) = &self.limiter {
            limiter.finished(|job, tag| {
                // SAFETY: as in `queue`.
                unsafe { handle_state::mark_launched(tag) };
                self.registry().push(job)
            });
        }
    }
}

/// The kind of a task that `run_task` runs.
#[derive(Clone, Copy)]
enum Kind {
    /// A task without a handle, spawned at this location: its panics go to
    /// the scope, reported on stderr, since nothing else says which task
    /// panicked.
    Plain(&'static Location<'static>),
    /// A task with a handle: its panic goes to the handle, whose
    /// `JoinError` names the task; nothing is reported.
    Handle,
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
