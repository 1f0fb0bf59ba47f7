//! Offloading CPU work from async code: how long until the awaiting task has
//! the result, side by side for the three ways a tokio program does it.
//!
//! * `taskgroup`: `pool.spawn_async(f).await`;
//! * `spawn_blocking`: `tokio::task::spawn_blocking(f).await`, tokio's own
//!   blocking thread pool;
//! * `rayon_oneshot`: `pool.spawn(f)` on a rayon pool, the result sent back
//!   through a `tokio::sync::oneshot` channel (the idiom rayon's and tokio's
//!   documentation suggest).
//!
//! The job is small: the sum of [`LEN`] `u64` (a few microseconds), so what
//! is measured is mostly the hand-off, there and back. Groups:
//! * `async_offload_single`: await one job, then the next;
//! * `async_offload_batch_1000`: spawn 1000 jobs, then await them all
//!   (`futures::future::join_all`).
//!
//! The awaiting code runs in a task of a tokio multi-thread runtime with 2
//! workers (`tokio::spawn`, not the bench thread's `block_on`). The
//! taskgroup and rayon pools have one thread per logical CPU; each is built
//! inside its own bench function and dropped after it, so that only the
//! library being measured has threads looking for work.
//!
//! Run with `cargo bench --bench async_offload`.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

/// Elements summed by one job.
const LEN: u64 = 10_000;
/// Jobs per batch.
const BATCH: usize = 1000;

fn threads() -> usize {
    num_cpus::get().max(1)
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .build()
        .expect("build the tokio runtime")
}

fn data() -> Arc<Vec<u64>> {
    Arc::new((0..LEN).collect())
}

fn expected() -> u64 {
    LEN * (LEN - 1) / 2
}

fn sum(data: &[u64]) -> u64 {
    std::hint::black_box(data).iter().sum()
}

/// Times `iters` runs of `run` inside a task of `runtime`.
fn time_in_task<F, Fut>(runtime: &tokio::runtime::Runtime, iters: u64, run: F) -> Duration
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    runtime.block_on(async move {
        tokio::spawn(async move {
            let start = Instant::now();
            for _ in 0..iters {
                run().await;
            }
            start.elapsed()
        })
        .await
        .expect("the measuring task")
    })
}

/// One awaited job per iteration, by `offload`.
fn bench_single<F, Fut>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    offload: F,
) where
    F: Fn(Arc<Vec<u64>>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send,
{
    let data = data();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let (data, offload) = (Arc::clone(&data), offload.clone());
            time_in_task(runtime, iters, move || {
                let job = offload(Arc::clone(&data));
                async move { assert_eq!(job.await, expected()) }
            })
        })
    });
}

/// [`BATCH`] jobs spawned, then awaited together, per iteration.
fn bench_batch<F, Fut>(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    name: &str,
    runtime: &tokio::runtime::Runtime,
    offload: F,
) where
    F: Fn(Arc<Vec<u64>>) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = u64> + Send,
{
    let data = data();
    group.bench_function(name, |b| {
        b.iter_custom(|iters| {
            let (data, offload) = (Arc::clone(&data), offload.clone());
            time_in_task(runtime, iters, move || {
                let jobs: Vec<_> = (0..BATCH).map(|_| offload(Arc::clone(&data))).collect();
                async move {
                    let sums = futures::future::join_all(jobs).await;
                    assert!(sums.iter().all(|&s| s == expected()));
                }
            })
        })
    });
}

/// Runs `measure` for each library, each with only its own pool alive.
fn offload(c: &mut Criterion, group_name: &str, batch: bool) {
    let runtime = runtime();
    let mut group = c.benchmark_group(group_name);
    if batch {
        group.sample_size(30);
    }

    {
        let pool = Arc::new(
            taskgroup::ThreadPool::builder()
                .num_threads(threads())
                .build()
                .unwrap(),
        );
        let offload = move |data: Arc<Vec<u64>>| {
            let handle = pool.spawn_async(move || sum(&data));
            async move { handle.await.expect("the job") }
        };
        if batch {
            bench_batch(&mut group, "taskgroup", &runtime, offload);
        } else {
            bench_single(&mut group, "taskgroup", &runtime, offload);
        }
    }

    {
        let offload = |data: Arc<Vec<u64>>| {
            let handle = tokio::task::spawn_blocking(move || sum(&data));
            async move { handle.await.expect("the job") }
        };
        if batch {
            bench_batch(&mut group, "spawn_blocking", &runtime, offload);
        } else {
            bench_single(&mut group, "spawn_blocking", &runtime, offload);
        }
    }

    {
        let pool = Arc::new(
            rayon::ThreadPoolBuilder::new()
                .num_threads(threads())
                .build()
                .unwrap(),
        );
        let offload = move |data: Arc<Vec<u64>>| {
            let (tx, rx) = tokio::sync::oneshot::channel();
            pool.spawn(move || {
                let _ = tx.send(sum(&data));
            });
            async move { rx.await.expect("the job") }
        };
        if batch {
            bench_batch(&mut group, "rayon_oneshot", &runtime, offload);
        } else {
            bench_single(&mut group, "rayon_oneshot", &runtime, offload);
        }
    }

    group.finish();
}

fn async_offload_single(c: &mut Criterion) {
    offload(c, "async_offload_single", false);
}

fn async_offload_batch(c: &mut Criterion) {
    offload(c, "async_offload_batch_1000", true);
}

criterion_group!(benches, async_offload_single, async_offload_batch);
criterion_main!(benches);
