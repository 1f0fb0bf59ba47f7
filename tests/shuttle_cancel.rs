//! Shuttle scenarios of cancellation on a real pool: `cancel` racing spawns
//! and task starts, in the scope and in scopes opened inside its tasks.
//! Whatever the schedule, every task either runs or is dropped unrun (never
//! both, never neither), a task spawned after `cancel` returned never runs,
//! and a handle says which of the two happened.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_cancel`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use shuttle::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use shuttle_harness::{check, pool, ITERATIONS};

/// What happened to the tasks of a scenario.
#[derive(Default)]
struct Tally {
    spawned: AtomicUsize,
    ran: AtomicUsize,
    skipped: AtomicUsize,
    /// Set if a task spawned after `cancel` returned ran.
    late_ran: AtomicBool,
}

impl Tally {
    fn new() -> Self {
        Self {
            spawned: AtomicUsize::new(0),
            ran: AtomicUsize::new(0),
            skipped: AtomicUsize::new(0),
            late_ran: AtomicBool::new(false),
        }
    }

    /// A token for one task, to be moved into its closure: the task calls
    /// [`Token::run`]; a token dropped unrun counts the task as skipped.
    fn token(&self, late: bool) -> Token<'_> {
        self.spawned.fetch_add(1, Ordering::Relaxed);
        Token {
            tally: self,
            late,
            ran: false,
        }
    }

    fn assert_accounted(&self) {
        let spawned = self.spawned.load(Ordering::Relaxed);
        let ran = self.ran.load(Ordering::Relaxed);
        let skipped = self.skipped.load(Ordering::Relaxed);
        assert_eq!(ran + skipped, spawned, "ran {ran} + skipped {skipped}");
        assert!(
            !self.late_ran.load(Ordering::Relaxed),
            "a task spawned after cancel returned ran"
        );
    }
}

struct Token<'a> {
    tally: &'a Tally,
    late: bool,
    ran: bool,
}

impl Token<'_> {
    fn run(&mut self) {
        assert!(!self.ran, "a task ran twice");
        self.ran = true;
        self.tally.ran.fetch_add(1, Ordering::Relaxed);
        if self.late {
            self.tally.late_ran.store(true, Ordering::Relaxed);
        }
    }
}

impl Drop for Token<'_> {
    fn drop(&mut self) {
        if !self.ran {
            self.tally.skipped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

#[test]
fn cancel_races_spawns_and_starts() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let tally = Tally::new();
        let tally = &tally;
        pool.scope(|s| {
            for _ in 0..2 {
                let mut token = tally.token(false);
                s.spawn(move |s| {
                    token.run();
                    // Spawns racing the cancel below.
                    let mut inner = tally.token(false);
                    s.spawn(move |_| inner.run());
                });
            }
            let mut token = tally.token(false);
            s.spawn(move |s| {
                token.run();
                s.cancel();
                // Spawned after `cancel` returned: must never run.
                let mut late = tally.token(true);
                s.spawn(move |_| late.run());
            });
        });
        tally.assert_accounted();
    });
}

#[test]
fn cancel_reaches_scopes_opened_in_tasks() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let tally = Tally::new();
        let tally = &tally;
        let cancelled = AtomicBool::new(false);
        let cancelled = &cancelled;
        pool.scope(|s| {
            let mut token = tally.token(false);
            s.spawn(move |_| {
                token.run();
                taskgroup::scope(|child| {
                    let mut first = tally.token(false);
                    child.spawn(move |_| first.run());
                    // Wait (running jobs) until the parent is cancelled:
                    // the child's next spawn comes after that.
                    while !cancelled.load(Ordering::Acquire) {
                        shuttle::thread::yield_now();
                    }
                    assert!(child.is_cancelled());
                    let mut late = tally.token(true);
                    child.spawn(move |_| late.run());
                });
            });
            let mut token = tally.token(false);
            s.spawn(move |s| {
                token.run();
                s.cancel();
                cancelled.store(true, Ordering::Release);
            });
        });
        tally.assert_accounted();
    });
}

#[test]
fn handles_of_cancelled_tasks_say_so() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let ran = &ran;
        pool.scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|i| {
                    s.spawn_handle(move |_| {
                        ran.fetch_add(1, Ordering::Relaxed);
                        i
                    })
                })
                .collect();
            s.cancel();
            let late = s.spawn_handle(|_| unreachable!("spawned after cancel"));
            let mut joined_values = 0;
            for (i, h) in handles.into_iter().enumerate() {
                match h.join() {
                    Ok(value) => {
                        assert_eq!(value, i);
                        joined_values += 1;
                    }
                    Err(err) => assert!(err.is_cancelled(), "{err}"),
                }
            }
            assert!(late.join().expect_err("never ran").is_cancelled());
            assert_eq!(ran.load(Ordering::Relaxed), joined_values);
        });
    });
}
