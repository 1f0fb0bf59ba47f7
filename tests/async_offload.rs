//! `ThreadPool::spawn_async`, `taskgroup::spawn_async` and `AsyncHandle`,
//! as async code sees them: with tokio runtimes, and with hand-made wakers
//! where the exact wake-up matters.

mod common;

use std::any::Any;
use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use common::{
    assert_str_payload, assert_string_payload, payload_str, pool, quiet_expected_panics, wait_for,
    watchdog, DropCount, Gate, PATIENCE, WATCHDOG_SECS,
};
use futures::executor::block_on;
use taskgroup::{AsyncHandle, JoinError, ThreadPool, Yield};

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build a tokio runtime")
}

fn multi_thread_runtime(workers: usize) -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_time()
        .build()
        .expect("build a tokio runtime")
}

/// A waker that counts its wakes.
#[derive(Default)]
struct CountingWaker(AtomicUsize);

impl Wake for CountingWaker {
    fn wake(self: Arc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (Arc<CountingWaker>, Waker) {
    let counter = Arc::new(CountingWaker::default());
    (Arc::clone(&counter), Waker::from(Arc::clone(&counter)))
}

impl CountingWaker {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

fn poll_once<T>(handle: &mut AsyncHandle<T>, waker: &Waker) -> Poll<Result<T, JoinError>> {
    Pin::new(handle).poll(&mut Context::from_waker(waker))
}

/// The payloads a pool's panic handler was given, in order.
type PanicLog = Arc<Mutex<Vec<Box<dyn Any + Send>>>>;

/// A pool with a panic handler that records every payload it is given.
fn pool_with_panic_log(threads: usize) -> (ThreadPool, PanicLog) {
    let log = Arc::new(Mutex::new(Vec::new()));
    let handler_log = Arc::clone(&log);
    let pool = ThreadPool::builder()
        .num_threads(threads)
        .panic_handler(move |payload| handler_log.lock().unwrap().push(payload))
        .build()
        .expect("build a pool with a panic handler");
    (pool, log)
}

/// Keeps the only worker of a one-thread pool busy until the gate opens,
/// and waits until it is.
fn occupy(pool: &ThreadPool, gate: &Arc<Gate>) {
    let started = Arc::new(AtomicBool::new(false));
    let (gate, flag) = (Arc::clone(gate), Arc::clone(&started));
    pool.spawn(move || {
        flag.store(true, Ordering::SeqCst);
        gate.wait();
    });
    wait_for(PATIENCE.as_secs(), "the blocker to start", || {
        started.load(Ordering::SeqCst)
    });
}

/// A value whose `Drop` panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("boom: dropped");
    }
}

#[test]
fn the_handle_is_send_sync_and_unpin() {
    fn send_sync_unpin<T: Send + Sync + Unpin>() {}
    fn future_of<F: Future<Output = Result<T, JoinError>>, T>() {}
    send_sync_unpin::<AsyncHandle<Vec<u8>>>();
    // A `T` that is `Send` but not `Sync` still gives a `Sync` handle: the
    // handle lends no `&T`.
    send_sync_unpin::<AsyncHandle<std::cell::Cell<u8>>>();
    future_of::<AsyncHandle<String>, String>();
}

#[test]
fn the_runtime_thread_keeps_running_while_a_long_job_runs_on_the_pool() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let runtime = current_thread_runtime();
        let (value, ticks) = runtime.block_on(async {
            let finished = Arc::new(AtomicBool::new(false));
            let ticker = {
                let finished = Arc::clone(&finished);
                tokio::spawn(async move {
                    let mut interval = tokio::time::interval(Duration::from_millis(10));
                    let mut ticks = 0u32;
                    while !finished.load(Ordering::SeqCst) {
                        interval.tick().await;
                        ticks += 1;
                    }
                    ticks
                })
            };
            // 200 ms of CPU on a worker; the ticker shares this runtime's
            // only thread with the task that awaits it.
            let value = pool
                .spawn_async(|| {
                    let start = Instant::now();
                    let mut spins = 0u64;
                    while start.elapsed() < Duration::from_millis(200) {
                        spins = std::hint::black_box(spins + 1);
                    }
                    spins.min(1) + 41
                })
                .await
                .unwrap();
            finished.store(true, Ordering::SeqCst);
            (value, ticker.await.unwrap())
        });
        assert_eq!(value, 42);
        assert!(
            ticks >= 5,
            "the runtime's thread was blocked: {ticks} ticks of 10 ms during 200 ms"
        );
    });
}

#[test]
fn a_thousand_concurrent_handles_resolve_with_their_values() {
    watchdog(WATCHDOG_SECS, || {
        let pool = Arc::new(pool(2));
        let runtime = multi_thread_runtime(2);
        let results = runtime.block_on(async {
            let handles: Vec<_> = (0..1000u64)
                .map(|i| pool.spawn_async(move || (0..=i).sum::<u64>()))
                .collect();
            futures::future::join_all(handles).await
        });
        assert_eq!(results.len(), 1000);
        for (i, result) in (0u64..).zip(results) {
            assert_eq!(result.unwrap(), i * (i + 1) / 2);
        }
    });
}

#[test]
fn handles_awaited_from_many_runtime_tasks_at_once() {
    watchdog(WATCHDOG_SECS, || {
        let pool = Arc::new(pool(2));
        let runtime = multi_thread_runtime(2);
        let total = runtime.block_on(async {
            let tasks: Vec<_> = (0..100u64)
                .map(|i| {
                    let pool = Arc::clone(&pool);
                    tokio::spawn(async move {
                        let mut sum = 0;
                        for j in 0..10 {
                            sum += pool.spawn_async(move || i * 10 + j).await.unwrap();
                        }
                        sum
                    })
                })
                .collect();
            let mut total = 0;
            for task in tasks {
                total += task.await.unwrap();
            }
            total
        });
        assert_eq!(total, (0..1000u64).sum::<u64>());
    });
}

#[test]
fn cancel_before_the_start_means_the_task_never_runs() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let gate = Arc::new(Gate::new());
        occupy(&pool, &gate);
        let ran = Arc::new(AtomicBool::new(false));
        let drops = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (ran, capture) = (Arc::clone(&ran), DropCount::new(&drops));
            pool.spawn_async(move || {
                let _capture = capture;
                ran.store(true, Ordering::SeqCst);
                7
            })
        };
        assert!(!handle.is_finished());
        handle.cancel();
        assert!(
            handle.is_finished(),
            "a cancel that won finishes the handle"
        );
        handle.cancel(); // again: nothing more happens
        gate.open();
        let err = current_thread_runtime().block_on(handle).unwrap_err();
        assert!(err.is_cancelled());
        assert!(!err.is_panic());
        // The closure is dropped unrun when the worker reaches its job.
        wait_for(
            PATIENCE.as_secs(),
            "the cancelled closure to be dropped",
            || drops.load(Ordering::SeqCst) == 1,
        );
        assert!(!ran.load(Ordering::SeqCst), "a cancelled task ran");
        // The worker is still serving.
        assert_eq!(block_on(pool.spawn_async(|| 1)).unwrap(), 1);
    });
}

#[test]
fn cancel_after_the_start_lets_the_task_run_to_its_value() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let started = Arc::new(AtomicBool::new(false));
        let gate = Arc::new(Gate::new());
        let handle = {
            let (started, gate) = (Arc::clone(&started), Arc::clone(&gate));
            pool.spawn_async(move || {
                started.store(true, Ordering::SeqCst);
                gate.wait();
                "finished"
            })
        };
        wait_for(PATIENCE.as_secs(), "the task to start", || {
            started.load(Ordering::SeqCst)
        });
        handle.cancel();
        assert!(!handle.is_finished(), "a started task is not cancelled");
        gate.open();
        assert_eq!(block_on(handle).unwrap(), "finished");
    });
}

#[test]
fn cancel_racing_the_start_either_runs_the_task_or_never_does() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let ran = Arc::new(AtomicUsize::new(0));
        let drops = Arc::new(AtomicUsize::new(0));
        let runtime = current_thread_runtime();
        let (mut values, mut cancelled) = (0, 0);
        for i in 0..2000u32 {
            let handle = {
                let (ran, capture) = (Arc::clone(&ran), DropCount::new(&drops));
                pool.spawn_async(move || {
                    let _capture = capture;
                    ran.fetch_add(1, Ordering::SeqCst);
                    i
                })
            };
            handle.cancel();
            match runtime.block_on(handle) {
                Ok(value) => {
                    assert_eq!(value, i);
                    values += 1;
                }
                Err(err) => {
                    assert!(err.is_cancelled());
                    cancelled += 1;
                }
            }
        }
        assert_eq!(values + cancelled, 2000);
        wait_for(PATIENCE.as_secs(), "every closure to be dropped", || {
            drops.load(Ordering::SeqCst) == 2000
        });
        assert_eq!(ran.load(Ordering::SeqCst), values, "ran iff not cancelled");
    });
}

#[test]
fn a_panic_comes_back_with_its_original_payload() {
    quiet_expected_panics();
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let runtime = current_thread_runtime();
        runtime.block_on(async {
            let line = line!() + 2;
            let err = pool
                .spawn_async(|| -> u8 { panic!("boom: str") })
                .await
                .unwrap_err();
            assert!(err.is_panic());
            assert!(!err.is_cancelled());
            assert_eq!(
                (err.spawned_at().file(), err.spawned_at().line()),
                (file!(), line)
            );
            assert_eq!(
                err.to_string(),
                format!("task spawned at {} panicked: boom: str", err.spawned_at())
            );
            assert_str_payload(&*err.into_panic(), "boom: str");

            let err = pool
                .spawn_async(|| -> u8 { panic!("boom: {}", std::hint::black_box(42)) })
                .await
                .unwrap_err();
            assert_string_payload(&*err.into_panic(), "boom: 42");

            #[derive(Debug, PartialEq)]
            struct Custom(u32);
            let err = pool
                .spawn_async(|| -> u8 { panic::panic_any(Custom(7)) })
                .await
                .unwrap_err();
            assert_eq!(*err.into_panic().downcast::<Custom>().unwrap(), Custom(7));
        });
    });
}

#[test]
fn a_dropped_handle_detaches_its_task_which_still_runs() {
    watchdog(WATCHDOG_SECS, || {
        let (pool, panics) = pool_with_panic_log(1);
        let gate = Arc::new(Gate::new());
        occupy(&pool, &gate);
        let ran = Arc::new(AtomicBool::new(false));
        let value_drops = Arc::new(AtomicUsize::new(0));
        let handle = {
            let (ran, value) = (Arc::clone(&ran), DropCount::new(&value_drops));
            pool.spawn_async(move || {
                ran.store(true, Ordering::SeqCst);
                value
            })
        };
        drop(handle);
        gate.open();
        wait_for(
            PATIENCE.as_secs(),
            "the detached value to be dropped",
            || value_drops.load(Ordering::SeqCst) == 1,
        );
        assert!(ran.load(Ordering::SeqCst));
        assert!(panics.lock().unwrap().is_empty());
    });
}

#[test]
fn a_detached_panic_goes_to_the_panic_handler_with_its_payload() {
    quiet_expected_panics();
    watchdog(WATCHDOG_SECS, || {
        let (pool, panics) = pool_with_panic_log(1);
        // Dropped before the task ran: the worker reports it.
        let gate = Arc::new(Gate::new());
        occupy(&pool, &gate);
        drop(pool.spawn_async(|| -> u8 { panic!("boom: detached early") }));
        gate.open();
        wait_for(PATIENCE.as_secs(), "the first report", || {
            panics.lock().unwrap().len() == 1
        });
        // Dropped after the task ended: the dropping thread reports it.
        let handle = pool.spawn_async(|| -> u8 { panic!("boom: detached late") });
        wait_for(PATIENCE.as_secs(), "the task to end", || {
            handle.is_finished()
        });
        assert_eq!(panics.lock().unwrap().len(), 1, "reported before the drop");
        drop(handle);
        let panics = panics.lock().unwrap();
        assert_eq!(panics.len(), 2);
        assert_str_payload(&*panics[0], "boom: detached early");
        assert_str_payload(&*panics[1], "boom: detached late");
    });
}

#[test]
fn a_value_whose_drop_panics_is_reported_not_fatal() {
    quiet_expected_panics();
    watchdog(WATCHDOG_SECS, || {
        let (pool, panics) = pool_with_panic_log(1);
        // Detached before the end: dropped on the worker.
        let gate = Arc::new(Gate::new());
        occupy(&pool, &gate);
        drop(pool.spawn_async(|| PanicsOnDrop));
        gate.open();
        wait_for(PATIENCE.as_secs(), "the worker's report", || {
            panics.lock().unwrap().len() == 1
        });
        // Detached after the end: dropped on this thread.
        let handle = pool.spawn_async(|| PanicsOnDrop);
        wait_for(PATIENCE.as_secs(), "the task to end", || {
            handle.is_finished()
        });
        drop(handle);
        {
            let panics = panics.lock().unwrap();
            assert_eq!(panics.len(), 2);
            assert!(panics
                .iter()
                .all(|payload| payload_str(&**payload) == Some("boom: dropped")));
        }
        // A cancelled closure whose capture panics when dropped.
        let gate = Arc::new(Gate::new());
        occupy(&pool, &gate);
        let capture = PanicsOnDrop;
        let handle = pool.spawn_async(move || {
            let _capture = capture;
        });
        handle.cancel();
        gate.open();
        assert!(block_on(handle).unwrap_err().is_cancelled());
        wait_for(PATIENCE.as_secs(), "the cancelled closure's report", || {
            panics.lock().unwrap().len() == 3
        });
        // The worker lives on.
        assert_eq!(block_on(pool.spawn_async(|| 5)).unwrap(), 5);
    });
}

#[test]
fn a_payload_whose_drop_panics_does_not_abort() {
    quiet_expected_panics();
    watchdog(WATCHDOG_SECS, || {
        // Without a panic handler: reported on stderr, the payload dropped
        // under a catch.
        let pool = pool(1);
        let gate = Arc::new(Gate::new());
        occupy(&pool, &gate);
        drop(pool.spawn_async(|| -> u8 { panic::panic_any(PanicsOnDrop) }));
        gate.open();
        let handle = pool.spawn_async(|| -> u8 { panic::panic_any(PanicsOnDrop) });
        wait_for(PATIENCE.as_secs(), "the task to end", || {
            handle.is_finished()
        });
        drop(handle);
        assert_eq!(block_on(pool.spawn_async(|| 3)).unwrap(), 3);
        // Awaited: the payload is the caller's, intact.
        let err =
            block_on(pool.spawn_async(|| -> u8 { panic::panic_any(PanicsOnDrop) })).unwrap_err();
        let payload = err.into_panic();
        assert!(payload.is::<PanicsOnDrop>());
        let dropped = panic::catch_unwind(AssertUnwindSafe(move || drop(payload)));
        assert_str_payload(&*dropped.unwrap_err(), "boom: dropped");
    });
}

#[test]
fn every_detached_value_is_dropped_exactly_once() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let drops = Arc::new(AtomicUsize::new(0));
        for i in 0..2000 {
            let value = DropCount::new(&drops);
            let handle = pool.spawn_async(move || value);
            if i % 3 == 0 {
                std::thread::yield_now();
            }
            drop(handle);
        }
        wait_for(PATIENCE.as_secs(), "every value to be dropped", || {
            drops.load(Ordering::SeqCst) >= 2000
        });
        drop(pool);
        assert_eq!(drops.load(Ordering::SeqCst), 2000);
    });
}

#[test]
fn the_waker_of_the_latest_poll_is_the_one_woken() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let gate = Arc::new(Gate::new());
        let mut handle = {
            let gate = Arc::clone(&gate);
            pool.spawn_async(move || {
                gate.wait();
                5
            })
        };
        let (a, waker_a) = counting_waker();
        let (b, waker_b) = counting_waker();
        assert!(poll_once(&mut handle, &waker_a).is_pending());
        assert!(poll_once(&mut handle, &waker_b).is_pending());
        // The same waker again: still the one.
        assert!(poll_once(&mut handle, &waker_b).is_pending());
        gate.open();
        wait_for(PATIENCE.as_secs(), "waker B to be woken", || b.wakes() == 1);
        assert_eq!(a.wakes(), 0, "a replaced waker was woken");
        match poll_once(&mut handle, &waker_b) {
            Poll::Ready(result) => assert_eq!(result.unwrap(), 5),
            Poll::Pending => panic!("woken but not ready"),
        }
        assert_eq!((a.wakes(), b.wakes()), (0, 1));
    });
}

#[test]
fn a_handle_polled_after_its_task_ended_is_ready_at_once() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let mut handle = pool.spawn_async(|| "early");
        wait_for(PATIENCE.as_secs(), "the task to end", || {
            handle.is_finished()
        });
        let (counter, waker) = counting_waker();
        match poll_once(&mut handle, &waker) {
            Poll::Ready(result) => assert_eq!(result.unwrap(), "early"),
            Poll::Pending => panic!("a finished handle returned Pending"),
        }
        assert_eq!(counter.wakes(), 0);
        assert!(handle.is_finished());
    });
}

#[test]
fn polling_after_ready_panics_naming_the_rule() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let mut handle = pool.spawn_async(|| 1);
        let waker = futures::task::noop_waker();
        while poll_once(&mut handle, &waker).is_pending() {
            std::thread::yield_now();
        }
        let payload = common::expect_panic(|| poll_once(&mut handle, &waker));
        let message = payload_str(&*payload).unwrap();
        assert!(
            message.contains("`AsyncHandle` polled after it returned `Poll::Ready`"),
            "{message}"
        );
    });
}

#[test]
fn spawn_async_on_a_worker_queues_on_that_worker() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let (index, before, yielded, after) = pool.install(|| {
            let handle = taskgroup::spawn_async(taskgroup::current_thread_index);
            // The only worker is busy here: the job waits in its own queue,
            // which is all `yield_local` looks at.
            let before = handle.is_finished();
            let yielded = taskgroup::yield_local();
            let after = handle.is_finished();
            (block_on(handle).unwrap(), before, yielded, after)
        });
        assert!(!before);
        assert_eq!(yielded, Some(Yield::Executed));
        assert!(after);
        assert_eq!(index, Some(0));

        // The same through the pool's method.
        let yielded = pool.install(|| {
            let handle = pool.spawn_async(|| 2);
            let yielded = taskgroup::yield_local();
            assert_eq!(block_on(handle).unwrap(), 2);
            yielded
        });
        assert_eq!(yielded, Some(Yield::Executed));
    });
}

#[test]
fn spawn_async_outside_the_pools_uses_the_global_pool() {
    watchdog(WATCHDOG_SECS, || {
        let index = block_on(taskgroup::spawn_async(taskgroup::current_thread_index)).unwrap();
        assert!(index.is_some(), "the task ran off the pool");
    });
}

#[test]
fn a_scope_runs_inside_on_data_the_closure_owns() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(2);
        let data: Vec<u64> = (1..=100_000).collect();
        let runtime = current_thread_runtime();
        let total = runtime
            .block_on(pool.spawn_async(move || {
                let mut sums = [0u64; 10];
                taskgroup::scope(|s| {
                    for (chunk, sum) in data.chunks(10_000).zip(sums.iter_mut()) {
                        s.spawn(move |_| *sum = chunk.iter().sum());
                    }
                });
                sums.iter().sum::<u64>()
            }))
            .unwrap();
        assert_eq!(total, 5_000_050_000);
    });
}

#[test]
fn debug_says_whether_the_task_finished() {
    watchdog(WATCHDOG_SECS, || {
        let pool = pool(1);
        let gate = Arc::new(Gate::new());
        let handle = {
            let gate = Arc::clone(&gate);
            pool.spawn_async(move || gate.wait())
        };
        assert_eq!(format!("{handle:?}"), "AsyncHandle { finished: false, .. }");
        gate.open();
        wait_for(PATIENCE.as_secs(), "the task to end", || {
            handle.is_finished()
        });
        assert_eq!(format!("{handle:?}"), "AsyncHandle { finished: true, .. }");
    });
}
