//! Lending a running task's slot of a concurrency limit to the queued task
//! that what it waits for is waiting for.
//!
//! A task of a limited scope holds a slot while it runs. While it waits
//! (for a scope it opened, the half of a `join` another worker stole, a
//! closure it `install`ed on another pool), its slot is idle; if what it
//! waits for waits in turn for a queued task of the same limit, that queued
//! task can only ever run on this slot. So the running task hosts a
//! [`LendHost`] on its stack, reachable from the contexts of everything
//! that runs on its behalf: whoever would wait for such a queued task
//! queues a request there and wakes the owner, and the owner, in its wait,
//! takes the queued task out of the limit's queue and runs it, one request
//! at a time, so that the slot is never lent twice. On the owner's own
//! thread (the task itself joins the queued one) no request is needed.
//!
//! This layer knows nothing of scopes: the scope layer gives the host a
//! function that takes a queued task out of its limit, and one that wakes
//! the owner.

use crate::job::JobRef;
use crate::sync::{AtomicBool, Mutex, Ordering};

/// The slot of a concurrency limit that a running task holds, on that
/// task's stack.
pub(crate) struct LendHost {
    /// The scope whose limit the slot belongs to.
    scope: *const (),
    /// Takes the queued task with the given tag out of `scope`'s limit
    /// queue, counting it as running (its lender is blocked).
    take: unsafe fn(*const (), usize) -> Option<JobRef>,
    /// Identifies the owner's thread (the address of its worker state).
    owner: usize,
    /// Wakes the owner: `wake(wake_data, owner_index)`.
    wake: unsafe fn(*const (), usize),
    wake_data: *const (),
    owner_index: usize,
    /// The host of an enclosing task (of another limited scope), if any.
    parent: *const LendHost,
    /// Set when `requests` may be non-empty; read by the owner under the
    /// sleep protocol's announcement.
    requested: AtomicBool,
    /// Tags of the queued tasks asked for.
    requests: Mutex<Vec<usize>>,
}

impl LendHost {
    /// A host for a task of `scope` running on the worker identified by
    /// `owner` (index `owner_index` in its pool), inside `parent`'s task.
    ///
    /// # Safety
    ///
    /// `take(scope, tag)` and `wake(wake_data, owner_index)` may be called
    /// from any thread for as long as the host lives.
    pub(crate) unsafe fn new(
        scope: *const (),
        take: unsafe fn(*const (), usize) -> Option<JobRef>,
        (owner, owner_index): (usize, usize),
        wake: unsafe fn(*const (), usize),
        wake_data: *const (),
        parent: *const LendHost,
    ) -> Self {
        Self {
            scope,
            take,
            owner,
            wake,
            wake_data,
            owner_index,
            parent,
            requested: AtomicBool::new(false),
            requests: Mutex::new(Vec::new()),
        }
    }

    /// The host, beginning at `host` and going outwards, whose slot is of
    /// `scope`'s limit.
    ///
    /// # Safety
    ///
    /// `host` is null or the host of the current context (alive, as are
    /// its parents: each task waits for what runs on its behalf).
    pub(crate) unsafe fn find<'a>(mut host: *const LendHost, scope: *const ()) -> Option<&'a Self> {
        // SAFETY: forwarded to the caller.
        while let Some(this) = unsafe { host.as_ref() } {
            if this.scope == scope {
                return Some(this);
            }
            host = this.parent;
        }
        None
    }

    /// Whether the thread identified by `id` holds this slot.
    pub(crate) fn is_owned_by(&self, id: usize) -> bool {
        self.owner == id
    }

    /// Takes the queued task tagged `tag` for the owner to run on its slot
    /// (the owner calls this itself when it is the one about to wait).
    pub(crate) fn take(&self, tag: usize) -> Option<JobRef> {
        // SAFETY: see `new`.
        unsafe { (self.take)(self.scope, tag) }
    }

    /// Asks the owner to run the queued task tagged `tag` on its slot.
    pub(crate) fn request(&self, tag: usize) {
        self.requests.lock().push(tag);
        self.requested.store(true, Ordering::Release);
        // SAFETY: see `new`.
        unsafe { (self.wake)(self.wake_data, self.owner_index) };
    }

    /// Takes back a request for the task tagged `tag`, once the requester
    /// no longer waits for it: after that the tag may name another task.
    pub(crate) fn withdraw(&self, tag: usize) {
        self.requests.lock().retain(|&t| t != tag);
    }

    /// Whether a request may be pending.
    pub(crate) fn is_requested(&self) -> bool {
        self.requested.load(Ordering::Acquire)
    }

    /// Owner side, while it waits: a requested task to run on the slot.
    pub(crate) fn next_lent(&self) -> Option<JobRef> {
        if !self.is_requested() {
            return None;
        }
        let mut requests = self.requests.lock();
        while let Some(tag) = requests.pop() {
            if let Some(job) = self.take(tag) {
                return Some(job);
            }
        }
        self.requested.store(false, Ordering::Relaxed);
        None
    }
}

impl std::fmt::Debug for LendHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LendHost")
            .field("owner_index", &self.owner_index)
            .field("requested", &self.is_requested())
            .finish_non_exhaustive()
    }
}
