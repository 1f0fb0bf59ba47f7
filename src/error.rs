//! The crate's errors.

use std::any::Any;
use std::fmt;
use std::panic::Location;
use std::sync::Arc;

/// Why a [`ThreadPool`](crate::ThreadPool) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `num_threads(0)` was asked for: a pool needs at least one thread.
    #[error("a thread pool needs at least one thread, but num_threads(0) was given")]
    ZeroThreads,
    /// The operating system refused to start a worker thread (for example,
    /// because the requested stack size is too large).
    #[error("could not start worker thread {index}: {source}")]
    Spawn {
        /// The index of the worker that could not be started.
        index: usize,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The `thread_name` closure panicked for worker `index`.
    #[error("the thread_name closure panicked for worker {index}")]
    ThreadNamePanicked {
        /// The index of the worker being named.
        index: usize,
    },
    /// The `thread_name` closure returned a name with a NUL byte for worker
    /// `index`: the operating system takes thread names as C strings, so
    /// std refuses such a name.
    #[error(
        "thread name {name:?} for worker {index} contains a NUL byte, which thread names may not"
    )]
    ThreadNameContainsNul {
        /// The index of the worker being named.
        index: usize,
        /// The name the closure returned.
        name: String,
    },
    /// An environment variable that configures the pool does not hold a
    /// value it accepts: `TASKGROUP_NUM_THREADS` must be a positive integer
    /// (ASCII digits only, no sign or spaces).
    #[error("{variable} must be a positive integer, got {value:?}")]
    InvalidEnv {
        /// The variable's name.
        variable: &'static str,
        /// Its value (non-UTF-8 bytes replaced by U+FFFD).
        value: String,
    },
    /// [`build_global`](crate::ThreadPoolBuilder::build_global) was called
    /// after the global pool already existed.
    #[error("the global thread pool is already initialized; build_global must come before its first use and only once")]
    GlobalPoolAlreadyInitialized,
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}

/// Where a task was spawned, and in which named scope: what a
/// [`JoinError`] and the report on stderr of a scope task's panic say
/// about it.
#[derive(Clone, Debug)]
pub(crate) struct TaskOrigin {
    location: &'static Location<'static>,
    scope: Option<Arc<str>>,
}

impl TaskOrigin {
    /// A task spawned at `location`, in the scope named `scope`, if any.
    pub(crate) fn new(location: &'static Location<'static>, scope: Option<Arc<str>>) -> Self {
        Self { location, scope }
    }
}

impl fmt::Display for TaskOrigin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "task spawned at {}", self.location)?;
        match &self.scope {
            Some(name) => write!(f, " in scope {name:?}"),
            None => Ok(()),
        }
    }
}

/// A task's panic in words: `task spawned at F:L:C [in scope "N"] panicked:
/// M`. The one wording of a [`JoinError`]'s `Display` and of the report of
/// a panic of a task without a handle.
pub(crate) struct TaskPanic<'a> {
    pub(crate) origin: &'a TaskOrigin,
    pub(crate) payload: &'a (dyn Any + Send),
    /// The task never ran: its scope was cancelled, and dropping it panicked.
    pub(crate) unrun: bool,
}

impl fmt::Display for TaskPanic<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} panicked", self.origin)?;
        if self.unrun {
            f.write_str(" while being dropped unrun (its scope was cancelled)")?;
        }
        write!(f, ": {}", panic_message(self.payload))
    }
}

/// Why [`TaskHandle::join`](crate::TaskHandle::join) returned no value, and
/// where the task was spawned.
///
/// Its `Display` names the task by where it was spawned (and its scope, if
/// the scope has a [name](crate::ScopeBuilder::name)), then says what
/// happened: `task spawned at src/main.rs:12:7 panicked: disk on fire`.
///
/// ```
/// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
/// pool.scope(|s| {
///     let line = line!() + 1;
///     let h = s.spawn_handle(|_| -> () { panic!("disk on fire") });
///     let err = h.join().unwrap_err();
///     assert!(err.is_panic());
///     assert_eq!(err.spawned_at().line(), line);
///     assert_eq!(
///         err.to_string(),
///         format!("task spawned at {} panicked: disk on fire", err.spawned_at()),
///     );
///     let payload = err.into_panic();
///     assert_eq!(payload.downcast_ref::<&str>(), Some(&"disk on fire"));
/// });
/// ```
#[derive(thiserror::Error)]
#[error("{}", describe(&self.kind, &self.origin))]
pub struct JoinError {
    kind: JoinErrorKind,
    origin: TaskOrigin,
}

enum JoinErrorKind {
    Panicked(Box<dyn Any + Send>),
    Cancelled,
    Failed,
}

fn describe(kind: &JoinErrorKind, origin: &TaskOrigin) -> String {
    match kind {
        JoinErrorKind::Panicked(payload) => TaskPanic {
            origin,
            payload: &**payload,
            unrun: false,
        }
        .to_string(),
        JoinErrorKind::Cancelled => format!("{origin} was cancelled before it started"),
        JoinErrorKind::Failed => format!("{origin} failed; its error is the scope's result"),
    }
}

impl JoinError {
    pub(crate) fn panicked(payload: Box<dyn Any + Send>, origin: TaskOrigin) -> Self {
        Self {
            kind: JoinErrorKind::Panicked(payload),
            origin,
        }
    }

    pub(crate) fn cancelled(origin: TaskOrigin) -> Self {
        Self {
            kind: JoinErrorKind::Cancelled,
            origin,
        }
    }

    pub(crate) fn failed(origin: TaskOrigin) -> Self {
        Self {
            kind: JoinErrorKind::Failed,
            origin,
        }
    }

    /// Where the task was spawned: the caller of `spawn_handle` (or
    /// `spawn_async`).
    pub fn spawned_at(&self) -> &'static Location<'static> {
        self.origin.location
    }

    /// The name of the task's scope, if it was given one with
    /// [`ScopeBuilder::name`](crate::ScopeBuilder::name).
    pub fn scope_name(&self) -> Option<&str> {
        self.origin.scope.as_deref()
    }

    /// The task panicked; [`into_panic`](Self::into_panic) returns the
    /// payload.
    pub fn is_panic(&self) -> bool {
        matches!(self.kind, JoinErrorKind::Panicked(_))
    }

    /// The task was dropped without running: its scope was cancelled (or its
    /// deadline passed) before the task started.
    pub fn is_cancelled(&self) -> bool {
        matches!(self.kind, JoinErrorKind::Cancelled)
    }

    /// The task, in a [`TryScope`](crate::TryScope), returned an error; the
    /// error became the scope's result.
    pub fn is_failed(&self) -> bool {
        matches!(self.kind, JoinErrorKind::Failed)
    }

    /// The panic payload, to inspect or to re-raise with
    /// `std::panic::resume_unwind`.
    ///
    /// # Panics
    ///
    /// If the error is not a panic ([`is_panic`](Self::is_panic) is false).
    #[track_caller]
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic().unwrap_or_else(|err| {
            panic!("JoinError::into_panic called on an error that is not a panic: {err}")
        })
    }

    /// The panic payload if the task panicked, otherwise the error itself.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.kind {
            JoinErrorKind::Panicked(payload) => Ok(payload),
            kind => Err(Self {
                kind,
                origin: self.origin,
            }),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("JoinError")
            .field(&describe(&self.kind, &self.origin))
            .finish()
    }
}

/// A scope's deadline passed before its last task finished.
///
/// Returned by [`ScopeBuilder::scope`](crate::ScopeBuilder::scope) with the
/// body's value, and converted into the error type by
/// [`ScopeBuilder::try_scope`](crate::ScopeBuilder::try_scope).
#[derive(thiserror::Error)]
#[error("the scope's deadline passed before its tasks finished ({skipped} never started)")]
pub struct DeadlineExceeded<R = ()> {
    value: R,
    skipped: usize,
}

impl<R> DeadlineExceeded<R> {
    pub(crate) fn new(value: R, skipped: usize) -> Self {
        Self { value, skipped }
    }

    /// How many tasks were dropped without running because the scope was
    /// cancelled (by the deadline or otherwise).
    pub fn skipped(&self) -> usize {
        self.skipped
    }

    /// The value the scope's body returned.
    pub fn into_inner(self) -> R {
        self.value
    }
}

impl<R> fmt::Debug for DeadlineExceeded<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeadlineExceeded")
            .field("skipped", &self.skipped)
            .finish_non_exhaustive()
    }
}
