//! Diagnostics: where a task was spawned, what its scope is called, and
//! what a pool's workers have been doing.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{assert_str_payload, expect_panic, pool, quiet_expected_panics, watchdog};

#[test]
fn join_errors_know_where_their_task_was_spawned() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        pool.scope(|s| {
            let line = line!() + 1;
            let panicked = s.spawn_handle(|_| -> () { panic!("boom: spawned here") });
            let err = panicked.join().unwrap_err();
            assert_eq!(err.spawned_at().file(), file!());
            assert_eq!(err.spawned_at().line(), line);
            assert_eq!(err.scope_name(), None);
            assert_eq!(
                err.to_string(),
                format!(
                    "task spawned at {} panicked: boom: spawned here",
                    err.spawned_at()
                )
            );
            assert!(format!("{err:?}").contains(&err.spawned_at().to_string()));
        });
        let err = pool.scope(|s| {
            s.cancel();
            let line = line!() + 1;
            let h = s.spawn_handle(|_| 1);
            let err = h.join().unwrap_err();
            assert_eq!(err.spawned_at().line(), line);
            err
        });
        assert!(err.is_cancelled());
        assert!(err.to_string().ends_with("was cancelled before it started"));
        let r: Result<(), &str> = pool.try_scope(|s| {
            let line = line!() + 1;
            let h = s.spawn_handle(|_| -> Result<(), &str> { Err("no") });
            let err = h.join().unwrap_err();
            assert!(err.is_failed());
            assert_eq!(err.spawned_at().line(), line);
            Ok(())
        });
        assert_eq!(r, Err("no"));
    });
}

#[test]
fn a_named_scope_shows_its_name_in_debug_and_in_join_errors() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(1);
        let err = pool
            .scope_builder()
            .name("fetch")
            .scope(|s| {
                assert!(format!("{s:?}").contains(r#"name: Some("fetch")"#), "{s:?}");
                s.spawn_handle(|_| -> () { panic!("boom: timeout") }).join()
            })
            .unwrap()
            .unwrap_err();
        assert_eq!(err.scope_name(), Some("fetch"));
        assert_eq!(
            err.to_string(),
            format!(
                r#"task spawned at {} in scope "fetch" panicked: boom: timeout"#,
                err.spawned_at()
            )
        );
        // A name given at run time, on a try-scope.
        #[derive(Debug, PartialEq)]
        struct Bad;
        impl From<taskgroup::DeadlineExceeded> for Bad {
            fn from(_: taskgroup::DeadlineExceeded) -> Self {
                Bad
            }
        }
        let name = format!("batch-{}", 7);
        let mut text = String::new();
        let r: Result<(), Bad> = pool.scope_builder().name(name).try_scope(|s| {
            let h = s.spawn_handle(|_| -> Result<(), Bad> { Err(Bad) });
            text = h.join().unwrap_err().to_string();
            Ok(())
        });
        assert_eq!(r, Err(Bad));
        assert!(text.contains(r#"in scope "batch-7" failed"#), "{text}");
        assert!(format!("{:?}", pool.scope_builder().name("b")).contains("\"b\""));
    });
}

#[test]
fn a_named_scope_re_raises_the_original_payload() {
    quiet_expected_panics();
    watchdog(20, || {
        let pool = pool(2);
        let payload = expect_panic(|| {
            pool.scope_builder().name("parse").scope(|s| {
                s.spawn(|_| panic!("boom: original"));
            })
        });
        assert_str_payload(&*payload, "boom: original");
    });
}

/// Run by `a_detached_panic_report_names_its_spawn_location` in a child
/// process, whose stderr it reads.
#[test]
fn detached_panic_child() {
    if std::env::var_os("TASKGROUP_DETACHED_PANIC_CHILD").is_none() {
        return;
    }
    let pool = pool(1);
    let (tx, rx) = mpsc::channel();
    println!("spawn line: {}", line!() + 1);
    pool.spawn(|| panic!("boom: detached"));
    pool.spawn(move || tx.send(()).unwrap());
    rx.recv().unwrap();
}

#[test]
fn a_detached_panic_report_names_its_spawn_location() {
    let output = run_child("detached_panic_child", "TASKGROUP_DETACHED_PANIC_CHILD");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line: u32 = stdout
        .lines()
        // The harness may have printed "test ... " on the same line.
        .find_map(|l| l.split("spawn line: ").nth(1))
        .expect("the child printed its spawn line")
        .parse()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!("taskgroup: detached task spawned at {}:{line}:", file!());
    let report = stderr
        .lines()
        .find(|l| l.starts_with(&expected))
        .unwrap_or_else(|| panic!("no line starting {expected:?} in:\n{stderr}"));
    assert!(report.ends_with("panicked: boom: detached"), "{report}");
}

/// A panic payload that is neither `&str` nor `String`.
#[derive(Debug, PartialEq)]
struct Code(u32);

/// Captured by a task that never runs: dropping it panics.
struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("boom: dropped unrun");
    }
}

/// Run by `a_scope_task_panic_report_names_its_spawn_location_and_scope` in
/// a child process, whose stderr it reads: prints the line of each spawn
/// whose panic must be reported, and checks that each scope re-raises the
/// original payload.
#[test]
fn scope_panic_child() {
    if std::env::var_os("TASKGROUP_SCOPE_PANIC_CHILD").is_none() {
        return;
    }
    quiet_expected_panics();
    let pool = pool(2);

    // A named scope; a String payload.
    let n = 1;
    let payload = expect_panic(|| {
        pool.scope_builder().name("parse").scope(|s| {
            println!("named line: {}", line!() + 1);
            s.spawn(|_| panic!("boom: named {n}"));
        })
    });
    common::assert_string_payload(&*payload, "boom: named 1");

    // An unnamed scope; a payload that is not text, from a task spawned by
    // a task.
    let payload = expect_panic(|| {
        pool.scope(|s| {
            s.spawn(|s| {
                println!("nested line: {}", line!() + 1);
                s.spawn(|_| std::panic::panic_any(Code(7)));
            });
        })
    });
    assert_eq!(payload.downcast_ref::<Code>(), Some(&Code(7)));

    // A try-scope's task.
    let payload = expect_panic(|| {
        pool.try_scope(|s| {
            println!("try line: {}", line!() + 1);
            s.spawn(|_| -> Result<(), ()> { panic!("boom: try") });
            Ok::<(), ()>(())
        })
    });
    assert_str_payload(&*payload, "boom: try");

    // A task dropped unrun by a cancelled scope, whose drop panics. On the
    // pool's only worker, no task can start before the body cancels.
    let one = common::pool(1);
    let payload = expect_panic(|| {
        one.install(|| {
            taskgroup::scope_builder().name("late").scope(|s| {
                let captured = PanicsOnDrop;
                println!("unrun line: {}", line!() + 1);
                s.spawn(move |_| drop(captured));
                s.cancel();
            })
        })
    });
    assert_str_payload(&*payload, "boom: dropped unrun");

    // Not reported: tasks with handles (joined, or not) and the body.
    let err = pool
        .scope(|s| {
            s.spawn_handle(|_| -> () { panic!("boom: handle joined") })
                .join()
        })
        .unwrap_err();
    assert_str_payload(&*err.into_panic(), "boom: handle joined");
    let payload = expect_panic(|| {
        pool.scope(|s| {
            drop(s.spawn_handle(|_| -> () { panic!("boom: handle dropped") }));
        })
    });
    assert_str_payload(&*payload, "boom: handle dropped");
    let payload = expect_panic(|| pool.scope(|_| panic!("boom: body")));
    assert_str_payload(&*payload, "boom: body");
    println!("child done");
}

#[test]
fn a_scope_task_panic_report_names_its_spawn_location_and_scope() {
    let output = run_child("scope_panic_child", "TASKGROUP_SCOPE_PANIC_CHILD");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("child done"), "{stdout}");
    let line = |name: &str| -> u32 {
        let marker = format!("{name} line: ");
        stdout
            .lines()
            // The harness may have printed "test ... " on the same line.
            .find_map(|l| l.split(&marker).nth(1))
            .unwrap_or_else(|| panic!("the child printed no {marker:?}"))
            .parse()
            .unwrap()
    };
    let stderr = String::from_utf8_lossy(&output.stderr);
    let reports: Vec<&str> = stderr
        .lines()
        .filter(|l| l.starts_with("taskgroup: "))
        .collect();
    // One report per task without a handle that panicked, in order; none
    // for tasks with handles nor for the body.
    let expected = [
        (
            line("named"),
            r#" in scope "parse" panicked: boom: named 1"#,
        ),
        (line("nested"), " panicked: Box<dyn Any>"),
        (line("try"), " panicked: boom: try"),
        (
            line("unrun"),
            r#" in scope "late" panicked while being dropped unrun (its scope was cancelled): boom: dropped unrun"#,
        ),
    ];
    assert_eq!(reports.len(), expected.len(), "{stderr}");
    for (report, (line, ending)) in reports.iter().zip(expected) {
        // FILE:LINE:COL, then the scope and the message.
        let start = format!("taskgroup: task spawned at {}:{line}:", file!());
        let rest = report
            .strip_prefix(&start)
            .unwrap_or_else(|| panic!("{report:?} does not start with {start:?}"));
        let column_len = rest.find(|c: char| !c.is_ascii_digit()).unwrap();
        assert!(column_len > 0, "{report}");
        assert_eq!(&rest[column_len..], ending, "{report}");
    }
}

#[test]
fn metrics_count_jobs_steals_and_sleeps() {
    watchdog(30, || {
        let pool = pool(1);
        let before = pool.metrics();
        assert_eq!(before.num_threads(), 1);
        assert_eq!(before.queued(), 0);
        // 100 tasks spawned on the worker: all run there, none stolen.
        let ran = AtomicUsize::new(0);
        pool.install(|| {
            taskgroup::scope(|s| {
                for _ in 0..100 {
                    s.spawn(|_| {
                        ran.fetch_add(1, Ordering::Relaxed);
                    });
                }
            })
        });
        assert_eq!(ran.load(Ordering::Relaxed), 100);
        let after = pool.metrics();
        // The install itself came through the shared queue: a steal.
        assert_eq!(after.jobs_executed(0) - before.jobs_executed(0), 101);
        assert_eq!(after.steals(0) - before.steals(0), 1);

        // Jobs queued behind a blocked worker are counted as queued.
        let (release, blocked) = mpsc::channel::<()>();
        let (started_tx, started) = mpsc::channel();
        pool.spawn(move || {
            started_tx.send(()).unwrap();
            blocked.recv().unwrap();
        });
        started.recv().unwrap();
        for _ in 0..5 {
            pool.spawn(|| {});
        }
        assert_eq!(pool.metrics().queued(), 5);
        release.send(()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while pool.metrics().queued() != 0 || pool.metrics().sleeps(0) == after.sleeps(0) {
            assert!(
                Instant::now() < deadline,
                "the worker never went back to sleep"
            );
            std::thread::sleep(Duration::from_millis(1));
        }
        let last = pool.metrics();
        assert_eq!(last.jobs_executed(0) - after.jobs_executed(0), 6);
        assert!(last.sleeps(0) > after.sleeps(0));
        println!("{last}");
        assert!(last.to_string().starts_with("1 workers, "), "{last}");
    });
}

#[test]
fn busy_time_grows_while_a_worker_runs_and_stops_while_it_sleeps() {
    watchdog(30, || {
        let started = Instant::now();
        let pool = pool(2);
        pool.install(|| std::thread::sleep(Duration::from_millis(50)));
        // Once the workers are asleep, an idle pool's counters, busy time
        // included, stand still: read until two readings 30 ms apart agree
        // (on a loaded machine the workers may take a while to get there).
        let deadline = Instant::now() + Duration::from_secs(20);
        let (first, second) = loop {
            let first = pool.metrics();
            std::thread::sleep(Duration::from_millis(30));
            let second = pool.metrics();
            if first == second || Instant::now() > deadline {
                break (first, second);
            }
        };
        let busy: Duration = (0..2).map(|i| first.busy_time(i)).sum();
        assert!(busy >= Duration::from_millis(50), "{first}");
        assert!(busy <= started.elapsed() * 2, "{first}");
        assert_eq!(first, second, "an idle pool's counters stand still");
    });
}

#[test]
fn metrics_name_the_rule_for_a_worker_out_of_range() {
    let pool = pool(2);
    let m = pool.metrics();
    let payload = expect_panic(|| m.steals(2));
    let message = common::payload_str(&*payload).unwrap();
    assert_eq!(
        message,
        "PoolMetrics: worker index 2 out of range: the pool has 2 workers"
    );
}

/// Runs test `name` of this binary alone in a child process, with `env`
/// set to tell it that it is the child, and returns its output once it
/// has succeeded.
fn run_child(name: &str, env: &str) -> std::process::Output {
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads", "1"])
        .env(env, "1")
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    output
}
