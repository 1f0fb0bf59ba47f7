//! Job slots: recycled memory for small heap jobs, so that a `spawn` costs
//! no allocation once a program has warmed up.
//!
//! A slot is a fixed-size, 16-aligned block. Each thread keeps free slots
//! in lists linked through the slots themselves; a job takes a slot where it
//! is spawned and gives it back where it runs, often another thread. Slots
//! therefore drift from spawning threads to running ones: a thread keeps at
//! most two batches, passes full batches to a shared depot, and takes a
//! batch from there before it falls back to the allocator. In a steady state
//! a spawn allocates nothing; memory held is bounded by the depot's cap
//! (`DEPOT_CAP` batches of `BATCH` slots) plus two batches per thread.

use std::alloc::{self, Layout};
use std::cell::Cell;
use std::mem::MaybeUninit;
use std::ptr::{self, NonNull};

/// Bytes a job may take to live in a slot.
pub(crate) const SLOT_SIZE: usize = 96;
/// Alignment a job may need to live in a slot.
pub(crate) const SLOT_ALIGN: usize = 16;
/// Slots moved to or from the depot at once.
const BATCH: usize = 64;
/// Batches the depot keeps; beyond that, slots go back to the allocator.
const DEPOT_CAP: usize = 256;

#[repr(C, align(16))]
union Slot {
    /// While free: the next free slot of its list.
    next: *mut Slot,
    _job: MaybeUninit<[u8; SLOT_SIZE]>,
}

const _: () = assert!(std::mem::align_of::<Slot>() == SLOT_ALIGN);

/// A list of free slots, linked through the slots themselves, so moving
/// slots around never allocates.
#[derive(Clone, Copy)]
struct List {
    head: *mut Slot,
    len: usize,
}

// SAFETY: free slots are plain memory owned by whoever holds the list.
unsafe impl Send for List {}

impl List {
    const EMPTY: List = List {
        head: ptr::null_mut(),
        len: 0,
    };

    /// # Safety
    ///
    /// `slot` is free and owned by the caller.
    unsafe fn push(&mut self, slot: *mut Slot) {
        // SAFETY: forwarded; a free slot's memory is ours to write.
        unsafe { (*slot).next = self.head };
        self.head = slot;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<*mut Slot> {
        if self.head.is_null() {
            return None;
        }
        let slot = self.head;
        // SAFETY: slots in a list are free, and their `next` was written
        // when they were pushed.
        self.head = unsafe { (*slot).next };
        self.len -= 1;
        Some(slot)
    }

    /// Frees every slot.
    fn deallocate_all(mut self) {
        while let Some(slot) = self.pop() {
            // SAFETY: free slots, allocated by `allocate`.
            unsafe { alloc::dealloc(slot.cast(), Layout::new::<Slot>()) };
        }
    }
}

/// Full batches shared by all threads.
static DEPOT: parking_lot::Mutex<Vec<List>> = parking_lot::Mutex::new(Vec::new());

/// A thread's free slots: a list being filled or emptied, and one full
/// batch in reserve, so that a thread that alternates between taking and
/// giving back does not go to the depot.
struct Local {
    current: Cell<List>,
    spare: Cell<List>,
}

impl Drop for Local {
    fn drop(&mut self) {
        // The thread is exiting: hand its slots to the others.
        give_to_depot(self.current.get());
        give_to_depot(self.spare.get());
    }
}

crate::sync::thread_local! {
    static LOCAL: Local = const {
        Local {
            current: Cell::new(List::EMPTY),
            spare: Cell::new(List::EMPTY),
        }
    };
}

/// Whether a value of type `T` fits in a slot.
pub(crate) const fn fits<T>() -> bool {
    std::mem::size_of::<T>() <= SLOT_SIZE && std::mem::align_of::<T>() <= SLOT_ALIGN
}

/// Takes a free slot: from this thread's lists, else a batch from the depot,
/// else the allocator.
#[inline]
pub(crate) fn take() -> NonNull<u8> {
    let slot = LOCAL
        .try_with(|local| {
            let mut current = local.current.get();
            if current.len == 0 {
                current = match local.spare.replace(List::EMPTY) {
                    spare if spare.len != 0 => spare,
                    _ => DEPOT.lock().pop().unwrap_or(List::EMPTY),
                };
            }
            let slot = current.pop();
            local.current.set(current);
            slot
        })
        .ok()
        .flatten();
    match slot.and_then(|slot| NonNull::new(slot.cast::<u8>())) {
        Some(slot) => slot,
        // None free, or the thread is tearing down its locals.
        None => allocate(),
    }
}

/// Returns a slot taken with [`take`], whose value has been moved out.
///
/// # Safety
///
/// `slot` came from [`take`] and is not used again.
#[inline]
pub(crate) unsafe fn give_back(slot: NonNull<u8>) {
    let slot = slot.as_ptr().cast::<Slot>();
    let kept = LOCAL.try_with(|local| {
        let mut current = local.current.get();
        // SAFETY: the caller hands the slot over.
        unsafe { current.push(slot) };
        if current.len == BATCH {
            give_to_depot(local.spare.replace(current));
            current = List::EMPTY;
        }
        local.current.set(current);
    });
    if kept.is_err() {
        // The thread is tearing down its locals.
        // SAFETY: the slot is free and ours.
        unsafe { alloc::dealloc(slot.cast(), Layout::new::<Slot>()) };
    }
}

/// Puts a batch in the depot, or frees it if the depot is full.
fn give_to_depot(batch: List) {
    if batch.len == 0 {
        return;
    }
    let mut depot = DEPOT.lock();
    if depot.len() < DEPOT_CAP {
        depot.push(batch);
    } else {
        drop(depot);
        batch.deallocate_all();
    }
}

fn allocate() -> NonNull<u8> {
    let layout = Layout::new::<Slot>();
    // SAFETY: `Slot` has a non-zero size.
    let raw = unsafe { alloc::alloc(layout) };
    match NonNull::new(raw) {
        Some(slot) => slot,
        None => alloc::handle_alloc_error(layout),
    }
}
