//! [`Scope`]: spawn tasks that borrow from the stack; join them all at the
//! end.
//!
//! # Completion
//!
//! A scope's [`WaitGroup`] counts the body as one and each spawned task as
//! one; every count is a guard. The body runs on the calling thread. When it
//! returns (or unwinds) its guard is dropped and the caller waits for zero:
//!
//! * a thread outside the pool blocks in [`WaitGroup::wait`];
//! * a worker of the pool runs jobs meanwhile, its own deque first, and
//!   sleeps in the pool's sleep protocol when there are none. The task whose
//!   `done` brings the count to zero then wakes that worker by index.
//!
//! The scope lives in the caller's frame, so the last `done` must not touch
//! it once the caller may return. The waitgroup guarantees that for its own
//! memory; the task guard reads the owner's index *before* its `done`, and
//! wakes the owner through the registry, which outlives the scope.

use std::any::Any;
use std::fmt;
use std::marker::PhantomData;
use std::mem::ManuallyDrop;
use std::panic::resume_unwind;
use std::ptr::{self, NonNull};

use crate::job::{catch, HeapJob};
use crate::pool::registry::{Registry, WorkerThread};
use crate::pool::sleep::Sleep;
use crate::sync::{AtomicPtr, Ordering};
use crate::waitgroup::{WaitGroup, WaitGuard};

/// A scope in which tasks that borrow from the enclosing stack frame can be
/// spawned. Created by [`ThreadPool::scope`](crate::ThreadPool::scope) or
/// [`scope`](crate::scope); every task it spawned has finished by the time
/// the call that created it returns.
///
/// # Lifetimes
///
/// `'scope` is the lifetime of the scope itself: tasks may borrow anything
/// that outlives it. It is invariant, so that a task cannot smuggle a
/// shorter-lived borrow into the scope.
///
/// ```compile_fail
/// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
/// pool.scope(|s| {
///     let local = 1;
///     s.spawn(|_| println!("{local}")); // error: `local` does not live long enough
/// });
/// ```
pub struct Scope<'scope> {
    wg: WaitGroup,
    registry: NonNull<Registry>,
    /// The worker index of the thread that owns the scope, if it is a worker
    /// of `registry`.
    owner: Option<usize>,
    /// The first panic of a task or of the body.
    panic: AtomicPtr<Box<dyn Any + Send>>,
    _invariant: PhantomData<&'scope mut &'scope ()>,
}

// SAFETY: the registry is `Sync` and outlives the scope; the rest is atomics.
unsafe impl Send for Scope<'_> {}
// SAFETY: as above.
unsafe impl Sync for Scope<'_> {}

/// Runs `op` in a new scope of `registry` and waits for all its tasks.
pub(crate) fn run<'scope, OP, R>(registry: &Registry, op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    let owner = WorkerThread::current()
        .filter(|worker| ptr::eq(worker.registry(), registry))
        .map(WorkerThread::index);
    let scope = Scope {
        wg: WaitGroup::new(),
        registry: NonNull::from(registry),
        owner,
        panic: AtomicPtr::new(ptr::null_mut()),
        _invariant: PhantomData,
    };
    let body = scope.wg.add();
    let result = catch(|| op(&scope));
    body.done();
    scope.wait();
    let result = match result {
        Ok(value) => Some(value),
        Err(payload) => {
            scope.record_panic(payload);
            None
        }
    };
    if let Some(payload) = scope.take_panic() {
        resume_unwind(payload);
    }
    result.expect("a scope body that panicked left no payload")
}

impl<'scope> Scope<'scope> {
    /// Spawns a task into the scope. It may borrow anything that outlives
    /// the scope, and it receives the scope so that it can spawn more.
    ///
    /// The task is counted before it is queued, so the scope cannot miss it.
    /// A panic in the task is caught; the scope waits for all other tasks,
    /// then re-raises the first panic.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// let mut halves = [0u64; 2];
    /// let data: Vec<u64> = (1..=100).collect();
    /// pool.scope(|s| {
    ///     let (left, right) = halves.split_at_mut(1);
    ///     let (a, b) = data.split_at(50);
    ///     s.spawn(move |_| left[0] = a.iter().sum());
    ///     s.spawn(move |_| right[0] = b.iter().sum());
    /// });
    /// assert_eq!(halves[0] + halves[1], 5050);
    /// ```
    ///
    /// # Panics
    ///
    /// If more than `u32::MAX` tasks of one scope are outstanding at once.
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(&Scope<'scope>) + Send + 'scope,
    {
        let guard = TaskGuard::new(self);
        let scope = ScopePtr(self);
        let task = move || {
            // SAFETY: `guard` keeps the scope from completing, hence alive,
            // until it is dropped at the end of this closure.
            let scope = unsafe { scope.get() };
            if let Err(payload) = catch(|| f(scope)) {
                scope.record_panic(payload);
            }
            drop(guard);
        };
        // SAFETY: the task borrows only what outlives `'scope`, and the scope
        // does not return before the task's guard is dropped.
        let job = unsafe { HeapJob::into_job_ref(task) };
        self.registry().push(job);
    }

    fn registry(&self) -> &Registry {
        // SAFETY: the registry is borrowed by the call that runs this scope.
        unsafe { self.registry.as_ref() }
    }

    fn wait(&self) {
        match self.owner {
            Some(_) => {
                let worker = WorkerThread::current().expect("scope owner left its worker");
                worker.wait_until(|| self.wg.count() == 0);
            }
            None => self.wg.wait(),
        }
    }

    fn record_panic(&self, payload: Box<dyn Any + Send>) {
        let boxed = Box::into_raw(Box::new(payload));
        if self
            .panic
            .compare_exchange(ptr::null_mut(), boxed, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            // Not the first: only the first panic is re-raised.
            // SAFETY: `boxed` came from `Box::into_raw` just above.
            drop(unsafe { Box::from_raw(boxed) });
        }
    }

    fn take_panic(&self) -> Option<Box<dyn Any + Send>> {
        let boxed = self.panic.swap(ptr::null_mut(), Ordering::Acquire);
        // SAFETY: non-null values come from `record_panic`'s `Box::into_raw`,
        // and the swap makes us the only owner.
        (!boxed.is_null()).then(|| *unsafe { Box::from_raw(boxed) })
    }
}

impl Drop for Scope<'_> {
    fn drop(&mut self) {
        drop(self.take_panic());
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("tasks", &self.wg.count())
            .field("owner", &self.owner)
            .finish_non_exhaustive()
    }
}

/// A scope pointer that tasks carry to other threads.
struct ScopePtr<'scope>(*const Scope<'scope>);

// SAFETY: `Scope` is `Sync`.
unsafe impl Send for ScopePtr<'_> {}

impl<'scope> ScopePtr<'scope> {
    /// # Safety
    ///
    /// The scope must still be alive: its task's guard is still held.
    unsafe fn get(&self) -> &Scope<'scope> {
        // SAFETY: forwarded to the caller.
        unsafe { &*self.0 }
    }
}

/// A task's count in its scope. Dropping it is the task's `done`; the one
/// that brings the count to zero wakes the scope's owner if it is a worker.
struct TaskGuard {
    guard: ManuallyDrop<WaitGuard<'static>>,
    owner: Option<usize>,
}

impl TaskGuard {
    #[track_caller]
    fn new(scope: &Scope<'_>) -> Self {
        let guard = scope.wg.add();
        // SAFETY: the scope waits for this guard before it returns, so the
        // borrow it erases is in fact alive for as long as the guard.
        let guard = unsafe { std::mem::transmute::<WaitGuard<'_>, WaitGuard<'static>>(guard) };
        Self {
            guard: ManuallyDrop::new(guard),
            owner: scope.owner,
        }
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        // SAFETY: taken once, here; `self.guard` is not used again.
        let guard = unsafe { ManuallyDrop::take(&mut self.guard) };
        match (self.owner, WorkerThread::current()) {
            (Some(owner), Some(worker)) => finish_task(guard, owner, &worker.registry().sleep),
            _ => guard.done(),
        }
    }
}

/// A task's `done` in a scope owned by worker `owner`: the last one wakes
/// the owner. The scope may be freed as soon as the count is zero, so only
/// `owner` and `sleep` (the registry's, which outlives the scope) are used
/// after it.
pub(crate) fn finish_task(guard: WaitGuard<'_>, owner: usize, sleep: &Sleep) {
    if guard.done_was_last() {
        sleep.notify_worker(owner);
    }
}
