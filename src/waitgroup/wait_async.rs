//! [`WaitGroup::wait_async`]: waiting for the count to reach zero from
//! async code, without blocking the thread that polls.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use super::waitlist::{self, Waiter};
use super::{counter, WaitGroup};
use crate::sync::Ordering;

impl WaitGroup {
    /// A future that resolves once the count is zero: the async form of
    /// [`wait`](WaitGroup::wait). It never blocks the thread that polls it.
    ///
    /// It is cancel-safe: dropped before it resolves, it is no longer a
    /// waiter. A release by zero wakes it and every waiting thread alike, and
    /// it resolves even if the group is re-armed at once. The group stays
    /// one word: a waiting future takes a small entry beside it.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskgroup::WaitGroup;
    ///
    /// let wg = Arc::new(WaitGroup::new());
    /// let guard = wg.add_owned();
    /// std::thread::spawn(move || drop(guard)); // done on another thread
    /// // Any executor will do; this one just polls on the current thread.
    /// futures::executor::block_on(wg.wait_async());
    /// assert_eq!(wg.count(), 0);
    /// ```
    pub fn wait_async(&self) -> WaitAsync<'_> {
        WaitAsync {
            wg: self,
            waiter: None,
            finished: false,
        }
    }
}

/// The future of [`WaitGroup::wait_async`].
#[must_use = "futures do nothing unless awaited"]
#[derive(Debug)]
pub struct WaitAsync<'a> {
    wg: &'a WaitGroup,
    /// Registered on the first poll that found the count not zero.
    waiter: Option<Arc<Waiter>>,
    finished: bool,
}

impl Future for WaitAsync<'_> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if self.finished {
            return Poll::Ready(());
        }
        match &self.waiter {
            Some(waiter) => {
                if !waiter.is_released() {
                    waiter.set_waker(cx.waker());
                    // A release between the check and the new waker woke
                    // the old one: look again.
                    if !waiter.is_released() {
                        return Poll::Pending;
                    }
                }
            }
            None => {
                if counter(self.wg.state().load(Ordering::Acquire)) != 0 {
                    if let Some(waiter) = waitlist::register(self.wg, cx.waker().clone()) {
                        self.waiter = Some(waiter);
                        return Poll::Pending;
                    }
                }
            }
        }
        self.waiter = None;
        self.finished = true;
        Poll::Ready(())
    }
}

impl Drop for WaitAsync<'_> {
    fn drop(&mut self) {
        if let Some(waiter) = self.waiter.take() {
            if !waiter.is_released() {
                waitlist::deregister(self.wg, &waiter);
            }
        }
    }
}
