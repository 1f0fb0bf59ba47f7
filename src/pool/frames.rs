//! A worker's stack of `join` frames: the second halves of the `join`s
//! running on its thread, outermost first.
//!
//! `jobs[..published]` have been pushed on the worker's deque, where
//! thieves may take them; the rest only this thread knows about, so it may
//! run them inline without any synchronisation. Frames are published
//! outermost first (they hold the most work, and thieves steal from the far
//! end of the deque), so the published ones are always a prefix. See
//! `join` for when a frame is published.

use std::cell::{Cell, UnsafeCell};

use crate::job::JobRef;

pub(super) struct Frames {
    jobs: UnsafeCell<Vec<JobRef>>,
    published: Cell<usize>,
    /// How many frames there were when the job now running started: the
    /// frames above are that job's own.
    base: Cell<usize>,
}

impl Frames {
    pub(super) fn new() -> Self {
        Self {
            jobs: UnsafeCell::new(Vec::with_capacity(64)),
            published: Cell::new(0),
            base: Cell::new(0),
        }
    }

    /// Runs `f` with `f`'s own frames mutable. `Frames` is not `Sync`, so
    /// only its thread gets here, and `f` cannot re-enter (it is given no
    /// way to reach `self`).
    #[inline]
    fn with_jobs<R>(&self, f: impl FnOnce(&mut Vec<JobRef>) -> R) -> R {
        // SAFETY: no other reference to `jobs` exists while `f` runs: this
        // is the only place that makes one, and `f` cannot call back here.
        f(unsafe { &mut *self.jobs.get() })
    }

    /// Pushes `job` as the innermost frame. Returns its depth and how many
    /// frames of the running job enclose it.
    #[inline]
    pub(super) fn push(&self, job: JobRef) -> (usize, usize) {
        let depth = self.with_jobs(|jobs| {
            jobs.push(job);
            jobs.len() - 1
        });
        (depth, depth - self.base.get())
    }

    /// Removes the innermost frame, which is `depth`. Returns whether it had
    /// been published.
    #[inline]
    pub(super) fn pop(&self, depth: usize) -> bool {
        self.with_jobs(|jobs| {
            debug_assert_eq!(jobs.len(), depth + 1, "join frames out of order");
            jobs.pop();
        });
        let published = self.published.get();
        if depth < published {
            debug_assert_eq!(published, depth + 1);
            self.published.set(depth);
            true
        } else {
            false
        }
    }

    /// The outermost unpublished frame, now counted as published: the
    /// caller pushes it on the deque.
    pub(super) fn publish_oldest(&self) -> Option<JobRef> {
        let published = self.published.get();
        let job = self.with_jobs(|jobs| jobs.get(published).copied())?;
        self.published.set(published + 1);
        Some(job)
    }

    /// Marks the start of a job taken out of a deque: the frames it pushes
    /// are its own. Returns what [`end_job`](Self::end_job) restores.
    #[inline]
    pub(super) fn start_job(&self) -> usize {
        let depth = self.with_jobs(|jobs| jobs.len());
        self.base.replace(depth)
    }

    #[inline]
    pub(super) fn end_job(&self, saved: usize) {
        self.base.set(saved);
    }
}
