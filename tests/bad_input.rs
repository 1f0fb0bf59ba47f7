//! The bad-input table: every misuse and hostile input we know of, each
//! checked for a clear error or panic message, no abort, no hang, and no
//! lost task. (Zero threads, a refused stack size, a panicking thread-name
//! closure, panicking handlers and `build_global` after first use are in
//! tests/pool.rs; `build`'s other failure paths and tiny stacks in
//! tests/regressions_build.rs; `TASKGROUP_NUM_THREADS` in
//! tests/regressions_env.rs; guard-count overflow is a unit test in
//! src/waitgroup/tests.rs, since it needs `u32::MAX` live guards.)
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::time::Duration;

use common::{
    expect_panic, payload_str, quiet_expected_panics, wait_for, watchdog, Gate, PATIENCE,
};
use taskgroup::ThreadPool;

fn pool(n: usize) -> ThreadPool {
    ThreadPool::builder().num_threads(n).build().unwrap()
}

/// Panics when dropped, and counts the drop first.
struct PanicsOnDrop(Arc<AtomicUsize>);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom: dropped");
    }
}

/// A panic payload whose own `Drop` panics.
struct HostilePayload(Arc<AtomicUsize>);

impl Drop for HostilePayload {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom: payload dropped");
    }
}

#[test]
fn capture_that_panics_on_drop_after_running_is_the_tasks_panic() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let ran = AtomicUsize::new(0);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let capture = PanicsOnDrop(Arc::clone(&drops));
                s.spawn(|_| {
                    let _keep = capture;
                    ran.fetch_add(1, Ordering::SeqCst);
                });
                for _ in 0..10 {
                    s.spawn(|_| {
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
            })
        });
        assert_eq!(payload_str(&*payload), Some("boom: dropped"));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(ran.load(Ordering::SeqCst), 11, "no task is lost");
        // The pool is still whole.
        assert_eq!(pool.install(|| 5), 5);
    });
}

#[test]
fn capture_that_panics_on_drop_when_cancelled_is_caught() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        let drops = Arc::new(AtomicUsize::new(0));
        let payload = expect_panic(|| {
            // On the only worker, no task starts before the body ends.
            pool.install(|| {
                taskgroup::scope(|s| {
                    for _ in 0..3 {
                        let capture = PanicsOnDrop(Arc::clone(&drops));
                        s.spawn(move |_| drop(capture));
                    }
                    s.cancel();
                })
            })
        });
        assert_eq!(payload_str(&*payload), Some("boom: dropped"));
        assert_eq!(
            drops.load(Ordering::SeqCst),
            3,
            "every capture dropped once"
        );
        assert_eq!(pool.install(|| 6), 6);
    });
}

#[test]
fn detached_capture_that_panics_on_drop_reaches_the_handler() {
    quiet_expected_panics();
    watchdog(20, || {
        let (tx, rx) = mpsc::channel();
        let pool = ThreadPool::builder()
            .num_threads(1)
            .panic_handler(move |payload| {
                tx.send(payload_str(&*payload).map(str::to_owned)).unwrap();
            })
            .build()
            .unwrap();
        let drops = Arc::new(AtomicUsize::new(0));
        let capture = PanicsOnDrop(Arc::clone(&drops));
        pool.spawn(move || drop(capture));
        assert_eq!(rx.recv().unwrap().as_deref(), Some("boom: dropped"));
        assert_eq!(pool.install(|| 7), 7, "the worker lives on");
    });
}

#[test]
fn a_payload_that_panics_on_drop_does_not_kill_a_worker() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        let drops = Arc::new(AtomicUsize::new(0));
        // Two panicking tasks: only the first payload is kept, the second is
        // dropped inside the pool, and its drop panics.
        let payload = expect_panic(|| {
            pool.scope(|s| {
                for _ in 0..2 {
                    let drops = Arc::clone(&drops);
                    s.spawn(move |_| std::panic::panic_any(HostilePayload(drops)));
                }
            })
        });
        assert!(payload.is::<HostilePayload>());
        assert_eq!(
            drops.load(Ordering::SeqCst),
            1,
            "the second payload was dropped"
        );
        let again = expect_panic(move || drop(payload));
        assert_eq!(payload_str(&*again), Some("boom: payload dropped"));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        // A detached task with such a payload and no handler: reported, and
        // the pool's only worker survives.
        let drops2 = Arc::clone(&drops);
        pool.spawn(move || std::panic::panic_any(HostilePayload(drops2)));
        wait_for(10, "the detached task's payload to be dropped", || {
            drops.load(Ordering::SeqCst) == 3
        });
        assert_eq!(pool.install(|| 8), 8);
    });
}

#[test]
fn a_task_spawning_into_its_scope_after_the_body_returned_is_joined() {
    watchdog(20, || {
        let pool = pool(2);
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            s.spawn(|s| {
                // The body has long returned by now; the scope is still open
                // because this task holds it.
                std::thread::sleep(std::time::Duration::from_millis(20));
                for _ in 0..100 {
                    s.spawn(|_| {
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        });
        assert_eq!(count.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn max_concurrency_zero_names_the_rule() {
    let pool = pool(1);
    let payload = expect_panic(|| pool.scope_builder().max_concurrency(0));
    let message = payload_str(&*payload).unwrap();
    assert!(
        message.contains("max_concurrency must be at least 1"),
        "{message}"
    );
}

#[test]
fn into_panic_on_a_cancelled_handle_names_the_rule() {
    watchdog(20, || {
        let pool = pool(1);
        let err = pool.install(|| {
            taskgroup::scope(|s| {
                let h = s.spawn_handle(|_| 1);
                s.cancel();
                h
            })
        });
        let err = err.join().unwrap_err();
        assert!(err.is_cancelled());
        let payload = expect_panic(move || err.into_panic());
        let message = payload_str(&*payload).unwrap();
        assert!(message.contains("not a panic"), "{message}");
    });
}

/// A try-scope error whose `Drop` panics, counting the drop first.
#[derive(Debug)]
struct Bomb(Arc<AtomicUsize>);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom: error dropped");
    }
}

/// Opens its gate when dropped: lets a test wait until a task is unwinding.
struct OpenOnDrop<'a>(&'a Gate);

impl Drop for OpenOnDrop<'_> {
    fn drop(&mut self) {
        self.0.open();
    }
}

#[test]
fn a_later_error_that_panics_when_dropped_is_its_tasks_panic() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        let payload = expect_panic(|| {
            pool.try_scope(|s| {
                let late = Bomb(Arc::clone(&drops));
                s.spawn(|_| {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    Err(late) // second: dropped by the scope, and that panics
                });
                started_rx.recv_timeout(PATIENCE).expect("task started");
                let first = Bomb(Arc::clone(&drops));
                s.spawn(|_| Err(first));
                wait_for(PATIENCE.as_secs(), "the first error", || s.is_cancelled());
                gate.open();
                Ok(())
            })
        });
        // The dropped error's panic is the panic of the task that returned
        // it, and a panic wins over the first error, which is dropped too
        // (its own panic is swallowed: only the first panic is re-raised).
        assert_eq!(payload_str(&*payload), Some("boom: error dropped"));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
        assert_eq!(pool.install(|| 1), 1, "the pool is whole");
    });
}

#[test]
fn a_panic_after_an_error_whose_drop_panics_is_reraised() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        let payload = expect_panic(|| {
            let _: Result<(), Bomb> = pool.try_scope(|s| {
                s.spawn(|_| {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    panic!("boom: task panicked after the error")
                });
                started_rx.recv_timeout(PATIENCE).expect("task started");
                let error = Bomb(Arc::clone(&drops));
                s.spawn(|_| Err(error));
                wait_for(PATIENCE.as_secs(), "the error", || s.is_cancelled());
                gate.open();
                Ok(())
            });
        });
        assert_eq!(
            payload_str(&*payload),
            Some("boom: task panicked after the error")
        );
        assert_eq!(drops.load(Ordering::SeqCst), 1, "the error was dropped");
    });
}

#[test]
fn an_error_after_a_panic_is_dropped_without_abort() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let unwinding = Gate::new();
        for from_body in [false, true] {
            let before = drops.load(Ordering::SeqCst);
            let payload = expect_panic(|| {
                let _: Result<(), Bomb> = pool.try_scope(|s| {
                    s.spawn(|_| {
                        let _open = OpenOnDrop(&unwinding);
                        panic!("boom: task panicked first")
                    });
                    unwinding.wait();
                    // Let the panic be recorded before the error comes.
                    std::thread::sleep(Duration::from_millis(20));
                    let error = Bomb(Arc::clone(&drops));
                    if from_body {
                        return Err(error);
                    }
                    s.spawn(|_| Err(error));
                    Ok(())
                });
            });
            assert_eq!(payload_str(&*payload), Some("boom: task panicked first"));
            assert_eq!(drops.load(Ordering::SeqCst), before + 1);
        }
    });
}

#[test]
fn an_error_that_panics_when_dropped_is_returned_when_nothing_panicked() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        let result = pool.try_scope(|s| {
            let late = Bomb(Arc::clone(&drops));
            // A second error through a handle: its drop's panic is that
            // task's panic, and `join` takes it, so the scope does not
            // re-raise it and the first error stands.
            let h = s.spawn_handle(|_| -> Result<(), Bomb> {
                started_tx.send(()).unwrap();
                gate.wait();
                Err(late)
            });
            started_rx.recv_timeout(PATIENCE).expect("task started");
            let first = Bomb(Arc::clone(&drops));
            s.spawn(|_| Err(first));
            wait_for(PATIENCE.as_secs(), "the first error", || s.is_cancelled());
            gate.open();
            let err = h.join().unwrap_err();
            assert!(err.is_panic(), "{err}");
            assert_eq!(payload_str(&*err.into_panic()), Some("boom: error dropped"));
            Ok(())
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        let error = result.unwrap_err();
        // The caller owns the first error now, panicking drop and all.
        let payload = expect_panic(move || drop(error));
        assert_eq!(payload_str(&*payload), Some("boom: error dropped"));
        assert_eq!(drops.load(Ordering::SeqCst), 2);
    });
}

#[test]
fn a_body_value_that_panics_when_dropped_does_not_abort_a_failed_try_scope() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        let values = Arc::new(AtomicUsize::new(0));
        let (started_tx, started_rx) = mpsc::channel();
        let gate = Gate::new();
        // An error is stored, then a task panics, and the body's value
        // panics when the scope drops it (the body's value is not returned
        // when a task panicked): three panicking drops, no abort.
        let payload = expect_panic(|| {
            pool.try_scope(|s| {
                s.spawn(|_| {
                    started_tx.send(()).unwrap();
                    gate.wait();
                    panic!("boom: task panicked after the error")
                });
                started_rx.recv_timeout(PATIENCE).expect("task started");
                let error = Bomb(Arc::clone(&drops));
                s.spawn(|_| Err(error));
                wait_for(PATIENCE.as_secs(), "the error", || s.is_cancelled());
                gate.open();
                Ok(PanicsOnDrop(Arc::clone(&values)))
            })
        });
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(values.load(Ordering::SeqCst), 1);
        // Which panic comes out is the scope core's business: the task's
        // (the first), or the value's, which unwinds out of the core while
        // it drops the value.
        let message = payload_str(&*payload).unwrap();
        assert!(
            ["boom: task panicked after the error", "boom: dropped"].contains(&message),
            "{message}"
        );
    });
}
