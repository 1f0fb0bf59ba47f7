//! Helpers for the structured-concurrency tests (`handles`, `cancel`,
//! `try_scope`, `limits`).
//!
//! * [`watchdog`] runs a test body on its own thread and FAILS the test if it
//!   does not finish within [`WATCHDOG_SECS`], so a hang is a failure, not a
//!   stalled run.
//! * [`str_payload`] / [`string_payload`] check panic payloads exactly.
//! * [`quiet_expected_panics`] silences the panics the tests provoke on
//!   purpose (messages starting with `boom`).
//! * [`DropCount`] counts how often the values a task captured are dropped.
//! * [`Gate`] holds tasks back until the test opens it.
#![allow(dead_code)]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use taskgroup::ThreadPool;

/// How long a test body may run before the watchdog fails it.
pub const WATCHDOG_SECS: u64 = 20;

/// How long a test waits for something another thread is about to do before
/// it declares that it never happened.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Runs `f` on its own thread and returns its value; fails the test with
/// "hang: ..." if it takes longer than [`WATCHDOG_SECS`]. A panic in `f` is
/// re-raised here with its payload.
#[track_caller]
pub fn watchdog<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    quiet_expected_panics();
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let value = f();
            // The receiver is gone if the watchdog already fired.
            let _ = tx.send(value);
        })
        .expect("spawn the test body thread");
    match rx.recv_timeout(Duration::from_secs(WATCHDOG_SECS)) {
        Ok(value) => {
            handle.join().expect("test body thread");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the test body ended without a value"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("hang: test did not finish within {WATCHDOG_SECS} s")
        }
    }
}

/// The text of a `&str` or `String` panic payload, `None` for other types.
pub fn payload_text(payload: &(dyn Any + Send)) -> Option<&str> {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        Some(s)
    } else {
        payload.downcast_ref::<String>().map(String::as_str)
    }
}

/// Runs `f`, which must panic, and returns the payload.
#[track_caller]
pub fn expect_panic<R>(f: impl FnOnce() -> R) -> Box<dyn Any + Send> {
    match panic::catch_unwind(AssertUnwindSafe(f)) {
        Ok(_) => panic!("expected a panic, but the call returned normally"),
        Err(payload) => payload,
    }
}

/// Asserts that the payload is exactly the `&'static str` `expected`.
#[track_caller]
pub fn str_payload(payload: &(dyn Any + Send), expected: &str) {
    match payload.downcast_ref::<&'static str>() {
        Some(s) => assert_eq!(*s, expected),
        None => panic!(
            "expected a &'static str payload {expected:?}, got {:?}",
            payload_text(payload)
        ),
    }
}

/// Asserts that the payload is exactly the `String` `expected`.
#[track_caller]
pub fn string_payload(payload: &(dyn Any + Send), expected: &str) {
    match payload.downcast_ref::<String>() {
        Some(s) => assert_eq!(s, expected),
        None => panic!(
            "expected a String payload {expected:?}, got {:?}",
            payload_text(payload)
        ),
    }
}

/// Installs (once per test binary) a panic hook that stays silent for
/// panics whose message starts with `boom` and forwards the others.
pub fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let expected = payload_text(info.payload()).is_some_and(|s| s.starts_with("boom"));
            if !expected {
                default(info);
            }
        }));
    });
}

/// A pool of `n` threads.
pub fn pool(n: usize) -> ThreadPool {
    ThreadPool::builder()
        .num_threads(n)
        .thread_name(|i| format!("tg4-{i}"))
        .build()
        .expect("build a test pool")
}

/// Polls `cond` every millisecond until it holds; panics with `what` after
/// [`PATIENCE`].
#[track_caller]
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {PATIENCE:?} waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// A value that counts its drops; give one to each task to check that every
/// capture is dropped exactly once, whether the task ran or was skipped.
#[derive(Debug)]
pub struct DropCount(pub Arc<AtomicUsize>);

impl DropCount {
    pub fn new(counter: &Arc<AtomicUsize>) -> Self {
        Self(Arc::clone(counter))
    }
}

impl Drop for DropCount {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

/// A one-way gate: tasks [`wait`](Gate::wait) until the test
/// [`open`](Gate::open)s it (bounded by [`PATIENCE`]).
#[derive(Debug, Default)]
pub struct Gate(AtomicBool);

impl Gate {
    pub const fn new() -> Self {
        Self(AtomicBool::new(false))
    }

    pub fn open(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_open(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }

    #[track_caller]
    pub fn wait(&self) {
        wait_for("a gate to open", || self.is_open());
    }
}

/// Tracks how many tasks run at once, and the most ever seen.
#[derive(Debug, Default)]
pub struct Concurrency {
    current: AtomicUsize,
    max: AtomicUsize,
    total: AtomicUsize,
}

impl Concurrency {
    pub const fn new() -> Self {
        Self {
            current: AtomicUsize::new(0),
            max: AtomicUsize::new(0),
            total: AtomicUsize::new(0),
        }
    }

    /// Runs `f` counted as one running task (until it returns or unwinds);
    /// `total` counts the runs that returned.
    pub fn run<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Running<'a>(&'a AtomicUsize);
        impl Drop for Running<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::SeqCst);
            }
        }
        let now = self.current.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(now, Ordering::SeqCst);
        let running = Running(&self.current);
        let value = f();
        drop(running);
        self.total.fetch_add(1, Ordering::SeqCst);
        value
    }

    pub fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }

    pub fn total(&self) -> usize {
        self.total.load(Ordering::SeqCst)
    }
}
