//! Fine-grained fork-join: a `join` at every level of a recursion, no
//! grain-size cut-off, so that what is measured is the cost of a `join`
//! (issue 13), on one thread, on one thread per CPU and on an
//! oversubscribed pool (issue 16).
//!
//! Workloads:
//! * `fib_30`: fib(30), `join(fib(n - 1), fib(n - 2))` at every `n >= 2`:
//!   [`FIB_JOINS`] joins per run;
//! * `tree_22`: the sum of the values of a perfect binary tree of
//!   2^22 - 1 heap-allocated nodes (`Box`), a `join` of the two subtrees'
//!   sums at every node, leaves included (whose two sides are empty):
//!   [`TREE_JOINS`] joins per run. The tree is built once, before any
//!   measurement, and shared by every library; building it is not timed.
//!
//! The tree sum is memory-bound (128 MiB of nodes), and the order in which
//! the nodes are visited relative to the order in which they were allocated
//! changes its time by up to 1.75x on one thread: with children allocated
//! before their parent (post-order), the sequential sum took 21 ms walking
//! right subtrees first and 37 ms walking left first, on the project's
//! machine; with parents first (pre-order), 32 ms and 21 ms. A benchmark
//! of `join` must not measure that, so every version walks the same way:
//! the tree is allocated in pre-order and every version visits the left
//! subtree first. chili's `join(a, b)` runs `b` on the calling thread first
//! and offers `a` to other threads, where rayon and taskgroup run `a` and
//! offer `b`; so chili is handed its two closures the other way round, in
//! the tree and in fib, to run and offer the same halves as the others.
//!
//! The join counts are counted by instrumented sequential runs of the same
//! recursions at start-up ([`count_fib_joins`], [`count_tree_joins`]) and
//! checked against the constants, which `benches/report.py` uses for the
//! per-join overhead `(t - t_sequential) / joins`.
//!
//! Each workload is measured for every library at two or three pool sizes,
//! one criterion group per size, one function per library:
//! * `fib_30_1t`, `tree_22_1t`: pools of one thread;
//! * `fib_30`, `tree_22`: pools of [`threads`] threads: one per logical CPU
//!   (`num_cpus::get()`), or the count set by `TASKGROUP_BENCH_THREADS`
//!   (a number, or `4x` for four times the CPUs). When that count is not one
//!   per CPU, the group has a fifth function, `taskgroup_per_cpu`:
//!   taskgroup again with one thread per CPU, in the same run, the reference
//!   for "how much does oversizing the pool cost taskgroup".
//!
//! The libraries:
//! * `sequential`: the same recursions with plain calls;
//! * `taskgroup`: `pool.install(|| ...)` with `taskgroup::join` inside;
//! * `rayon`: `pool.install(|| ...)` with `rayon::join` inside;
//! * `chili`: `chili::ThreadPool::scope()` and `Scope::join`.
//!
//! Matching the thread counts: taskgroup's and rayon's pools of `n` threads
//! start `n` workers, `install` runs the closure on one of them and the
//! calling thread blocks until it is done, so `n` threads compute. chili's
//! `Config::thread_count` of `n` starts `n - 1` workers (chili 0.2.1,
//! `ThreadPool::with_config`: `thread_count.get() - 1`) because the thread
//! that calls `pool.scope()` runs the recursion itself and is the `n`th;
//! so chili is given `thread_count: n` and `n` threads compute there too
//! (with one thread: no worker at all, everything on the caller). chili
//! also starts a heartbeat thread, which sleeps between beats (every
//! 100 µs per thread, its default) and waits on a condition variable while
//! no scope from outside exists; it is part of chili's design and is left
//! at its default.
//!
//! Pool lifetimes: each library's pool is built right before its own
//! measurements and dropped right after them (the rayon pool's drop waits
//! until its threads have exited, through an exit handler), so no idle pool
//! spins, ticks or holds memory while another library is measured.
//! Criterion runs one `bench_function` to completion before the next, so a
//! pool scoped around its `bench_function` call lives exactly that long.
//!
//! Criterion, not a hand-written harness: its median per sample is what
//! `benches/report.py` reads for every other workload, so the ratios in the
//! report (taskgroup / chili, taskgroup / sequential, per-join overhead) are
//! computed the same way for every row. Each run takes milliseconds, so
//! the groups use flat sampling with 20 samples.
//!
//! Run with `cargo bench --bench finegrain`;
//! `TASKGROUP_BENCH_THREADS=4x cargo bench --bench finegrain -- '^(fib_30|tree_22)/'`
//! for the oversubscribed groups only.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};

mod pools;
use pools::{chili_pool, cpus, rayon_pool, taskgroup_pool, threads};

/// fib's argument.
const FIB_N: u64 = 30;
/// fib(30).
const FIB_VALUE: u64 = 832_040;
/// Joins made by one fib(30): one per call with `n >= 2`, fib(31) - 1.
const FIB_JOINS: u64 = 1_346_268;

/// Levels of the tree: 2^22 - 1 nodes.
const TREE_LEVELS: u32 = 22;
/// Joins made by one tree sum: one per node.
const TREE_JOINS: u64 = (1 << TREE_LEVELS) - 1;

// ------------------------------------------------------------------- fib

fn fib_sequential(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    fib_sequential(n - 1) + fib_sequential(n - 2)
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

/// chili's `join(a, b)` runs `b` first on the calling thread and offers
/// `a`: handed `(fib(n - 2), fib(n - 1))`, it runs inline what the others
/// run inline and offers what they offer (and was 5-11% faster so than in
/// the written order, on one thread and on two, on the project's machine).
fn fib_chili(s: &mut chili::Scope<'_>, n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (b, a) = s.join(|s| fib_chili(s, n - 2), |s| fib_chili(s, n - 1));
    a + b
}

/// fib(n) with a count of the places where the parallel versions join.
fn count_fib_joins(n: u64, joins: &mut u64) -> u64 {
    if n < 2 {
        return n;
    }
    *joins += 1;
    count_fib_joins(n - 1, joins) + count_fib_joins(n - 2, joins)
}

// ------------------------------------------------------------------ tree

struct Node {
    value: u64,
    left: Option<Box<Node>>,
    right: Option<Box<Node>>,
}

/// A perfect tree of `levels` levels; values 1, 2, 3, ... in pre-order.
/// Each node is allocated before its children, so that (with a fresh
/// allocator) addresses rise in the order of a left-first walk: the order
/// in which the sequential sum reads them, and every parallel version when
/// nobody steals. See the module documentation for why this matters.
fn build_tree(levels: u32, next: &mut u64) -> Option<Box<Node>> {
    if levels == 0 {
        return None;
    }
    *next += 1;
    let mut node = Box::new(Node {
        value: *next,
        left: None,
        right: None,
    });
    node.left = build_tree(levels - 1, next);
    node.right = build_tree(levels - 1, next);
    Some(node)
}

fn tree_sequential(node: &Node) -> u64 {
    let left = node.left.as_deref().map_or(0, tree_sequential);
    let right = node.right.as_deref().map_or(0, tree_sequential);
    node.value + left + right
}

fn tree_taskgroup(node: &Node) -> u64 {
    let (left, right) = taskgroup::join(
        || node.left.as_deref().map_or(0, tree_taskgroup),
        || node.right.as_deref().map_or(0, tree_taskgroup),
    );
    node.value + left + right
}

fn tree_rayon(node: &Node) -> u64 {
    let (left, right) = rayon::join(
        || node.left.as_deref().map_or(0, tree_rayon),
        || node.right.as_deref().map_or(0, tree_rayon),
    );
    node.value + left + right
}

/// chili's `join(a, b)` runs `b` first on the calling thread and offers
/// `a`: so `b` is the left subtree here, and chili walks the tree in the
/// same order as the others (left first, the right half offered).
fn tree_chili(s: &mut chili::Scope<'_>, node: &Node) -> u64 {
    let (right, left) = s.join(
        |s| node.right.as_deref().map_or(0, |n| tree_chili(s, n)),
        |s| node.left.as_deref().map_or(0, |n| tree_chili(s, n)),
    );
    node.value + left + right
}

/// The tree sum with a count of the places where the parallel versions join.
fn count_tree_joins(node: &Node, joins: &mut u64) -> u64 {
    *joins += 1;
    let left = node
        .left
        .as_deref()
        .map_or(0, |n| count_tree_joins(n, joins));
    let right = node
        .right
        .as_deref()
        .map_or(0, |n| count_tree_joins(n, joins));
    node.value + left + right
}

// ------------------------------------------------------------- the groups

/// The four libraries (and, if the pool is not one thread per CPU,
/// taskgroup at one thread per CPU) on pools of `n` threads, each pool alive
/// only around its own `bench_function`.
struct Workload<'a> {
    expected: u64,
    sequential: &'a (dyn Fn() -> u64 + Sync),
    taskgroup: &'a (dyn Fn() -> u64 + Sync),
    rayon: &'a (dyn Fn() -> u64 + Sync),
    chili: &'a (dyn Fn(&mut chili::Scope<'_>) -> u64 + Sync),
}

fn measure(c: &mut Criterion, name: &str, n: usize, w: &Workload<'_>) {
    let mut group = c.benchmark_group(name);
    group.sample_size(20);
    group.sampling_mode(SamplingMode::Flat);

    group.bench_function("sequential", |b| {
        b.iter(|| assert_eq!(black_box((w.sequential)()), w.expected))
    });
    measure_taskgroup(&mut group, "taskgroup", n, w);
    {
        let pool = rayon_pool(n);
        group.bench_function("rayon", |b| {
            b.iter(|| assert_eq!(pool.install(w.rayon), w.expected))
        });
    }
    {
        let pool = chili_pool(n);
        group.bench_function("chili", |b| {
            b.iter(|| assert_eq!((w.chili)(&mut pool.scope()), w.expected))
        });
    }
    if n != 1 && n != cpus() {
        measure_taskgroup(&mut group, "taskgroup_per_cpu", cpus(), w);
    }
    group.finish();
}

fn measure_taskgroup(
    group: &mut BenchmarkGroup<'_, criterion::measurement::WallTime>,
    function: &str,
    n: usize,
    w: &Workload<'_>,
) {
    let pool = taskgroup_pool(n);
    group.bench_function(function, |b| {
        b.iter(|| assert_eq!(pool.install(w.taskgroup), w.expected))
    });
}

fn finegrain(c: &mut Criterion) {
    let mut joins = 0;
    assert_eq!(count_fib_joins(FIB_N, &mut joins), FIB_VALUE);
    assert_eq!(joins, FIB_JOINS, "joins in fib({FIB_N})");

    let mut next = 0;
    let tree = build_tree(TREE_LEVELS, &mut next).unwrap();
    let mut joins = 0;
    let tree_sum = count_tree_joins(&tree, &mut joins);
    assert_eq!(joins, TREE_JOINS, "joins in the tree sum");
    assert_eq!(tree_sum, TREE_JOINS * (TREE_JOINS + 1) / 2);
    eprintln!(
        "finegrain: fib({FIB_N}) makes {FIB_JOINS} joins, the tree sum {TREE_JOINS}; \
         pools of 1 and {} threads ({} logical CPUs)",
        threads(),
        cpus()
    );

    let fib = Workload {
        expected: FIB_VALUE,
        sequential: &|| fib_sequential(black_box(FIB_N)),
        taskgroup: &|| fib_taskgroup(black_box(FIB_N)),
        rayon: &|| fib_rayon(black_box(FIB_N)),
        chili: &|s: &mut chili::Scope<'_>| fib_chili(s, black_box(FIB_N)),
    };
    let root: &Node = &tree;
    let tree_w = Workload {
        expected: tree_sum,
        sequential: &|| tree_sequential(black_box(root)),
        taskgroup: &|| tree_taskgroup(black_box(root)),
        rayon: &|| tree_rayon(black_box(root)),
        chili: &|s: &mut chili::Scope<'_>| tree_chili(s, black_box(root)),
    };

    measure(c, "fib_30_1t", 1, &fib);
    measure(c, "tree_22_1t", 1, &tree_w);
    measure(c, "fib_30", threads(), &fib);
    measure(c, "tree_22", threads(), &tree_w);
}

criterion_group!(benches, finegrain);
criterion_main!(benches);
