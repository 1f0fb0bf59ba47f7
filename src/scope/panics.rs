//! A scope's panics: the one it re-raises is the one that happened first,
//! whether its task had a handle or not.
//!
//! A task without a handle gives its payload to the scope. A task with a
//! handle puts its payload in a [`PanicSlot`] that the handle shares, since
//! `join` may take it; the scope keeps the slot in the order the panic
//! happened. At the end, the first slot still full, or else the first owned
//! payload, is re-raised. Once an owned payload is kept, later panics can
//! never be re-raised: they are dropped at once.
//!
//! The payload is re-raised as it is, so nothing in it says which task
//! panicked. A task with a handle has its `JoinError` for that; for a task
//! without one, [`report`] prints where it was spawned on stderr when its
//! panic is recorded, whether that panic is re-raised or dropped.

use std::any::Any;

use super::handle_state::PanicSlot;
use crate::error::{TaskOrigin, TaskPanic};
use crate::job::drop_payload;

#[derive(Debug, Default)]
pub(crate) struct Panics(crate::sync::Mutex<Recorded>);

#[derive(Debug, Default)]
struct Recorded {
    /// Panics of tasks with handles, in the order they happened, all before
    /// `owned`.
    handles: Vec<PanicSlot>,
    /// The first panic that no handle can take.
    owned: Option<Box<dyn Any + Send>>,
}

impl Panics {
    /// A panic of the body, or of a task without a handle.
    pub(crate) fn record(&self, payload: Box<dyn Any + Send>) {
        let mut recorded = self.0.lock();
        if recorded.owned.is_none() {
            recorded.owned = Some(payload);
        } else {
            drop(recorded);
            drop_payload(payload);
        }
    }

    /// A panic of a task with a handle, which `join` may still take.
    pub(crate) fn record_handle(&self, slot: PanicSlot) {
        let mut recorded = self.0.lock();
        if recorded.owned.is_none() {
            recorded.handles.push(slot);
        }
    }

    /// The panic to re-raise, once every task has finished: the first one
    /// that no `join` took. The others are dropped.
    pub(crate) fn take_first(&self) -> Option<Box<dyn Any + Send>> {
        let Recorded { handles, owned } = std::mem::take(&mut *self.0.lock());
        let mut first = None;
        let later = handles.iter().filter_map(PanicSlot::take).chain(owned);
        for payload in later {
            if first.is_none() {
                first = Some(payload);
            } else {
                drop_payload(payload);
            }
        }
        first
    }
}

impl Drop for Panics {
    fn drop(&mut self) {
        if let Some(payload) = self.take_first() {
            drop_payload(payload);
        }
    }
}

/// Reports on stderr the panic of a task without a handle, spawned at
/// `origin`: `taskgroup: task spawned at F:L:C [in scope "N"] panicked: M`,
/// in the words of a `JoinError`. `unrun`: the task was dropped without
/// running, and its drop panicked.
#[cold]
pub(crate) fn report(origin: &TaskOrigin, payload: &(dyn Any + Send), unrun: bool) {
    let panic = TaskPanic {
        origin,
        payload,
        unrun,
    };
    crate::job::report(format_args!("{panic}"));
}
