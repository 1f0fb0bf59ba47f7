//! The crate's errors.

use std::any::Any;

/// Why a [`ThreadPool`](crate::ThreadPool) could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// `num_threads(0)` was asked for: a pool needs at least one thread.
    #[error("a thread pool needs at least one thread, but num_threads(0) was given")]
    ZeroThreads,
    /// The operating system refused to start a worker thread (for example,
    /// because the requested stack size is too large).
    #[error("could not start worker thread {index}: {source}")]
    Spawn {
        /// The index of the worker that could not be started.
        index: usize,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The `thread_name` closure panicked for worker `index`.
    #[error("the thread_name closure panicked for worker {index}")]
    ThreadNamePanicked {
        /// The index of the worker being named.
        index: usize,
    },
    /// [`build_global`](crate::ThreadPoolBuilder::build_global) was called
    /// after the global pool already existed.
    #[error("the global thread pool is already initialized; build_global must come before its first use and only once")]
    GlobalPoolAlreadyInitialized,
}

/// The text of a panic payload, when it has one.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        s
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s
    } else {
        "Box<dyn Any>"
    }
}
