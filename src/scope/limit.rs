//! A scope's concurrency limit: at most `max` of its tasks run at once; the
//! rest wait in the scope's own queue, so spawning never blocks.
//!
//! ```text
//!  spawner                          finishing task
//!  queue.push(job)                  running -= 1
//!  fence(SeqCst)                    fence(SeqCst)
//!  queue empty? / running < max?    queue empty? / running < max?
//! ```
//!
//! Both sides then *pump*: claim a slot (`running + 1` while below `max`),
//! take a job from the queue and hand it to the pool; a pump that claims a
//! slot but finds the queue empty gives the slot back and looks again. The
//! fences make this the store-buffer pattern: a job pushed while every slot
//! is taken is seen by the task that frees the next slot.

use crate::job::JobRef;
use crate::sync::{fence, AtomicUsize, Injector, Ordering, Steal};

#[derive(Debug)]
pub(crate) struct Limiter {
    max: usize,
    running: AtomicUsize,
    queue: Injector<JobRef>,
}

impl Limiter {
    pub(crate) fn new(max: usize) -> Self {
        assert!(max >= 1, "a scope's max_concurrency must be at least 1");
        Self {
            max,
            running: AtomicUsize::new(0),
            queue: Injector::new(),
        }
    }

    /// Queues a task of the scope; it starts (`launch`) when a slot is free.
    pub(crate) fn submit(&self, job: JobRef, launch: impl Fn(JobRef)) {
        self.queue.push(job);
        self.pump(launch);
    }

    /// A task of the scope has finished (run or skipped): free its slot.
    pub(crate) fn finished(&self, launch: impl Fn(JobRef)) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.pump(launch);
    }

    fn pump(&self, launch: impl Fn(JobRef)) {
        loop {
            fence(Ordering::SeqCst);
            if self.queue.is_empty() || !self.claim_slot() {
                return;
            }
            loop {
                match self.queue.steal() {
                    Steal::Success(job) => {
                        launch(job);
                        break;
                    }
                    Steal::Empty => {
                        // Someone else took it: give the slot back and look
                        // again, in case a job arrived while we held it.
                        self.running.fetch_sub(1, Ordering::Relaxed);
                        break;
                    }
                    Steal::Retry => crate::sync::spin_hint(),
                }
            }
        }
    }

    /// Takes a queued task for a thread that holds one of the scope's slots
    /// and is about to block on another task of the scope: it lends its
    /// slot to the queued task and runs it itself. Without this, a task
    /// joining a sibling that waits in the queue behind it would wait
    /// forever once every slot is held by such a task.
    pub(crate) fn take_lent(&self) -> Option<JobRef> {
        loop {
            match self.queue.steal() {
                Steal::Success(job) => {
                    // The job gives a slot back when it ends; the lender
                    // stays blocked meanwhile, so at most `max` tasks run.
                    self.running.fetch_add(1, Ordering::Relaxed);
                    return Some(job);
                }
                Steal::Empty => return None,
                Steal::Retry => crate::sync::spin_hint(),
            }
        }
    }

    fn claim_slot(&self) -> bool {
        let mut running = self.running.load(Ordering::Relaxed);
        loop {
            if running >= self.max {
                return false;
            }
            match self.running.compare_exchange_weak(
                running,
                running + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => running = actual,
            }
        }
    }
}
