//! Stress tests: many tasks, random trees of nested scopes, joins and
//! panics checked against a sequential model, repeated panicking scopes,
//! concurrent callers and sleep/wake churn.
#![cfg(not(loom))]

mod common;

use std::collections::BTreeSet;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

use common::{
    assert_string_payload, deep_pool, expect_panic, payload_str, pool, quiet_expected_panics,
    watchdog, XorShift,
};
use taskgroup::{Scope, ThreadPool};

// ------------------------------------------------------ a million spawns

#[test]
fn a_million_empty_spawns_in_one_scope() {
    watchdog(60, || {
        let pool = pool(2);
        let count = AtomicUsize::new(0);
        pool.scope(|s| {
            for _ in 0..1_000_000 {
                s.spawn(|_| {
                    count.fetch_add(1, Ordering::Relaxed);
                });
            }
        });
        assert_eq!(count.load(Ordering::Relaxed), 1_000_000);

        // The same from inside a worker: the spawns go to its own deque.
        let count = AtomicUsize::new(0);
        pool.install(|| {
            pool.scope(|s| {
                for _ in 0..1_000_000 {
                    s.spawn(|_| {
                        count.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        });
        assert_eq!(count.load(Ordering::Relaxed), 1_000_000);
    });
}

// ------------------------------------------------------- random trees

/// A random program of nested scopes, joins and panics.
#[derive(Debug)]
enum Node {
    /// Counts one.
    Work,
    /// Counts one, then panics with `"boom: node {id}"`.
    Panic(u32),
    /// Counts one, then opens a new scope and spawns each child as a task
    /// into it. An `Abort` child is not spawned: the scope *body* counts
    /// one and panics there, so the later children are never spawned.
    Scope(Vec<Node>),
    /// Counts one, then joins the two children.
    Join(Box<Node>, Box<Node>),
    /// Counts one, then spawns each child into the enclosing scope (not a
    /// new one): their panics surface there, not here.
    Fanout(Vec<Node>),
    /// Counts one, then runs the child and swallows its panic.
    Catch(Box<Node>),
    /// Only as a child of `Scope`: the body panics (see `Scope`).
    /// Elsewhere it behaves as `Panic`.
    Abort(u32),
}

struct Gen {
    rng: XorShift,
    budget: usize,
    next_id: u32,
}

impl Gen {
    fn id(&mut self) -> u32 {
        self.next_id += 1;
        self.next_id
    }

    fn leaf(&mut self) -> Node {
        if self.rng.below(40) == 0 {
            Node::Panic(self.id())
        } else {
            Node::Work
        }
    }

    fn node(&mut self, depth: u32) -> Node {
        if depth == 0 || self.budget == 0 {
            return self.leaf();
        }
        self.budget -= 1;
        match self.rng.below(100) {
            0..=24 => self.leaf(),
            25..=46 => {
                let n = 1 + self.rng.below(5) as usize;
                let mut children = Vec::with_capacity(n);
                for _ in 0..n {
                    if self.rng.below(30) == 0 {
                        children.push(Node::Abort(self.id()));
                    } else {
                        children.push(self.node(depth - 1));
                    }
                }
                Node::Scope(children)
            }
            47..=69 => Node::Join(
                Box::new(self.node(depth - 1)),
                Box::new(self.node(depth - 1)),
            ),
            70..=89 => {
                let n = 1 + self.rng.below(4) as usize;
                Node::Fanout((0..n).map(|_| self.node(depth - 1)).collect())
            }
            _ => Node::Catch(Box::new(self.node(depth - 1))),
        }
    }
}

fn gen_tree(seed: u64) -> Node {
    let mut g = Gen {
        rng: XorShift::new(seed),
        budget: 120,
        next_id: 0,
    };
    g.node(7)
}

/// Runs `node` on the pool; `s` is the enclosing scope.
fn run<'s>(node: &'s Node, s: &Scope<'s>, count: &'s AtomicUsize) {
    count.fetch_add(1, Ordering::Relaxed);
    match node {
        Node::Work => {}
        Node::Panic(id) | Node::Abort(id) => panic!("boom: node {id}"),
        Node::Scope(children) => taskgroup::scope(|inner| {
            for child in children {
                match child {
                    Node::Abort(id) => {
                        count.fetch_add(1, Ordering::Relaxed);
                        panic!("boom: node {id}");
                    }
                    _ => inner.spawn(move |inner| run(child, inner, count)),
                }
            }
        }),
        Node::Join(a, b) => {
            taskgroup::join(|| run(a, s, count), || run(b, s, count));
        }
        Node::Fanout(children) => {
            for child in children {
                s.spawn(move |s| run(child, s, count));
            }
        }
        Node::Catch(child) => {
            let _ = panic::catch_unwind(AssertUnwindSafe(|| run(child, s, count)));
        }
    }
}

/// The sequential model of [`run`]: adds the nodes that run to `count`,
/// adds to `scope` the panics that the enclosing scope may re-raise because
/// of tasks spawned into it, and returns the panics this call itself may
/// raise (empty: it returns normally).
fn model(node: &Node, scope: &mut BTreeSet<u32>, count: &mut usize) -> BTreeSet<u32> {
    *count += 1;
    match node {
        Node::Work => BTreeSet::new(),
        Node::Panic(id) | Node::Abort(id) => BTreeSet::from([*id]),
        Node::Scope(children) => {
            let mut inner = BTreeSet::new();
            for child in children {
                if let Node::Abort(id) = child {
                    *count += 1;
                    inner.insert(*id);
                    break;
                }
                // A task's own panic is recorded in the scope too.
                let raised = model(child, &mut inner, count);
                inner.extend(raised);
            }
            inner
        }
        Node::Join(a, b) => {
            let ra = model(a, scope, count);
            let rb = model(b, scope, count);
            // Both sides always run; `a`'s panic wins if both panicked.
            if ra.is_empty() {
                rb
            } else {
                ra
            }
        }
        Node::Fanout(children) => {
            for child in children {
                let raised = model(child, scope, count);
                scope.extend(raised);
            }
            BTreeSet::new()
        }
        Node::Catch(child) => {
            model(child, scope, count);
            BTreeSet::new()
        }
    }
}

/// Runs tree `seed` on `pool` (from inside a worker or from outside) and
/// checks it against the model. Returns whether it panicked.
fn check_tree(pool: &ThreadPool, seed: u64, inside: bool) -> bool {
    let tree = gen_tree(seed);
    let mut expected_count = 0;
    let mut root_scope = BTreeSet::new();
    let raised = model(&tree, &mut root_scope, &mut expected_count);
    let expected: BTreeSet<u32> = raised.union(&root_scope).copied().collect();

    let count = AtomicUsize::new(0);
    let result = panic::catch_unwind(AssertUnwindSafe(|| {
        if inside {
            pool.install(|| pool.scope(|s| run(&tree, s, &count)));
        } else {
            // The body runs on this (non-worker) thread: hand the root to a
            // task so that the whole tree runs on the pool.
            pool.scope(|s| s.spawn(|s| run(&tree, s, &count)));
        }
    }));
    let ctx = format!(
        "seed {seed}, {} threads, inside {inside}",
        pool.num_threads()
    );
    assert_eq!(
        count.load(Ordering::Relaxed),
        expected_count,
        "count: {ctx}"
    );
    match result {
        Ok(()) => {
            assert!(
                expected.is_empty(),
                "a panic among {expected:?} was lost: {ctx}"
            );
            false
        }
        Err(payload) => {
            let text = payload_str(&*payload).unwrap_or("<not a string>");
            let id: Option<u32> = text
                .strip_prefix("boom: node ")
                .and_then(|t| t.parse().ok());
            assert!(
                id.is_some_and(|id| expected.contains(&id)),
                "payload {text:?} is not one of {expected:?}: {ctx}"
            );
            true
        }
    }
}

#[test]
fn model_sanity() {
    // A hand-written tree, to check the model itself.
    let tree = Node::Scope(vec![
        Node::Work,
        Node::Catch(Box::new(Node::Fanout(vec![Node::Panic(1), Node::Work]))),
        Node::Join(Box::new(Node::Panic(2)), Box::new(Node::Panic(3))),
        Node::Catch(Box::new(Node::Panic(4))),
        Node::Abort(5),
        Node::Panic(6),
    ]);
    let mut scope = BTreeSet::new();
    let mut count = 0;
    let raised = model(&tree, &mut scope, &mut count);
    // Scope, Work, Catch, Fanout, Panic(1), Work, Join, Panic(2), Panic(3),
    // Catch, Panic(4), Abort(5); Panic(6) is never spawned.
    assert_eq!(count, 12);
    assert_eq!(raised, BTreeSet::from([1, 2, 5]));
    assert!(scope.is_empty());

    quiet_expected_panics();
    watchdog(20, move || {
        let pool = pool(2);
        for inside in [false, true] {
            let count = AtomicUsize::new(0);
            let p = expect_panic(|| {
                if inside {
                    pool.install(|| pool.scope(|s| run(&tree, s, &count)));
                } else {
                    pool.scope(|s| s.spawn(|s| run(&tree, s, &count)));
                }
            });
            let text = payload_str(&*p).unwrap().to_owned();
            assert!(
                ["boom: node 1", "boom: node 2", "boom: node 5"].contains(&text.as_str()),
                "{text}"
            );
            assert_eq!(count.load(Ordering::Relaxed), 12);
        }
    });
}

#[test]
fn random_trees_match_the_sequential_model() {
    quiet_expected_panics();
    watchdog(60, || {
        let mut panicked = 0;
        let mut clean = 0;
        for n in [1, 2, 3] {
            let pool = deep_pool(n);
            for seed in 0..150u64 {
                if check_tree(&pool, seed, seed % 2 == 0) {
                    panicked += 1;
                } else {
                    clean += 1;
                }
            }
        }
        // The generator must exercise both outcomes.
        assert!(panicked >= 30, "only {panicked} trees panicked");
        assert!(clean >= 30, "only {clean} trees ran clean");
    });
}

#[test]
fn random_trees_from_concurrent_callers() {
    quiet_expected_panics();
    watchdog(60, || {
        let pool = Arc::new(deep_pool(2));
        let handles: Vec<_> = (0..3u64)
            .map(|t| {
                let pool = Arc::clone(&pool);
                thread::spawn(move || {
                    for seed in (1000 + t * 100)..(1000 + t * 100 + 40) {
                        check_tree(&pool, seed, seed % 3 == 0);
                    }
                })
            })
            .collect();
        for h in handles {
            if let Err(p) = h.join() {
                panic::resume_unwind(p);
            }
        }
    });
}

// ------------------------------------------------- panicking scopes

/// A binary tree of tasks; node `bad` panics after spawning its children.
fn panicky_walk<'s>(
    s: &Scope<'s>,
    id: u32,
    depth: u32,
    bad: u32,
    round: u32,
    count: &'s AtomicUsize,
) {
    count.fetch_add(1, Ordering::Relaxed);
    if depth > 0 {
        s.spawn(move |s| panicky_walk(s, id * 2, depth - 1, bad, round, count));
        s.spawn(move |s| panicky_walk(s, id * 2 + 1, depth - 1, bad, round, count));
    }
    if id == bad {
        panic!("boom: round {round} node {id}");
    }
}

#[test]
fn a_hundred_rounds_of_panicking_scopes() {
    quiet_expected_panics();
    watchdog(60, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            for round in 0..100u32 {
                let bad = 1 + round * 37 % 255;
                let count = AtomicUsize::new(0);
                let p = expect_panic(|| {
                    if round % 2 == 0 {
                        pool.scope(|s| s.spawn(|s| panicky_walk(s, 1, 7, bad, round, &count)));
                    } else {
                        pool.install(|| pool.scope(|s| panicky_walk(s, 1, 7, bad, round, &count)));
                    }
                });
                assert_string_payload(&*p, &format!("boom: round {round} node {bad}"));
                assert_eq!(count.load(Ordering::Relaxed), 255, "round {round}");
            }
            // Still usable, and still exact.
            let count = AtomicUsize::new(0);
            pool.scope(|s| panicky_walk(s, 1, 9, 0, 0, &count));
            assert_eq!(count.load(Ordering::Relaxed), 1023);
        }
    });
}

// --------------------------------------------- concurrency and wake-ups

#[test]
fn concurrent_outside_callers() {
    watchdog(60, || {
        for n in [1, 2, 3] {
            let pool = Arc::new(pool(n));
            let total = Arc::new(AtomicUsize::new(0));
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let pool = Arc::clone(&pool);
                    let total = Arc::clone(&total);
                    thread::spawn(move || {
                        for i in 0..200 {
                            match (t + i) % 3 {
                                0 => pool.scope(|s| {
                                    for _ in 0..10 {
                                        s.spawn(|_| {
                                            total.fetch_add(1, Ordering::Relaxed);
                                        });
                                    }
                                }),
                                1 => {
                                    let (a, b) = pool.join(|| 4, || 6);
                                    total.fetch_add(a + b, Ordering::Relaxed);
                                }
                                _ => {
                                    let v = pool.install(|| 10);
                                    total.fetch_add(v, Ordering::Relaxed);
                                }
                            }
                        }
                    })
                })
                .collect();
            for h in handles {
                if let Err(p) = h.join() {
                    panic::resume_unwind(p);
                }
            }
            assert_eq!(total.load(Ordering::Relaxed), 4 * 200 * 10);
        }
    });
}

#[test]
fn sleep_wake_churn() {
    // The pool goes idle (and to sleep) between tiny bursts of work; a lost
    // wake-up hangs one of them and the watchdog reports it.
    watchdog(60, || {
        for n in [1, 2, 3] {
            let pool = pool(n);
            let count = AtomicUsize::new(0);
            for i in 0..400 {
                if i % 50 == 0 {
                    thread::sleep(Duration::from_millis(2));
                }
                pool.scope(|s| {
                    s.spawn(|_| {
                        count.fetch_add(1, Ordering::Relaxed);
                    });
                });
                let (a, _) = pool.join(|| 1, || ());
                count.fetch_add(a, Ordering::Relaxed);
                pool.install(|| {
                    // A worker waiting on a task that another thread (or
                    // itself) must run.
                    pool.scope(|s| {
                        s.spawn(|_| {
                            count.fetch_add(1, Ordering::Relaxed);
                        });
                    });
                });
            }
            assert_eq!(count.load(Ordering::Relaxed), 400 * 3);
        }
    });
}

#[test]
fn scope_waiter_sleeps_and_is_woken_by_a_slow_task() {
    // A worker that owns a scope has nothing to run and must sleep, then be
    // woken by the task that finishes last on another worker.
    watchdog(30, || {
        let pool = pool(2);
        for _ in 0..20 {
            let count = AtomicUsize::new(0);
            let started = AtomicBool::new(false);
            let (owner, runner) = pool.install(|| {
                let runner = AtomicUsize::new(usize::MAX);
                pool.scope(|s| {
                    s.spawn(|_| {
                        runner.store(taskgroup::current_thread_index().unwrap(), Ordering::SeqCst);
                        started.store(true, Ordering::SeqCst);
                        thread::sleep(Duration::from_millis(5));
                        count.fetch_add(1, Ordering::SeqCst);
                    });
                    // Wait until the other worker has stolen the task, so
                    // that the owner has nothing to run and must sleep.
                    while !started.load(Ordering::SeqCst) {
                        thread::yield_now();
                    }
                });
                (
                    taskgroup::current_thread_index().unwrap(),
                    runner.into_inner(),
                )
            });
            assert_ne!(owner, runner);
            assert_eq!(count.load(Ordering::SeqCst), 1);
        }
    });
}

#[test]
fn many_short_lived_pools() {
    watchdog(60, || {
        for i in 0..100 {
            let n = 1 + i % 3;
            let pool = pool(n);
            let count = AtomicUsize::new(0);
            pool.scope(|s| {
                for _ in 0..10 {
                    s.spawn(|_| {
                        count.fetch_add(1, Ordering::Relaxed);
                    });
                }
            });
            assert_eq!(count.load(Ordering::Relaxed), 10);
            let c = Arc::new(AtomicUsize::new(0));
            for _ in 0..10 {
                let c = Arc::clone(&c);
                pool.spawn(move || {
                    c.fetch_add(1, Ordering::Relaxed);
                });
            }
            drop(pool);
            assert_eq!(c.load(Ordering::Relaxed), 10);
        }
    });
}

#[test]
fn nested_scopes_in_many_outer_tasks_on_default_stacks() {
    // A waiting worker runs other queued jobs on top of its stack; with many
    // outer tasks queued this must still stay within an ordinary stack.
    watchdog(60, || {
        for n in [1, 2, 3] {
            let pool = ThreadPool::builder().num_threads(n).build().unwrap();
            let count = AtomicUsize::new(0);
            pool.scope(|s| {
                for _ in 0..20_000 {
                    s.spawn(|_| {
                        taskgroup::scope(|s| {
                            s.spawn(|_| {
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                            s.spawn(|_| {
                                count.fetch_add(1, Ordering::Relaxed);
                            });
                        });
                    });
                }
            });
            assert_eq!(count.load(Ordering::Relaxed), 40_000, "{n} threads");
        }
    });
}

#[test]
fn tasks_that_must_run_at_the_same_time_get_every_worker() {
    // `n` tasks of an `n`-thread pool meet at a barrier: a worker must never
    // sleep while a task sits queued, or the barrier never opens.
    watchdog(60, || {
        for n in [2, 3] {
            let pool = pool(n);
            for round in 0..1000 {
                let barrier = std::sync::Barrier::new(n);
                let met = AtomicUsize::new(0);
                let run = || {
                    pool.scope(|s| {
                        for _ in 0..n {
                            s.spawn(|_| {
                                barrier.wait();
                                met.fetch_add(1, Ordering::Relaxed);
                            });
                        }
                    })
                };
                if round % 2 == 0 {
                    run();
                } else {
                    pool.install(run);
                }
                assert_eq!(met.load(Ordering::Relaxed), n);
                if round % 100 == 0 {
                    // Let the workers fall asleep now and then.
                    thread::sleep(Duration::from_millis(2));
                }
            }
            // Detached tasks too.
            for _ in 0..300 {
                let barrier = Arc::new(std::sync::Barrier::new(n + 1));
                for _ in 0..n {
                    let barrier = Arc::clone(&barrier);
                    pool.spawn(move || {
                        barrier.wait();
                    });
                }
                barrier.wait();
            }
        }
    });
}
