//! `join`: run two closures, potentially in parallel.
//!
//! The second closure is pushed on the worker's own deque as a stack job (no
//! allocation) and the first runs inline. Afterwards the worker pops the
//! second back and runs it inline too, unless a thief took it, in which case
//! the worker runs other jobs until the thief sets the job's flag.

use std::panic::resume_unwind;
use std::thread;

use crate::job::{catch, drop_payload, Completion, StackJob};
use crate::pool::registry::WorkerThread;
use crate::pool::sleep::Sleep;
use crate::scope::{with_context, Context};
use crate::sync::{AtomicBool, Ordering};

pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    // When stolen, `b` still runs on behalf of the current task: the job
    // carries the task's scope context to the thief.
    let job_b = StackJob::new(b, WorkerFlag::new(worker.index(), &worker.registry().sleep));
    // SAFETY: `job_b` stays in this frame until it is either popped back
    // below (so nobody else can run it) or its flag is set; every path out
    // of this function, unwinding included, waits for one of the two first.
    let job_b_ref = unsafe { job_b.as_job_ref() };
    worker.push(job_b_ref);

    // `a` must not unwind past `job_b` while a thief may be running it.
    let result_a = catch(a);

    while !job_b.completion().is_set() {
        match worker.pop_local() {
            Some(job) if job == job_b_ref => {
                return match result_a {
                    // Nobody else has `b` now: a panic in it may unwind.
                    Ok(a) => (a, job_b.run_inline()),
                    Err(payload) => {
                        // `a`'s panic wins; `b` still runs, as it would
                        // have on a thief.
                        drop_payload_of(catch(|| job_b.run_inline()));
                        resume_unwind(payload)
                    }
                };
            }
            // Something `a` pushed and left behind (a detached task): run
            // it now, as the unrelated job it is; it sits on top of `job_b`.
            // SAFETY: a job taken out of a deque is executed once.
            Some(job) => with_context(Context::NONE, || unsafe { job.execute() }),
            None => {
                worker.wait_until(|| job_b.completion().is_set());
                break;
            }
        }
    }
    combine(result_a, job_b.into_result())
}

fn drop_payload_of<R>(result: thread::Result<R>) {
    if let Err(payload) = result {
        drop_payload(payload);
    }
}

/// Both results, or the first side's panic (the left one if both panicked).
fn combine<RA, RB>(a: thread::Result<RA>, b: thread::Result<RB>) -> (RA, RB) {
    match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(payload), _) | (_, Err(payload)) => resume_unwind(payload),
    }
}

/// Completion of `join`'s stack job: a flag, and a wake-up for the worker
/// that waits on it.
#[derive(Debug)]
pub(crate) struct WorkerFlag {
    done: AtomicBool,
    owner: usize,
    /// The owner's pool's sleep state; the thief works for the same pool,
    /// which therefore outlives the completion.
    sleep: *const Sleep,
}

impl WorkerFlag {
    pub(crate) fn new(owner: usize, sleep: &Sleep) -> Self {
        Self {
            done: AtomicBool::new(false),
            owner,
            sleep,
        }
    }

    #[inline]
    pub(crate) fn is_set(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }
}

impl Completion for WorkerFlag {
    unsafe fn complete(this: *const Self) {
        // SAFETY: `this` is valid until `done` is set: read what we need
        // first. The pool (and its sleep state) outlives the job.
        let (owner, sleep) = unsafe { ((*this).owner, &*(*this).sleep) };
        // SAFETY: as above. Once `done` is set the owner may return and free
        // `*this`: this store is our last access to it.
        unsafe { (*this).done.store(true, Ordering::Release) };
        sleep.notify_worker(owner);
    }
}
