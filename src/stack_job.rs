//! Stack jobs: a closure that lives in the frame of a thread that waits for
//! it (`join`'s second half, an `install`ed closure), and runs on behalf of
//! that thread's task wherever it is taken.

use std::thread;

use crate::context::{self, Context};
use crate::job::{catch, JobRef};
use crate::sync::UnsafeCell;

/// How a [`StackJob`] tells its owner that the result is written.
pub(crate) trait Completion {
    /// # Safety
    ///
    /// `this` is valid on entry. The owner may free it, and the job around
    /// it, as soon as the completion becomes visible, so an implementation
    /// must read everything it needs before publishing it.
    unsafe fn complete(this: *const Self);
}

/// A job that lives in the frame of a thread that waits for it: `join`'s
/// second half, or a closure sent into the pool by `install`.
pub(crate) struct StackJob<F, R, C> {
    /// The scope context of the thread that made the job: a thief runs the
    /// job in it, since the job runs on behalf of that thread's task.
    context: Context,
    func: UnsafeCell<Option<F>>,
    result: UnsafeCell<Option<thread::Result<R>>>,
    completion: C,
}

impl<F, R, C> StackJob<F, R, C>
where
    F: FnOnce() -> R + Send,
    R: Send,
    C: Completion,
{
    #[inline]
    pub(crate) fn new(func: F, completion: C) -> Self {
        Self {
            context: context::current(),
            func: UnsafeCell::new(Some(func)),
            result: UnsafeCell::new(None),
            completion,
        }
    }

    /// # Safety
    ///
    /// The job must not move or be dropped until it has either completed
    /// (its completion is visible) or been taken back with
    /// [`run_inline`](Self::run_inline) before anyone else could run it.
    pub(crate) unsafe fn as_job_ref(&self) -> JobRef {
        // SAFETY: forwarded to the caller; `F` and `R` are `Send`.
        unsafe { JobRef::new(self as *const Self as *const (), Self::execute) }
    }

    unsafe fn execute(this: *const ()) {
        crate::spare::give_back();
        let this = this as *const Self;
        // SAFETY: the owner keeps the job alive until `complete` publishes;
        // nobody else touches `func` or `result` before that.
        unsafe {
            let func = (*this)
                .func
                .with_mut(|func| (*func).take())
                .expect("stack job run twice");
            let result = context::with((*this).context, || catch(func));
            (*this).result.with_mut(|slot| *slot = Some(result));
            C::complete(std::ptr::addr_of!((*this).completion));
        }
    }

    /// Runs the job on the owner's thread. A panic propagates as usual.
    ///
    /// # Safety
    ///
    /// No other thread can run the job: it was never published, or the
    /// owner popped it back before anyone took it.
    #[inline]
    pub(crate) unsafe fn run_inline(&self) -> R {
        // SAFETY: no other thread touches `func` (see above).
        let func = unsafe { self.func.with_mut(|func| (*func).take()) };
        func.expect("stack job run twice")()
    }

    /// The value of a job that has completed on another thread; its panic,
    /// if it panicked, is re-raised here.
    pub(crate) fn into_value(self) -> R {
        match self.into_result() {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        }
    }

    /// The result of a job that has completed on another thread.
    pub(crate) fn into_result(self) -> thread::Result<R> {
        self.result
            .into_inner()
            .expect("stack job completed without a result")
    }

    pub(crate) fn completion(&self) -> &C {
        &self.completion
    }
}
