//! `join`: run two closures, potentially in parallel.
//!
//! The second closure becomes a stack job (no allocation) on the worker's
//! stack of *frames*, and the first runs inline. A frame is published (pushed
//! on the worker's deque, where thieves can take it) only when it may be
//! worth it: right away for the outermost joins of a job, otherwise
//! when the worker notices, at its next `join`, that another worker is
//! looking for work, or when it is about to wait itself. An unpublished
//! second half runs inline afterwards with no atomic operation at all; this
//! is what makes a fine-grained `join` cheap. A published one is popped back
//! and run inline, unless a thief took it, in which case the worker runs
//! other jobs until the thief sets the job's flag.

use std::mem::ManuallyDrop;
use std::panic::resume_unwind;
use std::thread;

use crate::job::{catch, drop_payload, JobRef};
use crate::pool::sleep::Sleep;
use crate::pool::worker::WorkerThread;
use crate::stack_job::{Completion, StackJob};
use crate::sync::{AtomicBool, Ordering};

/// The outermost `join`s of a job (a task, an `install`ed closure...)
/// publish their second half right away: a coarse split must never wait
/// for its worker to notice a hungry one.
const EAGER_DEPTH: usize = 2;

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
    // SAFETY: `job_b` stays in this frame until it is either taken back
    // below (so nobody else can run it) or its flag is set; every path out
    // of this function, unwinding included, waits for one of the two first.
    let job_b_ref = unsafe { job_b.as_job_ref() };
    let (depth, depth_in_job) = worker.push_frame(job_b_ref);
    if depth_in_job < EAGER_DEPTH {
        worker.publish_oldest();
    } else {
        worker.publish_if_wanted();
    }

    // `a` must not unwind past `job_b` while a thief may be running it.
    let result_a = catch(a);

    let published = worker.pop_frame(depth);
    if !published || take_back(worker, job_b_ref, job_b.completion()) {
        return match result_a {
            Ok(a) => {
                // A panic in `b` may unwind from here; `a`'s value is
                // dropped on the way, where a panic in its `Drop` is caught.
                let a = DropCaught::new(a);
                // SAFETY: nobody else has `b` now.
                let b = unsafe { job_b.run_inline() };
                (a.into_inner(), b)
            }
            Err(payload) => {
                // `a`'s panic wins; `b` still runs, as it would have on a
                // thief.
                // SAFETY: nobody else has `b` now.
                drop_result(catch(|| unsafe { job_b.run_inline() }));
                resume_unwind(payload)
            }
        };
    }
    combine(result_a, job_b.into_result())
}

/// Takes the published job `job` back from the worker's deque. Returns
/// false if a thief took it; then it has completed when this returns.
fn take_back(worker: &WorkerThread, job: JobRef, flag: &WorkerFlag) -> bool {
    while !flag.is_set() {
        match worker.pop_local() {
            Some(popped) if popped == job => return true,
            // Something `a` pushed and left behind (a detached task): run
            // it now, as the unrelated job it is; it sits on top of `job`.
            Some(popped) => {
                // SAFETY: a job taken out of a deque is executed once.
                unsafe { worker.execute(popped) };
                // Units it left spare are not `a`'s or `b`'s to keep.
                crate::spare::give_back();
            }
            None => {
                worker.wait_until(|| flag.is_set());
                break;
            }
        }
    }
    false
}

/// Drops the result of a side that lost to the other side's panic: its
/// value or its payload, either of whose `Drop` may panic, which must not
/// replace the panic on its way (nor, during unwinding, abort).
fn drop_result<R>(result: thread::Result<R>) {
    match result {
        Ok(value) => drop_caught(value),
        Err(payload) => drop_payload(payload),
    }
}

/// Drops `value`, catching a panic of its `Drop`.
fn drop_caught<T>(value: T) {
    if let Err(payload) = catch(move || drop(value)) {
        drop_payload(payload);
    }
}

/// Holds a value across code that may unwind: dropped by the unwinding, it
/// drops the value with [`drop_caught`]; on the way out it costs nothing.
struct DropCaught<T>(ManuallyDrop<T>);

impl<T> DropCaught<T> {
    #[inline]
    fn new(value: T) -> Self {
        Self(ManuallyDrop::new(value))
    }

    #[inline]
    fn into_inner(self) -> T {
        let mut this = ManuallyDrop::new(self);
        // SAFETY: `this` is never dropped, so the value is taken once.
        unsafe { ManuallyDrop::take(&mut this.0) }
    }
}

impl<T> Drop for DropCaught<T> {
    fn drop(&mut self) {
        // SAFETY: dropped once, and `into_inner` did not run.
        drop_caught(unsafe { ManuallyDrop::take(&mut self.0) });
    }
}

/// Both results, or the first side's panic (the left one if both panicked).
/// The other side's payload is dropped before unwinding starts: its `Drop`
/// may panic, which during unwinding would abort the process.
fn combine<RA, RB>(a: thread::Result<RA>, b: thread::Result<RB>) -> (RA, RB) {
    match (a, b) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(payload), b) => {
            drop_result(b);
            resume_unwind(payload)
        }
        (Ok(a), Err(payload)) => {
            drop_caught(a);
            resume_unwind(payload)
        }
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
