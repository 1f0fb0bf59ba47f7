//! The thread's *context*: which scope's body or task is running here.
//!
//! Scopes read it to find their parent (cancellation reaches into scopes
//! opened inside a task); the pool reads one bit of it, to know whether a
//! waiting worker may run unrelated jobs (see
//! [`Context::in_handle_subtree`]), and serves the requests queued at its
//! [`LendHost`](crate::lend::LendHost) while it waits. It is a tagged pointer and a host pointer in
//! a thread-local, and this layer knows nothing of what the scope pointer
//! points to: the scope layer sets it and interprets it.
//!
//! Work done on behalf of a task elsewhere (`join`'s stolen half, an
//! `install`ed closure) carries the context along. Unrelated jobs that a
//! waiting worker picks up run with none.

use std::cell::Cell;

use crate::lend::LendHost;

/// Set when the code runs on behalf of a task that has a handle, or inside
/// a scope opened (at any depth) on behalf of one.
const HANDLE: usize = 1;

crate::sync::thread_local! {
    static CURRENT: Cell<Context> = const { Cell::new(Context::NONE) };
}

/// A scope's address with a tag bit, and the innermost task above
/// that holds a slot of a concurrency limit, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Context(*const (), *const LendHost);

// SAFETY: a context is only dereferenced (by the scope layer, as a parent,
// and to reach its host) by code that runs on behalf of the task it names,
// which waits for that code to finish.
unsafe impl Send for Context {}

impl Context {
    /// No scope: the context of a worker's main loop and of unrelated jobs.
    pub(crate) const NONE: Context = Context(std::ptr::null(), std::ptr::null());

    /// The context of `scope`'s body or of one of its tasks, under the
    /// lend host `host` (null for none).
    #[inline]
    pub(crate) fn new(scope: *const (), handle: bool, host: *const LendHost) -> Self {
        debug_assert_eq!(
            scope.addr() & HANDLE,
            0,
            "a scope must leave its low bit free"
        );
        Context(scope.map_addr(|addr| addr | usize::from(handle)), host)
    }

    /// The innermost task this code runs for (itself, or beneath) that
    /// holds a slot of a concurrency limit.
    #[inline]
    pub(crate) fn host(self) -> *const LendHost {
        self.1
    }

    /// The scope, without tags; null for [`NONE`](Self::NONE).
    #[inline]
    pub(crate) fn scope(self) -> *const () {
        self.0.map_addr(|addr| addr & !HANDLE)
    }

    /// Whether this code runs on behalf of a task with a handle. Anyone
    /// holding the handle may wait for that task, so a worker waiting here
    /// must not run unrelated jobs on top of it: one of them could be the
    /// holder, and would wait forever for a frame buried beneath it.
    #[inline]
    pub(crate) fn in_handle_subtree(self) -> bool {
        self.0.addr() & HANDLE != 0
    }
}

/// The current thread's context.
#[inline]
pub(crate) fn current() -> Context {
    CURRENT.with(Cell::get)
}

/// Runs `f` with `context` as the thread's context, restoring the previous
/// one afterwards, also if `f` unwinds.
#[inline]
pub(crate) fn with<R>(context: Context, f: impl FnOnce() -> R) -> R {
    struct Restore(Context);
    impl Drop for Restore {
        fn drop(&mut self) {
            CURRENT.with(|current| current.set(self.0));
        }
    }
    let _restore = Restore(CURRENT.with(|current| current.replace(context)));
    f()
}
