//! Model checks of cancellation (src/scope/cancel.rs): `cancel` racing a
//! task's start check, in the scope itself and in a scope opened inside one
//! of its tasks. Whatever the interleaving, a start check that happens after
//! `cancel` returned sees it, and a task that passed its check before that is
//! the only kind that runs.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_cancel`.
#![cfg(loom)]

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::Cancellation;

#[test]
fn cancel_races_task_start_in_a_child_scope() {
    loom::model(|| {
        let parent = Arc::new(Cancellation::root());
        // SAFETY: `parent` is kept alive by the Arc until after the child.
        let child = Arc::new(unsafe { Cancellation::child_of(&parent) });
        let cancelled = Arc::new(AtomicBool::new(false));
        let canceller = {
            let (parent, cancelled) = (Arc::clone(&parent), Arc::clone(&cancelled));
            thread::spawn(move || {
                parent.cancel();
                cancelled.store(true, Ordering::Release);
            })
        };
        let starter = {
            let (child, cancelled) = (Arc::clone(&child), Arc::clone(&cancelled));
            thread::spawn(move || {
                // A check made after the canceller finished must see it.
                let after = cancelled.load(Ordering::Acquire);
                let skipped = child.is_cancelled();
                assert!(
                    !after || skipped,
                    "a task started after its scope was cancelled"
                );
            })
        };
        canceller.join().unwrap();
        starter.join().unwrap();
        assert!(child.is_cancelled() && parent.is_cancelled());
        drop(child);
    });
}

#[test]
fn cancelling_a_child_leaves_the_parent_alone() {
    loom::model(|| {
        let parent = Arc::new(Cancellation::root());
        // SAFETY: as above.
        let child = Arc::new(unsafe { Cancellation::child_of(&parent) });
        let t = {
            let child = Arc::clone(&child);
            thread::spawn(move || child.cancel())
        };
        let _ = parent.is_cancelled();
        t.join().unwrap();
        assert!(child.is_cancelled());
        assert!(!parent.is_cancelled());
        drop(child);
    });
}
