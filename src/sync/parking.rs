//! Address-keyed parking: threads sleep in a global table keyed by an
//! address, so a waiting primitive needs no storage of its own for the queue.
//!
//! `validate` runs under the table's lock for `key`, as do the callbacks of
//! [`unpark_all`] and `timed_out`; that lock is what makes "check, then sleep"
//! race-free against "change, then wake".

/// Why [`park`] returned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Parked {
    /// Woken by [`unpark_all`], with the waker's token.
    Unparked(usize),
    /// `validate` returned false: the thread never slept.
    Invalid,
    /// The deadline passed; `timed_out` ran under the lock.
    TimedOut,
}

#[cfg(not(any(loom, shuttle)))]
mod imp {
    use super::Parked;
    use parking_lot_core::{FilterOp, ParkResult, ParkToken, UnparkToken};
    use std::time::Instant;

    #[inline]
    pub(crate) fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        timed_out: impl FnOnce(),
        deadline: Option<Instant>,
    ) -> Parked {
        // SAFETY: `key` is the address of an object owned by the caller;
        // none of the callbacks panics or calls back into the parking lot.
        let result = unsafe {
            parking_lot_core::park(
                key,
                validate,
                || {},
                |_, _| timed_out(),
                ParkToken(0),
                deadline,
            )
        };
        match result {
            ParkResult::Unparked(UnparkToken(token)) => Parked::Unparked(token),
            ParkResult::Invalid => Parked::Invalid,
            ParkResult::TimedOut => Parked::TimedOut,
        }
    }

    #[inline]
    pub(crate) fn unpark_all(key: usize, decide: impl FnOnce() -> Option<usize>) -> usize {
        // `decide` must run under the lock before any thread is taken off
        // the queue: on the first call of the filter, or in the callback
        // when no thread is parked on `key`.
        let decide = std::cell::Cell::new(Some(decide));
        let decision = std::cell::Cell::new(None);
        let decided = || match decision.get() {
            Some(token) => token,
            None => {
                let token = decide.take().and_then(|f| f());
                decision.set(Some(token));
                token
            }
        };
        // SAFETY: as for `park`; `decide` does not panic or park.
        let result = unsafe {
            parking_lot_core::unpark_filter(
                key,
                |_| match decided() {
                    Some(_) => FilterOp::Unpark,
                    None => FilterOp::Stop,
                },
                |_| UnparkToken(decided().unwrap_or(0)),
            )
        };
        result.unparked_threads
    }

    #[inline]
    pub(crate) fn with_lock<R>(key: usize, f: impl FnOnce() -> R) -> R {
        let f = std::cell::Cell::new(Some(f));
        let out = std::cell::Cell::new(None);
        // SAFETY: as for `park`; `f` does not panic or park. Every thread
        // parked on `key` is skipped: the callback only borrows the lock.
        unsafe {
            parking_lot_core::unpark_filter(
                key,
                |_| FilterOp::Skip,
                |_| {
                    out.set(f.take().map(|f| f()));
                    UnparkToken(0)
                },
            )
        };
        out.into_inner().expect("the callback runs once")
    }
}

/// The table of parked threads that both models keep under their lock:
/// which key each waits on, and the token it was given, if any.
#[cfg(any(loom, shuttle))]
mod table {
    struct Entry<W> {
        key: usize,
        id: usize,
        /// What wakes the thread, if the model needs a handle for it.
        waker: W,
        token: Option<usize>,
    }

    pub(super) struct Table<W>(Vec<Entry<W>>);

    impl<W: Clone> Table<W> {
        pub(super) const fn new() -> Self {
            Self(Vec::new())
        }

        /// Thread `id` parks on `key`.
        pub(super) fn push(&mut self, key: usize, id: usize, waker: W) {
            self.0.push(Entry {
                key,
                id,
                waker,
                token: None,
            });
        }

        /// Thread `id`'s token, taking it off the table, if it has one.
        pub(super) fn take_token(&mut self, id: usize) -> Option<usize> {
            let at = self.0.iter().position(|e| e.id == id)?;
            let token = self.0[at].token?;
            self.0.remove(at);
            Some(token)
        }

        /// Thread `id` gives up (it timed out).
        pub(super) fn remove(&mut self, id: usize) {
            self.0.retain(|e| e.id != id);
        }

        /// Gives `token` to every thread parked on `key` that has none yet;
        /// returns what wakes them.
        pub(super) fn give(&mut self, key: usize, token: usize) -> Vec<W> {
            self.0
                .iter_mut()
                .filter(|e| e.key == key && e.token.is_none())
                .map(|e| {
                    e.token = Some(token);
                    e.waker.clone()
                })
                .collect()
        }
    }
}

/// A model of the parking lot for loom: one lock over a list of parked
/// threads, each waiting on a condition variable for its token. A timed
/// park may time out at any point loom chooses, which is exactly the
/// freedom a real clock has.
#[cfg(loom)]
mod imp {
    use super::table::Table;
    use super::Parked;
    use loom::sync::{Condvar, Mutex};
    use std::time::Instant;

    /// Every parked thread waits on the one condition variable.
    struct Lot {
        parked: Mutex<Table<()>>,
        wakeup: Condvar,
    }

    loom::lazy_static! {
        static ref LOT: Lot = Lot { parked: Mutex::new(Table::new()), wakeup: Condvar::new() };
        static ref NEXT_ID: loom::sync::atomic::AtomicUsize = loom::sync::atomic::AtomicUsize::new(0);
    }

    pub(crate) fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        timed_out: impl FnOnce(),
        deadline: Option<Instant>,
    ) -> Parked {
        let id = NEXT_ID.fetch_add(1, loom::sync::atomic::Ordering::Relaxed);
        let mut parked = LOT.parked.lock().unwrap();
        if !validate() {
            return Parked::Invalid;
        }
        parked.push(key, id, ());
        if deadline.is_some() {
            // Let the world run, then either take a token or time out.
            drop(parked);
            loom::thread::yield_now();
            let mut parked = LOT.parked.lock().unwrap();
            if let Some(token) = parked.take_token(id) {
                return Parked::Unparked(token);
            }
            parked.remove(id);
            timed_out();
            return Parked::TimedOut;
        }
        loop {
            if let Some(token) = parked.take_token(id) {
                return Parked::Unparked(token);
            }
            parked = LOT.wakeup.wait(parked).unwrap();
        }
    }

    pub(crate) fn unpark_all(key: usize, decide: impl FnOnce() -> Option<usize>) -> usize {
        let mut parked = LOT.parked.lock().unwrap();
        let Some(token) = decide() else {
            return 0;
        };
        let chosen = parked.give(key, token).len();
        drop(parked);
        LOT.wakeup.notify_all();
        chosen
    }

    pub(crate) fn with_lock<R>(_key: usize, f: impl FnOnce() -> R) -> R {
        let parked = LOT.parked.lock().unwrap();
        let out = f();
        drop(parked);
        out
    }
}

/// A model of the parking lot for shuttle, with the same freedom for
/// timed parks as loom's (shuttle has no clock either).
///
/// All the simulated threads of a shuttle execution take turns on the
/// OS thread of the test that runs it, so the table of parked threads
/// is an OS thread-local: each test has its own, and an execution finds
/// it empty, as the last one left it. (Not shuttle's `lazy_static`:
/// initialising it may run while another simulated thread is switched
/// out in the middle of unwinding a panic, which to std looks like a
/// panic in progress on this OS thread, and poisons the `Once`.)
///
/// `validate` and `decide` touch shuttle's atomics, where shuttle may
/// switch threads, so they run under a lock that shuttle sees: a flag,
/// which a thread that finds it set waits for by yielding.
#[cfg(shuttle)]
mod imp {
    use super::table::Table;
    use super::Parked;
    use crate::sync::yield_now;
    use shuttle::thread::Thread;
    use std::cell::{Cell, RefCell};
    use std::time::Instant;

    std::thread_local! {
        static LOCKED: Cell<bool> = const { Cell::new(false) };
        static PARKED: RefCell<Table<Thread>> = const { RefCell::new(Table::new()) };
        static NEXT_ID: Cell<usize> = const { Cell::new(0) };
    }

    /// The table's lock, held while `validate` or `decide` runs.
    struct Lock;

    impl Lock {
        fn acquire() -> Lock {
            // No scheduling point between the test and the set: they
            // are one step for shuttle.
            while LOCKED.replace(true) {
                yield_now();
            }
            Lock
        }
    }

    impl Drop for Lock {
        fn drop(&mut self) {
            LOCKED.set(false);
        }
    }

    fn take_token(id: usize) -> Option<usize> {
        PARKED.with_borrow_mut(|parked| parked.take_token(id))
    }

    pub(crate) fn park(
        key: usize,
        validate: impl FnOnce() -> bool,
        timed_out: impl FnOnce(),
        deadline: Option<Instant>,
    ) -> Parked {
        let lock = Lock::acquire();
        if !validate() {
            return Parked::Invalid;
        }
        let id = NEXT_ID.replace(NEXT_ID.get().wrapping_add(1));
        let thread = shuttle::thread::current();
        PARKED.with_borrow_mut(|parked| parked.push(key, id, thread));
        drop(lock);
        if deadline.is_some() {
            // Let the world run, then either take a token or time out.
            yield_now();
            let _lock = Lock::acquire();
            if let Some(token) = take_token(id) {
                return Parked::Unparked(token);
            }
            PARKED.with_borrow_mut(|parked| parked.remove(id));
            timed_out();
            return Parked::TimedOut;
        }
        loop {
            if let Some(token) = take_token(id) {
                return Parked::Unparked(token);
            }
            // Returns at once if the unpark came first.
            shuttle::thread::park();
        }
    }

    pub(crate) fn with_lock<R>(_key: usize, f: impl FnOnce() -> R) -> R {
        let _lock = Lock::acquire();
        f()
    }

    pub(crate) fn unpark_all(key: usize, decide: impl FnOnce() -> Option<usize>) -> usize {
        let lock = Lock::acquire();
        let Some(token) = decide() else {
            return 0;
        };
        let chosen = PARKED.with_borrow_mut(|parked| parked.give(key, token));
        drop(lock);
        for thread in &chosen {
            thread.unpark();
        }
        chosen.len()
    }
}

/// Parks the current thread on `key` unless `validate` (run under the
/// lock) returns false. With a deadline, `timed_out` runs under the lock
/// once the thread has been taken off the queue.
pub(crate) use imp::park;
/// Wakes every thread parked on `key`, if `decide` (run under the lock,
/// before any thread is taken off the queue) returns the token to give
/// them; wakes none if it returns `None`.
pub(crate) use imp::unpark_all;
/// Runs `f` under the lock for `key`, as `validate` and `decide` run:
/// what `f` does is ordered with every park on and unpark of `key`.
pub(crate) use imp::with_lock;
