//! Type-erased jobs: what the deques hold.
//!
//! A [`JobRef`] is two words: a pointer to the job and the function that runs
//! it. Heap jobs (`spawn`) own themselves and free themselves when run; stack
//! jobs (`join`, `install`) live in the frame of a thread that waits for them.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::thread;

use crate::scope::{current_context, with_context, Context};
use crate::slots;
use crate::sync::UnsafeCell;

/// A job in a deque: run it exactly once with [`JobRef::execute`].
#[derive(Clone, Copy, Debug)]
pub(crate) struct JobRef {
    pointer: *const (),
    execute_fn: unsafe fn(*const ()),
}

// SAFETY: the constructors require the job to be sendable to another thread.
unsafe impl Send for JobRef {}
// SAFETY: a `JobRef` is only a pair of pointers until it is executed, and it
// is executed once, by whoever took it out of a deque.
unsafe impl Sync for JobRef {}

/// Two refs are the same job when they point at the same job: the same
/// address cannot hold two live jobs.
impl PartialEq for JobRef {
    fn eq(&self, other: &Self) -> bool {
        std::ptr::eq(self.pointer, other.pointer)
    }
}

impl Eq for JobRef {}

impl JobRef {
    /// # Safety
    ///
    /// `pointer` must stay valid until `execute_fn(pointer)` has run, and it
    /// must be sound to run that on any thread.
    pub(crate) unsafe fn new(pointer: *const (), execute_fn: unsafe fn(*const ())) -> Self {
        Self {
            pointer,
            execute_fn,
        }
    }

    /// The job's address, which identifies it.
    #[cfg(loom)]
    pub(crate) fn addr(self) -> usize {
        self.pointer as usize
    }

    /// # Safety
    ///
    /// Called at most once per job, per the contract of [`JobRef::new`].
    #[inline]
    pub(crate) unsafe fn execute(self) {
        // SAFETY: forwarded to the caller.
        unsafe { (self.execute_fn)(self.pointer) }
    }
}

/// A job that owns its closure on the heap and frees itself when run.
///
/// A closure small enough lives in a recycled job slot (see `slots`), so a
/// spawn allocates nothing once the program has warmed up; a larger one is
/// boxed.
pub(crate) struct HeapJob<F> {
    func: F,
}

impl<F: FnOnce() + Send> HeapJob<F> {
    /// Moves `func` to the heap as a job.
    ///
    /// # Safety
    ///
    /// Everything `func` borrows must outlive the job's execution: the
    /// `'static` bound is erased here, and the caller (a scope) upholds it.
    #[inline]
    pub(crate) unsafe fn into_job_ref(func: F) -> JobRef {
        let job = HeapJob { func };
        if slots::fits::<Self>() {
            let slot = slots::take().cast::<Self>();
            // SAFETY: a slot is free, and large and aligned enough (`fits`).
            unsafe { slot.as_ptr().write(job) };
            // SAFETY: the slot stays ours until `execute_in_slot` frees it.
            unsafe { JobRef::new(slot.as_ptr() as *const (), Self::execute_in_slot) }
        } else {
            let pointer = Box::into_raw(Box::new(job)) as *const ();
            // SAFETY: the box stays alive until `execute` takes it back.
            unsafe { JobRef::new(pointer, Self::execute) }
        }
    }

    unsafe fn execute(this: *const ()) {
        // SAFETY: `this` came from `Box::into_raw` in `into_job_ref`, and a
        // job is executed once.
        let job = unsafe { Box::from_raw(this as *mut Self) };
        (job.func)();
    }

    unsafe fn execute_in_slot(this: *const ()) {
        // SAFETY: `this` is a slot holding a job, written in `into_job_ref`
        // and executed once: move the job out, then free the slot first, so
        // that the spawns the job makes can reuse it.
        let job = unsafe { std::ptr::read(this as *const Self) };
        // SAFETY: the slot came from `slots::take` and is now empty.
        unsafe { slots::give_back(std::ptr::NonNull::new_unchecked(this as *mut u8)) };
        (job.func)();
    }
}

/// Runs `f`, catching a panic.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, Box<dyn Any + Send>> {
    panic::catch_unwind(AssertUnwindSafe(f))
}

/// Drops a panic payload that is not going anywhere. A payload's own `Drop`
/// may panic, and that panic must not unwind out of a worker: it is caught
/// and its payload dropped in turn. Should payloads keep panicking on drop,
/// the last one is leaked rather than looped on.
pub(crate) fn drop_payload(payload: Box<dyn Any + Send>) {
    let mut payload = payload;
    for _ in 0..4 {
        match catch(move || drop(payload)) {
            Ok(()) => return,
            Err(next) => payload = next,
        }
    }
    std::mem::forget(payload);
}

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
            context: current_context(),
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
        crate::scope::return_spare_here();
        let this = this as *const Self;
        // SAFETY: the owner keeps the job alive until `complete` publishes;
        // nobody else touches `func` or `result` before that.
        unsafe {
            let func = (*this)
                .func
                .with_mut(|func| (*func).take())
                .expect("stack job run twice");
            let result = with_context((*this).context, || catch(func));
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
