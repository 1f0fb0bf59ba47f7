//! [`ThreadPool`]: the façade that puts the scheduler (`pool`) and the
//! scopes (`scope`) together.

use std::fmt;

use crate::pool::builder::ThreadPoolBuilder;
use crate::pool::registry::Registry;
use crate::pool::spawn_detached;
use crate::scope::{Scope, ScopeBuilder, TryScope};
use crate::sync::Arc;

/// A work-stealing thread pool.
///
/// Work enters it through [`scope`](ThreadPool::scope) (tasks that borrow
/// from the stack, joined at the end), [`join`](ThreadPool::join) (two
/// closures, potentially in parallel), [`install`](ThreadPool::install) (run
/// a closure on a worker), [`spawn`](ThreadPool::spawn) (detached
/// `'static` tasks) and [`spawn_async`](ThreadPool::spawn_async) (a
/// `'static` task whose result async code awaits).
///
/// An idle pool sleeps. Dropping the pool finishes the queued work and joins
/// its threads; dropped from inside one of its own workers, it lets its
/// threads finish and exit on their own instead of joining them.
///
/// ```
/// let pool = taskgroup::ThreadPool::builder().num_threads(2).build()?;
/// let mut data = vec![1u64; 10_000];
/// pool.scope(|s| {
///     for chunk in data.chunks_mut(1000) {
///         s.spawn(move |_| chunk.iter_mut().for_each(|x| *x *= 2));
///     }
/// });
/// assert_eq!(data.iter().sum::<u64>(), 20_000);
/// # Ok::<(), taskgroup::BuildError>(())
/// ```
pub struct ThreadPool {
    pub(crate) registry: Arc<Registry>,
}

impl ThreadPool {
    /// A pool with one thread per logical CPU, or as many as the
    /// environment variable `TASKGROUP_NUM_THREADS` says.
    ///
    /// # Panics
    ///
    /// If the operating system refuses to start a thread, or if
    /// `TASKGROUP_NUM_THREADS` is set but not a positive integer (the
    /// message names the variable and its value); use
    /// [`ThreadPool::builder`] to get these as errors instead.
    pub fn new() -> Self {
        ThreadPoolBuilder::new()
            .build()
            .unwrap_or_else(|err| panic!("taskgroup: could not start the thread pool: {err}"))
    }

    /// A builder to configure a pool.
    pub fn builder() -> ThreadPoolBuilder {
        ThreadPoolBuilder::new()
    }

    /// The number of worker threads.
    pub fn num_threads(&self) -> usize {
        self.registry.num_threads()
    }

    /// A snapshot of what the pool's workers have done since it started:
    /// jobs run and stolen, sleeps and busy time per worker, and the jobs
    /// waiting in its queues. See [`PoolMetrics`](crate::PoolMetrics).
    ///
    /// The counters cost the workers next to nothing (each writes only its
    /// own cache line); taking a snapshot reads every worker's.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// pool.scope(|s| {
    ///     for _ in 0..10 {
    ///         s.spawn(|_| {});
    ///     }
    /// });
    /// let m = pool.metrics();
    /// let ran: u64 = (0..m.num_threads()).map(|i| m.jobs_executed(i)).sum();
    /// assert!(ran >= 10);
    /// ```
    pub fn metrics(&self) -> crate::PoolMetrics {
        self.registry.metrics()
    }

    /// Runs `op` with a [`Scope`] into which it can spawn tasks that borrow
    /// from the current stack frame, and returns `op`'s value once every
    /// task has finished.
    ///
    /// `op` runs on the calling thread (it need not be `Send`). If the
    /// caller is a worker (of this pool or another), it runs its own pool's
    /// queued jobs while it waits, so scopes nest to any depth, even on a
    /// pool of one thread; any other caller spins briefly, then blocks.
    ///
    /// # Panics
    ///
    /// If `op` or any task panics, the scope still waits for every task,
    /// then re-raises the first panic with its original payload.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let answer = pool.scope(|s| {
    ///     s.spawn(|s| s.spawn(|_| { /* nested */ }));
    ///     42
    /// });
    /// assert_eq!(answer, 42);
    /// ```
    pub fn scope<'scope, OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce(&Scope<'scope>) -> R,
    {
        crate::scope::run(&self.registry, Default::default(), op)
    }

    /// Runs `op` with a [`TryScope`], whose tasks return `Result<(), E>`:
    /// the first error, from a task or from `op`, cancels the scope and
    /// becomes the result once every task has finished (Go's errgroup).
    ///
    /// # Errors
    ///
    /// The first error returned by a task or by `op`.
    ///
    /// # Panics
    ///
    /// As [`scope`](Self::scope): the first panic is re-raised after every
    /// task has finished. A panic wins over errors: the stored error is
    /// then dropped. A later error is dropped by the task that returned it,
    /// so a panic in its `Drop` is that task's panic; see [`TryScope`] for
    /// errors whose `Drop` panics.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// let mut out = vec![0u8; 3];
    /// let parsed: Result<(), std::num::ParseIntError> = pool.try_scope(|s| {
    ///     for (text, slot) in ["1", "2", "x"].iter().zip(out.iter_mut()) {
    ///         s.spawn(move |_| {
    ///             *slot = text.parse()?;
    ///             Ok(())
    ///         });
    ///     }
    ///     Ok(())
    /// });
    /// assert_eq!(parsed.unwrap_err().to_string(), "invalid digit found in string");
    /// ```
    pub fn try_scope<'scope, OP, R, E>(&self, op: OP) -> Result<R, E>
    where
        OP: FnOnce(&TryScope<'scope, E>) -> Result<R, E>,
        E: Send + 'scope,
    {
        crate::scope::try_scope::run(&self.registry, Default::default(), op)
    }

    /// A [`ScopeBuilder`] for a scope of this pool with a deadline or a
    /// concurrency limit.
    pub fn scope_builder(&self) -> ScopeBuilder<'_> {
        ScopeBuilder::new(Some(&self.registry))
    }

    /// Runs `a` and `b`, potentially in parallel, and returns both results.
    ///
    /// On a worker of this pool, `a` runs on the current thread and `b` is
    /// offered to other workers when it may pay: at once for the two
    /// outermost `join`s of a task (or `install`ed closure), otherwise as
    /// soon as the thread, entering another `join`, finds that an idle
    /// worker asked it for work, and in any case before the thread waits
    /// for anything. A `b` nobody took runs
    /// inline after `a`, for little more than the cost of two calls. From
    /// anywhere else both run inside the pool.
    ///
    /// So `a` and `b` run in parallel when that is possible, but not
    /// necessarily: deep in a recursion, if no worker asked for work when
    /// the `join` started and `a` is one long stretch of work without another
    /// `join` or a wait, `b` waits for `a`. Two closures that must run at
    /// the same time to finish (one waits on a channel the other feeds,
    /// say) belong in two tasks of a scope, not in a `join`.
    ///
    /// # Panics
    ///
    /// If either closure panics, `join` waits for the other, then re-raises
    /// the panic (the one of `a` if both panicked).
    ///
    /// ```
    /// fn fib(n: u64) -> u64 {
    ///     if n < 2 { return n; }
    ///     let (a, b) = taskgroup::join(|| fib(n - 1), || fib(n - 2));
    ///     a + b
    /// }
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// assert_eq!(pool.install(|| fib(20)), 6765);
    /// ```
    pub fn join<A, B, RA, RB>(&self, a: A, b: B) -> (RA, RB)
    where
        A: FnOnce() -> RA + Send,
        B: FnOnce() -> RB + Send,
        RA: Send,
        RB: Send,
    {
        self.registry
            .in_worker(|worker| crate::join::join_on_worker(worker, a, b))
    }

    /// Runs `op` on a worker of this pool and returns its value. On a worker
    /// of this pool it runs in place; a worker of another pool runs its own
    /// pool's jobs until `op` has run here; any other caller blocks. A panic
    /// in `op` propagates to the caller.
    ///
    /// ```
    /// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
    /// let index = pool.install(taskgroup::current_thread_index);
    /// assert!(index.unwrap() < 2);
    /// ```
    pub fn install<OP, R>(&self, op: OP) -> R
    where
        OP: FnOnce() -> R + Send,
        R: Send,
    {
        self.registry.in_worker(|_| op())
    }

    /// Queues a detached task. Nothing waits for it; a panic in it goes to
    /// the pool's panic handler (or stderr) and the worker lives on.
    ///
    /// ```
    /// use std::sync::mpsc;
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let (tx, rx) = mpsc::channel();
    /// pool.spawn(move || tx.send(7).unwrap());
    /// assert_eq!(rx.recv().unwrap(), 7);
    /// ```
    #[track_caller]
    pub fn spawn<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
    {
        spawn_detached(&self.registry, f);
    }
}

impl Default for ThreadPool {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ThreadPool {
    fn drop(&mut self) {
        self.registry.terminate_and_join();
    }
}

impl fmt::Debug for ThreadPool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ThreadPool")
            .field("num_threads", &self.num_threads())
            .field("sleeping", &self.registry.sleep.sleepers())
            .finish_non_exhaustive()
    }
}
