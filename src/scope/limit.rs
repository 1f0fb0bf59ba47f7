//! A scope's concurrency limit: at most `max` of its tasks run at once; the
//! rest wait in the scope's own queue, so spawning never blocks.
//!
//! One lock guards the count of running tasks and the queue: a spawn either
//! takes a free slot or queues; a task that ends hands its slot to the
//! oldest queued task, or frees it. The lock is held only to move a job
//! reference, never while a job runs, and only scopes with a limit pay
//! for it.
//!
//! A task that must wait for a queued sibling (through its handle) would
//! wait forever once every slot is held by such a task, so it *lends* its
//! slot: it takes exactly that sibling out of the queue and runs it itself
//! ([`take_queued`](Limiter::take_queued)). Only that sibling: running
//! another one on top of the waiting task could bury a task that the
//! other one waits for.

use std::collections::VecDeque;

use crate::job::JobRef;
use crate::sync::Mutex;

#[derive(Debug)]
pub(crate) struct Limiter {
    max: usize,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// Slots taken: tasks launched and not finished, plus tasks running on
    /// a lent slot (their lender is blocked meanwhile).
    running: usize,
    /// Tasks waiting for a slot, oldest first, each with its tag: the
    /// address of its handle's state (which the handle keeps alive, so no
    /// other live task has the same tag), or 0 for a task without one.
    queue: VecDeque<(JobRef, usize)>,
}

impl Limiter {
    pub(crate) fn new(max: usize) -> Self {
        assert!(max >= 1, "a scope's max_concurrency must be at least 1");
        Self {
            max,
            state: Mutex::new(State {
                running: 0,
                queue: VecDeque::new(),
            }),
        }
    }

    /// Queues a task of the scope; it starts (`launch`) when a slot is free.
    pub(crate) fn submit(&self, job: JobRef, tag: usize, launch: impl FnOnce(JobRef, usize)) {
        let mut state = self.state.lock();
        if state.running < self.max {
            state.running += 1;
            drop(state);
            launch(job, tag);
        } else {
            state.queue.push_back((job, tag));
        }
    }

    /// A task of the scope has finished (run or skipped): its slot goes to
    /// the oldest queued task, if any. `launch` gets each job with its tag.
    pub(crate) fn finished(&self, launch: impl FnOnce(JobRef, usize)) {
        let mut state = self.state.lock();
        state.running -= 1;
        if state.running < self.max {
            if let Some((job, tag)) = state.queue.pop_front() {
                state.running += 1;
                drop(state);
                launch(job, tag);
            }
        }
    }

    /// Takes the queued task tagged `tag` out of the queue, for a thread
    /// that lends it a slot and runs it. `None` if it is not queued (it has
    /// started, or will soon: it left the queue with a slot).
    pub(crate) fn take_queued(&self, tag: usize) -> Option<JobRef> {
        debug_assert_ne!(tag, 0, "only tasks with handles can be lent a slot");
        let mut state = self.state.lock();
        let at = state.queue.iter().position(|&(_, t)| t == tag)?;
        let (job, _) = state.queue.remove(at)?;
        // The job gives a slot back when it ends, and its lender stays
        // blocked meanwhile: at most `max` tasks run.
        state.running += 1;
        Some(job)
    }
}
