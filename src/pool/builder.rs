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

/// The environment variable that sets the number of threads of a pool whose
/// builder was not given [`num_threads`](ThreadPoolBuilder::num_threads).
const NUM_THREADS_VAR: &str = "TASKGROUP_NUM_THREADS";

impl ThreadPoolBuilder {
    /// The smallest stack a worker gets, in bytes (128 KiB): a smaller
    /// [`stack_size`](Self::stack_size) is raised to it.
    ///
    /// A worker's own life, from its start to its last thread-local
    /// destructor (crossbeam's, among others), with a task's panic reported
    /// and a backtrace printed, needs about 32 KiB in a debug build on
    /// x86-64 Linux; this leaves four times that, for other platforms,
    /// compilers and instrumented builds. (It is also musl's default thread
    /// stack.) Your tasks' own frames come on top.
    pub const MIN_STACK_SIZE: usize = 128 << 10;

    /// A builder with the defaults: one thread per logical CPU (or
    /// `TASKGROUP_NUM_THREADS`), unnamed threads, the platform's stack
    /// size, panics reported on stderr.
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of worker threads. Zero is refused by
    /// [`build`](Self::build) with [`BuildError::ZeroThreads`].
    ///
    /// Without this call, the environment variable `TASKGROUP_NUM_THREADS`
    /// decides, if it is set: it must hold a positive integer (ASCII digits
    /// only), or `build` returns [`BuildError::InvalidEnv`]. If it is not
    /// set either, the pool has one thread per logical CPU. An explicit
    /// `num_threads` always wins; the variable is then not read at all.
    ///
    /// More threads than CPUs are fine but buy CPU-bound work nothing:
    /// idle workers sleep after a short spin, and a busy one hands work to
    /// another only when that one asks for it. With four times the CPUs,
    /// the project's fine-grained `join` and spawn benchmarks ran within
    /// about 10% of a pool of one thread per CPU; thousands of tiny
    /// scopes entered from outside the pool ran 2.6x slower, each waking a
    /// worker that must first get a CPU. The extra threads pay off only
    /// for tasks that block. See the guide's chapter on the pool.
    pub fn num_threads(mut self, num_threads: usize) -> Self {
        self.num_threads = Some(num_threads);
        self
    }

    /// Names worker `i` with `name(i)`. If the closure panics,
    /// [`build`](Self::build) returns [`BuildError::ThreadNamePanicked`];
    /// if a name contains a NUL byte, which thread names may not,
    /// [`BuildError::ThreadNameContainsNul`].
    pub fn thread_name(mut self, name: impl FnMut(usize) -> String + 'static) -> Self {
        self.thread_name = Some(Box::new(name));
        self
    }

    /// The stack size of each worker, in bytes. Without this call a worker
    /// gets std's default for new threads (2 MiB unless `RUST_MIN_STACK`
    /// says otherwise; that too is raised to the minimum below).
    ///
    /// A size below [`MIN_STACK_SIZE`](Self::MIN_STACK_SIZE) is raised to
    /// it: the pool's own code, and the thread-local destructors that run
    /// when a worker exits, need that much, and running out of stack
    /// aborts the whole process. A size the operating system refuses makes
    /// [`build`](Self::build) return [`BuildError::Spawn`].
    ///
    /// ```
    /// // Far too small: raised to the minimum, so the pool still works.
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).stack_size(1).build()?;
    /// assert_eq!(pool.install(|| 6 * 7), 42);
    /// # Ok::<(), taskgroup::BuildError>(())
    /// ```
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
    /// [`BuildError::InvalidEnv`] if `TASKGROUP_NUM_THREADS` decides the
    /// size and is not a positive integer, [`BuildError::Spawn`] if the
    /// operating system refuses a thread, and
    /// [`BuildError::ThreadNamePanicked`] or
    /// [`BuildError::ThreadNameContainsNul`] for a bad `thread_name`.
    /// Threads already started are stopped and joined (their exit handlers
    /// have run) before the error is returned.
    ///
    /// # Panics
    ///
    /// If dropping the `thread_name` closure panics, that panic goes on to
    /// the caller, after the workers have been stopped and joined.
    ///
    /// ```
    /// let err = taskgroup::ThreadPool::builder().num_threads(0).build().unwrap_err();
    /// assert!(matches!(err, taskgroup::BuildError::ZeroThreads));
    /// ```
    pub fn build(self) -> Result<ThreadPool, BuildError> {
        let num_threads = match self.num_threads {
            Some(0) => return Err(BuildError::ZeroThreads),
            Some(n) => n,
            None => match num_threads_from_env()? {
                Some(n) => n,
                None => num_cpus::get().max(1),
            },
        };
        // Without an explicit size, std would use `RUST_MIN_STACK`, which
        // may be below the minimum too.
        let stack_size = self
            .stack_size
            .or_else(rust_min_stack)
            .map(|size| size.max(Self::MIN_STACK_SIZE));
        let registry = Registry::start(num_threads, self.thread_name, stack_size, self.handlers)?;
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

/// The pool size `TASKGROUP_NUM_THREADS` asks for, if it is set.
fn num_threads_from_env() -> Result<Option<usize>, BuildError> {
    match std::env::var_os(NUM_THREADS_VAR) {
        None => Ok(None),
        Some(value) => parse_num_threads(&value.to_string_lossy()).map(Some),
    }
}

/// A positive integer in ASCII digits, and nothing else: `usize::from_str`
/// would also take a leading `+`.
fn parse_num_threads(value: &str) -> Result<usize, BuildError> {
    let invalid = || BuildError::InvalidEnv {
        variable: NUM_THREADS_VAR,
        value: value.to_owned(),
    };
    if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(invalid());
    }
    match value.parse() {
        Ok(0) | Err(_) => Err(invalid()),
        Ok(n) => Ok(n),
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

/// The stack size std gives new threads when `RUST_MIN_STACK` sets one.
fn rust_min_stack() -> Option<usize> {
    std::env::var("RUST_MIN_STACK").ok()?.trim().parse().ok()
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, Mutex};

    use super::*;

    /// Handlers that record which workers exited.
    fn recording_exits() -> (Handlers, Arc<Mutex<Vec<usize>>>) {
        let exits = Arc::new(Mutex::new(Vec::new()));
        let e = Arc::clone(&exits);
        let handlers = Handlers {
            exit: Some(Box::new(move |i| e.lock().unwrap().push(i))),
            ..Handlers::default()
        };
        (handlers, exits)
    }

    fn sorted(v: &Mutex<Vec<usize>>) -> Vec<usize> {
        let mut v = v.lock().unwrap().clone();
        v.sort_unstable();
        v
    }

    #[test]
    fn a_refused_spawn_joins_the_workers_started_before_it() {
        let (handlers, exits) = recording_exits();
        let attempts = AtomicUsize::new(0);
        let err = Registry::start_with(4, None, None, handlers, |builder, worker| {
            attempts.fetch_add(1, Ordering::SeqCst);
            if worker.index() == 2 {
                return Err(std::io::Error::other("no more threads today"));
            }
            builder.spawn(move || worker.run())
        })
        .unwrap_err();
        match &err {
            BuildError::Spawn { index, source } => {
                assert_eq!(*index, 2);
                assert_eq!(source.to_string(), "no more threads today");
            }
            other => panic!("expected Spawn, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "could not start worker thread 2: no more threads today"
        );
        assert_eq!(
            attempts.load(Ordering::SeqCst),
            3,
            "no spawn after the failure"
        );
        assert_eq!(sorted(&exits), [0, 1]);
    }

    #[test]
    fn a_panicking_spawn_joins_the_workers_started_before_it() {
        let (handlers, exits) = recording_exits();
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Registry::start_with(3, None, None, handlers, |builder, worker| {
                if worker.index() == 1 {
                    std::panic::panic_any("spawn exploded");
                }
                builder.spawn(move || worker.run())
            })
        }));
        let payload = result.expect_err("the spawn's panic goes on to the caller");
        assert_eq!(payload.downcast_ref::<&str>(), Some(&"spawn exploded"));
        assert_eq!(sorted(&exits), [0]);
    }

    #[test]
    fn num_threads_from_the_environment_must_be_a_positive_integer() {
        assert_eq!(parse_num_threads("1").unwrap(), 1);
        assert_eq!(parse_num_threads("12").unwrap(), 12);
        assert_eq!(parse_num_threads("007").unwrap(), 7);
        for bad in [
            "", "0", "00", "-1", "+4", "abc", "4 ", " 4", "4.0", "1e3", "٣",
        ] {
            let err = parse_num_threads(bad).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("TASKGROUP_NUM_THREADS must be a positive integer, got {bad:?}"),
            );
            match err {
                BuildError::InvalidEnv { variable, value } => {
                    assert_eq!(variable, "TASKGROUP_NUM_THREADS");
                    assert_eq!(value, bad);
                }
                other => panic!("expected InvalidEnv, got {other:?}"),
            }
        }
        // Larger than any pool could be: refused rather than wrapped.
        let huge = "99999999999999999999999";
        assert!(matches!(
            parse_num_threads(huge),
            Err(BuildError::InvalidEnv { .. })
        ));
    }
}
