//! An idle pool sleeps: it burns no CPU beyond a short bounded spin.
//!
//! This file holds a single test so that nothing else runs in this test
//! binary (process) while the CPU time is measured.
#![cfg(not(loom))]

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use common::{pool, watchdog};

/// The process's CPU time (user + system) in clock ticks, from fields 14
/// and 15 of `/proc/self/stat`. `None` where there is no procfs.
fn cpu_ticks() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 2 (comm) is parenthesised and may hold spaces: start after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `rest` starts at field 3, so field k is at index k - 3.
    let utime: u64 = fields.get(14 - 3)?.parse().ok()?;
    let stime: u64 = fields.get(15 - 3)?.parse().ok()?;
    Some(utime + stime)
}

/// At 100 Hz, 5 ticks is 50 ms of CPU over a second of idleness: a pool
/// that spins would use about 100 ticks per spinning thread.
const MAX_IDLE_TICKS: u64 = 5;

/// The CPU ticks the process uses while `during` runs (it should block).
fn ticks_during(during: impl FnOnce()) -> u64 {
    let before = cpu_ticks().expect("read /proc/self/stat");
    during();
    let after = cpu_ticks().expect("read /proc/self/stat");
    after - before
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = taskgroup::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

#[test]
fn an_idle_pool_uses_no_cpu() {
    if cpu_ticks().is_none() {
        eprintln!("no /proc/self/stat: skipping the idle CPU check");
        return;
    }
    watchdog(30, || {
        let pool = pool(2);
        // Some work first, so that every worker has been busy.
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..10_000 {
                s.spawn(|_| {
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        pool.install(|| {
            let (a, b) = taskgroup::join(|| 1, || 2);
            count.fetch_add(a + b, Ordering::Relaxed);
        });
        assert_eq!(count.load(Ordering::Relaxed), 10_003);
        thread::sleep(Duration::from_millis(200));

        // 1. Nothing to do at all.
        let idle = ticks_during(|| thread::sleep(Duration::from_secs(1)));
        assert!(
            idle <= MAX_IDLE_TICKS,
            "an idle 2-thread pool used {idle} ticks in 1 s (limit {MAX_IDLE_TICKS})"
        );

        // 2. One worker blocked in a task, the caller blocked in `install`,
        //    the other worker idle.
        let blocked = ticks_during(|| pool.install(|| thread::sleep(Duration::from_secs(1))));
        assert!(
            blocked <= MAX_IDLE_TICKS,
            "a pool with one blocked task used {blocked} ticks in 1 s (limit {MAX_IDLE_TICKS})"
        );

        // 3. A worker that owns a scope waits for a task sleeping on the
        //    other worker: the waiting worker must sleep too.
        let waiting = ticks_during(|| {
            pool.install(|| {
                let started = AtomicBool::new(false);
                pool.scope(|s| {
                    s.spawn(|_| {
                        started.store(true, Ordering::SeqCst);
                        thread::sleep(Duration::from_secs(1));
                    });
                    // Make sure the other worker took the task, so that
                    // this one has nothing left to run once the body ends.
                    while !started.load(Ordering::SeqCst) {
                        thread::sleep(Duration::from_millis(1));
                    }
                });
            })
        });
        assert!(
            waiting <= MAX_IDLE_TICKS,
            "a worker waiting for its scope used {waiting} ticks in 1 s (limit {MAX_IDLE_TICKS})"
        );

        // 4. And after all that, the pool still works.
        assert_eq!(pool.join(|| 1, || 2), (1, 2));
        drop(pool);

        // 5. A pool of four times the CPUs, after fine-grained work that
        //    made its workers steal and ask each other for work.
        let oversized = common::pool(4 * num_cpus::get());
        let sum = oversized.install(|| fib(20));
        assert_eq!(sum, 6765);
        thread::sleep(Duration::from_millis(200));
        let idle = ticks_during(|| thread::sleep(Duration::from_secs(1)));
        assert!(
            idle <= MAX_IDLE_TICKS,
            "an idle pool of {} threads used {idle} ticks in 1 s (limit {MAX_IDLE_TICKS})",
            4 * num_cpus::get()
        );
    });
}
