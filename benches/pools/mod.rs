//! The pools of the side-by-side benchmarks (`benches/scope.rs`,
//! `benches/finegrain.rs`): their size, and a constructor per library that
//! gives `n` computing threads and a pool whose drop leaves no thread
//! behind, so that each library's pool exists only while its own runs are
//! measured.

use std::num::NonZeroUsize;
use std::sync::mpsc;

/// The pool size of the side-by-side groups: `TASKGROUP_BENCH_THREADS` (a
/// positive number, or `Nx` for N times the logical CPUs), else one thread
/// per logical CPU.
pub fn threads() -> usize {
    match std::env::var("TASKGROUP_BENCH_THREADS") {
        Ok(value) => parse_threads(&value, cpus()),
        Err(std::env::VarError::NotPresent) => cpus(),
        Err(e) => panic!("TASKGROUP_BENCH_THREADS: {e}"),
    }
}

/// The logical CPUs: one thread per CPU.
pub fn cpus() -> usize {
    num_cpus::get().max(1)
}

/// `"8"` is 8 threads, `"4x"` is 4 × `cpus`; anything else, or zero, is a
/// mistake worth stopping for.
fn parse_threads(value: &str, cpus: usize) -> usize {
    let value = value.trim();
    let n = match value.strip_suffix(['x', 'X']) {
        Some(factor) => factor.trim().parse::<usize>().ok().map(|f| f * cpus),
        None => value.parse::<usize>().ok(),
    };
    match n {
        Some(n) if n > 0 => n,
        _ => panic!(
            "TASKGROUP_BENCH_THREADS={value:?}: expected a positive thread count \
             (\"8\") or a positive multiple of the CPUs (\"4x\")"
        ),
    }
}

/// A taskgroup pool of `n` workers (its drop joins them).
pub fn taskgroup_pool(n: usize) -> taskgroup::ThreadPool {
    taskgroup::ThreadPool::builder()
        .num_threads(n)
        .build()
        .unwrap()
}

/// A rayon pool whose drop returns only once every worker has exited:
/// dropping a `rayon::ThreadPool` only tells its threads to stop.
pub struct RayonPool {
    pool: Option<rayon::ThreadPool>,
    exited: mpsc::Receiver<()>,
    threads: usize,
}

impl std::ops::Deref for RayonPool {
    type Target = rayon::ThreadPool;

    fn deref(&self) -> &rayon::ThreadPool {
        self.pool.as_ref().unwrap()
    }
}

impl Drop for RayonPool {
    fn drop(&mut self) {
        drop(self.pool.take());
        for _ in 0..self.threads {
            if self.exited.recv().is_err() {
                break;
            }
        }
    }
}

/// A rayon pool of `n` workers.
pub fn rayon_pool(n: usize) -> RayonPool {
    let (tx, exited) = mpsc::channel();
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .exit_handler(move |_| {
            let _ = tx.send(());
        })
        .build()
        .unwrap();
    RayonPool {
        pool: Some(pool),
        exited,
        threads: n,
    }
}

/// chili with `n` threads computing: `thread_count` counts the thread that
/// calls `scope()`, so `n - 1` workers are started and the caller is the
/// `n`th.
pub fn chili_pool(n: usize) -> chili::ThreadPool {
    chili::ThreadPool::with_config(chili::Config {
        thread_count: NonZeroUsize::new(n),
        ..Default::default()
    })
}
