//! `join`: run two closures, potentially in parallel.
//!
//! The second closure becomes a stack job (no allocation) and the innermost
//! of the worker's *frames*, and the first runs inline. A frame is
//! published (pushed on the worker's deque, where thieves can take it) only
//! when it may be worth it: right away for the two outermost `join`s of a
//! job, otherwise when another worker has asked this one for work (a flag
//! of this worker's own, read at every `join`; see `Sleep::request_work`),
//! or when the worker is about to wait itself. Publishing takes the
//! outermost unpublished frame, the one with the most work behind it. An
//! unpublished second half runs inline afterwards with no atomic
//! read-modify-write and no fence; this is what makes a fine-grained `join`
//! cheap. A published one is popped back and run inline, unless a thief
//! took it, in which case the worker runs other jobs until the thief sets
//! the frame's flag.

use std::mem::{ManuallyDrop, MaybeUninit};
use std::panic::resume_unwind;
use std::thread;

use crate::context::{self, Context};
use crate::job::{catch, drop_payload};
use crate::pool::frames::Frame;
use crate::pool::worker::WorkerThread;
use crate::sync::UnsafeCell;

#[inline]
pub(crate) fn join_on_worker<A, B, RA, RB>(worker: &WorkerThread, a: A, b: B) -> (RA, RB)
where
    A: FnOnce() -> RA + Send,
    B: FnOnce() -> RB + Send,
    RA: Send,
    RB: Send,
{
    let job_b = JoinJob::new(b);
    // SAFETY: `job_b` stays in this frame until it is popped below, and
    // only `catch`, which does not unwind, runs in between. Once popped it
    // is either taken back (so nobody else can run it) or waited for: every
    // path out of this function, unwinding included, does one of the two.
    unsafe { worker.push_frame(&job_b.frame) };

    // `a` must not unwind past `job_b` while a thief may be running it.
    let result_a = catch(a);

    let published = worker.pop_frame(&job_b.frame);
    if !published || take_back(worker, &job_b.frame) {
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
    // SAFETY: `take_back` returned false: a thief ran the job.
    combine(result_a, unsafe { job_b.into_result() })
}

/// Takes the published job of `frame` back from the worker's deque.
/// Returns false if a thief took it; then it has completed when this
/// returns.
#[cold]
fn take_back(worker: &WorkerThread, frame: &Frame) -> bool {
    let job = frame.job_ref();
    while !frame.is_done() {
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
                worker.wait_until(|| frame.is_done());
                break;
            }
        }
    }
    false
}

/// `join`'s second half: a closure in the `join`'s stack frame, with the
/// frame that the worker's frame stack links (see `pool::frames`). When
/// stolen, it still runs on behalf of the current task: it carries the
/// task's scope context to the thief.
///
/// Nothing here is dropped implicitly: the closure is taken exactly once,
/// by [`run_inline`](Self::run_inline) or by a thief, and a result exists
/// only if a thief wrote it, for [`into_result`](Self::into_result).
#[repr(C)]
pub(crate) struct JoinJob<F, R> {
    /// First, so that the frame's address is the job's.
    frame: Frame,
    context: Context,
    func: UnsafeCell<ManuallyDrop<F>>,
    result: UnsafeCell<MaybeUninit<thread::Result<R>>>,
}

impl<F, R> JoinJob<F, R>
where
    F: FnOnce() -> R + Send,
    R: Send,
{
    #[inline]
    pub(crate) fn new(func: F) -> Self {
        Self {
            frame: Frame::new(Self::execute),
            context: context::current(),
            func: UnsafeCell::new(ManuallyDrop::new(func)),
            result: UnsafeCell::new(MaybeUninit::uninit()),
        }
    }

    #[cfg(loom)]
    pub(crate) fn frame(&self) -> &Frame {
        &self.frame
    }

    /// Runs the job on a thief.
    ///
    /// # Safety
    ///
    /// `this` is a published job's frame, executed once, whose owner keeps
    /// it alive until it completes.
    unsafe fn execute(this: *const ()) {
        crate::spare::give_back();
        let this = this as *const Self;
        // SAFETY: the owner keeps the job alive until `complete` publishes;
        // nobody else touches `func` or `result` before that, and the
        // closure is taken once (the owner does not run a job it published
        // and could not take back).
        unsafe {
            let func = (*this).func.with_mut(|func| ManuallyDrop::take(&mut *func));
            let result = context::with((*this).context, || catch(func));
            (*this).result.with_mut(|slot| (*slot).write(result));
            Frame::complete(std::ptr::addr_of!((*this).frame));
        }
    }

    /// Runs the job on the owner's thread. A panic propagates as usual.
    ///
    /// # Safety
    ///
    /// No other thread can run the job: it was never published, or the
    /// owner popped it back before anyone took it. Called at most once.
    #[inline]
    pub(crate) unsafe fn run_inline(&self) -> R {
        // SAFETY: no other thread touches `func`, which is taken once.
        let func = unsafe { self.func.with_mut(|func| ManuallyDrop::take(&mut *func)) };
        func()
    }

    /// The result of a job that a thief has run; its panic, if it
    /// panicked, is in the `Err`.
    ///
    /// # Safety
    ///
    /// The job completed on a thief ([`Frame::is_done`]).
    pub(crate) unsafe fn into_result(self) -> thread::Result<R> {
        // SAFETY: the thief wrote the result before setting `done`, which
        // the caller saw (with acquire ordering). A tracked read, not
        // `into_inner`, so that loom checks that ordering.
        unsafe { self.result.with(|slot| (*slot).assume_init_read()) }
    }
}

// The job's address is handed to thieves; it must be the frame's.
const _: () = assert!(std::mem::offset_of!(JoinJob<fn(), ()>, frame) == 0);

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
