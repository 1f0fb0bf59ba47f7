//! Shuttle scenarios of scopes on a real pool: tasks that spawn tasks into
//! their own scope (so a worker keeps spare units of the scope's count
//! between them), scopes nested inside tasks, scopes opened from outside
//! the pool and from its workers at once, and panics.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_scope`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use std::sync::Arc;

use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle_harness::{check, payload_str, pool, ITERATIONS};

/// A slot per task, written by that task only: a task that ran twice, or
/// not at all, shows.
fn slots(n: usize) -> Vec<AtomicUsize> {
    (0..n).map(|_| AtomicUsize::new(0)).collect()
}

fn assert_each_ran_once(slots: &[AtomicUsize]) {
    for (i, slot) in slots.iter().enumerate() {
        assert_eq!(slot.load(Ordering::Relaxed), 1, "task {i}");
    }
}

#[test]
fn nested_scopes_whose_tasks_spawn_tasks() {
    check(ITERATIONS, || {
        let pool = pool(2);
        // Per outer task: itself, two tasks it spawns into the outer scope,
        // and a scope of its own with a task that spawns one more.
        let ran = slots(2 * 5);
        let ran = &ran;
        pool.scope(|s| {
            for i in 0..2 {
                s.spawn(move |s| {
                    let base = i * 5;
                    ran[base].fetch_add(1, Ordering::Relaxed);
                    for j in 1..3 {
                        s.spawn(move |_| {
                            ran[base + j].fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    // On a worker, the free function opens a scope of the
                    // worker's own pool, owned by this worker.
                    taskgroup::scope(|inner| {
                        inner.spawn(move |inner| {
                            ran[base + 3].fetch_add(1, Ordering::Relaxed);
                            inner.spawn(move |_| {
                                ran[base + 4].fetch_add(1, Ordering::Relaxed);
                            });
                        });
                    });
                    // The inner scope has ended: both its tasks ran.
                    assert_eq!(ran[base + 3].load(Ordering::Relaxed), 1);
                    assert_eq!(ran[base + 4].load(Ordering::Relaxed), 1);
                });
            }
        });
        assert_each_ran_once(ran);
    });
}

#[test]
fn a_task_spawning_into_its_scope_after_the_body_returned() {
    // The body returns at once; the scope stays open through the units the
    // tasks hold (or keep spare) and must end exactly once all ran.
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = slots(4);
        let ran = &ran;
        pool.install(|| {
            taskgroup::scope(|s| {
                s.spawn(move |s| {
                    ran[0].fetch_add(1, Ordering::Relaxed);
                    s.spawn(move |s| {
                        ran[1].fetch_add(1, Ordering::Relaxed);
                        s.spawn(move |_| {
                            ran[2].fetch_add(1, Ordering::Relaxed);
                        });
                    });
                    s.spawn(move |_| {
                        ran[3].fetch_add(1, Ordering::Relaxed);
                    });
                });
            });
            assert_each_ran_once(ran);
        });
    });
}

#[test]
fn tasks_of_one_scope_spawn_into_another() {
    // A worker keeps spare units of one scope at a time: running a task of
    // the inner scope, or spawning into the outer one from there, must give
    // back the other scope's units before either scope can be seen empty.
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = slots(6);
        let ran = &ran;
        pool.install(|| {
            taskgroup::scope(|outer| {
                outer.spawn(move |outer| {
                    ran[0].fetch_add(1, Ordering::Relaxed);
                    taskgroup::scope(|inner| {
                        for i in 1..3 {
                            inner.spawn(move |inner| {
                                ran[i].fetch_add(1, Ordering::Relaxed);
                                // Into the outer scope, from the inner one.
                                outer.spawn(move |_| {
                                    ran[i + 2].fetch_add(1, Ordering::Relaxed);
                                });
                                inner.spawn(move |_| {
                                    ran[5].fetch_add(1, Ordering::Relaxed);
                                });
                            });
                        }
                    });
                    assert_eq!(ran[1].load(Ordering::Relaxed), 1);
                    assert_eq!(ran[2].load(Ordering::Relaxed), 1);
                    assert_eq!(ran[5].load(Ordering::Relaxed), 2);
                });
            });
            for (i, slot) in ran.iter().enumerate() {
                let expected = if i == 5 { 2 } else { 1 };
                assert_eq!(slot.load(Ordering::Relaxed), expected, "task {i}");
            }
        });
    });
}

#[test]
fn scopes_from_outside_and_from_workers_at_once() {
    // Two plain threads and a worker (through `install`) open scopes on
    // the same pool of one thread. (Plain spawned threads, not
    // `shuttle::thread::scope`: shuttle 0.9 wakes a scope's owner when its
    // last scoped thread ends, even if the owner is blocked on something
    // else at that moment.)
    check(ITERATIONS, || {
        let pool = Arc::new(pool(1));
        let totals = Arc::new(slots(3));
        let callers: Vec<_> = (0..2)
            .map(|caller| {
                let (pool, totals) = (Arc::clone(&pool), Arc::clone(&totals));
                shuttle::thread::spawn(move || {
                    let totals = &totals;
                    pool.scope(|s| {
                        for _ in 0..2 {
                            s.spawn(move |_| {
                                totals[caller].fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    });
                    assert_eq!(totals[caller].load(Ordering::Relaxed), 2);
                })
            })
            .collect();
        let totals = &totals;
        pool.install(|| {
            pool.scope(|s| {
                s.spawn(move |s| {
                    totals[2].fetch_add(1, Ordering::Relaxed);
                    s.spawn(move |_| {
                        totals[2].fetch_add(1, Ordering::Relaxed);
                    });
                });
            });
            assert_eq!(totals[2].load(Ordering::Relaxed), 2);
        });
        for caller in callers {
            caller.join().expect("caller thread");
        }
    });
}

#[test]
fn a_task_panic_is_reraised_after_every_task_ran() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = slots(3);
        let ran = &ran;
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.scope(|s| {
                s.spawn(|_| panic!("boom: first task"));
                for (i, slot) in ran.iter().enumerate() {
                    s.spawn(move |s| {
                        slot.fetch_add(1, Ordering::Relaxed);
                        if i == 0 {
                            s.spawn(|_| panic!("boom: nested task"));
                        }
                    });
                }
            })
        }))
        .expect_err("the scope re-raises its tasks' panic");
        let message = payload_str(&*payload).expect("a string payload");
        assert!(
            message == "boom: first task" || message == "boom: nested task",
            "unexpected payload {message:?}"
        );
        assert_each_ran_once(ran);
    });
}

#[test]
fn a_body_panic_waits_for_the_tasks() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = slots(2);
        let ran = &ran;
        let payload = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.install(|| {
                taskgroup::scope(|s| {
                    for slot in ran {
                        s.spawn(move |_| {
                            slot.fetch_add(1, Ordering::Relaxed);
                        });
                    }
                    panic!("boom: body");
                })
            })
        }))
        .expect_err("the body's panic propagates");
        assert_eq!(payload_str(&*payload), Some("boom: body"));
        assert_each_ran_once(ran);
    });
}

#[test]
fn try_scope_first_error_cancels_the_rest() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let ran = AtomicUsize::new(0);
        let skipped = AtomicUsize::new(0);
        let nested = AtomicUsize::new(0);
        let (ran, skipped, nested) = (&ran, &skipped, &nested);
        /// Counts a task that was dropped without running.
        struct Unless<'a>(&'a AtomicUsize, bool);
        impl Unless<'_> {
            fn ran(&mut self) {
                self.1 = true;
            }
        }
        impl Drop for Unless<'_> {
            fn drop(&mut self) {
                if !self.1 {
                    self.0.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let result: Result<(), usize> = pool.try_scope(|s| {
            for i in 0..4 {
                let mut token = Unless(skipped, false);
                s.spawn(move |s| {
                    token.ran();
                    ran.fetch_add(1, Ordering::Relaxed);
                    if i % 2 == 1 {
                        return Err(i);
                    }
                    let mut token = Unless(skipped, false);
                    nested.fetch_add(1, Ordering::Relaxed);
                    s.spawn(move |_| {
                        token.ran();
                        ran.fetch_add(1, Ordering::Relaxed);
                        Ok(())
                    });
                    Ok(())
                });
            }
            Ok(())
        });
        let err = result.expect_err("two tasks fail");
        assert!(err == 1 || err == 3, "unexpected error {err}");
        // Every task either ran or was skipped, and the failing one ran.
        let ran = ran.load(Ordering::Relaxed);
        let skipped = skipped.load(Ordering::Relaxed);
        let nested = nested.load(Ordering::Relaxed);
        assert!(ran >= 1);
        assert_eq!(ran + skipped, 4 + nested, "ran {ran}, skipped {skipped}");
    });
}
