//! Parallel quicksort with `taskgroup::join`: fork-join recursion with a
//! sequential cutoff.
//!
//! Sorts 10,000,000 pseudo-random `u64` (xorshift) twice: once with the
//! quicksort below, which partitions and then sorts the two sides with
//! `taskgroup::join` inside `ThreadPool::install`, and once with the standard library's
//! `slice::sort_unstable` on one thread. Checks that both give the same
//! output and prints both times.
//!
//! ```sh
//! cargo run --release --example quicksort             # 10M elements
//! cargo run --release --example quicksort -- 100000   # a small input (CI)
//! cargo run --release --example quicksort -- 10000000 1000  # another cutoff
//! ```
//!
//! What it shows:
//! * `join` lets each side of a split run on another worker if one is idle,
//!   and costs next to nothing when none is (the second closure is popped
//!   back and run inline);
//! * below a cutoff the work is done sequentially, because a task that is
//!   too small costs more to hand over than to run (see the book's
//!   "Fork-join" chapter on granularity);
//! * `join` borrows: each side sorts a `&mut` half of the same slice.

use std::time::Instant;

/// Below this many elements a slice is sorted on the current thread
/// (the default; the second argument overrides it).
const CUTOFF: usize = 64 * 1024;

/// Sorts `v` in parallel on the current pool (the global pool when called
/// outside any pool); slices of at most `cutoff` elements are sorted
/// sequentially.
fn par_quicksort(v: &mut [u64], cutoff: usize) {
    if v.len() <= cutoff.max(2) {
        v.sort_unstable();
        return;
    }
    let mid = partition(v);
    let (left, right) = v.split_at_mut(mid);
    // `right[0]` is the pivot, already in its final place.
    taskgroup::join(
        || par_quicksort(left, cutoff),
        || par_quicksort(&mut right[1..], cutoff),
    );
}

/// Lomuto partition around the median of three; returns the pivot's final
/// index: everything before it is smaller, everything after it not smaller.
fn partition(v: &mut [u64]) -> usize {
    let last = v.len() - 1;
    let mid = v.len() / 2;
    // Median of three, moved to the end.
    if v[mid] < v[0] {
        v.swap(mid, 0);
    }
    if v[last] < v[0] {
        v.swap(last, 0);
    }
    if v[mid] < v[last] {
        v.swap(mid, last);
    }
    let pivot = v[last];
    // Branch-free: swap every element, advance `store` only past the
    // smaller ones. On random data a branch here would be mispredicted
    // half the time, and the partitions are the part of quicksort that
    // runs with the least parallelism.
    let mut store = 0;
    for i in 0..last {
        let smaller = v[i] < pivot;
        v.swap(i, store);
        store += smaller as usize;
    }
    v.swap(store, last);
    store
}

/// xorshift64: a fast, deterministic stream of pseudo-random numbers.
fn random_vec(n: usize, mut seed: u64) -> Vec<u64> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        })
        .collect()
}

/// The `index`-th command-line argument as a number, or `default`.
fn arg(index: usize, default: usize) -> usize {
    match std::env::args().nth(index) {
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: quicksort [ELEMENTS (default 10000000)] [CUTOFF (default {CUTOFF})]");
            std::process::exit(2);
        }),
        None => default,
    }
}

fn main() {
    let n = arg(1, 10_000_000);
    let cutoff = arg(2, CUTOFF);
    // One thread per logical CPU. Inside `install`, the free function
    // `taskgroup::join` runs on this pool.
    let pool = taskgroup::ThreadPool::new();
    println!(
        "quicksort: {n} random u64, cutoff {cutoff}, pool of {} threads",
        pool.num_threads()
    );

    let input = random_vec(n, 0x9e37_79b9_7f4a_7c15);

    let mut parallel = input.clone();
    let start = Instant::now();
    pool.install(|| par_quicksort(&mut parallel, cutoff));
    let t_parallel = start.elapsed();

    let mut sequential = input;
    let start = Instant::now();
    sequential.sort_unstable();
    let t_sequential = start.elapsed();

    println!("taskgroup::join quicksort: {t_parallel:>10.2?}");
    println!("slice::sort_unstable:      {t_sequential:>10.2?}");
    println!(
        "speedup: {:.2}x",
        t_sequential.as_secs_f64() / t_parallel.as_secs_f64().max(1e-9)
    );
    if parallel != sequential {
        eprintln!("error: the two sorts disagree");
        std::process::exit(1);
    }
    println!("both sorts agree");
}
