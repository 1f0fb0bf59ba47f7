//! Shuttle scenarios of a scope's concurrency limit on a real pool of three
//! threads: at no point do more than `max` of the scope's tasks compute at
//! once, whoever spawns them, and every task runs. A task blocked in `join`
//! on a sibling may lend its slot to that sibling: it does not compute
//! meanwhile, so it is not counted while it waits.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_limit`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use std::sync::PoisonError;

use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle::sync::Mutex;
use shuttle_harness::{check, pool, ITERATIONS};
use taskgroup::TaskHandle;

/// How many of a scope's tasks compute at once, and the most ever seen.
struct Gauge {
    running: AtomicUsize,
    most: AtomicUsize,
    finished: AtomicUsize,
}

impl Gauge {
    fn new() -> Self {
        Self {
            running: AtomicUsize::new(0),
            most: AtomicUsize::new(0),
            finished: AtomicUsize::new(0),
        }
    }

    fn enter(&self) {
        let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
        self.most.fetch_max(now, Ordering::SeqCst);
    }

    fn leave(&self) {
        self.running.fetch_sub(1, Ordering::SeqCst);
    }

    /// A stretch of computation: counted, with a scheduling point inside.
    fn work(&self) {
        self.enter();
        shuttle::thread::yield_now();
        self.leave();
    }

    /// A whole task: its computation, then its end.
    fn task(&self) {
        self.work();
        self.finished.fetch_add(1, Ordering::SeqCst);
    }

    fn assert(&self, max: usize, tasks: usize) {
        let most = self.most.load(Ordering::SeqCst);
        assert!(
            most <= max,
            "{most} tasks ran at once with max_concurrency({max})"
        );
        assert_eq!(self.finished.load(Ordering::SeqCst), tasks);
    }
}

/// Hands a task its sibling's handle, spawned after it.
fn send<T>(slot: &Mutex<Option<T>>, value: T) {
    *slot.lock().unwrap_or_else(PoisonError::into_inner) = Some(value);
}

/// Waits (yielding) for [`send`].
fn receive<T>(slot: &Mutex<Option<T>>) -> T {
    loop {
        if let Some(value) = slot.lock().unwrap_or_else(PoisonError::into_inner).take() {
            return value;
        }
        shuttle::thread::yield_now();
    }
}

#[test]
fn tasks_spawned_from_the_body_and_from_tasks() {
    check(ITERATIONS, || {
        let pool = pool(3);
        for max in [1, 2] {
            let gauge = Gauge::new();
            let gauge = &gauge;
            pool.scope_builder()
                .max_concurrency(max)
                .scope(|s| {
                    for _ in 0..3 {
                        s.spawn(move |s| {
                            s.spawn(move |_| gauge.task());
                            gauge.task();
                        });
                    }
                })
                .expect("no deadline");
            gauge.assert(max, 6);
        }
    });
}

#[test]
fn tasks_joined_by_the_body() {
    check(ITERATIONS, || {
        let pool = pool(3);
        let gauge = Gauge::new();
        let gauge = &gauge;
        let sum = pool
            .scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                let handles: Vec<_> = (0..3)
                    .map(|i| {
                        s.spawn_handle(move |_| {
                            gauge.task();
                            i
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .rev()
                    .map(|h| h.join().expect("task"))
                    .sum::<usize>()
            })
            .expect("no deadline");
        assert_eq!(sum, 3);
        gauge.assert(1, 3);
    });
}

#[test]
fn a_task_joins_a_queued_sibling() {
    // With one slot, the joining task holds it while its sibling waits in
    // the scope's queue: it must lend the slot, and it does not compute
    // while it waits.
    check(ITERATIONS, || {
        let pool = pool(3);
        let gauge = Gauge::new();
        let gauge = &gauge;
        let sibling: Mutex<Option<TaskHandle<'_, usize>>> = Mutex::new(None);
        let sibling = &sibling;
        pool.scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                s.spawn(move |_| {
                    gauge.work();
                    let h = receive(sibling);
                    assert_eq!(h.join().expect("sibling"), 7);
                    gauge.task();
                });
                let h = s.spawn_handle(move |_| {
                    gauge.task();
                    7
                });
                send(sibling, h);
            })
            .expect("no deadline");
        gauge.assert(1, 2);
    });
}

#[test]
fn a_stolen_join_half_joins_a_queued_sibling() {
    // The task's `join` is published at once (it is the task's outermost)
    // and may be stolen; the thief, on behalf of the task, joins a sibling
    // waiting in the queue. While the first half computes, the task holds
    // its slot: the sibling must not run then.
    check(ITERATIONS, || {
        let pool = pool(3);
        let gauge = Gauge::new();
        let gauge = &gauge;
        let sibling: Mutex<Option<TaskHandle<'_, usize>>> = Mutex::new(None);
        let sibling = &sibling;
        let pool = &pool;
        pool.scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                s.spawn(move |_| {
                    gauge.enter();
                    let h = receive(sibling);
                    let ((), value) = pool.join(
                        || {
                            shuttle::thread::yield_now();
                            // The task's own computation ends here; from
                            // now on it only waits for the other half.
                            gauge.leave();
                        },
                        move || h.join().expect("sibling"),
                    );
                    assert_eq!(value, 7);
                    gauge.finished.fetch_add(1, Ordering::SeqCst);
                });
                let h = s.spawn_handle(move |_| {
                    gauge.task();
                    7
                });
                send(sibling, h);
            })
            .expect("no deadline");
        gauge.assert(1, 2);
    });
}

#[test]
fn a_lent_slot_goes_to_the_joined_task() {
    // One slot. Task a joins b; c, queued ahead of b, joins a. The only
    // order that finishes is b, a, c: a's lent slot must go to b, not to
    // whatever heads the queue.
    check(ITERATIONS, || {
        let pool = pool(3);
        let finished = AtomicUsize::new(0);
        let finished = &finished;
        let handle_b: Mutex<Option<TaskHandle<'_, u8>>> = Mutex::new(None);
        let handle_b = &handle_b;
        pool.scope_builder()
            .max_concurrency(1)
            .scope(|s| {
                let a = s.spawn_handle(move |_| {
                    let b = receive(handle_b);
                    let value = b.join().expect("b") + 1;
                    finished.fetch_add(1, Ordering::SeqCst);
                    value
                });
                s.spawn(move |_| {
                    assert_eq!(a.join().expect("a"), 2);
                    finished.fetch_add(1, Ordering::SeqCst);
                });
                let b = s.spawn_handle(move |_| {
                    finished.fetch_add(1, Ordering::SeqCst);
                    1
                });
                send(handle_b, b);
            })
            .expect("no deadline");
        assert_eq!(finished.load(Ordering::SeqCst), 3);
    });
}
