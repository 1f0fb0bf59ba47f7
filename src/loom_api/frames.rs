//! `join`'s frame stack and its publication on request, for
//! `tests/loom_frames.rs`: the real frames, stack jobs and completion, with
//! a mutex-guarded vector standing in for the worker's deque (the
//! crossbeam deque is trusted, not modelled).

use std::cell::Cell;

use super::Sleep;
use crate::job::JobRef;
use crate::join::JoinJob;
use crate::pool::frames::Frames as RealFrames;
use crate::sync::{Arc, AtomicBool, Mutex, Ordering};

/// What a thief sees of a worker: its request flag and its "deque".
#[derive(Debug)]
pub struct Victim {
    sleep: Sleep,
    wanted: AtomicBool,
    /// The owner pushes and pops at the end, thieves steal from the front.
    deque: Mutex<Vec<Job>>,
}

impl Victim {
    /// Asks the owner for work, as `Sleep::request_work` does, but without
    /// its load first (which only spares a cache line): loom tracks a
    /// load's dependence on the last access only, so the thief's own load
    /// would hide the owner's loads from the store, and no schedule with
    /// the request before the owner's `join`s would be explored.
    pub fn request(&self) {
        self.wanted.store(true, Ordering::Relaxed);
    }

    /// A thief's steal: the oldest published job, if any.
    pub fn steal(&self) -> Option<Job> {
        let mut deque = self.deque.lock();
        (!deque.is_empty()).then(|| deque.remove(0))
    }
}

/// A published frame, as a thief steals it.
#[derive(Debug)]
pub struct Job(JobRef);

// SAFETY: it stands for a published stack job whose owner waits for it.
unsafe impl Send for Job {}

impl Job {
    /// Runs the job, as a thief does.
    pub fn run(self) {
        // SAFETY: the job is executed once; its owner waits for it.
        unsafe { self.0.execute() }
    }
}

/// Worker 0 of a pool of two: its frames, on its own thread.
#[derive(Debug)]
pub struct Owner {
    frames: RealFrames,
    victim: Arc<Victim>,
    /// How many frames were published.
    published: Cell<usize>,
}

impl Default for Owner {
    fn default() -> Self {
        Self::new()
    }
}

impl Owner {
    const INDEX: usize = 0;

    /// A worker with no frames and no request.
    pub fn new() -> Self {
        Self {
            frames: RealFrames::new(),
            victim: Arc::new(Victim {
                sleep: Sleep::new(2),
                wanted: AtomicBool::new(false),
                deque: Mutex::new(Vec::new()),
            }),
            published: Cell::new(0),
        }
    }

    /// What thieves see of this worker.
    pub fn victim(&self) -> Arc<Victim> {
        Arc::clone(&self.victim)
    }

    /// How many frames were published.
    pub fn published(&self) -> usize {
        self.published.get()
    }

    /// `join_on_worker` on this model worker, without eager publication:
    /// the outermost unpublished frame is published when the request flag
    /// is set at a `join`, and a published `b` is taken back from the deque
    /// or waited for in the sleep protocol.
    pub fn join<RA: Send, RB: Send>(
        &self,
        a: impl FnOnce() -> RA,
        b: impl FnOnce() -> RB + Send,
    ) -> (RA, RB) {
        let victim = &*self.victim;
        let job = JoinJob::new(b);
        // SAFETY: `job` stays here until popped; nothing between unwinds
        // (the model's closures do not panic).
        unsafe { self.frames.push(job.frame()) };
        if victim.wanted.load(Ordering::Relaxed) {
            victim.wanted.store(false, Ordering::Relaxed);
            let published = self.frames.publish_oldest(&victim.sleep.0, Self::INDEX);
            if let Some(published) = published {
                victim.deque.lock().push(Job(published));
                self.published.set(self.published.get() + 1);
            }
        }
        let ra = a();
        if !self.frames.pop(job.frame()) {
            // SAFETY: never published: only this thread can run it.
            return (ra, unsafe { job.run_inline() });
        }
        let mine = job.frame().job_ref();
        let taken_back = {
            let mut deque = victim.deque.lock();
            let last = deque.last().map(|last| last.0);
            last == Some(mine) && deque.pop().is_some()
        };
        if taken_back {
            // SAFETY: popped back before any thief took it.
            return (ra, unsafe { job.run_inline() });
        }
        while !job.frame().is_done() {
            victim.sleep.sleep(Self::INDEX, || job.frame().is_done());
        }
        // SAFETY: the thief ran the job.
        match unsafe { job.into_result() } {
            Ok(rb) => (ra, rb),
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }
}
