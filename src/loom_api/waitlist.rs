//! The WaitGroup's waiters that are not parked threads, for the models.

use super::Sleep;
use crate::pool::sleep;

/// Waits on `wg` as pool worker `index` of `sleep` does: registered with a
/// waker that notifies the worker, sleeping (targeted) until released.
pub fn wait_as_worker(wg: &crate::WaitGroup, index: usize, sleep: &Sleep) {
    struct SleepWake(*const sleep::Sleep, usize);
    // SAFETY: the models keep the sleep state alive until every thread
    // that may wake it has been joined.
    unsafe impl Send for SleepWake {}
    // SAFETY: as above; `notify_worker` takes `&self`.
    unsafe impl Sync for SleepWake {}
    impl std::task::Wake for SleepWake {
        fn wake(self: std::sync::Arc<Self>) {
            // SAFETY: see the `Send` impl.
            unsafe { (*self.0).notify_worker(self.1) }
        }
    }
    let waker = std::task::Waker::from(std::sync::Arc::new(SleepWake(&sleep.0, index)));
    let released = wg.wait_registered(waker, |released| {
        while !released() {
            sleep
                .0
                .sleep_until(index, sleep::Sleeper::Targeted, None, released);
        }
        true
    });
    assert!(released);
}
