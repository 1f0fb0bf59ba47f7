//! Shuttle scenarios of the async hand-offs and of waitgroup waits on pool
//! workers: `spawn_async` awaited by a plain thread (and cancelled, and
//! dropped), `wait_async` racing the last `done` (and dropped before it),
//! and a task that waits on a `WaitGroup` whose guard a job queued behind
//! it holds, on a pool of one thread.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_async`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::task::{Context, Poll, Wake, Waker};

use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle_harness::{check, pool, ITERATIONS};
use taskgroup::WaitGroup;

/// Wakes a shuttle thread parked in [`block_on`].
struct Unpark(shuttle::thread::Thread);

impl Wake for Unpark {
    fn wake(self: Arc<Self>) {
        self.0.unpark();
    }
}

fn waker() -> Waker {
    Waker::from(Arc::new(Unpark(shuttle::thread::current())))
}

/// Polls `future` on this thread until it is ready, parking in between (a
/// wake-up before the park makes the park return at once).
fn block_on<F: Future>(future: F) -> F::Output {
    let waker = waker();
    let mut cx = Context::from_waker(&waker);
    let mut future = pin!(future);
    loop {
        if let Poll::Ready(output) = future.as_mut().poll(&mut cx) {
            return output;
        }
        shuttle::thread::park();
    }
}

#[test]
fn spawn_async_awaited_cancelled_and_dropped() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = Arc::new(AtomicBool::new(false));
        let detached = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(WaitGroup::new());

        let value = pool.spawn_async(|| 6 * 7);
        let cancelled = {
            let ran = Arc::clone(&ran);
            pool.spawn_async(move || ran.store(true, Ordering::SeqCst))
        };
        cancelled.cancel();
        // Dropped: detached, it still runs.
        drop({
            let (detached, guard) = (Arc::clone(&detached), wg.add_owned());
            pool.spawn_async(move || {
                detached.fetch_add(1, Ordering::SeqCst);
                drop(guard);
            })
        });

        assert_eq!(block_on(value).expect("a value"), 42);
        match block_on(cancelled) {
            Ok(()) => assert!(ran.load(Ordering::SeqCst), "Ok without running"),
            Err(err) => {
                assert!(err.is_cancelled(), "{err}");
                assert!(!ran.load(Ordering::SeqCst), "cancelled, yet it ran");
            }
        }
        wg.wait();
        assert_eq!(detached.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn wait_async_races_the_last_done() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let wg = Arc::new(WaitGroup::new());
        let done = Arc::new(AtomicUsize::new(0));
        for _ in 0..2 {
            let (guard, done) = (wg.add_owned(), Arc::clone(&done));
            pool.spawn(move || {
                done.fetch_add(1, Ordering::SeqCst);
                drop(guard);
            });
        }
        // A waiter polled once, then dropped: it must leave no trace.
        {
            let waker = waker();
            let mut cx = Context::from_waker(&waker);
            let mut early = pin!(wg.wait_async());
            let _ = early.as_mut().poll(&mut cx);
        }
        block_on(wg.wait_async());
        assert_eq!(done.load(Ordering::SeqCst), 2);
        drop(pool);
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn a_task_waits_on_a_group_whose_guard_is_queued_behind_it() {
    // One thread: the guard's job can only run inside the task's wait.
    check(ITERATIONS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let ran = &ran;
        pool.scope(|s| {
            s.spawn(move |_| {
                let wg = WaitGroup::new();
                let wg = &wg;
                taskgroup::scope(|inner| {
                    for _ in 0..2 {
                        let guard = wg.add();
                        inner.spawn(move |_| {
                            ran.fetch_add(1, Ordering::SeqCst);
                            drop(guard);
                        });
                    }
                    wg.wait();
                    assert_eq!(ran.load(Ordering::SeqCst), 2);
                });
            });
        });
    });
}
