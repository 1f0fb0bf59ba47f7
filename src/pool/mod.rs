//! The scheduler: a fixed set of worker threads that steal work from each
//! other (the registry, the workers and their waits, the sleep protocol,
//! `join`'s frames), and what the pool offers beside scopes (detached
//! spawns, broadcast, yielding). It knows nothing of scopes: the
//! [`ThreadPool`](crate::ThreadPool) façade above puts the two together.

pub(crate) mod broadcast;
pub(crate) mod builder;
pub(crate) mod frames;
pub(crate) mod metrics;
pub(crate) mod registry;
pub(crate) mod sleep;
pub(crate) mod wait;
pub(crate) mod worker;
pub(crate) mod yield_now;

use crate::job::{catch, HeapJob};
use registry::Registry;
use worker::WorkerThread;

/// Queues a detached task on `registry`; a panic in it is reported with
/// the caller's location.
#[track_caller]
pub(crate) fn spawn_detached<F>(registry: &Registry, f: F)
where
    F: FnOnce() + Send + 'static,
{
    let spawned_at = std::panic::Location::caller();
    let task = move || {
        crate::spare::give_back();
        if let Err(payload) = catch(f) {
            let worker = WorkerThread::current().expect("a detached task ran outside its pool");
            worker.registry().handle_panic(payload, spawned_at);
        }
    };
    // SAFETY: the task is `'static`.
    let job = unsafe { HeapJob::into_job_ref(task) };
    registry.push(job);
}
