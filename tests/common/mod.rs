//! Helpers shared by the pool's integration tests.
//!
//! * [`watchdog`] runs a test body on its own thread and fails the test if it
//!   does not finish in time, so a deadlock or a lost wake-up is reported as
//!   a failure instead of stalling the run.
//! * [`expect_panic`] / [`payload_str`] check panic payloads exactly.
//! * [`quiet_expected_panics`] keeps the output readable: panics whose
//!   message starts with `boom` are expected by the tests and not printed.
#![allow(dead_code)]

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{mpsc, Arc, Once};
use std::thread;
use std::time::{Duration, Instant};

use taskgroup::ThreadPool;

/// Runs `f` on its own thread and returns its value, or fails the test with
/// "deadlock: test did not finish within N s" if it takes longer than `secs`.
/// A panic in `f` is re-raised on the calling thread with its payload.
pub fn watchdog<T: Send + 'static>(secs: u64, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    let handle = thread::Builder::new()
        .name("test-body".into())
        .spawn(move || {
            let value = f();
            // The receiver is gone if the watchdog already fired.
            let _ = tx.send(value);
        })
        .expect("spawn the test body thread");
    match rx.recv_timeout(Duration::from_secs(secs)) {
        Ok(value) => {
            handle.join().expect("test body thread");
            value
        }
        Err(mpsc::RecvTimeoutError::Disconnected) => match handle.join() {
            Err(payload) => panic::resume_unwind(payload),
            Ok(()) => unreachable!("the test body ended without a value"),
        },
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("deadlock: test did not finish within {secs} s")
        }
    }
}

/// The text of a `&str` or `String` panic payload, `None` for other types.
pub fn payload_str(payload: &(dyn Any + Send)) -> Option<&str> {
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

/// Asserts that the payload is exactly the `&'static str` `expected`
/// (a `panic!("literal")`).
#[track_caller]
pub fn assert_str_payload(payload: &(dyn Any + Send), expected: &str) {
    match payload.downcast_ref::<&'static str>() {
        Some(s) => assert_eq!(*s, expected),
        None => panic!(
            "expected a &'static str payload {expected:?}, got {:?}",
            payload_str(payload)
        ),
    }
}

/// Asserts that the payload is exactly the `String` `expected`
/// (a `panic!("with {}", args)`).
#[track_caller]
pub fn assert_string_payload(payload: &(dyn Any + Send), expected: &str) {
    match payload.downcast_ref::<String>() {
        Some(s) => assert_eq!(s, expected),
        None => panic!(
            "expected a String payload {expected:?}, got {:?}",
            payload_str(payload)
        ),
    }
}

/// Installs (once per test binary) a panic hook that stays silent for the
/// panics the tests provoke on purpose, those whose message starts with
/// `boom`, and forwards every other panic to the default hook.
pub fn quiet_expected_panics() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let default = panic::take_hook();
        panic::set_hook(Box::new(move |info| {
            let expected = payload_str(info.payload()).is_some_and(|s| s.starts_with("boom"));
            if !expected {
                default(info);
            }
        }));
    });
}

/// A pool of `n` threads named `tg-test-{i}`.
pub fn pool(n: usize) -> ThreadPool {
    ThreadPool::builder()
        .num_threads(n)
        .thread_name(|i| format!("tg-test-{i}"))
        .build()
        .expect("build a test pool")
}

/// A pool of `n` threads with large stacks, for deeply nested work on few
/// threads (a waiting worker runs other jobs on top of its own frame).
pub fn deep_pool(n: usize) -> ThreadPool {
    ThreadPool::builder()
        .num_threads(n)
        .thread_name(|i| format!("tg-deep-{i}"))
        .stack_size(64 << 20)
        .build()
        .expect("build a deep test pool")
}

/// Polls `cond` every millisecond until it holds; panics with `what` after
/// `secs` seconds.
#[track_caller]
pub fn wait_for(secs: u64, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {secs} s waiting for {what}"
        );
        thread::sleep(Duration::from_millis(1));
    }
}

/// A tiny xorshift64* PRNG, so the stress tests are reproducible from a seed
/// without the `rand` crate.
#[derive(Debug, Clone)]
pub struct XorShift(u64);

impl XorShift {
    pub fn new(seed: u64) -> Self {
        // Never zero; spread small seeds.
        Self((seed ^ 0x9e37_79b9_7f4a_7c15).wrapping_mul(0xbf58_476d_1ce4_e5b9) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `0..n` (`n > 0`).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The watchdog limit of the structured-concurrency tests.
pub const WATCHDOG_SECS: u64 = 20;

/// How long a test waits for something another thread must do.
pub const PATIENCE: Duration = Duration::from_secs(10);

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
        wait_for(PATIENCE.as_secs(), "a gate to open", || self.is_open());
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
