//! Sleeping and waking workers.
//!
//! Each worker has a slot: `AWAKE`, `SLEEPING`, `WAITING` or `NOTIFIED`. A
//! worker with nothing to do announces itself (slot `SLEEPING`,
//! `sleepers + 1`), looks for work one last time, and parks on its slot's
//! address. A worker that waits for one thing and may not take other jobs
//! announces itself as `WAITING` instead: it is not counted in `sleepers`,
//! and only a targeted wake-up ([`Sleep::notify_worker`]) moves it. A thread that
//! publishes work, or that makes a particular worker's wait condition true,
//! then moves a `SLEEPING` slot to `NOTIFIED` and unparks it.
//!
//! ```text
//!  worker                                 waker
//!  slot = SLEEPING; sleepers += 1         publish work / set condition
//!  fence(SeqCst)                          fence(SeqCst)
//!  look for work / condition              sleepers > 0 ? / slot == SLEEPING ?
//!  park while slot == SLEEPING            under the slot's parking lock:
//!                                           CAS slot SLEEPING -> NOTIFIED,
//!                                           and unpark the worker if parked
//! ```
//!
//! The two fences make this the store-buffer pattern: at least one side sees
//! the other's write. Either the worker finds the work, or the waker finds
//! the worker asleep and notifies it; the park re-checks the slot under the
//! parking lot's lock, so a notification that lands before the park is not
//! lost. The notification itself (the move to `NOTIFIED` and the unpark) is
//! one critical section of that lock, so an unpark is never late: it cannot
//! miss the sleep it was meant for and land on the worker's next one. The busy case, where nobody sleeps, costs the waker one fence and one
//! load.

use std::time::Instant;

use crate::sync::parking::{self, Parked};
use crate::sync::{fence, AtomicBool, AtomicU32, AtomicUsize, CachePadded, Ordering};

const AWAKE: u32 = 0;
const SLEEPING: u32 = 1;
const NOTIFIED: u32 = 2;
/// Asleep, to be woken only by [`Sleep::notify_worker`]: the worker waits
/// for one thing and cannot take just any job (see [`Sleeper::Targeted`]).
const WAITING: u32 = 3;

/// Who may wake a sleeping worker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Sleeper {
    /// Anyone who publishes work ([`Sleep::notify_one`]), or whoever makes
    /// the worker's condition true ([`Sleep::notify_worker`]).
    Any,
    /// Only whoever makes the worker's condition true: the worker may not
    /// run the jobs that others publish, so waking it for one would lose
    /// that wake-up for the workers that can. Not counted in `sleepers`.
    Targeted,
}

/// One worker's sleep state; alone on its cache line, since wakers write it
/// from other cores.
#[derive(Debug)]
struct Slot {
    state: CachePadded<AtomicU32>,
}

/// The sleep state of a pool's workers.
#[derive(Debug)]
pub(crate) struct Sleep {
    /// How many slots are `SLEEPING`; lets wakers skip the scan when busy.
    sleepers: AtomicUsize,
    slots: Box<[Slot]>,
    /// Per worker, on its own cache line: whether a worker that found no
    /// work asked this one for some. A busy worker reads its own flag at
    /// every `join` and publishes a frame when it is set.
    wanted: Box<[CachePadded<AtomicBool>]>,
}

impl Sleep {
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            sleepers: AtomicUsize::new(0),
            slots: (0..workers)
                .map(|_| Slot {
                    state: CachePadded(AtomicU32::new(AWAKE)),
                })
                .collect(),
            wanted: (0..workers)
                .map(|_| CachePadded(AtomicBool::new(false)))
                .collect(),
        }
    }

    /// Puts worker `index` to sleep unless `should_wake` holds once it has
    /// announced itself. `should_wake` must cover everything a waker may
    /// publish before calling [`notify_one`](Self::notify_one) (for an
    /// [`Sleeper::Any`]) or [`notify_worker`](Self::notify_worker) for this
    /// worker.
    ///
    /// With a `deadline`, the worker sleeps no longer than until then.
    pub(crate) fn sleep_until(
        &self,
        index: usize,
        sleeper: Sleeper,
        deadline: Option<Instant>,
        should_wake: impl FnOnce() -> bool,
    ) {
        let slot = &self.slots[index];
        let asleep = match sleeper {
            Sleeper::Any => SLEEPING,
            Sleeper::Targeted => WAITING,
        };
        slot.state.store(asleep, Ordering::Relaxed);
        if sleeper == Sleeper::Any {
            self.sleepers.fetch_add(1, Ordering::SeqCst);
        }
        fence(Ordering::SeqCst);

        if should_wake() {
            if slot
                .state
                .compare_exchange(asleep, AWAKE, Ordering::Relaxed, Ordering::Acquire)
                .is_ok()
            {
                if sleeper == Sleeper::Any {
                    self.sleepers.fetch_sub(1, Ordering::Relaxed);
                }
            } else {
                // A waker got here first and took us off `sleepers`.
                slot.state.store(AWAKE, Ordering::Relaxed);
            }
            return;
        }

        // Acquire, here and in the CAS above: a worker that sees `NOTIFIED`
        // must also see the work published before the notification, or it
        // would look, find nothing, and sleep through it.
        let parked = parking::park(
            slot_key(slot),
            || slot.state.load(Ordering::Acquire) == asleep,
            // Under the same lock as a notification's move to `NOTIFIED`:
            // either it got there first, or we leave `asleep` ourselves.
            || {
                if slot
                    .state
                    .compare_exchange(asleep, AWAKE, Ordering::Relaxed, Ordering::Relaxed)
                    .is_ok()
                    && sleeper == Sleeper::Any
                {
                    self.sleepers.fetch_sub(1, Ordering::Relaxed);
                }
            },
            deadline,
        );
        // Whoever notified us has already taken us off `sleepers`; a
        // timeout took us off itself.
        debug_assert!(match parked {
            Parked::Unparked(_) | Parked::Invalid => slot.state.load(Ordering::Relaxed) == NOTIFIED,
            Parked::TimedOut => slot.state.load(Ordering::Relaxed) != asleep,
        });
        slot.state.store(AWAKE, Ordering::Relaxed);
    }

    /// Wakes one sleeping worker, if any, after work was published.
    #[inline]
    pub(crate) fn notify_one(&self) {
        fence(Ordering::SeqCst);
        // Acquire: a sleeper's `SLEEPING` store precedes its increment, and
        // the scan below must see it.
        if self.sleepers.load(Ordering::Acquire) != 0 {
            self.notify_one_cold();
        }
    }

    #[cold]
    fn notify_one_cold(&self) {
        for index in 0..self.slots.len() {
            if self.try_notify(index, SLEEPING) {
                return;
            }
        }
    }

    /// Wakes worker `index` if it sleeps, after its wait condition was made
    /// true.
    #[inline]
    pub(crate) fn notify_worker(&self, index: usize) {
        fence(Ordering::SeqCst);
        match self.slots[index].state.load(Ordering::Relaxed) {
            SLEEPING => self.try_notify(index, SLEEPING),
            WAITING => self.try_notify(index, WAITING),
            _ => false,
        };
    }

    /// Wakes every sleeping worker (termination).
    pub(crate) fn notify_all(&self) {
        fence(Ordering::SeqCst);
        for index in 0..self.slots.len() {
            if !self.try_notify(index, SLEEPING) {
                self.try_notify(index, WAITING);
            }
        }
    }

    /// Moves worker `index` from `asleep` (`SLEEPING` or `WAITING`) to
    /// `NOTIFIED` and unparks it; false if it was not in that state.
    fn try_notify(&self, index: usize, asleep: u32) -> bool {
        let slot = &self.slots[index];
        // The move to `NOTIFIED` happens under the parking lot's lock for
        // the slot, in the same critical section that takes a parked worker
        // off the queue. Made outside it, the worker could see `NOTIFIED`,
        // return, and park again before the unpark arrived, which would then
        // wake that later sleep (its slot still `SLEEPING`, its wake-up not
        // counted). Only this worker parks on its slot's key, so "all" is
        // one thread at most.
        let notified = std::cell::Cell::new(false);
        parking::unpark_all(slot_key(slot), || {
            let won = slot
                .state
                .compare_exchange(asleep, NOTIFIED, Ordering::Release, Ordering::Relaxed)
                .is_ok();
            notified.set(won);
            won.then_some(0)
        });
        if notified.get() && asleep == SLEEPING {
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }
        notified.get()
    }

    /// Worker `thief` found no work: asks every other worker to publish
    /// one of its `join` frames. A hint, not a protocol: a frame nobody
    /// publishes is run by its own worker, so a request that is lost, or
    /// answered after the thief found work elsewhere, costs time only.
    /// Flags already set are only read, so that idle workers asking again
    /// and again do not pull a busy worker's cache line away from it.
    pub(crate) fn request_work(&self, thief: usize) {
        for (index, wanted) in self.wanted.iter().enumerate() {
            if index != thief && !wanted.load(Ordering::Relaxed) {
                wanted.store(true, Ordering::Relaxed);
            }
        }
    }

    /// Worker `index`'s flag (see [`request_work`](Self::request_work)).
    pub(crate) fn wanted(&self, index: usize) -> &AtomicBool {
        &self.wanted[index]
    }

    /// The number of workers asleep (or about to be).
    pub(crate) fn sleepers(&self) -> usize {
        self.sleepers.load(Ordering::Relaxed)
    }
}

fn slot_key(slot: &Slot) -> usize {
    slot as *const Slot as usize
}
