//! [`WaitGroup`]: one atomic word that counts outstanding work, with RAII
//! guards for every add and done.
//!
//! # The protocol
//!
//! ```text
//!  63                 31 30                  0
//! +---------------------+---------------------+
//! |  counter (33 bits)  |  waiters (31 bits)  |
//! +---------------------+---------------------+
//! ```
//!
//! * `add` is one `fetch_add`. Two increments may not stand, and are taken
//!   back at once (with a `done`, which releases the waiters if it brings
//!   the count to zero): one that finds `MAX_GUARDS` (`u32::MAX`) guards
//!   already counted (it panics), and one that re-arms the group while a
//!   release is pending (it waits, then adds again; see below).
//! * The counter has a bit more than the limit needs, so those increments
//!   never wrap it around: it would take 2^32 threads adding at once past
//!   the limit. Until one is taken back the count reads *high*, which no
//!   waiter can mistake for zero; and every add that finds the limit
//!   reached, however many race, panics. (Were the counter exactly 32 bits,
//!   an add at the limit would wrap it to zero, and an add racing it would
//!   see a plain zero and stand.)
//! * `done` is one `fetch_sub`. Only the done that takes the counter from one
//!   to zero *while waiters are registered* goes further: it takes the
//!   parking lot's lock for this address, clears the waiter half and wakes
//!   every parked waiter with the `RELEASED` token.
//! * A waiter registers itself (waiters + 1) inside `validate`, i.e. under the
//!   parking lot's lock, and only while the counter is non-zero. So under
//!   that lock the waiter half always equals the number of threads that are
//!   parked, or about to park, on this address.
//!
//! Between the zero and the wake-up the word reads `counter == 0, waiters >
//! 0`: a *pending release*. No waiter can register (the counter is zero), a
//! waiter whose deadline passes stays registered and waits for its release,
//! and an `add` takes its unit back and waits for the release before adding
//! again (taking it back may make that `add` the releaser). The release
//! checks, under the lock, that it is still pending, clears the waiter half
//! and wakes exactly the threads parked then. Two things follow:
//!
//! * **No lost wake-up.** A waiter either sees the zero in `validate`, or is
//!   registered before the zero and so is counted in the releaser's word.
//! * **No use after free** (the bug class of rust-lang/rust#98498). The last
//!   `done` reads or writes the group after its `fetch_sub` only if waiters
//!   are registered, and those waiters cannot return, so nobody can free the
//!   group, until the release has been written under the lock. (A second
//!   releaser exists only when an `add` takes its unit back, on a re-arm
//!   from zero or past the limit, and an adder holds a borrow of the group;
//!   a scope never re-arms from zero.)
//!
//! A released waiter returns on the strength of its token, without looking at
//! the counter again, so it returns even if the group is re-armed at once.

mod add;
mod guard;
mod wait;
mod wait_async;
mod waitlist;

use std::fmt;

pub use guard::{OwnedWaitGuard, WaitGuard};
pub use wait_async::WaitAsync;

use crate::sync::parking;
use crate::sync::{fence, AtomicU64, Ordering};

/// One outstanding guard, in the counter half.
const ONE: u64 = 1 << 31;
/// The waiter half.
const WAITERS: u64 = ONE - 1;
/// The most guards that may be outstanding at once.
#[cfg(not(loom))]
const MAX_GUARDS: u64 = u32::MAX as u64;
/// Small under loom, so that models can reach it; above what the models of
/// the other protocols hold in one group (a scope's body and two tasks).
#[cfg(loom)]
const MAX_GUARDS: u64 = 8;
/// The token a releasing `done` gives the waiters it wakes.
const RELEASED: usize = 1;

#[inline]
fn counter(state: u64) -> u64 {
    state >> 31
}

#[inline]
fn waiters(state: u64) -> u64 {
    state & WAITERS
}

/// The counter reached zero and the waiters have not been woken yet.
#[inline]
fn release_pending(state: u64) -> bool {
    // `counter == 0 && waiters != 0`, i.e. `0 < state < ONE`, in one
    // comparison: it is on `add`'s fast path.
    state.wrapping_sub(1) < WAITERS
}

/// Counts outstanding work and lets threads wait until there is none.
///
/// Each [`add`](WaitGroup::add) returns a guard; dropping the guard (or
/// calling its `done`) marks that piece of work finished. Because done exists
/// only as a guard's drop, the count can never go negative, and a group can
/// never be copied or cloned. This is Go's `sync.WaitGroup` with its misuse
/// cases removed by construction.
///
/// The whole group is one `AtomicU64`: the count in the high 33 bits, the
/// number of parked waiters in the low 31. `add` and `done` are one atomic
/// read-modify-write each; the parking lot is touched only when somebody
/// actually waits.
///
/// ```
/// use taskgroup::WaitGroup;
/// use std::sync::atomic::{AtomicUsize, Ordering};
///
/// let wg = WaitGroup::new();
/// let finished = AtomicUsize::new(0);
/// std::thread::scope(|ts| {
///     for _ in 0..4 {
///         let guard = wg.add(); // count the work before it starts
///         let finished = &finished;
///         ts.spawn(move || {
///             finished.fetch_add(1, Ordering::Relaxed);
///             drop(guard); // done
///         });
///     }
///     wg.wait();
///     assert_eq!(finished.load(Ordering::Relaxed), 4);
/// });
/// ```
///
/// A group is not `Clone`: share it by reference, or in an `Arc` with
/// [`add_owned`](WaitGroup::add_owned).
///
/// ```compile_fail
/// let wg = taskgroup::WaitGroup::new();
/// let copy = wg.clone(); // error: `WaitGroup` is not `Clone`
/// ```
pub struct WaitGroup {
    state: AtomicU64,
    /// Under loom, every access to `state` also reads this cell and `Drop`
    /// writes it, so the model checker reports any access that is not
    /// ordered before the group is freed.
    #[cfg(loom)]
    alive: loom::cell::UnsafeCell<()>,
}

// SAFETY: under loom `alive` is only read through `&self` and written in
// `drop`; loom itself checks those accesses for races.
#[cfg(loom)]
unsafe impl Sync for WaitGroup {}

impl WaitGroup {
    /// Creates a group with nothing outstanding.
    #[cfg(not(loom))]
    #[must_use]
    pub const fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
        }
    }

    /// Creates a group with nothing outstanding.
    #[cfg(loom)]
    #[must_use]
    pub fn new() -> Self {
        Self {
            state: AtomicU64::new(0),
            alive: loom::cell::UnsafeCell::new(()),
        }
    }

    #[inline]
    fn state(&self) -> &AtomicU64 {
        #[cfg(loom)]
        self.alive.with(|_| ());
        &self.state
    }

    /// The parking-lot key: the group's address.
    #[inline]
    fn key(&self) -> usize {
        self as *const Self as usize
    }

    /// Marks one piece of work done. Returns true when this brought the
    /// count to zero.
    ///
    /// # Safety
    ///
    /// `this` points to a live group with at least one outstanding guard,
    /// which this call consumes. Once the count is zero the owner may free
    /// the group; this function does not touch `*this` after that unless
    /// waiters are registered, and they keep the group alive until it is done.
    #[inline]
    pub(crate) unsafe fn done_raw(this: *const Self) -> bool {
        // SAFETY: forwarded to the caller.
        unsafe { Self::done_many(this, 1) }
    }

    /// Marks `units` pieces of work done at once: the outstanding units of
    /// guards that were forgotten (see [`WaitGuard::forget`]). Returns true
    /// when this brought the count to zero.
    ///
    /// # Safety
    ///
    /// As for [`done_raw`](Self::done_raw), with `units` outstanding
    /// guards consumed.
    #[inline]
    pub(crate) unsafe fn done_many(this: *const Self, units: u32) -> bool {
        debug_assert!(units > 0);
        // SAFETY: the caller's guards keep `*this` alive up to this RMW.
        let old = unsafe {
            (*this)
                .state()
                .fetch_sub(ONE * units as u64, Ordering::Release)
        };
        // (`old` may read more than the guards outstanding, while an `add`
        // that must not stand has yet to take its unit back: that `add`'s
        // `done` is then the last.)
        if counter(old) != units as u64 {
            return false;
        }
        if waiters(old) != 0 {
            // SAFETY: the waiters we are about to release keep `*this` alive.
            unsafe { Self::release(this) };
        }
        true
    }

    /// Wakes the waiters registered when the count reached zero.
    #[cold]
    unsafe fn release(this: *const Self) {
        // Every earlier `done` happens before the waiters return.
        fence(Ordering::Acquire);
        let mut others = Vec::new();
        parking::unpark_all(this as usize, || {
            // SAFETY: we hold the parking lock, so any registered waiter is
            // still waiting and keeps the group alive. This is the last
            // access: once the lock is released they may return and free it.
            let state = unsafe { (*this).state() };
            // An adder that re-armed and took its unit back may have
            // released these waiters already.
            if !release_pending(state.load(Ordering::Relaxed)) {
                return None;
            }
            state.fetch_and(!WAITERS, Ordering::Relaxed);
            // Workers and tasks waiting: released under the lock too.
            others = waitlist::release(this as usize);
            Some(RELEASED)
        });
        waitlist::wake(others);
    }

    /// The number of outstanding guards.
    ///
    /// Another thread may change it at any moment; use it for progress
    /// reports, not for synchronisation (use [`wait`](WaitGroup::wait)).
    #[must_use]
    pub fn count(&self) -> usize {
        counter(self.state().load(Ordering::Acquire)) as usize
    }
}

impl Default for WaitGroup {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for WaitGroup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.state().load(Ordering::Relaxed);
        f.debug_struct("WaitGroup")
            .field("count", &counter(state))
            .field("waiters", &waiters(state))
            .finish()
    }
}

#[cfg(loom)]
impl Drop for WaitGroup {
    fn drop(&mut self) {
        self.alive.with_mut(|_| ());
    }
}

#[cfg(all(test, not(loom)))]
mod tests;
