//! The lazily built global pool behind the free functions.

use std::sync::OnceLock;

use crate::error::BuildError;
use crate::pool::registry::Registry;
use crate::pool::worker::WorkerThread;
use crate::ThreadPool;

static GLOBAL: OnceLock<ThreadPool> = OnceLock::new();

/// The global pool, built with the defaults on first use.
pub(crate) fn pool() -> &'static ThreadPool {
    GLOBAL.get_or_init(ThreadPool::new)
}

/// Installs `pool` as the global pool.
pub(crate) fn set(pool: ThreadPool) -> Result<(), BuildError> {
    GLOBAL
        .set(pool)
        .map_err(|_| BuildError::GlobalPoolAlreadyInitialized)
}

/// The registry of the pool the current thread works for, or the global
/// pool's when it works for none.
pub(crate) fn current_registry() -> &'static Registry {
    match WorkerThread::current() {
        Some(worker) => worker.registry(),
        None => &pool().registry,
    }
}
