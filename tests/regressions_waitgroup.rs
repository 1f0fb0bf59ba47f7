//! Regressions of the waitgroup's limit on outstanding guards, through the
//! public API only.
//!
//! The check that runs in CI is elsewhere: the loom models
//! `racing_adds_*` and `an_add_past_the_limit_*` in tests/loom_waitgroup.rs
//! (where the limit is 2), and the unit test
//! `racing_adds_at_the_limit_all_panic_and_leave_the_count_alone` in
//! src/waitgroup/tests.rs (which starts a group at the limit without leaking).
#![cfg(not(loom))]

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use taskgroup::WaitGroup;

#[test]
#[ignore = "leaks u32::MAX guards first: ~35 s in release, far longer in debug"]
fn racing_adds_at_u32_max_guards_all_panic_and_the_count_holds() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let overflow = info
            .payload()
            .downcast_ref::<&str>()
            .is_some_and(|t| t.starts_with("WaitGroup overflow"));
        if !overflow {
            previous(info);
        }
    }));

    let wg = WaitGroup::new();
    for _ in 0..u32::MAX {
        std::mem::forget(wg.add());
    }
    assert_eq!(wg.count(), u32::MAX as usize);

    // Two threads add as fast as they can; every add must panic, also one
    // that lands while the other is taking its increment back.
    const ADDS: usize = 100_000;
    let panicked = AtomicUsize::new(0);
    std::thread::scope(|ts| {
        for _ in 0..2 {
            ts.spawn(|| {
                for _ in 0..ADDS {
                    match catch_unwind(AssertUnwindSafe(|| wg.add())) {
                        Err(_) => {
                            panicked.fetch_add(1, Ordering::Relaxed);
                        }
                        Ok(guard) => {
                            std::mem::forget(guard);
                            panic!("an add at u32::MAX outstanding guards stood");
                        }
                    }
                    // A guard is outstanding: the group must not read empty.
                    assert!(!wg.wait_timeout(Duration::ZERO));
                }
            });
        }
    });
    assert_eq!(panicked.into_inner(), 2 * ADDS);
    assert_eq!(wg.count(), u32::MAX as usize);
    assert!(!wg.wait_timeout(Duration::ZERO));
}
