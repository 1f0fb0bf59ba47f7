//! [`TryScope`]: a scope whose tasks return `Result`; the first error wins
//! and cancels the rest (Go's errgroup).

use std::fmt;
use std::panic::resume_unwind;

use super::core::{Options, ScopeCore};
use super::handle::{self, TaskHandle};
use super::Scope;
use crate::job::{catch, drop_payload};
use crate::pool::registry::Registry;

/// A scope whose tasks return `Result<(), E>`. The first error, from a task
/// or from the body, becomes the scope's result and cancels the scope;
/// later errors are dropped. Panics behave as in [`Scope`], and win over
/// errors.
///
/// # Errors whose `Drop` panics
///
/// Nothing here aborts the process, whatever `E`'s `Drop` does:
///
/// * A later error is dropped on the spot, by the task (or the body) that
///   returned it: a panic in its `Drop` is that task's panic, caught and
///   handled as any other (re-raised by the scope, or returned by the
///   task's [`TaskHandle::join`]).
/// * If the scope re-raises a panic, the first error is dropped before the
///   panic resumes; a panic in that drop is swallowed, since the scope
///   re-raises only its first panic.
/// * If nothing panicked, the first error is returned to the caller, who
///   drops it.
///
/// Created by [`ThreadPool::try_scope`](crate::ThreadPool::try_scope) or
/// [`try_scope`](crate::try_scope).
///
/// ```
/// #[derive(Debug, PartialEq)]
/// struct TooBig(u32);
///
/// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
/// let result = pool.try_scope(|s| {
///     for n in [1, 2, 300, 4] {
///         s.spawn(move |_| if n > 100 { Err(TooBig(n)) } else { Ok(()) });
///     }
///     Ok("all small")
/// });
/// assert_eq!(result, Err(TooBig(300)));
/// ```
pub struct TryScope<'scope, E> {
    scope: Scope<'scope>,
    error: crate::sync::Mutex<Option<E>>,
}

/// Runs `op` in a new try-scope of `registry` and waits for all its tasks.
pub(crate) fn run<'scope, OP, R, E>(registry: &Registry, options: Options, op: OP) -> Result<R, E>
where
    OP: FnOnce(&TryScope<'scope, E>) -> Result<R, E>,
    E: Send + 'scope,
{
    TryScope::new(registry, options).run(op).0
}

impl<'scope, E: Send + 'scope> TryScope<'scope, E> {
    pub(super) fn new(registry: &Registry, options: Options) -> Self {
        Self {
            scope: Scope::new(registry, options),
            error: crate::sync::Mutex::new(None),
        }
    }

    /// Runs the body, waits for every task, and returns the scope's result
    /// with the scope itself, for the caller to inspect.
    pub(super) fn run<OP, R>(self, op: OP) -> (Result<R, E>, Self)
    where
        OP: FnOnce(&Self) -> Result<R, E>,
    {
        // The body's error counts from the moment it is returned: it cancels
        // the tasks at once, and wins over any later task error.
        let body = || match op(&self) {
            Ok(value) => Some(value),
            Err(error) => {
                self.fail(error);
                None
            }
        };
        // `run_body` itself unwinds if dropping the body's value panics
        // (after a task panicked): caught too, for the same clean-up.
        let value = match catch(|| self.core().run_body(body)) {
            Ok(Ok(value)) => value,
            Ok(Err(payload)) | Err(payload) => {
                // The panic wins. Drop the error now: were it dropped while
                // the panic unwinds, a panic in its `Drop` would abort.
                let error = self.error.lock().take();
                if let Err(second) = catch(move || drop(error)) {
                    drop_payload(second);
                }
                resume_unwind(payload)
            }
        };
        let result = match self.error.lock().take() {
            Some(error) => Err(error),
            None => Ok(value.expect("a try-scope body that failed left no error")),
        };
        (result, self)
    }
}

impl<'scope, E: Send + 'scope> TryScope<'scope, E> {
    pub(super) fn core(&self) -> &ScopeCore {
        &self.scope.core
    }

    /// Records `error` if it is the first, and cancels the scope.
    fn fail(&self, error: E) {
        let later = {
            let mut first = self.error.lock();
            match *first {
                None => {
                    *first = Some(error);
                    None
                }
                Some(_) => Some(error),
            }
        };
        self.cancel();
        // Dropped here, outside the lock, in the task or body that returned
        // it: a panic in its `Drop` is that task's (or body's) panic, which
        // the caller of `fail` catches.
        drop(later);
    }

    /// Spawns a task that returns `Result<(), E>`; an `Err` becomes the
    /// scope's result if it is the first, and cancels the scope.
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce(&TryScope<'scope, E>) -> Result<(), E> + Send + 'scope,
    {
        let task = move |s: &Self| {
            if let Err(error) = f(s) {
                s.fail(error);
            }
        };
        // SAFETY: the try-scope outlives its tasks, and `f` borrows only
        // what outlives `'scope`.
        unsafe { self.core().spawn(self, task) }
    }

    /// Spawns a task that returns `Result<T, E>` and returns a handle to its
    /// value. An `Err` goes to the scope as in [`spawn`](Self::spawn), and
    /// the handle's `join` then reports
    /// [`is_failed`](crate::JoinError::is_failed).
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// let r: Result<u32, String> = pool.try_scope(|s| {
    ///     let h = s.spawn_handle(|_| Ok(20));
    ///     Ok(h.join().unwrap() + 1)
    /// });
    /// assert_eq!(r, Ok(21));
    /// ```
    #[track_caller]
    pub fn spawn_handle<F, T>(&self, f: F) -> TaskHandle<'scope, T>
    where
        F: FnOnce(&TryScope<'scope, E>) -> Result<T, E> + Send + 'scope,
        T: Send + 'scope,
    {
        let task = move |s: &Self, sender: handle::Sender<T>| {
            let result = catch(|| match f(s) {
                Ok(value) => Some(value),
                Err(error) => {
                    s.fail(error);
                    None
                }
            });
            sender.send(result);
        };
        // SAFETY: as in `spawn`.
        unsafe { self.core().spawn_with_handle(self, task) }
    }

    /// Cancels the scope, as [`Scope::cancel`]; the scope's result is still
    /// `Ok` unless some task or the body returns an error.
    pub fn cancel(&self) {
        self.scope.cancel();
    }

    /// Whether the scope has been cancelled, by an error, by
    /// [`cancel`](Self::cancel), by its deadline, or through the scope it
    /// was opened in.
    pub fn is_cancelled(&self) -> bool {
        self.scope.is_cancelled()
    }
}

impl<E> fmt::Debug for TryScope<'_, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryScope")
            .field("scope", &self.scope)
            .field("failed", &self.error.lock().is_some())
            .finish()
    }
}
