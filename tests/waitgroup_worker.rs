//! A `WaitGroup` waited on by a pool worker keeps the pool's work running
//! (issue 17), and `WaitGroup::wait_async` from async code.

mod common;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{mpsc, Arc};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{pool, watchdog};
use taskgroup::WaitGroup;

/// The three ways to wait, each expected to see the count reach zero.
fn wait_each_way(wg: &WaitGroup, how: usize) {
    match how {
        0 => wg.wait(),
        1 => assert!(
            wg.wait_timeout(Duration::from_secs(10)),
            "wait_timeout gave up"
        ),
        _ => assert!(
            wg.wait_deadline(Instant::now() + Duration::from_secs(10)),
            "wait_deadline gave up"
        ),
    }
}

fn waiters_of(wg: &WaitGroup) -> String {
    format!("{wg:?}")
}

#[test]
fn a_worker_waits_for_tasks_queued_behind_it_on_a_pool_of_one_thread() {
    watchdog(30, || {
        let pool = pool(1);
        for how in 0..3 {
            let wg = WaitGroup::new();
            let ran = AtomicUsize::new(0);
            pool.install(|| {
                taskgroup::scope(|s| {
                    for _ in 0..3 {
                        let guard = wg.add();
                        let ran = &ran;
                        s.spawn(move |_| {
                            ran.fetch_add(1, Ordering::SeqCst);
                            drop(guard);
                        });
                    }
                    wait_each_way(&wg, how);
                    assert_eq!(ran.load(Ordering::SeqCst), 3);
                })
            });
            assert_eq!(wg.count(), 0);
        }
    });
}

#[test]
fn two_tasks_each_wait_for_their_own_group_on_two_threads() {
    watchdog(30, || {
        let pool = pool(2);
        for how in 0..3 {
            pool.scope(|s| {
                for _ in 0..2 {
                    s.spawn(move |s| {
                        let wg = WaitGroup::new();
                        let wg = &wg;
                        taskgroup::scope(|inner| {
                            for _ in 0..4 {
                                let guard = wg.add();
                                inner.spawn(move |_| {
                                    std::thread::sleep(Duration::from_millis(2));
                                    drop(guard);
                                });
                            }
                            wait_each_way(wg, how);
                        });
                        let _ = s;
                    });
                }
            });
        }
    });
}

#[test]
fn guards_dropped_by_detached_spawns_and_plain_threads() {
    watchdog(30, || {
        let pool = pool(1);
        // Detached spawns queued on the waiting worker itself.
        let wg = Arc::new(WaitGroup::new());
        let wg2 = Arc::clone(&wg);
        pool.install(move || {
            for _ in 0..3 {
                let guard = wg2.add_owned();
                taskgroup::spawn(move || drop(guard));
            }
            wg2.wait();
        });
        assert_eq!(wg.count(), 0);
        // A plain thread holds the guard.
        let wg = Arc::new(WaitGroup::new());
        let guard = wg.add_owned();
        let wg2 = Arc::clone(&wg);
        let waiter = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(guard);
        });
        pool.install(move || wg2.wait());
        waiter.join().unwrap();
    });
}

#[test]
fn a_worker_of_one_pool_waits_for_guards_held_by_another_pools_tasks() {
    watchdog(30, || {
        let a = pool(1);
        let b = pool(1);
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..4 {
            let guard = wg.add_owned();
            b.spawn(move || {
                std::thread::sleep(Duration::from_millis(5));
                drop(guard);
            });
        }
        // Meanwhile pool A's worker keeps running A's jobs.
        let (tx, rx) = mpsc::channel();
        let wg2 = Arc::clone(&wg);
        a.spawn(move || {
            wg2.wait();
            tx.send(()).unwrap();
        });
        let ran_meanwhile = a.install(|| 7);
        assert_eq!(ran_meanwhile, 7);
        rx.recv().unwrap();
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn a_worker_wait_that_times_out_leaves_the_group_as_it_was() {
    watchdog(30, || {
        let pool = pool(1);
        let wg = WaitGroup::new();
        let guard = wg.add();
        let started = Instant::now();
        let waited = pool.install(|| wg.wait_timeout(Duration::from_millis(30)));
        assert!(!waited);
        assert!(started.elapsed() >= Duration::from_millis(30));
        assert_eq!(wg.count(), 1);
        assert!(waiters_of(&wg).contains("waiters: 0"), "{wg:?}");
        // Past deadline: no wait at all.
        assert!(!pool.install(|| wg.wait_deadline(Instant::now())));
        drop(guard);
        assert!(pool.install(|| wg.wait_timeout(Duration::ZERO)));
    });
}

#[test]
fn a_worker_released_by_zero_returns_even_if_the_group_is_re_armed_at_once() {
    watchdog(30, || {
        let pool = pool(2);
        for _ in 0..200 {
            let wg = Arc::new(WaitGroup::new());
            let guard = wg.add_owned();
            let (tx, rx) = mpsc::channel();
            let wg2 = Arc::clone(&wg);
            pool.spawn(move || {
                wg2.wait();
                tx.send(()).unwrap();
            });
            // Let the worker register, then release and re-arm at once.
            while !waiters_of(&wg).contains("waiters: 1") {
                std::thread::yield_now();
            }
            drop(guard);
            let rearmed = wg.add();
            rx.recv_timeout(Duration::from_secs(10))
                .expect("a released worker waiter returned despite the re-arm");
            drop(rearmed);
        }
    });
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn poll_once<F: Future + Unpin>(f: &mut F, waker: &Waker) -> Poll<F::Output> {
    Pin::new(f).poll(&mut Context::from_waker(waker))
}

#[test]
fn wait_async_resolves_at_zero_and_wakes_the_latest_waker() {
    watchdog(30, || {
        let wg = WaitGroup::new();
        let a = Arc::new(CountingWaker::default());
        let b = Arc::new(CountingWaker::default());
        // Zero already: ready at once.
        assert!(poll_once(&mut wg.wait_async(), &Waker::from(Arc::clone(&a))).is_ready());
        let guard = wg.add();
        let mut future = wg.wait_async();
        assert!(poll_once(&mut future, &Waker::from(Arc::clone(&a))).is_pending());
        assert!(poll_once(&mut future, &Waker::from(Arc::clone(&b))).is_pending());
        assert!(format!("{wg:?}").contains("waiters: 1"), "{wg:?}");
        drop(guard);
        assert_eq!(
            a.0.load(Ordering::SeqCst),
            0,
            "the earlier waker is not woken"
        );
        assert_eq!(
            b.0.load(Ordering::SeqCst),
            1,
            "the latest waker is woken once"
        );
        assert!(poll_once(&mut future, &Waker::from(Arc::clone(&b))).is_ready());
        // Polled again after it resolved: still ready.
        assert!(poll_once(&mut future, &Waker::from(b)).is_ready());
    });
}

#[test]
fn a_dropped_wait_async_is_no_longer_a_waiter() {
    let wg = WaitGroup::new();
    let guard = wg.add();
    let waker = Waker::from(Arc::new(CountingWaker::default()));
    let mut future = wg.wait_async();
    assert!(poll_once(&mut future, &waker).is_pending());
    assert!(format!("{wg:?}").contains("waiters: 1"), "{wg:?}");
    drop(future);
    assert!(format!("{wg:?}").contains("waiters: 0"), "{wg:?}");
    drop(guard);
    assert_eq!(wg.count(), 0);
}

#[test]
fn wait_async_wakes_with_thread_waiters_and_survives_a_re_arm() {
    watchdog(30, || {
        for _ in 0..100 {
            let wg = Arc::new(WaitGroup::new());
            let guard = wg.add_owned();
            let thread_waiter = {
                let wg = Arc::clone(&wg);
                std::thread::spawn(move || wg.wait())
            };
            let async_waiter = {
                let wg = Arc::clone(&wg);
                std::thread::spawn(move || futures::executor::block_on(wg.wait_async()))
            };
            while !format!("{wg:?}").contains("waiters: 2") {
                std::thread::yield_now();
            }
            drop(guard);
            let rearmed = wg.add();
            thread_waiter.join().unwrap();
            async_waiter.join().unwrap();
            drop(rearmed);
        }
    });
}

#[test]
fn the_group_stays_one_word() {
    assert_eq!(std::mem::size_of::<WaitGroup>(), 8);
}

#[test]
fn a_worker_wait_times_out_even_while_there_is_always_work() {
    fn keep_busy(stop: Arc<std::sync::atomic::AtomicBool>) {
        taskgroup::spawn(move || {
            std::thread::sleep(Duration::from_millis(1));
            if !stop.load(Ordering::SeqCst) {
                keep_busy(stop);
            }
        });
    }
    watchdog(30, || {
        let pool = pool(1);
        let wg = WaitGroup::new();
        let guard = wg.add();
        let started = Instant::now();
        let waited = pool.install(|| {
            let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
            keep_busy(Arc::clone(&stop));
            let waited = wg.wait_timeout(Duration::from_millis(50));
            stop.store(true, Ordering::SeqCst);
            waited
        });
        assert!(!waited);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the timeout was overrun"
        );
        drop(guard);
    });
}
