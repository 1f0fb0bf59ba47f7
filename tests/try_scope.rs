#![cfg(not(loom))]
//! `try_scope` (pool method and free function) and `TryScope`.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_str_payload, assert_string_payload, expect_panic, pool, wait_for, watchdog, DropCount,
    Gate, PATIENCE, WATCHDOG_SECS,
};
use taskgroup::TryScope;

#[derive(Debug, PartialEq, Eq)]
struct Failure(u32);

#[test]
fn all_ok_returns_the_body_value() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let ran = AtomicUsize::new(0);
        let r: Result<&str, Failure> = pool.try_scope(|s| {
            for _ in 0..100 {
                s.spawn(|s| {
                    assert!(!s.is_cancelled());
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            Ok("all good")
        });
        assert_eq!(r, Ok("all good"));
        assert_eq!(ran.load(Ordering::SeqCst), 100);

        // The free function, on the global pool.
        let ran = AtomicUsize::new(0);
        let r: Result<u64, Failure> = taskgroup::try_scope(|s| {
            for _ in 0..10 {
                s.spawn(|_| {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            Ok(7)
        });
        assert_eq!(r, Ok(7));
        assert_eq!(ran.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn free_try_scope_uses_the_current_pool() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let indices = Mutex::new(Vec::new());
        let r: Result<(), Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                for _ in 0..5 {
                    s.spawn(|_| {
                        indices
                            .lock()
                            .unwrap()
                            .push(taskgroup::current_thread_index());
                        Ok(())
                    });
                }
                Ok(())
            })
        });
        assert_eq!(r, Ok(()));
        assert_eq!(indices.into_inner().unwrap(), vec![Some(0); 5]);
    });
}

#[test]
fn first_error_wins_and_cancels_the_rest() {
    watchdog(WATCHDOG_SECS, || {
        // On the only worker, the body ends before any task starts; then
        // tasks run one at a time, and the first one's error cancels all the
        // others, whatever the order.
        let pool = pool(1);
        let order = Mutex::new(Vec::new());
        let drops = Arc::new(AtomicUsize::new(0));
        let r: Result<(), Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                for id in 0..20u32 {
                    let token = DropCount::new(&drops);
                    let order = &order;
                    s.spawn(move |_| {
                        let _token = token;
                        order.lock().unwrap().push(id);
                        Err(Failure(id))
                    });
                }
                Ok(())
            })
        });
        let order = order.into_inner().unwrap();
        assert_eq!(order.len(), 1, "only the first task ran: {order:?}");
        assert_eq!(r, Err(Failure(order[0])));
        assert_eq!(drops.load(Ordering::SeqCst), 20);

        // The same through the pool method, from outside the pool.
        let ran = AtomicUsize::new(0);
        let r: Result<(), Failure> = pool.try_scope(|s| {
            s.spawn(|s| {
                ran.fetch_add(1, Ordering::SeqCst);
                for _ in 0..10 {
                    s.spawn(|_| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    });
                }
                Err(Failure(99))
            });
            Ok(())
        });
        assert_eq!(r, Err(Failure(99)));
        assert_eq!(
            ran.load(Ordering::SeqCst),
            1,
            "the tasks it spawned were skipped"
        );
    });
}

#[test]
fn first_error_in_time_wins() {
    watchdog(WATCHDOG_SECS, || {
        // A known order on one thread: the outer task joins an inner task
        // that fails first, then fails itself.
        let pool = pool(1);
        let r: Result<(), Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                s.spawn(|s| {
                    let inner = s.spawn_handle(|_| -> Result<(), Failure> { Err(Failure(1)) });
                    assert!(inner.join().unwrap_err().is_failed());
                    assert!(s.is_cancelled(), "the first error cancelled the scope");
                    Err(Failure(2))
                });
                Ok(())
            })
        });
        assert_eq!(r, Err(Failure(1)));
    });
}

/// An error that counts its drops.
#[derive(Debug)]
struct Counted {
    what: &'static str,
    _drops: DropCount,
}

#[test]
fn later_errors_are_dropped() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let r: Result<(), Counted> = pool.try_scope(|s| {
            let late = DropCount::new(&drops);
            s.spawn(move |s| {
                started_tx.send(()).unwrap();
                // Fails only once the other task has failed.
                wait_for(PATIENCE.as_secs(), "the first error", || s.is_cancelled());
                Err(Counted {
                    what: "second",
                    _drops: late,
                })
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("slow task started");
            let first = DropCount::new(&drops);
            s.spawn(move |_| {
                Err(Counted {
                    what: "first",
                    _drops: first,
                })
            });
            Ok(())
        });
        let err = r.unwrap_err();
        assert_eq!(err.what, "first");
        // The second error was dropped by the scope; the first is alive.
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        drop(err);
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn error_from_the_body_is_the_result() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let r: Result<u32, String> = pool.try_scope(|s| {
            for _ in 0..5 {
                let token = DropCount::new(&drops);
                s.spawn(move |_| {
                    let _token = token;
                    Ok(())
                });
            }
            Err("body failed".to_owned())
        });
        assert_eq!(r, Err("body failed".to_owned()));
        // Whether they ran or not, every capture was dropped exactly once.
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn error_from_the_body_cancels_the_tasks() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let drops = Arc::new(AtomicUsize::new(0));
        let r: Result<u32, String> = pool.install(|| {
            taskgroup::try_scope(|s| {
                for _ in 0..5 {
                    let token = DropCount::new(&drops);
                    let ran = &ran;
                    s.spawn(move |_| {
                        let _token = token;
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok(())
                    });
                }
                Err("body failed".to_owned())
            })
        });
        assert_eq!(r, Err("body failed".to_owned()));
        // The body's error cancels the scope before any task can start (the
        // body runs on the only worker).
        assert_eq!(
            ran.load(Ordering::SeqCst),
            0,
            "tasks ran after the body failed"
        );
        assert_eq!(drops.load(Ordering::SeqCst), 5);
    });
}

#[test]
fn body_error_first_in_time_wins_over_a_later_task_error() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        // Body on the only worker: its error comes before any task runs.
        let r: Result<(), &str> = pool.install(|| {
            taskgroup::try_scope(|s| {
                s.spawn(|_| Err("task"));
                Err("body")
            })
        });
        assert_eq!(r, Err("body"));
    });
}

#[test]
fn running_tasks_see_the_body_error_as_cancellation() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let saw = AtomicBool::new(false);
        let r: Result<(), &str> = pool.try_scope(|s| {
            s.spawn(|s| {
                started_tx.send(()).unwrap();
                // Bounded: reports instead of hanging.
                let deadline = Instant::now() + Duration::from_secs(2);
                while !s.is_cancelled() && Instant::now() < deadline {
                    thread::sleep(Duration::from_millis(1));
                }
                saw.store(s.is_cancelled(), Ordering::SeqCst);
                Ok(())
            });
            started_rx.recv_timeout(PATIENCE).expect("task started");
            Err("body")
        });
        assert_eq!(r, Err("body"));
        assert!(
            saw.load(Ordering::SeqCst),
            "the running task never saw the body's error"
        );
    });
}

#[test]
fn task_error_before_the_body_error_wins() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let r: Result<(), &str> = pool.try_scope(|s| {
            s.spawn(|_| Err("task"));
            wait_for(PATIENCE.as_secs(), "the task's error", || s.is_cancelled());
            Err("body")
        });
        assert_eq!(r, Err("task"));
    });
}

#[test]
fn running_tasks_see_the_error_as_cancellation() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let (started_tx, started_rx) = mpsc::channel();
        let saw = AtomicUsize::new(0);
        let r: Result<(), Failure> = pool.try_scope(|s| {
            for _ in 0..2 {
                let started_tx = started_tx.clone();
                let saw = &saw;
                s.spawn(move |s| {
                    started_tx.send(()).unwrap();
                    wait_for(PATIENCE.as_secs(), "cancellation by an error", || {
                        s.is_cancelled()
                    });
                    saw.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                });
            }
            for _ in 0..2 {
                started_rx.recv_timeout(PATIENCE).expect("task started");
            }
            s.spawn(|_| Err(Failure(3)));
            Ok(())
        });
        assert_eq!(r, Err(Failure(3)));
        assert_eq!(saw.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn try_scope_on_a_one_thread_pool() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        // From outside the pool, nesting try-scopes inside tasks.
        let total = AtomicUsize::new(0);
        let r: Result<usize, Failure> = pool.try_scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    taskgroup::try_scope(|inner: &TryScope<'_, Failure>| {
                        for _ in 0..4 {
                            inner.spawn(|_| {
                                total.fetch_add(1, Ordering::SeqCst);
                                Ok(())
                            });
                        }
                        Ok(())
                    })
                });
            }
            Ok(4)
        });
        assert_eq!(r, Ok(4));
        assert_eq!(total.load(Ordering::SeqCst), 16);

        // A nested error propagates with `?` and cancels the outer scope.
        let r: Result<(), Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                s.spawn(|_| {
                    taskgroup::try_scope(|inner| {
                        inner.spawn(|_| Err(Failure(42)));
                        Ok(())
                    })?;
                    unreachable!("the nested try-scope failed")
                });
                Ok(())
            })
        });
        assert_eq!(r, Err(Failure(42)));
    });
}

#[test]
fn task_panic_is_reraised_even_after_an_error() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        let payload = expect_panic(|| {
            let _: Result<(), Failure> = pool.try_scope(|s| {
                s.spawn(|_| {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    panic!("boom: after the error")
                });
                started_rx.recv_timeout(PATIENCE).expect("task started");
                s.spawn(|_| Err(Failure(5)));
                wait_for(PATIENCE.as_secs(), "the error", || s.is_cancelled());
                gate.open();
                Ok(())
            });
        });
        assert_str_payload(&*payload, "boom: after the error");
    });
}

#[test]
fn body_panic_is_reraised_after_an_error() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let task_done = AtomicBool::new(false);
        let payload = expect_panic(|| {
            let _: Result<(), Failure> = pool.try_scope(|s| {
                s.spawn(|_| {
                    task_done.store(true, Ordering::SeqCst);
                    Err(Failure(1))
                });
                wait_for(PATIENCE.as_secs(), "the error", || s.is_cancelled());
                panic!("boom: body {}", std::hint::black_box(2))
            });
        });
        assert_string_payload(&*payload, "boom: body 2");
        assert!(task_done.load(Ordering::SeqCst));

        // And a task panic on a one-thread pool, with an error from a task
        // spawned by the panicking one (siblings keep running after a panic).
        let one = common::pool(1);
        let payload = expect_panic(|| {
            let _: Result<(), Failure> = one.install(|| {
                taskgroup::try_scope(|s| {
                    s.spawn(|s| {
                        s.spawn(|_| Err(Failure(8)));
                        panic!("boom: first")
                    });
                    Ok(())
                })
            });
        });
        assert_str_payload(&*payload, "boom: first");
    });
}

#[test]
fn spawn_handle_ok_err_and_panic() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let r: Result<u32, Failure> = pool.try_scope(|s| {
            let a = s.spawn_handle(|_| Ok(20));
            let b = s.spawn_handle(|_| Ok(22));
            Ok(a.join().unwrap() + b.join().unwrap())
        });
        assert_eq!(r, Ok(42));

        let r: Result<&str, Failure> = pool.try_scope(|s| {
            let h = s.spawn_handle(|_| -> Result<u32, Failure> { Err(Failure(13)) });
            let err = h.join().unwrap_err();
            assert!(err.is_failed());
            assert!(!err.is_panic());
            assert!(!err.is_cancelled());
            assert_eq!(
                err.to_string(),
                format!(
                    "task spawned at {} failed; its error is the scope's result",
                    err.spawned_at()
                )
            );
            assert!(err.try_into_panic().unwrap_err().is_failed());
            assert!(s.is_cancelled());
            Ok("body value is replaced by the error")
        });
        assert_eq!(r, Err(Failure(13)));

        // A panic through a try-scope handle is consumed by join.
        let r: Result<(), Failure> = pool.try_scope(|s| {
            let h = s.spawn_handle(|_| -> Result<(), Failure> { panic!("boom: try handle") });
            assert_str_payload(&*h.join().unwrap_err().into_panic(), "boom: try handle");
            Ok(())
        });
        assert_eq!(r, Ok(()));

        // A dropped try-scope handle's panic is re-raised.
        let payload = expect_panic(|| {
            let _: Result<(), Failure> = pool.try_scope(|s| {
                drop(s.spawn_handle(|_| -> Result<(), Failure> { panic!("boom: dropped") }));
                Ok(())
            });
        });
        assert_str_payload(&*payload, "boom: dropped");
    });
}

#[test]
fn handles_of_tasks_skipped_by_an_error_are_cancelled() {
    watchdog(WATCHDOG_SECS, || {
        // One thread, body on the worker: whichever task runs first fails,
        // and all the others are skipped.
        let pool = pool(1);
        let ran = Mutex::new(Vec::new());
        let (r, failed, cancelled) = pool.install(|| {
            let mut failed = 0;
            let mut cancelled = 0;
            let r: Result<(), Failure> = taskgroup::try_scope(|s| {
                let hs: Vec<_> = (0..5u32)
                    .map(|i| {
                        let ran = &ran;
                        s.spawn_handle(move |_| -> Result<u32, Failure> {
                            ran.lock().unwrap().push(i);
                            Err(Failure(i))
                        })
                    })
                    .collect();
                for h in hs {
                    let err = h.join().unwrap_err();
                    assert!(!err.is_panic());
                    failed += usize::from(err.is_failed());
                    cancelled += usize::from(err.is_cancelled());
                }
                Ok(())
            });
            (r, failed, cancelled)
        });
        let ran = ran.into_inner().unwrap();
        assert_eq!(ran.len(), 1, "{ran:?}");
        assert_eq!(r, Err(Failure(ran[0])));
        assert_eq!((failed, cancelled), (1, 4));

        // Cancelled explicitly, then the body fails.
        let r: Result<(), Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                let hs: Vec<_> = (0..3).map(|i| s.spawn_handle(move |_| Ok(i))).collect();
                s.cancel();
                for h in hs {
                    assert!(h.join().unwrap_err().is_cancelled());
                }
                Err(Failure(6))
            })
        });
        assert_eq!(r, Err(Failure(6)));
    });
}

#[test]
fn try_scope_cancel_leaves_the_result_ok() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let drops = Arc::new(AtomicUsize::new(0));
        let r: Result<&str, Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                for _ in 0..10 {
                    let token = DropCount::new(&drops);
                    let ran = &ran;
                    s.spawn(move |_| {
                        let _token = token;
                        ran.fetch_add(1, Ordering::SeqCst);
                        Err(Failure(1))
                    });
                }
                assert!(!s.is_cancelled());
                s.cancel();
                assert!(s.is_cancelled());
                Ok("cancelled, not failed")
            })
        });
        assert_eq!(r, Ok("cancelled, not failed"));
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 10);

        // Cancel from inside a task: still Ok.
        let ran = AtomicUsize::new(0);
        let r: Result<(), Failure> = pool.install(|| {
            taskgroup::try_scope(|s| {
                for _ in 0..10 {
                    s.spawn(|s| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        s.cancel();
                        Ok(())
                    });
                }
                Ok(())
            })
        });
        assert_eq!(r, Ok(()));
        assert_eq!(ran.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn try_scope_cancellation_reaches_a_nested_scope() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let saw = AtomicBool::new(false);
        let r: Result<(), Failure> = pool.try_scope(|s| {
            s.spawn(|_| {
                taskgroup::scope(|inner| {
                    started_tx.send(()).unwrap();
                    wait_for(
                        PATIENCE.as_secs(),
                        "the error to reach the nested scope",
                        || inner.is_cancelled(),
                    );
                    saw.store(true, Ordering::SeqCst);
                });
                Ok(())
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("nested body started");
            s.spawn(|_| Err(Failure(77)));
            Ok(())
        });
        assert_eq!(r, Err(Failure(77)));
        assert!(saw.load(Ordering::SeqCst));
    });
}
