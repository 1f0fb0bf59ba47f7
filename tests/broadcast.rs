//! Integration tests of `ThreadPool::broadcast`: one share per worker, on
//! that worker, results in index order, from every kind of caller, and
//! panics re-raised after every share ran.
#![cfg(not(loom))]

mod common;

use std::any::Any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::{assert_str_payload, expect_panic, pool, quiet_expected_panics, watchdog, Gate};
use taskgroup::ThreadPool;

/// What a share saw of the thread it ran on.
#[derive(Debug, PartialEq, Eq)]
struct Seen {
    index: usize,
    num_threads: usize,
    thread_index: Option<usize>,
    thread_name: String,
}

fn seen(ctx: taskgroup::BroadcastContext<'_>) -> Seen {
    Seen {
        index: ctx.index(),
        num_threads: ctx.num_threads(),
        thread_index: taskgroup::current_thread_index(),
        thread_name: thread::current().name().unwrap_or("?").to_string(),
    }
}

/// Every share ran once, on the worker it names, in order.
#[track_caller]
fn assert_one_per_worker(all: &[Seen], n: usize) {
    assert_eq!(all.len(), n);
    for (i, s) in all.iter().enumerate() {
        assert_eq!(
            s,
            &Seen {
                index: i,
                num_threads: n,
                thread_index: Some(i),
                thread_name: format!("tg-test-{i}"),
            }
        );
    }
}

#[test]
fn from_outside_every_worker_runs_one_share_in_index_order() {
    watchdog(20, || {
        for n in [1, 2, 4] {
            let pool = pool(n);
            assert_one_per_worker(&pool.broadcast(seen), n);
            assert_eq!(
                pool.broadcast(|ctx| ctx.index()),
                (0..n).collect::<Vec<_>>()
            );
        }
    });
}

#[test]
fn all_shares_run_at_once_on_distinct_workers() {
    watchdog(20, || {
        for n in [1, 2, 4] {
            let pool = pool(n);
            // Every share waits for all the others: this only finishes if
            // each worker runs its own share, at the same time.
            let barrier = Barrier::new(n);
            let outside = pool.broadcast(|ctx| {
                barrier.wait();
                ctx.index()
            });
            let inside = pool.install(|| {
                pool.broadcast(|ctx| {
                    barrier.wait();
                    ctx.index()
                })
            });
            assert_eq!(outside, (0..n).collect::<Vec<_>>());
            assert_eq!(inside, outside);
        }
    });
}

#[test]
fn from_inside_the_caller_runs_its_own_share() {
    watchdog(20, || {
        for n in [1, 2, 4] {
            let pool = pool(n);
            for _ in 0..20 {
                let (caller, all) = pool.install(|| {
                    (
                        taskgroup::current_thread_index().unwrap(),
                        pool.broadcast(seen),
                    )
                });
                assert_one_per_worker(&all, n);
                assert!(caller < n);
            }
        }
    });
}

#[test]
fn nested_in_a_scope_task_on_a_one_thread_pool() {
    watchdog(20, || {
        let pool = pool(1);
        let results = Mutex::new(Vec::new());
        pool.scope(|s| {
            s.spawn(|s| {
                s.spawn(|_| {
                    results
                        .lock()
                        .unwrap()
                        .push(pool.broadcast(|ctx| ctx.index() + 10))
                });
                results
                    .lock()
                    .unwrap()
                    .push(pool.broadcast(|ctx| ctx.index() + 20));
            });
        });
        let mut results = results.into_inner().unwrap();
        results.sort();
        assert_eq!(results, [vec![10], vec![20]]);
    });
}

#[test]
fn from_a_worker_of_another_pool() {
    watchdog(20, || {
        for (outer, inner) in [(1, 1), (1, 3), (2, 1), (3, 2)] {
            let outer = pool(outer);
            let inner = ThreadPool::builder()
                .num_threads(inner)
                .thread_name(|i| format!("tg-test-{i}"))
                .build()
                .unwrap();
            let n = inner.num_threads();
            // Every worker of the outer pool broadcasts into the inner one
            // at once, and waits there running its own pool's jobs.
            let all = outer.broadcast(|_| inner.broadcast(seen));
            assert_eq!(all.len(), outer.num_threads());
            for one in &all {
                assert_one_per_worker(one, n);
            }
        }
    });
}

#[test]
fn two_pools_broadcasting_into_each_other_do_not_deadlock() {
    watchdog(20, || {
        let a = pool(1);
        let b = pool(2);
        let total = AtomicUsize::new(0);
        thread::scope(|ts| {
            ts.spawn(|| {
                for _ in 0..100 {
                    a.install(|| {
                        b.broadcast(|_| total.fetch_add(1, Ordering::Relaxed));
                    });
                }
            });
            ts.spawn(|| {
                for _ in 0..100 {
                    b.install(|| {
                        a.broadcast(|_| total.fetch_add(1, Ordering::Relaxed));
                    });
                }
            });
        });
        assert_eq!(total.into_inner(), 100 * 2 + 100);
    });
}

#[test]
fn nested_broadcasts_and_shares_that_spawn_into_a_scope() {
    watchdog(20, || {
        let pool = pool(3);
        let runs = AtomicUsize::new(0);
        let tasks = AtomicUsize::new(0);
        pool.scope(|s| {
            let inner = pool.broadcast(|outer| {
                runs.fetch_add(1, Ordering::Relaxed);
                s.spawn(|_| {
                    tasks.fetch_add(1, Ordering::Relaxed);
                });
                // The context is not `Sync`: copy out what a nested closure needs.
                let outer = outer.index();
                pool.broadcast(|inner| 10 * outer + inner.index())
            });
            assert_eq!(inner, [vec![0, 1, 2], vec![10, 11, 12], vec![20, 21, 22]]);
        });
        assert_eq!(runs.into_inner(), 3);
        assert_eq!(tasks.into_inner(), 3);
    });
}

#[test]
fn a_share_waits_for_its_worker() {
    watchdog(20, || {
        let pool = pool(2);
        let gate = Arc::new(Gate::new());
        let started = Arc::new(Barrier::new(2));
        let (g, b) = (Arc::clone(&gate), Arc::clone(&started));
        pool.spawn(move || {
            b.wait();
            g.wait();
        });
        started.wait();
        thread::scope(|ts| {
            // One worker is blocked in a task: the broadcast cannot finish
            // before that worker has run its share.
            let caller = ts.spawn(|| pool.broadcast(|ctx| ctx.index()));
            thread::sleep(std::time::Duration::from_millis(20));
            assert!(!caller.is_finished());
            gate.open();
            assert_eq!(caller.join().unwrap(), [0, 1]);
        });
    });
}

#[test]
fn a_panicking_share_is_re_raised_after_every_share_ran() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(3);
        for inside in [false, true] {
            let ran = AtomicUsize::new(0);
            let run = || {
                pool.broadcast(|ctx| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    if ctx.index() == 1 {
                        panic!("boom in share 1");
                    }
                    ctx.index()
                })
            };
            let payload = if inside {
                expect_panic(|| pool.install(run))
            } else {
                expect_panic(run)
            };
            assert_str_payload(&*payload, "boom in share 1");
            assert_eq!(ran.load(Ordering::SeqCst), 3, "inside: {inside}");
        }
        // The pool is still whole.
        assert_eq!(pool.broadcast(|ctx| ctx.index()), [0, 1, 2]);
    });
}

/// A panic payload that counts its drops.
struct Payload {
    share: usize,
    drops: Arc<AtomicUsize>,
}

impl Drop for Payload {
    fn drop(&mut self) {
        self.drops.fetch_add(1, Ordering::SeqCst);
    }
}

#[test]
fn of_several_panics_one_is_re_raised_and_the_others_are_dropped() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(4);
        let drops = Arc::new(AtomicUsize::new(0));
        let values_dropped = Arc::new(AtomicUsize::new(0));
        let payload: Box<dyn Any + Send> = expect_panic(|| {
            pool.broadcast(|ctx| {
                if ctx.index() % 2 == 1 {
                    std::panic::panic_any(Payload {
                        share: ctx.index(),
                        drops: Arc::clone(&drops),
                    });
                }
                Payload {
                    share: ctx.index(),
                    drops: Arc::clone(&values_dropped),
                }
            })
        });
        let payload = payload.downcast::<Payload>().unwrap();
        assert!(payload.share == 1 || payload.share == 3);
        // The other panic's payload and both values were dropped.
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(values_dropped.load(Ordering::SeqCst), 2);
        drop(payload);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn shares_inherit_the_callers_cancellation() {
    watchdog(20, || {
        let pool = pool(2);
        let seen = pool.scope(|s| {
            s.cancel();
            pool.broadcast(|_| taskgroup::scope(|inner| inner.is_cancelled()))
        });
        assert_eq!(seen, [true, true]);
        let fresh = pool.broadcast(|_| taskgroup::scope(|inner| inner.is_cancelled()));
        assert_eq!(fresh, [false, false]);
    });
}

#[test]
fn many_broadcasts_from_many_threads_wake_sleeping_workers() {
    watchdog(60, || {
        let pool = pool(4);
        let total = AtomicUsize::new(0);
        thread::scope(|ts| {
            for t in 0..3 {
                let (pool, total) = (&pool, &total);
                ts.spawn(move || {
                    for round in 0..300 {
                        let got = if round % 2 == 0 {
                            pool.broadcast(|ctx| ctx.index())
                        } else {
                            pool.install(|| pool.broadcast(|ctx| ctx.index()))
                        };
                        assert_eq!(got, [0, 1, 2, 3], "thread {t} round {round}");
                        total.fetch_add(1, Ordering::Relaxed);
                        if round % 50 == 0 {
                            // Let the pool fall asleep now and then.
                            thread::sleep(std::time::Duration::from_millis(2));
                        }
                    }
                });
            }
        });
        assert_eq!(total.into_inner(), 900);
    });
}

#[test]
fn results_move_out_in_order_and_nothing_leaks() {
    watchdog(20, || {
        let pool = pool(3);
        let words = pool.broadcast(|ctx| format!("share {}", ctx.index()));
        assert_eq!(words, ["share 0", "share 1", "share 2"]);
        let unit: Vec<()> = pool.broadcast(|_| ());
        assert_eq!(unit.len(), 3);
    });
}

#[test]
fn context_debug_names_index_and_size() {
    let pool = pool(2);
    let shown = pool.broadcast(|ctx| format!("{ctx:?}"));
    assert_eq!(
        shown,
        [
            "BroadcastContext { index: 0, num_threads: 2 }",
            "BroadcastContext { index: 1, num_threads: 2 }",
        ]
    );
}
