//! Waiting for a [`WaitGroup`]'s count to reach zero.

use std::time::{Duration, Instant};

use super::waitlist;
use super::{counter, release_pending, waiters, WaitGroup, RELEASED, WAITERS};
use crate::local_wait;
use crate::sync::parking::{self, Parked};
use crate::sync::Ordering;

impl WaitGroup {
    /// Blocks until the count is zero.
    ///
    /// Returns at once if nothing is outstanding. Calling it while holding a
    /// guard of the same group deadlocks, as in Go.
    ///
    /// On a worker of a pool, it does not block the worker's thread: the
    /// worker runs its pool's queued jobs while the count is not zero and
    /// sleeps in the pool's sleep protocol when there are none, as a scope's
    /// wait does, and the `done` that brings the count to zero wakes it. So
    /// a task may wait for work it queued on the same pool, even on a pool
    /// of one thread:
    ///
    /// ```
    /// use taskgroup::WaitGroup;
    /// let pool = taskgroup::ThreadPool::builder().num_threads(1).build().unwrap();
    /// let wg = WaitGroup::new();
    /// pool.install(|| {
    ///     taskgroup::scope(|s| {
    ///         for _ in 0..3 {
    ///             let guard = wg.add();
    ///             s.spawn(move |_| drop(guard)); // queued behind this very task
    ///         }
    ///         wg.wait(); // runs the three tasks meanwhile
    ///     })
    /// });
    /// ```
    ///
    /// Which jobs a waiting worker may run is the same as for any of its
    /// waits (see the book's chapter on internals): on behalf of a task with
    /// a handle, only the jobs that task queued. It cannot deadlock when the
    /// guards are held by work of that pool that does not itself wait for
    /// the waiting task; it can when a guard is held by a frame buried
    /// beneath the waiting one on the same thread (a job the worker was
    /// running when it started something that now waits), which no
    /// scheduler can resume before the wait ends.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the count is zero or `timeout` has passed. Returns true
    /// if the count reached zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let wg = taskgroup::WaitGroup::new();
    /// let guard = wg.add();
    /// assert!(!wg.wait_timeout(Duration::from_millis(10)));
    /// drop(guard);
    /// assert!(wg.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(Some(deadline)),
            None => self.wait_until(None),
        }
    }

    /// Blocks until the count is zero or `deadline` has passed. Returns true
    /// if the count reached zero.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    #[inline]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if counter(self.state().load(Ordering::Acquire)) == 0 {
            return true;
        }
        match local_wait::current() {
            Some(worker) => self.wait_on_worker(worker, deadline),
            None => self.wait_cold(deadline),
        }
    }

    /// A pool worker waits by running its pool's jobs, registered as a
    /// waiter that the release wakes through the worker's pool.
    #[cold]
    fn wait_on_worker(&self, worker: &dyn local_wait::Waiter, deadline: Option<Instant>) -> bool {
        self.wait_registered(worker.waker(), |released| {
            worker.wait_until(released, deadline)
        })
    }

    /// Registers a waiter that `waker` wakes, unless the count is zero, and
    /// waits for its release with `wait`, which returns false if it gave up
    /// first. Returns whether the count reached zero.
    pub(crate) fn wait_registered(
        &self,
        waker: std::task::Waker,
        wait: impl FnOnce(&dyn Fn() -> bool) -> bool,
    ) -> bool {
        let Some(waiter) = waitlist::register(self, waker) else {
            return true;
        };
        wait(&|| waiter.is_released()) || !waitlist::deregister(self, &waiter)
    }

    #[cold]
    fn wait_cold(&self, deadline: Option<Instant>) -> bool {
        let mut too_many = false;
        let mut gave_up = false;
        let parked = parking::park(
            self.key(),
            || self.register(&mut too_many),
            || gave_up = self.deregister(),
            deadline,
        );
        match parked {
            Parked::Unparked(token) => {
                debug_assert_eq!(token, RELEASED);
                true
            }
            Parked::Invalid if too_many => {
                panic!("WaitGroup: at most 2^31 - 1 threads may wait at once")
            }
            // The counter was zero when we came to register.
            Parked::Invalid => true,
            Parked::TimedOut if gave_up => false,
            Parked::TimedOut => {
                // The count reached zero before the deadline and our release
                // is on its way: we are still counted, so wait for it.
                parking::park(
                    self.key(),
                    || release_pending(self.state().load(Ordering::Acquire)),
                    || {},
                    None,
                );
                true
            }
        }
    }

    /// Under the parking lock: counts the caller as a waiter unless the
    /// counter is already zero. Returns whether the caller should park.
    pub(super) fn register(&self, too_many: &mut bool) -> bool {
        let state = self.state();
        let mut current = state.load(Ordering::Acquire);
        loop {
            if counter(current) == 0 {
                return false;
            }
            if waiters(current) == WAITERS {
                *too_many = true;
                return false;
            }
            match state.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Under the parking lock, after a timeout: takes the caller out of the
    /// waiter count, unless the counter has already reached zero, in which
    /// case the release owns that count. Returns whether the caller left.
    pub(super) fn deregister(&self) -> bool {
        let state = self.state();
        let mut current = state.load(Ordering::Relaxed);
        loop {
            if counter(current) == 0 {
                return false;
            }
            match state.compare_exchange_weak(
                current,
                current - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }
}
