//! A worker's stack of `join` frames: the second halves of the `join`s
//! running on its thread, linked innermost to outermost through the frames
//! themselves, which live in the `join`s' stack frames.
//!
//! The outermost frames down to [`Frames::published`] have been pushed on
//! the worker's deque, where thieves may take them; the rest only this
//! thread knows about, so it may run them inline without any
//! synchronisation. Frames are published outermost first (they hold the
//! most work, and thieves steal from the far end of the deque), so the
//! published ones are always the outer part of the stack. See `join` for
//! when a frame is published.
//!
//! Pushing and popping a frame is a few loads and stores of this thread's
//! own cells; only publishing walks the stack, and it is rare.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr;

use crate::job::JobRef;
use crate::pool::sleep::Sleep;
use crate::sync::{AtomicBool, Ordering};

/// The part of a `join`'s second half that its worker's frame stack sees;
/// the first field of the job (`#[repr(C)]` there), so that its address is
/// the job's.
pub(crate) struct Frame {
    /// Runs the job around this frame, given the frame's address.
    execute: unsafe fn(*const ()),
    /// The next frame out, on the same thread.
    prev: Cell<*const Frame>,
    /// Set by the thief once the job has run; the owner may free the frame
    /// as soon as it sees it.
    done: AtomicBool,
    /// Whom the thief wakes: the owner's pool's sleep state and index,
    /// written when the frame is published (before any thief can see it).
    owner: Cell<MaybeUninit<(*const Sleep, usize)>>,
}

impl Frame {
    /// A frame for the job whose `execute` runs it, given the frame's
    /// (that is, the job's) address.
    #[inline]
    pub(crate) fn new(execute: unsafe fn(*const ())) -> Self {
        Self {
            execute,
            prev: Cell::new(ptr::null()),
            done: AtomicBool::new(false),
            // Not written before it is needed: every store counts here.
            owner: Cell::new(MaybeUninit::uninit()),
        }
    }

    /// The job, as the deque holds it.
    pub(crate) fn job_ref(&self) -> JobRef {
        // SAFETY: the job around the frame stays alive until it is popped
        // back or completed (the contract of `Frames::push`).
        unsafe { JobRef::new(self as *const Frame as *const (), self.execute) }
    }

    /// Whether a thief has run the job.
    #[inline]
    pub(crate) fn is_done(&self) -> bool {
        self.done.load(Ordering::Acquire)
    }

    /// Tells the owner that its job has run.
    ///
    /// # Safety
    ///
    /// `this` is valid on entry and the job's result is written. The owner
    /// may free the frame as soon as `done` is set.
    pub(crate) unsafe fn complete(this: *const Frame) {
        // SAFETY: `this` is valid until `done` is set: read what we need
        // first. The pool (and its sleep state) outlives its jobs.
        // `owner` was written when the frame was published, before the
        // thief could take it.
        let (sleep, owner) = unsafe { (*this).owner.get().assume_init() };
        // SAFETY: as above; this store is our last access to the frame.
        unsafe { (*this).done.store(true, Ordering::Release) };
        // SAFETY: the frame was published by a worker of a pool that is
        // still running the job that waits for this frame.
        unsafe { (*sleep).notify_worker(owner) };
    }

    /// Records whom the thief must wake, before the frame is handed over.
    /// Used directly by models of the hand-off; workers publish through
    /// [`Frames::publish_oldest`].
    pub(crate) fn set_owner(&self, sleep: &Sleep, index: usize) {
        self.owner.set(MaybeUninit::new((sleep, index)));
    }
}

#[derive(Debug)]
pub(crate) struct Frames {
    /// The innermost frame, or null.
    top: Cell<*const Frame>,
    /// The innermost published frame, or null: it and the frames out from
    /// it are published.
    published: Cell<*const Frame>,
    /// The innermost frame when the job now running started: the frames
    /// beneath it belong to the jobs beneath that job.
    base: Cell<*const Frame>,
}

impl Frames {
    pub(crate) fn new() -> Self {
        Self {
            top: Cell::new(ptr::null()),
            published: Cell::new(ptr::null()),
            base: Cell::new(ptr::null()),
        }
    }

    /// Pushes `frame` as the innermost frame. Returns whether it is one of
    /// the two outermost frames of the running job.
    ///
    /// # Safety
    ///
    /// `frame` (and the job around it) stays where it is until it has been
    /// popped with [`pop`](Self::pop), and nothing unwinds between the two.
    #[inline]
    pub(crate) unsafe fn push(&self, frame: &Frame) -> bool {
        // No counter: the depth is read off the links, so that a push and
        // a pop update one cell, not two (each update is a store that the
        // next `join` must load back, on the critical path of a recursion).
        let prev = self.top.replace(frame);
        frame.prev.set(prev);
        let base = self.base.get();
        // SAFETY: `prev` is not the base, so it is a live frame of this job.
        ptr::eq(prev, base) || ptr::eq(unsafe { (*prev).prev.get() }, base)
    }

    /// Removes the innermost frame, which is `frame`. Returns whether it had
    /// been published: if not, nobody else can run it.
    #[inline]
    pub(crate) fn pop(&self, frame: &Frame) -> bool {
        debug_assert!(ptr::eq(self.top.get(), frame), "join frames out of order");
        let prev = frame.prev.get();
        self.top.set(prev);
        if ptr::eq(self.published.get(), frame) {
            self.published.set(prev);
            true
        } else {
            false
        }
    }

    /// The outermost unpublished frame, now counted as published and told
    /// whom to wake: the caller pushes it on the deque.
    pub(crate) fn publish_oldest(&self, sleep: &Sleep, index: usize) -> Option<JobRef> {
        let published = self.published.get();
        let mut frame = self.top.get();
        if ptr::eq(frame, published) {
            return None;
        }
        // SAFETY: every frame on the stack is alive (the contract of
        // `push`), and the walk from the top reaches `published` (or the
        // end, null) through unpublished frames only.
        let frame = unsafe {
            while !ptr::eq((*frame).prev.get(), published) {
                frame = (*frame).prev.get();
            }
            &*frame
        };
        Some(self.mark_published(frame, sleep, index))
    }

    /// Counts `frame`, the outermost unpublished one, as published and
    /// tells it whom to wake. Returns the job for the caller to push.
    fn mark_published(&self, frame: &Frame, sleep: &Sleep, index: usize) -> JobRef {
        frame.set_owner(sleep, index);
        self.published.set(frame);
        frame.job_ref()
    }

    /// Marks the start of a job taken out of a deque: the frames it pushes
    /// are its own. Returns what [`end_job`](Self::end_job) restores.
    #[inline]
    pub(super) fn start_job(&self) -> *const Frame {
        self.base.replace(self.top.get())
    }

    #[inline]
    pub(super) fn end_job(&self, saved: *const Frame) {
        self.base.set(saved);
    }

    /// Publishes every unpublished frame, outermost first: `push` receives
    /// them in that order.
    pub(super) fn publish_all(&self, sleep: &Sleep, index: usize, mut push: impl FnMut(JobRef)) {
        let published = self.published.get();
        let mut unpublished = Vec::new();
        let mut frame = self.top.get();
        while !ptr::eq(frame, published) {
            unpublished.push(frame);
            // SAFETY: as in `publish_oldest`.
            frame = unsafe { (*frame).prev.get() };
        }
        for &frame in unpublished.iter().rev() {
            // SAFETY: as in `publish_oldest`.
            push(self.mark_published(unsafe { &*frame }, sleep, index));
        }
    }
}
