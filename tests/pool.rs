//! Integration tests of `ThreadPool`, its builder, `install`, detached
//! `spawn`, the global pool and dropping a pool.
#![cfg(not(loom))]

mod common;

use std::error::Error as _;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Barrier, Mutex};
use std::thread;
use std::time::Duration;

use common::{
    assert_str_payload, assert_string_payload, expect_panic, payload_str, pool,
    quiet_expected_panics, wait_for, watchdog,
};
use taskgroup::{BuildError, ThreadPool};

// ---------------------------------------------------------------- builder

#[test]
fn zero_threads_is_an_error_that_names_the_rule() {
    let err = ThreadPool::builder().num_threads(0).build().unwrap_err();
    assert!(matches!(err, BuildError::ZeroThreads), "got {err:?}");
    let text = err.to_string();
    assert!(text.contains("at least one thread"), "Display: {text}");
    assert!(text.contains("num_threads(0)"), "Display: {text}");
    assert!(err.source().is_none());
}

#[test]
fn absurd_stack_size_is_a_spawn_error_with_an_io_source() {
    watchdog(20, || {
        for size in [1usize << 60, usize::MAX / 2] {
            let started = Arc::new(AtomicUsize::new(0));
            let s = Arc::clone(&started);
            let err = ThreadPool::builder()
                .num_threads(2)
                .stack_size(size)
                .start_handler(move |_| {
                    s.fetch_add(1, Ordering::SeqCst);
                })
                .build()
                .unwrap_err();
            match &err {
                BuildError::Spawn { index, .. } => assert_eq!(*index, 0),
                other => panic!("stack_size({size:#x}): expected Spawn, got {other:?}"),
            }
            let source = err.source().expect("Spawn has a source");
            assert!(
                source.downcast_ref::<std::io::Error>().is_some(),
                "source is an io::Error: {source:?}"
            );
            assert!(err.to_string().contains("worker thread 0"), "{err}");
            assert_eq!(started.load(Ordering::SeqCst), 0);
        }
    });
}

#[test]
fn thread_name_is_applied_to_every_worker() {
    watchdog(20, || {
        let names = Arc::new(Mutex::new(Vec::new()));
        let n2 = Arc::clone(&names);
        let pool = ThreadPool::builder()
            .num_threads(3)
            .thread_name(|i| format!("named-worker-{i}"))
            .start_handler(move |i| {
                let name = thread::current().name().map(str::to_owned);
                n2.lock().unwrap().push((i, name));
            })
            .build()
            .unwrap();
        let (index, name) = pool.install(|| {
            (
                taskgroup::current_thread_index(),
                thread::current().name().map(str::to_owned),
            )
        });
        let index = index.expect("install runs on a worker");
        assert_eq!(
            name.as_deref(),
            Some(format!("named-worker-{index}").as_str())
        );
        drop(pool);
        let mut names = names.lock().unwrap().clone();
        names.sort();
        let expected: Vec<_> = (0..3)
            .map(|i| (i, Some(format!("named-worker-{i}"))))
            .collect();
        assert_eq!(names, expected);
    });
}

#[test]
fn panicking_thread_name_is_an_error_and_started_threads_are_joined() {
    quiet_expected_panics();
    watchdog(20, || {
        let exits = Arc::new(Mutex::new(Vec::new()));
        let e2 = Arc::clone(&exits);
        let err = ThreadPool::builder()
            .num_threads(3)
            .thread_name(|i| {
                if i == 1 {
                    panic!("boom: no name for worker 1");
                }
                format!("w{i}")
            })
            .exit_handler(move |i| e2.lock().unwrap().push(i))
            .build()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::ThreadNamePanicked { index: 1 }),
            "got {err:?}"
        );
        assert!(err.to_string().contains("thread_name"), "{err}");
        // Worker 0 was started before the failure; build joins it first.
        assert_eq!(*exits.lock().unwrap(), vec![0]);
    });
}

#[test]
fn start_and_exit_handlers_run_once_per_worker() {
    watchdog(20, || {
        for n in [1, 2, 3, 5] {
            let starts = Arc::new(Mutex::new(Vec::new()));
            let exits = Arc::new(Mutex::new(Vec::new()));
            let (s2, e2) = (Arc::clone(&starts), Arc::clone(&exits));
            let pool = ThreadPool::builder()
                .num_threads(n)
                .start_handler(move |i| {
                    assert_eq!(taskgroup::current_thread_index(), Some(i));
                    s2.lock().unwrap().push(i);
                })
                .exit_handler(move |i| {
                    assert_eq!(taskgroup::current_thread_index(), Some(i));
                    e2.lock().unwrap().push(i);
                })
                .build()
                .unwrap();
            assert_eq!(pool.num_threads(), n);
            assert_eq!(pool.install(|| 1 + 1), 2);
            drop(pool);
            let mut starts = starts.lock().unwrap().clone();
            let mut exits = exits.lock().unwrap().clone();
            starts.sort_unstable();
            exits.sort_unstable();
            let expected: Vec<usize> = (0..n).collect();
            assert_eq!(starts, expected, "start handlers of a {n}-thread pool");
            assert_eq!(exits, expected, "exit handlers of a {n}-thread pool");
        }
    });
}

#[test]
fn panicking_start_and_exit_handlers_do_not_kill_the_pool() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = ThreadPool::builder()
            .num_threads(1)
            .start_handler(|_| panic!("boom: start handler"))
            .exit_handler(|_| panic!("boom: exit handler"))
            .build()
            .unwrap();
        assert_eq!(pool.install(taskgroup::current_thread_index), Some(0));
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..10 {
                s.spawn(|_| {
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 10);
        drop(pool);
    });
}

#[test]
fn num_threads_and_default_size() {
    watchdog(20, || {
        for n in 1..=4 {
            assert_eq!(pool(n).num_threads(), n);
        }
        let cpus = thread::available_parallelism().map_or(1, |n| n.get());
        assert!(cpus >= 1);
        let default = ThreadPool::new();
        assert!(default.num_threads() >= 1);
        assert_eq!(
            ThreadPool::builder().build().unwrap().num_threads(),
            default.num_threads()
        );
        assert!(ThreadPool::default().num_threads() >= 1);
    });
}

#[test]
fn pool_is_send_and_sync_and_debug() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<ThreadPool>();
    let pool = pool(2);
    let text = format!("{pool:?}");
    assert!(text.contains("ThreadPool"), "{text}");
    assert!(text.contains("num_threads: 2"), "{text}");
    let builder = format!("{:?}", ThreadPool::builder().num_threads(3));
    assert!(builder.contains("ThreadPoolBuilder"), "{builder}");
}

// ---------------------------------------------------- current_thread_index

#[test]
fn current_thread_index_inside_and_outside() {
    watchdog(20, || {
        assert_eq!(taskgroup::current_thread_index(), None);
        for n in [1, 2, 3] {
            let pool = pool(n);
            assert_eq!(taskgroup::current_thread_index(), None);
            let i = pool.install(taskgroup::current_thread_index);
            assert!(i.is_some_and(|i| i < n), "install: {i:?}");

            // Scope called from outside: the body runs on the caller, the
            // tasks on workers.
            let seen = Mutex::new(Vec::new());
            let body = pool.scope(|s| {
                for _ in 0..20 {
                    s.spawn(|_| seen.lock().unwrap().push(taskgroup::current_thread_index()));
                }
                taskgroup::current_thread_index()
            });
            assert_eq!(body, None);
            let seen = seen.into_inner().unwrap();
            assert_eq!(seen.len(), 20);
            assert!(seen.iter().all(|i| i.is_some_and(|i| i < n)), "{seen:?}");

            // Detached tasks.
            let (tx, rx) = mpsc::channel();
            for _ in 0..10 {
                let tx = tx.clone();
                pool.spawn(move || tx.send(taskgroup::current_thread_index()).unwrap());
            }
            drop(tx);
            let seen: Vec<_> = rx.iter().collect();
            assert_eq!(seen.len(), 10);
            assert!(seen.iter().all(|i| i.is_some_and(|i| i < n)), "{seen:?}");
            assert_eq!(taskgroup::current_thread_index(), None);
        }
    });
}

#[test]
fn current_thread_index_is_per_pool() {
    watchdog(20, || {
        let outer = pool(2);
        let inner = pool(3);
        // A worker of `outer` is not a worker of `inner`: install sends the
        // closure over and it sees inner's index.
        let (a, b) = outer.install(|| {
            let a = taskgroup::current_thread_index();
            let b = inner.install(|| {
                (
                    taskgroup::current_thread_index(),
                    thread::current().name().map(str::to_owned),
                )
            });
            (a, b)
        });
        assert!(a.is_some_and(|i| i < 2));
        let (bi, bname) = b;
        let bi = bi.expect("inner install runs on an inner worker");
        assert!(bi < 3);
        assert_eq!(bname, Some(format!("tg-test-{bi}")));
    });
}

// ---------------------------------------------------------------- install

#[test]
fn install_returns_the_value() {
    watchdog(20, || {
        let pool = pool(2);
        let v: Vec<u32> = (1..=10).collect();
        let sum = pool.install(|| v.iter().sum::<u32>());
        assert_eq!(sum, 55);
        assert_eq!(pool.install(|| String::from("hi")), "hi");
        // Nested install on the same pool runs in place.
        let same = pool.install(|| {
            let outer = taskgroup::current_thread_index();
            let inner = pool.install(taskgroup::current_thread_index);
            outer == inner
        });
        assert!(same);
    });
}

#[test]
fn install_propagates_the_panic_payload() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let p = expect_panic(|| pool.install(|| panic!("boom: install")));
        assert_str_payload(&*p, "boom: install");
        let p =
            expect_panic(|| pool.install(|| panic!("boom: install {}", std::hint::black_box(42))));
        assert_string_payload(&*p, "boom: install 42");
        #[derive(Debug, PartialEq)]
        struct Custom(u32);
        let p = expect_panic(|| pool.install(|| std::panic::panic_any(Custom(7))));
        assert_eq!(p.downcast_ref::<Custom>(), Some(&Custom(7)));
        // Nested (in place) install too.
        let p = expect_panic(|| pool.install(|| pool.install(|| panic!("boom: nested"))));
        assert_str_payload(&*p, "boom: nested");
        // The pool is still fine.
        assert_eq!(pool.install(|| 5), 5);
    });
}

// --------------------------------------------------------- detached spawn

#[test]
fn spawn_runs_detached_tasks() {
    watchdog(20, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            let (tx, rx) = mpsc::channel();
            for i in 0..100u32 {
                let tx = tx.clone();
                pool.spawn(move || tx.send(i).unwrap());
            }
            drop(tx);
            let mut got: Vec<u32> = rx.iter().collect();
            got.sort_unstable();
            assert_eq!(got, (0..100).collect::<Vec<_>>());
        }
    });
}

#[test]
fn spawn_from_inside_a_worker_and_nested() {
    watchdog(20, || {
        let pool = Arc::new(pool(2));
        let (tx, rx) = mpsc::channel();
        let p2 = Arc::clone(&pool);
        pool.install(move || {
            for i in 0..10u32 {
                let tx = tx.clone();
                p2.spawn(move || {
                    // A detached task spawning more detached tasks through
                    // the free function: they stay on this pool.
                    for j in 0..10u32 {
                        let tx = tx.clone();
                        taskgroup::spawn(move || {
                            let name = thread::current().name().map(str::to_owned);
                            tx.send((i * 10 + j, name)).unwrap();
                        });
                    }
                });
            }
        });
        let mut got: Vec<(u32, Option<String>)> = (0..100)
            .map(|_| rx.recv_timeout(Duration::from_secs(10)).unwrap())
            .collect();
        got.sort();
        for (k, (v, name)) in got.iter().enumerate() {
            assert_eq!(*v, k as u32);
            let name = name.as_deref().unwrap_or("");
            assert!(name.starts_with("tg-test-"), "ran on {name:?}");
        }
    });
}

#[test]
fn detached_panic_goes_to_the_handler_and_the_worker_lives_on() {
    quiet_expected_panics();
    watchdog(20, || {
        let (ptx, prx) = mpsc::channel::<String>();
        let ptx = Mutex::new(ptx);
        let pool = ThreadPool::builder()
            .num_threads(1)
            .panic_handler(move |payload| {
                let text = match payload.downcast::<&'static str>() {
                    Ok(s) => format!("str:{s}"),
                    Err(payload) => match payload.downcast::<String>() {
                        Ok(s) => format!("string:{s}"),
                        Err(_) => "other".to_owned(),
                    },
                };
                ptx.lock().unwrap().send(text).unwrap();
            })
            .build()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let t1 = tx.clone();
        pool.spawn(move || {
            t1.send(thread::current().id()).unwrap();
            panic!("boom: detached");
        });
        let first = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let got = prx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got, "str:boom: detached");

        let t2 = tx.clone();
        pool.spawn(move || {
            t2.send(thread::current().id()).unwrap();
            panic!("boom: detached {}", std::hint::black_box(2));
        });
        let second = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let got = prx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(got, "string:boom: detached 2");

        // Later work still runs, on the same (only) worker thread.
        let t3 = tx.clone();
        pool.spawn(move || t3.send(thread::current().id()).unwrap());
        let third = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert_eq!(first, second);
        assert_eq!(first, third);
        assert_eq!(pool.install(taskgroup::current_thread_index), Some(0));
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..10 {
                s.spawn(|_| {
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 10);
        drop(pool);
        // Exactly two panics were reported.
        assert!(prx.try_recv().is_err());
    });
}

#[test]
fn detached_panic_without_a_handler_leaves_the_pool_alive() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        for i in 0..20 {
            pool.spawn(move || panic!("boom: unhandled {i}"));
        }
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(taskgroup::current_thread_index()).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), Some(0));
        assert_eq!(pool.install(|| 3 * 3), 9);
    });
}

#[test]
fn panicking_panic_handler_leaves_the_pool_alive() {
    quiet_expected_panics();
    watchdog(20, || {
        let calls = Arc::new(AtomicUsize::new(0));
        let c2 = Arc::clone(&calls);
        let pool = ThreadPool::builder()
            .num_threads(1)
            .panic_handler(move |_| {
                c2.fetch_add(1, Ordering::SeqCst);
                panic!("boom: the handler itself");
            })
            .build()
            .unwrap();
        for _ in 0..5 {
            pool.spawn(|| panic!("boom: detached"));
        }
        let (tx, rx) = mpsc::channel();
        pool.spawn(move || tx.send(7).unwrap());
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), 7);
        drop(pool);
        assert_eq!(calls.load(Ordering::SeqCst), 5);
    });
}

// ----------------------------------------------------------- global pool

#[test]
fn global_pool_free_functions_from_the_main_thread() {
    watchdog(20, || {
        assert_eq!(taskgroup::current_thread_index(), None);
        let count = AtomicUsize::new(0);
        let mut data = vec![1u32; 1000];
        let r = taskgroup::scope(|s| {
            for chunk in data.chunks_mut(100) {
                let count = &count;
                s.spawn(move |_| {
                    assert!(taskgroup::current_thread_index().is_some());
                    chunk.iter_mut().for_each(|x| *x += 1);
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
            "body"
        });
        assert_eq!(r, "body");
        assert_eq!(count.load(Ordering::Relaxed), 10);
        assert!(data.iter().all(|&x| x == 2));

        let (a, b) = taskgroup::join(|| 6 * 7, || "right");
        assert_eq!((a, b), (42, "right"));

        let (tx, rx) = mpsc::channel();
        taskgroup::spawn(move || tx.send(taskgroup::current_thread_index()).unwrap());
        let index = rx.recv_timeout(Duration::from_secs(10)).unwrap();
        assert!(index.is_some(), "global spawn ran on a worker");
    });
}

#[test]
fn build_global_after_first_use_is_refused() {
    watchdog(20, || {
        // Make sure the global pool exists (other tests may have done it).
        assert_eq!(taskgroup::join(|| 1, || 2), (1, 2));
        let err = ThreadPool::builder()
            .num_threads(1)
            .build_global()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::GlobalPoolAlreadyInitialized),
            "got {err:?}"
        );
        assert!(err.to_string().contains("global"), "{err}");
    });
}

#[test]
fn free_functions_inside_a_custom_pool_run_on_it() {
    watchdog(20, || {
        let pool = ThreadPool::builder()
            .num_threads(2)
            .thread_name(|i| format!("custom-{i}"))
            .build()
            .unwrap();
        let here = || {
            (
                taskgroup::current_thread_index(),
                thread::current().name().map(str::to_owned),
            )
        };
        let check = |(index, name): (Option<usize>, Option<String>)| {
            let index = index.expect("on a worker");
            assert!(index < 2);
            assert_eq!(name, Some(format!("custom-{index}")));
        };

        let seen = Mutex::new(Vec::new());
        let (ja, jb, rx) = pool.install(|| {
            taskgroup::scope(|s| {
                for _ in 0..10 {
                    s.spawn(|_| seen.lock().unwrap().push(here()));
                }
            });
            let (ja, jb) = taskgroup::join(here, here);
            let (tx, rx) = mpsc::channel();
            taskgroup::spawn(move || tx.send(here()).unwrap());
            (ja, jb, rx)
        });
        let seen = seen.into_inner().unwrap();
        assert_eq!(seen.len(), 10);
        seen.into_iter().for_each(check);
        check(ja);
        check(jb);
        check(rx.recv_timeout(Duration::from_secs(10)).unwrap());
    });
}

// ------------------------------------------------------------------ drop

#[test]
fn drop_finishes_queued_detached_work() {
    watchdog(20, || {
        for n in [1, 2] {
            let count = Arc::new(AtomicUsize::new(0));
            let pool = pool(n);
            // Hold every worker in a gate task so the rest stay queued.
            let gate = Arc::new(Barrier::new(n + 1));
            for _ in 0..n {
                let gate = Arc::clone(&gate);
                pool.spawn(move || {
                    gate.wait();
                    thread::sleep(Duration::from_millis(20));
                });
            }
            for _ in 0..100 {
                let count = Arc::clone(&count);
                pool.spawn(move || {
                    count.fetch_add(1, Ordering::SeqCst);
                });
            }
            gate.wait();
            drop(pool);
            assert_eq!(count.load(Ordering::SeqCst), 100, "{n}-thread pool");
        }
    });
}

#[test]
fn drop_finishes_work_spawned_by_queued_work() {
    watchdog(20, || {
        let count = Arc::new(AtomicUsize::new(0));
        let pool = pool(1);
        for _ in 0..10 {
            let count = Arc::clone(&count);
            pool.spawn(move || {
                for _ in 0..10 {
                    let count = Arc::clone(&count);
                    taskgroup::spawn(move || {
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                }
            });
        }
        drop(pool);
        assert_eq!(count.load(Ordering::SeqCst), 100);
    });
}

#[test]
fn dropping_the_last_handle_from_inside_a_task_does_not_deadlock() {
    watchdog(30, || {
        for n in [1, 2, 3] {
            let exits = Arc::new(Mutex::new(Vec::new()));
            let e2 = Arc::clone(&exits);
            let pool = Arc::new(
                ThreadPool::builder()
                    .num_threads(n)
                    .exit_handler(move |i| e2.lock().unwrap().push(i))
                    .build()
                    .unwrap(),
            );
            let (go_tx, go_rx) = mpsc::channel::<()>();
            let (done_tx, done_rx) = mpsc::channel();
            let inner = Arc::clone(&pool);
            pool.spawn(move || {
                go_rx.recv().unwrap();
                let index = taskgroup::current_thread_index();
                assert_eq!(Arc::strong_count(&inner), 1);
                drop(inner); // the last handle: ThreadPool::drop on a worker
                done_tx.send(index).unwrap();
            });
            drop(pool);
            go_tx.send(()).unwrap();
            let index = done_rx
                .recv_timeout(Duration::from_secs(10))
                .expect("the task that dropped the pool finished");
            assert!(index.is_some_and(|i| i < n));
            wait_for(10, "every worker's exit handler", || {
                exits.lock().unwrap().len() == n
            });
            let mut exits = exits.lock().unwrap().clone();
            exits.sort_unstable();
            assert_eq!(exits, (0..n).collect::<Vec<_>>());
        }
    });
}

#[test]
fn dropping_from_a_task_still_finishes_queued_work() {
    watchdog(20, || {
        let count = Arc::new(AtomicUsize::new(0));
        let exited = Arc::new(AtomicBool::new(false));
        let ex = Arc::clone(&exited);
        let pool = Arc::new(
            ThreadPool::builder()
                .num_threads(1)
                .exit_handler(move |_| ex.store(true, Ordering::SeqCst))
                .build()
                .unwrap(),
        );
        let inner = Arc::clone(&pool);
        let c = Arc::clone(&count);
        pool.spawn(move || {
            // Queue more work from the task, then drop the last handle.
            for _ in 0..50 {
                let c = Arc::clone(&c);
                inner.spawn(move || {
                    c.fetch_add(1, Ordering::SeqCst);
                });
            }
            drop(inner);
        });
        drop(pool);
        wait_for(10, "the pool to wind down", || {
            exited.load(Ordering::SeqCst)
        });
        assert_eq!(count.load(Ordering::SeqCst), 50);
    });
}

#[test]
fn panic_payload_helper_sanity() {
    // The helpers themselves, so a broken helper cannot hide a failure.
    quiet_expected_panics();
    let p = expect_panic(|| panic!("boom: literal"));
    assert_eq!(payload_str(&*p), Some("boom: literal"));
    assert_str_payload(&*p, "boom: literal");
    let p = expect_panic(|| panic!("boom: {}", std::hint::black_box(1)));
    assert_string_payload(&*p, "boom: 1");
    let p = expect_panic(|| watchdog(5, || panic!("boom: in watchdog")));
    assert_str_payload(&*p, "boom: in watchdog");
    let p = expect_panic(|| watchdog(1, || thread::sleep(Duration::from_secs(3))));
    assert_string_payload(&*p, "deadlock: test did not finish within 1 s");
}

#[test]
fn dropping_a_pool_inside_a_worker_of_another_pool_joins_it() {
    watchdog(20, || {
        let outer = pool(2);
        let exits = Arc::new(AtomicUsize::new(0));
        let e2 = Arc::clone(&exits);
        let inner = ThreadPool::builder()
            .num_threads(2)
            .exit_handler(move |_| {
                e2.fetch_add(1, Ordering::SeqCst);
            })
            .build()
            .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        for _ in 0..50 {
            let count = Arc::clone(&count);
            inner.spawn(move || {
                count.fetch_add(1, Ordering::SeqCst);
            });
        }
        // Not a worker of `inner`: its drop must join it before returning.
        let seen = outer.install(move || {
            drop(inner);
            (exits.load(Ordering::SeqCst), count.load(Ordering::SeqCst))
        });
        assert_eq!(seen, (2, 50));
    });
}

/// Beyond the letter of the contract (which speaks of the *same* pool),
/// but rayon supports it: a worker that blocks on another pool should keep
/// serving its own queue.
#[test]
fn install_across_two_one_thread_pools_and_back() {
    watchdog(10, || {
        let a = pool(1);
        let b = pool(1);
        // A's only worker waits for B, whose only worker asks A for work:
        // A's worker must keep serving A's queue while it waits.
        let v = a.install(|| b.install(|| a.install(|| 7)));
        assert_eq!(v, 7);
        let count = AtomicUsize::new(0);
        a.scope(|s| {
            s.spawn(|_| {
                b.scope(|s| {
                    s.spawn(|_| {
                        a.scope(|s| {
                            s.spawn(|_| {
                                count.fetch_add(1, Ordering::SeqCst);
                            });
                        });
                    });
                });
            });
        });
        assert_eq!(count.load(Ordering::SeqCst), 1);
    });
}
