//! A scope's cancellation state: a flag word, an optional deadline, and the
//! state of the scope it was opened in.
//!
//! Checking it costs one atomic load per level of nesting while nothing is
//! cancelled and no deadline is set. A scope opened inside a task of another
//! records that scope's state as its parent; the parent outlives the child
//! (the task that opened the child waits for it), so the child reads the
//! parent's flags directly and needs no registration.

use std::time::Instant;

use crate::sync::{AtomicUsize, Ordering};

/// The scope was cancelled (explicitly, by an error, or by its deadline).
const CANCELLED: usize = 1;
/// The scope has a deadline, checked against the clock.
const DEADLINE: usize = 2;

#[derive(Debug)]
pub(crate) struct Cancellation {
    flags: AtomicUsize,
    deadline: Option<Instant>,
    parent: *const Cancellation,
}

// SAFETY: `parent` is only read, and a parent outlives its children; the
// rest is an atomic and a plain value.
unsafe impl Send for Cancellation {}
// SAFETY: as above.
unsafe impl Sync for Cancellation {}

impl Cancellation {
    /// # Safety
    ///
    /// `parent`, if not null, outlives the new state.
    pub(crate) unsafe fn new(deadline: Option<Instant>, parent: *const Cancellation) -> Self {
        Self {
            flags: AtomicUsize::new(if deadline.is_some() { DEADLINE } else { 0 }),
            deadline,
            parent,
        }
    }

    pub(crate) fn cancel(&self) {
        self.flags.fetch_or(CANCELLED, Ordering::Release);
    }

    /// Whether this state, or any parent, is cancelled or past its deadline.
    #[inline]
    pub(crate) fn is_cancelled(&self) -> bool {
        let mut state = self;
        loop {
            let flags = state.flags.load(Ordering::Acquire);
            if flags != 0 && state.cancelled_cold(flags) {
                return true;
            }
            // SAFETY: a parent outlives its children (see `new`).
            match unsafe { state.parent.as_ref() } {
                Some(parent) => state = parent,
                None => return false,
            }
        }
    }

    #[cold]
    fn cancelled_cold(&self, flags: usize) -> bool {
        if flags & CANCELLED != 0 {
            return true;
        }
        if self.deadline_passed() {
            // Remember it, so later checks skip the clock.
            self.cancel();
            return true;
        }
        false
    }

    /// Whether a deadline is set and has passed.
    pub(crate) fn deadline_passed(&self) -> bool {
        self.deadline
            .is_some_and(|deadline| Instant::now() >= deadline)
    }
}
