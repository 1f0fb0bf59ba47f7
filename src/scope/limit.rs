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

use crossbeam_deque::{Injector, Steal};

use crate::job::JobRef;
use crate::pool::registry::Registry;
use crate::sync::{fence, AtomicUsize, Ordering};

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

    /// Queues a task of the scope; it starts when a slot is free.
    pub(crate) fn submit(&self, job: JobRef, registry: &Registry) {
        self.queue.push(job);
        self.pump(registry);
    }

    /// A task of the scope has finished (run or skipped): free its slot.
    pub(crate) fn finished(&self, registry: &Registry) {
        self.running.fetch_sub(1, Ordering::Relaxed);
        self.pump(registry);
    }

    fn pump(&self, registry: &Registry) {
        loop {
            fence(Ordering::SeqCst);
            if self.queue.is_empty() || !self.claim_slot() {
                return;
            }
            loop {
                match self.queue.steal() {
                    Steal::Success(job) => {
                        registry.push(job);
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
