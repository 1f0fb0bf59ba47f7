//! Adding to a [`WaitGroup`]: one `fetch_add`, and the two increments that
//! may not stand (past the limit, or on a pending release).

use std::marker::PhantomData;
use std::ptr::NonNull;

use super::{counter, release_pending, OwnedWaitGuard, WaitGroup, WaitGuard, MAX_GUARDS, ONE};
use crate::sync::parking;
use crate::sync::Ordering;

impl WaitGroup {
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
