//! Model checks of the WaitGroup's waiters that are not parked threads
//! (src/waitgroup/waitlist.rs): a pool worker, which sleeps in the pool's
//! sleep protocol and is woken through it, and an async task
//! (`wait_async`). Each races the last `done`: a lost wake-up is a loom
//! deadlock; a stale one (a waiter released by a zero that then sees the
//! group re-armed) is one too, since the waiter would wait again.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" CARGO_TARGET_DIR=target/loomrel
//! cargo test --release --test loom_waiters`.
#![cfg(loom)]

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, RawWaker, RawWakerVTable, Waker};

use loom::cell::UnsafeCell;
use loom::thread;
use taskgroup::__loom::{wait_as_worker, Sleep};
use taskgroup::WaitGroup;

/// A value written before the last `done` and read after the wait: loom
/// reports a race unless the release orders them.
struct Slot(UnsafeCell<u32>);
// SAFETY: accesses are ordered by the waitgroup, which is what loom checks.
unsafe impl Sync for Slot {}

fn noop_waker() -> Waker {
    const VTABLE: RawWakerVTable = RawWakerVTable::new(
        |_| RawWaker::new(std::ptr::null(), &VTABLE),
        |_| {},
        |_| {},
        |_| {},
    );
    // SAFETY: every function of the vtable ignores its pointer.
    unsafe { Waker::from_raw(RawWaker::new(std::ptr::null(), &VTABLE)) }
}

fn waiters(wg: &WaitGroup) -> String {
    format!("{wg:?}")
}

#[test]
fn a_worker_waiter_races_the_last_done() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let sleep = Arc::new(Sleep::new(1));
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let guard = wg.add_owned();
        let task = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                slot.0.with_mut(|v| unsafe { *v = 7 });
                drop(guard);
            })
        };
        wait_as_worker(&wg, 0, &sleep);
        assert_eq!(slot.0.with(|v| unsafe { *v }), 7);
        task.join().unwrap();
        assert!(waiters(&wg).contains("waiters: 0"), "{wg:?}");
    });
}

#[test]
fn a_worker_and_a_parked_thread_are_released_by_one_done() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let wg = Arc::new(WaitGroup::new());
        let sleep = Arc::new(Sleep::new(1));
        let guard = wg.add_owned();
        let worker = {
            let (wg, sleep) = (Arc::clone(&wg), Arc::clone(&sleep));
            thread::spawn(move || wait_as_worker(&wg, 0, &sleep))
        };
        let parked = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || wg.wait())
        };
        drop(guard);
        worker.join().unwrap();
        parked.join().unwrap();
        assert!(waiters(&wg).contains("waiters: 0"), "{wg:?}");
    });
}

#[test]
fn a_released_worker_returns_although_the_group_is_re_armed() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let sleep = Arc::new(Sleep::new(1));
        let first = wg.add_owned();
        let task = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                // Let the worker register first.
                while !waiters(&wg).contains("waiters: 1") {
                    thread::yield_now();
                }
                drop(first);
                // Re-arm at once: the worker released by the zero above
                // must still return, although the count is no longer zero.
                wg.add_owned()
            })
        };
        wait_as_worker(&wg, 0, &sleep);
        let second = task.join().unwrap();
        assert_eq!(wg.count(), 1);
        drop(second);
    });
}

#[test]
fn an_async_waiter_races_the_last_done() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let slot = Arc::new(Slot(UnsafeCell::new(0)));
        let guard = wg.add_owned();
        let task = {
            let slot = Arc::clone(&slot);
            thread::spawn(move || {
                slot.0.with_mut(|v| unsafe { *v = 7 });
                drop(guard);
            })
        };
        loom::future::block_on(wg.wait_async());
        assert_eq!(slot.0.with(|v| unsafe { *v }), 7);
        task.join().unwrap();
    });
}

#[test]
fn a_released_async_waiter_resolves_although_the_group_is_re_armed() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let first = wg.add_owned();
        let task = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                while !waiters(&wg).contains("waiters: 1") {
                    thread::yield_now();
                }
                drop(first);
                wg.add_owned()
            })
        };
        loom::future::block_on(wg.wait_async());
        let second = task.join().unwrap();
        assert_eq!(wg.count(), 1);
        drop(second);
    });
}

#[test]
fn a_dropped_async_waiter_is_no_longer_counted() {
    loom::model(|| {
        let wg = Arc::new(WaitGroup::new());
        let guard = wg.add_owned();
        let waiter = {
            let wg = Arc::clone(&wg);
            thread::spawn(move || {
                let mut future = wg.wait_async();
                let waker = noop_waker();
                let _ = Pin::new(&mut future).poll(&mut Context::from_waker(&waker));
                drop(future);
            })
        };
        drop(guard);
        waiter.join().unwrap();
        assert_eq!(wg.count(), 0);
        assert!(waiters(&wg).contains("waiters: 0"), "{wg:?}");
        // The group works on: a new waiter is released by the next zero.
        let guard = wg.add_owned();
        drop(guard);
        wg.wait();
    });
}
