//! Model check of a scope's completion hand-off (src/scope.rs): the owner is
//! a worker that sleeps in the pool's sleep protocol until the scope's count
//! is zero; the last task's `done` wakes it by index. The scope lives in the
//! owner's frame, so the last `done` must not touch it once the owner can
//! return; the group here is freed as soon as the owner sees zero, and
//! loom reports any access that is not ordered before that.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_scope`.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::{finish_task, finish_tasks, Sleep};
use taskgroup::{WaitGroup, WaitGuard};

struct Slot(UnsafeCell<u32>);
// SAFETY: accesses are ordered by the scope's completion, which loom checks.
unsafe impl Sync for Slot {}

fn owner_waits(wg: &WaitGroup, sleep: &Sleep) {
    while wg.count() != 0 {
        sleep.sleep(0, || wg.count() == 0);
    }
}

#[test]
fn last_done_wakes_the_owner_and_leaves_the_scope_alone() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let wg = Box::new(WaitGroup::new());
        let body = wg.add();
        // SAFETY: the owner frees `wg` only after it has seen the count at
        // zero, i.e. after this guard's done; what the done touches after
        // that is what this model checks.
        let task: WaitGuard<'static> = unsafe { std::mem::transmute(wg.add()) };
        let worker = {
            let (sleep, slot) = (Arc::clone(&sleep), Arc::clone(&slot));
            thread::spawn(move || {
                slot.0.with_mut(|v| unsafe { *v = 42 });
                finish_task(task, 0, &sleep);
            })
        };
        finish_task(body, 0, &sleep);
        owner_waits(&wg, &sleep);
        drop(wg);
        slot.0.with(|v| assert_eq!(unsafe { *v }, 42));
        worker.join().unwrap();
    });
}

#[test]
fn two_tasks_finish_on_two_workers() {
    // Exhaustive, with no preemption bound: ~10 s in release.
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(3));
        let wg = Box::new(WaitGroup::new());
        let body = wg.add();
        let workers: Vec<_> = (0..2)
            .map(|_| {
                // SAFETY: as above.
                let task: WaitGuard<'static> = unsafe { std::mem::transmute(wg.add()) };
                let sleep = Arc::clone(&sleep);
                thread::spawn(move || finish_task(task, 0, &sleep))
            })
            .collect();
        finish_task(body, 0, &sleep);
        owner_waits(&wg, &sleep);
        drop(wg);
        for w in workers {
            w.join().unwrap();
        }
    });
}

#[test]
fn spare_units_return_in_one_done_and_wake_the_owner() {
    // A worker ran two tasks of the scope back to back: the first one's
    // unit stayed with it as spare, the second one's too, and it returns
    // both at once when it runs out of the scope's tasks.
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let wg = Box::new(WaitGroup::new());
        let body = wg.add();
        // SAFETY: as in the first model.
        let tasks: Vec<WaitGuard<'static>> = (0..2)
            .map(|_| unsafe { std::mem::transmute(wg.add()) })
            .collect();
        let worker = {
            let (sleep, slot) = (Arc::clone(&sleep), Arc::clone(&slot));
            thread::spawn(move || {
                slot.0.with_mut(|v| unsafe { *v = 42 });
                finish_tasks(tasks, 0, &sleep);
            })
        };
        finish_task(body, 0, &sleep);
        owner_waits(&wg, &sleep);
        drop(wg);
        slot.0.with(|v| assert_eq!(unsafe { *v }, 42));
        worker.join().unwrap();
    });
}
