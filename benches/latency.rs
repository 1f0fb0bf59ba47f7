//! Wake-up latency of an idle pool: how long after `spawn` does a job start
//! on a pool whose workers have all gone to sleep?
//!
//! Group `wakeup_latency`, one line per library, each pool with one thread
//! per logical CPU:
//! * `taskgroup`: `taskgroup::ThreadPool::spawn` (a detached job);
//! * `rayon`: `rayon::ThreadPool::spawn`;
//! * `thread_unpark`: the floor, a plain thread parked in
//!   `std::thread::park` woken by `Thread::unpark` (what any sleeping pool
//!   pays to the OS, with no queue in between).
//!
//! One measured wake-up:
//! 1. untimed: sleep [`IDLE`] (> 50 ms) on the caller, outside any pool, so
//!    every worker has finished its bounded spin and parked;
//! 2. timed: from just before the `spawn` call until the caller, spinning on
//!    an `AtomicBool`, sees the job's store to it. So it is: queue push +
//!    waking a parked worker (futex wake, the OS scheduling it) + the worker
//!    finding the job + running it + the store becoming visible to the
//!    caller. The caller spins rather than blocks so that its own wake-up is
//!    not added on top.
//!
//! Every wake-up costs [`IDLE`] of wall time, so the number measured must
//! stay small. Criterion sizes its iteration counts from the *timed* part
//! (microseconds) and would ask for tens of thousands; so one
//! `iter_custom` call measures at most [`WAKEUPS_PER_CALL`] real wake-ups
//! and returns their mean times `iters` (criterion divides by `iters`
//! again). Each criterion sample is thus the mean of a few real wake-ups.
//! The warm-up and measurement times are fixed here (the command line's are
//! overridden): warm-up doubles `iters` until the scaled time passes 200 ms,
//! about 15 calls, then 10 samples are taken, one call each; so each library
//! costs about 25 x `WAKEUPS_PER_CALL` x `IDLE`, some 7 s of mostly sleeping.
//!
//! Run with `cargo bench --bench latency`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

/// How long the pool is left idle before each measured wake-up.
const IDLE: Duration = Duration::from_millis(55);

/// Real wake-ups measured per `iter_custom` call, whatever `iters` is.
const WAKEUPS_PER_CALL: u64 = 5;

fn threads() -> usize {
    num_cpus::get().max(1)
}

/// Spins until `flag` is set.
fn spin_until(flag: &AtomicBool) {
    while !flag.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
}

/// Measures `min(iters, WAKEUPS_PER_CALL)` wake-ups with `submit` (which
/// must arrange for the flag to be set from the woken side) and scales their
/// mean to `iters` iterations.
fn measure(iters: u64, mut submit: impl FnMut(Arc<AtomicBool>)) -> Duration {
    let real = iters.clamp(1, WAKEUPS_PER_CALL);
    let mut total = Duration::ZERO;
    for _ in 0..real {
        let flag = Arc::new(AtomicBool::new(false));
        let theirs = Arc::clone(&flag);
        thread::sleep(IDLE);
        let start = Instant::now();
        submit(theirs);
        spin_until(&flag);
        total += start.elapsed();
    }
    let scaled = total.as_nanos() * u128::from(iters) / u128::from(real);
    Duration::from_nanos(u64::try_from(scaled).unwrap_or(u64::MAX))
}

fn wakeup_latency(c: &mut Criterion) {
    let tg = taskgroup::ThreadPool::builder()
        .num_threads(threads())
        .build()
        .unwrap();
    let ry = rayon::ThreadPoolBuilder::new()
        .num_threads(threads())
        .build()
        .unwrap();

    let mut group = c.benchmark_group("wakeup_latency");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    group.warm_up_time(Duration::from_millis(200));
    group.measurement_time(Duration::from_secs(2));

    group.bench_function("taskgroup", |b| {
        b.iter_custom(|iters| {
            measure(iters, |flag| {
                tg.spawn(move || flag.store(true, Ordering::Release));
            })
        })
    });
    group.bench_function("rayon", |b| {
        b.iter_custom(|iters| {
            measure(iters, |flag| {
                ry.spawn(move || flag.store(true, Ordering::Release));
            })
        })
    });

    // The floor: one parked thread, handed its flag through a slot it reads
    // after every wake-up.
    let slot: Arc<Mutex<Option<Arc<AtomicBool>>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let parked = {
        let (slot, stop) = (Arc::clone(&slot), Arc::clone(&stop));
        thread::spawn(move || loop {
            thread::park();
            if stop.load(Ordering::Acquire) {
                return;
            }
            if let Some(flag) = slot.lock().unwrap().take() {
                flag.store(true, Ordering::Release);
            }
        })
    };
    group.bench_function("thread_unpark", |b| {
        b.iter_custom(|iters| {
            measure(iters, |flag| {
                *slot.lock().unwrap() = Some(flag);
                parked.thread().unpark();
            })
        })
    });
    stop.store(true, Ordering::Release);
    parked.thread().unpark();
    parked.join().unwrap();

    group.finish();
}

criterion_group!(benches, wakeup_latency);
criterion_main!(benches);
