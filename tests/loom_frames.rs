//! Model check of `join`'s frame stack and its publication on request
//! (src/pool/frames.rs, src/join.rs): a thief asks the owner for work
//! while the owner is inside nested `join`s; the owner publishes its
//! outermost unpublished frame at its next `join` that sees the request;
//! the thief steals it from the (modelled) deque and runs it; the owner
//! takes its published frame back if it is still there, or sleeps until
//! the thief's completion wakes it. Every half must run exactly once and
//! the results must be right; the owner must never read a stolen half's
//! result before it is written (a race for loom), nor sleep through its
//! completion (a deadlock for loom).
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_frames`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicUsize, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::Owner;

/// `join(|| join(|| join(a, b), c), d)` on an owner while a thief asks for
/// work once and then tries to steal once. Returns how many frames the
/// owner published.
fn nested_joins_with_a_thief() -> usize {
    let owner = Owner::new();
    let victim = owner.victim();
    let runs: Arc<[AtomicUsize; 4]> = Arc::new(Default::default());
    let owner_thread = thread::current().id();
    let thief = {
        let runs = Arc::clone(&runs);
        thread::spawn(move || {
            victim.request();
            if let Some(job) = victim.steal() {
                job.run();
            }
            drop(runs);
        })
    };
    let half = |i: usize, value: u32| {
        let runs = Arc::clone(&runs);
        move || {
            runs[i].fetch_add(1, Ordering::Relaxed);
            // Only the outermost frame (`d`) may be published: it is the
            // one with the most work behind it.
            assert!(
                i == 3 || thread::current().id() == owner_thread,
                "half {i} was stolen"
            );
            value
        }
    };
    let ((ab, c), d) = owner.join(
        || owner.join(|| owner.join(half(0, 1), half(1, 2)), half(2, 3)),
        half(3, 4),
    );
    assert_eq!((ab, c, d), ((1, 2), 3, 4));
    thief.join().unwrap();
    for (i, runs) in runs.iter().enumerate() {
        assert_eq!(runs.load(Ordering::Relaxed), 1, "half {i} ran once");
    }
    owner.published()
}

#[test]
fn a_requested_frame_is_published_outermost_first_and_run_once() {
    let published = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let seen = std::sync::Arc::clone(&published);
    loom::model(move || {
        let n = nested_joins_with_a_thief();
        // One request: at most one frame published.
        assert!(n <= 1, "{n} frames published for one request");
        seen.fetch_max(n, std::sync::atomic::Ordering::Relaxed);
    });
    // Some interleaving publishes (the request lands before a `join`).
    assert_eq!(published.load(std::sync::atomic::Ordering::Relaxed), 1);
}
