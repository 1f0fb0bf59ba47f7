//! Shuttle scenarios of `broadcast` and `yield_now` on real pools: one
//! share per worker, in index order, whoever broadcasts (a plain thread, a
//! worker of the same pool, two at once); a panicking share re-raised after
//! every share ran; and a task that yields until a task queued behind it on
//! the same worker has run.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_broadcast`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle_harness::{check, payload_str, pool, ITERATIONS};
use taskgroup::Yield;

/// A broadcast whose every share checks that it runs on its own worker.
fn indices(pool: &taskgroup::ThreadPool) -> Vec<usize> {
    pool.broadcast(|ctx| {
        assert_eq!(taskgroup::current_thread_index(), Some(ctx.index()));
        assert_eq!(ctx.num_threads(), pool.num_threads());
        ctx.index()
    })
}

#[test]
fn broadcasts_from_outside_and_from_a_worker_at_once() {
    check(ITERATIONS, || {
        let pool = Arc::new(pool(2));
        let outside = {
            let pool = Arc::clone(&pool);
            shuttle::thread::spawn(move || indices(&pool))
        };
        // From a worker of the same pool: its own share runs in place.
        assert_eq!(pool.install(|| indices(&pool)), [0, 1]);
        assert_eq!(outside.join().expect("outside broadcaster"), [0, 1]);
    });
}

#[test]
fn broadcasts_from_two_tasks_of_a_scope() {
    check(ITERATIONS, || {
        let pool = pool(3);
        let pool = &pool;
        let done = AtomicUsize::new(0);
        let done = &done;
        pool.scope(|s| {
            for _ in 0..2 {
                s.spawn(move |_| {
                    assert_eq!(indices(pool), [0, 1, 2]);
                    done.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(done.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn a_panicking_share_is_reraised_after_every_share_ran() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let payload = catch_unwind(AssertUnwindSafe(|| {
            pool.broadcast(|ctx| {
                ran.fetch_add(1, Ordering::Relaxed);
                if ctx.index() == 1 {
                    panic!("boom: share");
                }
            })
        }))
        .expect_err("the share's panic is re-raised");
        assert_eq!(payload_str(&*payload), Some("boom: share"));
        assert_eq!(ran.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn a_task_yields_until_the_task_behind_it_ran() {
    // One thread: the task queued behind the yielding one can only run
    // inside its `yield_now`.
    check(ITERATIONS, || {
        let pool = pool(1);
        let ready = AtomicBool::new(false);
        let ready = &ready;
        pool.scope(|s| {
            s.spawn(move |s| {
                s.spawn(move |_| ready.store(true, Ordering::Release));
                while !ready.load(Ordering::Acquire) {
                    assert_eq!(taskgroup::yield_now(), Some(Yield::Executed));
                }
                assert_eq!(taskgroup::yield_local(), Some(Yield::Idle));
            });
        });
        assert!(ready.load(Ordering::Relaxed));
    });
}
