//! The Go `sync.WaitGroup` article this crate grew from, translated.
//!
//! ```sh
//! cargo run --release --example go_waitgroup          # 100,000 tasks in part 6
//! cargo run --release --example go_waitgroup -- 1000  # a small input (CI)
//! ```
//!
//! Each function below takes one example or piece of advice from the article
//! (`shared/seed/` in the project; the book's WaitGroup chapter summarises
//! it), shows the Go code in a comment, and then does the same with
//! taskgroup. Where Go fails at run time, the comment shows the Go failure
//! and the Rust code shows why the same mistake cannot be written, or is
//! made explicit. Code that does not compile, by design, is in comments with
//! the compiler's error.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use taskgroup::{DeadlineExceeded, ThreadPool, WaitGroup, WaitGuard};

/// Article §3: Add before starting the work, Done when it ends, Wait for
/// zero.
fn basic() {
    // Go:
    //
    //     var wg sync.WaitGroup
    //     for i := 0; i < 4; i++ {
    //         wg.Add(1)
    //         go func(i int) {
    //             defer wg.Done()
    //             results[i] = i * i
    //         }(i)
    //     }
    //     wg.Wait()
    //
    // taskgroup: `add` returns a guard; dropping it is the `Done`.
    let wg = WaitGroup::new();
    let mut results = [0usize; 4];
    std::thread::scope(|ts| {
        for (i, slot) in results.iter_mut().enumerate() {
            let guard = wg.add(); // wg.Add(1)
            ts.spawn(move || {
                let _done = guard; // defer wg.Done()
                *slot = i * i;
            });
        }
        wg.wait(); // wg.Wait()
    });
    assert_eq!(results, [0, 1, 4, 9]);
    println!("1. basic Add/Done/Wait: results {results:?}");
}

/// Article §4.1: a counter that goes negative.
fn negative_counter() {
    // Go:
    //
    //     var wg sync.WaitGroup
    //     wg.Add(1)
    //     wg.Done()
    //     wg.Done() // panic: sync: negative WaitGroup counter
    //
    // taskgroup: each add yields exactly one guard and `done` consumes it,
    // so a second done does not compile:
    //
    //     let guard = wg.add();
    //     guard.done();
    //     guard.done(); // error[E0382]: use of moved value: `guard`
    let wg = WaitGroup::new();
    let guard = wg.add();
    assert_eq!(wg.count(), 1);
    guard.done();
    assert_eq!(wg.count(), 0);
    wg.wait(); // returns at once: nothing outstanding
    println!(
        "2. negative counter: impossible, a done is a guard's drop (count is {})",
        wg.count()
    );
}

/// Article §4.2: `Add` called too late, racing `Wait`.
fn add_before_wait() {
    // Go (wrong):
    //
    //     var wg sync.WaitGroup
    //     go func() {
    //         wg.Add(1) // may run after Wait has looked at the counter
    //         defer wg.Done()
    //         work()
    //     }()
    //     wg.Wait() // usually returns at once, before work() has started
    //
    // (The article calls this a deadlock; what usually happens is that Wait
    // returns early. Go 1.25 added `wg.Go(f)`, which adds before it starts
    // the goroutine, and a `go vet` check for this mistake.)
    //
    // taskgroup, bare WaitGroup: take the guard *before* the hand-off and
    // move it into the closure.
    let wg = WaitGroup::new();
    let worked = AtomicUsize::new(0);
    std::thread::scope(|ts| {
        let guard = wg.add(); // before the thread exists
        ts.spawn(|| {
            std::thread::sleep(Duration::from_millis(5));
            worked.fetch_add(1, Ordering::Relaxed);
            drop(guard);
        });
        wg.wait(); // cannot miss the work: it was counted before it started
        assert_eq!(worked.load(Ordering::Relaxed), 1);
    });

    // taskgroup, scope: you never call add; `spawn` counts the task on the
    // spawning thread before queueing it, nested spawns included.
    let ran = AtomicUsize::new(0);
    taskgroup::scope(|s| {
        s.spawn(|s| {
            s.spawn(|_| {
                ran.fetch_add(1, Ordering::Relaxed);
            });
            ran.fetch_add(1, Ordering::Relaxed);
        });
    });
    assert_eq!(ran.load(Ordering::Relaxed), 2);
    println!("3. Add racing Wait: the guard is taken before the hand-off; a scope does it for you");
}

/// Article §5.1, first optimisation: start goroutines in a batch, avoid a
/// call to Add and Done per tiny task.
fn batch_add() {
    // Go:
    //
    //     wg.Add(len(items)) // one Add for the whole batch
    //     for _, item := range items {
    //         go func(item int) {
    //             defer wg.Done()
    //             process(item)
    //         }(item)
    //     }
    //     wg.Wait()
    //
    // taskgroup: an add is one atomic fetch_add, so there is no batch form;
    // what saves work is fewer, bigger tasks: one guard per chunk.
    let items: Vec<u64> = (1..=10_000).collect();
    let mut sums = vec![0u64; items.len().div_ceil(1000)];
    let wg = WaitGroup::new();
    std::thread::scope(|ts| {
        for (chunk, sum) in items.chunks(1000).zip(&mut sums) {
            let guard = wg.add(); // one add per chunk, not per item
            ts.spawn(move || {
                *sum = chunk.iter().sum();
                drop(guard);
            });
        }
        wg.wait();
    });
    let total: u64 = sums.iter().sum();
    assert_eq!(total, 50_005_000);
    println!(
        "4. batches: {} chunks of 1000 items, one guard each, total {total}",
        sums.len()
    );
}

/// Article §5.1, second optimisation: a task queue served by a fixed set of
/// workers instead of one goroutine per task.
fn task_queue(tasks: u64) {
    // Go:
    //
    //     jobs := make(chan int)
    //     var wg sync.WaitGroup
    //     for w := 0; w < runtime.NumCPU(); w++ {
    //         wg.Add(1)
    //         go func() {
    //             defer wg.Done()
    //             for item := range jobs {
    //                 process(item)
    //             }
    //         }()
    //     }
    //     for i := 0; i < n; i++ {
    //         jobs <- i
    //     }
    //     close(jobs)
    //     wg.Wait()
    //
    // taskgroup: the pool *is* the task queue. `spawn` pushes onto a
    // work-stealing deque served by the pool's fixed set of threads.
    let pool = ThreadPool::new();
    let sum = AtomicU64::new(0);
    let started = Instant::now();
    pool.scope(|s| {
        for item in 0..tasks {
            let sum = &sum;
            s.spawn(move |_| {
                sum.fetch_add(item, Ordering::Relaxed); // process(item)
            });
        }
    });
    let elapsed = started.elapsed();
    assert_eq!(sum.into_inner(), tasks * tasks.saturating_sub(1) / 2);
    println!(
        "5. task queue: {tasks} tasks on {} threads in {elapsed:.2?}",
        pool.num_threads()
    );
}

/// Article §5.2: WaitGroup has no cancellation or timeout; pair it with a
/// context.
fn cancellation_and_timeout() {
    // Go: waiting with a timeout needs a helper goroutine and a select.
    //
    //     done := make(chan struct{})
    //     go func() { wg.Wait(); close(done) }()
    //     select {
    //     case <-done:
    //     case <-time.After(20 * time.Millisecond):
    //         // timed out; the helper stays blocked in Wait
    //     }
    //
    // taskgroup: `wait_timeout` and `wait_deadline`.
    let wg = WaitGroup::new();
    std::thread::scope(|ts| {
        let guard = wg.add();
        ts.spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(guard);
        });
        let in_time = wg.wait_timeout(Duration::from_millis(20));
        assert!(!in_time);
        println!(
            "6. timeout: wait_timeout(20 ms) returned {in_time} while a task was still running"
        );
        assert!(wg.wait_timeout(Duration::from_secs(10)));
    });

    // Go: cancellation through a context.
    //
    //     ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
    //     defer cancel()
    //     g, ctx := errgroup.WithContext(ctx)
    //     for i := 0; i < 100; i++ {
    //         g.Go(func() error {
    //             select {
    //             case <-ctx.Done():
    //                 return ctx.Err()
    //             case <-time.After(10 * time.Millisecond):
    //                 return nil
    //             }
    //         })
    //     }
    //     err := g.Wait() // context.DeadlineExceeded
    //
    // taskgroup: scopes carry cancellation; see `with_context` below.
    with_context();
}

/// Go's `context.DeadlineExceeded`, as this example's error type: a
/// `try_scope` with a deadline reports a passed deadline through `From`.
#[derive(Debug)]
enum Error {
    Deadline { skipped: usize },
}

impl From<DeadlineExceeded> for Error {
    fn from(e: DeadlineExceeded) -> Self {
        Error::Deadline {
            skipped: e.skipped(),
        }
    }
}

/// The errgroup-with-a-timeout of `cancellation_and_timeout`, in taskgroup:
/// a scope with a deadline; tasks that have not started when it passes are
/// dropped, and running ones see `is_cancelled()`.
fn with_context() {
    let pool = ThreadPool::builder().num_threads(2).build().unwrap();
    let ran = AtomicUsize::new(0);
    let result: Result<(), Error> = pool
        .scope_builder()
        .timeout(Duration::from_millis(50)) // context.WithTimeout
        .try_scope(|s| {
            for _ in 0..100 {
                let ran = &ran;
                s.spawn(move |s| {
                    if s.is_cancelled() {
                        return Ok(()); // <-ctx.Done()
                    }
                    std::thread::sleep(Duration::from_millis(10));
                    ran.fetch_add(1, Ordering::Relaxed);
                    Ok(())
                });
            }
            Ok(())
        });
    let Err(Error::Deadline { skipped }) = result else {
        panic!("100 tasks of 10 ms on 2 threads cannot finish in 50 ms");
    };
    println!(
        "   with a deadline of 50 ms: Err(Deadline), {} tasks ran, {skipped} never started",
        ran.load(Ordering::Relaxed)
    );
}

/// Article §6: never copy a WaitGroup; pass a pointer.
fn never_copy() {
    // Go (wrong):
    //
    //     func worker(wg sync.WaitGroup) { // a copy
    //         defer wg.Done()              // done on the copy
    //     }
    //     wg.Add(1)
    //     go worker(wg)
    //     wg.Wait() // fatal error: all goroutines are asleep - deadlock!
    //
    // taskgroup: `WaitGroup` is neither `Clone` nor `Copy`, and a guard
    // borrows its group, so it cannot even be moved while work is
    // outstanding:
    //
    //     let guard = wg.add();
    //     let moved = wg; // error[E0505]: cannot move out of `wg` because it is borrowed
    //
    // What a worker needs is its unit of work: pass it the guard.
    fn worker(id: usize, done: WaitGuard<'_>, total: &AtomicUsize) {
        total.fetch_add(id, Ordering::Relaxed);
        drop(done);
    }
    let wg = WaitGroup::new();
    let total = AtomicUsize::new(0);
    std::thread::scope(|ts| {
        for id in 1..=4 {
            let guard = wg.add();
            let total = &total;
            ts.spawn(move || worker(id, guard, total));
        }
        wg.wait();
    });
    assert_eq!(total.into_inner(), 10);

    // To share the group itself beyond a borrow: an `Arc` and `add_owned`,
    // the counterpart of Go's `*sync.WaitGroup`.
    let wg = Arc::new(WaitGroup::new());
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let guard = wg.add_owned(); // 'static: fits std::thread::spawn
            std::thread::spawn(move || drop(guard))
        })
        .collect();
    wg.wait();
    for handle in handles {
        handle.join().unwrap();
    }
    println!(
        "7. never copy: pass a guard, `&WaitGroup` or `Arc<WaitGroup>`; copies do not compile"
    );
}

/// Not in the article, but in Go's source: re-arming a group while a
/// released `Wait` has not returned yet.
fn reuse() {
    // Go:
    //
    //     wg.Add(1)
    //     go func() { wg.Wait() }()
    //     wg.Done()
    //     wg.Add(1) // may panic: sync: WaitGroup is reused before previous Wait has returned
    //
    // taskgroup: the last done hands each released waiter a token, and the
    // waiter returns on the strength of that token, so re-arming at once is
    // fine.
    let wg = Arc::new(WaitGroup::new());
    for _ in 0..100 {
        let guard = wg.add_owned();
        let waiter = {
            let wg = Arc::clone(&wg);
            std::thread::spawn(move || wg.wait())
        };
        // For the demonstration only: let the waiter park first (the
        // group's `Debug` shows the waiter half of its state word).
        while !format!("{wg:?}").contains("waiters: 1") {
            std::thread::yield_now();
        }
        drop(guard); // zero: releases the waiter...
        let again = wg.add(); // ...and re-arms at once
        waiter.join().unwrap(); // the waiter returns although the count is 1
        drop(again);
    }
    println!("8. reuse: 100 rounds of re-arming right after the release, no panic");
}

fn main() {
    let tasks: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: go_waitgroup [TASKS]  (default 100000)");
            std::process::exit(2);
        }),
        None => 100_000,
    };
    basic();
    negative_counter();
    add_before_wait();
    batch_add();
    task_queue(tasks);
    cancellation_and_timeout();
    never_copy();
    reuse();
}
