//! `TASKGROUP_NUM_THREADS`: it sizes `ThreadPool::new()`, a builder without
//! `num_threads`, and the global pool; an explicit `num_threads` wins; a
//! value that is not a positive integer is an error naming the variable and
//! the value.
//!
//! The environment is process-wide and the global pool is built once per
//! process, so this binary holds a single test that goes through every case
//! in order.
#![cfg(not(loom))]

mod common;

use common::{expect_panic, payload_str, watchdog};
use taskgroup::{BuildError, ThreadPool};

const VAR: &str = "TASKGROUP_NUM_THREADS";

fn message_for(value: &str) -> String {
    format!("TASKGROUP_NUM_THREADS must be a positive integer, got {value:?}")
}

#[track_caller]
fn assert_invalid(err: BuildError, value: &str) {
    assert_eq!(err.to_string(), message_for(value));
    match err {
        BuildError::InvalidEnv {
            variable,
            value: got,
        } => {
            assert_eq!(variable, VAR);
            assert_eq!(got, value);
        }
        other => panic!("expected InvalidEnv, got {other:?}"),
    }
}

#[test]
fn taskgroup_num_threads_sizes_default_pools_and_is_validated() {
    watchdog(60, || {
        // The global pool does not exist yet: its first use reads the
        // variable too, and a bad value is a panic that names it.
        std::env::set_var(VAR, "abc");
        let payload = expect_panic(taskgroup::current_num_threads);
        let text = payload_str(&*payload).expect("a message");
        assert!(text.contains(&message_for("abc")), "{text}");
        let payload = expect_panic(|| taskgroup::scope(|_| ()));
        let text = payload_str(&*payload).expect("a message");
        assert!(text.contains(&message_for("abc")), "{text}");

        for bad in ["", "0", "-1", "abc", "4 ", " 4", "+4", "2.5"] {
            std::env::set_var(VAR, bad);
            assert_invalid(ThreadPool::builder().build().unwrap_err(), bad);
            let payload = expect_panic(ThreadPool::new);
            let text = payload_str(&*payload).expect("a message");
            assert!(text.contains(&message_for(bad)), "{bad:?}: {text}");
            // An explicit size does not read the variable at all.
            let pool = ThreadPool::builder().num_threads(2).build().unwrap();
            assert_eq!(pool.num_threads(), 2);
        }
        #[cfg(unix)]
        {
            use std::os::unix::ffi::OsStrExt;
            std::env::set_var(VAR, std::ffi::OsStr::from_bytes(b"3\xff"));
            assert_invalid(ThreadPool::builder().build().unwrap_err(), "3\u{fffd}");
        }

        std::env::set_var(VAR, "3");
        assert_eq!(ThreadPool::new().num_threads(), 3);
        assert_eq!(ThreadPool::builder().build().unwrap().num_threads(), 3);
        let pool = ThreadPool::builder().num_threads(5).build().unwrap();
        assert_eq!(pool.num_threads(), 5, "an explicit num_threads wins");
        assert_eq!(pool.install(taskgroup::current_num_threads), 5);
        // The global pool is built now, with 3 threads, and stays so.
        assert_eq!(taskgroup::current_num_threads(), 3);
        let on_global = taskgroup::scope(|s| {
            let h = s.spawn_handle(|_| taskgroup::current_num_threads());
            h.join().unwrap()
        });
        assert_eq!(on_global, 3);
        std::env::set_var(VAR, "7");
        assert_eq!(taskgroup::current_num_threads(), 3);
        assert_eq!(ThreadPool::new().num_threads(), 7);

        std::env::remove_var(VAR);
        assert_eq!(ThreadPool::new().num_threads(), num_cpus::get());
    });
}
