//! Model checks of task-handle completion (src/scope/handle.rs): the task
//! writes its value, then finishes; the joiner, a worker sleeping in the
//! pool's sleep protocol or a thread blocked on the group, must wake and read
//! the value the task wrote (loom reports the read as a race otherwise).
//!
//! Run with `RUSTFLAGS="--cfg loom -C debug-assertions" cargo test --release --test loom_handle`.
#![cfg(loom)]

use loom::sync::Arc;
use loom::thread;
use taskgroup::__loom::{result_channel, Sleep};

#[test]
fn worker_joiner_reads_the_value_written_before_finish() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(2));
        let (joiner, sender) = result_channel::<String>();
        let task = {
            let sleep = Arc::clone(&sleep);
            thread::spawn(move || sender.send("forty-two".to_owned(), &sleep))
        };
        assert_eq!(
            joiner.join_as_worker(0, &sleep).as_deref(),
            Some("forty-two")
        );
        task.join().unwrap();
    });
}

#[test]
fn blocking_joiner_reads_the_value_written_before_finish() {
    loom::model(|| {
        let sleep = Arc::new(Sleep::new(1));
        let (joiner, sender) = result_channel::<u64>();
        let task = {
            let sleep = Arc::clone(&sleep);
            thread::spawn(move || sender.send(42, &sleep))
        };
        assert_eq!(joiner.join_blocking(), Some(42));
        task.join().unwrap();
    });
}
