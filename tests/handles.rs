#![cfg(not(loom))]
//! `Scope::spawn_handle`, `TaskHandle` and `JoinError`.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;

use common::{
    assert_str_payload, assert_string_payload, expect_panic, payload_str, pool, wait_for, watchdog,
    DropCount, Gate, PATIENCE, WATCHDOG_SECS,
};
use taskgroup::{JoinError, TaskHandle};

#[test]
fn join_returns_the_value() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let text = String::from("borrowed");
        let (len, upper) = pool.scope(|s| {
            let a = s.spawn_handle(|_| text.len());
            let b = s.spawn_handle(|_| text.to_uppercase());
            (a.join().unwrap(), b.join().unwrap())
        });
        assert_eq!(len, 8);
        assert_eq!(upper, "BORROWED");
    });
}

#[test]
fn is_finished_before_and_after() {
    watchdog(WATCHDOG_SECS, || {
        // Body on the only worker: the task cannot start before the body ends.
        let pool = pool(1);
        let value = pool.install(|| {
            taskgroup::scope(|s| {
                let h = s.spawn_handle(|_| 7u32);
                assert!(!h.is_finished(), "the task cannot have run yet");
                h.join().unwrap()
            })
        });
        assert_eq!(value, 7);

        // Body outside the pool: the task is held by a gate, then finishes
        // without anyone joining it.
        let gate = Gate::new();
        pool.scope(|s| {
            let h = s.spawn_handle(|_| {
                gate.wait();
                "done"
            });
            assert!(!h.is_finished(), "the task waits for the gate");
            gate.open();
            wait_for(PATIENCE.as_secs(), "the task to finish", || h.is_finished());
            assert!(h.is_finished());
            assert_eq!(h.join().unwrap(), "done");
        });
    });
}

#[test]
fn join_from_inside_another_task() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(3);
        let result = AtomicUsize::new(0);
        pool.scope(|s| {
            let inner = s.spawn_handle(|_| 40usize);
            s.spawn(|s| {
                let extra = s.spawn_handle(|_| 2usize);
                let sum = inner.join().unwrap() + extra.join().unwrap();
                result.store(sum, Ordering::SeqCst);
            });
        });
        assert_eq!(result.load(Ordering::SeqCst), 42);
    });
}

#[test]
fn join_on_a_one_thread_pool_helps_run_work() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        // From the body on the only worker: join must run the task itself.
        let total = pool.install(|| {
            taskgroup::scope(|s| {
                let handles: Vec<_> = (1..=10u64).map(|i| s.spawn_handle(move |_| i)).collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        });
        assert_eq!(total, 55);

        // From a task, joining a task that is queued behind it, which itself
        // joins a task of its own: a chain of helping joins on one thread.
        let out = AtomicUsize::new(0);
        pool.install(|| {
            taskgroup::scope(|s| {
                let first = s.spawn_handle(|s| {
                    let deeper = s.spawn_handle(|_| 5usize);
                    deeper.join().unwrap() * 2
                });
                s.spawn(|_| out.store(first.join().unwrap() + 1, Ordering::SeqCst));
            })
        });
        assert_eq!(out.load(Ordering::SeqCst), 11);

        // Body outside the pool, on a one-thread pool: the worker runs the
        // task while the outside thread blocks in join.
        let v = pool.scope(|s| s.spawn_handle(|_| 99u8).join().unwrap());
        assert_eq!(v, 99);
    });
}

#[test]
fn join_from_outside_the_pool() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        assert_eq!(taskgroup::current_thread_index(), None);
        let (value, index) = pool.scope(|s| {
            let h = s.spawn_handle(|_| (6 * 7, taskgroup::current_thread_index()));
            // The body runs on this, external, thread.
            assert_eq!(taskgroup::current_thread_index(), None);
            h.join().unwrap()
        });
        assert_eq!(value, 42);
        assert!(index.unwrap() < 2, "the task ran on a worker of the pool");
    });
}

#[test]
fn join_in_a_plain_thread_spawned_by_the_body() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let v = pool.scope(|s| {
            let h = s.spawn_handle(|_| vec![1, 2, 3]);
            // A handle is Send: join it on some other, non-pool thread.
            thread::scope(|ts| ts.spawn(move || h.join().unwrap()).join().unwrap())
        });
        assert_eq!(v, vec![1, 2, 3]);
    });
}

#[test]
fn panic_payload_comes_back_through_join_and_is_not_reraised() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let after = AtomicUsize::new(0);
        let ret = pool.scope(|s| {
            // &'static str payload, inspected by reference.
            let line = line!() + 1;
            let h = s.spawn_handle(|_| -> u32 { panic!("boom: static") });
            let err = h.join().unwrap_err();
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert!(!err.is_failed());
            assert_eq!(
                (err.spawned_at().file(), err.spawned_at().line()),
                (file!(), line)
            );
            assert_eq!(
                err.to_string(),
                format!(
                    "task spawned at {} panicked: boom: static",
                    err.spawned_at()
                )
            );
            let payload = err.into_panic();
            assert_str_payload(&*payload, "boom: static");

            // String payload, through try_into_panic.
            let h = s.spawn_handle(|_| -> () {
                panic!("boom: {} {}", "formatted", std::hint::black_box(7))
            });
            let err = h.join().unwrap_err();
            assert_eq!(
                err.to_string(),
                format!(
                    "task spawned at {} panicked: boom: formatted 7",
                    err.spawned_at()
                )
            );
            assert!(format!("{err:?}").contains("boom: formatted 7"));
            let payload = err.try_into_panic().expect("a panic");
            assert_string_payload(&*payload, "boom: formatted 7");

            // A non-string payload keeps its type.
            let h = s.spawn_handle(|_| -> () { std::panic::panic_any(1234u64) });
            let err = h.join().unwrap_err();
            assert!(err.is_panic());
            assert_eq!(err.into_panic().downcast_ref::<u64>(), Some(&1234));

            s.spawn(|_| {
                after.fetch_add(1, Ordering::SeqCst);
            });
            "scope returns normally"
        });
        // No panic re-raised: the joins took them all.
        assert_eq!(ret, "scope returns normally");
        assert_eq!(after.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn panic_joined_from_a_task_is_not_reraised() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let seen = std::sync::Mutex::new(None);
        pool.install(|| {
            taskgroup::scope(|s| {
                let h = s.spawn_handle(|_| -> i32 { panic!("boom in sibling") });
                s.spawn(|_| {
                    let payload = h.join().unwrap_err().into_panic();
                    *seen.lock().unwrap() = payload_str(&*payload).map(str::to_owned);
                });
            })
        });
        assert_eq!(
            seen.into_inner().unwrap().as_deref(),
            Some("boom in sibling")
        );
    });
}

#[test]
fn dropped_handle_leaves_the_task_running() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let ran = AtomicUsize::new(0);
        // Install: the handle is dropped before the task can start.
        pool.install(|| {
            taskgroup::scope(|s| {
                let h = s.spawn_handle(|_| ran.fetch_add(1, Ordering::SeqCst));
                assert!(!h.is_finished());
                drop(h);
            })
        });
        assert_eq!(ran.load(Ordering::SeqCst), 1);

        // Outside the pool too, with many handles.
        let pool = common::pool(3);
        let ran = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..100 {
                let _ = s.spawn_handle(|_| ran.fetch_add(1, Ordering::SeqCst));
            }
        });
        assert_eq!(ran.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn dropped_handle_panic_is_reraised_by_the_scope() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let others = AtomicUsize::new(0);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                drop(s.spawn_handle(|_| -> u8 { panic!("boom: nobody joined me") }));
                for _ in 0..10 {
                    s.spawn(|_| {
                        others.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        });
        assert_str_payload(&*payload, "boom: nobody joined me");
        assert_eq!(others.load(Ordering::SeqCst), 10);

        // One panic joined, another dropped: only the dropped one comes out.
        let payload = expect_panic(|| {
            pool.install(|| {
                taskgroup::scope(|s| {
                    let joined = s.spawn_handle(|_| -> () { panic!("boom: joined") });
                    drop(s.spawn_handle(|_| -> () {
                        panic!("boom: dropped {}", std::hint::black_box(2))
                    }));
                    let err = joined.join().unwrap_err();
                    assert_str_payload(&*err.into_panic(), "boom: joined");
                })
            })
        });
        assert_string_payload(&*payload, "boom: dropped 2");

        // Pool is still usable.
        assert_eq!(pool.scope(|s| s.spawn_handle(|_| 3).join().unwrap()), 3);
    });
}

#[test]
fn handle_returned_out_of_the_scope() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let h: TaskHandle<'_, String> = pool.scope(|s| s.spawn_handle(|_| "escaped".to_owned()));
        // The scope joined the task before it returned.
        assert!(h.is_finished());
        assert_eq!(h.join().unwrap(), "escaped");

        // The same, with the scope body on the only worker.
        let one = common::pool(1);
        let hs: Vec<TaskHandle<'_, usize>> = one.install(|| {
            taskgroup::scope(|s| (0..5).map(|i| s.spawn_handle(move |_| i * i)).collect())
        });
        assert!(hs.iter().all(TaskHandle::is_finished));
        let squares: Vec<usize> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(squares, [0, 1, 4, 9, 16]);
    });
}

#[test]
fn a_thousand_handles_sum_exactly() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(4);
        let data: Vec<u64> = (1..=1000).collect();
        let total = pool.scope(|s| {
            let handles: Vec<_> = data
                .iter()
                .map(|&x| s.spawn_handle(move |_| x * x))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
        });
        assert_eq!(total, 1000 * 1001 * 2001 / 6);

        // And on a one-thread pool with the body on its worker.
        let one = common::pool(1);
        let total = one.install(|| {
            taskgroup::scope(|s| {
                let handles: Vec<_> = (1..=1000u64).map(|x| s.spawn_handle(move |_| x)).collect();
                handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
            })
        });
        assert_eq!(total, 500_500);
    });
}

#[test]
fn join_error_for_a_cancelled_task() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = AtomicUsize::new(0);
        let errors: Vec<JoinError> = pool.install(|| {
            taskgroup::scope(|s| {
                let handles: Vec<_> = (0..3)
                    .map(|_| {
                        let token = DropCount::new(&drops);
                        let ran = &ran;
                        s.spawn_handle(move |_| {
                            let _token = token;
                            ran.fetch_add(1, Ordering::SeqCst)
                        })
                    })
                    .collect();
                s.cancel();
                handles.into_iter().map(|h| h.join().unwrap_err()).collect()
            })
        });
        assert_eq!(ran.load(Ordering::SeqCst), 0);
        assert_eq!(drops.load(Ordering::SeqCst), 3);
        assert_eq!(errors.len(), 3);
        for err in errors {
            assert!(err.is_cancelled());
            assert!(!err.is_panic());
            assert!(!err.is_failed());
            let text = err.to_string();
            assert!(text.contains("cancelled"), "{text}");
            assert_eq!(
                text,
                format!(
                    "task spawned at {} was cancelled before it started",
                    err.spawned_at()
                )
            );
            assert!(format!("{err:?}").contains("cancelled"));
            // try_into_panic gives the error back unchanged.
            let back = err.try_into_panic().unwrap_err();
            assert!(back.is_cancelled());
        }
    });
}

#[test]
fn join_of_a_cancelled_handle_from_outside_the_pool_wakes() {
    watchdog(WATCHDOG_SECS, || {
        // Body outside the pool blocks in `join` while the only worker skips
        // the cancelled task: the skip must wake it.
        let pool = pool(1);
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        let err = pool.scope(|s| {
            s.spawn(|_| {
                started_tx.send(()).unwrap();
                gate.wait();
            });
            started_rx
                .recv_timeout(PATIENCE)
                .expect("first task started");
            // The worker is busy: this task is queued, not started.
            let h = s.spawn_handle(|_| 1);
            s.cancel();
            gate.open();
            h.join().unwrap_err()
        });
        assert!(err.is_cancelled());
    });
}

#[test]
fn into_panic_on_a_non_panic_error_names_the_rule() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let err = pool.install(|| {
            taskgroup::scope(|s| {
                let h = s.spawn_handle(|_| ());
                s.cancel();
                h.join().unwrap_err()
            })
        });
        assert!(err.is_cancelled());
        let payload = expect_panic(move || err.into_panic());
        let text = payload_str(&*payload).expect("a string message");
        assert!(text.contains("into_panic"), "{text}");
        assert!(text.contains("not a panic"), "{text}");
    });
}

/// A handle joined from a worker of another pool: the joiner keeps running
/// its own pool's jobs, so pools of one thread that call into each other
/// through a handle cannot deadlock.
#[test]
fn join_from_a_worker_of_another_pool_runs_that_pools_jobs() {
    watchdog(WATCHDOG_SECS, || {
        let a = pool(1);
        let b = pool(1);
        let value = a.install(|| {
            b.scope(|s| {
                // The task needs `a`'s only worker, which is the joiner.
                let h = s.spawn_handle(|_| a.install(|| 20) + 1);
                h.join().unwrap() * 2
            })
        });
        assert_eq!(value, 42);
    });
}
