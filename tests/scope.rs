//! Integration tests of `Scope`: borrowing, nesting, recursion, panics.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::thread;
use std::time::Duration;

use common::{
    assert_str_payload, assert_string_payload, deep_pool, expect_panic, payload_str, pool,
    quiet_expected_panics, watchdog,
};
use taskgroup::{Scope, ThreadPool};

/// Runs `f` once from outside `pool` and once from inside one of its
/// workers (through `install`).
fn outside_and_inside(pool: &ThreadPool, f: impl Fn(&ThreadPool) + Sync) {
    f(pool);
    pool.install(|| f(pool));
}

// ---------------------------------------------------------------- basics

#[test]
fn tasks_borrow_and_mutate_stack_data() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let mut data: Vec<u64> = (0..10_000).collect();
                let spawned = AtomicUsize::new(0);
                pool.scope(|s| {
                    for chunk in data.chunks_mut(97) {
                        let spawned = &spawned;
                        s.spawn(move |_| {
                            chunk.iter_mut().for_each(|x| *x = *x * 2 + 1);
                            spawned.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
                assert_eq!(spawned.load(Ordering::Relaxed), 10_000usize.div_ceil(97));
                for (i, x) in data.iter().enumerate() {
                    assert_eq!(*x, i as u64 * 2 + 1);
                }
            });
        }
    });
}

#[test]
fn scope_returns_the_body_value() {
    watchdog(20, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let v = pool.scope(|_| 42);
                assert_eq!(v, 42);
                let mut total = 0u32;
                let s = pool.scope(|s| {
                    s.spawn(|_| total = (1..=100).sum());
                    String::from("body")
                });
                assert_eq!(s, "body");
                assert_eq!(total, 5050);
            });
        }
    });
}

#[test]
fn empty_scope_and_many_empty_scopes() {
    watchdog(20, || {
        let pool = pool(2);
        for _ in 0..1000 {
            pool.scope(|_| {});
        }
        pool.install(|| {
            for _ in 0..1000 {
                pool.scope(|_| {});
            }
        });
        let r = pool.scope(|s| format!("{s:?}"));
        assert!(r.contains("Scope"), "{r}");
    });
}

#[test]
fn nested_spawns_are_all_counted() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                pool.scope(|s| {
                    for _ in 0..10 {
                        s.spawn(|s| {
                            count.fetch_add(1, Ordering::Relaxed);
                            for _ in 0..10 {
                                s.spawn(|s| {
                                    count.fetch_add(1, Ordering::Relaxed);
                                    s.spawn(|_| {
                                        count.fetch_add(1, Ordering::Relaxed);
                                    });
                                });
                            }
                        });
                    }
                });
                assert_eq!(count.load(Ordering::Relaxed), 10 + 100 + 100);
            });
        }
    });
}

/// Spawns a full binary tree of depth `depth` below the current task.
fn walk<'s>(s: &Scope<'s>, depth: u32, count: &'s AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    if depth > 0 {
        s.spawn(move |s| walk(s, depth - 1, count));
        s.spawn(move |s| walk(s, depth - 1, count));
    }
}

#[test]
fn recursion_through_a_named_walk_function() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                pool.scope(|s| walk(s, 12, &count));
                assert_eq!(count.load(Ordering::Relaxed), (1 << 13) - 1);
            });
        }
    });
}

/// Recursion that borrows a slice and writes into it from the leaves.
fn fill<'s>(s: &Scope<'s>, slice: &'s mut [u32], offset: u32) {
    if slice.len() <= 16 {
        for (i, x) in slice.iter_mut().enumerate() {
            *x = offset + i as u32;
        }
        return;
    }
    let mid = slice.len() / 2;
    let (left, right) = slice.split_at_mut(mid);
    s.spawn(move |s| fill(s, left, offset));
    s.spawn(move |s| fill(s, right, offset + mid as u32));
}

#[test]
fn recursive_split_of_a_borrowed_slice() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let mut data = vec![0u32; 5000];
                pool.scope(|s| fill(s, &mut data, 0));
                assert!(data.iter().enumerate().all(|(i, &x)| x == i as u32));
            });
        }
    });
}

#[test]
fn scopes_nested_inside_tasks() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                let mut sums = [0u64; 8];
                pool.scope(|s| {
                    for (k, sum) in sums.iter_mut().enumerate() {
                        let count = &count;
                        s.spawn(move |_| {
                            // Through the pool handle ...
                            let mut parts = [0u64; 4];
                            pool.scope(|s2| {
                                for (j, part) in parts.iter_mut().enumerate() {
                                    s2.spawn(move |_| *part = (k * 4 + j) as u64);
                                }
                            });
                            // ... and through the free function, which must
                            // use this pool too.
                            taskgroup::scope(|s3| {
                                for _ in 0..5 {
                                    s3.spawn(|s3| {
                                        count.fetch_add(1, Ordering::Relaxed);
                                        s3.spawn(|_| {
                                            count.fetch_add(1, Ordering::Relaxed);
                                        });
                                    });
                                }
                            });
                            *sum = parts.iter().sum();
                        });
                    }
                });
                assert_eq!(count.load(Ordering::Relaxed), 8 * 10);
                for (k, sum) in sums.iter().enumerate() {
                    let k = k as u64;
                    assert_eq!(*sum, 16 * k + 6);
                }
            });
        }
    });
}

#[test]
fn free_scope_inside_a_task_stays_on_the_pool() {
    watchdog(20, || {
        let pool = pool(2);
        let names = Mutex::new(Vec::new());
        pool.scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    taskgroup::scope(|s| {
                        for _ in 0..4 {
                            s.spawn(|_| {
                                let name = thread::current().name().map(str::to_owned);
                                names.lock().unwrap().push(name);
                            });
                        }
                    });
                });
            }
        });
        let names = names.into_inner().unwrap();
        assert_eq!(names.len(), 16);
        for name in names {
            assert!(
                name.as_deref().is_some_and(|n| n.starts_with("tg-test-")),
                "ran on {name:?}"
            );
        }
    });
}

/// `depth` scopes, each nested in a task of the one before, each with
/// `fanout` tasks, only the first of which recurses.
fn nest_chain(pool: &ThreadPool, depth: usize, fanout: usize, count: &AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    if depth == 0 {
        return;
    }
    pool.scope(|s| {
        s.spawn(|_| nest_chain(pool, depth - 1, fanout, count));
        for _ in 1..fanout {
            s.spawn(|_| {
                count.fetch_add(1, Ordering::Relaxed);
            });
        }
    });
}

/// Every task of every scope opens a new scope: `fanout^depth` leaves.
fn nest_tree(depth: u32, fanout: usize, count: &AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    if depth == 0 {
        return;
    }
    taskgroup::scope(|s| {
        for _ in 0..fanout {
            s.spawn(|_| nest_tree(depth - 1, fanout, count));
        }
    });
}

fn tree_size(depth: u32, fanout: usize) -> usize {
    (0..=depth).map(|d| fanout.pow(d)).sum()
}

#[test]
fn one_thread_pool_many_nested_scopes_from_its_only_worker() {
    watchdog(30, || {
        let pool = deep_pool(1);
        let count = AtomicUsize::new(0);
        pool.install(|| nest_chain(&pool, 200, 3, &count));
        assert_eq!(count.load(Ordering::Relaxed), 1 + 200 * 3);

        let count = AtomicUsize::new(0);
        pool.install(|| nest_tree(6, 3, &count));
        assert_eq!(count.load(Ordering::Relaxed), tree_size(6, 3));

        // And from outside: the body waits on the caller's thread while the
        // only worker runs the nested scopes.
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            s.spawn(|_| nest_chain(&pool, 100, 2, &count));
            s.spawn(|_| nest_tree(5, 3, &count));
        });
        assert_eq!(count.load(Ordering::Relaxed), 1 + 100 * 2 + tree_size(5, 3));
    });
}

#[test]
fn nested_scopes_on_pools_of_one_two_three() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&deep_pool(n), |pool| {
                let count = AtomicUsize::new(0);
                pool.scope(|s| {
                    for _ in 0..3 {
                        s.spawn(|_| nest_tree(5, 3, &count));
                    }
                });
                assert_eq!(count.load(Ordering::Relaxed), 3 * tree_size(5, 3));
            });
        }
    });
}

#[test]
fn scope_of_another_pool_inside_a_task() {
    watchdog(20, || {
        let a = pool(2);
        let b = pool(1);
        let count = AtomicUsize::new(0);
        a.scope(|s| {
            for _ in 0..4 {
                s.spawn(|_| {
                    b.scope(|s| {
                        for _ in 0..10 {
                            s.spawn(|_| {
                                assert_eq!(taskgroup::current_thread_index(), Some(0));
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    });
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 40);
    });
}

// ---------------------------------------------------------------- panics

#[test]
fn task_panic_is_reraised_after_all_other_tasks_ran() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                let p = expect_panic(|| {
                    pool.scope(|s| {
                        for i in 0..50 {
                            let count = &count;
                            s.spawn(move |_| {
                                if i == 17 {
                                    panic!("boom: task {i}");
                                }
                                thread::sleep(Duration::from_micros(200));
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    })
                });
                assert_string_payload(&*p, "boom: task 17");
                assert_eq!(count.load(Ordering::Relaxed), 49);

                let p = expect_panic(|| {
                    pool.scope(|s| {
                        s.spawn(|_| panic!("boom: literal"));
                        for _ in 0..10 {
                            s.spawn(|_| {
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    })
                });
                assert_str_payload(&*p, "boom: literal");
                assert_eq!(count.load(Ordering::Relaxed), 59);
            });
        }
    });
}

#[test]
fn non_string_payloads_are_preserved() {
    quiet_expected_panics();
    #[derive(Debug, PartialEq)]
    struct Payload(Vec<u8>);
    watchdog(20, || {
        let pool = pool(2);
        let p = expect_panic(|| {
            pool.scope(|s| {
                s.spawn(|_| std::panic::panic_any(Payload(vec![1, 2, 3])));
            })
        });
        assert_eq!(p.downcast_ref::<Payload>(), Some(&Payload(vec![1, 2, 3])));
    });
}

#[test]
fn one_of_several_panics_is_reraised() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                let p = expect_panic(|| {
                    pool.scope(|s| {
                        for i in 0..30 {
                            let count = &count;
                            s.spawn(move |_| {
                                count.fetch_add(1, Ordering::Relaxed);
                                if i % 3 == 0 {
                                    panic!("boom: {i}");
                                }
                            });
                        }
                    })
                });
                let text = payload_str(&*p).expect("a string payload");
                let valid: Vec<String> = (0..30).step_by(3).map(|i| format!("boom: {i}")).collect();
                assert!(
                    valid.iter().any(|v| v == text),
                    "unexpected payload {text:?}"
                );
                assert_eq!(count.load(Ordering::Relaxed), 30);
            });
        }
    });
}

#[test]
fn first_panic_wins_on_a_one_thread_pool() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        outside_and_inside(&pool, |pool| {
            let ran = AtomicUsize::new(0);
            let p = expect_panic(|| {
                pool.scope(|s| {
                    s.spawn(|s| {
                        // Queued now, but the only worker is busy with this
                        // task until it has panicked.
                        s.spawn(|_| {
                            ran.fetch_add(1, Ordering::Relaxed);
                            panic!("boom: second");
                        });
                        s.spawn(|_| {
                            ran.fetch_add(1, Ordering::Relaxed);
                            panic!("boom: third");
                        });
                        ran.fetch_add(1, Ordering::Relaxed);
                        panic!("boom: first");
                    });
                })
            });
            assert_str_payload(&*p, "boom: first");
            assert_eq!(ran.load(Ordering::Relaxed), 3);
        });
    });
}

#[test]
fn body_panic_waits_for_all_tasks() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                let p = expect_panic(|| {
                    pool.scope(|s| {
                        for _ in 0..6 {
                            s.spawn(|_| {
                                thread::sleep(Duration::from_millis(10));
                                count.fetch_add(1, Ordering::SeqCst);
                            });
                        }
                        panic!("boom: body");
                    })
                });
                assert_str_payload(&*p, "boom: body");
                assert_eq!(count.load(Ordering::SeqCst), 6);
            });
        }
    });
}

#[test]
fn body_panic_with_borrowed_data_is_sound() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let mut data = vec![0u32; 64];
        let p = expect_panic(|| {
            pool.scope(|s| {
                for (i, x) in data.iter_mut().enumerate() {
                    s.spawn(move |_| {
                        thread::sleep(Duration::from_millis(1));
                        *x = i as u32 + 1;
                    });
                }
                panic!("boom: {}", std::hint::black_box("body with borrows"));
            })
        });
        assert_string_payload(&*p, "boom: body with borrows");
        assert!(data.iter().enumerate().all(|(i, &x)| x == i as u32 + 1));
    });
}

/// The body panics first (chronologically); a task it spawned panics later.
/// On a one-thread pool, from inside its worker, the task cannot start
/// before the body has panicked, so the body's payload is the first one.
#[test]
fn body_panic_before_task_panic_is_the_first_payload() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        let task_ran = AtomicBool::new(false);
        let p = pool.install(|| {
            expect_panic(|| {
                pool.scope(|s| {
                    s.spawn(|_| {
                        task_ran.store(true, Ordering::SeqCst);
                        panic!("boom: task");
                    });
                    panic!("boom: body");
                })
            })
        });
        assert!(task_ran.load(Ordering::SeqCst));
        assert_str_payload(&*p, "boom: body");
    });
}

#[test]
fn tasks_keep_running_after_a_sibling_panicked() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                let panicked = AtomicBool::new(false);
                let p = expect_panic(|| {
                    pool.scope(|s| {
                        s.spawn(|s| {
                            for _ in 0..100 {
                                s.spawn(|_| {
                                    count.fetch_add(1, Ordering::SeqCst);
                                });
                            }
                            panicked.store(true, Ordering::SeqCst);
                            panic!("boom: parent");
                        });
                    })
                });
                assert_str_payload(&*p, "boom: parent");
                assert!(panicked.load(Ordering::SeqCst));
                assert_eq!(count.load(Ordering::SeqCst), 100);
            });
        }
        // On one thread, with a known order: the siblings necessarily run
        // after the panic.
        let pool = pool(1);
        let after = AtomicUsize::new(0);
        let panicked = AtomicBool::new(false);
        let p = pool.install(|| {
            expect_panic(|| {
                pool.scope(|s| {
                    s.spawn(|s| {
                        for _ in 0..20 {
                            s.spawn(|_| {
                                if panicked.load(Ordering::SeqCst) {
                                    after.fetch_add(1, Ordering::SeqCst);
                                }
                            });
                        }
                        panicked.store(true, Ordering::SeqCst);
                        panic!("boom: before siblings");
                    });
                })
            })
        });
        assert_str_payload(&*p, "boom: before siblings");
        assert_eq!(after.load(Ordering::SeqCst), 20);
    });
}

#[test]
fn nested_scope_panic_propagates_through_the_outer_scope() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            outside_and_inside(&pool(n), |pool| {
                let count = AtomicUsize::new(0);
                let p = expect_panic(|| {
                    pool.scope(|s| {
                        for i in 0..4 {
                            let count = &count;
                            s.spawn(move |_| {
                                taskgroup::scope(|s| {
                                    for j in 0..5 {
                                        s.spawn(move |_| {
                                            count.fetch_add(1, Ordering::SeqCst);
                                            if i == 2 && j == 3 {
                                                panic!("boom: inner {i}.{j}");
                                            }
                                        });
                                    }
                                });
                                count.fetch_add(100, Ordering::SeqCst);
                            });
                        }
                    })
                });
                assert_string_payload(&*p, "boom: inner 2.3");
                // Every inner task ran; the task whose inner scope panicked
                // did not get past it.
                assert_eq!(count.load(Ordering::SeqCst), 20 + 300);
            });
        }
    });
}

#[test]
fn caught_nested_panic_does_not_reach_the_outer_scope() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let caught = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..8 {
                s.spawn(|_| {
                    let p =
                        expect_panic(|| taskgroup::scope(|s| s.spawn(|_| panic!("boom: caught"))));
                    assert_str_payload(&*p, "boom: caught");
                    caught.fetch_add(1, Ordering::SeqCst);
                });
            }
        });
        assert_eq!(caught.load(Ordering::SeqCst), 8);
    });
}

#[test]
fn a_hundred_rounds_of_panicking_scopes_leave_the_pool_usable() {
    quiet_expected_panics();
    watchdog(30, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            for round in 0..100 {
                let count = AtomicUsize::new(0);
                let p = expect_panic(|| {
                    pool.scope(|s| {
                        for i in 0..10 {
                            let count = &count;
                            s.spawn(move |_| {
                                count.fetch_add(1, Ordering::Relaxed);
                                if i == round % 10 {
                                    panic!("boom: round {round}");
                                }
                            });
                        }
                    })
                });
                assert_string_payload(&*p, &format!("boom: round {round}"));
                assert_eq!(count.load(Ordering::Relaxed), 10);
            }
            let count = AtomicUsize::new(0);
            pool.install(|| {
                pool.scope(|s| walk(s, 8, &count));
            });
            assert_eq!(count.load(Ordering::Relaxed), (1 << 9) - 1);
            assert_eq!(pool.join(|| 1, || 2), (1, 2));
        }
    });
}

// ------------------------------------------------- a worker's spare units

/// A worker keeps a finished task's unit of its scope's count while it may
/// run more of that scope's tasks. Runs `blocker` (which queues a job that
/// blocks until the scope has ended) while the scope's only task is still
/// running on the pool's only worker, so that the worker picks the blocking
/// job up right after that task: it must give the unit back first.
fn scope_then_blocking_job(
    queue_blocker: impl FnOnce(&std::sync::Arc<ThreadPool>, std::sync::mpsc::Receiver<()>),
) {
    let pool = std::sync::Arc::new(pool(1));
    let (tx, rx) = std::sync::mpsc::channel();
    let queued = AtomicBool::new(false);
    pool.scope(|s| {
        s.spawn(|_| {
            while !queued.load(Ordering::Acquire) {
                thread::yield_now();
            }
            // Let a job queued from another thread arrive.
            thread::sleep(Duration::from_millis(20));
        });
        queue_blocker(&pool, rx);
        queued.store(true, Ordering::Release);
    });
    // The blocking job ends only once the scope has.
    tx.send(()).unwrap();
}

#[test]
fn a_detached_job_after_a_task_does_not_hold_its_scope_open() {
    watchdog(20, || {
        for _ in 0..20 {
            scope_then_blocking_job(|pool, rx| pool.spawn(move || rx.recv().unwrap()));
        }
    });
}

#[test]
fn an_installed_job_after_a_task_does_not_hold_its_scope_open() {
    watchdog(20, || {
        for _ in 0..20 {
            scope_then_blocking_job(|pool, rx| {
                let pool = std::sync::Arc::clone(pool);
                thread::spawn(move || pool.install(move || rx.recv().unwrap()));
            });
        }
    });
}

#[test]
fn a_task_of_another_scope_after_a_task_does_not_hold_its_scope_open() {
    watchdog(20, || {
        for _ in 0..20 {
            scope_then_blocking_job(|pool, rx| {
                let pool = std::sync::Arc::clone(pool);
                thread::spawn(move || pool.scope(|s| s.spawn(move |_| rx.recv().unwrap())));
            });
        }
    });
}

#[test]
fn a_wait_that_ran_a_task_does_not_keep_its_scope_open_afterwards() {
    // The only worker of pool A runs an installed closure that waits for
    // pool B; meanwhile it runs task T of an unrelated scope S, and the wait
    // ends right after T. The closure then blocks until S has ended: the
    // worker must not still hold T's unit of S's count.
    watchdog(20, || {
        for _ in 0..10 {
            let pool_a = pool(1);
            let pool_b = pool(1);
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let waiting = AtomicBool::new(false);
            let b_done = AtomicBool::new(false);
            let (waiting, b_done, pool_b) = (&waiting, &b_done, &pool_b);
            thread::scope(|ts| {
                ts.spawn(|| {
                    pool_a.install(move || {
                        pool_b.install(|| {
                            waiting.store(true, Ordering::Release);
                            while !b_done.load(Ordering::Acquire) {
                                thread::yield_now();
                            }
                        });
                        rx.recv().unwrap();
                    })
                });
                while !waiting.load(Ordering::Acquire) {
                    thread::yield_now();
                }
                pool_a.scope(|s| {
                    s.spawn(|_| {
                        b_done.store(true, Ordering::Release);
                        // Let pool B's job finish, so that the wait ends as
                        // soon as this task does.
                        thread::sleep(Duration::from_millis(10));
                    });
                });
                tx.send(()).unwrap();
            });
        }
    });
}
