//! Integration tests of `yield_now` and `yield_local`: on a worker they run
//! one queued job and say whether they did; off the pool they do nothing.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::thread;

use common::{pool, quiet_expected_panics, wait_for, watchdog, PATIENCE};
use taskgroup::{yield_local, yield_now, Yield};

#[test]
fn off_the_pool_both_are_none() {
    assert_eq!(yield_now(), None);
    assert_eq!(yield_local(), None);
    // Also on a thread that merely waits for a pool.
    let pool = pool(1);
    pool.scope(|_| {
        assert_eq!(yield_now(), None);
        assert_eq!(yield_local(), None);
    });
}

#[test]
fn yield_type_is_plain_data() {
    let executed = Yield::Executed;
    let copy = executed;
    assert_eq!(executed, copy);
    assert_ne!(Yield::Executed, Yield::Idle);
    assert_eq!(
        format!("{:?} {:?}", Yield::Executed, Yield::Idle),
        "Executed Idle"
    );
}

#[test]
fn one_thread_a_task_spawns_another_and_yields_the_other_has_run() {
    watchdog(20, || {
        let pool = pool(1);
        for yield_fn in [yield_now as fn() -> Option<Yield>, yield_local] {
            let ran = AtomicBool::new(false);
            let outcome = Mutex::new(None);
            pool.scope(|s| {
                // A task on the pool's only worker spawns another and yields.
                s.spawn(|s| {
                    s.spawn(|_| ran.store(true, Ordering::SeqCst));
                    let first = yield_fn();
                    *outcome.lock().unwrap() = Some((first, ran.load(Ordering::SeqCst)));
                });
            });
            let outcome = outcome.into_inner().unwrap().unwrap();
            assert_eq!(outcome, (Some(Yield::Executed), true));
        }
    });
}

#[test]
fn one_thread_executed_then_idle() {
    watchdog(20, || {
        let pool = pool(1);
        let count = Arc::new(AtomicUsize::new(0));
        let got = pool.install(|| {
            for _ in 0..3 {
                let count = Arc::clone(&count);
                taskgroup::spawn(move || {
                    count.fetch_add(1, Ordering::SeqCst);
                });
            }
            let mut got = Vec::new();
            for _ in 0..4 {
                got.push((yield_local(), count.load(Ordering::SeqCst)));
            }
            got.push((yield_now(), count.load(Ordering::SeqCst)));
            got
        });
        use Yield::{Executed, Idle};
        assert_eq!(
            got,
            [
                (Some(Executed), 1),
                (Some(Executed), 2),
                (Some(Executed), 3),
                (Some(Idle), 3),
                (Some(Idle), 3),
            ]
        );
    });
}

#[test]
fn yield_local_leaves_the_injector_to_yield_now() {
    watchdog(20, || {
        let pool = pool(1);
        let ran = Arc::new(AtomicBool::new(false));
        let got = pool.install(|| {
            // Another thread queues a job: it goes to the pool's injector,
            // not to this worker's deque.
            thread::scope(|ts| {
                let ran = Arc::clone(&ran);
                ts.spawn(|| pool.spawn(move || ran.store(true, Ordering::SeqCst)));
            });
            let local = (yield_local(), ran.load(Ordering::SeqCst));
            let any = (yield_now(), ran.load(Ordering::SeqCst));
            (local, any)
        });
        assert_eq!(
            got,
            ((Some(Yield::Idle), false), (Some(Yield::Executed), true))
        );
    });
}

#[test]
fn two_threads_yield_now_steals_and_yield_local_does_not() {
    watchdog(20, || {
        let pool = pool(2);
        let both_running = Barrier::new(2);
        let pushed = AtomicBool::new(false);
        let ran_on = Mutex::new(None);
        let results = Mutex::new(None);
        pool.scope(|s| {
            // Two tasks that hold both workers until the job has run.
            s.spawn(|s| {
                both_running.wait();
                let me = taskgroup::current_thread_index();
                s.spawn(|_| *ran_on.lock().unwrap() = taskgroup::current_thread_index());
                pushed.store(true, Ordering::SeqCst);
                // Wait without yielding: only the other worker can run it.
                wait_for(
                    PATIENCE.as_secs(),
                    "the other worker to run the job",
                    || ran_on.lock().unwrap().is_some(),
                );
                assert_ne!(*ran_on.lock().unwrap(), me);
            });
            s.spawn(|_| {
                both_running.wait();
                wait_for(PATIENCE.as_secs(), "the job to be queued", || {
                    pushed.load(Ordering::SeqCst)
                });
                let local = yield_local();
                let stolen = yield_now();
                *results.lock().unwrap() = Some((local, stolen, taskgroup::current_thread_index()));
            });
        });
        let (local, stolen, me) = results.into_inner().unwrap().unwrap();
        assert_eq!(local, Some(Yield::Idle));
        assert_eq!(stolen, Some(Yield::Executed));
        assert_eq!(ran_on.into_inner().unwrap(), me);
    });
}

#[test]
fn a_waiting_task_runs_its_workers_broadcast_share() {
    watchdog(20, || {
        let pool = pool(2);
        let broadcast_done = AtomicBool::new(false);
        let yields = Mutex::new(Vec::new());
        let started = Barrier::new(3);
        thread::scope(|ts| {
            pool.scope(|s| {
                // Both workers are busy in a task that polls until the
                // broadcast has finished: they can take their shares only
                // by yielding.
                for _ in 0..2 {
                    s.spawn(|_| {
                        started.wait();
                        let mut executed = 0;
                        while !broadcast_done.load(Ordering::SeqCst) {
                            if yield_local() == Some(Yield::Executed) {
                                executed += 1;
                            }
                            thread::yield_now();
                        }
                        yields.lock().unwrap().push(executed);
                    });
                }
                started.wait();
                ts.spawn(|| {
                    let indices = pool.broadcast(|ctx| ctx.index());
                    broadcast_done.store(true, Ordering::SeqCst);
                    indices
                });
            });
        });
        assert!(broadcast_done.load(Ordering::SeqCst));
        // Each worker ran exactly its own share through `yield_local`.
        assert_eq!(*yields.lock().unwrap(), [1, 1]);
    });
}

#[test]
fn a_yielded_job_that_panics_goes_where_it_would_have_gone() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| {
                taskgroup::scope(|s| {
                    s.spawn(|_| panic!("boom in a yielded task"));
                    // The task's panic is recorded for its scope, not raised
                    // here.
                    assert_eq!(yield_now(), Some(Yield::Executed));
                    "the body finished"
                })
            })
        }))
        .unwrap_err();
        common::assert_str_payload(&*payload, "boom in a yielded task");
    });
}

#[test]
fn many_tasks_that_yield_all_finish() {
    watchdog(60, || {
        for n in [1, 2] {
            let pool = pool(n);
            let done = AtomicUsize::new(0);
            let yields = AtomicUsize::new(0);
            pool.scope(|s| {
                for i in 0..200 {
                    let (done, yields) = (&done, &yields);
                    s.spawn(move |s| {
                        s.spawn(move |_| {
                            done.fetch_add(1, Ordering::Relaxed);
                        });
                        for _ in 0..(i % 4) {
                            let got = if i % 2 == 0 {
                                yield_now()
                            } else {
                                yield_local()
                            };
                            assert!(got.is_some());
                            yields.fetch_add(1, Ordering::Relaxed);
                        }
                        done.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(done.into_inner(), 400, "pool of {n}");
            assert_eq!(yields.into_inner(), 50 * (1 + 2 + 3), "pool of {n}");
        }
    });
}
