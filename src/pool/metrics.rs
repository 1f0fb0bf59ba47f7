//! What a pool's workers have been doing: per-worker counters, and
//! [`PoolMetrics`], a snapshot of them.
//!
//! Each worker writes only its own counters, which sit alone on their cache
//! line, with a plain load and store (no read-modify-write: there is one
//! writer), so keeping them costs a worker next to nothing and never
//! touches a line another worker writes. A snapshot reads them with relaxed
//! loads: each number is exact for its worker at some recent moment, and
//! the numbers of different workers are not taken at one instant.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sync::{AtomicU64, CachePadded, Ordering};

/// One worker's counters.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    jobs_executed: AtomicU64,
    steals: AtomicU64,
    sleeps: AtomicU64,
    /// Nanoseconds of busy time up to the start of the current busy
    /// stretch, if any.
    busy_nanos: AtomicU64,
    /// When the current busy stretch began, in nanoseconds since the
    /// pool's epoch, plus one; 0 while the worker is idle.
    busy_since: AtomicU64,
}

/// Adds one to a counter that only the calling worker writes.
#[inline]
fn bump(counter: &AtomicU64) {
    counter.store(counter.load(Ordering::Relaxed) + 1, Ordering::Relaxed);
}

/// The counters of all the workers of a pool.
#[derive(Debug)]
pub(crate) struct Metrics {
    epoch: Instant,
    workers: Box<[CachePadded<Counters>]>,
}

impl Metrics {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            epoch: Instant::now(),
            workers: (0..workers)
                .map(|_| CachePadded(Counters::default()))
                .collect(),
        }
    }

    fn nanos_since_epoch(&self) -> u64 {
        u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Worker `index` ran a job taken out of a queue.
    #[inline]
    pub(crate) fn executed(&self, index: usize) {
        bump(&self.workers[index].jobs_executed);
    }

    /// Worker `index` took a job from another worker's deque or the
    /// injector.
    #[inline]
    pub(crate) fn stole(&self, index: usize) {
        bump(&self.workers[index].steals);
    }

    /// Worker `index` went to sleep.
    pub(crate) fn slept(&self, index: usize) {
        bump(&self.workers[index].sleeps);
    }

    /// Worker `index` found work after being idle (or started).
    pub(crate) fn busy(&self, index: usize) {
        let now = self.nanos_since_epoch();
        self.workers[index]
            .busy_since
            .store(now + 1, Ordering::Relaxed);
    }

    /// Worker `index` found no work.
    pub(crate) fn idle(&self, index: usize) {
        let counters = &self.workers[index];
        let since = counters.busy_since.load(Ordering::Relaxed);
        if since == 0 {
            return;
        }
        let stretch = self.nanos_since_epoch().saturating_sub(since - 1);
        // Total first, then the end of the stretch: a snapshot in between
        // counts the stretch twice at worst, never loses it.
        let total = counters.busy_nanos.load(Ordering::Relaxed);
        counters
            .busy_nanos
            .store(total + stretch, Ordering::Relaxed);
        counters.busy_since.store(0, Ordering::Relaxed);
    }

    /// A snapshot, with `queued` jobs waiting in the pool's queues.
    pub(crate) fn snapshot(&self, queued: usize) -> PoolMetrics {
        let now = self.nanos_since_epoch();
        let workers = self
            .workers
            .iter()
            .map(|counters| {
                let since = counters.busy_since.load(Ordering::Relaxed);
                let ongoing = if since == 0 {
                    0
                } else {
                    now.saturating_sub(since - 1)
                };
                WorkerMetrics {
                    jobs_executed: counters.jobs_executed.load(Ordering::Relaxed),
                    steals: counters.steals.load(Ordering::Relaxed),
                    sleeps: counters.sleeps.load(Ordering::Relaxed),
                    busy_time: Duration::from_nanos(
                        counters.busy_nanos.load(Ordering::Relaxed) + ongoing,
                    ),
                }
            })
            .collect();
        PoolMetrics { workers, queued }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct WorkerMetrics {
    jobs_executed: u64,
    steals: u64,
    sleeps: u64,
    busy_time: Duration,
}

/// A snapshot of what a pool's workers have done since the pool started:
/// per worker, the jobs it ran, the jobs it stole, how often it went to
/// sleep, and how long it was busy; and how many jobs wait in the pool's
/// queues. From [`ThreadPool::metrics`](crate::ThreadPool::metrics).
///
/// Jobs are what the pool's queues hold: a task of a scope, a detached
/// task, a share of a broadcast, the half of a `join` that another worker
/// took or that was offered to others, an `install`ed closure. A `join` half
/// that ran where it was made without being offered is not counted.
///
/// ```
/// let pool = taskgroup::ThreadPool::builder().num_threads(2).build().unwrap();
/// pool.scope(|s| {
///     for _ in 0..100 {
///         s.spawn(|_| {});
///     }
/// });
/// let m = pool.metrics();
/// assert_eq!(m.num_threads(), 2);
/// let ran: u64 = (0..m.num_threads()).map(|i| m.jobs_executed(i)).sum();
/// assert!(ran >= 100);
/// println!("{m}");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PoolMetrics {
    workers: Vec<WorkerMetrics>,
    queued: usize,
}

impl PoolMetrics {
    /// The number of workers.
    pub fn num_threads(&self) -> usize {
        self.workers.len()
    }

    fn worker(&self, index: usize) -> &WorkerMetrics {
        self.workers.get(index).unwrap_or_else(|| {
            panic!(
                "PoolMetrics: worker index {index} out of range: the pool has {} workers",
                self.workers.len()
            )
        })
    }

    /// Jobs that worker `index` took out of a queue and ran.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`num_threads`](Self::num_threads).
    #[track_caller]
    pub fn jobs_executed(&self, index: usize) -> u64 {
        self.worker(index).jobs_executed
    }

    /// Jobs that worker `index` took from another worker's deque or from
    /// the pool's shared queue.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`num_threads`](Self::num_threads).
    #[track_caller]
    pub fn steals(&self, index: usize) -> u64 {
        self.worker(index).steals
    }

    /// How many times worker `index` went to sleep for lack of work.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`num_threads`](Self::num_threads).
    #[track_caller]
    pub fn sleeps(&self, index: usize) -> u64 {
        self.worker(index).sleeps
    }

    /// How long worker `index` has been busy: running jobs, or waiting for
    /// something it was running, as opposed to looking for work or asleep.
    ///
    /// # Panics
    ///
    /// If `index` is not below [`num_threads`](Self::num_threads).
    #[track_caller]
    pub fn busy_time(&self, index: usize) -> Duration {
        self.worker(index).busy_time
    }

    /// Jobs waiting in the pool's queues (its shared queue and its workers'
    /// deques) when the snapshot was taken.
    pub fn queued(&self) -> usize {
        self.queued
    }
}

/// One line: the totals, then each worker as `jobs/steals/sleeps/busy`.
impl fmt::Display for PoolMetrics {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let jobs: u64 = self.workers.iter().map(|w| w.jobs_executed).sum();
        let steals: u64 = self.workers.iter().map(|w| w.steals).sum();
        write!(
            f,
            "{} workers, {jobs} jobs ({steals} stolen), {} queued:",
            self.workers.len(),
            self.queued
        )?;
        for (index, w) in self.workers.iter().enumerate() {
            write!(
                f,
                " [{index}] {} jobs {} steals {} sleeps {:.1?} busy",
                w.jobs_executed, w.steals, w.sleeps, w.busy_time
            )?;
        }
        Ok(())
    }
}
