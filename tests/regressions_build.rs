//! Regressions of `ThreadPoolBuilder::build`: every way it can fail joins
//! the workers it already started before the error (or the panic) reaches
//! the caller, and a tiny stack size cannot crash the process.
//!
//! The paths that need a spawn to fail or panic on purpose are unit tests in
//! src/pool/builder.rs, where the thread spawner can be replaced.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use common::{expect_panic, payload_str, quiet_expected_panics, watchdog};
use taskgroup::{BuildError, ThreadPool, ThreadPoolBuilder};

/// A builder of `n` threads that records which workers started and exited.
fn recording_builder(n: usize) -> (ThreadPoolBuilder, Arc<Mutex<Vec<usize>>>, Arc<AtomicUsize>) {
    let exits = Arc::new(Mutex::new(Vec::new()));
    let starts = Arc::new(AtomicUsize::new(0));
    let (e, s) = (Arc::clone(&exits), Arc::clone(&starts));
    let builder = ThreadPool::builder()
        .num_threads(n)
        .start_handler(move |_| {
            s.fetch_add(1, Ordering::SeqCst);
        })
        .exit_handler(move |i| e.lock().unwrap().push(i));
    (builder, exits, starts)
}

fn sorted(v: &Mutex<Vec<usize>>) -> Vec<usize> {
    let mut v = v.lock().unwrap().clone();
    v.sort_unstable();
    v
}

#[test]
fn a_nul_in_a_thread_name_is_an_error_and_started_workers_are_joined() {
    watchdog(20, || {
        let (builder, exits, starts) = recording_builder(4);
        let err = builder
            .thread_name(|i| {
                if i == 2 {
                    "a\0b".into()
                } else {
                    format!("w{i}")
                }
            })
            .build()
            .unwrap_err();
        match &err {
            BuildError::ThreadNameContainsNul { index, name } => {
                assert_eq!(*index, 2);
                assert_eq!(name, "a\0b");
            }
            other => panic!("expected ThreadNameContainsNul, got {other:?}"),
        }
        assert_eq!(
            err.to_string(),
            "thread name \"a\\0b\" for worker 2 contains a NUL byte, which thread names may not"
        );
        // Workers 0 and 1 had started; build joined them before returning.
        assert_eq!(starts.load(Ordering::SeqCst), 2);
        assert_eq!(sorted(&exits), [0, 1]);
    });
}

#[test]
fn a_nul_in_the_first_name_starts_nothing() {
    watchdog(20, || {
        let (builder, exits, starts) = recording_builder(3);
        let err = builder.thread_name(|_| "\0".into()).build().unwrap_err();
        assert!(
            matches!(err, BuildError::ThreadNameContainsNul { index: 0, .. }),
            "got {err:?}"
        );
        assert_eq!(starts.load(Ordering::SeqCst), 0);
        assert_eq!(sorted(&exits), [] as [usize; 0]);
    });
}

#[test]
fn a_panicking_name_closure_joins_the_workers_started_before_it() {
    quiet_expected_panics();
    watchdog(20, || {
        let (builder, exits, starts) = recording_builder(4);
        let err = builder
            .thread_name(|i| {
                if i == 3 {
                    panic!("boom: no name for worker 3");
                }
                format!("w{i}")
            })
            .build()
            .unwrap_err();
        assert!(
            matches!(err, BuildError::ThreadNamePanicked { index: 3 }),
            "got {err:?}"
        );
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        assert_eq!(sorted(&exits), [0, 1, 2]);
    });
}

/// A `thread_name` closure whose captures panic when dropped: `build` drops
/// the closure once every worker is named and started.
struct PanicsOnDrop(Arc<AtomicUsize>);

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom: name closure dropped");
    }
}

#[test]
fn a_name_closure_that_panics_when_dropped_joins_every_worker() {
    quiet_expected_panics();
    watchdog(20, || {
        let (builder, exits, starts) = recording_builder(3);
        let drops = Arc::new(AtomicUsize::new(0));
        let capture = PanicsOnDrop(Arc::clone(&drops));
        let builder = builder.thread_name(move |i| {
            let _keep = &capture;
            format!("w{i}")
        });
        // The closure's own panic reaches the caller, as a panic in the
        // caller's own value would; the pool it was building is gone, and
        // its workers were joined first.
        let payload = expect_panic(move || builder.build());
        assert_eq!(payload_str(&*payload), Some("boom: name closure dropped"));
        assert_eq!(drops.load(Ordering::SeqCst), 1);
        assert_eq!(starts.load(Ordering::SeqCst), 3);
        assert_eq!(sorted(&exits), [0, 1, 2]);
    });
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        n as u64
    } else {
        let (a, b) = taskgroup::join(|| fib(n - 1), || fib(n - 2));
        a + b
    }
}

/// Uses `kib` KiB of the current thread's stack.
#[inline(never)]
fn use_stack(kib: usize) -> u64 {
    let buf = [1u8; 16 << 10];
    let here = std::hint::black_box(&buf)
        .iter()
        .map(|&b| b as u64)
        .sum::<u64>();
    if kib <= 16 {
        here
    } else {
        here + use_stack(kib - 16)
    }
}

/// A pool of two workers with `stack_size(size)` does real work (scopes,
/// nested spawns, joins, handles, a try-scope, a caught panic, a detached
/// task), and its workers exit cleanly when it is dropped.
fn real_work_then_drop(size: usize) {
    let exits = Arc::new(AtomicUsize::new(0));
    let e = Arc::clone(&exits);
    let pool = ThreadPool::builder()
        .num_threads(2)
        .stack_size(size)
        .exit_handler(move |_| {
            e.fetch_add(1, Ordering::SeqCst);
        })
        .build()
        .unwrap();
    pool.install(|| ());

    let mut data = vec![0u32; 256];
    let nested = AtomicUsize::new(0);
    pool.scope(|s| {
        for chunk in data.chunks_mut(16) {
            let nested = &nested;
            s.spawn(move |s| {
                s.spawn(move |s| {
                    s.spawn(move |_| {
                        nested.fetch_add(1, Ordering::SeqCst);
                    });
                });
                chunk.iter_mut().for_each(|x| *x += 1);
            });
        }
    });
    assert!(data.iter().all(|&x| x == 1));
    assert_eq!(nested.load(Ordering::SeqCst), 16);

    assert_eq!(pool.install(|| fib(12)), 144);
    let sum = pool.scope(|s| {
        let handles: Vec<_> = (0..8u64).map(|i| s.spawn_handle(move |_| i * i)).collect();
        handles.into_iter().map(|h| h.join().unwrap()).sum::<u64>()
    });
    assert_eq!(sum, 140);
    let r: Result<(), u32> = pool.try_scope(|s| {
        s.spawn(|_| Err(7));
        Ok(())
    });
    assert_eq!(r, Err(7));
    let payload = expect_panic(|| pool.scope(|s| s.spawn(|_| panic!("boom: on a small stack"))));
    assert_eq!(payload_str(&*payload), Some("boom: on a small stack"));
    // Whatever `size` was, a worker has room for 48 KiB of task frames on
    // top of the pool's own (std alone would have given it ~16 KiB).
    assert_eq!(pool.install(|| use_stack(48)), 48 << 10);
    let (tx, rx) = std::sync::mpsc::channel();
    pool.spawn(move || tx.send(fib(10)).unwrap());
    assert_eq!(rx.recv().unwrap(), 55);

    drop(pool);
    assert_eq!(exits.load(Ordering::SeqCst), 2);
}

#[test]
fn tiny_stack_sizes_are_raised_to_a_minimum_the_workers_live_in() {
    quiet_expected_panics();
    watchdog(60, || {
        for size in [1, 20, 16 << 10, ThreadPoolBuilder::MIN_STACK_SIZE] {
            real_work_then_drop(size);
        }
    });
}
