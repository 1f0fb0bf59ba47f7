//! Model checks of the waitgroup protocol (src/waitgroup/).
//!
//! Run with `RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test
//! --test loom_waitgroup` (a debug build: debug assertions check the
//! protocol too). Every model finishes exhaustively with loom's default
//! preemption bound except where `model` below sets one; the bound is named
//! at each use.
//!
//! Under loom a group holds at most 8 guards (`MAX_GUARDS` in
//! src/waitgroup/mod.rs is `u32::MAX` otherwise), so models can reach the limit.
#![cfg(loom)]

use loom::cell::UnsafeCell;
use loom::thread;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::Arc;
use std::time::Duration;
use taskgroup::{OwnedWaitGuard, WaitGroup};

fn model(preemptions: Option<usize>, f: impl Fn() + Sync + Send + 'static) {
    let mut builder = loom::model::Builder::new();
    if builder.preemption_bound.is_none() {
        builder.preemption_bound = preemptions;
    }
    builder.check(f);
}

/// A value written by a task and read by the waiter: loom reports a data
/// race unless `wait` orders the write before the read.
struct Slot(UnsafeCell<u32>);
// SAFETY: accesses are ordered by the waitgroup, which is what loom checks.
unsafe impl Sync for Slot {}

#[test]
fn two_tasks_then_wait() {
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let slots = Arc::new([Slot(UnsafeCell::new(0)), Slot(UnsafeCell::new(0))]);
        let tasks: Vec<_> = (0..2)
            .map(|i| {
                let guard = wg.add_owned();
                let slots = Arc::clone(&slots);
                thread::spawn(move || {
                    slots[i].0.with_mut(|v| unsafe { *v = i as u32 + 1 });
                    drop(guard);
                })
            })
            .collect();
        wg.wait();
        let sum: u32 = slots.iter().map(|s| s.0.with(|v| unsafe { *v })).sum();
        assert_eq!(sum, 3);
        assert_eq!(wg.count(), 0);
        for t in tasks {
            t.join().unwrap();
        }
    });
}

#[test]
fn two_waiters_one_done() {
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let guard = wg.add_owned();
        let waiter = {
            let (wg, slot) = (Arc::clone(&wg), Arc::clone(&slot));
            thread::spawn(move || {
                wg.wait();
                slot.0.with(|v| assert_eq!(unsafe { *v }, 7));
            })
        };
        let task = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                slot.0.with_mut(|v| unsafe { *v = 7 });
                drop(guard);
            })
        };
        wg.wait();
        slot.0.with(|v| assert_eq!(unsafe { *v }, 7));
        waiter.join().unwrap();
        task.join().unwrap();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn wait_timeout_races_the_last_done() {
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let guard = wg.add_owned();
        let task = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                slot.0.with_mut(|v| unsafe { *v = 1 });
                drop(guard);
            })
        };
        if wg.wait_timeout(Duration::from_secs(1)) {
            slot.0.with(|v| assert_eq!(unsafe { *v }, 1));
        }
        task.join().unwrap();
        // Whichever way the race went, the timed-out waiter left no trace.
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
        assert!(wg.wait_timeout(Duration::from_secs(1)));
    });
}

#[test]
fn timed_and_untimed_waiters_share_a_release() {
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let guard = wg.add_owned();
        let timed = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.wait_timeout(Duration::from_secs(1)))
        };
        let task = thread::spawn(move || drop(guard));
        wg.wait();
        let _ = timed.join().unwrap();
        task.join().unwrap();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn rearm_right_after_release() {
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let first = wg.add_owned();
        let task = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                // Let the owner register as a waiter first.
                while !format!("{wg:?}").contains("waiters: 1") {
                    thread::yield_now();
                }
                drop(first);
                // Re-arm at once: the waiter released by the zero above must
                // still return, although the count is no longer zero.
                wg.add_owned()
            })
        };
        wg.wait();
        let second = task.join().unwrap();
        assert_eq!(wg.count(), 1);
        drop(second);
        assert_eq!(wg.count(), 0);
    });
}

#[test]
fn rearm_on_another_thread_races_the_release() {
    // The adder may land while the release is pending: it takes its unit
    // back (possibly releasing the waiter itself) and adds again.
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let first = wg.add_owned();
        let releaser = thread::spawn(move || drop(first));
        let adder = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                let second = wg.add_owned();
                assert!(wg.count() >= 1);
                drop(second);
            })
        };
        wg.wait();
        releaser.join().unwrap();
        adder.join().unwrap();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn no_access_after_the_owner_frees_the_group() {
    // The scope pattern: the group lives on the owner's stack (here a Box),
    // a task holds a guard whose lifetime is erased, and the owner frees the
    // group as soon as `wait` returns. Under loom every access to the group
    // reads a cell that the group's drop writes, so any access by the last
    // `done` that is not ordered before the free is reported.
    model(None, || {
        let wg = Box::new(WaitGroup::new());
        let guard = wg.add();
        // SAFETY: the owner waits for the guard's drop before freeing `wg`;
        // that the drop then touches nothing is what this model checks.
        let guard: taskgroup::WaitGuard<'static> = unsafe { std::mem::transmute(guard) };
        let task = thread::spawn(move || drop(guard));
        wg.wait();
        drop(wg);
        task.join().unwrap();
    });
}

#[test]
fn no_access_after_free_with_a_timed_waiter() {
    model(None, || {
        let wg = Box::new(WaitGroup::new());
        let guard = wg.add();
        // SAFETY: as above; the owner frees `wg` only after a successful wait.
        let guard: taskgroup::WaitGuard<'static> = unsafe { std::mem::transmute(guard) };
        let task = thread::spawn(move || drop(guard));
        if !wg.wait_timeout(Duration::from_secs(1)) {
            wg.wait();
        }
        drop(wg);
        task.join().unwrap();
    });
}

/// The limit under loom (see the module docs).
const MAX_GUARDS: usize = 8;

/// Silences the overflow panics the models below provoke in every
/// execution; any other panic goes to the previous hook.
fn quiet_overflow_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied());
            if !text.is_some_and(|t| t.starts_with("WaitGroup overflow")) {
                previous(info);
            }
        }));
    });
}

/// An `add_owned` that may panic at the limit: `None` if it did.
fn try_add(wg: &Arc<WaitGroup>) -> Option<OwnedWaitGuard> {
    catch_unwind(AssertUnwindSafe(|| wg.add_owned())).ok()
}

#[test]
fn racing_adds_at_the_limit_both_panic() {
    // The group is full. Two adds race: each must panic, however they
    // interleave with each other's increment and its taking back, and the
    // count never reads less than the guards outstanding.
    quiet_overflow_panics();
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let held: Vec<_> = (0..MAX_GUARDS).map(|_| wg.add_owned()).collect();
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let wg = Arc::clone(&wg);
                thread::spawn(move || {
                    let added = try_add(&wg);
                    assert!(wg.count() >= MAX_GUARDS);
                    added.is_some()
                })
            })
            .collect();
        for adder in adders {
            assert!(!adder.join().unwrap(), "an add past the limit stood");
        }
        assert_eq!(wg.count(), MAX_GUARDS);
        assert!(!wg.wait_timeout(Duration::ZERO));
        drop(held);
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn racing_adds_below_the_limit_exactly_one_fits() {
    // One unit left: of two racing adds exactly one stands, and while it is
    // outstanding the count never reads less than the limit.
    quiet_overflow_panics();
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let held: Vec<_> = (1..MAX_GUARDS).map(|_| wg.add_owned()).collect();
        let adders: Vec<_> = (0..2)
            .map(|_| {
                let wg = Arc::clone(&wg);
                thread::spawn(move || {
                    let added = try_add(&wg);
                    if added.is_some() {
                        assert!(wg.count() >= MAX_GUARDS);
                    }
                    added
                })
            })
            .collect();
        let added: Vec<_> = adders
            .into_iter()
            .filter_map(|adder| adder.join().unwrap())
            .collect();
        assert_eq!(added.len(), 1, "exactly one add fits under the limit");
        assert_eq!(wg.count(), MAX_GUARDS);
        drop(held);
        assert!(!wg.wait_timeout(Duration::ZERO));
        drop(added);
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}

#[test]
fn an_add_past_the_limit_that_ends_last_releases_the_waiter() {
    // The group is full, and its guards are done while an add is in
    // flight. If the add came past the limit, taking its unit back may be
    // what brings the count to zero, and then it must release the waiter.
    // (If it came after a done, it fits and its guard is done at once.)
    quiet_overflow_panics();
    model(None, || {
        let wg = Arc::new(WaitGroup::new());
        let mut held: Vec<_> = (0..MAX_GUARDS).map(|_| wg.add_owned()).collect();
        let last = held.pop().unwrap();
        let adder = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || drop(try_add(&wg)))
        };
        let finisher = thread::spawn(move || drop(last));
        drop(held);
        wg.wait();
        adder.join().unwrap();
        finisher.join().unwrap();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 0, waiters: 0 }");
    });
}
