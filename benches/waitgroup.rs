//! The cost of one add + done on `taskgroup::WaitGroup`, side by side with
//! the floor (a bare `AtomicU64` fetch_add + fetch_sub, the two read-modify-
//! writes any counter needs) and `crossbeam_utils::sync::WaitGroup` (whose
//! add + done is a clone + drop).
//!
//! * group `waitgroup`: uncontended, one thread, `b.iter` over one op pair;
//! * group `waitgroup_contended`: the same op pairs while a helper thread
//!   hammers the same primitive for the whole measurement; only the timed
//!   thread's iterations are measured (`iter_custom`), the helper is stopped
//!   with an `AtomicBool` afterwards.
//!
//! Nothing here waits: `wait` costs a parking-lot round trip and is not what
//! the hot path of a scope pays per task.
//!
//! Run with `cargo bench --bench waitgroup` (add e.g.
//! `-- --warm-up-time 1 --measurement-time 3` for a quicker run).

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use crossbeam_utils::sync::WaitGroup as CrossbeamWaitGroup;
use taskgroup::WaitGroup;

/// One counter unit in the same place as `taskgroup`'s (the high half).
const ONE: u64 = 1 << 32;

/// One add + done on each primitive. `#[inline(always)]` so the benchmark
/// loop measures the op, not a call.
#[inline(always)]
fn taskgroup_op(wg: &WaitGroup) {
    let guard = black_box(wg).add();
    drop(black_box(guard));
}

#[inline(always)]
fn atomic_op(counter: &AtomicU64) {
    // The old values go through `black_box` too: a real done must look at
    // the value it replaced, so the floor may not drop it.
    let counter = black_box(counter);
    black_box(counter.fetch_add(ONE, Ordering::Relaxed));
    black_box(counter.fetch_sub(ONE, Ordering::Release));
}

#[inline(always)]
fn crossbeam_op(wg: &CrossbeamWaitGroup) {
    let clone = black_box(wg).clone();
    drop(black_box(clone));
}

fn uncontended(c: &mut Criterion) {
    let mut group = c.benchmark_group("waitgroup");

    let wg = WaitGroup::new();
    group.bench_function("taskgroup/add+done", |b| b.iter(|| taskgroup_op(&wg)));
    assert_eq!(wg.count(), 0);

    let counter = AtomicU64::new(0);
    group.bench_function("atomic_u64/fetch_add+fetch_sub", |b| {
        b.iter(|| atomic_op(&counter))
    });
    assert_eq!(counter.load(Ordering::Relaxed), 0);

    let cwg = CrossbeamWaitGroup::new();
    group.bench_function("crossbeam/clone+drop", |b| b.iter(|| crossbeam_op(&cwg)));
    drop(cwg);

    group.finish();
}

/// Times `iters` calls of `op(shared)` on this thread while one helper
/// thread calls `op(shared)` in a loop on the same primitive. The helper is
/// running before the clock starts and is stopped after it stops.
fn contended<T: Sync>(shared: &T, iters: u64, op: impl Fn(&T) + Sync) -> Duration {
    let stop = AtomicBool::new(false);
    let started = AtomicBool::new(false);
    thread::scope(|ts| {
        ts.spawn(|| {
            op(shared);
            started.store(true, Ordering::Release);
            while !stop.load(Ordering::Relaxed) {
                // A small batch between checks of the stop flag.
                for _ in 0..16 {
                    op(shared);
                }
            }
        });
        while !started.load(Ordering::Acquire) {
            std::hint::spin_loop();
        }
        let start = Instant::now();
        for _ in 0..iters {
            op(shared);
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        elapsed
    })
}

fn two_threads(c: &mut Criterion) {
    let mut group = c.benchmark_group("waitgroup_contended");

    let wg = WaitGroup::new();
    group.bench_function("taskgroup/add+done", |b| {
        b.iter_custom(|iters| contended(&wg, iters, taskgroup_op))
    });
    assert_eq!(wg.count(), 0);

    let counter = AtomicU64::new(0);
    group.bench_function("atomic_u64/fetch_add+fetch_sub", |b| {
        b.iter_custom(|iters| contended(&counter, iters, atomic_op))
    });
    assert_eq!(counter.load(Ordering::Relaxed), 0);

    let cwg = CrossbeamWaitGroup::new();
    group.bench_function("crossbeam/clone+drop", |b| {
        b.iter_custom(|iters| contended(&cwg, iters, crossbeam_op))
    });
    drop(cwg);

    group.finish();
}

criterion_group!(benches, uncontended, two_threads);
criterion_main!(benches);
