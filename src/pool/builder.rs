//! [`ThreadPoolBuilder`]: how a pool is configured.

use std::any::Any;
use std::fmt;

use super::registry::Registry;
use crate::error::BuildError;
use crate::ThreadPool;

type PanicHandler = Box<dyn Fn(Box<dyn Any + Send>) + Send + Sync>;
type ThreadHandler = Box<dyn Fn(usize) + Send + Sync>;

/// The callbacks a pool's workers run.
#[derive(Default)]
pub(crate) struct Handlers {
    pub(crate) panic: Option<PanicHandler>,
    pub(crate) start: Option<ThreadHandler>,
    pub(crate) exit: Option<ThreadHandler>,
}

/// Configures and builds a [`ThreadPool`].
///
/// ```
/// let pool = taskgroup::ThreadPool::builder()
///     .num_threads(2)
///     .thread_name(|i| format!("worker-{i}"))
///     .build()?;
/// assert_eq!(pool.num_threads(), 2);
/// # Ok::<(), taskgroup::BuildError>(())
/// ```
#[derive(Default)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct ThreadPoolBuilder {
    num_threads: Option<usize>,
    thread_name: Option<Box<dyn FnMut(usize) -> String>>,
    stack_size: Option<usize>,
    handlers: Handlers,
}

impl ThreadPoolBuilder {
    /// A builder with the defaults: one thread per logical CPU, unnamed
    /// threads, the platform's stack size, panics reported on stderr.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of worker threads. Zero is refused by
    /// [`build`](Self::build) with [`BuildError::ZeroThreads`]; the default
    /// is the number of logical CPUs.
    pub fn num_threads(mut self, num_threads: usize) -> Self {
        self.num_threads = Some(num_threads);
        self
    }

    /// Names worker `i` with `name(i)`. If the closure panics,
    /// [`build`](Self::build) returns [`BuildError::ThreadNamePanicked`].
    pub fn thread_name(mut self, name: impl FnMut(usize) -> String + 'static) -> Self {
        self.thread_name = Some(Box::new(name));
        self
    }

    /// The stack size of each worker, in bytes. A size the operating system
    /// refuses makes [`build`](Self::build) return [`BuildError::Spawn`].
    pub fn stack_size(mut self, bytes: usize) -> Self {
        self.stack_size = Some(bytes);
        self
    }

    /// Receives the payload of every panic in a detached task
    /// ([`ThreadPool::spawn`]). Without a handler the panic is reported on
    /// stderr. Either way the worker lives on. A handler that panics itself
    /// is reported on stderr.
    pub fn panic_handler(
        mut self,
        handler: impl Fn(Box<dyn Any + Send>) + Send + Sync + 'static,
    ) -> Self {
        self.handlers.panic = Some(Box::new(handler));
        self
    }

    /// Runs `handler(i)` on worker `i` when it starts. A panic in it is
    /// reported on stderr and the worker runs on.
    pub fn start_handler(mut self, handler: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.handlers.start = Some(Box::new(handler));
        self
    }

    /// Runs `handler(i)` on worker `i` just before it exits. A panic in it is
    /// reported on stderr.
    pub fn exit_handler(mut self, handler: impl Fn(usize) + Send + Sync + 'static) -> Self {
        self.handlers.exit = Some(Box::new(handler));
        self
    }

    /// Starts the pool.
    ///
    /// # Errors
    ///
    /// [`BuildError::ZeroThreads`] for `num_threads(0)`,
    /// [`BuildError::Spawn`] if the operating system refuses a thread, and
    /// [`BuildError::ThreadNamePanicked`]. Threads already started are
    /// stopped and joined before the error is returned.
    ///
    /// ```
    /// let err = taskgroup::ThreadPool::builder().num_threads(0).build().unwrap_err();
    /// assert!(matches!(err, taskgroup::BuildError::ZeroThreads));
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let num_threads = match self.num_threads {
            Some(0) => return Err(BuildError::ZeroThreads),
            Some(n) => n,
            None => num_cpus::get().max(1),
        };
        let registry = Registry::start(
            num_threads,
            self.thread_name,
            self.stack_size,
            self.handlers,
        )?;
        Ok(ThreadPool { registry })
    }

    /// Builds the pool and makes it the global pool, used by the free
    /// functions ([`scope`](crate::scope), [`join`](crate::join), ...).
    ///
    /// # Errors
    ///
    /// As [`build`](Self::build), and
    /// [`BuildError::GlobalPoolAlreadyInitialized`] if the global pool has
    /// already been built or used.
    pub fn build_global(self) -> Result<(), BuildError> {
        crate::global::set(self.build()?)
    }
}

impl fmt::Debug for ThreadPoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPoolBuilder")
            .field("num_threads", &self.num_threads)
            .field("thread_name", &self.thread_name.is_some())
            .field("stack_size", &self.stack_size)
            .field("panic_handler", &self.handlers.panic.is_some())
            .field("start_handler", &self.handlers.start.is_some())
            .field("exit_handler", &self.handlers.exit.is_some())
            .finish()
    }
}
