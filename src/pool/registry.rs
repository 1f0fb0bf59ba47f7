//! The registry: a pool's queues, its sleep state and its threads.
//!
//! Each worker owns a LIFO deque; other workers steal from its far end.
//! Work submitted from outside the pool goes to one shared injector. A worker
//! looks in its own deque, then the injector, then steals from the others,
//! starting at a random victim; before all of them, it takes the broadcast
//! shares addressed to it (see `broadcast`).

use crate::sync::thread::JoinHandle;
use std::any::Any;
use std::ptr;

use crate::sync::deque::{Injector, Stealer, Worker};

use super::builder::Handlers;
use super::metrics::{Metrics, PoolMetrics};
use super::sleep::Sleep;
use super::worker::{main_loop, WorkerThread};
use crate::error::BuildError;
use crate::job::{catch, drop_payload, report, JobRef};
use crate::stack_job::{Completion, StackJob};
use crate::sync::{Arc, AtomicBool, Ordering};
use crate::waitgroup::{WaitGroup, WaitGuard};

/// How many times an idle worker looks for work before it goes to sleep,
/// when the process may run on more than one CPU: half of them spinning,
/// half yielding (the yields let a thread outside the pool, waiting for a
/// scope, run when it shares a core with the workers).
const SPIN_ROUNDS: u32 = 64;

/// The spin rounds for this process. On one CPU a spinning worker only
/// delays whoever would give it work, and the yields cost more: with the
/// kernel's EEVDF scheduler a thread that yielded just before it slept
/// waits out a whole time slice of the thread that wakes it (measured:
/// ~3-5 ms for a sleeping pool to start a job, ~40 us without the rounds;
/// 5k scopes from outside 35 ms with them, 22 ms without).
fn spin_rounds() -> u32 {
    if crate::sync::num_cpus() > 1 {
        SPIN_ROUNDS
    } else {
        0
    }
}

pub(crate) struct Registry {
    pub(super) injector: Injector<JobRef>,
    pub(super) stealers: Box<[Stealer<JobRef>]>,
    pub(super) shares: super::broadcast::ShareQueues,
    pub(crate) sleep: Sleep,
    pub(super) metrics: Metrics,
    terminating: AtomicBool,
    /// See [`spin_rounds`].
    pub(super) spin_rounds: u32,
    pub(super) handlers: Handlers,
    threads: crate::sync::Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("num_threads", &self.num_threads())
            .field("sleep", &self.sleep)
            .finish_non_exhaustive()
    }
}

impl Registry {
    /// Starts `num_threads` workers.
    ///
    /// Every way out of here but success (an error, or a panic of the
    /// user's `thread_name` closure or of std) first stops and joins the
    /// workers already started: otherwise they would sleep forever, holding
    /// the registry, and their exit handlers would never run.
    pub(crate) fn start(
        num_threads: usize,
        thread_name: Option<Box<dyn FnMut(usize) -> String>>,
        stack_size: Option<usize>,
        handlers: Handlers,
    ) -> Result<Arc<Registry>, BuildError> {
        Self::start_with(
            num_threads,
            thread_name,
            stack_size,
            handlers,
            |builder, worker| builder.spawn(move || worker.run()),
        )
    }

    /// [`start`](Self::start), with the call that starts a thread passed
    /// in, so that tests can make a spawn fail or panic.
    pub(crate) fn start_with(
        num_threads: usize,
        mut thread_name: Option<Box<dyn FnMut(usize) -> String>>,
        stack_size: Option<usize>,
        handlers: Handlers,
        mut spawn: impl FnMut(
            crate::sync::thread::Builder,
            NewWorker,
        ) -> std::io::Result<JoinHandle<()>>,
    ) -> Result<Arc<Registry>, BuildError> {
        let deques: Vec<Worker<JobRef>> = (0..num_threads).map(|_| Worker::new_lifo()).collect();
        let registry = Arc::new(Registry {
            injector: Injector::new(),
            stealers: deques.iter().map(Worker::stealer).collect(),
            shares: super::broadcast::ShareQueues::new(num_threads),
            sleep: Sleep::new(num_threads),
            metrics: Metrics::new(num_threads),
            terminating: AtomicBool::new(false),
            spin_rounds: spin_rounds(),
            handlers,
            threads: crate::sync::Mutex::new(Vec::with_capacity(num_threads)),
        });
        let started = JoinUnlessStarted(Some(&registry));
        for (index, deque) in deques.into_iter().enumerate() {
            let mut builder = crate::sync::thread::Builder::new();
            if let Some(name) = thread_name.as_mut() {
                let name = catch(|| name(index)).map_err(|payload| {
                    drop_payload(payload);
                    BuildError::ThreadNamePanicked { index }
                })?;
                // std would panic on it, in `spawn`.
                if name.contains('\0') {
                    return Err(BuildError::ThreadNameContainsNul { index, name });
                }
                builder = builder.name(name);
            }
            if let Some(size) = stack_size {
                builder = builder.stack_size(size);
            }
            let worker = NewWorker {
                registry: Arc::clone(&registry),
                deque,
                index,
            };
            let handle =
                spawn(builder, worker).map_err(|source| BuildError::Spawn { index, source })?;
            registry.threads.lock().push(handle);
        }
        // Its captures may panic when dropped: do it while still guarded.
        drop(thread_name);
        started.disarm();
        Ok(registry)
    }

    pub(crate) fn num_threads(&self) -> usize {
        self.stealers.len()
    }

    /// A snapshot of the workers' counters.
    pub(crate) fn metrics(&self) -> PoolMetrics {
        let queued = self.injector.len() + self.stealers.iter().map(Stealer::len).sum::<usize>();
        self.metrics.snapshot(queued)
    }

    /// Queues `job`: on the current worker's deque if it belongs to this
    /// registry, in the injector otherwise.
    #[inline]
    pub(crate) fn push(&self, job: JobRef) {
        match WorkerThread::current() {
            Some(worker) if ptr::eq(worker.registry(), self) => worker.push(job),
            _ => self.inject(job),
        }
    }

    pub(crate) fn inject(&self, job: JobRef) {
        self.injector.push(job);
        self.sleep.notify_one();
    }

    /// Whether any queue holds a job. Stale as soon as it returns; the sleep
    /// protocol is what makes acting on it safe.
    pub(super) fn has_work(&self) -> bool {
        !self.injector.is_empty() || self.stealers.iter().any(|s| !s.is_empty())
    }

    /// Runs `op` on a worker of this registry: right here if the current
    /// thread is one, otherwise by sending it in and blocking until it ran.
    pub(crate) fn in_worker<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&WorkerThread) -> R + Send,
        R: Send,
    {
        match WorkerThread::current() {
            Some(worker) if ptr::eq(worker.registry(), self) => op(worker),
            Some(worker) => self.in_worker_cross(worker, op),
            None => self.in_worker_cold(op),
        }
    }

    /// `in_worker` from a worker of another pool: that worker keeps running
    /// its own pool's jobs while it waits, so pools that call into each
    /// other cannot deadlock, even with one thread each.
    #[cold]
    fn in_worker_cross<OP, R>(&self, waiter: &WorkerThread, op: OP) -> R
    where
        OP: FnOnce(&WorkerThread) -> R + Send,
        R: Send,
    {
        let job = StackJob::new(
            || op(WorkerThread::current().expect("injected job ran outside the pool")),
            CrossFlag {
                done: AtomicBool::new(false),
                owner: waiter.index(),
                registry: waiter.registry_arc(),
            },
        );
        // SAFETY: `job` stays on this frame until its flag is set.
        self.inject(unsafe { job.as_job_ref() });
        waiter.wait_until(|| job.completion().done.load(Ordering::Acquire));
        job.into_value()
    }

    #[cold]
    fn in_worker_cold<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&WorkerThread) -> R + Send,
        R: Send,
    {
        let wg = WaitGroup::new();
        let job = StackJob::new(
            || op(WorkerThread::current().expect("injected job ran outside the pool")),
            GuardCompletion(std::cell::UnsafeCell::new(Some(wg.add()))),
        );
        // SAFETY: `job` stays on this frame until `wg.wait()` has returned,
        // which needs its completion.
        self.inject(unsafe { job.as_job_ref() });
        wg.wait();
        job.into_value()
    }

    /// Reports the panic of a detached task spawned at `spawned_at`: to the
    /// pool's panic handler, or on stderr, naming where it was spawned.
    pub(crate) fn handle_panic(
        &self,
        payload: Box<dyn Any + Send>,
        spawned_at: &'static std::panic::Location<'static>,
    ) {
        match &self.handlers.panic {
            Some(handler) => {
                if let Err(second) = catch(|| handler(payload)) {
                    report(format_args!(
                        "the pool's panic_handler panicked; the panic is dropped"
                    ));
                    drop_payload(second);
                }
            }
            None => {
                let panic = crate::error::TaskPanic {
                    origin: &crate::error::TaskOrigin::new(spawned_at, None),
                    payload: &*payload,
                    unrun: false,
                };
                report(format_args!("detached {panic}"));
                drop_payload(payload);
            }
        }
    }

    pub(crate) fn terminating(&self) -> bool {
        self.terminating.load(Ordering::Acquire)
    }

    /// Asks the workers to finish the queued work and exit.
    pub(crate) fn terminate(&self) {
        self.terminating.store(true, Ordering::Release);
        self.sleep.notify_all();
    }

    /// Terminates, then joins every worker unless called from one of them
    /// (a worker cannot join itself, and joining its siblings could wait on
    /// the very task that is running here).
    pub(crate) fn terminate_and_join(&self) {
        self.terminate();
        if let Some(worker) = WorkerThread::current() {
            if ptr::eq(worker.registry(), self) {
                return;
            }
        }
        let threads = std::mem::take(&mut *self.threads.lock());
        for handle in threads {
            // A worker's own panics are all caught; an error here means a
            // handler aborted it, which was already reported.
            let _ = handle.join();
        }
    }
}

/// Stops and joins a registry's workers when dropped, unless disarmed: the
/// clean-up of a [`Registry::start`] that did not finish.
struct JoinUnlessStarted<'a>(Option<&'a Registry>);

impl JoinUnlessStarted<'_> {
    fn disarm(mut self) {
        self.0 = None;
    }
}

impl Drop for JoinUnlessStarted<'_> {
    fn drop(&mut self) {
        // Runs during unwinding too: `terminate_and_join` does not panic
        // (worker threads catch their own panics, and a failed join is
        // ignored), so this cannot turn a panic into an abort.
        if let Some(registry) = self.0 {
            registry.terminate_and_join();
        }
    }
}

/// A worker thread about to start: what it needs, and its life in
/// [`run`](Self::run).
pub(crate) struct NewWorker {
    registry: Arc<Registry>,
    deque: Worker<JobRef>,
    index: usize,
}

impl NewWorker {
    /// The worker's index in its pool.
    #[cfg(all(test, not(loom)))]
    pub(crate) fn index(&self) -> usize {
        self.index
    }

    /// The worker's whole life; the body of its thread.
    pub(crate) fn run(self) {
        main_loop(self.registry, self.deque, self.index);
    }
}

/// Completion of an injected job: dropping the guard wakes the blocked
/// caller.
struct GuardCompletion<'a>(std::cell::UnsafeCell<Option<WaitGuard<'a>>>);

impl Completion for GuardCompletion<'_> {
    unsafe fn complete(this: *const Self) {
        // SAFETY: the caller waits on the group until this guard is done, so
        // `this` is valid here; the guard is moved out before it is dropped.
        let guard = unsafe { (*(*this).0.get()).take() };
        drop(guard);
    }
}

/// Completion of a job sent in by a worker of another pool: a flag, and a
/// wake-up through the waiting worker's own registry.
struct CrossFlag {
    done: AtomicBool,
    owner: usize,
    registry: Arc<Registry>,
}

impl Completion for CrossFlag {
    unsafe fn complete(this: *const Self) {
        // SAFETY: `this` is valid until `done` is set: take what we need
        // first. The clone keeps the waiter's pool alive past that point.
        let (owner, registry) = unsafe { ((*this).owner, Arc::clone(&(*this).registry)) };
        // SAFETY: as above; this store is our last access to `*this`.
        unsafe { (*this).done.store(true, Ordering::Release) };
        registry.sleep.notify_worker(owner);
    }
}

impl Registry {
    /// Runs a start or exit handler on worker `index`; a panic in it is
    /// reported on stderr and the worker carries on.
    pub(super) fn run_thread_handler(
        &self,
        which: &str,
        handler: &Option<Box<dyn Fn(usize) + Send + Sync>>,
        index: usize,
    ) {
        let Some(handler) = handler else { return };
        if let Err(payload) = catch(|| handler(index)) {
            report(format_args!(
                "the pool's {which} panicked on worker {index}: {}",
                crate::error::panic_message(&*payload)
            ));
            drop_payload(payload);
        }
    }
}
