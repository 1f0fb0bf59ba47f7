//! Spare units: units of a scope's count that a worker thread keeps between
//! that scope's tasks.
//!
//! Each task's end is a `done` on its scope's count and each spawn an
//! `add`; when every worker hits the same count, those two RMWs are half
//! the cost of a small task. So a worker does not return a finished task's
//! unit at once: it keeps it as *spare* while it goes on running tasks of
//! the same scope, and a spawn into that scope on this thread takes a spare
//! unit instead of adding one. The count may read high, never low, so the
//! scope cannot end early. It cannot end late either, because the spare
//! goes back (one `done` for all of it) before the thread runs anything but
//! a task of that scope, before it goes idle, before a worker that owns the
//! scope looks at its count, and when a wait in which it ran such tasks
//! ends (the waiting code need not be a task of that scope, and may block):
//! a thread holds spare units only while it runs, or is about to look for,
//! a task of their scope.
//!
//! This layer only holds the units and gives them back when told; the
//! scope layer decides when to keep them, and how they go back (a function
//! each [`Spare`] carries).

use std::cell::Cell;
use std::ptr;

crate::sync::thread_local! {
    static SPARE: Cell<Spare> = const { Cell::new(Spare::NONE) };
}

/// Some units of one scope's count, and how to give them back.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spare {
    scope: *const (),
    units: u32,
    /// Gives `units` of `scope`'s count back.
    release: unsafe fn(*const (), u32),
}

impl Spare {
    pub(crate) const NONE: Spare = Spare {
        scope: ptr::null(),
        units: 0,
        release: release_nothing,
    };

    /// `units` of `scope`'s count, which `release(scope, units)` gives back.
    pub(crate) fn new(scope: *const (), units: u32, release: unsafe fn(*const (), u32)) -> Self {
        Self {
            scope,
            units,
            release,
        }
    }

    /// Whether these are units of `scope` (and there are any).
    #[inline]
    pub(crate) fn is_for(self, scope: *const ()) -> bool {
        self.units != 0 && ptr::eq(self.scope, scope)
    }

    pub(crate) fn units(self) -> u32 {
        self.units
    }

    pub(crate) fn scope(self) -> *const () {
        self.scope
    }
}

/// `Spare::release` of [`Spare::NONE`].
unsafe fn release_nothing(_: *const (), units: u32) {
    debug_assert_eq!(units, 0);
}

/// The spare units this thread keeps.
#[inline]
pub(crate) fn get() -> Spare {
    SPARE.with(Cell::get)
}

/// Keeps `spare` on this thread, in place of what it kept (which must have
/// been given back, or be among `spare`).
#[inline]
pub(crate) fn set(spare: Spare) {
    SPARE.with(|cell| cell.set(spare));
}

/// Gives the units this thread keeps back to their scope.
#[inline]
pub(crate) fn give_back() {
    let spare = SPARE.with(|cell| cell.replace(Spare::NONE));
    if spare.units != 0 {
        give_back_cold(spare);
    }
}

#[cold]
fn give_back_cold(spare: Spare) {
    // SAFETY: the units are counted in their scope, which they keep alive
    // until this returns them; whoever made the `Spare` paired it with the
    // function that returns them.
    unsafe { (spare.release)(spare.scope, spare.units) };
}
