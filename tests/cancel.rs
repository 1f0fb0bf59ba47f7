#![cfg(not(loom))]
//! Cooperative cancellation: `Scope::cancel` and `Scope::is_cancelled`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use common::{pool, wait_for, watchdog, DropCount, Gate, PATIENCE, WATCHDOG_SECS};

#[test]
fn cancel_from_the_body_before_tasks_start() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let drops = Arc::new(AtomicUsize::new(0));
        let nested = AtomicUsize::new(0);
        let (before, after) = pool.install(|| {
            taskgroup::scope(|s| {
                for _ in 0..100 {
                    let token = DropCount::new(&drops);
                    let (ran, nested) = (&ran, &nested);
                    s.spawn(move |s| {
                        let _token = token;
                        ran.fetch_add(1, Ordering::SeqCst);
                        s.spawn(move |_| {
                            nested.fetch_add(1, Ordering::SeqCst);
                        });
                    });
                }
                let before = s.is_cancelled();
                s.cancel();
                // Idempotent.
                s.cancel();
                (before, s.is_cancelled())
            })
        });
        assert!(!before);
        assert!(after);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(nested.load(Ordering::SeqCst), 0);
        // Every capture was dropped, exactly once.
        assert_eq!(drops.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn captures_of_tasks_that_run_are_dropped_once_too() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..50 {
                let token = DropCount::new(&drops);
                let ran = &ran;
                s.spawn(move |_| {
                    let _token = token;
                    ran.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(ran.load(Ordering::SeqCst), 50);
        assert_eq!(drops.load(Ordering::SeqCst), 50);
    });
}

#[test]
fn cancel_from_inside_a_task_skips_the_queued_ones() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let drops = Arc::new(AtomicUsize::new(0));
        let spawned_after_cancel = AtomicUsize::new(0);
        pool.install(|| {
            taskgroup::scope(|s| {
                for _ in 0..20 {
                    let token = DropCount::new(&drops);
                    let (ran, late) = (&ran, &spawned_after_cancel);
                    s.spawn(move |s| {
                        let _token = token;
                        ran.fetch_add(1, Ordering::SeqCst);
                        // Whichever task runs first cancels the scope.
                        s.cancel();
                        assert!(s.is_cancelled());
                        // Spawned after the cancel: never runs.
                        s.spawn(move |_| {
                            late.fetch_add(1, Ordering::SeqCst);
                        });
                    });
                }
            })
        });
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(spawned_after_cancel.load(Ordering::SeqCst), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 20);
    });
}

#[test]
fn running_tasks_see_is_cancelled() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let (started_tx, started_rx) = mpsc::channel();
        let saw = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..2 {
                let started_tx = started_tx.clone();
                let saw = &saw;
                s.spawn(move |s| {
                    assert!(!s.is_cancelled());
                    started_tx.send(()).unwrap();
                    wait_for(PATIENCE.as_secs(), "cancellation", || s.is_cancelled());
                    saw.fetch_add(1, Ordering::SeqCst);
                });
            }
            for _ in 0..2 {
                started_rx.recv_timeout(PATIENCE).expect("task started");
            }
            s.cancel();
        });
        assert_eq!(saw.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn cancel_waits_for_running_tasks() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let finished = AtomicBool::new(false);
        let skipped_ran = AtomicUsize::new(0);
        let t0 = Instant::now();
        pool.scope(|s| {
            s.spawn(|_| {
                started_tx.send(()).unwrap();
                // Ignores cancellation on purpose.
                thread::sleep(Duration::from_millis(100));
                finished.store(true, Ordering::SeqCst);
            });
            started_rx.recv_timeout(PATIENCE).expect("task started");
            s.cancel();
            s.spawn(|_| {
                skipped_ran.fetch_add(1, Ordering::SeqCst);
            });
        });
        // The scope did not return before its running task finished.
        assert!(finished.load(Ordering::SeqCst));
        assert!(t0.elapsed() >= Duration::from_millis(100));
        assert_eq!(skipped_ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn cancellation_reaches_a_nested_scope_opened_in_a_task() {
    watchdog(WATCHDOG_SECS, || {
        // One thread: the outer task runs on the only worker, and so does
        // the nested body, so the nested tasks cannot start before the
        // nested body returns.
        let pool = pool(1);
        let (in_nested_tx, in_nested_rx) = mpsc::channel();
        let nested_ran = AtomicUsize::new(0);
        let nested_drops = Arc::new(AtomicUsize::new(0));
        let observed = AtomicBool::new(false);
        pool.scope(|outer| {
            outer.spawn(|_| {
                taskgroup::scope(|inner| {
                    for _ in 0..5 {
                        let token = DropCount::new(&nested_drops);
                        let ran = &nested_ran;
                        inner.spawn(move |_| {
                            let _token = token;
                            ran.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                    assert!(!inner.is_cancelled());
                    in_nested_tx.send(()).unwrap();
                    wait_for(PATIENCE.as_secs(), "the parent's cancellation", || {
                        inner.is_cancelled()
                    });
                    observed.store(true, Ordering::SeqCst);
                });
            });
            in_nested_rx
                .recv_timeout(PATIENCE)
                .expect("nested body runs");
            outer.cancel();
        });
        assert!(observed.load(Ordering::SeqCst));
        assert_eq!(nested_ran.load(Ordering::SeqCst), 0);
        assert_eq!(nested_drops.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn cancellation_reaches_nested_scopes_at_depth() {
    watchdog(WATCHDOG_SECS, || {
        // Scopes nested three deep inside tasks; cancelling the outermost
        // reaches a running task at the bottom.
        let pool = pool(2);
        let (deep_tx, deep_rx) = mpsc::channel();
        let saw = AtomicBool::new(false);
        pool.scope(|s| {
            s.spawn(|_| {
                taskgroup::scope(|s| {
                    s.spawn(|_| {
                        taskgroup::scope(|s| {
                            s.spawn(|s| {
                                deep_tx.send(()).unwrap();
                                wait_for(PATIENCE.as_secs(), "cancellation at depth 3", || {
                                    s.is_cancelled()
                                });
                                saw.store(true, Ordering::SeqCst);
                            });
                        });
                    });
                });
            });
            deep_rx
                .recv_timeout(PATIENCE)
                .expect("deepest task started");
            s.cancel();
        });
        assert!(saw.load(Ordering::SeqCst));
    });
}

#[test]
fn cancelling_a_nested_scope_does_not_cancel_its_parent() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let (outer_after, inner_ran) = pool.install(|| {
            let inner_ran = AtomicUsize::new(0);
            let flag = AtomicBool::new(true);
            taskgroup::scope(|outer| {
                outer.spawn(|_| {
                    taskgroup::scope(|inner| {
                        inner.spawn(|_| {
                            inner_ran.fetch_add(1, Ordering::SeqCst);
                        });
                        inner.cancel();
                    });
                });
                outer.spawn(|s| flag.store(s.is_cancelled(), Ordering::SeqCst));
            });
            (flag.into_inner(), inner_ran.into_inner())
        });
        assert!(!outer_after, "the outer scope was not cancelled");
        assert_eq!(inner_ran, 0);
    });
}

#[test]
fn nested_scope_on_another_pool_sees_the_cancellation() {
    watchdog(WATCHDOG_SECS, || {
        let outer_pool = pool(1);
        let other = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let saw_in_task = AtomicBool::new(false);
        let saw_in_body = AtomicBool::new(false);
        let late_ran = AtomicUsize::new(0);
        outer_pool.scope(|outer| {
            outer.spawn(|_| {
                other.scope(|n| {
                    let started_tx = started_tx.clone();
                    let saw_in_task = &saw_in_task;
                    n.spawn(move |n| {
                        started_tx.send(()).unwrap();
                        wait_for(PATIENCE.as_secs(), "cancellation on the other pool", || {
                            n.is_cancelled()
                        });
                        saw_in_task.store(true, Ordering::SeqCst);
                    });
                    wait_for(
                        PATIENCE.as_secs(),
                        "cancellation in the nested body",
                        || n.is_cancelled(),
                    );
                    saw_in_body.store(true, Ordering::SeqCst);
                    // The nested scope counts as cancelled: new tasks are skipped.
                    for _ in 0..10 {
                        n.spawn(|_| {
                            late_ran.fetch_add(1, Ordering::SeqCst);
                        });
                    }
                });
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("task on the other pool started");
            outer.cancel();
        });
        assert!(saw_in_task.load(Ordering::SeqCst));
        assert!(saw_in_body.load(Ordering::SeqCst));
        assert_eq!(late_ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn cancelled_scope_still_returns_the_body_value_and_reraises_panics() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let v = pool.install(|| {
            taskgroup::scope(|s| {
                s.spawn(|_| unreachable!("skipped"));
                s.cancel();
                "value"
            })
        });
        assert_eq!(v, "value");

        // A task that panics before its scope is cancelled: still re-raised.
        let payload = common::expect_panic(|| {
            pool.install(|| {
                taskgroup::scope(|s| {
                    s.spawn(|s| {
                        s.cancel();
                        panic!("boom after cancel");
                    });
                    s.spawn(|s| {
                        s.cancel();
                        panic!("boom after cancel");
                    });
                })
            })
        });
        common::assert_str_payload(&*payload, "boom after cancel");
    });
}

#[test]
fn a_skipped_task_whose_capture_panics_on_drop_is_reported() {
    struct PanicOnDrop;
    impl Drop for PanicOnDrop {
        fn drop(&mut self) {
            if !thread::panicking() {
                panic!("boom on drop");
            }
        }
    }
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let payload = common::expect_panic(|| {
            pool.install(|| {
                taskgroup::scope(|s| {
                    let p = PanicOnDrop;
                    s.spawn(move |_| drop(p));
                    s.cancel();
                })
            })
        });
        common::assert_str_payload(&*payload, "boom on drop");
    });
}

/// A scope opened by unrelated work (here: an `install` from another
/// thread) that a worker happens to run while one of its tasks waits must
/// not inherit that task's scope's cancellation.
#[test]
fn unrelated_work_run_while_a_task_waits_is_not_cancelled() {
    watchdog(WATCHDOG_SECS, || {
        let p1 = pool(1);
        let p2 = pool(1);
        let (started_tx, started_rx) = mpsc::channel();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let (p1r, p2r) = (&p1, &p2);
        let (cancelled, ran) = p1.scope(|a| {
            a.spawn(move |_| {
                started_tx.send(()).unwrap();
                // p1's only worker now waits for p2, running p1's jobs meanwhile.
                p2r.install(move || release_rx.recv_timeout(PATIENCE).unwrap());
            });
            started_rx.recv_timeout(PATIENCE).expect("task started");
            a.cancel();
            // Unrelated work from another thread (work sent from this body
            // would run on its behalf and rightly inherit its cancellation):
            // it can only run on p1's only worker, which is inside a task of
            // the cancelled scope.
            let r = std::thread::scope(|ts| {
                ts.spawn(|| {
                    p1r.install(|| {
                        let ran = AtomicUsize::new(0);
                        let cancelled = taskgroup::scope(|b| {
                            b.spawn(|_| {
                                ran.fetch_add(1, Ordering::SeqCst);
                            });
                            b.is_cancelled()
                        });
                        (cancelled, ran.into_inner())
                    })
                })
                .join()
                .unwrap()
            });
            release_tx.send(()).unwrap();
            r
        });
        assert!(!cancelled, "an unrelated scope reports is_cancelled");
        assert_eq!(ran, 1, "an unrelated scope's task was skipped");
    });
}

/// A scope opened inside a `join` closure of a task is "opened inside the
/// task"; when a thief runs that closure, it must still see the task's
/// scope's cancellation.
#[test]
fn cancellation_reaches_a_scope_opened_in_a_stolen_join_closure() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (in_b_tx, in_b_rx) = mpsc::channel();
        let b_started = Gate::new();
        let saw = AtomicBool::new(false);
        pool.scope(|outer| {
            outer.spawn(|_| {
                taskgroup::join(
                    // Runs here and blocks until `b` has started, so `b`
                    // must have been stolen by the other worker.
                    || b_started.wait(),
                    || {
                        taskgroup::scope(|inner| {
                            b_started.open();
                            in_b_tx.send(()).unwrap();
                            let deadline = Instant::now() + Duration::from_secs(2);
                            while !inner.is_cancelled() && Instant::now() < deadline {
                                thread::sleep(Duration::from_millis(1));
                            }
                            saw.store(inner.is_cancelled(), Ordering::SeqCst);
                        });
                    },
                );
            });
            in_b_rx
                .recv_timeout(PATIENCE)
                .expect("join closure b started");
            outer.cancel();
        });
        assert!(
            saw.load(Ordering::SeqCst),
            "the scope opened inside the task's join never saw the cancellation"
        );
    });
}
