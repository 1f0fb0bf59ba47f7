//! Regression tests for bugs found by peers' test suites and adversarial
//! reviews (issue 11). Each test failed before its fix.

mod common;

use std::panic::panic_any;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::sleep;
use std::time::Duration;

use common::{assert_str_payload, expect_panic, pool, quiet_expected_panics, watchdog};

/// A panic payload whose `Drop` panics, counting its drops.
struct Bomb(&'static AtomicUsize);

impl Drop for Bomb {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
        panic!("boom: a payload's drop");
    }
}

#[test]
fn join_survives_a_stolen_second_half_whose_payload_panics_on_drop() {
    quiet_expected_panics();
    static DROPS: AtomicUsize = AtomicUsize::new(0);
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.install(|| {
                let here = taskgroup::current_thread_index();
                taskgroup::join(
                    || {
                        sleep(Duration::from_millis(100));
                        panic!("boom: left")
                    },
                    move || {
                        // Outermost joins publish their second half at once:
                        // the idle worker takes it.
                        assert_ne!(taskgroup::current_thread_index(), here);
                        panic_any(Bomb(&DROPS))
                    },
                )
            })
        });
        assert_str_payload(&*payload, "boom: left");
        assert_eq!(
            DROPS.load(Ordering::SeqCst),
            1,
            "the right payload was dropped once"
        );
    });
}

#[test]
fn an_unjoined_handle_panic_beats_a_later_task_panic() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let _ = s.spawn_handle(|_| -> () { panic!("boom: first") });
                s.spawn(|_| {
                    sleep(Duration::from_millis(100));
                    panic!("boom: second")
                });
            })
        });
        assert_str_payload(&*payload, "boom: first");
    });
}

#[test]
fn an_unjoined_handle_panic_beats_a_later_body_panic() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let h = s.spawn_handle(|_| -> () { panic!("boom: first") });
                while !h.is_finished() {
                    std::thread::yield_now();
                }
                panic!("boom: body")
            })
        });
        assert_str_payload(&*payload, "boom: first");
    });
}

#[test]
fn a_joined_handle_panic_leaves_the_next_panic_in_time() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope(|s| {
                let first = s.spawn_handle(|_| -> () { panic!("boom: first") });
                let second = s.spawn_handle(|_| -> () {
                    sleep(Duration::from_millis(50));
                    panic!("boom: second")
                });
                s.spawn(|_| {
                    sleep(Duration::from_millis(150));
                    panic!("boom: third")
                });
                assert!(first.join().unwrap_err().is_panic());
                drop(second);
            })
        });
        assert_str_payload(&*payload, "boom: second");
    });
}
