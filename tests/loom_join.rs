//! Model check of `join`'s stack job (src/join.rs, src/job.rs): the owner
//! offers the second half as a job in its own frame, a thief runs it and
//! sets its flag, and the owner, asleep in the pool's sleep protocol, wakes,
//! reads the result and returns (freeing the frame). Loom reports a lost
//! wake-up as a deadlock, and a result read or a flag access not ordered
//! with the thief's writes as a race.
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_join`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::{join_handoff, Sleep};

#[test]
fn stolen_half_completes_and_wakes_the_owner() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let mut thief = None;
        let value = join_handoff(
            || String::from("stolen"),
            0,
            &sleep,
            |job| thief = Some(thread::spawn(move || job.run())),
        );
        assert_eq!(value, "stolen");
        thief.unwrap().join().unwrap();
    });
}

#[test]
fn a_panic_in_the_stolen_half_reaches_the_owner() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let mut thief = None;
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            join_handoff(
                || -> u32 { std::panic::panic_any(7u32) },
                0,
                &sleep,
                |job| thief = Some(thread::spawn(move || job.run())),
            )
        }));
        assert_eq!(result.unwrap_err().downcast_ref::<u32>(), Some(&7));
        thief.unwrap().join().unwrap();
    });
}
