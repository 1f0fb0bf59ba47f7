//! Unit tests of the packed state.
use super::*;
use std::sync::Arc;
use std::time::Duration;

#[test]
fn one_word_and_one_pointer() {
    assert_eq!(std::mem::size_of::<WaitGroup>(), 8);
    assert_eq!(
        std::mem::size_of::<WaitGuard<'_>>(),
        std::mem::size_of::<usize>()
    );
    assert_eq!(
        std::mem::size_of::<Option<WaitGuard<'_>>>(),
        std::mem::size_of::<usize>()
    );
    assert_eq!(
        std::mem::size_of::<OwnedWaitGuard>(),
        std::mem::size_of::<usize>()
    );
}

#[test]
fn guards_count_up_and_down() {
    let wg = WaitGroup::new();
    let a = wg.add();
    let b = wg.add();
    assert_eq!(wg.count(), 2);
    a.done();
    assert_eq!(wg.count(), 1);
    drop(b);
    assert_eq!(wg.count(), 0);
    assert_eq!(wg.state.load(Ordering::Relaxed), 0);
}

#[test]
fn debug_shows_count_and_waiters() {
    let wg = WaitGroup::new();
    let _g = wg.add();
    assert_eq!(format!("{wg:?}"), "WaitGroup { count: 1, waiters: 0 }");
}

/// A group whose count is `count`, as if that many guards were leaked.
fn with_count(count: u64) -> WaitGroup {
    WaitGroup {
        state: AtomicU64::new(count * ONE),
    }
}

#[test]
#[should_panic(expected = "at most u32::MAX guards")]
fn overflow_panics_and_names_the_rule() {
    let wg = with_count(u32::MAX as u64);
    let _ = wg.add();
}

#[test]
fn exactly_u32_max_guards_fit() {
    let wg = with_count(u32::MAX as u64 - 1);
    let last = wg.add();
    assert_eq!(wg.count(), u32::MAX as usize);
    assert!(!wg.wait_timeout(Duration::ZERO));
    drop(last);
    assert_eq!(wg.count(), u32::MAX as usize - 1);
}

#[test]
fn overflow_leaves_the_state_alone() {
    let wg = with_count(u32::MAX as u64);
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| drop(wg.add())));
    assert!(r.is_err());
    assert_eq!(wg.count(), u32::MAX as usize);
    assert_eq!(waiters(wg.state.load(Ordering::Relaxed)), 0);
}

#[test]
fn timed_out_waiter_leaves_the_count() {
    let wg = WaitGroup::new();
    let g = wg.add();
    assert!(!wg.wait_timeout(Duration::from_millis(5)));
    assert_eq!(waiters(wg.state.load(Ordering::Relaxed)), 0);
    drop(g);
    assert!(wg.wait_timeout(Duration::ZERO));
}

#[test]
fn release_clears_the_waiter_half() {
    let wg = Arc::new(WaitGroup::new());
    let g = wg.add_owned();
    let waiter = {
        let wg = Arc::clone(&wg);
        std::thread::spawn(move || wg.wait())
    };
    while waiters(wg.state.load(Ordering::Relaxed)) == 0 {
        std::thread::yield_now();
    }
    g.done();
    waiter.join().unwrap();
    assert_eq!(wg.state.load(Ordering::Relaxed), 0);
}

#[test]
fn huge_timeout_means_forever() {
    let wg = WaitGroup::new();
    assert!(wg.wait_timeout(Duration::MAX));
}

/// Silences the overflow panics these tests provoke by the thousand;
/// every other panic goes to the hook that was there before.
fn quiet_overflow_panics() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let text = info
                .payload()
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| info.payload().downcast_ref::<&str>().copied());
            if !text.is_some_and(|t| t.starts_with("WaitGroup overflow")) {
                previous(info);
            }
        }));
    });
}

#[test]
fn racing_adds_at_the_limit_all_panic_and_leave_the_count_alone() {
    // Two threads add to a group at the limit as fast as they can.
    // Every add must panic and leave the count at the limit: an add
    // that lands while the other is taking its unit back must not stand
    // (with a counter that wraps at the limit, it sees a plain zero).
    quiet_overflow_panics();
    const ADDS: usize = 50_000;
    let limit = u32::MAX as u64;
    let wg = with_count(limit);
    let stood = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|ts| {
        for _ in 0..2 {
            ts.spawn(|| {
                for _ in 0..ADDS {
                    if let Ok(guard) = std::panic::catch_unwind(|| wg.add()) {
                        // Its unit stays counted, for the check below.
                        std::mem::forget(guard);
                        stood.store(true, Ordering::SeqCst);
                    }
                    if stood.load(Ordering::SeqCst) {
                        break;
                    }
                }
            });
        }
    });
    let state = wg.state.load(Ordering::Relaxed);
    assert_eq!(
        (stood.into_inner(), counter(state), waiters(state)),
        (false, limit, 0),
        "an add at the limit stood, or the count moved"
    );
}
