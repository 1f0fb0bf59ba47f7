//! A scope's side of spare units (see `crate::spare`): a worker keeps a
//! finished task's unit of its scope's count for the next spawn into the
//! same scope, and gives it back through [`release`].

use std::mem::ManuallyDrop;

use super::core::ScopeCore;
use crate::pool::registry::Registry;
use crate::pool::sleep::Sleep;
use crate::pool::worker::WorkerThread;
use crate::spare::{self, Spare};
use crate::sync::Arc;
use crate::waitgroup::{WaitGroup, WaitGuard};

/// Whether the units this thread keeps spare are units of `core`.
#[inline]
pub(super) fn is_spare_for(core: *const ScopeCore) -> bool {
    spare::get().is_for(core as *const ())
}

/// Before a task of `core` starts: spare units of any other scope go back.
#[inline]
pub(super) fn keep_spare_only_for(core: *const ScopeCore) {
    let spare = spare::get();
    if spare.units() != 0 && !spare.is_for(core as *const ()) {
        spare::give_back();
    }
}

/// Returns `units` of `core`'s count; the one that brings it to zero wakes
/// the scope's owner if it is a worker. The `Spare::release` of a scope.
///
/// # Safety
///
/// The caller owns `units` counted units of the live scope `core`, and
/// runs on a worker of the scope's pool (only workers keep spare units).
unsafe fn release(core: *const (), units: u32) {
    let core = core as *const ScopeCore;
    // SAFETY: the units keep the scope alive up to the `done` below; the
    // scope may be freed as soon as the count is zero, so everything the
    // wake-up needs is read first.
    let (wg, owner) = unsafe { ((*core).wg() as *const WaitGroup, (*core).owner()) };
    let Some(owner) = owner else {
        // SAFETY: forwarded.
        unsafe { WaitGroup::done_many(wg, units) };
        return;
    };
    // SAFETY: as above.
    match unsafe { (*core).owner_registry() } {
        // The owner works for another pool: hold it alive past the done.
        // SAFETY: forwarded.
        Some(registry) => unsafe { release_units(wg, units, owner, &Arc::clone(registry).sleep) },
        // The owner works for the scope's pool, whose workers run this
        // scope's tasks (and hold its units): the pool outlives the done.
        None => {
            // SAFETY: as above; the reference outlives the scope.
            let registry: *const Registry = unsafe { (*core).registry() };
            // SAFETY: units are forwarded; only workers hold spare units
            // (task ends run on workers), and this thread, a worker of
            // `registry`, keeps it alive.
            unsafe { release_units(wg, units, owner, &(*registry).sleep) }
        }
    }
}

/// `units` done on the count `wg` of a scope owned by worker `owner`: the
/// last one wakes the owner. The scope may be freed as soon as the count is
/// zero, so only `owner` and `sleep` (the registry's, which outlives the
/// scope) are used after it.
///
/// # Safety
///
/// The caller owns `units` counted units of the live group `wg` (guards it
/// forgot), which this consumes.
pub(crate) unsafe fn release_units(wg: *const WaitGroup, units: u32, owner: usize, sleep: &Sleep) {
    // SAFETY: forwarded to the caller.
    if unsafe { WaitGroup::done_many(wg, units) } {
        sleep.notify_worker(owner);
    }
}

/// A task's unit of its scope's count, from a spawn to the task's end.
pub(super) struct TaskGuard {
    guard: ManuallyDrop<WaitGuard<'static>>,
    core: *const ScopeCore,
}

// SAFETY: the guard is `Send`, and `core` is only read while the guard keeps
// the scope alive.
unsafe impl Send for TaskGuard {}

impl TaskGuard {
    /// A unit for a new task: spare, if `worker` (the current thread, if it
    /// is a worker of the scope's pool) keeps one of this scope, or a fresh
    /// `add`.
    #[track_caller]
    #[inline]
    pub(super) fn new(core: &ScopeCore, worker: Option<&WorkerThread>) -> Self {
        let spare = spare::get();
        let guard = match worker {
            Some(_) if spare.is_for(core as *const ScopeCore as *const ()) => {
                spare::set(Spare::new(spare.scope(), spare.units() - 1, release));
                // SAFETY: the unit was spare, and now it is this guard's.
                unsafe { core.wg().revive() }
            }
            _ => core.wg().add(),
        };
        // SAFETY: the scope waits for this guard before it returns, so the
        // borrow it erases is in fact alive for as long as the guard.
        let guard = unsafe { std::mem::transmute::<WaitGuard<'_>, WaitGuard<'static>>(guard) };
        Self {
            guard: ManuallyDrop::new(guard),
            core,
        }
    }

    /// # Safety
    ///
    /// Not after the guard is dropped (it is what keeps the scope alive).
    pub(super) unsafe fn core(&self) -> &ScopeCore {
        // SAFETY: forwarded to the caller.
        unsafe { &*self.core }
    }
}

impl Drop for TaskGuard {
    /// The task's end: its unit becomes the worker's spare.
    fn drop(&mut self) {
        // SAFETY: taken once, here; `self.guard` is not used again.
        let guard = unsafe { ManuallyDrop::take(&mut self.guard) };
        // SAFETY: the guard's unit keeps the scope alive.
        if unsafe { (*self.core).pool_worker() }.is_none() {
            // A task that never ran, dropped where it was spawned (only if
            // queueing it panicked), on a thread that is not one of the
            // pool's workers. That thread spawns while the body runs, or
            // while a task it was handed the scope by runs (a task that
            // opens threads of its own with `std::thread::scope`): either
            // way a unit of the body or of that task keeps the count above
            // zero, so a plain done, which cannot be the last and so wakes
            // nobody, is enough.
            return guard.done();
        }
        let scope = self.core as *const ();
        let kept = spare::get();
        let units = if kept.is_for(scope) {
            kept.units()
        } else {
            spare::give_back();
            0
        };
        guard.forget();
        spare::set(Spare::new(scope, units + 1, release));
    }
}
