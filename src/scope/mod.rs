//! [`Scope`] and [`TryScope`]: spawn tasks that borrow from the stack; join
//! them all at the end. The machinery lives in `core`.

mod builder;
mod cancel;
mod core;
mod handle;
mod handle_state;
mod limit;
mod panics;
mod spare;
mod task;
pub(crate) mod try_scope;

use std::fmt;
use std::marker::PhantomData;
use std::panic::resume_unwind;

pub use builder::ScopeBuilder;
#[cfg(loom)]
pub(crate) use cancel::Cancellation;
pub(crate) use core::Options;
use core::ScopeCore;
pub use handle::TaskHandle;
#[cfg(loom)]
pub(crate) use handle_state::{Outcome, State as HandleState};
#[cfg(loom)]
pub(crate) use limit::Limiter;
#[cfg(loom)]
pub(crate) use spare::release_units;
pub use try_scope::TryScope;

use crate::pool::registry::Registry;

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
    core: ScopeCore,
    _invariant: PhantomData<&'scope mut &'scope ()>,
}

/// Runs `op` in a new scope of `registry` and waits for all its tasks.
pub(crate) fn run<'scope, OP, R>(registry: &Registry, options: Options, op: OP) -> R
where
    OP: FnOnce(&Scope<'scope>) -> R,
{
    let scope = Scope::new(registry, options);
    match scope.core.run_body(|| op(&scope)) {
        Ok(value) => value,
        Err(payload) => resume_unwind(payload),
    }
}

impl<'scope> Scope<'scope> {
    fn new(registry: &Registry, options: Options) -> Self {
        Self {
            core: ScopeCore::new(registry, options),
            _invariant: PhantomData,
        }
    }

    /// Spawns a task into the scope. It may borrow anything that outlives
    /// the scope, and it receives the scope so that it can spawn more.
    ///
    /// The task is counted before it is queued, so the scope cannot miss it.
    /// A panic in the task is caught; the scope waits for all other tasks,
    /// then re-raises the first panic with its original payload. If the
    /// scope is cancelled before the task starts, the task is dropped
    /// without running.
    ///
    /// Since a payload does not say which task it came from, each panic of
    /// a task spawned this way (re-raised or not) is also reported on
    /// stderr as it happens, naming the line that spawned it and the scope's
    /// [name](crate::ScopeBuilder::name), if it has one:
    ///
    /// ```text
    /// taskgroup: task spawned at src/main.rs:12:7 in scope "fetch" panicked: disk on fire
    /// ```
    ///
    /// A task dropped unrun whose drop panics is reported the same way
    /// (`... panicked while being dropped unrun (its scope was cancelled):
    /// ...`). A task spawned with [`spawn_handle`](Self::spawn_handle) is
    /// not reported: its [`JoinError`](crate::JoinError) says the same.
    /// Recording where the task was spawned costs one pointer in the task.
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
        // SAFETY: the scope outlives its tasks, and `f` borrows only what
        // outlives `'scope`.
        unsafe { self.core.spawn(self, f) }
    }

    /// Spawns a task and returns a [`TaskHandle`] for its value.
    ///
    /// [`TaskHandle::join`] waits for the task (running other work
    /// meanwhile) and returns its value, or a [`JoinError`](crate::JoinError)
    /// if it panicked or was cancelled. A panic taken through `join` is not
    /// re-raised by the scope; a dropped handle leaves the task running.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// let words = ["scope", "task", "handle"];
    /// let total = pool.scope(|s| {
    ///     let handles: Vec<_> = words.iter().map(|w| s.spawn_handle(move |_| w.len())).collect();
    ///     handles.into_iter().map(|h| h.join().unwrap()).sum::<usize>()
    /// });
    /// assert_eq!(total, 15);
    /// ```
    #[track_caller]
    pub fn spawn_handle<F, T>(&self, f: F) -> TaskHandle<'scope, T>
    where
        F: FnOnce(&Scope<'scope>) -> T + Send + 'scope,
        T: Send + 'scope,
    {
        let task = move |s: &Scope<'scope>, sender: handle::Sender<T>| {
            sender.send(crate::job::catch(|| f(s)).map(Some));
        };
        // SAFETY: as in `spawn`.
        unsafe { self.core.spawn_with_handle(self, task) }
    }

    /// Cancels the scope: tasks that have not started yet are dropped
    /// without running (their handles report
    /// [`is_cancelled`](crate::JoinError::is_cancelled)), and
    /// [`is_cancelled`](Scope::is_cancelled) turns true for running tasks,
    /// in this scope and in every scope opened inside its tasks. Running
    /// tasks are not interrupted; the scope still waits for them.
    ///
    /// ```
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let ran = AtomicUsize::new(0);
    /// // On the pool's only worker, no task can start before the body ends.
    /// pool.install(|| {
    ///     taskgroup::scope(|s| {
    ///         for _ in 0..100 {
    ///             s.spawn(|_| { ran.fetch_add(1, Ordering::Relaxed); });
    ///         }
    ///         s.cancel();
    ///     })
    /// });
    /// assert_eq!(ran.load(Ordering::Relaxed), 0);
    /// ```
    pub fn cancel(&self) {
        self.core.cancel();
    }

    /// Whether the scope, or a scope whose task opened it, has been
    /// cancelled (or its deadline has passed). Long-running tasks should
    /// check it now and then and return early.
    pub fn is_cancelled(&self) -> bool {
        self.core.is_cancelled()
    }
}

impl fmt::Debug for Scope<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Scope")
            .field("name", &self.core.name())
            // The scope's count: the body, the tasks not finished, and
            // units that workers keep for the scope's next spawns.
            .field("count", &self.core.count())
            .field("owner", &self.core.owner())
            .field("cancelled", &self.is_cancelled())
            .finish_non_exhaustive()
    }
}
