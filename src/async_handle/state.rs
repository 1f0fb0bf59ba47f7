//! What an [`AsyncHandle`](crate::AsyncHandle) and its job share: one state
//! word, a slot for the awaiting task's waker and a slot for the outcome,
//! in one `Arc`.
//!
//! Three parties touch it. The *receiver* (the handle: polls, cancels,
//! detaches) and the *sender* (the job: starts, completes) each exist once;
//! a winning `cancel` plays the sender's part of completing, without an
//! outcome.
//!
//! ```text
//!  state word (one AtomicUsize)
//!    STARTED    the job claimed the task: it runs to the end
//!    COMPLETE   decided: the outcome is written (or, with CANCELLED, never
//!               will be); set exactly once, by the job or a winning cancel
//!    CANCELLED  a cancel won: the task never runs
//!    WAKER      the waker slot is published: whoever sets COMPLETE wakes it
//!    DETACHED   the handle is gone: the job disposes of the outcome
//!
//!  job:    fetch_or(STARTED)   CANCELLED already set?  drop the closure, stop
//!          run, write outcome
//!          fetch_or(COMPLETE)  DETACHED?  take the outcome back, dispose
//!                              WAKER?     wake the published waker
//!  cancel: CAS  no STARTED, no COMPLETE  ->  + CANCELLED + COMPLETE
//!                              WAKER?     wake the published waker
//!  poll:   COMPLETE?  read the outcome                             (Ready)
//!          WAKER and the published waker will wake this task?      (Pending)
//!          WAKER?  fetch_and(!WAKER): COMPLETE came first?         (Ready)
//!          write the waker into the slot
//!          fetch_or(WAKER):  COMPLETE came first?                  (Ready)
//!                                                                  (Pending)
//!  drop:   fetch_or(DETACHED)  COMPLETE already?  take the outcome, dispose
//! ```
//!
//! **Who may touch the waker slot.** While `WAKER` is clear, the slot is the
//! receiver's: it alone reads or writes it. While `WAKER` is set, the slot
//! is read-only: the receiver reads it (to skip re-registering the same
//! waker) and the completer reads it (to wake it). The completer looks at
//! the slot only if `WAKER` was set in the value its `COMPLETE` replaced;
//! after that the receiver's `fetch_and` that would take the slot back sees
//! `COMPLETE` and leaves the slot alone. So no write ever meets a read. The
//! slot's last waker is dropped with the state.
//!
//! **No lost wake-up.** `COMPLETE` is set by one read-modify-write, and the
//! receiver's publication of a waker (`fetch_or(WAKER)`) is another, on the
//! same word: one of them comes first. If `COMPLETE` does, the receiver sees
//! it and returns `Ready` itself; if `WAKER` does, the completer sees it and
//! wakes the waker.
//!
//! **The latest waker.** A poll with a waker that would not wake the same
//! task first takes the slot back (`fetch_and(!WAKER)`), then writes its own
//! waker and publishes it. A completion before the take-back wakes the old
//! waker, and the poll sees `COMPLETE` and returns `Ready`; a completion
//! after it sees either no waker (and the poll sees `COMPLETE`) or the new
//! one. So a poll that returns `Pending` has left the one waker that will be
//! woken, and no earlier waker is woken after it.
//!
//! **The outcome.** The job writes it before the `Release` of its `COMPLETE`;
//! the receiver reads it only after an `Acquire` that saw `COMPLETE`, and
//! only if `DETACHED` was not set first: then the job takes it back instead.
//! One of the two `fetch_or`s comes first, so exactly one side gets it.
//!
//! **Cancel or run.** `start` sets `STARTED` unconditionally and `cancel`
//! sets `CANCELLED` only where `STARTED` is clear, both on the same word:
//! either the cancel comes first and the job sees `CANCELLED` and never
//! runs the task, or the start does and the cancel changes nothing. Model
//! checks: `tests/loom_async.rs`.

use std::any::Any;
use std::fmt;
use std::task::{Poll, Waker};

use crate::error::{JoinError, TaskOrigin};
use crate::sync::{Arc, AtomicUsize, Ordering, UnsafeCell};

const STARTED: usize = 1;
const COMPLETE: usize = 1 << 1;
const CANCELLED: usize = 1 << 2;
const WAKER: usize = 1 << 3;
const DETACHED: usize = 1 << 4;

/// What the task produced: its value, or the payload of its panic.
pub(crate) type Outcome<T> = Result<T, Box<dyn Any + Send>>;

/// The state an [`AsyncHandle`](crate::AsyncHandle) and its job share.
pub(crate) struct State<T> {
    word: AtomicUsize,
    /// The awaiting task's waker; see "Who may touch the waker slot".
    waker: UnsafeCell<Option<Waker>>,
    /// Written by the sender before `COMPLETE`, taken once after it.
    outcome: UnsafeCell<Option<Outcome<T>>>,
}

// SAFETY: the cells are accessed as the module docs say: the outcome by one
// side at a time, ordered by the word; the waker slot written only by the
// receiver while `WAKER` is clear. `T: Send` is all that crosses threads
// (a `Waker` is `Send + Sync`).
unsafe impl<T: Send> Send for State<T> {}
// SAFETY: as above; `&State` gives no access to a `T` by reference.
unsafe impl<T: Send> Sync for State<T> {}

impl<T> fmt::Debug for State<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("State")
            .field("word", &self.word.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// A state shared by a new sender (the job's side) and receiver (the
/// handle's side).
pub(crate) fn channel<T>(origin: TaskOrigin) -> (Sender<T>, Receiver<T>) {
    let state = Arc::new(State {
        word: AtomicUsize::new(0),
        waker: UnsafeCell::new(None),
        outcome: UnsafeCell::new(None),
    });
    (
        Sender(Arc::clone(&state)),
        Receiver {
            state,
            done: false,
            origin,
        },
    )
}

impl<T> State<T> {
    /// Whether the outcome is decided (the task ran, panicked, or was
    /// cancelled before it started).
    pub(crate) fn is_finished(&self) -> bool {
        self.word.load(Ordering::Acquire) & COMPLETE != 0
    }

    /// Cancels the task unless it has started; returns whether it did.
    /// Safe from any thread at any time: a winning cancel completes the
    /// state, and reads the waker slot only where the completer may.
    pub(crate) fn cancel(&self) -> bool {
        let mut word = self.word.load(Ordering::Relaxed);
        loop {
            if word & (STARTED | COMPLETE) != 0 {
                return false;
            }
            // Acquire: the waker read below must see the receiver's write,
            // published by its `fetch_or(WAKER)` (Release).
            match self.word.compare_exchange_weak(
                word,
                word | CANCELLED | COMPLETE,
                Ordering::AcqRel,
                Ordering::Relaxed,
            ) {
                Ok(_) => break,
                Err(now) => word = now,
            }
        }
        if word & WAKER != 0 && word & DETACHED == 0 {
            self.wake_published();
        }
        true
    }

    /// Wakes the published waker.
    fn wake_published(&self) {
        self.waker.with(|slot| {
            // SAFETY: the caller set `COMPLETE` over a word with `WAKER`
            // set: the slot is read-only from then on (see the module docs).
            if let Some(waker) = unsafe { &*slot } {
                waker.wake_by_ref();
            }
        });
    }
}

/// The job's side: claims the task, then completes the state with its
/// outcome.
pub(crate) struct Sender<T>(Arc<State<T>>);

impl<T> Sender<T> {
    /// Claims the task: true if it must run, false if a cancel came first
    /// (then the task must be dropped without running).
    pub(crate) fn start(&self) -> bool {
        // Relaxed: only which of start and cancel came first matters, and a
        // cancelled job reads nothing the canceller wrote.
        self.0.word.fetch_or(STARTED, Ordering::Relaxed) & CANCELLED == 0
    }

    /// Completes the state with `outcome` and wakes the awaiting task.
    /// Returns the outcome if the handle is gone: the caller disposes of it.
    pub(crate) fn complete(self, outcome: Outcome<T>) -> Option<Outcome<T>> {
        let state = &*self.0;
        // SAFETY: until `COMPLETE` is set, only the sender touches the
        // outcome slot (the receiver reads it after seeing `COMPLETE`).
        state
            .outcome
            .with_mut(|slot| unsafe { *slot = Some(outcome) });
        // Release: publishes the outcome. Acquire: if the receiver detached
        // first or published a waker, see what it wrote before.
        let word = state.word.fetch_or(COMPLETE, Ordering::AcqRel);
        debug_assert_eq!(word & (COMPLETE | CANCELLED), 0, "completed twice");
        if word & DETACHED != 0 {
            // SAFETY: the receiver detached before `COMPLETE`: it will never
            // read the outcome, so it is the sender's again.
            return state.outcome.with_mut(|slot| unsafe { (*slot).take() });
        }
        if word & WAKER != 0 {
            state.wake_published();
        }
        None
    }
}

impl<T> fmt::Debug for Sender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Sender").field(&self.0).finish()
    }
}

/// The handle's side: polls for the outcome, cancels, detaches. There is
/// one receiver per state, and `poll` and `detach` take it by `&mut`.
pub(crate) struct Receiver<T> {
    pub(crate) state: Arc<State<T>>,
    /// Whether the outcome was taken (or given up by `detach`).
    done: bool,
    /// Where the task was spawned, for its `JoinError`.
    origin: TaskOrigin,
}

impl<T> Receiver<T> {
    /// Whether the outcome is decided (see [`State::is_finished`]).
    pub(crate) fn is_finished(&self) -> bool {
        self.done || self.state.is_finished()
    }

    /// The outcome if it is decided; otherwise `waker` is the one to wake
    /// when it is, in place of any waker an earlier poll left.
    ///
    /// # Panics
    ///
    /// If an earlier poll returned `Ready`.
    pub(crate) fn poll(&mut self, waker: &Waker) -> Poll<Result<T, JoinError>> {
        assert!(
            !self.done,
            "`AsyncHandle` polled after it returned `Poll::Ready`: a future must not be polled \
             after it completed"
        );
        let state = &*self.state;
        let word = state.word.load(Ordering::Acquire);
        if word & COMPLETE != 0 {
            return Poll::Ready(self.take(word));
        }
        if word & WAKER != 0 {
            let same = state.waker.with(|slot| {
                // SAFETY: `WAKER` is set: the slot is read-only, for us and
                // the completer alike.
                let published = unsafe { &*slot };
                published.as_ref().is_some_and(|old| old.will_wake(waker))
            });
            if same {
                return Poll::Pending;
            }
            // Take the slot back, unless the completer got to it first.
            // Acquire: the outcome, if `COMPLETE` is set.
            let word = state.word.fetch_and(!WAKER, Ordering::Acquire);
            if word & COMPLETE != 0 {
                return Poll::Ready(self.take(word));
            }
        }
        // SAFETY: `WAKER` is clear, and `COMPLETE` was not set while it was
        // set: no completer reads the slot (see the module docs).
        state
            .waker
            .with_mut(|slot| unsafe { *slot = Some(waker.clone()) });
        // Release: publishes the waker to the completer. Acquire: the
        // outcome, if the completer came first.
        let word = state.word.fetch_or(WAKER, Ordering::AcqRel);
        if word & COMPLETE != 0 {
            return Poll::Ready(self.take(word));
        }
        Poll::Pending
    }

    /// Takes the decided outcome; `word` holds `COMPLETE`, seen with
    /// Acquire.
    fn take(&mut self, word: usize) -> Result<T, JoinError> {
        self.done = true;
        if word & CANCELLED != 0 {
            return Err(JoinError::cancelled(self.origin.clone()));
        }
        // SAFETY: `COMPLETE` is set and `DETACHED` is not: the outcome is
        // the receiver's alone, and `done` makes this the only take.
        let outcome = self
            .state
            .outcome
            .with_mut(|slot| unsafe { (*slot).take() });
        match outcome.expect("a completed AsyncHandle state holds its outcome") {
            Ok(value) => Ok(value),
            Err(payload) => Err(JoinError::panicked(payload, self.origin.clone())),
        }
    }

    /// Gives the outcome up: if it is already decided and unread, returns
    /// it for the caller to dispose of; otherwise the job will.
    pub(crate) fn detach(&mut self) -> Option<Outcome<T>> {
        if std::mem::replace(&mut self.done, true) {
            return None;
        }
        // Acquire: the outcome, if the job completed first.
        let word = self.state.word.fetch_or(DETACHED, Ordering::AcqRel);
        if word & COMPLETE == 0 || word & CANCELLED != 0 {
            return None;
        }
        // SAFETY: completed before the detach, so the job no longer touches
        // the outcome; the receiver takes it once (`done`).
        self.state
            .outcome
            .with_mut(|slot| unsafe { (*slot).take() })
    }
}

impl<T> fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("state", &self.state)
            .field("done", &self.done)
            .finish()
    }
}
