//! A worker thread: its deque, its `join` frames, where it looks for work,
//! and its main loop. How it waits is in `wait`.

use std::cell::Cell;
use std::ptr;

use crate::sync::deque::{Steal, Worker};

use super::frames::{Frame, Frames};
use super::registry::Registry;
use std::task::Waker;

use super::wait::WorkerWake;
use crate::context::{self, Context};
use crate::job::JobRef;
use crate::local_wait;
use crate::spare;
use crate::sync::{spin_hint, Arc, AtomicBool, Ordering};

/// The state of a worker thread, reachable from its own thread only.
pub(crate) struct WorkerThread {
    deque: Worker<JobRef>,
    /// The second halves of the `join`s running on this thread.
    frames: Frames,
    index: usize,
    pub(super) registry: Arc<Registry>,
    rng: Cell<u64>,
    /// Jobs this thread pushed on its deque, and popped back, ever.
    pushed: Cell<u64>,
    popped: Cell<u64>,
    /// `pushed` and `popped` when the job now running started: the jobs
    /// above are that job's own (its descendants).
    mark: Cell<(u64, u64)>,
    /// How many waits beneath the current frame run only their own jobs.
    pub(super) confined: Cell<usize>,
    /// Wakes this worker for its own condition (see `local_wait`).
    pub(super) waker: Waker,
    /// Set when another worker asks this one for work: its flag in the
    /// registry's sleep state, read at every `join`.
    wanted: *const AtomicBool,
}

crate::sync::thread_local! {
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

    /// Registers `frame`, the second half of a `join`, as this thread's
    /// innermost frame, and publishes the outermost unpublished frame if
    /// the frame is one of the two outermost of the running job (a coarse
    /// split must never wait for its worker to notice a hungry one) or if
    /// another worker asked this one for work.
    ///
    /// # Safety
    ///
    /// As for `Frames::push`: `frame` stays put until popped, and nothing
    /// unwinds in between. (Publishing does not unwind: a deque push and a
    /// wake-up cannot panic.)
    #[inline]
    pub(crate) unsafe fn push_frame(&self, frame: &Frame) {
        // SAFETY: forwarded to the caller.
        let outermost = unsafe { self.frames.push(frame) };
        if outermost || self.wanted().load(Ordering::Relaxed) {
            self.publish_oldest();
        }
    }

    /// This worker's request flag (see `Sleep::request_work`).
    #[inline]
    fn wanted(&self) -> &AtomicBool {
        // SAFETY: the flag is in the registry, which `self` keeps alive.
        unsafe { &*self.wanted }
    }

    /// Removes the innermost frame, which is `frame`. Returns whether it had
    /// been published: if not, nobody else can run it.
    #[inline]
    pub(crate) fn pop_frame(&self, frame: &Frame) -> bool {
        self.frames.pop(frame)
    }

    /// Pushes the outermost unpublished frame, if any, on the deque, which
    /// answers a request for work if there was one.
    pub(crate) fn publish_oldest(&self) -> bool {
        let wanted = self.wanted();
        if wanted.load(Ordering::Relaxed) {
            wanted.store(false, Ordering::Relaxed);
        }
        match self.frames.publish_oldest(&self.registry.sleep, self.index) {
            Some(job) => {
                self.push(job);
                true
            }
            None => false,
        }
    }

    /// Pushes every unpublished frame on the deque, outermost first: the
    /// thread is about to wait or to run jobs that may block, and nobody
    /// else can see them.
    pub(crate) fn publish_all(&self) {
        self.frames
            .publish_all(&self.registry.sleep, self.index, |job| self.push(job));
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
        self.registry.metrics.executed(self.index);
        // SAFETY: forwarded to the caller. A job catches its own panics.
        self.as_new_job(|| context::with(Context::NONE, || unsafe { job.execute() }));
    }

    /// Runs `f` as a job of its own, on top of whatever this thread is in
    /// the middle of: the jobs it pushes are its own, and its outermost
    /// `join`s publish eagerly.
    #[inline]
    pub(crate) fn as_new_job<R>(&self, f: impl FnOnce() -> R) -> R {
        struct Restore<'a>(&'a WorkerThread, *const Frame, (u64, u64));
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
    pub(super) fn pop_own(&self) -> Option<JobRef> {
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
            .or_else(|| self.steal())
    }

    /// A job from the injector or another worker's deque.
    fn steal(&self) -> Option<JobRef> {
        let job = self.steal_injected().or_else(|| self.steal_from_others());
        if job.is_some() {
            self.registry.metrics.stole(self.index);
        }
        job
    }

    /// Whether a queue that [`find_work`](Self::find_work) looks in holds a
    /// job: what a sleeping worker re-checks after announcing itself.
    pub(super) fn has_work(&self) -> bool {
        self.has_share() || self.registry.has_work()
    }

    /// Whether a wait here must be confined (see [`wait_for`](Self::wait_for)).
    pub(super) fn is_confined(&self) -> bool {
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
}

pub(super) fn main_loop(registry: Arc<Registry>, deque: Worker<JobRef>, index: usize) {
    let worker = WorkerThread {
        deque,
        frames: Frames::new(),
        index,
        rng: Cell::new(
            0x9e37_79b9_7f4a_7c15 ^ (index as u64 + 1).wrapping_mul(0xff51_afd7_ed55_8ccd),
        ),
        pushed: Cell::new(0),
        popped: Cell::new(0),
        mark: Cell::new((0, 0)),
        confined: Cell::new(0),
        waker: Waker::from(std::sync::Arc::new(WorkerWake {
            registry: Arc::clone(&registry),
            index,
        })),
        wanted: registry.sleep.wanted(index),
        registry,
    };
    CURRENT.with(|current| current.set(&worker));
    // SAFETY: unregistered below, before `worker` goes.
    unsafe { local_wait::register(&worker) };
    let registry = &*worker.registry;

    registry.metrics.busy(index);
    registry.run_thread_handler("start_handler", &registry.handlers.start, index);

    worker.wait_until(|| registry.terminating());
    // Finish whatever is still queued; other workers finish their own.
    while let Some(job) = worker.find_work() {
        // SAFETY: a job taken out of a deque is executed once.
        unsafe { worker.execute(job) };
    }
    spare::give_back();

    registry.run_thread_handler("exit_handler", &registry.handlers.exit, index);
    local_wait::unregister();
    CURRENT.with(|current| current.set(ptr::null()));
}
