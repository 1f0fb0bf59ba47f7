//! [`ScopeBuilder`]: scopes with a deadline or a concurrency limit.

use std::fmt;
use std::time::{Duration, Instant};

use super::core::Options;
use super::{Scope, TryScope};
use crate::error::DeadlineExceeded;
use crate::pool::registry::Registry;

/// Configures a scope before it runs: a deadline after which it counts as
/// cancelled, and a cap on how many of its tasks run at once.
///
/// Created by [`ThreadPool::scope_builder`](crate::ThreadPool::scope_builder)
/// or [`scope_builder`](crate::scope_builder).
///
/// ```
/// use std::time::Duration;
/// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
/// let result = pool
///     .scope_builder()
///     .timeout(Duration::from_secs(5))
///     .max_concurrency(1)
///     .scope(|s| {
///         s.spawn(|_| { /* runs alone: the limit is one */ });
///         s.spawn(|_| {});
///         "done"
///     });
/// assert_eq!(result.unwrap(), "done");
/// ```
#[must_use = "a scope builder does nothing until `scope` or `try_scope` is called"]
pub struct ScopeBuilder<'pool> {
    /// The pool to run on; `None`: the current pool (or the global one),
    /// looked up when the scope runs, so a builder never outlives its pool.
    registry: Option<&'pool Registry>,
    options: Options,
}

impl<'pool> ScopeBuilder<'pool> {
    pub(crate) fn new(registry: Option<&'pool Registry>) -> Self {
        Self {
            registry,
            options: Options::default(),
        }
    }

    fn registry(&self) -> &Registry {
        match self.registry {
            Some(registry) => registry,
            None => crate::global::current_registry(),
        }
    }

    /// Names the scope. The name shows in the scope's `Debug`, in the
    /// [`JoinError`](crate::JoinError)s of its tasks, and in the line on
    /// stderr that reports a panic of a task without a handle (see
    /// [`Scope::spawn`]): `taskgroup: task spawned at src/main.rs:12:7 in
    /// scope "fetch" panicked: timeout`. So a failure says which part of a
    /// program it came from. Naming costs nothing on the scope's hot paths
    /// (a task with a handle carries a reference to the name; a report
    /// reads it from the scope).
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let err = pool
    ///     .scope_builder()
    ///     .name("fetch")
    ///     .scope(|s| s.spawn_handle(|_| -> () { panic!("timeout") }).join())
    ///     .unwrap()
    ///     .unwrap_err();
    /// assert_eq!(err.scope_name(), Some("fetch"));
    /// assert!(err.to_string().ends_with(r#"in scope "fetch" panicked: timeout"#));
    /// ```
    pub fn name(mut self, name: impl Into<std::sync::Arc<str>>) -> Self {
        self.options.name = Some(name.into());
        self
    }

    /// The scope counts as cancelled from `deadline` on: tasks that have not
    /// started by then are dropped without running, and
    /// [`Scope::is_cancelled`] turns true for the running ones. The scope
    /// still waits for every task that started (they borrow the stack).
    pub fn deadline(mut self, deadline: Instant) -> Self {
        self.options.deadline = Some(deadline);
        self
    }

    /// A deadline `timeout` from now; see [`deadline`](Self::deadline).
    /// A timeout too large to represent means no deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.deadline = Instant::now().checked_add(timeout);
        self
    }

    /// At most `max` of the scope's tasks run at once; the others wait in the
    /// scope's own queue. Spawning never blocks, so a task may spawn into its
    /// own scope without deadlock (unlike errgroup's `SetLimit`). A task that
    /// waits for a queued sibling through its handle, directly or through
    /// work it waits for (a scope it opened, a stolen `join` half, an
    /// `install` on another pool), lends that sibling its slot while it
    /// waits: a task blocked that way does not count against the limit.
    ///
    /// # Panics
    ///
    /// If `max` is zero: a scope that may run no task could never finish.
    #[track_caller]
    pub fn max_concurrency(mut self, max: usize) -> Self {
        assert!(
            max >= 1,
            "max_concurrency must be at least 1: a scope that may run no task could never finish"
        );
        self.options.max_concurrency = Some(max);
        self
    }

    /// Runs `op` in the configured scope, as
    /// [`ThreadPool::scope`](crate::ThreadPool::scope).
    ///
    /// # Errors
    ///
    /// [`DeadlineExceeded`], holding the body's value, if the deadline had
    /// passed by the time the last task finished.
    ///
    /// ```
    /// use std::time::{Duration, Instant};
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let late = pool.scope_builder().deadline(Instant::now()).scope(|s| {
    ///     s.spawn(|_| unreachable!("the deadline has passed: never runs"));
    ///     7
    /// });
    /// let err = late.unwrap_err();
    /// assert_eq!(err.skipped(), 1);
    /// assert_eq!(err.into_inner(), 7);
    /// ```
    pub fn scope<'scope, OP, R>(self, op: OP) -> Result<R, DeadlineExceeded<R>>
    where
        OP: FnOnce(&Scope<'scope>) -> R,
    {
        let scope = Scope::new(self.registry(), self.options.clone());
        let value = match scope.core.run_body(|| op(&scope)) {
            Ok(value) => value,
            Err(payload) => std::panic::resume_unwind(payload),
        };
        if scope.core.deadline_passed() {
            Err(DeadlineExceeded::new(value, scope.core.skipped()))
        } else {
            Ok(value)
        }
    }

    /// Runs `op` in the configured try-scope, as
    /// [`ThreadPool::try_scope`](crate::ThreadPool::try_scope).
    ///
    /// # Errors
    ///
    /// The first error of a task or of the body; otherwise, if the deadline
    /// had passed by the time the last task finished, a [`DeadlineExceeded`]
    /// converted into `E`.
    pub fn try_scope<'scope, OP, R, E>(self, op: OP) -> Result<R, E>
    where
        OP: FnOnce(&TryScope<'scope, E>) -> Result<R, E>,
        E: From<DeadlineExceeded> + Send + 'scope,
    {
        let (result, scope) = TryScope::new(self.registry(), self.options.clone()).run(op);
        let value = result?;
        if scope.core().deadline_passed() {
            Err(DeadlineExceeded::new((), scope.core().skipped()).into())
        } else {
            Ok(value)
        }
    }
}

impl fmt::Debug for ScopeBuilder<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScopeBuilder")
            .field("name", &self.options.name)
            .field("deadline", &self.options.deadline)
            .field("max_concurrency", &self.options.max_concurrency)
            .finish_non_exhaustive()
    }
}
