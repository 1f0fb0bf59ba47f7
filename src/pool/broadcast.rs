//! [`ThreadPool::broadcast`]: run a closure once on every worker of a pool.
//!
//! A broadcast makes one *share* per worker, a stack job in the
//! broadcaster's frame, and hands each share to its worker through that
//! worker's own share queue: no other worker looks there, so every share runs
//! on the worker it names. A worker takes its shares before anything else it
//! could run (`find_work`), since a broadcaster waits for all of them; and a
//! sleeping worker re-checks its share queue after it has announced itself
//! (`wait_until`), so the wake-up sent with a share cannot be lost (see the
//! sleep protocol in `sleep.rs`: the queue is part of what the sleeper
//! re-checks).
//!
//! The broadcaster waits on a [`Latch`], a count of the shares still to
//! finish. On a worker of this pool it runs its own share itself, then runs
//! its pool's jobs while it waits (another worker's share may wait for
//! something only this thread can run); a worker of another pool does the
//! same with its own pool's jobs; any other thread parks.

use std::fmt;
use std::panic::resume_unwind;

use super::registry::Registry;
use super::sleep::Sleep;
use super::worker::WorkerThread;
use crate::job::{catch, drop_payload, JobRef};
use crate::stack_job::{Completion, StackJob};
use crate::sync::{spin_hint, thread, Arc, AtomicUsize, Injector, Ordering, Steal};
use crate::ThreadPool;

/// Each worker's queue of broadcast shares: jobs that only that worker may
/// run.
pub(crate) struct ShareQueues {
    queues: Box<[Injector<JobRef>]>,
}

impl ShareQueues {
    pub(crate) fn new(num_threads: usize) -> Self {
        Self {
            queues: (0..num_threads).map(|_| Injector::new()).collect(),
        }
    }

    /// Queues `job` for worker `index` and wakes that worker if it sleeps.
    pub(crate) fn push(&self, index: usize, job: JobRef, sleep: &Sleep) {
        self.queues[index].push(job);
        sleep.notify_worker(index);
    }

    /// The oldest share queued for worker `index`.
    #[inline]
    pub(crate) fn take(&self, index: usize) -> Option<JobRef> {
        let queue = &self.queues[index];
        // The common case, on every look for work: two loads, no fence.
        if queue.is_empty() {
            return None;
        }
        loop {
            match queue.steal() {
                Steal::Success(job) => return Some(job),
                Steal::Empty => return None,
                Steal::Retry => spin_hint(),
            }
        }
    }

    /// Whether a share waits for worker `index`. Stale as soon as it
    /// returns; a sleeper calls it after announcing itself, which is what
    /// makes the wake-up in [`push`](Self::push) safe to skip when the
    /// worker is awake.
    #[inline]
    pub(crate) fn has_share(&self, index: usize) -> bool {
        !self.queues[index].is_empty()
    }
}

impl fmt::Debug for ShareQueues {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareQueues")
            .field("workers", &self.queues.len())
            .finish_non_exhaustive()
    }
}

impl WorkerThread {
    /// The oldest broadcast share queued for this worker.
    #[inline]
    pub(crate) fn take_share(&self) -> Option<JobRef> {
        self.registry().shares.take(self.index())
    }

    /// Whether a broadcast share waits for this worker (see
    /// [`ShareQueues::has_share`]).
    #[inline]
    pub(crate) fn has_share(&self) -> bool {
        self.registry().shares.has_share(self.index())
    }
}

/// What a share's closure receives: which worker runs it, out of how many.
///
/// It describes the current thread, so it can neither outlive the share's
/// closure (it borrows the worker) nor be sent or shared with another
/// thread: copy out [`index`](Self::index) for a closure that needs it.
///
/// ```
/// let pool = taskgroup::ThreadPool::builder().num_threads(3).build().unwrap();
/// let seen = pool.broadcast(|ctx| (ctx.index(), ctx.num_threads()));
/// assert_eq!(seen, [(0, 3), (1, 3), (2, 3)]);
/// ```
pub struct BroadcastContext<'a> {
    worker: &'a WorkerThread,
}

impl BroadcastContext<'_> {
    /// The index of the worker running this share, in `0..num_threads()`;
    /// the same as [`current_thread_index`](crate::current_thread_index).
    #[inline]
    pub fn index(&self) -> usize {
        self.worker.index()
    }

    /// The number of workers in the pool, which is the number of shares of
    /// the broadcast.
    #[inline]
    pub fn num_threads(&self) -> usize {
        self.worker.registry().num_threads()
    }
}

impl fmt::Debug for BroadcastContext<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BroadcastContext")
            .field("index", &self.index())
            .field("num_threads", &self.num_threads())
            .finish()
    }
}

impl ThreadPool {
    /// Runs `op` once on every worker of the pool and returns the results in
    /// worker index order: element `i` is the value of the share that ran on
    /// worker `i`. Use it to set up or read per-thread state (thread-locals,
    /// CPU affinity, per-worker caches).
    ///
    /// Each share runs on its own worker, as soon as that worker is between
    /// jobs (before any other queued work); so a broadcast waits for every
    /// worker, and a worker blocked outside the pool (on a channel, say)
    /// delays it. Called from a worker of this pool, the caller runs its own
    /// share at once, then runs the pool's jobs while it waits for the
    /// others: broadcasts nest, and work on a pool of one thread. A worker
    /// of another pool runs that pool's jobs while it waits; any other
    /// thread blocks. Shares run in the scope context of the caller, as a
    /// stolen [`join`](Self::join) half does: a scope opened in a share
    /// counts as cancelled when the caller's is.
    ///
    /// # Panics
    ///
    /// A panic in a share is caught; the broadcast waits for every share,
    /// then re-raises the panic that happened first, with its original
    /// payload (the others are dropped).
    ///
    /// ```
    /// use std::cell::Cell;
    ///
    /// thread_local! {
    ///     static SCRATCH: Cell<u64> = const { Cell::new(0) };
    /// }
    ///
    /// let pool = taskgroup::ThreadPool::builder().num_threads(4).build().unwrap();
    /// // Give every worker its own starting value ...
    /// pool.broadcast(|ctx| SCRATCH.with(|s| s.set(100 * ctx.index() as u64)));
    /// // ... and read them all back, in worker order.
    /// let values = pool.broadcast(|_| SCRATCH.with(Cell::get));
    /// assert_eq!(values, [0, 100, 200, 300]);
    /// ```
    pub fn broadcast<OP, R>(&self, op: OP) -> Vec<R>
    where
        OP: Fn(BroadcastContext<'_>) -> R + Sync,
        R: Send,
    {
        broadcast(&self.registry, &op)
    }
}

fn broadcast<OP, R>(registry: &Registry, op: &OP) -> Vec<R>
where
    OP: Fn(BroadcastContext<'_>) -> R + Sync,
    R: Send,
{
    let caller = WorkerThread::current();
    // The worker that runs its own share here rather than through its queue.
    let inline = caller
        .filter(|worker| std::ptr::eq(worker.registry(), registry))
        .map(WorkerThread::index);
    let n = registry.num_threads();
    let latch = Latch {
        remaining: AtomicUsize::new(n - usize::from(inline.is_some())),
        first_panic: AtomicUsize::new(NO_PANIC),
        waiter: match caller {
            Some(worker) => Waiter::Worker {
                index: worker.index(),
                registry: worker.registry_arc(),
            },
            None => Waiter::Thread(thread::current()),
        },
    };
    let latch = &latch;
    // All the jobs exist before the first is queued: the vector must not
    // move them once they may run.
    let shares: Vec<_> = (0..n)
        .map(|index| StackJob::new(move || run_share(op, index, latch), ShareDone(latch)))
        .collect();

    // From here until every queued share has completed nothing may unwind:
    // the shares point into this frame. Queuing and waking do not panic,
    // the inline share catches its panic, and a worker's wait runs jobs
    // that catch theirs.
    for (index, share) in shares.iter().enumerate() {
        if Some(index) != inline {
            // SAFETY: `share` stays where it is until its completion, which
            // the waits below are for.
            let job = unsafe { share.as_job_ref() };
            registry.shares.push(index, job, &registry.sleep);
        }
    }
    let mut inline_result = inline.map(|index| {
        // SAFETY: this share was never queued: nobody else can run it.
        unsafe { shares[index].run_inline() }
    });
    match caller {
        Some(worker) => {
            if !latch.is_done() {
                worker.wait_until(|| latch.is_done());
            }
        }
        None => {
            while !latch.is_done() {
                thread::park();
            }
        }
    }

    let first_panic = latch.first_panic.load(Ordering::Relaxed);
    let mut values = Vec::with_capacity(n);
    let mut panic = None;
    for (index, share) in shares.into_iter().enumerate() {
        let result = if Some(index) == inline {
            inline_result.take().expect("the inline share ran")
        } else {
            // `run_share` catches the panic of `op`: the job cannot panic.
            share.into_value()
        };
        match result {
            Ok(value) => values.push(value),
            Err(payload) if index == first_panic => panic = Some(payload),
            Err(payload) => drop_payload(payload),
        }
    }
    if let Some(payload) = panic {
        // The values of the other shares may panic as they drop; the first
        // panic is still the one the caller gets.
        if let Err(second) = catch(move || drop(values)) {
            drop_payload(second);
        }
        resume_unwind(payload);
    }
    values
}

/// Runs worker `index`'s share of a broadcast on the current thread.
fn run_share<OP, R>(op: &OP, index: usize, latch: &Latch) -> thread::Result<R>
where
    OP: Fn(BroadcastContext<'_>) -> R + Sync,
{
    let worker = WorkerThread::current().expect("a broadcast share ran outside its pool");
    debug_assert_eq!(
        worker.index(),
        index,
        "a broadcast share ran on another worker"
    );
    let result = catch(|| op(BroadcastContext { worker }));
    if result.is_err() {
        // Only the first share to panic wins; the exchange fails for the
        // others.
        let _ = latch.first_panic.compare_exchange(
            NO_PANIC,
            index,
            Ordering::Relaxed,
            Ordering::Relaxed,
        );
    }
    result
}

/// `Latch::first_panic` before any share panicked.
const NO_PANIC: usize = usize::MAX;

/// The shares of one broadcast still to finish, and who waits for them.
struct Latch {
    remaining: AtomicUsize,
    /// The index of the share that panicked first, or `NO_PANIC`. Read by
    /// the broadcaster after the count reached zero, which orders it.
    first_panic: AtomicUsize,
    waiter: Waiter,
}

/// How to wake the broadcaster.
#[derive(Clone)]
enum Waiter {
    /// A worker, of this pool or another, waiting in `wait_until`; the
    /// `Arc` keeps its pool alive for the wake-up after the latch is gone.
    Worker {
        index: usize,
        registry: Arc<Registry>,
    },
    /// A thread outside any pool, parked.
    Thread(thread::Thread),
}

impl Latch {
    #[inline]
    fn is_done(&self) -> bool {
        // Acquire: the shares' results are written before their count-downs.
        self.remaining.load(Ordering::Acquire) == 0
    }

    /// Counts one share done, and wakes the broadcaster after the last.
    ///
    /// # Safety
    ///
    /// `this` is valid on entry and one share is still counted. Once the
    /// count is zero the broadcaster may return and free the latch: that is
    /// why this takes a pointer, not a reference that would have to stay
    /// valid until the call returns.
    unsafe fn count_down(this: *const Self) {
        // SAFETY: valid until the count-down below, so take the waker first.
        let waiter = unsafe { (*this).waiter.clone() };
        // Release: publishes this share's result (and, through the chain of
        // count-downs, every earlier one's) to the broadcaster's acquire.
        // SAFETY: as above; this is our last access to `*this`.
        if unsafe { (*this).remaining.fetch_sub(1, Ordering::Release) } == 1 {
            match waiter {
                Waiter::Worker { index, registry } => registry.sleep.notify_worker(index),
                Waiter::Thread(thread) => thread.unpark(),
            }
        }
    }
}

/// A share's completion: one count-down of its broadcast's latch.
struct ShareDone(*const Latch);

impl Completion for ShareDone {
    unsafe fn complete(this: *const Self) {
        // SAFETY: `this` is valid on entry, and the latch outlives it: the
        // broadcaster keeps both until the latch's count is zero, which
        // this share's count-down is still part of.
        unsafe { Latch::count_down((*this).0) }
    }
}
