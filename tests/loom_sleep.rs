//! Model checks of the pool's sleep protocol (src/pool/sleep.rs): a worker
//! falling asleep races the thread that publishes work or sets the worker's
//! wait condition. A lost wake-up leaves a thread asleep forever, which loom
//! reports as a deadlock.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_sleep`.
//!
//! Work is published with `swap(true)` rather than `store(true)`: loom 0.7
//! can order a plain store before an earlier read-modify-write that read the
//! older value (a false report, not a real interleaving), and the deques the
//! pool really uses publish through read-modify-writes as well.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::Sleep;

#[test]
fn submit_races_fall_asleep() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let work = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, work) = (Arc::clone(&sleep), Arc::clone(&work));
            thread::spawn(move || {
                while !work.swap(false, Ordering::Acquire) {
                    sleep.sleep(0, || work.load(Ordering::Relaxed));
                }
            })
        };
        work.swap(true, Ordering::Release);
        sleep.notify_one();
        worker.join().unwrap();
    });
}

#[test]
fn targeted_wake_races_fall_asleep() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let done = Arc::new(AtomicBool::new(false));
        let owner = {
            let (sleep, done) = (Arc::clone(&sleep), Arc::clone(&done));
            thread::spawn(move || {
                while !done.load(Ordering::Acquire) {
                    sleep.sleep(1, || done.load(Ordering::Relaxed));
                }
            })
        };
        done.swap(true, Ordering::Release);
        sleep.notify_worker(1);
        owner.join().unwrap();
    });
}

#[test]
fn one_job_two_sleepers_then_terminate() {
    let mut builder = loom::model::Builder::new();
    // Three threads looping through the protocol: bound the preemptions so
    // the model finishes in seconds (a bound of 3 runs past five minutes,
    // none past fifteen). The protocol's races between two parties are
    // checked without a bound by the models above.
    builder.preemption_bound = Some(2);
    builder.check(|| {
        let sleep = Arc::new(Sleep::new(2));
        let job = Arc::new(AtomicBool::new(false));
        let ran = Arc::new(AtomicUsize::new(0));
        let terminate = Arc::new(AtomicBool::new(false));
        let workers: Vec<_> = (0..2)
            .map(|index| {
                let (sleep, job, ran, terminate) = (
                    Arc::clone(&sleep),
                    Arc::clone(&job),
                    Arc::clone(&ran),
                    Arc::clone(&terminate),
                );
                thread::spawn(move || loop {
                    if job.swap(false, Ordering::Acquire) {
                        ran.fetch_add(1, Ordering::Release);
                        continue;
                    }
                    if terminate.load(Ordering::Acquire) {
                        return;
                    }
                    sleep.sleep(index, || {
                        job.load(Ordering::Relaxed) || terminate.load(Ordering::Relaxed)
                    });
                })
            })
            .collect();
        job.swap(true, Ordering::Release);
        sleep.notify_one();
        while ran.load(Ordering::Acquire) == 0 {
            thread::yield_now();
        }
        terminate.swap(true, Ordering::Release);
        sleep.notify_all();
        for w in workers {
            w.join().unwrap();
        }
        assert_eq!(ran.load(Ordering::Relaxed), 1);
    });
}

/// One worker that sleeps twice against a waker per sleep: the first
/// waker's unpark must not land on the second sleep. (It did when the
/// waker moved the slot to `NOTIFIED` before taking the parking lot's lock:
/// the worker saw `NOTIFIED`, returned, slept again, and the late unpark
/// woke that second sleep while its slot still read `SLEEPING`.)
#[test]
fn a_late_unpark_never_wakes_the_next_sleep() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let first = Arc::new(AtomicBool::new(false));
        let second = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, first, second) =
                (Arc::clone(&sleep), Arc::clone(&first), Arc::clone(&second));
            thread::spawn(move || {
                while !first.load(Ordering::Acquire) {
                    sleep.sleep(0, || first.load(Ordering::Relaxed));
                }
                while !second.load(Ordering::Acquire) {
                    sleep.sleep(0, || second.load(Ordering::Relaxed));
                }
            })
        };
        first.swap(true, Ordering::Release);
        sleep.notify_one();
        second.swap(true, Ordering::Release);
        sleep.notify_one();
        worker.join().unwrap();
        assert_eq!(
            sleep.sleepers(),
            0,
            "a worker that woke is still counted as asleep"
        );
    });
}

/// A worker whose sleep times out races the notification meant for it: the
/// timeout and the move to `NOTIFIED` are decided under one lock, so the
/// worker is counted out of `sleepers` once, and the notification (if it
/// won) does not wake its next sleep.
#[test]
fn a_timed_out_sleep_races_its_notification() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let done = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, done) = (Arc::clone(&sleep), Arc::clone(&done));
            thread::spawn(move || {
                sleep.sleep_timed(0, || done.load(Ordering::Relaxed));
                while !done.load(Ordering::Acquire) {
                    sleep.sleep(0, || done.load(Ordering::Relaxed));
                }
            })
        };
        done.swap(true, Ordering::Release);
        sleep.notify_worker(0);
        worker.join().unwrap();
        assert_eq!(sleep.sleepers(), 0);
    });
}
