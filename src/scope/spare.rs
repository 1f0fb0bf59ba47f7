//! Spare units: a worker keeps a finished task's unit of its scope's count
//! for the next spawn into the same scope.

use std::mem::ManuallyDrop;
use std::ptr;

use super::core::ScopeCore;
use crate::pool::registry::Registry;
use crate::pool::sleep::Sleep;
use crate::pool::worker::WorkerThread;
use crate::sync::Arc;
use crate::waitgroup::{WaitGroup, WaitGuard};

/// Units of one scope's count that a worker holds on to between tasks.
///
/// Each task's end is a `done` on its scope's count and each spawn an
/// `add`; when every worker hits the same count, those two RMWs are half
/// the cost of a small task. So a worker does not return a finished task's
/// unit at once: it keeps it as *spare* while it goes on running tasks of
/// the same scope, and a spawn into that scope on this worker takes a spare
/// unit instead of adding one. The count may read high, never low, so the
/// scope cannot end early. It cannot end late either, because the spare
/// goes back (one `done` for all of it) before the worker runs anything but
/// a task of that scope, before it goes idle, before a worker that owns the
/// scope looks at its count, and when a wait in which it ran such tasks
/// ends (the waiting code need not be a task of that scope, and may block):
/// a thread holds spare units only while it runs, or is about to look for,
/// a task of their scope.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spare {
    core: *const ScopeCore,
    units: u32,
}

impl Spare {
    pub(crate) const NONE: Spare = Spare {
        core: ptr::null(),
        units: 0,
    };

    /// Whether these are units of `core` (and there are any).
    #[inline]
    pub(super) fn is_for(self, core: *const ScopeCore) -> bool {
        self.units != 0 && ptr::eq(self.core, core)
    }
}

/// Returns `worker`'s spare units to their scope.
pub(crate) fn return_spare(worker: &WorkerThread) {
    let spare = worker.spare.replace(Spare::NONE);
    if spare.units != 0 {
        // SAFETY: the units are counted in the scope, which they keep alive
        // until this returns them.
        unsafe { release(spare.core, spare.units) };
    }
}

/// Before a job that is not a scope task starts (it could block, or wait
/// for anything): the current worker's spare units go back.
#[inline]
pub(crate) fn return_spare_here() {
    if let Some(worker) = WorkerThread::current() {
        if worker.spare.get().units != 0 {
            return_spare(worker);
        }
    }
}

/// Before a task of `core` starts: spare units of any other scope go back.
#[inline]
pub(super) fn keep_spare_only_for(worker: &WorkerThread, core: *const ScopeCore) {
    let spare = worker.spare.get();
    if spare.units != 0 && !spare.is_for(core) {
        return_spare(worker);
    }
}

/// Returns `units` of `core`'s count; the one that brings it to zero wakes
/// the scope's owner if it is a worker.
///
/// # Safety
///
/// The caller owns `units` counted units of the live scope `core`, and
/// runs on a worker of the scope's pool (only workers keep spare units).
unsafe fn release(core: *const ScopeCore, units: u32) {
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
    /// A unit for a new task: spare from `worker` (the current thread, if
    /// it is a worker of the scope's pool), or a fresh `add`.
    #[track_caller]
    #[inline]
    pub(super) fn new(core: &ScopeCore, worker: Option<&WorkerThread>) -> Self {
        let guard = match worker {
            Some(worker) if worker.spare.get().is_for(core) => {
                let spare = worker.spare.get();
                worker.spare.set(Spare {
                    units: spare.units - 1,
                    ..spare
                });
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
        let Some(worker) = (unsafe { (*self.core).pool_worker() }) else {
            // A task that never ran, dropped where it was spawned (only if
            // queueing it panicked), on a thread that is not one of the
            // pool's workers. That thread spawns while the body runs, or
            // while a task it was handed the scope by runs (a task that
            // opens threads of its own with `std::thread::scope`): either
            // way a unit of the body or of that task keeps the count above
            // zero, so a plain done, which cannot be the last and so wakes
            // nobody, is enough.
            return guard.done();
        };
        let spare = worker.spare.get();
        let units = if spare.is_for(self.core) {
            spare.units
        } else {
            return_spare(worker);
            0
        };
        guard.forget();
        worker.spare.set(Spare {
            core: self.core,
            units: units + 1,
        });
    }
}
