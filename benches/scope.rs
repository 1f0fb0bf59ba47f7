//! taskgroup's scopes and `join` side by side with rayon (and chili for
//! `join`), on pools of the same size: one thread per logical CPU, or the
//! count set by `TASKGROUP_BENCH_THREADS` (a number, or `4x` for four times
//! the logical CPUs; see [`threads`]), so that every row can also be
//! measured on an oversubscribed pool.
//!
//! Workloads (each a criterion group, one line per library):
//! * `spawn_100k`: 100,000 empty spawns in one scope entered from outside
//!   the pool. taskgroup's scope body runs on the calling thread, so its
//!   spawns go through the pool's injector; rayon's `ThreadPool::scope` is
//!   `install` + `scope`, so its body runs on a worker and its spawns go
//!   onto that worker's deque (`in_place_scope` would be rayon's injector
//!   path). The ratio also depends heavily on the CPU the pool really
//!   gets: see `benches/README.md`;
//! * `spawn_tree_16`: a binary tree of spawns of depth 16 (every task but
//!   the leaves spawns two more from inside the pool);
//! * `scopes_5k`: 5,000 scopes of one tiny spawn each, entered from outside;
//! * `fib_27`: fib(27) with `join` at every level, run inside the pool;
//! * `sum_40m`: a coarse parallel sum of 40M `u64` in one chunk per thread;
//! * `join_coarse_20ms`: `pool.join` of two closures that each sleep 20 ms,
//!   entered from outside the pool; the ideal is 20 ms (both sides at once),
//!   which the report states as a constant rather than measuring it;
//! * `reduce_chunked`: a compute-bound reduce, the wrapping sum of
//!   [`expensive`] over 4M indices in one chunk per thread, by a taskgroup
//!   scope, a rayon scope and `std::thread::scope` (threads started per run),
//!   and sequentially; every run checks its result against the sequential one.
//!
//! Pool lifetimes: each library's pool is built right before its own
//! measurements and dropped right after them (the rayon pool's drop waits
//! until its threads have exited), so no idle pool, spinning before it
//! sleeps, shares the CPUs with the library being measured. Criterion runs
//! one `bench_function` to completion before the next, so a pool scoped
//! around its `bench_function` call lives exactly that long.
//!
//! Run with `cargo bench --bench scope`; add e.g.
//! `-- --warm-up-time 1 --measurement-time 3` for a quicker run (about three
//! minutes on two cores). `benches/report.py` turns the results into
//! `benches/RESULTS.md` and `benches/chart.svg`.

use std::hint::black_box;
use std::ops::Range;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

mod pools;
use pools::threads;

fn spawn_100k(c: &mut Criterion) {
    const N: usize = 100_000;
    let mut group = c.benchmark_group("spawn_100k");
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| {
                let count = AtomicUsize::new(0);
                tg.scope(|s| {
                    for _ in 0..N {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
                assert_eq!(count.into_inner(), N);
            })
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| {
                let count = AtomicUsize::new(0);
                ry.scope(|s| {
                    for _ in 0..N {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                });
                assert_eq!(count.into_inner(), N);
            })
        });
    }
    group.finish();
}

fn taskgroup_tree<'s>(s: &taskgroup::Scope<'s>, depth: u32, count: &'s AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    if depth > 0 {
        s.spawn(move |s| taskgroup_tree(s, depth - 1, count));
        s.spawn(move |s| taskgroup_tree(s, depth - 1, count));
    }
}

fn rayon_tree<'s>(s: &rayon::Scope<'s>, depth: u32, count: &'s AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    if depth > 0 {
        s.spawn(move |s| rayon_tree(s, depth - 1, count));
        s.spawn(move |s| rayon_tree(s, depth - 1, count));
    }
}

fn spawn_tree(c: &mut Criterion) {
    const DEPTH: u32 = 16;
    const NODES: usize = (1 << (DEPTH + 1)) - 1;
    let mut group = c.benchmark_group("spawn_tree_16");
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| {
                let count = AtomicUsize::new(0);
                tg.scope(|s| taskgroup_tree(s, DEPTH, &count));
                assert_eq!(count.into_inner(), NODES);
            })
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| {
                let count = AtomicUsize::new(0);
                ry.scope(|s| rayon_tree(s, DEPTH, &count));
                assert_eq!(count.into_inner(), NODES);
            })
        });
    }
    group.finish();
}

fn scopes_5k(c: &mut Criterion) {
    const N: usize = 5_000;
    let mut group = c.benchmark_group("scopes_5k");
    group.sample_size(20);
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| {
                let count = AtomicUsize::new(0);
                for _ in 0..N {
                    tg.scope(|s| {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        })
                    });
                }
                assert_eq!(count.into_inner(), N);
            })
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| {
                let count = AtomicUsize::new(0);
                for _ in 0..N {
                    ry.scope(|s| {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        })
                    });
                }
                assert_eq!(count.into_inner(), N);
            })
        });
    }
    group.finish();
}

fn fib_taskgroup(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = taskgroup::join(|| fib_taskgroup(n - 1), || fib_taskgroup(n - 2));
    a + b
}

fn fib_rayon(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = rayon::join(|| fib_rayon(n - 1), || fib_rayon(n - 2));
    a + b
}

fn fib_chili(scope: &mut chili::Scope<'_>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = scope.join(|s| fib_chili(s, n - 1), |s| fib_chili(s, n - 2));
    a + b
}

fn fib_27(c: &mut Criterion) {
    const N: u64 = 27;
    const FIB: u64 = 196_418;
    let mut group = c.benchmark_group("fib_27");
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| assert_eq!(tg.install(|| fib_taskgroup(black_box(N))), FIB))
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| assert_eq!(ry.install(|| fib_rayon(black_box(N))), FIB))
        });
    }
    {
        let chili = pools::chili_pool(threads());
        group.bench_function("chili", |b| {
            b.iter(|| assert_eq!(fib_chili(&mut chili.scope(), black_box(N)), FIB))
        });
    }
    group.bench_function("sequential", |b| {
        fn fib(n: u64) -> u64 {
            if n < 2 {
                n
            } else {
                fib(n - 1) + fib(n - 2)
            }
        }
        b.iter(|| assert_eq!(fib(black_box(N)), FIB))
    });
    group.finish();
}

fn sum_40m(c: &mut Criterion) {
    const N: usize = 40_000_000;
    let data: Vec<u64> = (0..N as u64).collect();
    let expected: u64 = data.iter().sum();
    let chunk = N.div_ceil(threads());
    let mut group = c.benchmark_group("sum_40m");
    group.sample_size(20);
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| {
                let mut partial = vec![0u64; threads()];
                tg.scope(|s| {
                    for (part, out) in data.chunks(chunk).zip(partial.iter_mut()) {
                        s.spawn(move |_| *out = part.iter().sum());
                    }
                });
                assert_eq!(partial.iter().sum::<u64>(), expected);
            })
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| {
                let mut partial = vec![0u64; threads()];
                ry.scope(|s| {
                    for (part, out) in data.chunks(chunk).zip(partial.iter_mut()) {
                        s.spawn(move |_| *out = part.iter().sum());
                    }
                });
                assert_eq!(partial.iter().sum::<u64>(), expected);
            })
        });
    }
    group.bench_function("sequential", |b| {
        b.iter(|| assert_eq!(black_box(&data).iter().sum::<u64>(), expected))
    });
    group.finish();
}

fn join_coarse_20ms(c: &mut Criterion) {
    const SIDE: Duration = Duration::from_millis(20);
    let mut group = c.benchmark_group("join_coarse_20ms");
    // About 20 ms a run: a few flat samples are plenty.
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| {
                tg.join(
                    || std::thread::sleep(black_box(SIDE)),
                    || std::thread::sleep(black_box(SIDE)),
                )
            })
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| {
                ry.join(
                    || std::thread::sleep(black_box(SIDE)),
                    || std::thread::sleep(black_box(SIDE)),
                )
            })
        });
    }
    group.finish();
}

/// The per-element cost of `reduce_chunked`: a few rounds of the murmur3
/// 64-bit finaliser, a dependent chain of multiplies and shifts (no memory
/// traffic). `ROUNDS` is chosen so that one sequential run over
/// `REDUCE_N` elements takes roughly 20-40 ms on a current x86-64 core.
#[inline]
fn expensive(x: u64) -> u64 {
    const ROUNDS: u32 = 12;
    let mut h = x;
    for _ in 0..ROUNDS {
        h ^= h >> 33;
        h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
        h ^= h >> 33;
        h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
        h ^= h >> 33;
    }
    h
}

const REDUCE_N: u64 = 4 << 20;

fn reduce_range(range: Range<u64>) -> u64 {
    range.map(expensive).fold(0, u64::wrapping_add)
}

/// `0..REDUCE_N` cut into one contiguous chunk per thread.
fn reduce_chunks() -> Vec<Range<u64>> {
    let chunk = REDUCE_N.div_ceil(threads() as u64);
    (0..REDUCE_N)
        .step_by(chunk as usize)
        .map(|start| start..(start + chunk).min(REDUCE_N))
        .collect()
}

fn combine(partial: &[u64]) -> u64 {
    partial.iter().copied().fold(0, u64::wrapping_add)
}

fn reduce_chunked(c: &mut Criterion) {
    let chunks = reduce_chunks();
    let expected = reduce_range(0..REDUCE_N);
    let mut group = c.benchmark_group("reduce_chunked");
    group.sample_size(10);
    group.sampling_mode(SamplingMode::Flat);
    {
        let tg = pools::taskgroup_pool(threads());
        group.bench_function("taskgroup", |b| {
            b.iter(|| {
                let mut partial = vec![0u64; chunks.len()];
                tg.scope(|s| {
                    for (range, out) in chunks.iter().zip(partial.iter_mut()) {
                        s.spawn(move |_| *out = reduce_range(black_box(range.clone())));
                    }
                });
                assert_eq!(combine(&partial), expected);
            })
        });
    }
    {
        let ry = pools::rayon_pool(threads());
        group.bench_function("rayon", |b| {
            b.iter(|| {
                let mut partial = vec![0u64; chunks.len()];
                ry.scope(|s| {
                    for (range, out) in chunks.iter().zip(partial.iter_mut()) {
                        s.spawn(move |_| *out = reduce_range(black_box(range.clone())));
                    }
                });
                assert_eq!(combine(&partial), expected);
            })
        });
    }
    group.bench_function("std_thread_scope", |b| {
        b.iter(|| {
            let mut partial = vec![0u64; chunks.len()];
            std::thread::scope(|s| {
                for (range, out) in chunks.iter().zip(partial.iter_mut()) {
                    s.spawn(move || *out = reduce_range(black_box(range.clone())));
                }
            });
            assert_eq!(combine(&partial), expected);
        })
    });
    group.bench_function("sequential", |b| {
        b.iter(|| {
            let partial: Vec<u64> = chunks
                .iter()
                .map(|range| reduce_range(black_box(range.clone())))
                .collect();
            assert_eq!(combine(&partial), expected);
        })
    });
    group.finish();
}

criterion_group!(
    benches,
    spawn_100k,
    spawn_tree,
    scopes_5k,
    fib_27,
    sum_40m,
    join_coarse_20ms,
    reduce_chunked
);
criterion_main!(benches);
