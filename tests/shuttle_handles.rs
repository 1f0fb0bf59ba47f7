//! Shuttle scenarios of task handles on real pools: joined by the scope's
//! body, by a worker of another pool (which is woken through its own pool),
//! by a task of another pool's scope, and by a sibling task.
//!
//! Run with `RUSTFLAGS="--cfg shuttle -C debug-assertions"
//! CARGO_TARGET_DIR=target/shuttle cargo test --release --test shuttle_handles`;
//! see `tests/shuttle_harness` for replaying a failure.
#![cfg(shuttle)]

mod shuttle_harness;

use shuttle::sync::atomic::{AtomicUsize, Ordering};
use shuttle_harness::{check, payload_str, pool, ITERATIONS};

#[test]
fn handles_joined_by_the_body() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let total = pool.scope(|s| {
            let handles: Vec<_> = (1..=3u64)
                .map(|i| {
                    s.spawn_handle(move |s| {
                        // A handle of the same scope, joined inside a task.
                        let inner = s.spawn_handle(move |_| i * 10);
                        i + inner.join().expect("inner handle")
                    })
                })
                .collect();
            // Joined last to first, so the first may still be queued.
            handles
                .into_iter()
                .rev()
                .map(|h| h.join().expect("task handle"))
                .sum::<u64>()
        });
        assert_eq!(total, 66);
    });
}

#[test]
fn a_handle_joined_on_a_worker_of_another_pool() {
    check(ITERATIONS, || {
        let pool_a = pool(2);
        let pool_b = pool(1);
        let value = pool_a.scope(|s| {
            let h = s.spawn_handle(|s| {
                s.spawn(|_| {});
                6 * 7
            });
            pool_b.install(move || h.join())
        });
        assert_eq!(value.expect("joined on pool b"), 42);
    });
}

#[test]
fn a_task_sends_its_sibling_handle_to_another_pool() {
    // Pool a has one thread, which waits in `install` (running a's jobs,
    // the joined task among them) while pool b's worker joins.
    check(ITERATIONS, || {
        let pool_a = pool(1);
        let pool_b = pool(1);
        let pool_b = &pool_b;
        let joined = AtomicUsize::new(0);
        let joined = &joined;
        pool_a.scope(|s| {
            for i in 0..2 {
                s.spawn(move |s| {
                    let h = s.spawn_handle(move |_| i + 1);
                    let value = pool_b.install(move || h.join()).expect("joined on pool b");
                    assert_eq!(value, i + 1);
                    joined.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(joined.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn a_handle_joined_by_a_task_of_another_pools_scope() {
    check(ITERATIONS, || {
        let pool_a = pool(1);
        let pool_b = pool(2);
        pool_a.scope(|s| {
            let ok = s.spawn_handle(|_| String::from("from a"));
            let boom = s.spawn_handle(|_| -> u8 { panic!("boom: handle task") });
            pool_b.scope(|sb| {
                sb.spawn(move |_| assert_eq!(ok.join().expect("value"), "from a"));
                sb.spawn(move |_| {
                    let err = boom.join().expect_err("the task panicked");
                    assert!(err.is_panic());
                    assert_eq!(payload_str(&*err.into_panic()), Some("boom: handle task"));
                });
            });
        });
        // The panic was taken by its `join`: the scope does not re-raise it.
    });
}

#[test]
fn a_task_joins_a_sibling_handle() {
    check(ITERATIONS, || {
        let pool = pool(2);
        let joined = AtomicUsize::new(0);
        let joined = &joined;
        pool.scope(|s| {
            let h = s.spawn_handle(|_| {
                // Waits for a task of its own: its worker runs other jobs
                // meanwhile, perhaps the joiner below.
                taskgroup::scope(|inner| inner.spawn(|_| {}));
                1
            });
            s.spawn(move |_| {
                assert_eq!(h.join().expect("sibling handle"), 1);
                joined.fetch_add(1, Ordering::Relaxed);
            });
        });
        assert_eq!(joined.load(Ordering::Relaxed), 1);
    });
}
