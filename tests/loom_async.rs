//! Model checks of the state an `AsyncHandle` shares with its job
//! (src/async_handle/state.rs): the job's completion against a concurrent
//! poll, a concurrent cancel, a re-poll with a new waker and a detach. The
//! poller must always be woken or see the result; the task runs to the end
//! or not at all, and the result says which; the waker of the latest poll
//! is the one woken; an outcome nobody reads is disposed of exactly once.
//! Reads of the outcome or the waker slot that race a write are reported by
//! loom itself.
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_async`.
#![cfg(loom)]

use std::sync::Arc as StdArc;
use std::task::{Poll, Wake, Waker};

use loom::future::block_on;
use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::{async_channel, AsyncSender};

/// A waker that counts its wakes.
struct Counter(AtomicUsize);

impl Wake for Counter {
    fn wake(self: StdArc<Self>) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counting_waker() -> (StdArc<Counter>, Waker) {
    let counter = StdArc::new(Counter(AtomicUsize::new(0)));
    (StdArc::clone(&counter), Waker::from(counter))
}

impl Counter {
    fn wakes(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
}

/// The job's side as the pool runs it: claim, run, complete.
fn run_job<T>(sender: AsyncSender<T>, value: T) -> bool {
    if !sender.start() {
        return false;
    }
    assert!(
        sender.complete(Ok(value)).is_none(),
        "the handle is alive: it reads the outcome"
    );
    true
}

/// `block_on` parks until the waker is woken: a lost wake-up is a deadlock,
/// which loom reports.
#[test]
fn a_poll_racing_completion_is_woken_or_sees_the_value() {
    loom::model(|| {
        let (sender, receiver) = async_channel::<String>();
        let job = thread::spawn(move || run_job(sender, "forty-two".to_owned()));
        assert_eq!(block_on(receiver).unwrap(), "forty-two");
        assert!(job.join().unwrap());
    });
}

#[test]
fn a_panic_racing_a_poll_comes_back_with_its_payload() {
    loom::model(|| {
        let (sender, receiver) = async_channel::<u8>();
        let job = thread::spawn(move || {
            assert!(sender.start());
            assert!(sender.complete(Err(Box::new("boom"))).is_none());
        });
        let err = block_on(receiver).unwrap_err();
        assert!(err.is_panic());
        assert_eq!(err.into_panic().downcast_ref::<&str>(), Some(&"boom"));
        job.join().unwrap();
    });
}

/// The task runs to the end or never; `cancel` says which, and so does the
/// awaited result.
#[test]
fn cancel_racing_the_start_decides_run_or_not_and_the_result_matches() {
    loom::model(|| {
        let (sender, receiver) = async_channel::<u32>();
        let ran = Arc::new(AtomicBool::new(false));
        let job = {
            let ran = Arc::clone(&ran);
            thread::spawn(move || {
                if run_job(sender, 7) {
                    ran.store(true, Ordering::SeqCst);
                }
            })
        };
        let cancelled = receiver.cancel();
        if cancelled {
            assert!(receiver.is_finished(), "a won cancel finishes the handle");
        }
        let result = block_on(receiver);
        job.join().unwrap();
        let ran = ran.load(Ordering::SeqCst);
        assert_eq!(cancelled, !ran, "cancel won iff the task never ran");
        match result {
            Ok(value) => assert!(ran && value == 7),
            Err(err) => assert!(err.is_cancelled() && !ran),
        }
    });
}

/// A cancel from another thread while the handle is awaited: the awaiting
/// task is woken by whichever of cancel and completion decides.
#[test]
fn cancel_from_another_thread_wakes_the_awaiting_task() {
    // Three threads: bounded, or the model takes minutes.
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let (sender, receiver) = async_channel::<u32>();
        let canceller = receiver.canceller();
        let job = thread::spawn(move || run_job(sender, 7));
        let cancel = thread::spawn(move || canceller.cancel());
        let result = block_on(receiver);
        let ran = job.join().unwrap();
        let cancelled = cancel.join().unwrap();
        assert_eq!(cancelled, !ran);
        match result {
            Ok(value) => assert!(ran && value == 7),
            Err(err) => assert!(err.is_cancelled() && !ran),
        }
    });
}

/// A handle polled with waker A, then with waker B while the job completes:
/// if the second poll returns `Pending`, B is woken once and A never.
#[test]
fn a_repoll_with_a_new_waker_racing_completion_wakes_the_latest() {
    let mut builder = loom::model::Builder::new();
    builder.preemption_bound = Some(3);
    builder.check(|| {
        let (sender, mut receiver) = async_channel::<u32>();
        let (a, waker_a) = counting_waker();
        let (b, waker_b) = counting_waker();
        let job = thread::spawn(move || run_job(sender, 5));
        let first = receiver.poll_with(&waker_a);
        if let Poll::Ready(result) = first {
            assert_eq!(result.unwrap(), 5);
            job.join().unwrap();
            return;
        }
        let second = receiver.poll_with(&waker_b);
        job.join().unwrap();
        match second {
            Poll::Pending => {
                assert_eq!(b.wakes(), 1, "the latest waker was not woken");
                assert_eq!(a.wakes(), 0, "a replaced waker was woken");
                match receiver.poll_with(&waker_b) {
                    Poll::Ready(result) => assert_eq!(result.unwrap(), 5),
                    Poll::Pending => panic!("woken, but not ready"),
                }
            }
            Poll::Ready(result) => {
                assert_eq!(result.unwrap(), 5);
                assert_eq!(b.wakes(), 0, "a waker left with no pending poll");
                assert!(a.wakes() <= 1);
            }
        }
    });
}

/// Dropping the handle while the job completes: exactly one side ends up
/// with the outcome (to drop the value or report the panic).
#[test]
fn detach_racing_completion_leaves_the_outcome_to_exactly_one_side() {
    loom::model(|| {
        let (sender, mut receiver) = async_channel::<String>();
        let (_, waker) = counting_waker();
        // A published waker, as a handle that was awaited, then dropped.
        assert!(receiver.poll_with(&waker).is_pending());
        let job = thread::spawn(move || {
            assert!(sender.start());
            sender.complete(Ok("value".to_owned()))
        });
        let on_handle = receiver.detach();
        let on_job = job.join().unwrap();
        match (on_handle, on_job) {
            (Some(Ok(value)), None) | (None, Some(Ok(value))) => assert_eq!(value, "value"),
            (handle, job) => panic!(
                "the outcome went to the handle: {}, to the job: {}",
                handle.is_some(),
                job.is_some()
            ),
        }
    });
}
