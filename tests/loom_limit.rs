//! Model check of a scope's concurrency limit (src/scope/limit.rs): tasks
//! submitted while every slot is taken must be launched by whoever frees a
//! slot, never lost (loom reports a task left in the queue when every
//! thread has finished), and never more than `max` run at once.
//!
//! Under loom the scope's queue is a mutex-guarded `VecDeque` (see
//! src/sync.rs): the model checks the limiter's own protocol over a
//! linearizable queue, not crossbeam's lock-free internals, which is also
//! why it cannot tell whether the `SeqCst` fence in `pump` is needed (it is,
//! for the lock-free injector: the store-buffer argument in limit.rs).
//!
//! Run with `RUSTFLAGS="--cfg loom" cargo test --release --test loom_limit`.
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
    let mut builder = loom::model::Builder::new();
    // Two threads that spin on the queue: bound the preemptions.
    builder.preemption_bound = Some(3);
    builder.check(|| {
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
