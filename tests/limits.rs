#![cfg(not(loom))]
//! `ScopeBuilder`: deadlines (`deadline`, `timeout`, `DeadlineExceeded`) and
//! concurrency limits (`max_concurrency`).

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    assert_str_payload, expect_panic, payload_str, pool, wait_for, watchdog, Concurrency,
    DropCount, Gate, PATIENCE, WATCHDOG_SECS,
};
use taskgroup::{DeadlineExceeded, Scope};

// ---------------------------------------------------------------- deadlines

#[test]
fn deadline_in_the_past_skips_every_task() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let drops = Arc::new(AtomicUsize::new(0));
        let r = pool.scope_builder().deadline(Instant::now()).scope(|s| {
            for _ in 0..10 {
                let token = DropCount::new(&drops);
                let ran = &ran;
                s.spawn(move |_| {
                    let _token = token;
                    ran.fetch_add(1, Ordering::SeqCst);
                });
            }
            assert!(s.is_cancelled(), "a passed deadline counts as cancelled");
            "body value"
        });
        let err = r.unwrap_err();
        assert_eq!(err.skipped(), 10);
        let text = err.to_string();
        assert!(text.contains("deadline"), "{text}");
        assert!(text.contains("10 never started"), "{text}");
        assert!(format!("{err:?}").contains("skipped: 10"));
        assert_eq!(err.into_inner(), "body value");
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn deadline_in_the_past_through_the_free_builder() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let r = pool.install(|| {
            taskgroup::scope_builder()
                .deadline(Instant::now())
                .scope(|s| {
                    for _ in 0..3 {
                        s.spawn(|s| {
                            ran.fetch_add(1, Ordering::SeqCst);
                            s.spawn(|_| unreachable!());
                        });
                    }
                    5u8
                })
        });
        let err = r.unwrap_err();
        assert_eq!(err.skipped(), 3);
        assert_eq!(err.into_inner(), 5);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn deadline_reaches_a_nested_scope() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let nested_ran = AtomicUsize::new(0);
        let r = pool.scope_builder().deadline(Instant::now()).scope(|_| {
            // A scope opened in the body of a timed-out scope counts as
            // cancelled too.
            taskgroup::scope(|inner| {
                for _ in 0..4 {
                    inner.spawn(|_| {
                        nested_ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
                inner.is_cancelled()
            })
        });
        let err = r.unwrap_err();
        assert_eq!(
            err.skipped(),
            0,
            "the skipped tasks belong to the nested scope"
        );
        assert!(
            err.into_inner(),
            "the nested scope saw the parent's deadline"
        );
        assert_eq!(nested_ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn generous_timeout_returns_ok() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let ran = AtomicUsize::new(0);
        let r = pool
            .scope_builder()
            .timeout(Duration::from_secs(10))
            .scope(|s| {
                for _ in 0..100 {
                    s.spawn(|s| {
                        assert!(!s.is_cancelled());
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
                "in time"
            });
        assert_eq!(r.unwrap(), "in time");
        assert_eq!(ran.load(Ordering::SeqCst), 100);

        // A timeout too large to represent means no deadline.
        let r = pool.scope_builder().timeout(Duration::MAX).scope(|s| {
            s.spawn(|_| {
                ran.fetch_add(1, Ordering::SeqCst);
            });
            1
        });
        assert_eq!(r.unwrap(), 1);
        assert_eq!(ran.load(Ordering::SeqCst), 101);
    });
}

#[test]
fn short_timeout_cancels_looping_tasks() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let timeout = Duration::from_millis(100);
        let (started_tx, started_rx) = mpsc::channel();
        let saw = AtomicUsize::new(0);
        let t0 = Instant::now();
        let r = pool.scope_builder().timeout(timeout).scope(|s| {
            for _ in 0..2 {
                let started_tx = started_tx.clone();
                let saw = &saw;
                s.spawn(move |s| {
                    started_tx.send(()).unwrap();
                    while !s.is_cancelled() {
                        thread::sleep(Duration::from_millis(1));
                    }
                    saw.fetch_add(1, Ordering::SeqCst);
                });
            }
            for _ in 0..2 {
                started_rx
                    .recv_timeout(PATIENCE)
                    .expect("both tasks started before the deadline");
            }
            "late"
        });
        let elapsed = t0.elapsed();
        let err = r.unwrap_err();
        assert_eq!(err.skipped(), 0);
        assert_eq!(err.into_inner(), "late");
        assert_eq!(saw.load(Ordering::SeqCst), 2, "both tasks saw the deadline");
        assert!(elapsed >= timeout, "the deadline was hit: {elapsed:?}");
    });
}

#[test]
fn deadline_passing_during_the_body_is_reported() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let timeout = Duration::from_millis(30);
        let r = pool.scope_builder().timeout(timeout).scope(|s| {
            assert!(!s.is_cancelled());
            thread::sleep(timeout + Duration::from_millis(5));
            assert!(s.is_cancelled());
            s.spawn(|_| unreachable!("spawned after the deadline"));
            9
        });
        let err = r.unwrap_err();
        assert_eq!(err.skipped(), 1);
        assert_eq!(err.into_inner(), 9);
    });
}

#[test]
fn handles_skipped_by_a_deadline_are_cancelled() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let r = pool.scope_builder().deadline(Instant::now()).scope(|s| {
            let hs: Vec<_> = (0..4).map(|i| s.spawn_handle(move |_| i)).collect();
            hs.into_iter()
                .map(|h| {
                    let err = h.join().unwrap_err();
                    assert!(!err.is_panic());
                    err.is_cancelled()
                })
                .collect::<Vec<_>>()
        });
        let err = r.unwrap_err();
        assert_eq!(err.skipped(), 4);
        assert_eq!(err.into_inner(), vec![true; 4]);
    });
}

#[test]
fn explicit_cancel_before_the_deadline_is_not_a_timeout() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        let r = pool.install(|| {
            taskgroup::scope_builder()
                .timeout(Duration::from_secs(10))
                .scope(|s| {
                    s.spawn(|_| {
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                    s.cancel();
                    3
                })
        });
        assert_eq!(r.unwrap(), 3);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn deadline_skips_tasks_waiting_in_the_limit_queue() {
    watchdog(WATCHDOG_SECS, || {
        // Limit 1 and tasks of at least 20 ms: task k cannot start before
        // 20*k ms, so with a 50 ms deadline at most tasks 0, 1 and 2 run.
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let r = pool
            .scope_builder()
            .timeout(Duration::from_millis(50))
            .max_concurrency(1)
            .scope(|s| {
                for _ in 0..10 {
                    s.spawn(|_| {
                        ran.fetch_add(1, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(20));
                    });
                }
            });
        let err = r.unwrap_err();
        let ran = ran.load(Ordering::SeqCst);
        assert_eq!(ran + err.skipped(), 10);
        assert!(ran <= 3, "{ran} tasks ran");
    });
}

#[derive(Debug, PartialEq, Eq)]
enum JobError {
    Task(u32),
    TimedOut { skipped: usize },
}

impl From<DeadlineExceeded> for JobError {
    fn from(e: DeadlineExceeded) -> Self {
        JobError::TimedOut {
            skipped: e.skipped(),
        }
    }
}

#[test]
fn try_scope_with_a_passed_deadline_converts_the_error() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let r: Result<u32, JobError> =
            pool.scope_builder()
                .deadline(Instant::now())
                .try_scope(|s| {
                    for _ in 0..3 {
                        s.spawn(|_| {
                            ran.fetch_add(1, Ordering::SeqCst);
                            Ok(())
                        });
                    }
                    Ok(1)
                });
        assert_eq!(r, Err(JobError::TimedOut { skipped: 3 }));
        assert_eq!(ran.load(Ordering::SeqCst), 0);

        // The body's own error takes precedence over the deadline.
        let r: Result<u32, JobError> =
            pool.scope_builder()
                .deadline(Instant::now())
                .try_scope(|s| {
                    s.spawn(|_| Ok(()));
                    Err(JobError::Task(9))
                });
        assert_eq!(r, Err(JobError::Task(9)));

        // In time: Ok.
        let r: Result<u32, JobError> = pool
            .scope_builder()
            .timeout(Duration::from_secs(10))
            .try_scope(|s| {
                let h = s.spawn_handle(|_| Ok(41));
                Ok(h.join().unwrap() + 1)
            });
        assert_eq!(r, Ok(42));
    });
}

#[test]
fn task_error_takes_precedence_over_the_deadline() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let t0 = Instant::now();
        let timeout = Duration::from_millis(100);
        let r: Result<(), JobError> = pool.scope_builder().timeout(timeout).try_scope(|s| {
            s.spawn(move |s| {
                started_tx.send(()).unwrap();
                // Fails only after the deadline has passed.
                wait_for(PATIENCE.as_secs(), "the deadline", || s.is_cancelled());
                Err(JobError::Task(1))
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("task started before the deadline");
            Ok(())
        });
        assert!(t0.elapsed() >= timeout);
        assert_eq!(r, Err(JobError::Task(1)));
    });
}

// ------------------------------------------------------ concurrency limits

fn sleepy(conc: &Concurrency) {
    conc.run(|| thread::sleep(Duration::from_millis(2)));
}

#[test]
fn max_concurrency_one_serialises_tasks() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let conc = Concurrency::new();
        let r = pool.scope_builder().max_concurrency(1).scope(|s| {
            for _ in 0..20 {
                s.spawn(|_| sleepy(&conc));
            }
            "serial"
        });
        assert_eq!(r.unwrap(), "serial");
        assert_eq!(conc.total(), 20);
        assert_eq!(conc.max(), 1);

        // Tasks spawned by tasks are limited too.
        let conc = Concurrency::new();
        pool.scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                for _ in 0..5 {
                    s.spawn(|s| {
                        sleepy(&conc);
                        for _ in 0..3 {
                            s.spawn(|_| sleepy(&conc));
                        }
                    });
                }
            })
            .unwrap();
        assert_eq!(conc.total(), 20);
        assert_eq!(conc.max(), 1);
    });
}

#[test]
fn max_concurrency_two_is_never_exceeded() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(4);
        let conc = Concurrency::new();
        pool.scope_builder()
            .max_concurrency(2)
            .scope(|s| {
                for _ in 0..40 {
                    s.spawn(|_| sleepy(&conc));
                }
            })
            .unwrap();
        assert_eq!(conc.total(), 40);
        assert!(conc.max() <= 2, "max concurrency was {}", conc.max());
        assert!(conc.max() >= 1);

        // Through try_scope as well, with handles.
        let conc = Concurrency::new();
        let r: Result<usize, JobError> = pool.scope_builder().max_concurrency(2).try_scope(|s| {
            let hs: Vec<_> = (0..20usize)
                .map(|i| {
                    let conc = &conc;
                    s.spawn_handle(move |_| {
                        sleepy(conc);
                        Ok(i)
                    })
                })
                .collect();
            Ok(hs.into_iter().map(|h| h.join().unwrap()).sum())
        });
        assert_eq!(r, Ok(190));
        assert_eq!(conc.total(), 20);
        assert!(conc.max() <= 2, "max concurrency was {}", conc.max());
    });
}

fn chain<'s>(s: &Scope<'s>, depth: usize, count: &'s AtomicUsize) {
    count.fetch_add(1, Ordering::SeqCst);
    if depth > 1 {
        s.spawn(move |s| chain(s, depth - 1, count));
    }
}

#[test]
fn task_spawning_into_its_own_limited_scope_does_not_deadlock() {
    watchdog(WATCHDOG_SECS, || {
        let count = AtomicUsize::new(0);
        let pool3 = pool(3);
        pool3
            .scope_builder()
            .max_concurrency(1)
            .scope(|s| s.spawn(|s| chain(s, 50, &count)))
            .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 50);

        // On a one-thread pool, with the body on its only worker.
        let one = pool(1);
        let count = AtomicUsize::new(0);
        one.install(|| {
            taskgroup::scope_builder()
                .max_concurrency(1)
                .scope(|s| {
                    for _ in 0..3 {
                        s.spawn(|s| chain(s, 50, &count));
                    }
                })
                .unwrap()
        });
        assert_eq!(count.load(Ordering::SeqCst), 150);
    });
}

#[test]
fn spawning_many_tasks_into_a_limit_one_scope_does_not_block() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let gate = Gate::new();
        let count = AtomicUsize::new(0);
        pool.scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                // The first task holds the only slot until every spawn has
                // returned: a blocking spawn would never get there.
                for _ in 0..10_000 {
                    s.spawn(|_| {
                        gate.wait();
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
                assert!(count.load(Ordering::SeqCst) == 0);
                gate.open();
            })
            .unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 10_000);
    });
}

#[test]
fn max_concurrency_zero_panics_naming_the_rule() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let payload = expect_panic(|| pool.scope_builder().max_concurrency(0));
        let text = payload_str(&*payload).expect("a string message");
        assert!(text.contains("max_concurrency"), "{text}");
        assert!(text.contains("at least 1"), "{text}");

        let payload = expect_panic(|| taskgroup::scope_builder().max_concurrency(0));
        let text = payload_str(&*payload).expect("a string message");
        assert!(text.contains("max_concurrency"), "{text}");
    });
}

#[test]
fn cancel_skips_tasks_waiting_in_the_limit_queue() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        let ran = AtomicUsize::new(0);
        let drops = Arc::new(AtomicUsize::new(0));
        let cancelled = pool
            .scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                let token = DropCount::new(&drops);
                s.spawn(|_| {
                    let _token = token;
                    started_tx.send(()).unwrap();
                    ran.fetch_add(1, Ordering::SeqCst);
                    gate.wait();
                });
                started_rx
                    .recv_timeout(PATIENCE)
                    .expect("first task started");
                let hs: Vec<_> = (0..4)
                    .map(|_| {
                        let token = DropCount::new(&drops);
                        let ran = &ran;
                        s.spawn_handle(move |_| {
                            let _token = token;
                            ran.fetch_add(1, Ordering::SeqCst);
                        })
                    })
                    .collect();
                for _ in 0..5 {
                    let token = DropCount::new(&drops);
                    let ran = &ran;
                    s.spawn(move |_| {
                        let _token = token;
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
                // Everything but the first task waits in the scope's queue.
                assert!(hs.iter().all(|h| !h.is_finished()));
                s.cancel();
                gate.open();
                hs.into_iter()
                    .map(|h| h.join().unwrap_err().is_cancelled())
                    .filter(|&c| c)
                    .count()
            })
            .unwrap();
        assert_eq!(cancelled, 4);
        assert_eq!(ran.load(Ordering::SeqCst), 1);
        assert_eq!(drops.load(Ordering::SeqCst), 10);
    });
}

#[test]
fn limit_with_a_passed_deadline_skips_everything() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let r = pool
            .scope_builder()
            .max_concurrency(1)
            .deadline(Instant::now())
            .scope(|s| {
                for _ in 0..25 {
                    s.spawn(|_| {
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        assert_eq!(r.unwrap_err().skipped(), 25);
        assert_eq!(ran.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn limit_survives_panicking_tasks() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let conc = Concurrency::new();
        let payload = expect_panic(|| {
            pool.scope_builder().max_concurrency(1).scope(|s| {
                for i in 0..10 {
                    let conc = &conc;
                    s.spawn(move |_| {
                        conc.run(|| {
                            if i == 3 {
                                panic!("boom: limited task");
                            }
                        })
                    });
                }
            })
        });
        assert_str_payload(&*payload, "boom: limited task");
        // The panicking task gave its slot back: the others all ran.
        assert_eq!(conc.total(), 9);
        assert_eq!(conc.max(), 1);
    });
}

#[test]
fn limited_try_scope_error_skips_the_queued_tasks() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let order = Mutex::new(Vec::new());
        let r: Result<(), JobError> = pool.scope_builder().max_concurrency(1).try_scope(|s| {
            for i in 0..10u32 {
                let order = &order;
                s.spawn(move |_| {
                    order.lock().unwrap().push(i);
                    Err(JobError::Task(i))
                });
            }
            Ok(())
        });
        let order = order.into_inner().unwrap();
        assert_eq!(order.len(), 1, "{order:?}");
        assert_eq!(r, Err(JobError::Task(order[0])));
    });
}

#[test]
fn nested_limited_scopes_do_not_deadlock() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let outer = Concurrency::new();
        let leaves = AtomicUsize::new(0);
        let inner_max = AtomicUsize::new(0);
        pool.scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                for _ in 0..5 {
                    s.spawn(|_| {
                        outer.run(|| {
                            let inner = Concurrency::new();
                            taskgroup::scope_builder()
                                .max_concurrency(1)
                                .scope(|s| {
                                    for _ in 0..5 {
                                        s.spawn(|_| {
                                            inner.run(|| leaves.fetch_add(1, Ordering::SeqCst));
                                        });
                                    }
                                })
                                .unwrap();
                            inner_max.fetch_max(inner.max(), Ordering::SeqCst);
                        })
                    });
                }
            })
            .unwrap();
        assert_eq!(leaves.load(Ordering::SeqCst), 25);
        assert_eq!(outer.max(), 1);
        assert_eq!(inner_max.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn limited_scope_joins_from_the_body_on_one_thread() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let seen = AtomicBool::new(false);
        let total = pool.install(|| {
            taskgroup::scope_builder()
                .max_concurrency(1)
                .scope(|s| {
                    let hs: Vec<_> = (1..=100u64).map(|i| s.spawn_handle(move |_| i)).collect();
                    s.spawn(|_| seen.store(true, Ordering::SeqCst));
                    hs.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
                })
                .unwrap()
        });
        assert_eq!(total, 5050);
        assert!(seen.load(Ordering::SeqCst));
    });
}

/// A task of a limited scope that joins a sibling queued behind it: the
/// joiner holds the only slot while it waits, so the sibling never starts.
/// `TaskHandle::join` is documented as running other work while it waits
/// ("safe even on a pool of one thread"), and `max_concurrency` as never
/// deadlocking a task that spawns into its own scope.
#[test]
fn task_joining_a_sibling_in_a_limit_one_scope_does_not_hang() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let r = pool.scope_builder().max_concurrency(1).scope(|s| {
            let h = s.spawn_handle(|s| {
                let sibling = s.spawn_handle(|_| 21);
                sibling.join().unwrap() * 2
            });
            h.join().unwrap()
        });
        assert_eq!(r.unwrap(), 42);
    });
}
