//! Type-erased jobs: what the deques hold.
//!
//! A [`JobRef`] is two words: a pointer to the job and the function that runs
//! it. Heap jobs (`spawn`) own themselves and free themselves when run; stack
//! jobs (`join`, `install`, in `stack_job`) live in the frame of a thread
//! that waits for them.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};

use crate::slots;

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

/// Writes `taskgroup: <message>` on stderr, for the user to read. A broken
/// stderr makes `eprintln!` panic, which must not unwind out of a worker
/// (or replace the panic being reported): it is caught and dropped.
#[cold]
pub(crate) fn report(message: std::fmt::Arguments<'_>) {
    if let Err(failed) = catch(|| eprintln!("taskgroup: {message}")) {
        drop_payload(failed);
    }
}
