//! How a worker waits: for a scope, a `join`'s stolen half, a handle, an
//! `install` on another pool, or the end of the pool. It keeps running jobs
//! meanwhile, so that waits nest on a pool of one thread; which jobs it may
//! run depends on what lies beneath it on its stack (see
//! [`WorkerThread::wait_for`]).

use super::sleep::Sleeper;
use super::worker::WorkerThread;
use crate::context;
use crate::job::JobRef;
use crate::lend::LendHost;
use crate::spare;
use std::sync::Arc as StdArc;
use std::task::{Wake, Waker};
use std::time::Instant;

use super::registry::Registry;
use crate::local_wait;
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

    /// When to give up waiting, if ever.
    fn deadline(&self) -> Option<Instant> {
        None
    }
}

impl<F: Fn() -> bool> Wait for F {
    fn is_done(&self) -> bool {
        self()
    }
}

impl WorkerThread {
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
    ///
    /// Returns false if the wait's [deadline](Wait::deadline) passed first.
    pub(crate) fn wait_for(&self, wait: &impl Wait) -> bool {
        // The `join` frames this thread waits in are work nobody else can
        // see, and the jobs it is about to run may block: show them first.
        self.publish_all();
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
        let deadline = wait.deadline();
        let mut done = true;
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
                    self.registry.metrics.busy(self.index());
                }
                idle_rounds = 0;
                // SAFETY: a job taken out of a deque (or lent to this
                // wait) is executed once.
                unsafe { self.execute(job) };
                // A wait with a deadline gives up after the job that
                // outlasts it, not once the pool runs out of work.
                if !past(deadline) || wait.is_done() {
                    continue;
                }
            }
            if wait.is_done() {
                break;
            }
            if past(deadline) {
                done = false;
                break;
            }
            if !idle {
                idle = true;
                self.registry.metrics.idle(self.index());
                // An idle thread holds no scope open.
                spare::give_back();
            }
            // A confined waiter takes no published work: it has no use for
            // the halves that `join`s would publish for it.
            if !confined {
                self.registry.sleep.request_work(self.index());
            }
            let spin_rounds = self.registry.spin_rounds;
            if idle_rounds < spin_rounds {
                idle_rounds += 1;
                if idle_rounds <= spin_rounds / 2 {
                    spin_hint();
                } else {
                    crate::sync::yield_now();
                }
                continue;
            }
            self.registry.metrics.slept(self.index());
            if confined {
                self.registry
                    .sleep
                    .sleep_until(self.index(), Sleeper::Targeted, deadline, || {
                        wait.is_done() || wait.has_own_job() || lent_requested()
                    });
            } else {
                self.registry
                    .sleep
                    .sleep_until(self.index(), Sleeper::Any, deadline, || {
                        wait.is_done() || wait.has_own_job() || lent_requested() || self.has_work()
                    });
            }
            idle_rounds = 0;
        }
        if idle {
            self.registry.metrics.busy(self.index());
        }
        // Back to what this thread was doing, which may not be a task of
        // the scope whose units it kept while waiting, and may block.
        spare::give_back();
        done
    }
}

/// Whether `deadline` is set and has passed.
fn past(deadline: Option<Instant>) -> bool {
    deadline.is_some_and(|deadline| Instant::now() >= deadline)
}

/// A [`Wait`] for a condition, with a deadline.
struct Until<'a> {
    done: &'a dyn Fn() -> bool,
    deadline: Option<Instant>,
}

impl Wait for Until<'_> {
    fn is_done(&self) -> bool {
        (self.done)()
    }

    fn deadline(&self) -> Option<Instant> {
        self.deadline
    }
}

/// A worker waits for the layers below the pool (a `WaitGroup`) the way it
/// waits for anything: running its pool's jobs.
impl local_wait::Waiter for WorkerThread {
    fn waker(&self) -> Waker {
        self.waker.clone()
    }

    fn wait_until(&self, done: &dyn Fn() -> bool, deadline: Option<Instant>) -> bool {
        self.wait_for(&Until { done, deadline })
    }
}

/// Wakes worker `index` of `registry`, waiting for its own condition.
pub(super) struct WorkerWake {
    pub(super) registry: Arc<Registry>,
    pub(super) index: usize,
}

impl Wake for WorkerWake {
    fn wake(self: StdArc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &StdArc<Self>) {
        self.registry.sleep.notify_worker(self.index);
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
