//! Model check of a scope's concurrency limit (src/scope/limit.rs): tasks
//! submitted while every slot is taken must be launched by whoever frees a
//! slot, never lost (loom reports a task left in the queue when every
//! thread has finished), and never more than `max` run at once; a lender
//! takes exactly the task it asked for, which is then never launched too.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_limit`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::{Arc, Mutex};
use loom::thread;
use taskgroup::__loom::Limiter;

/// Launched job ids, waiting for a "worker" to run them.
type Launched = Arc<Mutex<Vec<usize>>>;

/// Runs launched jobs until `total` have run; each checks the cap.
fn run_jobs(
    limiter: &Limiter,
    launched: &Launched,
    running: &AtomicUsize,
    done: &AtomicUsize,
    total: usize,
    max: usize,
) {
    let launch = |id| launched.lock().unwrap().push(id);
    while done.load(Ordering::Acquire) < total {
        let next = launched.lock().unwrap().pop();
        match next {
            Some(_) => {
                let now = running.fetch_add(1, Ordering::AcqRel) + 1;
                assert!(now <= max, "{now} tasks ran at once with a limit of {max}");
                running.fetch_sub(1, Ordering::AcqRel);
                done.fetch_add(1, Ordering::AcqRel);
                limiter.finished(launch);
            }
            None => thread::yield_now(),
        }
    }
}

#[test]
fn submit_races_finish_with_a_limit_of_one() {
    // Two threads that spin on the queue, yet exhaustive with no
    // preemption bound (well under a second).
    loom::model(|| {
        let limiter = Arc::new(Limiter::new(1));
        let launched: Launched = Arc::new(Mutex::new(Vec::new()));
        let running = Arc::new(AtomicUsize::new(0));
        let done = Arc::new(AtomicUsize::new(0));
        let worker = {
            let (limiter, launched, running, done) = (
                Arc::clone(&limiter),
                Arc::clone(&launched),
                Arc::clone(&running),
                Arc::clone(&done),
            );
            thread::spawn(move || run_jobs(&limiter, &launched, &running, &done, 2, 1))
        };
        let launch = |id| launched.lock().unwrap().push(id);
        limiter.submit(1, launch);
        limiter.submit(2, launch);
        run_jobs(&limiter, &launched, &running, &done, 2, 1);
        worker.join().unwrap();
        assert_eq!(done.load(Ordering::Relaxed), 2);
    });
}

#[test]
fn a_lender_takes_exactly_its_task_while_a_slot_is_freed() {
    loom::model(|| {
        let limiter = Arc::new(Limiter::new(2));
        let launched: Launched = Arc::new(Mutex::new(Vec::new()));
        let push = |launched: &Launched| {
            let launched = Arc::clone(launched);
            move |id| launched.lock().unwrap().push(id)
        };
        limiter.submit(1, push(&launched)); // runs
        limiter.submit(4, push(&launched)); // runs
        limiter.submit(2, push(&launched)); // queued
        limiter.submit(3, push(&launched)); // queued: task 1 will lend it its slot
                                            // Task 1 lends its slot to task 3, runs it, and ends after it.
        let lender = {
            let (limiter, launched) = (Arc::clone(&limiter), Arc::clone(&launched));
            thread::spawn(move || {
                assert!(
                    limiter.take_queued(3),
                    "task 3 was queued until its lender took it"
                );
                limiter.finished(push(&launched)); // task 3 ends
                limiter.finished(push(&launched)); // task 1 ends
            })
        };
        limiter.finished(push(&launched)); // task 4 ends
        lender.join().unwrap();
        let launched = launched.lock().unwrap().clone();
        assert_eq!(
            launched,
            [1, 4, 2],
            "every task launched once; task 3 only lent"
        );
    });
}
