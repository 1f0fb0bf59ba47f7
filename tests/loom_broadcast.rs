//! Model checks of how a broadcast share reaches its worker
//! (src/pool/broadcast.rs): the share is queued for one worker, which may
//! be falling asleep at that moment, and the broadcaster sleeps until the
//! share's completion wakes it. A lost wake-up on either side leaves a
//! thread asleep forever, which loom reports as a deadlock.
//!
//! The workers below loop the way `WorkerThread::wait_until` does: take a
//! share, else sleep with "a share waits for me" among the wake
//! conditions.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_broadcast`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::{ShareQueues, Sleep};

/// Worker `index`'s loop: runs each share by calling `run(id)` until
/// `terminate` is set and no share is left.
fn worker_loop(
    index: usize,
    shares: &ShareQueues,
    sleep: &Sleep,
    terminate: &AtomicBool,
    run: impl Fn(usize),
) {
    loop {
        if let Some(id) = shares.take(index) {
            run(id);
            continue;
        }
        if terminate.load(Ordering::Acquire) {
            return;
        }
        sleep.sleep(index, || {
            shares.has_share(index) || terminate.load(Ordering::Relaxed)
        });
    }
}

#[test]
fn share_races_its_worker_falling_asleep() {
    let mut builder = loom::model::Builder::new();
    // Unbounded, this model takes more than minutes; a lost wake-up needs
    // only one preemption (the worker's, between its look and its sleep).
    // A bound of 7 takes ~10 s in release.
    builder.preemption_bound = Some(7);
    builder.check(|| {
        let sleep = Arc::new(Sleep::new(2));
        let shares = Arc::new(ShareQueues::new(2));
        let done = Arc::new(AtomicBool::new(false));
        let terminate = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, shares, done, terminate) = (
                Arc::clone(&sleep),
                Arc::clone(&shares),
                Arc::clone(&done),
                Arc::clone(&terminate),
            );
            thread::spawn(move || {
                worker_loop(1, &shares, &sleep, &terminate, |id| {
                    assert_eq!(id, 7);
                    // The share's completion: set, then wake the
                    // broadcaster (worker 0) by index.
                    done.swap(true, Ordering::Release);
                    sleep.notify_worker(0);
                })
            })
        };
        // Worker 0 broadcasts: queues worker 1's share, runs its own inline
        // (nothing to model), then waits as a worker does.
        shares.push(1, 7, &sleep);
        while !done.load(Ordering::Acquire) {
            sleep.sleep(0, || done.load(Ordering::Relaxed));
        }
        terminate.swap(true, Ordering::Release);
        sleep.notify_all();
        worker.join().unwrap();
    });
}

#[test]
fn two_broadcasters_one_worker() {
    let mut builder = loom::model::Builder::new();
    // Three threads looping through the protocol: bound the preemptions so
    // the model finishes in seconds (~10 s in release with 4; 5 takes over
    // a minute and a half).
    builder.preemption_bound = Some(4);
    builder.check(|| {
        let sleep = Arc::new(Sleep::new(1));
        let shares = Arc::new(ShareQueues::new(1));
        let ran = Arc::new(AtomicUsize::new(0));
        let terminate = Arc::new(AtomicBool::new(false));
        let worker = {
            let (sleep, shares, ran, terminate) = (
                Arc::clone(&sleep),
                Arc::clone(&shares),
                Arc::clone(&ran),
                Arc::clone(&terminate),
            );
            thread::spawn(move || {
                worker_loop(0, &shares, &sleep, &terminate, |id| {
                    ran.fetch_add(id, Ordering::Release);
                })
            })
        };
        let other = {
            let (sleep, shares) = (Arc::clone(&sleep), Arc::clone(&shares));
            thread::spawn(move || shares.push(0, 1, &sleep))
        };
        shares.push(0, 2, &sleep);
        other.join().unwrap();
        // Both shares run, each once, however the pushes and the worker's
        // sleep interleave.
        while ran.load(Ordering::Acquire) != 3 {
            thread::yield_now();
        }
        terminate.swap(true, Ordering::Release);
        sleep.notify_all();
        worker.join().unwrap();
        assert_eq!(ran.load(Ordering::Relaxed), 3);
    });
}
