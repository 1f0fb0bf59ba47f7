//! Integration tests of `join`: values, recursion, panics, one-thread pools.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{
    assert_str_payload, assert_string_payload, deep_pool, expect_panic, pool,
    quiet_expected_panics, watchdog, XorShift,
};

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = taskgroup::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

fn fib_seq(n: u64) -> u64 {
    if n < 2 {
        n
    } else {
        fib_seq(n - 1) + fib_seq(n - 2)
    }
}

#[test]
fn join_returns_both_values() {
    watchdog(20, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            assert_eq!(pool.join(|| 1u8, || "two"), (1, "two"));
            let (a, b) = pool.install(|| taskgroup::join(|| vec![1, 2, 3], || String::from("x")));
            assert_eq!(a, vec![1, 2, 3]);
            assert_eq!(b, "x");
            let (a, b) = pool.install(|| pool.join(|| 10, || 20));
            assert_eq!(a + b, 30);
        }
    });
}

#[test]
fn join_sides_borrow_and_mutate() {
    watchdog(20, || {
        let pool = pool(2);
        let mut data = vec![0u32; 1000];
        let (left, right) = data.split_at_mut(500);
        let (l, r) = pool.join(
            || {
                left.iter_mut().for_each(|x| *x = 1);
                left.len()
            },
            || {
                right.iter_mut().for_each(|x| *x = 2);
                right.len()
            },
        );
        assert_eq!((l, r), (500, 500));
        assert_eq!(data.iter().map(|&x| x as usize).sum::<usize>(), 1500);
    });
}

#[test]
fn fib_through_join_inside_install() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            assert_eq!(pool.install(|| fib(20)), 6765, "{n}-thread pool");
            assert_eq!(pool.install(|| fib(15)), fib_seq(15));
        }
    });
}

#[test]
fn pool_join_from_outside_the_pool() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            let (a, b) = pool.join(
                || (fib(16), taskgroup::current_thread_index()),
                || (fib(15), taskgroup::current_thread_index()),
            );
            assert_eq!(a.0 + b.0, 1597);
            // Both sides run inside the pool.
            assert!(a.1.is_some_and(|i| i < n));
            assert!(b.1.is_some_and(|i| i < n));
            assert_eq!(taskgroup::current_thread_index(), None);
        }
    });
}

/// Parallel quicksort over a borrowed slice, through `join`.
fn quicksort(v: &mut [u64]) {
    if v.len() <= 32 {
        v.sort_unstable();
        return;
    }
    let pivot = v[v.len() / 2];
    let mut lt = 0;
    let mut gt = v.len();
    let mut i = 0;
    // Three-way partition: [< pivot | == pivot | > pivot].
    while i < gt {
        if v[i] < pivot {
            v.swap(i, lt);
            lt += 1;
            i += 1;
        } else if v[i] > pivot {
            gt -= 1;
            v.swap(i, gt);
        } else {
            i += 1;
        }
    }
    let (low, rest) = v.split_at_mut(lt);
    let high = &mut rest[gt - lt..];
    taskgroup::join(|| quicksort(low), || quicksort(high));
}

#[test]
fn parallel_quicksort() {
    watchdog(30, || {
        let mut rng = XorShift::new(7);
        for n in [1, 2, 3] {
            let pool = pool(n);
            let mut v: Vec<u64> = (0..50_000).map(|_| rng.below(10_000)).collect();
            let mut expected = v.clone();
            expected.sort_unstable();
            pool.install(|| quicksort(&mut v));
            assert_eq!(v, expected);
        }
    });
}

#[test]
fn panic_in_a_propagates_after_b_finished() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            for inside in [false, true] {
                let b_done = AtomicBool::new(false);
                let run = || {
                    pool.join(
                        || -> u32 { panic!("boom: left") },
                        || {
                            thread::sleep(Duration::from_millis(20));
                            b_done.store(true, Ordering::SeqCst);
                            2
                        },
                    )
                };
                let p = if inside {
                    pool.install(|| expect_panic(run))
                } else {
                    expect_panic(run)
                };
                assert_str_payload(&*p, "boom: left");
                assert!(
                    b_done.load(Ordering::SeqCst),
                    "b finished before the unwind"
                );
            }
        }
    });
}

#[test]
fn panic_in_b_propagates_after_a_finished() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            for inside in [false, true] {
                let a_done = AtomicBool::new(false);
                let run = || {
                    pool.join(
                        || {
                            thread::sleep(Duration::from_millis(20));
                            a_done.store(true, Ordering::SeqCst);
                            1
                        },
                        || -> u32 { panic!("boom: right {}", std::hint::black_box(n)) },
                    )
                };
                let p = if inside {
                    pool.install(|| expect_panic(run))
                } else {
                    expect_panic(run)
                };
                assert_string_payload(&*p, &format!("boom: right {n}"));
                assert!(
                    a_done.load(Ordering::SeqCst),
                    "a finished before the unwind"
                );
            }
        }
    });
}

#[test]
fn both_sides_panic_the_left_payload_wins() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            for _ in 0..20 {
                let b_ran = AtomicBool::new(false);
                let p = pool.install(|| {
                    expect_panic(|| {
                        taskgroup::join(
                            || -> () {
                                thread::sleep(Duration::from_micros(100));
                                panic!("boom: a")
                            },
                            || -> () {
                                b_ran.store(true, Ordering::SeqCst);
                                panic!("boom: b")
                            },
                        )
                    })
                });
                assert_str_payload(&*p, "boom: a");
                assert!(b_ran.load(Ordering::SeqCst));
            }
        }
    });
}

#[test]
fn panic_deep_in_a_join_tree_propagates() {
    quiet_expected_panics();
    fn tree(depth: u32, id: u32, bad: u32, count: &AtomicUsize) {
        count.fetch_add(1, Ordering::SeqCst);
        if id == bad {
            panic!("boom: node {id}");
        }
        if depth > 0 {
            taskgroup::join(
                || tree(depth - 1, id * 2, bad, count),
                || tree(depth - 1, id * 2 + 1, bad, count),
            );
        }
    }
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            for bad in [1, 5, 200, 1023] {
                let count = AtomicUsize::new(0);
                let p = pool.install(|| expect_panic(|| tree(9, 1, bad, &count)));
                assert_string_payload(&*p, &format!("boom: node {bad}"));
                // Every node ran except the subtree below the panicking one.
                let bad_depth = 31 - bad.leading_zeros(); // depth of `bad` from the root
                let below = (1usize << (10 - bad_depth)) - 2; // its subtree minus itself
                assert_eq!(
                    count.load(Ordering::SeqCst),
                    (1 << 10) - 1 - below,
                    "bad = {bad}"
                );
            }
            let count = AtomicUsize::new(0);
            pool.install(|| tree(9, 1, 0, &count));
            assert_eq!(count.load(Ordering::SeqCst), (1 << 10) - 1);
        }
    });
}

#[test]
fn deep_join_nesting_on_a_one_thread_pool() {
    fn chain(depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        let (a, b) = taskgroup::join(|| chain(depth - 1), || 1);
        a + b
    }
    fn chain_right(depth: u32) -> u32 {
        if depth == 0 {
            return 0;
        }
        let (a, b) = taskgroup::join(|| 1, || chain_right(depth - 1));
        a + b
    }
    watchdog(30, || {
        let pool = deep_pool(1);
        assert_eq!(pool.install(|| chain(2000)), 2000);
        assert_eq!(pool.install(|| chain_right(2000)), 2000);
        assert_eq!(pool.install(|| fib(22)), 17711);
        // From outside, too.
        assert_eq!(pool.join(|| chain(500), || chain_right(500)), (500, 500));
    });
}

#[test]
fn join_mixed_with_scopes() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            let count = AtomicUsize::new(0);
            pool.scope(|s| {
                for _ in 0..8 {
                    s.spawn(|_| {
                        let (a, b) = taskgroup::join(
                            || {
                                taskgroup::scope(|s| {
                                    for _ in 0..4 {
                                        s.spawn(|_| {
                                            count.fetch_add(1, Ordering::SeqCst);
                                        });
                                    }
                                });
                                fib(10)
                            },
                            || fib(11),
                        );
                        assert_eq!(a + b, 144);
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
            assert_eq!(count.load(Ordering::SeqCst), 8 * 5);
        }
    });
}

#[test]
fn global_join_from_the_main_thread() {
    watchdog(30, || {
        let (a, b) = taskgroup::join(|| fib(12), || fib(13));
        assert_eq!(a + b, 377);
        assert_eq!(taskgroup::current_thread_index(), None);
    });
}

/// Runs `f` inside `depth` nested joins, so that `join`s in `f` are not
/// among the outermost on their worker's stack (those publish eagerly).
fn nested<R: Send>(depth: usize, f: impl FnOnce() -> R + Send) -> R {
    if depth == 0 {
        return f();
    }
    taskgroup::join(|| nested(depth - 1, f), || ()).0
}

#[test]
fn outermost_join_halves_run_in_parallel() {
    // Each half waits for the other: only two threads at once can finish.
    watchdog(20, || {
        let pool = pool(2);
        for _ in 0..50 {
            let barrier = std::sync::Barrier::new(2);
            pool.join(|| barrier.wait(), || barrier.wait());
            pool.install(|| taskgroup::join(|| barrier.wait(), || barrier.wait()));
        }
    });
}

#[test]
fn a_deep_join_shows_its_second_half_before_its_worker_waits() {
    // `b` of a deep join sits unpublished while `a` waits for a scope whose
    // task waits for `b`. The waiting worker runs that task (which blocks
    // it) unless it has published `b` first, for the other one to steal.
    watchdog(20, || {
        let pool = pool(2);
        for _ in 0..50 {
            let b_ran = AtomicBool::new(false);
            pool.install(|| {
                nested(6, || {
                    taskgroup::join(
                        || {
                            taskgroup::scope(|s| {
                                s.spawn(|_| {
                                    while !b_ran.load(Ordering::Acquire) {
                                        thread::yield_now();
                                    }
                                });
                            })
                        },
                        || b_ran.store(true, Ordering::Release),
                    )
                })
            });
            assert!(b_ran.load(Ordering::Relaxed));
        }
    });
}

#[test]
fn a_job_run_by_a_waiting_worker_publishes_its_outermost_join() {
    // A worker deep in `join`s waits for a scope and, meanwhile, runs one
    // of its tasks whose halves must meet at a barrier, while the other
    // worker is busy: that task's first `join` is its outermost, so it must
    // publish its second half at once for the other worker to take later.
    watchdog(20, || {
        let pool = pool(2);
        for _ in 0..10 {
            let started = AtomicBool::new(false);
            let barrier = std::sync::Barrier::new(2);
            pool.install(|| {
                nested(6, || {
                    taskgroup::scope(|s| {
                        s.spawn(|_| {
                            started.store(true, Ordering::Release);
                            thread::sleep(Duration::from_millis(20));
                        });
                        s.spawn(|_| {
                            while !started.load(Ordering::Acquire) {
                                thread::yield_now();
                            }
                            taskgroup::join(|| barrier.wait(), || barrier.wait());
                        });
                    })
                })
            });
        }
    });
}

#[test]
fn panics_in_deep_joins_whose_second_half_was_never_published() {
    // Below the outermost joins, on a one-thread pool (nobody is ever idle
    // to publish for), `b` stays private and runs inline: the panic rules
    // are the same as for a published `b`.
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2] {
            let pool = pool(n);
            let (a_done, b_done) = (AtomicBool::new(false), AtomicBool::new(false));
            let p = pool.install(|| {
                expect_panic(|| {
                    nested(4, || {
                        taskgroup::join(
                            || -> u32 { panic!("deep: left") },
                            || b_done.store(true, Ordering::SeqCst),
                        )
                    })
                })
            });
            assert_str_payload(&*p, "deep: left");
            assert!(b_done.load(Ordering::SeqCst), "b ran although a panicked");

            let p = pool.install(|| {
                expect_panic(|| {
                    nested(4, || {
                        taskgroup::join(
                            || a_done.store(true, Ordering::SeqCst),
                            || -> u32 { panic!("deep: right") },
                        )
                    })
                })
            });
            assert_str_payload(&*p, "deep: right");
            assert!(a_done.load(Ordering::SeqCst));

            let p = pool.install(|| {
                expect_panic(|| {
                    nested(4, || {
                        taskgroup::join(
                            || -> u32 { panic!("deep: both, left") },
                            || -> u32 { panic!("deep: both, right") },
                        )
                    })
                })
            });
            assert_str_payload(&*p, "deep: both, left");
            // The pool is still usable, and its frames are consistent.
            assert_eq!(pool.install(|| nested(4, || fib(15))), fib_seq(15));
        }
    });
}

/// Leaves of a binary recursion of depth `depth`, each calling `leaf`.
fn leaves(depth: usize, leaf: &(impl Fn() + Sync)) {
    if depth == 0 {
        return leaf();
    }
    taskgroup::join(|| leaves(depth - 1, leaf), || leaves(depth - 1, leaf));
}

#[test]
fn a_worker_deep_in_joins_shares_them_when_another_asks() {
    // Beneath two outermost joins whose other halves are empty, a recursion
    // whose leaves wait, `join`ing, until some leaf has run on another
    // thread. Its halves are never published eagerly and its thread never
    // waits: only the idle worker's request for work can move one of them.
    watchdog(20, || {
        let pool = pool(2);
        for _ in 0..20 {
            let owner = AtomicUsize::new(0);
            let elsewhere = AtomicBool::new(false);
            let leaf = || {
                let me = thread_id();
                if owner
                    .compare_exchange(0, me, Ordering::Relaxed, Ordering::Relaxed)
                    .is_err()
                    && owner.load(Ordering::Relaxed) != me
                {
                    elsewhere.store(true, Ordering::Relaxed);
                }
                while !elsewhere.load(Ordering::Relaxed) {
                    taskgroup::join(thread::yield_now, || ());
                }
            };
            pool.install(|| nested(2, || leaves(6, &leaf)));
            assert!(elsewhere.load(Ordering::Relaxed));
        }
    });
}

/// A small number unique to the current thread while it lives.
fn thread_id() -> usize {
    thread_local!(static ID: u8 = const { 0 });
    ID.with(|id| id as *const u8 as usize)
}
