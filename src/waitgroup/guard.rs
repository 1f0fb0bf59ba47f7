//! The guards: one outstanding piece of work each, done when dropped.

use std::fmt;
use std::marker::PhantomData;
use std::ptr::NonNull;

use super::WaitGroup;

/// One outstanding piece of work in a [`WaitGroup`]; dropping it marks the
/// work done.
///
/// Returned by [`WaitGroup::add`]. It borrows the group, is `Send`, and is
/// one pointer in size.
#[must_use = "dropping a WaitGuard marks its work done at once"]
pub struct WaitGuard<'a> {
    pub(super) wg: NonNull<WaitGroup>,
    pub(super) _borrow: PhantomData<&'a WaitGroup>,
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
    pub(super) wg: std::sync::Arc<WaitGroup>,
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
