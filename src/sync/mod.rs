//! The one place that chooses the synchronisation primitives.
//!
//! Every lock-free protocol in the crate is written against this module, so
//! that a model checker can swap in its own primitives:
//!
//! * `RUSTFLAGS="--cfg loom"`: loom's atomics, locks, threads and a small
//!   model of the parking lot, and loom sees every interleaving of a small
//!   model (`tests/loom_*.rs`);
//! * `RUSTFLAGS="--cfg shuttle"`: shuttle's atomics, locks, threads,
//!   thread-locals and yields, a model of the parking lot, and scheduling
//!   points around each queue operation, so that whole programs run on a
//!   real pool under shuttle's randomized schedulers (`tests/shuttle_*.rs`).
//!
//! Nothing else in the crate names `std::sync::atomic`, `parking_lot`,
//! `crossbeam_deque`, a thread-local or a thread-spawning function; in a
//! normal build every item here is a plain re-export or a zero-cost wrapper.

#[cfg(all(loom, shuttle))]
compile_error!("`--cfg loom` and `--cfg shuttle` are two different model checkers: pick one");

#[cfg(not(any(loom, shuttle)))]
pub(crate) use std::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(not(any(loom, shuttle)))]
pub(crate) use std::sync::Arc;

#[cfg(loom)]
pub(crate) use loom::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(loom)]
pub(crate) use loom::sync::Arc;

#[cfg(shuttle)]
pub(crate) use shuttle::sync::atomic::{
    fence, AtomicBool, AtomicU32, AtomicU64, AtomicUsize, Ordering,
};
#[cfg(shuttle)]
pub(crate) use shuttle::sync::Arc;

/// Declares thread-locals. Under shuttle, whose simulated threads all run
/// on one OS thread, they must be shuttle's, or every simulated thread would
/// share one value.
#[cfg(not(shuttle))]
pub(crate) use std::thread_local;

#[cfg(shuttle)]
pub(crate) use shuttle::thread_local;

/// Threads: starting, naming and joining the pool's workers, and parking a
/// thread outside the pool (a broadcaster) until its work is done.
pub(crate) mod thread {
    #[cfg(not(shuttle))]
    pub(crate) use std::thread::{current, park, Builder, JoinHandle, Result, Thread};

    #[cfg(shuttle)]
    pub(crate) use shuttle::thread::{current, park, Builder, JoinHandle, Result, Thread};
}

/// Gives up the CPU to other threads; under a model checker, a yield to its
/// scheduler, so that code waiting for another thread lets it run.
#[inline]
pub(crate) fn yield_now() {
    #[cfg(not(any(loom, shuttle)))]
    std::thread::yield_now();
    #[cfg(loom)]
    loom::thread::yield_now();
    #[cfg(shuttle)]
    shuttle::thread::yield_now();
}

/// The number of CPUs the process may run on, which decides whether idle
/// workers spin before they sleep.
#[cfg(not(shuttle))]
#[inline]
pub(crate) fn num_cpus() -> usize {
    num_cpus::get()
}

/// Under shuttle, one or two CPUs, a choice shuttle makes (and replays) for
/// each pool, so that scenarios cover both the spinning and the sleeping
/// paths of idle workers.
#[cfg(shuttle)]
pub(crate) fn num_cpus() -> usize {
    use shuttle::rand::RngCore;
    1 + (shuttle::rand::thread_rng().next_u64() % 2) as usize
}

/// The work-stealing deques of the pool's workers and its injector.
///
/// crossbeam's, also under loom (whose models do not run the pool). Under
/// shuttle too, in thin wrappers: crossbeam's operations never wait for one
/// another, and none can be interrupted halfway by shuttle, which switches
/// threads only at its own primitives, so each operation is atomic there.
/// The wrappers put a scheduling point before each one, which is what makes
/// it a step of its own that other threads' steps can come before or after.
pub(crate) mod deque {
    #[cfg(not(shuttle))]
    pub(crate) use crossbeam_deque::{Injector, Steal, Stealer, Worker};

    #[cfg(shuttle)]
    pub(crate) use shuttle_deque::{Injector, Stealer, Worker};

    #[cfg(shuttle)]
    pub(crate) use crossbeam_deque::Steal;

    #[cfg(shuttle)]
    mod shuttle_deque {
        use crossbeam_deque::Steal;
        use shuttle::sync::atomic::{AtomicBool, Ordering};

        /// A shuttle scheduling point: a load that nobody else needs.
        #[derive(Default)]
        struct Point(AtomicBool);

        impl Point {
            #[inline]
            fn here(&self) {
                self.0.load(Ordering::SeqCst);
            }
        }

        pub(crate) struct Worker<T> {
            inner: crossbeam_deque::Worker<T>,
            point: Point,
        }

        impl<T> Worker<T> {
            pub(crate) fn new_lifo() -> Self {
                Self {
                    inner: crossbeam_deque::Worker::new_lifo(),
                    point: Point::default(),
                }
            }

            pub(crate) fn stealer(&self) -> Stealer<T> {
                Stealer {
                    inner: self.inner.stealer(),
                    point: Point::default(),
                }
            }

            pub(crate) fn push(&self, value: T) {
                self.point.here();
                self.inner.push(value);
            }

            pub(crate) fn pop(&self) -> Option<T> {
                self.point.here();
                self.inner.pop()
            }
        }

        pub(crate) struct Stealer<T> {
            inner: crossbeam_deque::Stealer<T>,
            point: Point,
        }

        impl<T> Stealer<T> {
            pub(crate) fn steal(&self) -> Steal<T> {
                self.point.here();
                self.inner.steal()
            }

            pub(crate) fn is_empty(&self) -> bool {
                self.point.here();
                self.inner.is_empty()
            }

            pub(crate) fn len(&self) -> usize {
                self.point.here();
                self.inner.len()
            }
        }

        pub(crate) struct Injector<T> {
            inner: crossbeam_deque::Injector<T>,
            point: Point,
        }

        impl<T> Injector<T> {
            pub(crate) fn new() -> Self {
                Self {
                    inner: crossbeam_deque::Injector::new(),
                    point: Point::default(),
                }
            }

            pub(crate) fn push(&self, value: T) {
                self.point.here();
                self.inner.push(value);
            }

            pub(crate) fn steal(&self) -> Steal<T> {
                self.point.here();
                self.inner.steal()
            }

            pub(crate) fn steal_batch_and_pop(&self, dest: &Worker<T>) -> Steal<T> {
                self.point.here();
                self.inner.steal_batch_and_pop(&dest.inner)
            }

            pub(crate) fn is_empty(&self) -> bool {
                self.point.here();
                self.inner.is_empty()
            }

            pub(crate) fn len(&self) -> usize {
                self.point.here();
                self.inner.len()
            }
        }

        impl<T> std::fmt::Debug for Injector<T> {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.inner.fmt(f)
            }
        }
    }
}

#[cfg(not(loom))]
pub(crate) use deque::{Injector, Steal};

#[cfg(loom)]
pub(crate) use crossbeam_deque::Steal;

/// Under loom, a multi-producer multi-consumer queue with the API of
/// crossbeam's `Injector`, built on loom's mutex so the model sees it.
#[cfg(loom)]
#[derive(Debug)]
pub(crate) struct Injector<T>(loom::sync::Mutex<std::collections::VecDeque<T>>);

#[cfg(loom)]
impl<T> Injector<T> {
    pub(crate) fn new() -> Self {
        Self(loom::sync::Mutex::new(std::collections::VecDeque::new()))
    }

    pub(crate) fn push(&self, value: T) {
        self.0.lock().unwrap().push_back(value);
    }

    pub(crate) fn steal(&self) -> Steal<T> {
        match self.0.lock().unwrap().pop_front() {
            Some(value) => Steal::Success(value),
            None => Steal::Empty,
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.0.lock().unwrap().is_empty()
    }
}

/// A mutex that the model checkers see: parking_lot's in a normal build,
/// loom's or shuttle's under them.
#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(
    #[cfg(not(any(loom, shuttle)))] parking_lot::Mutex<T>,
    #[cfg(loom)] loom::sync::Mutex<T>,
    #[cfg(shuttle)] shuttle::sync::Mutex<T>,
);

#[cfg(not(any(loom, shuttle)))]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(parking_lot::Mutex::new(value))
    }

    #[inline]
    pub(crate) fn lock(&self) -> parking_lot::MutexGuard<'_, T> {
        self.0.lock()
    }
}

#[cfg(loom)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(loom::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> loom::sync::MutexGuard<'_, T> {
        self.0.lock().unwrap()
    }
}

#[cfg(shuttle)]
impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Self(shuttle::sync::Mutex::new(value))
    }

    pub(crate) fn lock(&self) -> shuttle::sync::MutexGuard<'_, T> {
        // parking_lot has no poisoning, and under shuttle it would be wrong
        // anyway: all simulated threads share one OS thread, so while one
        // of them is switched out in the middle of unwinding, the others'
        // guards see a panic in progress and poison the lock.
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Aligns its value to its own cache line (two, on x86_64 with its adjacent
/// line prefetcher), so that writes to it do not evict its neighbours.
#[derive(Debug, Default)]
#[repr(align(128))]
pub(crate) struct CachePadded<T>(pub(crate) T);

impl<T> std::ops::Deref for CachePadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A cell whose accesses loom checks for races (under loom it is loom's).
#[cfg(not(loom))]
#[derive(Debug)]
pub(crate) struct UnsafeCell<T>(std::cell::UnsafeCell<T>);

#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    pub(crate) const fn new(value: T) -> Self {
        Self(std::cell::UnsafeCell::new(value))
    }

    #[inline]
    pub(crate) fn with_mut<R>(&self, f: impl FnOnce(*mut T) -> R) -> R {
        f(self.0.get())
    }

    pub(crate) fn into_inner(self) -> T {
        self.0.into_inner()
    }
}

#[cfg(loom)]
pub(crate) use loom::cell::UnsafeCell;

/// Spin-loop hint; under a model checker a yield, so that spinning code
/// lets the thread it waits for run.
#[inline]
pub(crate) fn spin_hint() {
    #[cfg(not(any(loom, shuttle)))]
    std::hint::spin_loop();
    #[cfg(any(loom, shuttle))]
    yield_now();
}

pub(crate) mod parking;

/// A shared read of the cell, as loom's `UnsafeCell::with` (which checks it
/// against concurrent writes).
#[cfg(not(loom))]
impl<T> UnsafeCell<T> {
    #[inline]
    pub(crate) fn with<R>(&self, f: impl FnOnce(*const T) -> R) -> R {
        f(self.0.get())
    }
}
