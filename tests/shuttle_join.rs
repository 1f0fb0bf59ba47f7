//! Shuttle scenarios of `join` on a real pool: recursive joins whose second
//! halves are published lazily (when a worker is idle, or before the joining
//! worker waits) and stolen, panics in either half, and joins in scope tasks
//! whose stolen halves spawn into the task's scope.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_join`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;

use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle_harness::{check, payload_str, pool, ITERATIONS};
use taskgroup::ThreadPool;

/// The sum of `lo..hi` by recursive halving down to single numbers: four
/// levels of `join` for 16 numbers, the outer two published at once and
/// the inner ones only when a worker is idle.
fn sum(pool: &ThreadPool, lo: u64, hi: u64) -> u64 {
    if hi - lo == 1 {
        return lo;
    }
    let mid = lo + (hi - lo) / 2;
    let (a, b) = pool.join(|| sum(pool, lo, mid), || sum(pool, mid, hi));
    a + b
}

#[test]
fn recursive_joins_on_two_and_three_threads() {
    check(ITERATIONS, || {
        for threads in [2, 3] {
            let pool = pool(threads);
            assert_eq!(pool.install(|| sum(&pool, 0, 16)), 120);
        }
    });
}

#[test]
fn recursive_joins_from_outside_and_inside_at_once() {
    // A plain thread calls `join` (which sends it into the pool) while a
    // worker is in the middle of its own recursion.
    check(ITERATIONS, || {
        let pool = Arc::new(pool(2));
        let outside = {
            let pool = Arc::clone(&pool);
            shuttle::thread::spawn(move || sum(&pool, 0, 8))
        };
        assert_eq!(pool.install(|| sum(&pool, 8, 16)), 92);
        assert_eq!(outside.join().expect("outside caller"), 28);
    });
}

#[test]
fn a_panic_in_either_half_reaches_the_caller_after_both_ran() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let ran = &ran;
        pool.install(|| {
            // `b` panics, possibly on a thief, under a join that may itself
            // have been stolen.
            let payload = catch_unwind(AssertUnwindSafe(|| {
                pool.join(
                    || {
                        pool.join(
                            || ran.fetch_add(1, Ordering::Relaxed),
                            || -> usize { panic!("boom: b") },
                        )
                    },
                    || ran.fetch_add(1, Ordering::Relaxed),
                )
            }))
            .expect_err("b's panic propagates");
            assert_eq!(payload_str(&*payload), Some("boom: b"));
            assert_eq!(ran.load(Ordering::Relaxed), 2);

            // Both panic: `a`'s wins, and `b` has finished by then.
            let payload = catch_unwind(AssertUnwindSafe(|| {
                pool.join(
                    || -> usize { panic!("boom: a") },
                    || -> usize {
                        ran.fetch_add(1, Ordering::Relaxed);
                        panic!("boom: b again")
                    },
                )
            }))
            .expect_err("a's panic propagates");
            assert_eq!(payload_str(&*payload), Some("boom: a"));
            assert_eq!(ran.load(Ordering::Relaxed), 3);
        });
    });
}

#[test]
fn stolen_halves_spawn_into_their_tasks_scope() {
    // A stolen half runs on behalf of its task: what it spawns belongs to
    // the task's scope, which must wait for it.
    check(ITERATIONS, || {
        let pool = pool(3);
        let ran = AtomicUsize::new(0);
        let ran = &ran;
        let pool = &pool;
        pool.scope(|s| {
            for _ in 0..2 {
                s.spawn(move |s| {
                    pool.join(
                        || {
                            s.spawn(move |_| {
                                ran.fetch_add(1, Ordering::Relaxed);
                            })
                        },
                        || {
                            pool.join(
                                || ran.fetch_add(1, Ordering::Relaxed),
                                || {
                                    s.spawn(move |_| {
                                        ran.fetch_add(1, Ordering::Relaxed);
                                    })
                                },
                            )
                        },
                    );
                });
            }
        });
        assert_eq!(ran.load(Ordering::Relaxed), 6);
    });
}
