//! Offloading CPU-bound work from an async server, and why it matters.
//!
//! ```sh
//! cargo run --release --example async_offload         # 64 requests
//! cargo run --release --example async_offload -- 8    # a small input (CI)
//! ```
//!
//! A simulated server on a current-thread tokio runtime (one thread runs
//! every async task, as in a runtime per core) receives N requests at once.
//! Each carries a 2 MiB buffer whose checksum is computed by a scope of
//! chunk tasks on a taskgroup pool. A ticker task on the same runtime wakes
//! every millisecond and records how late it was: the runtime's
//! responsiveness, what every other connection of the server would feel.
//!
//! Two runs over the same requests:
//!
//! 1. **blocking**: the handler calls `pool.install(|| checksum(&data))`.
//!    The scope runs on the pool, but the runtime's thread waits for it: no
//!    other task, ticker included, runs meanwhile, and the requests are
//!    served one scope at a time.
//! 2. **offloaded**: the handler awaits
//!    `pool.spawn_async(move || taskgroup::scope(..))`. The closure owns the
//!    buffer its chunk tasks borrow; the runtime's thread is free while the
//!    pool works, so the ticker stays on time.
//!
//! The program prints, for each run, the time to serve every request, the
//! throughput and the ticker's worst delay, and checks that both runs agree
//! on every checksum. The throughput is about the same: the pool does the
//! same work on all its threads either way. What offloading buys is the
//! runtime's thread: blocked for the whole run in the first, free in the
//! second. The pool has one thread fewer than the machine has CPUs, leaving
//! one to the runtime, as a server would; on a machine busy with other work
//! the ticker's delay also includes the wait for a CPU.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskgroup::ThreadPool;

/// Bytes per request.
const REQUEST_BYTES: usize = 2 << 20;
/// Bytes per chunk task.
const CHUNK_BYTES: usize = 64 << 10;
/// The ticker's period.
const TICK: Duration = Duration::from_millis(1);

/// A request's payload: deterministic pseudo-random bytes (xorshift).
fn request(id: u64) -> Vec<u8> {
    let mut state = (id + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    (0..REQUEST_BYTES / 8)
        .flat_map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()
        })
        .collect()
}

/// FNV-1a over one chunk, a few rounds so that a chunk is real work.
fn chunk_checksum(chunk: &[u8]) -> u64 {
    let mut hash = 0xcbf2_9ce4_8422_2325u64;
    for round in 0..4u64 {
        for &byte in chunk {
            hash = (hash ^ u64::from(byte) ^ round).wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The buffer's checksum: its chunks' checksums, each computed by a task of
/// a scope on the current pool, combined in order.
fn checksum(data: &[u8]) -> u64 {
    let mut sums = vec![0u64; data.len().div_ceil(CHUNK_BYTES)];
    taskgroup::scope(|s| {
        for (chunk, sum) in data.chunks(CHUNK_BYTES).zip(sums.iter_mut()) {
            s.spawn(move |_| *sum = chunk_checksum(chunk));
        }
    });
    sums.iter().fold(0, |acc, &sum| acc.rotate_left(7) ^ sum)
}

/// What one run measured.
struct Run {
    elapsed: Duration,
    worst_tick_delay: Duration,
    checksums: Vec<u64>,
}

/// Serves `requests` at once on a fresh current-thread runtime, each with
/// `handle`, while a ticker measures how late the runtime lets it run.
fn serve<H, F>(requests: Vec<Vec<u8>>, handle: H) -> Run
where
    H: Fn(Vec<u8>) -> F,
    F: std::future::Future<Output = u64> + Send + 'static,
{
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("build the runtime");
    runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let stop = Arc::clone(&stop);
            tokio::spawn(async move {
                let mut worst = Duration::ZERO;
                while !stop.load(Ordering::Relaxed) {
                    let before = Instant::now();
                    tokio::time::sleep(TICK).await;
                    worst = worst.max(before.elapsed().saturating_sub(TICK));
                }
                worst
            })
        };
        // Let the ticker start before the requests arrive.
        tokio::task::yield_now().await;
        let start = Instant::now();
        let served: Vec<_> = requests
            .into_iter()
            .map(|data| tokio::spawn(handle(data)))
            .collect();
        let mut checksums = Vec::with_capacity(served.len());
        for request in served {
            checksums.push(request.await.expect("a request's handler"));
        }
        let elapsed = start.elapsed();
        stop.store(true, Ordering::Relaxed);
        Run {
            elapsed,
            worst_tick_delay: ticker.await.expect("the ticker"),
            checksums,
        }
    })
}

fn report(name: &str, run: &Run, requests: usize) {
    println!(
        "{name:<10} {:>8.1} ms   {:>7.0} requests/s   ticker's worst delay {:>8.2} ms",
        run.elapsed.as_secs_f64() * 1e3,
        requests as f64 / run.elapsed.as_secs_f64(),
        run.worst_tick_delay.as_secs_f64() * 1e3,
    );
}

fn main() {
    let requests: usize = match std::env::args().nth(1) {
        Some(arg) => arg
            .parse()
            .unwrap_or_else(|_| panic!("usage: async_offload [number of requests], got {arg:?}")),
        None => 64,
    };
    let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
    let pool = Arc::new(
        ThreadPool::builder()
            .num_threads(cpus.saturating_sub(1).max(1))
            .build()
            .expect("build the pool"),
    );
    println!(
        "{requests} requests of {} KiB at once, checksummed in {} KiB chunk tasks on a pool of {} \
         thread(s); one runtime thread",
        REQUEST_BYTES >> 10,
        CHUNK_BYTES >> 10,
        pool.num_threads()
    );
    let make = || (0..requests as u64).map(request).collect::<Vec<_>>();

    // 1. The handler runs the scope itself: the runtime's thread waits.
    let blocking = {
        let pool = Arc::clone(&pool);
        serve(make(), move |data| {
            let pool = Arc::clone(&pool);
            async move { pool.install(|| checksum(&data)) }
        })
    };
    report("blocking", &blocking, requests);

    // 2. The handler awaits the scope, which runs inside a pool task that
    //    owns the buffer.
    let offloaded = {
        let pool = Arc::clone(&pool);
        serve(make(), move |data| {
            let handle = pool.spawn_async(move || checksum(&data));
            async move { handle.await.expect("the checksum task") }
        })
    };
    report("offloaded", &offloaded, requests);

    assert_eq!(
        blocking.checksums, offloaded.checksums,
        "both runs compute the same checksums"
    );
    println!(
        "both runs agree on all {requests} checksums (the first is {:#018x})",
        offloaded.checksums.first().copied().unwrap_or(0)
    );
}
