//! Integration tests of the public `WaitGroup` behaviour.
//!
//! Every test that could hang runs its body under a watchdog: the body runs
//! on its own thread and the test thread waits for it with a 20 s limit, so a
//! lost wake-up or a deadlock fails the test with a clear message instead of
//! stalling the test run.
#![cfg(not(loom))]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Barrier};
use std::thread;
use std::time::{Duration, Instant};

use taskgroup::{OwnedWaitGuard, WaitGroup, WaitGuard};

/// How long a test body may run before it is declared hung.
const WATCHDOG: Duration = Duration::from_secs(20);

/// Runs `body` on its own thread and fails the test if it does not finish
/// within [`WATCHDOG`]. A panic in the body is re-raised on the test thread.
fn watchdog<F>(name: &str, body: F)
where
    F: FnOnce() + Send + 'static,
{
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name(format!("body-{name}"))
        .spawn(move || {
            body();
            // The receiver may be gone if the watchdog already fired.
            let _ = tx.send(());
        })
        .expect("spawn test body thread");
    match rx.recv_timeout(WATCHDOG) {
        Ok(()) => handle.join().expect("test body thread"),
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            // The body panicked before sending: re-raise its payload.
            if let Err(payload) = handle.join() {
                std::panic::resume_unwind(payload);
            }
            unreachable!("body thread ended without reporting");
        }
        Err(mpsc::RecvTimeoutError::Timeout) => panic!(
            "watchdog: test `{name}` did not finish within {WATCHDOG:?} \
             (lost wake-up or deadlock in WaitGroup?)"
        ),
    }
}

/// How long one step inside a test may block; shorter than [`WATCHDOG`] so
/// the step's own message is the one reported.
const STEP_LIMIT: Duration = Duration::from_secs(10);

/// Receives from `rx` or panics with `what` after [`STEP_LIMIT`].
fn recv_or_hang<T>(rx: &mpsc::Receiver<T>, what: &str) -> T {
    match rx.recv_timeout(STEP_LIMIT) {
        Ok(v) => v,
        Err(e) => panic!("watchdog: {what}: no answer within {STEP_LIMIT:?} ({e:?})"),
    }
}

/// Number of waiters registered on `wg`, read from its `Debug` output
/// (`WaitGroup { count: C, waiters: W }`). `None` if the format changed.
fn debug_waiters(wg: &WaitGroup) -> Option<u64> {
    let s = format!("{wg:?}");
    let rest = &s[s.find("waiters: ")? + "waiters: ".len()..];
    let end = rest
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    rest[..end].parse().ok()
}

/// Waits until at least `n` threads are parked (registered) on `wg`, so the
/// test really exercises the parked path. Falls back to a short sleep if the
/// `Debug` output no longer shows the waiter count.
fn until_parked(wg: &WaitGroup, n: u64) {
    let start = Instant::now();
    loop {
        match debug_waiters(wg) {
            Some(w) if w >= n => return,
            Some(_) => {}
            None => {
                thread::sleep(Duration::from_millis(2));
                return;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{n} waiter(s) never registered on {wg:?}"
        );
        thread::yield_now();
    }
}

fn assert_send<T: Send>() {}
fn assert_sync<T: Sync>() {}

// ---------------------------------------------------------------------------
// Types and exact counts
// ---------------------------------------------------------------------------

#[test]
fn waitgroup_is_send_sync_default_and_const() {
    assert_send::<WaitGroup>();
    assert_sync::<WaitGroup>();
    assert_send::<Arc<WaitGroup>>();

    static GLOBAL: WaitGroup = WaitGroup::new();
    assert_eq!(GLOBAL.count(), 0);
    let g = GLOBAL.add();
    assert_eq!(GLOBAL.count(), 1);
    drop(g);
    GLOBAL.wait();

    let wg = WaitGroup::default();
    assert_eq!(wg.count(), 0);
    wg.wait();
    assert!(wg.wait_timeout(Duration::ZERO));
    assert!(wg.wait_deadline(Instant::now()));
}

#[test]
fn guards_are_send() {
    // Compile-time: both guard types can move to another thread.
    assert_send::<WaitGuard<'static>>();
    assert_send::<OwnedWaitGuard>();
    fn require_send<T: Send>(value: T) -> T {
        value
    }

    // A guard with a short, local borrow is Send too.
    let wg = WaitGroup::new();
    let g: WaitGuard<'_> = require_send(wg.add());
    drop(require_send(g));
    let owned = require_send(Arc::new(WaitGroup::new()).add_owned());
    drop(owned);

    // And at run time: a borrowed guard dropped on another thread.
    thread::scope(|ts| {
        let g = wg.add();
        ts.spawn(move || g.done());
    });
    assert_eq!(wg.count(), 0);
    wg.wait();
}

#[test]
fn count_is_exact() {
    let wg = WaitGroup::new();
    assert_eq!(wg.count(), 0);
    let mut guards: Vec<WaitGuard<'_>> = (1..=1000)
        .map(|i| {
            let g = wg.add();
            assert_eq!(wg.count(), i);
            g
        })
        .collect();
    assert_eq!(wg.count(), 1000);
    // Drop from the middle, the end and the front.
    for expected in (0..1000).rev() {
        let at = expected / 2;
        let g = guards.swap_remove(at);
        if expected % 2 == 0 {
            g.done();
        } else {
            drop(g);
        }
        assert_eq!(wg.count(), expected);
    }
    assert!(wg.wait_timeout(Duration::ZERO));

    // Owned guards count in the same counter.
    let wg = Arc::new(WaitGroup::new());
    let a = wg.add_owned();
    let b = wg.add();
    let c = wg.add_owned();
    assert_eq!(wg.count(), 3);
    drop(b);
    assert_eq!(wg.count(), 2);
    a.done();
    assert_eq!(wg.count(), 1);
    drop(c);
    assert_eq!(wg.count(), 0);
}

#[test]
fn wait_on_an_empty_group_returns_at_once() {
    let wg = WaitGroup::new();
    let start = Instant::now();
    for _ in 0..1000 {
        wg.wait();
        assert!(wg.wait_timeout(Duration::from_secs(3600)));
        assert!(wg.wait_timeout(Duration::MAX));
        let past = Instant::now()
            .checked_sub(Duration::from_millis(1))
            .unwrap_or_else(Instant::now);
        assert!(wg.wait_deadline(past));
    }
    assert!(start.elapsed() < Duration::from_secs(2));
}

// ---------------------------------------------------------------------------
// Many threads
// ---------------------------------------------------------------------------

#[test]
fn many_threads_add_and_done() {
    watchdog("many_threads_add_and_done", || {
        const THREADS: usize = 8;
        const ROUNDS: usize = 10_000;
        const HELD: usize = 1_000;
        let wg = WaitGroup::new();
        let held = Barrier::new(THREADS + 1);
        let checked = Barrier::new(THREADS + 1);
        thread::scope(|ts| {
            for t in 0..THREADS {
                let (wg, held, checked) = (&wg, &held, &checked);
                ts.spawn(move || {
                    for i in 0..ROUNDS {
                        let g = wg.add();
                        // Sometimes hold two at once.
                        if (i + t) % 7 == 0 {
                            let g2 = wg.add();
                            drop(g);
                            drop(g2);
                        } else {
                            g.done();
                        }
                    }
                    let guards: Vec<_> = (0..HELD).map(|_| wg.add()).collect();
                    held.wait();
                    checked.wait();
                    drop(guards);
                });
            }
            held.wait();
            assert_eq!(wg.count(), THREADS * HELD, "{wg:?}");
            checked.wait();
            wg.wait();
            assert_eq!(wg.count(), 0, "{wg:?}");
        });
        assert_eq!(wg.count(), 0);
        assert!(wg.wait_timeout(Duration::ZERO));
    });
}

#[test]
fn wait_returns_only_after_every_guard_is_dropped() {
    watchdog("wait_returns_only_after_every_guard_is_dropped", || {
        const THREADS: usize = 8;
        const TASKS_PER_THREAD: usize = 50;
        for round in 0..20 {
            let wg = WaitGroup::new();
            let effects = AtomicUsize::new(0);
            thread::scope(|ts| {
                for t in 0..THREADS {
                    // Add in the spawning thread, before the work is handed over.
                    let guards: Vec<_> = (0..TASKS_PER_THREAD).map(|_| wg.add()).collect();
                    let effects = &effects;
                    ts.spawn(move || {
                        for (i, g) in guards.into_iter().enumerate() {
                            if (i + t + round) % 16 == 0 {
                                thread::sleep(Duration::from_micros(200));
                            }
                            // Relaxed on purpose: `wait` must provide the ordering.
                            effects.fetch_add(1, Ordering::Relaxed);
                            drop(g);
                        }
                    });
                }
                wg.wait();
                assert_eq!(
                    effects.load(Ordering::Relaxed),
                    THREADS * TASKS_PER_THREAD,
                    "wait returned before every task's side effect was visible (round {round})"
                );
                assert_eq!(wg.count(), 0);
            });
        }
    });
}

#[test]
fn wait_publishes_every_slot_written_before_done() {
    // 8 threads per round each fill 8 slots (Relaxed stores) and then drop
    // their owned guard; after `wait` every slot must hold this round's value.
    watchdog("wait_publishes_every_slot_written_before_done", || {
        let slots: Arc<Vec<AtomicUsize>> = Arc::new((0..64).map(|_| AtomicUsize::new(0)).collect());
        let wg = Arc::new(WaitGroup::new());
        for round in 1..=50usize {
            let handles: Vec<_> = (0..8)
                .map(|t| {
                    let g = wg.add_owned();
                    let slots = Arc::clone(&slots);
                    thread::spawn(move || {
                        for j in (8 * t..8 * t + 8).rev() {
                            slots[j].store(round * 1000 + j, Ordering::Relaxed);
                        }
                        drop(g);
                    })
                })
                .collect();
            wg.wait();
            for (j, s) in slots.iter().enumerate() {
                assert_eq!(
                    s.load(Ordering::Relaxed),
                    round * 1000 + j,
                    "round {round}, slot {j}"
                );
            }
            for h in handles {
                h.join().unwrap();
            }
        }
    });
}

#[test]
fn guard_dropped_while_unwinding_still_counts_as_done() {
    watchdog("guard_dropped_while_unwinding_still_counts_as_done", || {
        let wg = Arc::new(WaitGroup::new());
        let g = wg.add_owned();
        let h = thread::spawn(move || {
            let _g = g;
            panic!("task panicked while holding its guard (expected by the test)");
        });
        wg.wait();
        assert_eq!(wg.count(), 0);
        assert!(h.join().is_err());
    });
}

// ---------------------------------------------------------------------------
// Timeouts and deadlines
// ---------------------------------------------------------------------------

#[test]
fn wait_timeout_false_while_held_true_once_dropped() {
    watchdog("wait_timeout_false_while_held_true_once_dropped", || {
        let wg = WaitGroup::new();
        let g = wg.add();
        let start = Instant::now();
        assert!(!wg.wait_timeout(Duration::from_millis(30)));
        let waited = start.elapsed();
        assert!(
            waited >= Duration::from_millis(30),
            "returned early: {waited:?}"
        );
        assert!(!wg.wait_timeout(Duration::ZERO));
        assert_eq!(wg.count(), 1);
        drop(g);
        assert!(wg.wait_timeout(Duration::ZERO));
        assert!(wg.wait_timeout(Duration::from_millis(30)));
        assert_eq!(wg.count(), 0);

        // Released from another thread well before a long timeout.
        let g = wg.add();
        thread::scope(|ts| {
            ts.spawn(move || {
                thread::sleep(Duration::from_millis(20));
                drop(g);
            });
            let start = Instant::now();
            assert!(wg.wait_timeout(Duration::from_secs(15)));
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "wait_timeout was not woken by the done: {:?}",
                start.elapsed()
            );
        });
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn wait_deadline_false_while_held_true_once_dropped() {
    watchdog("wait_deadline_false_while_held_true_once_dropped", || {
        let wg = WaitGroup::new();
        let g = wg.add();
        let deadline = Instant::now() + Duration::from_millis(30);
        assert!(!wg.wait_deadline(deadline));
        assert!(Instant::now() >= deadline, "returned before its deadline");
        // A deadline in the past gives up at once.
        let start = Instant::now();
        let past = Instant::now()
            .checked_sub(Duration::from_secs(1))
            .unwrap_or_else(Instant::now);
        assert!(!wg.wait_deadline(past));
        assert!(start.elapsed() < Duration::from_secs(2));
        assert_eq!(wg.count(), 1);
        drop(g);
        assert!(wg.wait_deadline(Instant::now()));
        assert!(wg.wait_deadline(Instant::now() + Duration::from_millis(30)));

        let g = wg.add();
        thread::scope(|ts| {
            ts.spawn(move || {
                thread::sleep(Duration::from_millis(20));
                g.done();
            });
            let start = Instant::now();
            assert!(wg.wait_deadline(Instant::now() + Duration::from_secs(15)));
            assert!(start.elapsed() < Duration::from_secs(5));
        });
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn many_waiters_timing_out_leave_the_group_usable() {
    watchdog("many_waiters_timing_out_leave_the_group_usable", || {
        const WAITERS: usize = 8;
        let wg = WaitGroup::new();
        let g = wg.add();
        thread::scope(|ts| {
            let results: Vec<_> = (0..WAITERS)
                .map(|i| {
                    let wg = &wg;
                    ts.spawn(move || {
                        if i % 2 == 0 {
                            wg.wait_timeout(Duration::from_millis(5 + 3 * i as u64))
                        } else {
                            wg.wait_deadline(
                                Instant::now() + Duration::from_millis(5 + 3 * i as u64),
                            )
                        }
                    })
                })
                .collect();
            for r in results {
                assert!(
                    !r.join().unwrap(),
                    "a waiter saw zero while a guard was held"
                );
            }
        });
        assert_eq!(wg.count(), 1);
        assert_eq!(
            debug_waiters(&wg).unwrap_or(0),
            0,
            "timed-out waiters left behind: {wg:?}"
        );
        drop(g);
        assert_eq!(wg.count(), 0);
        wg.wait();

        // The group still works as a whole afterwards.
        let g = wg.add();
        assert!(!wg.wait_timeout(Duration::from_millis(1)));
        thread::scope(|ts| {
            ts.spawn(|| wg.wait());
            ts.spawn(|| assert!(wg.wait_timeout(Duration::from_secs(15))));
            until_parked(&wg, 2);
            drop(g);
        });
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn timeouts_racing_the_release_leave_the_group_usable() {
    // Waiters time out at about the moment the last guard is dropped, so
    // some time out, some are released, and some time out just after the
    // counter reached zero. Whatever each one returns, the group must be
    // left at zero and usable.
    watchdog("timeouts_racing_the_release_leave_the_group_usable", || {
        const WAITERS: usize = 6;
        let wg = WaitGroup::new();
        let mut released = 0usize;
        let mut timed_out = 0usize;
        for round in 0..150u64 {
            let g = wg.add();
            let start = Barrier::new(WAITERS + 1);
            thread::scope(|ts| {
                let hs: Vec<_> = (0..WAITERS)
                    .map(|i| {
                        let (wg, start) = (&wg, &start);
                        ts.spawn(move || {
                            start.wait();
                            let us = 200 + 150 * i as u64 + (round % 5) * 100;
                            let ok = wg.wait_timeout(Duration::from_micros(us));
                            // Returning true means the count was zero.
                            if ok {
                                assert_eq!(wg.count(), 0);
                            }
                            ok
                        })
                    })
                    .collect();
                start.wait();
                thread::sleep(Duration::from_micros(300 + (round % 7) * 100));
                drop(g);
                for h in hs {
                    if h.join().unwrap() {
                        released += 1;
                    } else {
                        timed_out += 1;
                    }
                }
            });
            assert_eq!(wg.count(), 0, "round {round}: {wg:?}");
            assert_eq!(debug_waiters(&wg).unwrap_or(0), 0, "round {round}: {wg:?}");
            wg.wait();
            // Usable: a fresh add is seen by a fresh wait.
            let g = wg.add();
            assert!(!wg.wait_timeout(Duration::ZERO), "round {round}");
            drop(g);
            assert!(wg.wait_timeout(Duration::ZERO), "round {round}");
        }
        assert_eq!(released + timed_out, 150 * WAITERS);
    });
}

// ---------------------------------------------------------------------------
// Release and re-arm
// ---------------------------------------------------------------------------

#[test]
fn many_waiters_released_by_one_done() {
    watchdog("many_waiters_released_by_one_done", || {
        const WAITERS: usize = 8;
        let wg = WaitGroup::new();
        for round in 0..100 {
            let g = wg.add();
            let returned = AtomicUsize::new(0);
            thread::scope(|ts| {
                for _ in 0..WAITERS {
                    let (wg, returned) = (&wg, &returned);
                    ts.spawn(move || {
                        wg.wait();
                        returned.fetch_add(1, Ordering::SeqCst);
                    });
                }
                until_parked(&wg, WAITERS as u64);
                assert_eq!(
                    returned.load(Ordering::SeqCst),
                    0,
                    "round {round}: waiter returned early"
                );
                g.done();
            });
            assert_eq!(returned.load(Ordering::SeqCst), WAITERS);
            assert_eq!(wg.count(), 0);
        }
    });
}

#[test]
fn rearm_right_after_release_does_not_strand_the_waiter() {
    // A waiter is parked; the last guard is dropped and a new one is taken at
    // once. The parked waiter must still return (Go panics "WaitGroup is
    // reused before previous Wait has returned" here).
    watchdog(
        "rearm_right_after_release_does_not_strand_the_waiter",
        || {
            let wg = Arc::new(WaitGroup::new());
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let (back_tx, back_rx) = mpsc::channel::<()>();
            let waiter = {
                let wg = Arc::clone(&wg);
                thread::spawn(move || {
                    while go_rx.recv().is_ok() {
                        wg.wait();
                        back_tx.send(()).unwrap();
                    }
                })
            };
            for i in 0..1000 {
                let g = wg.add_owned();
                go_tx.send(()).unwrap();
                if i % 4 != 3 {
                    // The waiter is parked on this round: after the release
                    // it must return even though the group is re-armed at
                    // once and stays armed.
                    until_parked(&wg, 1);
                    drop(g);
                    let rearmed = wg.add();
                    assert_eq!(wg.count(), 1);
                    recv_or_hang(
                        &back_rx,
                        &format!("iteration {i}: parked waiter stranded by the re-arm, {wg:?}"),
                    );
                    if i % 100 == 0 {
                        // The re-armed group really is armed.
                        assert!(!wg.wait_timeout(Duration::from_millis(1)));
                    }
                    drop(rearmed);
                } else {
                    // Let the waiter race the release and the re-arm. If it
                    // arrives after the re-arm it legitimately waits for
                    // that guard too, so drop it before expecting the waiter.
                    drop(g);
                    let rearmed = wg.add();
                    assert_eq!(wg.count(), 1);
                    thread::yield_now();
                    drop(rearmed);
                    recv_or_hang(
                        &back_rx,
                        &format!("iteration {i}: racing waiter never returned, {wg:?}"),
                    );
                }
                assert_eq!(wg.count(), 0);
            }
            drop(go_tx);
            waiter.join().unwrap();
        },
    );
}

#[test]
fn rearm_on_another_thread_racing_the_release() {
    // The last done happens on one thread while another thread re-arms the
    // group as soon as it sees the count at zero; waiters parked before the
    // done must all return, and the new guard must be counted.
    watchdog("rearm_on_another_thread_racing_the_release", || {
        let wg = WaitGroup::new();
        for round in 0..300 {
            let g = wg.add();
            let returned = AtomicUsize::new(0);
            let stop = AtomicBool::new(false);
            thread::scope(|ts| {
                for _ in 0..3 {
                    let (wg, returned) = (&wg, &returned);
                    ts.spawn(move || {
                        wg.wait();
                        returned.fetch_add(1, Ordering::SeqCst);
                    });
                }
                until_parked(&wg, 3);
                let rearm = ts.spawn(|| {
                    while wg.count() != 0 {
                        if stop.load(Ordering::Relaxed) {
                            return None;
                        }
                        std::hint::spin_loop();
                    }
                    Some(wg.add())
                });
                ts.spawn(move || drop(g));
                let start = Instant::now();
                while returned.load(Ordering::SeqCst) != 3 {
                    assert!(
                        start.elapsed() < Duration::from_secs(10),
                        "round {round}: waiters stranded ({} of 3 returned), {wg:?}",
                        returned.load(Ordering::SeqCst)
                    );
                    thread::yield_now();
                }
                stop.store(true, Ordering::Relaxed);
                if let Some(g2) = rearm.join().unwrap() {
                    assert_eq!(wg.count(), 1);
                    assert!(!wg.wait_timeout(Duration::ZERO));
                    drop(g2);
                }
            });
            assert_eq!(wg.count(), 0);
            wg.wait();
        }
    });
}

#[test]
fn wait_never_returns_while_an_earlier_guard_is_held() {
    // Two churn threads add and drop guards as fast as they can, so the
    // group passes through zero, pending releases and re-arms all the time.
    // Each round a holder takes a guard *before* the waiters start and keeps
    // it for a while: no wait of that round may return true before the
    // holder's guard is dropped.
    watchdog("wait_never_returns_while_an_earlier_guard_is_held", || {
        const WAITERS: usize = 3;
        const ROUNDS: usize = 200;
        let wg = WaitGroup::new();
        let held = AtomicBool::new(false);
        let stop = AtomicBool::new(false);
        let round_start = Barrier::new(WAITERS + 1);
        let round_end = Barrier::new(WAITERS + 1);
        let returned_true = AtomicUsize::new(0);
        thread::scope(|ts| {
            for _ in 0..2 {
                let (wg, stop) = (&wg, &stop);
                ts.spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        let g = wg.add();
                        for _ in 0..20 {
                            std::hint::spin_loop();
                        }
                        drop(g);
                        for _ in 0..20 {
                            std::hint::spin_loop();
                        }
                    }
                });
            }
            for w in 0..WAITERS {
                let (wg, held, round_start, round_end, returned_true) =
                    (&wg, &held, &round_start, &round_end, &returned_true);
                ts.spawn(move || {
                    for round in 0..ROUNDS {
                        round_start.wait();
                        let ok = if (w + round) % 2 == 0 {
                            wg.wait_timeout(STEP_LIMIT)
                        } else {
                            wg.wait_deadline(Instant::now() + STEP_LIMIT)
                        };
                        if ok {
                            assert!(
                                !held.load(Ordering::SeqCst),
                                "round {round}: wait returned while a guard taken before it \
                                 was still held"
                            );
                            returned_true.fetch_add(1, Ordering::Relaxed);
                        }
                        round_end.wait();
                    }
                });
            }
            for round in 0..ROUNDS {
                let g = wg.add();
                held.store(true, Ordering::SeqCst);
                round_start.wait();
                thread::sleep(Duration::from_micros(100 + (round as u64 % 5) * 50));
                held.store(false, Ordering::SeqCst);
                drop(g);
                round_end.wait();
            }
            stop.store(true, Ordering::Relaxed);
        });
        assert_eq!(wg.count(), 0);
        // With 10 s limits every wait should have seen a zero.
        assert_eq!(returned_true.load(Ordering::Relaxed), WAITERS * ROUNDS);
    });
}

#[test]
fn five_thousand_reuse_rounds_with_a_helper_pool() {
    watchdog("five_thousand_reuse_rounds_with_a_helper_pool", || {
        const ROUNDS: usize = 5_000;
        const HELPERS: usize = 3;
        const PER_ROUND: usize = 4;
        let wg = WaitGroup::new();
        let effects = AtomicUsize::new(0);
        thread::scope(|ts| {
            let senders: Vec<mpsc::Sender<WaitGuard<'_>>> = (0..HELPERS)
                .map(|_| {
                    let (tx, rx) = mpsc::channel::<WaitGuard<'_>>();
                    let effects = &effects;
                    ts.spawn(move || {
                        for g in rx {
                            effects.fetch_add(1, Ordering::Relaxed);
                            drop(g);
                        }
                    });
                    tx
                })
                .collect();
            for round in 0..ROUNDS {
                for k in 0..PER_ROUND {
                    let g = wg.add();
                    senders[(round + k) % HELPERS].send(g).unwrap();
                }
                if round % 2 == 0 {
                    wg.wait();
                } else {
                    assert!(
                        wg.wait_timeout(Duration::from_secs(15)),
                        "round {round}: {wg:?}"
                    );
                }
                assert_eq!(
                    effects.load(Ordering::Relaxed),
                    (round + 1) * PER_ROUND,
                    "round {round}"
                );
                assert_eq!(wg.count(), 0, "round {round}");
            }
            drop(senders);
        });
    });
}

#[test]
fn reuse_rounds_with_a_thread_per_round() {
    watchdog("reuse_rounds_with_a_thread_per_round", || {
        let wg = Arc::new(WaitGroup::new());
        let effects = Arc::new(AtomicUsize::new(0));
        for round in 0..500 {
            let g = wg.add_owned();
            let effects = Arc::clone(&effects);
            thread::spawn(move || {
                effects.fetch_add(1, Ordering::Relaxed);
                g.done();
            });
            wg.wait();
            assert_eq!(wg.count(), 0, "round {round}");
        }
        assert_eq!(effects.load(Ordering::Relaxed), 500);
    });
}

// ---------------------------------------------------------------------------
// Owned guards
// ---------------------------------------------------------------------------

#[test]
fn owned_guards_outlive_the_borrow() {
    watchdog("owned_guards_outlive_the_borrow", || {
        // Guards made in a function whose borrow of the group ends at once.
        fn spawn_work(
            wg: &Arc<WaitGroup>,
            effects: &Arc<AtomicUsize>,
        ) -> Vec<thread::JoinHandle<()>> {
            (0..8)
                .map(|i| {
                    let g: OwnedWaitGuard = wg.add_owned();
                    let effects = Arc::clone(effects);
                    thread::spawn(move || {
                        thread::sleep(Duration::from_millis(2 * i));
                        effects.fetch_add(1, Ordering::Relaxed);
                        drop(g);
                    })
                })
                .collect()
        }
        let wg = Arc::new(WaitGroup::new());
        let effects = Arc::new(AtomicUsize::new(0));
        let handles = spawn_work(&wg, &effects);
        assert!(wg.count() <= 8);
        wg.wait();
        assert_eq!(effects.load(Ordering::Relaxed), 8);
        assert_eq!(wg.count(), 0);
        for h in handles {
            h.join().unwrap();
        }

        // A guard may outlive every other handle on its group.
        let wg = Arc::new(WaitGroup::new());
        let g = wg.add_owned();
        let weak = Arc::downgrade(&wg);
        drop(wg);
        assert!(weak.upgrade().is_some(), "the guard keeps its group alive");
        let h = thread::spawn(move || g.done());
        h.join().unwrap();
        assert!(weak.upgrade().is_none(), "the last guard freed its group");
    });
}

#[test]
fn owned_and_borrowed_guards_mix_under_wait() {
    watchdog("owned_and_borrowed_guards_mix_under_wait", || {
        let wg = Arc::new(WaitGroup::new());
        for _ in 0..200 {
            let owned = wg.add_owned();
            let h = thread::spawn(move || drop(owned));
            thread::scope(|ts| {
                let g = wg.add();
                ts.spawn(move || drop(g));
                wg.wait();
                assert_eq!(wg.count(), 0);
            });
            h.join().unwrap();
        }
    });
}
