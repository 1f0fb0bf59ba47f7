//! How the current thread waits, for the layers below the pool.
//!
//! A pool worker that waits must keep running its pool's jobs (or the work
//! it waits for may be queued behind it); a plain thread parks. The
//! `WaitGroup` sits below the pool and knows nothing of workers, so each
//! worker registers itself here, and a wait asks this module whether it
//! runs on one.

use std::cell::Cell;
use std::task::Waker;
use std::time::Instant;

/// A thread that waits by running other work: a pool worker.
pub(crate) trait Waiter {
    /// A waker that ends a [`wait_until`](Self::wait_until) of this thread
    /// (once its condition holds).
    fn waker(&self) -> Waker;

    /// Runs other work until `done()` holds, sleeping when there is none;
    /// false if `deadline` passed first. Whoever makes `done()` true must
    /// then wake a [`waker`](Self::waker) of this thread.
    fn wait_until(&self, done: &dyn Fn() -> bool, deadline: Option<Instant>) -> bool;
}

crate::sync::thread_local! {
    static CURRENT: Cell<Option<*const dyn Waiter>> = const { Cell::new(None) };
}

/// The current thread's waiter, if it has registered one.
pub(crate) fn current() -> Option<&'static dyn Waiter> {
    // SAFETY: `register` requires the waiter to outlive its registration,
    // and only this thread reads it.
    CURRENT.with(Cell::get).map(|waiter| unsafe { &*waiter })
}

/// Registers `waiter` as the current thread's, until `unregister`.
///
/// # Safety
///
/// `waiter` lives until [`unregister`] is called on this thread.
pub(crate) unsafe fn register(waiter: &dyn Waiter) {
    // SAFETY: the lifetime is erased; the caller keeps `waiter` alive while
    // it is registered.
    let waiter: *const (dyn Waiter + 'static) = unsafe { std::mem::transmute(waiter) };
    CURRENT.with(|current| current.set(Some(waiter)));
}

/// Ends the current thread's registration.
pub(crate) fn unregister() {
    CURRENT.with(|current| current.set(None));
}
