//! Regression tests for bugs found by peers' test suites and adversarial
//! reviews (issue 11). Each test failed before its fix.

mod common;

use std::panic::panic_any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::Duration;

use common::{assert_str_payload, expect_panic, pool, quiet_expected_panics, watchdog};

/// A panic payload whose `Drop` panics, counting its drops.
struct Bomb(&'static AtomicUsize);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom: a payload's drop");
    }
}

#[test]
fn join_survives_a_stolen_second_half_whose_payload_panics_on_drop() {
    quiet_expected_panics();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.install(|| {
                let here = taskgroup::current_thread_index();
                taskgroup::join(
                    || {
                        sleep(Duration::from_millis(100));
                        panic!("boom: left")
                    },
                    move || {
                        // Outermost joins publish their second half at once:
                        // the idle worker takes it.
                        assert_ne!(taskgroup::current_thread_index(), here);
                        panic_any(Bomb(&DROPS))
                    },
                )
            })
        });
        assert_str_payload(&*payload, "boom: left");
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            1,
            "the right payload was dropped once"
        );
    });
}

#[test]
fn an_unjoined_handle_panic_beats_a_later_task_panic() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let _ = s.spawn_handle(|_| -> () { panic!("boom: first") });
                s.spawn(|_| {
                    sleep(Duration::from_millis(100));
                    panic!("boom: second")
                });
            })
        });
        assert_str_payload(&*payload, "boom: first");
    });
}

#[test]
fn an_unjoined_handle_panic_beats_a_later_body_panic() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let h = s.spawn_handle(|_| -> () { panic!("boom: first") });
                while !h.is_finished() {
                    std::thread::yield_now();
                }
                panic!("boom: body")
            })
        });
        assert_str_payload(&*payload, "boom: first");
    });
}

#[test]
fn a_joined_handle_panic_leaves_the_next_panic_in_time() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let first = s.spawn_handle(|_| -> () { panic!("boom: first") });
                let second = s.spawn_handle(|_| -> () {
                    sleep(Duration::from_millis(50));
                    panic!("boom: second")
                });
                s.spawn(|_| {
                    sleep(Duration::from_millis(150));
                    panic!("boom: third")
                });
                assert!(first.join().unwrap_err().is_panic());
                drop(second);
            })
        });
        assert_str_payload(&*payload, "boom: second");
    });
}

/// Counts tasks running at once, and the most ever seen.
#[derive(Default)]
struct Running {
    now: AtomicUsize,
    max: AtomicUsize,
}

impl Running {
    fn enter(&self) {
        let now = self.now.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.now.fetch_sub(1, Ordering::SeqCst);
    }
}

#[test]
fn a_stolen_join_half_does_not_lend_its_tasks_slot_while_the_task_runs() {
    watchdog(20, || {
        let pool = pool(3);
        let running = Running::default();
        let r = pool.scope_builder().max_concurrency(1).scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let running = &running;
            s.spawn(move |_| {
                running.enter();
                let h2: taskgroup::TaskHandle<'_, ()> = rx.recv().unwrap();
                taskgroup::join(
                    || {
                        sleep(Duration::from_millis(50));
                        running.leave();
                    },
                    // Stolen by an idle worker: it runs on behalf of
                    // this task, beside it.
                    move || h2.join().unwrap(),
                );
            });
            let h2 = s.spawn_handle(move |_| {
                running.enter();
                sleep(Duration::from_millis(5));
                running.leave();
            });
            tx.send(h2).unwrap();
        });
        assert!(r.is_ok());
        assert_eq!(
            running.max.load(Ordering::SeqCst),
            1,
            "max_concurrency(1) ran two tasks at once"
        );
    });
}

#[test]
fn lending_runs_the_joined_task_not_the_head_of_the_queue() {
    watchdog(20, || {
        for threads in [1, 2] {
            let pool = pool(threads);
            let r = pool.scope_builder().max_concurrency(1).scope(|s| {
                let (to_t1, for_t1) = std::sync::mpsc::channel();
                let (to_t2, for_t2) = std::sync::mpsc::channel();
                let t1 = s.spawn_handle(move |_| {
                    let h3: taskgroup::TaskHandle<'_, u32> = for_t1.recv().unwrap();
                    h3.join().unwrap() + 1
                });
                // Queued ahead of T3; it waits for T1, so it must not
                // run on top of T1.
                let t2 = s.spawn_handle(move |_| {
                    let h1: taskgroup::TaskHandle<'_, u32> = for_t2.recv().unwrap();
                    h1.join().unwrap() + 10
                });
                let t3 = s.spawn_handle(|_| 100);
                to_t1.send(t3).unwrap();
                to_t2.send(t1).unwrap();
                t2.join().unwrap()
            });
            assert_eq!(r.unwrap(), 111, "on {threads} thread(s)");
        }
    });
}

#[test]
fn a_task_of_a_nested_scope_can_wait_for_a_queued_sibling_of_its_parent() {
    watchdog(20, || {
        for threads in [1, 2, 3] {
            let pool = pool(threads);
            let running = Running::default();
            let r = pool.scope_builder().max_concurrency(1).scope(|s| {
                let (tx, rx) = std::sync::mpsc::channel();
                let running = &running;
                s.spawn(move |_| {
                    running.enter();
                    let h2: taskgroup::TaskHandle<'_, u32> = rx.recv().unwrap();
                    running.leave();
                    let got = taskgroup::scope(|inner| {
                        inner.spawn_handle(move |_| h2.join().unwrap()).join()
                    });
                    running.enter();
                    assert_eq!(got.unwrap(), 7);
                    running.leave();
                });
                let h2 = s.spawn_handle(move |_| {
                    running.enter();
                    sleep(Duration::from_millis(5));
                    running.leave();
                    7
                });
                tx.send(h2).unwrap();
            });
            assert!(r.is_ok());
            assert_eq!(
                running.max.load(Ordering::SeqCst),
                1,
                "on {threads} thread(s)"
            );
        }
    });
}

#[test]
fn a_handle_joined_by_a_job_run_on_top_of_its_waiting_task_does_not_deadlock() {
    watchdog(20, || {
        // The task with the handle waits in `install` on another pool; its
        // worker must not run the joiner on top of it.
        let p1 = pool(1);
        let p2 = pool(1);
        let value = p1.scope(|s| {
            let h1 = s.spawn_handle(|_| {
                p2.install(|| sleep(Duration::from_millis(50)));
                5
            });
            s.spawn_handle(move |_| h1.join().unwrap() * 2)
                .join()
                .unwrap()
        });
        assert_eq!(value, 10);
        // The same, with the joiner queued before the waiting task starts
        // and the scope's body on a worker.
        let value = p1.install(|| {
            taskgroup::scope(|s| {
                let h1 = s.spawn_handle(|_| {
                    p2.install(|| sleep(Duration::from_millis(20)));
                    5
                });
                let joiner = s.spawn_handle(move |_| h1.join().unwrap() * 3);
                joiner.join().unwrap()
            })
        });
        assert_eq!(value, 15);
    });
}

#[test]
fn a_handle_joined_while_its_task_waits_for_a_stolen_task_does_not_deadlock() {
    watchdog(20, || {
        let pool = pool(2);
        let value = pool.scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel::<std::sync::mpsc::Sender<()>>();
            let h1 = s.spawn_handle(move |_| {
                // Waits in a scope of its own, for a task the other worker
                // took, until the joiner is queued; its worker, idle
                // meanwhile, must not run the joiner on top of it.
                let started = std::sync::atomic::AtomicBool::new(false);
                taskgroup::scope(|inner| {
                    inner.spawn(|_| {
                        started.store(true, Ordering::SeqCst);
                        let (done_tx, done_rx) = std::sync::mpsc::channel();
                        tx.send(done_tx).unwrap();
                        done_rx.recv().unwrap();
                    });
                    while !started.load(Ordering::SeqCst) {
                        std::thread::yield_now();
                    }
                });
                4
            });
            let ready = rx.recv().unwrap();
            let joiner = s.spawn_handle(move |_| h1.join().unwrap() + 1);
            sleep(Duration::from_millis(20));
            ready.send(()).unwrap();
            joiner.join().unwrap()
        });
        assert_eq!(value, 5);
    });
}

#[test]
fn a_handle_that_outlives_its_scope_is_joined_without_touching_it() {
    watchdog(60, || {
        let pool = pool(2);
        for limit in [None, Some(1)] {
            for _ in 0..500 {
                let (tx, rx) = std::sync::mpsc::channel();
                let joiner = std::thread::spawn(move || {
                    let h: taskgroup::TaskHandle<'static, u64> = rx.recv().unwrap();
                    h.join().unwrap()
                });
                match limit {
                    None => pool.scope(|s| tx.send(s.spawn_handle(|_| 9)).unwrap()),
                    Some(n) => pool
                        .scope_builder()
                        .max_concurrency(n)
                        .scope(|s| tx.send(s.spawn_handle(|_| 9)).unwrap())
                        .unwrap(),
                }
                assert_eq!(joiner.join().unwrap(), 9);
            }
        }
    });
}

#[test]
fn losing_values_whose_drop_panics_do_not_replace_the_winning_panic() {
    quiet_expected_panics();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    struct Loud;
    impl Drop for Loud {
        fn drop(&mut self) {
            DROPS.fetch_add(1, Ordering::SeqCst);
            panic!("boom: a losing value's drop");
        }
    }
    watchdog(20, || {
        let pool = pool(1);
        // `a` returns a value, `b` panics (inline: nobody steals on one
        // thread): `a`'s value is dropped while `b`'s panic unwinds.
        let payload = expect_panic(|| pool.join(|| Loud, || -> () { panic!("boom: b") }));
        assert_str_payload(&*payload, "boom: b");
        // `a` panics, `b` returns a value.
        let payload = expect_panic(|| pool.join(|| -> () { panic!("boom: a") }, || Loud));
        assert_str_payload(&*payload, "boom: a");
        // A scope whose task panicked, and whose body returned a value.
        let payload = expect_panic(|| {
            pool.scope(|s| {
                s.spawn(|_| panic!("boom: task"));
                Loud
            })
        });
        assert_str_payload(&*payload, "boom: task");
        assert_eq!(DROPS.load(Ordering::SeqCst), 3);
    });
}
