//! Runs a whole-program scenario under shuttle: a real pool, whose atomics,
//! locks, thread-locals, parking and worker threads are shuttle's (see
//! `src/sync/`), explored by shuttle's random scheduler and then by its
//! PCT scheduler (Probabilistic Concurrency Testing: a few priority changes
//! at random points, which finds bugs that need only a few preemptions).
//!
//! A failure prints the failing schedule; replay it exactly with
//!
//! ```text
//! TASKGROUP_SHUTTLE_REPLAY='<schedule>' RUSTFLAGS="--cfg shuttle -C debug-assertions" \
//!   CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_<file> <scenario> -- --exact --include-ignored
//! ```
//!
//! Both schedulers start from a fixed seed, so a run explores the same
//! schedules every time (a CI failure reproduces locally as it is).
//! `SHUTTLE_RANDOM_SEED=<n>` explores other schedules, and
//! `TASKGROUP_SHUTTLE_ITERATIONS=<n>` sets the number of schedules per
//! scheduler for every scenario (e.g. a long run before a release).
#![allow(dead_code)]

use std::any::Any;
use std::panic;
use std::sync::{Arc, Once};

use shuttle::scheduler::{PctScheduler, RandomScheduler, ReplayScheduler};
use shuttle::{Config, FailurePersistence, MaxSteps, Runner};

/// Schedules per scheduler for a scenario: each one runs this many random
/// schedules, then as many PCT schedules (about 5 ms per scenario per
/// thousand schedules in release).
pub const ITERATIONS: usize = 20_000;

/// The seed both schedulers start from unless `SHUTTLE_RANDOM_SEED` is set.
const SEED: u64 = 0x7a5c_9a0f_2024_0001;

/// PCT's bug depth: how many priority changes an execution gets.
const PCT_DEPTH: usize = 3;

fn config() -> Config {
    let mut config = Config::new();
    // A waiting worker runs other jobs on top of its own frame, and debug
    // builds have large frames: shuttle's default 60 KiB is not enough.
    config.stack_size = 1 << 20;
    config.failure_persistence = FailurePersistence::Print;
    // A livelock (say, a worker spinning on a flag nobody will set) fails
    // long before shuttle's default of a million steps.
    config.max_steps = MaxSteps::FailAfter(200_000);
    // Shuttle warns that it treats every ordering as SeqCst, which is what
    // loom is for; and that lazy statics (the parking-lot model's table)
    // are reset between executions, which is what we want.
    config.silence_warnings = true;
    config
}

/// Runs `scenario` for `iterations` random schedules, then `iterations`
/// PCT schedules; or only the schedule in `TASKGROUP_SHUTTLE_REPLAY`.
pub fn check(iterations: usize, scenario: impl Fn() + Send + Sync + 'static) {
    let scenario = Arc::new(scenario);
    let run = {
        let scenario = Arc::clone(&scenario);
        move || {
            quiet_expected_panics();
            scenario()
        }
    };
    if let Ok(schedule) = std::env::var("TASKGROUP_SHUTTLE_REPLAY") {
        Runner::new(ReplayScheduler::new_from_encoded(schedule.trim()), config()).run(run);
        return;
    }
    let iterations = std::env::var("TASKGROUP_SHUTTLE_ITERATIONS")
        .ok()
        .map(|n| n.parse().expect("TASKGROUP_SHUTTLE_ITERATIONS is a number"))
        .unwrap_or(iterations);
    eprintln!("shuttle: random scheduler, {iterations} schedules");
    let n =
        Runner::new(RandomScheduler::new_from_seed(SEED, iterations), config()).run(run.clone());
    eprintln!("ran {n}");
    eprintln!("shuttle: PCT scheduler (depth {PCT_DEPTH}), {iterations} schedules");
    Runner::new(
        PctScheduler::new_from_seed(SEED, PCT_DEPTH, iterations),
        config(),
    )
    .run(run);
}

/// The text of a `&str` or `String` panic payload.
pub fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

/// Keeps the panics that scenarios provoke on purpose (their message starts
/// with `boom`) out of the output: shuttle's hook would print the whole
/// schedule for each, although they are caught. Every other panic goes on
/// to shuttle's hook, which prints the schedule to replay.
fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Called inside an execution: shuttle's hook is installed by now.
        let shuttle_hook = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            if !payload_str(info.payload()).is_some_and(|s| s.starts_with("boom")) {
                shuttle_hook(info);
            }
        }));
    });
}

/// A pool of `n` threads for a scenario.
pub fn pool(n: usize) -> taskgroup::ThreadPool {
    taskgroup::ThreadPool::builder()
        .num_threads(n)
        .build()
        .expect("build a pool under shuttle")
}
