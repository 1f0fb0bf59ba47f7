//! The async handle's hand-off (src/async_handle/state.rs), for the models.

// ---------------------------------------------------------------------------
// Awaitable spawns: the state an `AsyncHandle` and its job share
// (src/async_handle/state.rs), for tests/loom_async.rs.
// ---------------------------------------------------------------------------

/// A new async handle state: the job's side and the handle's side.
pub fn async_channel<T>() -> (AsyncSender<T>, AsyncReceiver<T>) {
    let (sender, receiver) = crate::async_handle::state::channel(crate::error::TaskOrigin::new(
        std::panic::Location::caller(),
        None,
    ));
    (AsyncSender(sender), AsyncReceiver(receiver))
}

/// The job's side of [`async_channel`].
#[derive(Debug)]
pub struct AsyncSender<T>(crate::async_handle::state::Sender<T>);

impl<T> AsyncSender<T> {
    /// Claims the task: false if a cancel came first.
    pub fn start(&self) -> bool {
        self.0.start()
    }

    /// Completes with `outcome`; returns it if the receiver detached first.
    pub fn complete(
        self,
        outcome: Result<T, Box<dyn std::any::Any + Send>>,
    ) -> Option<Result<T, Box<dyn std::any::Any + Send>>> {
        self.0.complete(outcome)
    }
}

/// The handle's side of [`async_channel`].
#[derive(Debug)]
pub struct AsyncReceiver<T>(crate::async_handle::state::Receiver<T>);

impl<T> AsyncReceiver<T> {
    /// Polls with `waker`, as `AsyncHandle::poll` does.
    pub fn poll_with(
        &mut self,
        waker: &std::task::Waker,
    ) -> std::task::Poll<Result<T, crate::JoinError>> {
        self.0.poll(waker)
    }

    /// See `AsyncHandle::cancel`; returns whether the task was cancelled.
    pub fn cancel(&self) -> bool {
        self.0.state.cancel()
    }

    /// A canceller that another thread may use while this side is polled.
    pub fn canceller(&self) -> AsyncCanceller<T> {
        AsyncCanceller(crate::sync::Arc::clone(&self.0.state))
    }

    /// See `AsyncHandle::is_finished`.
    pub fn is_finished(&self) -> bool {
        self.0.is_finished()
    }

    /// Detaches, as dropping an `AsyncHandle` does; returns the outcome if
    /// it was decided and unread.
    pub fn detach(mut self) -> Option<Result<T, Box<dyn std::any::Any + Send>>> {
        self.0.detach()
    }
}

impl<T> std::future::Future for AsyncReceiver<T> {
    type Output = Result<T, crate::JoinError>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.get_mut().0.poll(cx.waker())
    }
}

/// Cancels the task of an [`AsyncReceiver`] from another thread.
#[derive(Debug)]
pub struct AsyncCanceller<T>(crate::sync::Arc<crate::async_handle::state::State<T>>);

impl<T> AsyncCanceller<T> {
    /// See `AsyncHandle::cancel`; returns whether the task was cancelled.
    pub fn cancel(&self) -> bool {
        self.0.cancel()
    }
}
