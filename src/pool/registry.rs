//! The registry: a pool's queues, its sleeping workers, and the worker loop.
//!
//! Each worker owns a LIFO deque; other workers steal from its far end.
//! Work submitted from outside the pool goes to one shared injector. A worker
//! looks in its own deque, then the injector, then steals from the others,
//! starting at a random victim.

use std::any::Any;
use std::cell::Cell;
use std::ptr;
use std::thread::JoinHandle;

use crossbeam_deque::{Injector, Steal, Stealer, Worker};

use super::builder::Handlers;
use super::frames::Frames;
use super::sleep::Sleep;
use crate::error::BuildError;
use crate::job::{catch, drop_payload, Completion, JobRef, StackJob};
use crate::scope::{return_spare, with_context, Context, Spare};
use crate::sync::{spin_hint, Arc, AtomicBool, Ordering};
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
    if num_cpus::get() > 1 {
        SPIN_ROUNDS
    } else {
        0
    }
}

pub(crate) struct Registry {
    injector: Injector<JobRef>,
    stealers: Box<[Stealer<JobRef>]>,
    pub(crate) sleep: Sleep,
    terminating: AtomicBool,
    /// See [`spin_rounds`].
    spin_rounds: u32,
    handlers: Handlers,
    threads: parking_lot::Mutex<Vec<JoinHandle<()>>>,
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
        mut spawn: impl FnMut(std::thread::Builder, NewWorker) -> std::io::Result<JoinHandle<()>>,
    ) -> Result<Arc<Registry>, BuildError> {
        let deques: Vec<Worker<JobRef>> = (0..num_threads).map(|_| Worker::new_lifo()).collect();
        let registry = Arc::new(Registry {
            injector: Injector::new(),
            stealers: deques.iter().map(Worker::stealer).collect(),
            sleep: Sleep::new(num_threads),
            terminating: AtomicBool::new(false),
            spin_rounds: spin_rounds(),
            handlers,
            threads: parking_lot::Mutex::new(Vec::with_capacity(num_threads)),
        });
        let started = JoinUnlessStarted(Some(&registry));
        for (index, deque) in deques.into_iter().enumerate() {
            let mut builder = std::thread::Builder::new();
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
    fn has_work(&self) -> bool {
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

    /// Reports the panic of a detached task.
    pub(crate) fn handle_panic(&self, payload: Box<dyn Any + Send>) {
        match &self.handlers.panic {
            Some(handler) => {
                if let Err(second) = catch(|| handler(payload)) {
                    eprintln!("taskgroup: the pool's panic_handler panicked; the panic is dropped");
                    drop_payload(second);
                }
            }
            None => {
                eprintln!(
                    "taskgroup: a detached task panicked: {}",
                    crate::error::panic_message(&*payload)
                );
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

/// The state of a worker thread, reachable from its own thread only.
pub(crate) struct WorkerThread {
    deque: Worker<JobRef>,
    /// The second halves of the `join`s running on this thread.
    frames: Frames,
    /// Units of a scope's count kept between that scope's tasks.
    pub(crate) spare: Cell<Spare>,
    index: usize,
    registry: Arc<Registry>,
    rng: Cell<u64>,
}

thread_local! {
    static CURRENT: Cell<*const WorkerThread> = const { Cell::new(ptr::null()) };
}

impl WorkerThread {
    /// The worker running on this thread, if any.
    #[inline]
    pub(crate) fn current() -> Option<&'static WorkerThread> {
        let current = CURRENT.with(Cell::get);
        // SAFETY: `CURRENT` is set only while `main_loop`'s `WorkerThread`
        // lives, and only this thread reads it; every caller is a job or a
        // wait that `main_loop` is running, so it is still alive.
        unsafe { current.as_ref() }
    }

    pub(crate) fn index(&self) -> usize {
        self.index
    }

    pub(crate) fn registry(&self) -> &Registry {
        &self.registry
    }

    pub(crate) fn registry_arc(&self) -> Arc<Registry> {
        Arc::clone(&self.registry)
    }

    #[inline]
    pub(crate) fn push(&self, job: JobRef) {
        self.deque.push(job);
        self.registry.sleep.notify_one();
    }

    /// Registers `job`, the second half of a `join`, as this thread's
    /// innermost frame. Returns its depth, for [`pop_frame`](Self::pop_frame),
    /// and how many frames of the current job enclose it.
    #[inline]
    pub(crate) fn push_frame(&self, job: JobRef) -> (usize, usize) {
        self.frames.push(job)
    }

    /// Removes the innermost frame, which is `depth`. Returns whether it had
    /// been published: if not, nobody else can run it.
    #[inline]
    pub(crate) fn pop_frame(&self, depth: usize) -> bool {
        self.frames.pop(depth)
    }

    /// Pushes the outermost unpublished frame on the deque if another worker
    /// is looking for work.
    #[inline]
    pub(crate) fn publish_if_wanted(&self) {
        if self.registry.sleep.idle() != 0 {
            self.publish_oldest();
        }
    }

    /// Pushes the outermost unpublished frame, if any, on the deque.
    pub(crate) fn publish_oldest(&self) -> bool {
        match self.frames.publish_oldest() {
            Some(job) => {
                self.push(job);
                true
            }
            None => false,
        }
    }

    /// Runs a job taken out of a deque. It may be unrelated to whatever
    /// this thread is in the middle of: it gets no scope context, and its
    /// `join`s count their depth from its start.
    ///
    /// # Safety
    ///
    /// A job taken out of a deque is executed once.
    #[inline]
    pub(crate) unsafe fn execute(&self, job: JobRef) {
        let saved = self.frames.start_job();
        // SAFETY: forwarded to the caller. A job catches its own panics.
        with_context(Context::NONE, || unsafe { job.execute() });
        self.frames.end_job(saved);
    }

    /// Pops from the top of this worker's own deque.
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<JobRef> {
        self.deque.pop()
    }

    fn find_work(&self) -> Option<JobRef> {
        self.deque
            .pop()
            .or_else(|| self.steal_injected())
            .or_else(|| self.steal_from_others())
    }

    fn steal_injected(&self) -> Option<JobRef> {
        loop {
            match self.registry.injector.steal_batch_and_pop(&self.deque) {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => spin_hint(),
            }
        }
    }

    fn steal_from_others(&self) -> Option<JobRef> {
        let stealers = &self.registry.stealers;
        let n = stealers.len();
        if n <= 1 {
            return None;
        }
        let start = self.next_random() as usize % n;
        loop {
            let mut retry = false;
            for victim in (start..n).chain(0..start) {
                if victim == self.index {
                    continue;
                }
                match stealers[victim].steal() {
                    Steal::Success(job) => return Some(job),
                    Steal::Retry => retry = true,
                    Steal::Empty => {}
                }
            }
            if !retry {
                return None;
            }
            spin_hint();
        }
    }

    /// xorshift64*: cheap and good enough to spread thieves over victims.
    fn next_random(&self) -> u64 {
        let mut x = self.rng.get();
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng.set(x);
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Runs jobs until `done()` holds, sleeping when there are none. This is
    /// how a worker waits (for a scope, a `join`, or the end of the pool)
    /// without ever blocking work it could run, so nested waits and pools of
    /// one thread cannot deadlock. Whoever makes `done()` true must then call
    /// `Sleep::notify_worker(self.index())`.
    pub(crate) fn wait_until(&self, done: impl Fn() -> bool) {
        // The `join` frames this thread waits in are work nobody else can
        // see, and the jobs it is about to run may block: show them first.
        while self.publish_oldest() {}
        let mut idle_rounds = 0;
        let mut idle = false;
        while !done() {
            if let Some(job) = self.find_work() {
                if idle {
                    idle = false;
                    self.registry.sleep.set_busy();
                }
                idle_rounds = 0;
                // SAFETY: a job taken out of a deque is executed once.
                unsafe { self.execute(job) };
                continue;
            }
            if !idle {
                idle = true;
                // An idle thread holds no scope open.
                return_spare(self);
                self.registry.sleep.set_idle();
            }
            let spin_rounds = self.registry.spin_rounds;
            if idle_rounds < spin_rounds {
                idle_rounds += 1;
                if idle_rounds <= spin_rounds / 2 {
                    spin_hint();
                } else {
                    std::thread::yield_now();
                }
                continue;
            }
            self.registry
                .sleep
                .sleep(self.index, || done() || self.registry.has_work());
            idle_rounds = 0;
        }
        if idle {
            self.registry.sleep.set_busy();
        }
        // Back to what this thread was doing, which may not be a task of
        // the scope whose units it kept while waiting, and may block.
        return_spare(self);
    }
}

fn main_loop(registry: Arc<Registry>, deque: Worker<JobRef>, index: usize) {
    let worker = WorkerThread {
        deque,
        frames: Frames::new(),
        spare: Cell::new(Spare::NONE),
        index,
        registry,
        rng: Cell::new(
            0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd),
        ),
    };
    CURRENT.with(|current| current.set(&worker));
    let registry = &*worker.registry;

    registry.run_thread_handler("start_handler", &registry.handlers.start, index);

    worker.wait_until(|| registry.terminating());
    // Finish whatever is still queued; other workers finish their own.
    while let Some(job) = worker.find_work() {
        // SAFETY: a job taken out of a deque is executed once.
        unsafe { worker.execute(job) };
    }
    return_spare(&worker);

    registry.run_thread_handler("exit_handler", &registry.handlers.exit, index);
    CURRENT.with(|current| current.set(ptr::null()));
}

impl Registry {
    /// Runs a start or exit handler on worker `index`; a panic in it is
    /// reported on stderr and the worker carries on.
    fn run_thread_handler(
        &self,
        which: &str,
        handler: &Option<Box<dyn Fn(usize) + Send + Sync>>,
        index: usize,
    ) {
        let Some(handler) = handler else { return };
        if let Err(payload) = catch(|| handler(index)) {
            eprintln!(
                "taskgroup: the pool's {which} panicked on worker {index}: {}",
                crate::error::panic_message(&*payload)
            );
            drop_payload(payload);
        }
    }
}
