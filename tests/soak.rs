//! Soak: scopes, joins, handles, cancellation and panics mixed for a fixed
//! time, with exact task counts every round and resident memory that must
//! stay flat after warm-up. Ignored by default; `.ci/run` runs it with
//! `TASKGROUP_SOAK_SECS` (default here: 10 s):
//!
//! `TASKGROUP_SOAK_SECS=120 cargo test --release --test soak -- --ignored --nocapture`
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{quiet_expected_panics, XorShift};
use taskgroup::ThreadPool;

/// Resident memory may grow by at most this much after warm-up.
const RSS_MARGIN_KIB: u64 = 16 * 1024;

fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status")
}

fn fib(n: u32) -> u64 {
    if n < 2 {
        return n as u64;
    }
    let (a, b) = taskgroup::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

/// Counts its drop: every task's closure is dropped exactly once, whether
/// it ran or was skipped by cancellation.
struct Token<'a>(&'a AtomicUsize);

impl Drop for Token<'_> {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

/// One round; returns the number of tasks that ran.
fn round(pool: &ThreadPool, rng: &mut XorShift) -> usize {
    let tasks = 50 + (rng.next_u64() % 200) as usize;
    let panic_at = (rng.next_u64() % 4 == 0).then(|| (rng.next_u64() % tasks as u64) as usize);
    let cancel = rng.next_u64() % 5 == 0;
    let ran = AtomicUsize::new(0);
    let spawned = AtomicUsize::new(0);
    let dropped = AtomicUsize::new(0);
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.install(|| {
            taskgroup::scope(|s| {
                let mut handles = Vec::new();
                for i in 0..tasks {
                    let (ran, spawned, dropped) = (&ran, &spawned, &dropped);
                    let token = Token(dropped);
                    spawned.fetch_add(1, Ordering::Relaxed);
                    if i % 10 == 0 {
                        handles.push(s.spawn_handle(move |_| {
                            let _token = token;
                            ran.fetch_add(1, Ordering::Relaxed);
                            fib(10)
                        }));
                    } else {
                        s.spawn(move |s| {
                            let _token = token;
                            ran.fetch_add(1, Ordering::Relaxed);
                            if i % 7 == 0 {
                                let token = Token(dropped);
                                spawned.fetch_add(1, Ordering::Relaxed);
                                s.spawn(move |_| {
                                    let _token = token;
                                    ran.fetch_add(1, Ordering::Relaxed);
                                });
                            }
                            if Some(i) == panic_at {
                                panic!("boom: soak");
                            }
                        });
                    }
                }
                if cancel {
                    s.cancel();
                }
                for handle in handles {
                    match handle.join() {
                        Ok(value) => assert_eq!(value, 55),
                        Err(err) => assert!(cancel && err.is_cancelled(), "{err}"),
                    }
                }
            })
        })
    }));
    let (ran, spawned, dropped) = (ran.into_inner(), spawned.into_inner(), dropped.into_inner());
    assert_eq!(dropped, spawned, "a task was neither run nor dropped");
    if cancel {
        // Tasks already taken by the other worker run; the rest are skipped.
        assert!(ran <= spawned);
    } else {
        let nested = (0..tasks).filter(|i| i % 10 != 0 && i % 7 == 0).count();
        assert_eq!(spawned, tasks + nested);
        assert_eq!(ran, spawned, "lost tasks");
    }
    match panic_at {
        Some(i) if i % 10 != 0 && !cancel => {
            let payload = result.expect_err("the task panic was lost");
            assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom: soak"));
        }
        Some(_) if cancel => {
            // The panicking task may or may not have started.
            if let Err(payload) = result {
                assert_eq!(payload.downcast_ref::<&str>(), Some(&"boom: soak"));
            }
        }
        _ => assert!(result.is_ok()),
    }
    ran
}

#[test]
#[ignore = "soak test: run by .ci/run, or by hand with TASKGROUP_SOAK_SECS"]
fn soak() {
    quiet_expected_panics();
    let secs: u64 = std::env::var("TASKGROUP_SOAK_SECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let pool = ThreadPool::builder().num_threads(2).build().unwrap();
    let mut rng = XorShift::new(0x5eed);
    let start = Instant::now();
    let warm_up = Duration::from_secs(secs).mul_f64(0.2);
    let end = start + Duration::from_secs(secs);
    let mut tasks = 0usize;
    let mut rounds = 0usize;
    let mut rss_after_warm_up = None;
    while Instant::now() < end {
        tasks += round(&pool, &mut rng);
        rounds += 1;
        if rss_after_warm_up.is_none() && start.elapsed() >= warm_up {
            rss_after_warm_up = Some(rss_kib());
        }
    }
    let rss_end = rss_kib();
    let rss_warm = rss_after_warm_up.unwrap_or(rss_end);
    let elapsed = start.elapsed().as_secs_f64();
    println!(
        "soak: {rounds} rounds, {tasks} tasks in {elapsed:.1} s = {:.0} tasks/s; \
         RSS after warm-up {rss_warm} KiB, at end {rss_end} KiB",
        tasks as f64 / elapsed
    );
    assert!(
        rss_end <= rss_warm + RSS_MARGIN_KIB,
        "resident memory grew from {rss_warm} KiB to {rss_end} KiB"
    );
}
