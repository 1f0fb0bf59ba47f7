//! A worker thread: its deque, its `join` frames, its main loop, and how it
//! waits.
//!
//! A worker that waits (for a scope, a `join`'s stolen half, a handle, an
//! `install` on another pool) keeps running jobs meanwhile, so that waits
//! nest on a pool of one thread. Which jobs it may run depends on what lies
//! beneath it on its stack; see [`WorkerThread::wait_for`].

use std::cell::Cell;
use std::ptr;

use crossbeam_deque::{Steal, Worker};

use super::frames::Frames;
use super::registry::Registry;
use super::sleep::Sleeper;
use crate::context::{self, Context};
use crate::job::JobRef;
use crate::lend::LendHost;
use crate::scope::{return_spare, Spare};
use crate::sync::{spin_hint, Arc};

/// What a worker waits for.
pub(crate) trait Wait {
    /// Whether the wait is over. Called before every job and under the
    /// sleep protocol's announcement, so it must not block. Whoever makes
    /// it true must then call `Sleep::notify_worker` for the waiting worker.
    fn is_done(&self) -> bool;

    /// A job that only this wait may run, taken before any other. Whoever
    /// makes one available must then call `Sleep::notify_worker`. (Tasks
    /// lent the waiter's slot of a concurrency limit come the same way,
    /// through the context's lend host.)
    fn own_job(&self) -> Option<JobRef> {
        None
    }

    /// Whether [`own_job`](Self::own_job) would return a job, without
    /// taking it: checked under the sleep protocol's announcement.
    fn has_own_job(&self) -> bool {
        false
    }
}

impl<F: Fn() -> bool> Wait for F {
    fn is_done(&self) -> bool {
        self()
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
    /// Jobs this thread pushed on its deque, and popped back, ever.
    pushed: Cell<u64>,
    popped: Cell<u64>,
    /// `pushed` and `popped` when the job now running started: the jobs
    /// above are that job's own (its descendants).
    mark: Cell<(u64, u64)>,
    /// How many waits beneath the current frame run only their own jobs.
    confined: Cell<usize>,
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

    /// Identifies this worker thread among all pools' workers.
    pub(crate) fn id(&self) -> usize {
        self as *const WorkerThread as usize
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
        self.pushed.set(self.pushed.get() + 1);
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
        // SAFETY: forwarded to the caller. A job catches its own panics.
        self.as_new_job(|| context::with(Context::NONE, || unsafe { job.execute() }));
    }

    /// Runs `f` as a job of its own, on top of whatever this thread is in
    /// the middle of: the jobs it pushes are its own, and its outermost
    /// `join`s publish eagerly.
    #[inline]
    pub(crate) fn as_new_job<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a WorkerThread, usize, (u64, u64));
        impl Drop for Restore<'_> {
            fn drop(&mut self) {
                self.0.frames.end_job(self.1);
                self.0.mark.set(self.2);
            }
        }
        let saved_frames = self.frames.start_job();
        let saved_mark = self.mark.replace((self.pushed.get(), self.popped.get()));
        let _restore = Restore(self, saved_frames, saved_mark);
        f()
    }

    /// Pops from the top of this worker's own deque.
    #[inline]
    pub(crate) fn pop_local(&self) -> Option<JobRef> {
        let job = self.deque.pop();
        if job.is_some() {
            self.popped.set(self.popped.get() + 1);
        }
        job
    }

    /// Pops a job that the running job pushed (directly, or through the
    /// jobs it ran), if one is still on top of the deque. Thieves take from
    /// the bottom, where the older jobs are, so while any of the running
    /// job's own remain, the top one is one of them.
    fn pop_own(&self) -> Option<JobRef> {
        let (pushed, popped) = self.mark.get();
        let own = self.pushed.get().wrapping_sub(pushed) as i64;
        let taken = self.popped.get().wrapping_sub(popped) as i64;
        if own > taken {
            self.pop_local()
        } else {
            None
        }
    }

    /// The next job for this worker: its broadcast share, its own deque,
    /// the injector, other workers' deques.
    pub(super) fn find_work(&self) -> Option<JobRef> {
        self.take_share()
            .or_else(|| self.pop_local())
            .or_else(|| self.steal_injected())
            .or_else(|| self.steal_from_others())
    }

    /// Whether a queue that [`find_work`](Self::find_work) looks in holds a
    /// job: what a sleeping worker re-checks after announcing itself.
    fn has_work(&self) -> bool {
        self.has_share() || self.registry.has_work()
    }

    /// Whether a wait here must be confined (see [`wait_for`](Self::wait_for)).
    fn is_confined(&self) -> bool {
        self.confined.get() > 0 || context::current().in_handle_subtree()
    }

    /// The next job for code running here that lets other work run
    /// (`yield_now`, or with `local`, `yield_local`): as in a wait, only
    /// its own jobs when it is confined.
    pub(super) fn find_work_to_yield(&self, local: bool) -> Option<JobRef> {
        if self.is_confined() {
            self.take_share().or_else(|| self.pop_own())
        } else if local {
            self.take_share().or_else(|| self.pop_local())
        } else {
            self.find_work()
        }
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

    /// Runs jobs until `done()` holds; see [`wait_for`](Self::wait_for).
    pub(crate) fn wait_until(&self, done: impl Fn() -> bool) {
        self.wait_for(&done);
    }

    /// Runs jobs until `wait` is done, sleeping when there are none. This
    /// is how a worker waits (for a scope, a `join`, a handle, or the end
    /// of the pool) without blocking work it could run, so nested waits and
    /// pools of one thread cannot deadlock.
    ///
    /// Which jobs: a wait that nothing but its own work could be waiting
    /// for runs any job of the pool, as in rayon. But code that runs on
    /// behalf of a task with a handle may be waited for by whoever holds
    /// the handle, and that holder could be any job of the pool: run on top
    /// of this frame, it would wait for a frame it buries, forever. So such
    /// a wait (and every wait in the jobs it runs) is *confined*: it runs
    /// only the jobs its own job pushed (its descendants, which cannot be
    /// waiting for it without a cycle), and its own job; everything else
    /// is left to other workers. A confined waiter sleeps as
    /// [`Sleeper::Targeted`], so that a notification of new work goes to a
    /// worker that can take it.
    ///
    /// Before all that, a wait in a task that holds a slot of a concurrency
    /// limit runs the queued tasks of that limit that what it waits for is
    /// waiting for (see `LendHost`).
    pub(crate) fn wait_for(&self, wait: &impl Wait) {
        // The `join` frames this thread waits in are work nobody else can
        // see, and the jobs it is about to run may block: show them first.
        while self.publish_oldest() {}
        let context = context::current();
        let confined = self.is_confined();
        let _confine = confined.then(|| Confine::new(self));
        // SAFETY: the host of the current context is alive (its task waits
        // for what runs here, or is what runs here).
        let host = unsafe { context.host().as_ref() }.filter(|host| host.is_owned_by(self.id()));
        let lent = || host.and_then(LendHost::next_lent);
        let lent_requested = || host.is_some_and(LendHost::is_requested);
        let mut idle_rounds = 0;
        let mut idle = false;
        loop {
            let job = wait.own_job().or_else(lent).or_else(|| {
                if wait.is_done() {
                    None
                } else if confined {
                    // Its broadcast share is this worker's alone: no one
                    // else can run it, and it is no task anyone holds.
                    self.take_share().or_else(|| self.pop_own())
                } else {
                    self.find_work()
                }
            });
            if let Some(job) = job {
                if idle {
                    idle = false;
                    if !confined {
                        self.registry.sleep.set_busy();
                    }
                }
                idle_rounds = 0;
                // SAFETY: a job taken out of a deque (or lent to this
                // wait) is executed once.
                unsafe { self.execute(job) };
                continue;
            }
            if wait.is_done() {
                break;
            }
            if !idle {
                idle = true;
                // An idle thread holds no scope open.
                return_spare(self);
                // A confined waiter takes no published work: it is not the
                // idle worker that `join` publishes its halves for.
                if !confined {
                    self.registry.sleep.set_idle();
                }
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
            if confined {
                self.registry
                    .sleep
                    .sleep(self.index, Sleeper::Targeted, || {
                        wait.is_done() || wait.has_own_job() || lent_requested()
                    });
            } else {
                self.registry.sleep.sleep(self.index, Sleeper::Any, || {
                    wait.is_done() || wait.has_own_job() || lent_requested() || self.has_work()
                });
            }
            idle_rounds = 0;
        }
        if idle && !confined {
            self.registry.sleep.set_busy();
        }
        // Back to what this thread was doing, which may not be a task of
        // the scope whose units it kept while waiting, and may block.
        return_spare(self);
    }
}

/// Counts a confined wait on its worker while it lasts, also if it unwinds.
struct Confine<'a>(&'a WorkerThread);

impl<'a> Confine<'a> {
    fn new(worker: &'a WorkerThread) -> Self {
        worker.confined.set(worker.confined.get() + 1);
        Self(worker)
    }
}

impl Drop for Confine<'_> {
    fn drop(&mut self) {
        self.0.confined.set(self.0.confined.get() - 1);
    }
}

pub(super) fn main_loop(registry: Arc<Registry>, deque: Worker<JobRef>, index: usize) {
    let worker = WorkerThread {
        deque,
        frames: Frames::new(),
        spare: Cell::new(Spare::NONE),
        index,
        registry,
        rng: Cell::new(
            0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd),
        ),
        pushed: Cell::new(0),
        popped: Cell::new(0),
        mark: Cell::new((0, 0)),
        confined: Cell::new(0),
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
