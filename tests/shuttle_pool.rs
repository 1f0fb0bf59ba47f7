//! Shuttle scenarios of pools as a whole: `install` across pools (each
//! waiting worker runs its own pool's jobs), scopes owned by a worker of
//! another pool, detached work queued when a pool is dropped (from outside,
//! or from one of its own workers), and the public `WaitGroup` with guards
//! on several threads.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_pool`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use std::sync::Arc;

use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle_harness::{check, payload_str, pool, ITERATIONS};
use taskgroup::{ThreadPool, WaitGroup};

#[test]
fn install_across_pools_and_back() {
    // One thread each: every wait must run its own pool's jobs, or the
    // innermost `install` into pool a (whose only worker waits in the
    // outermost) could never run.
    check(ITERATIONS, || {
        let a = Arc::new(pool(1));
        let b = Arc::new(pool(1));
        let other = {
            let (a, b) = (Arc::clone(&a), Arc::clone(&b));
            shuttle::thread::spawn(move || b.install(|| a.install(|| b.install(|| 2))))
        };
        let value = a.install(|| {
            let outer = taskgroup::current_thread_index();
            b.install(|| a.install(|| (outer, taskgroup::current_thread_index())))
        });
        assert_eq!(value, (Some(0), Some(0)));
        assert_eq!(other.join().expect("other caller"), 2);
    });
}

#[test]
fn a_scope_owned_by_a_worker_of_another_pool() {
    // The scope's tasks run on pool a; its owner waits on pool b's worker
    // and is woken through pool b.
    check(ITERATIONS, || {
        let a = pool(2);
        let b = pool(1);
        let ran = AtomicUsize::new(0);
        let ran = &ran;
        b.install(|| {
            a.scope(|s| {
                for _ in 0..2 {
                    s.spawn(move |s| {
                        ran.fetch_add(1, Ordering::Relaxed);
                        s.spawn(move |_| {
                            ran.fetch_add(1, Ordering::Relaxed);
                        });
                    });
                }
            });
            assert_eq!(ran.load(Ordering::Relaxed), 4);
        });
    });
}

/// A pool of two threads whose panic handler counts panics.
fn counting_pool(panics: &Arc<AtomicUsize>) -> ThreadPool {
    let panics = Arc::clone(panics);
    ThreadPool::builder()
        .num_threads(2)
        .panic_handler(move |payload| {
            assert_eq!(payload_str(&*payload), Some("boom: detached"));
            panics.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .expect("build a pool under shuttle")
}

#[test]
fn dropping_a_pool_runs_the_queued_detached_work() {
    check(ITERATIONS, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let panics = Arc::new(AtomicUsize::new(0));
        let pool = counting_pool(&panics);
        for i in 0..3 {
            let ran = Arc::clone(&ran);
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                if i == 0 {
                    // Queued from a worker, maybe while the pool terminates.
                    let ran = Arc::clone(&ran);
                    taskgroup::spawn(move || {
                        ran.fetch_add(1, Ordering::SeqCst);
                    });
                }
                if i == 1 {
                    panic!("boom: detached");
                }
            });
        }
        drop(pool);
        assert_eq!(ran.load(Ordering::SeqCst), 4);
        assert_eq!(panics.load(Ordering::SeqCst), 1);
    });
}

#[test]
fn the_last_handle_on_a_pool_dropped_by_its_own_worker() {
    // Whoever drops the last `Arc` drops the pool: a plain thread (which
    // joins the workers) or a detached task on a worker (which lets them
    // finish on their own). Every job runs either way, and shuttle reports
    // a worker that never exits as a deadlock.
    check(ITERATIONS, || {
        let ran = Arc::new(AtomicUsize::new(0));
        let panics = Arc::new(AtomicUsize::new(0));
        let wg = Arc::new(WaitGroup::new());
        let pool = Arc::new(counting_pool(&panics));
        let spawn_counted = |pool: &ThreadPool| {
            let ran = Arc::clone(&ran);
            let guard = wg.add_owned();
            pool.spawn(move || {
                ran.fetch_add(1, Ordering::SeqCst);
                drop(guard);
            });
        };
        let other = {
            let pool = Arc::clone(&pool);
            let ran = Arc::clone(&ran);
            let guard = wg.add_owned();
            shuttle::thread::spawn(move || {
                let holder = Arc::clone(&pool);
                pool.spawn(move || {
                    // May be the last holder: the pool is dropped here.
                    drop(holder);
                    ran.fetch_add(1, Ordering::SeqCst);
                    drop(guard);
                });
            })
        };
        spawn_counted(&pool);
        drop(pool);
        other.join().expect("other thread");
        wg.wait();
        assert_eq!(ran.load(Ordering::SeqCst), 2);
        assert_eq!(panics.load(Ordering::SeqCst), 0);
    });
}

#[test]
fn waitgroup_guards_on_several_threads() {
    check(ITERATIONS, || {
        let wg = Arc::new(WaitGroup::new());
        let done = Arc::new(AtomicUsize::new(0));
        let workers: Vec<_> = (0..2)
            .map(|_| {
                let guard = wg.add_owned();
                let done = Arc::clone(&done);
                shuttle::thread::spawn(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    drop(guard);
                })
            })
            .collect();
        let waiter = {
            let (wg, done) = (Arc::clone(&wg), Arc::clone(&done));
            shuttle::thread::spawn(move || {
                wg.wait();
                assert_eq!(done.load(Ordering::SeqCst), 2);
                // Re-armed at once by whoever comes next: still returned.
                let again = wg.add_owned();
                drop(again);
            })
        };
        // A waiter with a timeout: under shuttle it may time out at any
        // point, like a short real one.
        if wg.wait_timeout(std::time::Duration::from_secs(1)) {
            assert!(done.load(Ordering::SeqCst) == 2);
        }
        wg.wait();
        assert_eq!(done.load(Ordering::SeqCst), 2);
        for worker in workers {
            worker.join().expect("worker");
        }
        waiter.join().expect("waiter");
        assert_eq!(wg.count(), 0);
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn a_task_waits_on_a_waitgroup_fed_by_plain_threads() {
    check(ITERATIONS, || {
        let pool = pool(1);
        let wg = Arc::new(WaitGroup::new());
        let done = Arc::new(AtomicUsize::new(0));
        let feeders: Vec<_> = (0..2)
            .map(|_| {
                let guard = wg.add_owned();
                let done = Arc::clone(&done);
                shuttle::thread::spawn(move || {
                    done.fetch_add(1, Ordering::SeqCst);
                    guard.done();
                })
            })
            .collect();
        let seen = pool.install(|| {
            wg.wait();
            done.load(Ordering::SeqCst)
        });
        assert_eq!(seen, 2);
        for feeder in feeders {
            feeder.join().expect("feeder");
        }
    });
}
