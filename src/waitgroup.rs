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

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;
use std::time::{Duration, Instant};

use crate::sync::parking::{self, Parked};
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

    /// Counts one more piece of outstanding work and returns the guard that
    /// marks it done when dropped.
    ///
    /// Take the guard *before* handing the work to another thread, so that a
    /// concurrent [`wait`](WaitGroup::wait) cannot miss it.
    ///
    /// One atomic `fetch_add`. If the group has just reached zero and its
    /// waiters have not been woken yet, `add` first waits for that hand-over
    /// (the releasing thread is already on its way), so a waiter released by
    /// the zero returns even when the group is re-armed at once.
    ///
    /// # Panics
    ///
    /// If `u32::MAX` guards are already outstanding (only reachable by
    /// leaking guards, e.g. with `mem::forget`). This holds however many
    /// threads add at once: each add that finds the limit reached panics.
    /// Its increment is taken back before the panic; until then the count
    /// reads one higher than the guards outstanding (never lower, so a
    /// concurrent [`wait`](WaitGroup::wait) is not fooled), and
    /// [`count`](WaitGroup::count) may briefly report more than `u32::MAX`.
    #[inline]
    #[track_caller]
    pub fn add(&self) -> WaitGuard<'_> {
        self.increment();
        WaitGuard {
            wg: NonNull::from(self),
            _borrow: PhantomData,
        }
    }

    /// Like [`add`](WaitGroup::add), but the guard holds an `Arc` of the
    /// group, so it is `'static` and can outlive the current borrow.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskgroup::WaitGroup;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// let guard = wg.add_owned();
    /// std::thread::spawn(move || drop(guard));
    /// wg.wait();
    /// assert_eq!(wg.count(), 0);
    /// ```
    ///
    /// # Panics
    ///
    /// As [`add`](WaitGroup::add).
    #[inline]
    #[track_caller]
    pub fn add_owned(self: &std::sync::Arc<Self>) -> OwnedWaitGuard {
        self.increment();
        OwnedWaitGuard {
            wg: std::sync::Arc::clone(self),
        }
    }

    /// A guard for a unit that a forgotten guard left counted.
    ///
    /// # Safety
    ///
    /// The caller owns such a unit, which the new guard takes over.
    #[inline]
    pub(crate) unsafe fn revive(&self) -> WaitGuard<'_> {
        WaitGuard {
            wg: NonNull::from(self),
            _borrow: PhantomData,
        }
    }

    #[inline]
    #[track_caller]
    fn increment(&self) {
        let old = self.state().fetch_add(ONE, Ordering::Relaxed);
        // Compared as a whole word: the waiter half is below `ONE`.
        if old >= MAX_GUARDS * ONE || release_pending(old) {
            self.increment_cold(old);
        }
    }

    /// The increment landed where it must not stand: take it back, then
    /// panic (limit reached) or wait for the pending release and add again.
    #[cold]
    #[track_caller]
    fn increment_cold(&self, old: u64) {
        // Either way our unit must not stand. Past the limit: it is one too
        // many. On a pending release: new waiters could register on it and
        // be mistaken for released ones. Taking it back may make us the one
        // that brings the count to zero (other guards may have been done
        // meanwhile), and so the one that releases.
        // SAFETY: `self` is borrowed, and the unit taken back is ours.
        unsafe { Self::done_raw(self) };
        if counter(old) >= MAX_GUARDS {
            overflow();
        }
        parking::park(
            self.key(),
            || release_pending(self.state().load(Ordering::Relaxed)),
            || {},
            None,
        );
        self.increment();
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
        parking::unpark_all(this as usize, || {
            // SAFETY: we hold the parking lock, so any registered waiter is
            // still inside `wait` and keeps the group alive. This is the last
            // access: once the lock is released they may return and free it.
            let state = unsafe { (*this).state() };
            // An adder that re-armed and took its unit back may have
            // released these waiters already.
            if !release_pending(state.load(Ordering::Relaxed)) {
                return None;
            }
            state.fetch_and(!WAITERS, Ordering::Relaxed);
            Some(RELEASED)
        });
    }

    /// Blocks until the count is zero.
    ///
    /// Returns at once if nothing is outstanding. Calling it while holding a
    /// guard of the same group deadlocks, as in Go.
    pub fn wait(&self) {
        self.wait_until(None);
    }

    /// Blocks until the count is zero or `timeout` has passed. Returns true
    /// if the count reached zero.
    ///
    /// ```
    /// use std::time::Duration;
    /// let wg = taskgroup::WaitGroup::new();
    /// let guard = wg.add();
    /// assert!(!wg.wait_timeout(Duration::from_millis(10)));
    /// drop(guard);
    /// assert!(wg.wait_timeout(Duration::from_millis(10)));
    /// ```
    pub fn wait_timeout(&self, timeout: Duration) -> bool {
        match Instant::now().checked_add(timeout) {
            Some(deadline) => self.wait_until(Some(deadline)),
            None => self.wait_until(None),
        }
    }

    /// Blocks until the count is zero or `deadline` has passed. Returns true
    /// if the count reached zero.
    pub fn wait_deadline(&self, deadline: Instant) -> bool {
        self.wait_until(Some(deadline))
    }

    #[inline]
    fn wait_until(&self, deadline: Option<Instant>) -> bool {
        if counter(self.state().load(Ordering::Acquire)) == 0 {
            return true;
        }
        self.wait_cold(deadline)
    }

    #[cold]
    fn wait_cold(&self, deadline: Option<Instant>) -> bool {
        let mut too_many = false;
        let mut gave_up = false;
        let parked = parking::park(
            self.key(),
            || self.register(&mut too_many),
            || gave_up = self.deregister(),
            deadline,
        );
        match parked {
            Parked::Unparked(token) => {
                debug_assert_eq!(token, RELEASED);
                true
            }
            Parked::Invalid if too_many => {
                panic!("WaitGroup: at most 2^31 - 1 threads may wait at once")
            }
            // The counter was zero when we came to register.
            Parked::Invalid => true,
            Parked::TimedOut if gave_up => false,
            Parked::TimedOut => {
                // The count reached zero before the deadline and our release
                // is on its way: we are still counted, so wait for it.
                parking::park(
                    self.key(),
                    || release_pending(self.state().load(Ordering::Acquire)),
                    || {},
                    None,
                );
                true
            }
        }
    }

    /// Under the parking lock: counts the caller as a waiter unless the
    /// counter is already zero. Returns whether the caller should park.
    fn register(&self, too_many: &mut bool) -> bool {
        let state = self.state();
        let mut current = state.load(Ordering::Acquire);
        loop {
            if counter(current) == 0 {
                return false;
            }
            if waiters(current) == WAITERS {
                *too_many = true;
                return false;
            }
            match state.compare_exchange_weak(
                current,
                current + 1,
                Ordering::Relaxed,
                Ordering::Acquire,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
    }

    /// Under the parking lock, after a timeout: takes the caller out of the
    /// waiter count, unless the counter has already reached zero, in which
    /// case the release owns that count. Returns whether the caller left.
    fn deregister(&self) -> bool {
        let state = self.state();
        let mut current = state.load(Ordering::Relaxed);
        loop {
            if counter(current) == 0 {
                return false;
            }
            match state.compare_exchange_weak(
                current,
                current - 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return true,
                Err(actual) => current = actual,
            }
        }
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

/// The panic of an `add` past [`MAX_GUARDS`].
#[cold]
#[track_caller]
fn overflow() -> ! {
    #[cfg(not(loom))]
    panic!(
        "WaitGroup overflow: at most u32::MAX guards may be outstanding at once \
         (are guards being leaked with mem::forget?)"
    );
    #[cfg(loom)]
    panic!("WaitGroup overflow: at most {MAX_GUARDS} guards (the limit under loom) may be outstanding at once");
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

/// One outstanding piece of work in a [`WaitGroup`]; dropping it marks the
/// work done.
///
/// Returned by [`WaitGroup::add`]. It borrows the group, is `Send`, and is
/// one pointer in size.
#[must_use = "dropping a WaitGuard marks its work done at once"]
pub struct WaitGuard<'a> {
    wg: NonNull<WaitGroup>,
    _borrow: PhantomData<&'a WaitGroup>,
}

// SAFETY: the guard only ever calls `done` on a `Sync` group.
unsafe impl Send for WaitGuard<'_> {}
// SAFETY: a shared guard exposes nothing.
unsafe impl Sync for WaitGuard<'_> {}

impl WaitGuard<'_> {
    /// Marks the work done; the same as dropping the guard.
    pub fn done(self) {
        drop(self);
    }

    /// Ends the guard but leaves its unit counted: the caller takes over
    /// the unit, to hand it to [`WaitGroup::revive`] or
    /// [`WaitGroup::done_many`] later. Returns the group.
    #[inline]
    pub(crate) fn forget(self) -> *const WaitGroup {
        let this = std::mem::ManuallyDrop::new(self);
        this.wg.as_ptr()
    }
}

impl Drop for WaitGuard<'_> {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the guard's borrow keeps the group alive until this call,
        // and this guard is the outstanding unit `done_raw` consumes.
        unsafe { WaitGroup::done_raw(self.wg.as_ptr()) };
    }
}

impl fmt::Debug for WaitGuard<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WaitGuard").finish_non_exhaustive()
    }
}

/// A [`WaitGuard`] that owns an `Arc` of its group, so it is `'static`.
///
/// Returned by [`WaitGroup::add_owned`].
#[must_use = "dropping an OwnedWaitGuard marks its work done at once"]
pub struct OwnedWaitGuard {
    wg: std::sync::Arc<WaitGroup>,
}

impl OwnedWaitGuard {
    /// Marks the work done; the same as dropping the guard.
    pub fn done(self) {
        drop(self);
    }
}

impl Drop for OwnedWaitGuard {
    #[inline]
    fn drop(&mut self) {
        // SAFETY: the `Arc` keeps the group alive past this call, and this
        // guard is the outstanding unit `done_raw` consumes.
        unsafe { WaitGroup::done_raw(&*self.wg) };
    }
}

impl fmt::Debug for OwnedWaitGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("OwnedWaitGuard").finish_non_exhaustive()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn one_word_and_one_pointer() {
        assert_eq!(std::mem::size_of::<WaitGroup>(), 8);
        assert_eq!(
            std::mem::size_of::<WaitGuard<'_>>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<Option<WaitGuard<'_>>>(),
            std::mem::size_of::<usize>()
        );
        assert_eq!(
            std::mem::size_of::<OwnedWaitGuard>(),
            std::mem::size_of::<usize>()
        );
    }

    #[test]
    fn guards_count_up_and_down() {
        let wg = WaitGroup::new();
        let a = wg.add();
        let b = wg.add();
        assert_eq!(wg.count(), 2);
        a.done();
        assert_eq!(wg.count(), 1);
        drop(b);
        assert_eq!(wg.count(), 0);
        assert_eq!(wg.state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn debug_shows_count_and_waiters() {
        let wg = WaitGroup::new();
        let _g = wg.add();
        assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, waiters: 0 }");
    }

    /// A group whose count is `count`, as if that many guards were leaked.
    fn with_count(count: u64) -> WaitGroup {
        WaitGroup {
            state: AtomicU64::new(count * ONE),
        }
    }

    #[test]
    #[should_panic(expected = "at most u32::MAX guards")]
    fn overflow_panics_and_names_the_rule() {
        let wg = with_count(u32::MAX as u64);
        let _ = wg.add();
    }

    #[test]
    fn exactly_u32_max_guards_fit() {
        let wg = with_count(u32::MAX as u64 - 1);
        let last = wg.add();
        assert_eq!(wg.count(), u32::MAX as usize);
        assert!(!wg.wait_timeout(Duration::ZERO));
        drop(last);
        assert_eq!(wg.count(), u32::MAX as usize - 1);
    }

    #[test]
    fn overflow_leaves_the_state_alone() {
        let wg = with_count(u32::MAX as u64);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(wg.add())));
        assert!(r.is_err());
        assert_eq!(wg.count(), u32::MAX as usize);
        assert_eq!(waiters(wg.state.load(Ordering::Relaxed)), 0);
    }

    #[test]
    fn timed_out_waiter_leaves_the_count() {
        let wg = WaitGroup::new();
        let g = wg.add();
        assert!(!wg.wait_timeout(Duration::from_millis(5)));
        assert_eq!(waiters(wg.state.load(Ordering::Relaxed)), 0);
        drop(g);
        assert!(wg.wait_timeout(Duration::ZERO));
    }

    #[test]
    fn release_clears_the_waiter_half() {
        let wg = Arc::new(WaitGroup::new());
        let g = wg.add_owned();
        let waiter = {
            let wg = Arc::clone(&wg);
            std::thread::spawn(move || wg.wait())
        };
        while waiters(wg.state.load(Ordering::Relaxed)) == 0 {
            std::thread::yield_now();
        }
        g.done();
        waiter.join().unwrap();
        assert_eq!(wg.state.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn huge_timeout_means_forever() {
        let wg = WaitGroup::new();
        assert!(wg.wait_timeout(Duration::MAX));
    }

    /// Silences the overflow panics these tests provoke by the thousand;
    /// every other panic goes to the hook that was there before.
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

    #[test]
    fn racing_adds_at_the_limit_all_panic_and_leave_the_count_alone() {
        // Two threads add to a group at the limit as fast as they can.
        // Every add must panic and leave the count at the limit: an add
        // that lands while the other is taking its unit back must not stand
        // (with a counter that wraps at the limit, it sees a plain zero).
        quiet_overflow_panics();
        const ADDS: usize = 50_000;
        let limit = u32::MAX as u64;
        let wg = with_count(limit);
        let stood = std::sync::atomic::AtomicBool::new(false);
        std::thread::scope(|ts| {
            for _ in 0..2 {
                ts.spawn(|| {
                    for _ in 0..ADDS {
                        if let Ok(guard) = std::panic::catch_unwind(|| wg.add()) {
                            // Its unit stays counted, for the check below.
                            std::mem::forget(guard);
                            stood.store(true, Ordering::SeqCst);
                        }
                        if stood.load(Ordering::SeqCst) {
                            break;
                        }
                    }
                });
            }
        });
        let state = wg.state.load(Ordering::Relaxed);
        assert_eq!(
            (stood.into_inner(), counter(state), waiters(state)),
            (false, limit, 0),
            "an add at the limit stood, or the count moved"
        );
    }
}
