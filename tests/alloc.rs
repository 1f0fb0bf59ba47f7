//! Heap allocations on the hot paths, counted by a global allocator.
//!
//! * `Scope::spawn` of a small closure: none once warmed up (a closure up
//!   to the slot size lives in a recycled job slot; see `src/slots.rs`),
//!   so well under 0.05 per spawn amortised.
//! * `join`: none (its second half is a stack job).
//! * `WaitGroup` add + done: none (one atomic word).
//!
//! The allocator counts only allocations made by a thread that has switched
//! counting on for itself (a thread-local flag), so the test harness and
//! other tests' threads cannot pollute a measurement; the tests also take a
//! lock so that only one of them counts at a time. Every measured region
//! runs entirely on the counting thread: the scope and join tests run on
//! the only worker of a one-thread pool, inside `pool.install`, where the
//! tasks are also executed.
//!
//! Run with `cargo test --test alloc -- --nocapture` to see the numbers.
#![cfg(not(loom))]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use taskgroup::{ThreadPool, WaitGroup};

/// `System`, counting the allocations (`alloc`, `alloc_zeroed`, `realloc`)
/// of threads whose `COUNTING` flag is set.
struct Counting;

static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Const-initialised and without a destructor: safe to touch from
    /// inside the allocator.
    static COUNTING: Cell<bool> = const { Cell::new(false) };
}

fn note_allocation() {
    // `try_with`: the allocator may run while this thread's locals are gone.
    if COUNTING.try_with(Cell::get).unwrap_or(false) {
        ALLOCATIONS.fetch_add(1, Ordering::Relaxed);
    }
}

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note_allocation();
        // SAFETY: forwarded.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: forwarded.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// One counting test at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The allocations made by the current thread while `f` runs, and `f`'s
/// value.
fn count_allocations<R>(f: impl FnOnce() -> R) -> (usize, R) {
    let before = ALLOCATIONS.load(Ordering::Relaxed);
    COUNTING.with(|c| c.set(true));
    let value = f();
    COUNTING.with(|c| c.set(false));
    (ALLOCATIONS.load(Ordering::Relaxed) - before, value)
}

fn one_thread_pool() -> ThreadPool {
    ThreadPool::builder().num_threads(1).build().unwrap()
}

const N: usize = 10_000;

#[test]
fn spawn_allocations_per_task() {
    let _serial = serial();
    let pool = one_thread_pool();
    let (allocations, per_spawn) = pool.install(|| {
        let run = || {
            let count = AtomicUsize::new(0);
            pool.scope(|s| {
                for _ in 0..N {
                    s.spawn(|_| {
                        count.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(count.into_inner(), N);
        };
        // Warm-up: grows the deque, fills thread-locals and the like.
        run();
        let (allocations, ()) = count_allocations(run);
        (allocations, allocations as f64 / N as f64)
    });
    println!("Scope::spawn: {allocations} allocations for {N} spawns = {per_spawn:.4} per spawn");
    // A task whose job fits a slot (up to 96 bytes) costs no allocation
    // once warm; what remains is crossbeam's deque growing and shrinking
    // around the burst of 10,000 queued tasks.
    assert!(
        per_spawn <= 0.05,
        "{per_spawn:.4} allocations per Scope::spawn ({allocations} for {N} spawns): \
         job slots are not being recycled"
    );
}

fn fib(n: u64) -> u64 {
    if n < 2 {
        return n;
    }
    let (a, b) = taskgroup::join(|| fib(n - 1), || fib(n - 2));
    a + b
}

#[test]
fn join_does_not_allocate() {
    let _serial = serial();
    let pool = one_thread_pool();
    let (allocations, sum) = pool.install(|| {
        let run = || {
            let mut sum = 0usize;
            for i in 0..N {
                let (a, b) = pool.join(|| black_box(i), || black_box(i + 1));
                sum += a + b;
            }
            // Nested joins too: fib(12) makes 232 of them.
            sum + fib(black_box(12)) as usize
        };
        run();
        count_allocations(run)
    });
    assert_eq!(sum, N * N + 144);
    println!("join: {allocations} allocations across {} joins", N + 232);
    assert_eq!(
        allocations,
        0,
        "join allocated {allocations} times across {} joins on a worker",
        N + 232
    );
}

#[test]
fn waitgroup_add_done_does_not_allocate() {
    let _serial = serial();
    let wg = Arc::new(WaitGroup::new());
    let run = || {
        for _ in 0..N {
            drop(black_box(wg.add()));
            black_box(wg.add()).done();
            let owned = black_box(wg.add_owned());
            owned.done();
        }
        assert_eq!(wg.count(), 0);
        // With nothing outstanding, wait returns at once.
        wg.wait();
    };
    run();
    let (allocations, ()) = count_allocations(run);
    println!(
        "WaitGroup: {allocations} allocations across {} add/done pairs",
        3 * N
    );
    assert_eq!(
        allocations,
        0,
        "WaitGroup add/done allocated {allocations} times across {} pairs",
        3 * N
    );
}
