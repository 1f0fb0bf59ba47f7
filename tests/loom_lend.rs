//! Model checks of the protocols that keep waits between tasks from
//! deadlocking (src/lend.rs, src/pool/sleep.rs, src/scope/handle.rs):
//!
//! * a confined waiter (one that may not take other jobs) sleeps as
//!   `Targeted`: a notification of new work must reach a worker that can
//!   take it, never be spent on the confined one;
//! * a request to lend a slot races its owner falling asleep: the owner
//!   must wake and serve it, exactly once;
//! * a handle's task claimed from two threads runs exactly once.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_lend`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::{Claim, LendHost, LendQueue, Sleep};

#[test]
fn new_work_wakes_a_worker_that_can_take_it() {
    // Three threads through the sleep protocol, exhaustive with no
    // preemption bound: ~30 s in release.
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let work = Arc::new(AtomicBool::new(false));
        let released = Arc::new(AtomicBool::new(false));
        // Worker 0 waits, confined, for its own condition.
        let confined = {
            let (sleep, released) = (Arc::clone(&sleep), Arc::clone(&released));
            thread::spawn(move || {
                while !released.load(Ordering::Acquire) {
                    sleep.sleep_targeted(0, || released.load(Ordering::Relaxed));
                }
            })
        };
        // Worker 1 takes any work.
        let free = {
            let (sleep, work) = (Arc::clone(&sleep), Arc::clone(&work));
            thread::spawn(move || {
                while !work.swap(false, Ordering::Acquire) {
                    sleep.sleep(1, || work.load(Ordering::Relaxed));
                }
            })
        };
        work.swap(true, Ordering::Release);
        sleep.notify_one();
        free.join().unwrap();
        released.swap(true, Ordering::Release);
        sleep.notify_worker(0);
        confined.join().unwrap();
    });
}

#[test]
fn a_lend_request_wakes_its_sleeping_owner_once() {
    loom::model(|| {
        const TAG: usize = 8;
        let sleep = Arc::new(Sleep::new(1));
        let queue = Arc::new(LendQueue::new(TAG));
        // SAFETY: `queue` and `sleep` are kept alive by the Arcs moved into
        // the owner's thread along with the host.
        let host = Arc::new(unsafe { LendHost::new(&queue, 0, &sleep) });
        let lent_done = Arc::new(AtomicBool::new(false));
        let owner = {
            let (sleep, host, lent_done, queue) = (
                Arc::clone(&sleep),
                Arc::clone(&host),
                Arc::clone(&lent_done),
                Arc::clone(&queue),
            );
            thread::spawn(move || {
                let mut ran = 0;
                // The owner waits for its requester, which waits for the
                // lent task: the owner's wait ends once it has run it.
                while !lent_done.load(Ordering::Acquire) {
                    if let Some(tag) = host.next_lent() {
                        assert_eq!(tag, TAG);
                        ran += 1;
                        lent_done.store(true, Ordering::Release);
                        continue;
                    }
                    sleep.sleep_targeted(0, || {
                        lent_done.load(Ordering::Relaxed) || host.is_requested()
                    });
                }
                drop(queue);
                ran
            })
        };
        host.request(TAG);
        let ran = owner.join().unwrap();
        host.withdraw(TAG);
        assert_eq!(ran, 1);
    });
}

#[test]
fn a_claimed_task_runs_once() {
    loom::model(|| {
        let ran = Arc::new(AtomicUsize::new(0));
        let claim = Claim::new(Arc::clone(&ran));
        let other = {
            let claim = claim.share();
            thread::spawn(move || claim.run())
        };
        let here = claim.run();
        let there = other.join().unwrap();
        assert!(here ^ there, "exactly one side runs the task");
        assert_eq!(ran.load(Ordering::Relaxed), 1);
    });
}
