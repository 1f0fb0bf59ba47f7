//! Waiters that are not parked threads: a pool worker, which keeps running
//! its pool's jobs while it waits, and an async task (`wait_async`).
//!
//! Such a waiter is counted in the group's waiter half like a parked
//! thread, and registered, under the same parking lock for the group's
//! address, in a table beside it (the group stays one word). The release
//! that finds the count at zero takes, under that lock, both the parked
//! threads and the table's entries for the group: it marks each entry
//! released before the lock is let go, and wakes its waker after. So the
//! argument of the parked threads holds for these waiters too:
//!
//! * **No lost wake-up.** A waiter is registered (under the lock) either
//!   while the count is not zero, and then the release finds its entry, or
//!   it sees the zero and does not wait.
//! * **No stale wake-up.** A waiter returns on the strength of its entry's
//!   `released` mark, set only by the release that counted it; it does not
//!   look at the count again, so an immediate re-arm does not hold it.
//! * **No use after free.** The release touches the group only before it
//!   marks any entry released; after that it touches only the entries,
//!   which the waiters and the release share by reference count.
//!
//! A waiter that gives up (a timeout, a dropped future) takes its entry out
//! under the lock, and itself out of the waiter half unless the count is
//! already zero: then the pending release owns that count (and will find no
//! entry to wake), and the waiter counts as released.

use std::sync::Arc;
use std::task::Waker;

use super::WaitGroup;
use crate::sync::parking;
use crate::sync::{AtomicBool, Mutex, Ordering};

/// One waiter that is not a parked thread.
#[derive(Debug)]
pub(super) struct Waiter {
    /// Set by the release, under the group's parking lock.
    released: AtomicBool,
    /// Woken by the release; replaced by each poll of an async waiter.
    waker: Mutex<Option<Waker>>,
}

impl Waiter {
    /// Whether the release that counted this waiter has run.
    pub(super) fn is_released(&self) -> bool {
        self.released.load(Ordering::Acquire)
    }

    /// The waker that the release will wake (the latest one wins).
    pub(super) fn set_waker(&self, waker: &Waker) {
        let mut slot = self.waker.lock();
        match &*slot {
            Some(current) if current.will_wake(waker) => {}
            _ => *slot = Some(waker.clone()),
        }
    }

    fn wake(&self) {
        let waker = self.waker.lock().take();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

/// The entries of every group that has such waiters: few, and only touched
/// on the slow paths (registering, giving up, releasing), each time under
/// the parking lock of the entry's group. (Under loom, loom's mutex, so
/// that the model sees the table's accesses conflict.)
#[cfg(not(loom))]
static TABLE: std::sync::Mutex<Vec<(usize, Arc<Waiter>)>> = std::sync::Mutex::new(Vec::new());

#[cfg(loom)]
loom::lazy_static! {
    static ref TABLE: loom::sync::Mutex<Vec<(usize, Arc<Waiter>)>> = loom::sync::Mutex::new(Vec::new());
}

/// The table. Every access happens under a group's parking lock and does
/// nothing that could block, so the lock is only ever contended between
/// groups; a panic cannot happen while it is held.
#[cfg(not(loom))]
fn table() -> std::sync::MutexGuard<'static, Vec<(usize, Arc<Waiter>)>> {
    TABLE
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(loom)]
fn table() -> loom::sync::MutexGuard<'static, Vec<(usize, Arc<Waiter>)>> {
    TABLE.lock().unwrap()
}

/// Registers a waiter on `wg`, to be woken through `waker`, unless the
/// count is zero (`None`: do not wait).
///
/// # Panics
///
/// If 2^31 − 1 waiters are already registered.
pub(super) fn register(wg: &WaitGroup, waker: Waker) -> Option<Arc<Waiter>> {
    let waiter = Arc::new(Waiter {
        released: AtomicBool::new(false),
        waker: Mutex::new(Some(waker)),
    });
    let registered = parking::with_lock(wg.key(), || {
        let mut too_many = false;
        if !wg.register(&mut too_many) {
            return (!too_many).then_some(false);
        }
        table().push((wg.key(), Arc::clone(&waiter)));
        Some(true)
    });
    match registered {
        None => panic!("WaitGroup: at most 2^31 - 1 threads and tasks may wait at once"),
        Some(true) => Some(waiter),
        Some(false) => None,
    }
}

/// `waiter` gives up waiting on `wg`. Returns true if it left before the
/// count reached zero; false if it was released (or its release is
/// pending, which then owns its count).
pub(super) fn deregister(wg: &WaitGroup, waiter: &Arc<Waiter>) -> bool {
    parking::with_lock(wg.key(), || {
        let found = {
            let mut table = table();
            let at = table
                .iter()
                .position(|(key, entry)| *key == wg.key() && Arc::ptr_eq(entry, waiter));
            at.map(|at| table.swap_remove(at))
        };
        // Still registered: leave the waiter half too, unless the count
        // reached zero and the pending release owns our count.
        found.is_some() && wg.deregister()
    })
}

/// Under the parking lock of the group at `key`, in its release, after
/// the group's last access: takes its entries out and marks them
/// released. The caller wakes them once the lock is let go.
pub(super) fn release(key: usize) -> Vec<Arc<Waiter>> {
    let released: Vec<Arc<Waiter>> = {
        let mut table = table();
        if table.is_empty() {
            return Vec::new();
        }
        let mut taken = Vec::new();
        table.retain(|(k, entry)| {
            if *k == key {
                taken.push(Arc::clone(entry));
                false
            } else {
                true
            }
        });
        taken
    };
    for waiter in &released {
        waiter.released.store(true, Ordering::Release);
    }
    released
}

/// Wakes the waiters a release took out.
pub(super) fn wake(released: Vec<Arc<Waiter>>) {
    for waiter in released {
        waiter.wake();
    }
}
