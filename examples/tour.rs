//! The tour: walk a directory tree in parallel scopes and hash every file.
//!
//! ```sh
//! cargo run --release --example tour              # this crate's own tree
//! cargo run --release --example tour -- PATH      # any directory
//! cargo run --release --example tour -- src       # a small input (CI)
//! cargo run --release --example tour -- ~/.cargo/registry/src   # a big one
//! ```
//!
//! Add `--all` to walk `target` directories too (skipped by default).
//!
//! What it shows:
//! * a scope whose tasks borrow from the stack (the walk's shared state) and
//!   spawn more tasks into the same scope: one task per directory, which
//!   spawns a task per subdirectory and per file;
//! * a standalone `WaitGroup` next to the scope: every task holds one of its
//!   guards, taken *before* the task is spawned, and a reporter thread uses
//!   `wait_timeout` as a 50 ms ticker that prints `count()` (the tasks still
//!   outstanding) on a live progress line and stops by itself when the count
//!   reaches zero;
//! * the same walk sequentially, with both times, the speedup, and a check
//!   that both walks computed the same combined hash. (An untimed parallel
//!   walk comes first, so that both timed walks read from a warm page
//!   cache.)
//!
//! The hash is FNV-1a (64-bit), written by hand below, over each file's
//! relative path and contents. Per-file hashes are mixed and summed, so the
//! combined hash does not depend on the order in which files are visited.
//! Symbolic links are not followed. Unreadable entries are counted and
//! skipped, identically in both walks.
//!
//! Last, the tour demonstrates `try_scope` (Go's errgroup): the same walk as
//! a scope whose tasks return `Result`, which stops at the first file over a
//! size limit (see `first_error` below).

use std::fs::{self, File};
use std::io::{self, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use taskgroup::{Scope, ThreadPool, WaitGroup};

/// FNV-1a, 64-bit: tiny, and good enough to tell files apart here (it is not
/// a cryptographic hash).
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET_BASIS: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Self(Self::OFFSET_BASIS)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &byte in bytes {
            self.0 ^= u64::from(byte);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// A bijective scramble of a file's hash before it is summed, so that files
/// with related hashes do not cancel out (the finaliser of SplitMix64).
fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Totals, updated by every task. Relaxed atomics suffice: the scope's end
/// orders all the tasks' updates before the totals are read.
#[derive(Default)]
struct Totals {
    files: AtomicU64,
    bytes: AtomicU64,
    /// Entries that could not be read (permissions, races with deletion).
    skipped: AtomicU64,
    /// The wrapping sum of the mixed per-file hashes.
    hash: AtomicU64,
    largest: AtomicU64,
}

/// What one walk reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Summary {
    files: u64,
    bytes: u64,
    skipped: u64,
    hash: u64,
    largest: u64,
}

impl Totals {
    fn summary(&self) -> Summary {
        Summary {
            files: self.files.load(Ordering::Relaxed),
            bytes: self.bytes.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            hash: self.hash.load(Ordering::Relaxed),
            largest: self.largest.load(Ordering::Relaxed),
        }
    }
}

/// The walk's configuration and its shared state. Tasks borrow it: it
/// lives on `main`'s stack, outside the scope.
struct Walk {
    root: PathBuf,
    skip_target: bool,
    totals: Totals,
    /// One guard per task not yet finished; the progress line shows its
    /// count.
    pending: WaitGroup,
}

/// One directory entry worth visiting.
enum Entry {
    Dir(PathBuf),
    File(PathBuf),
}

impl Walk {
    fn new(root: PathBuf, skip_target: bool) -> Self {
        Self {
            root,
            skip_target,
            totals: Totals::default(),
            pending: WaitGroup::new(),
        }
    }

    /// The entries of `dir` to visit, sorted so that runs are reproducible.
    fn entries(&self, dir: &Path) -> Vec<Entry> {
        let Ok(read) = fs::read_dir(dir) else {
            self.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return Vec::new();
        };
        let mut entries = Vec::new();
        for entry in read {
            let Ok(entry) = entry else {
                self.totals.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let Ok(kind) = entry.file_type() else {
                self.totals.skipped.fetch_add(1, Ordering::Relaxed);
                continue;
            };
            let path = entry.path();
            if kind.is_dir() {
                if !(self.skip_target && entry.file_name() == "target") {
                    entries.push(Entry::Dir(path));
                }
            } else if kind.is_file() {
                entries.push(Entry::File(path));
            }
            // Symbolic links and special files are not followed.
        }
        entries.sort_by(|a, b| a.path().cmp(b.path()));
        entries
    }

    /// Hashes one file (its path relative to the root, then its contents)
    /// and adds it to the totals.
    fn hash_file(&self, path: &Path) {
        let Ok(mut file) = File::open(path) else {
            self.totals.skipped.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let mut hasher = Fnv1a::new();
        let relative = path.strip_prefix(&self.root).unwrap_or(path);
        hasher.write(relative.as_os_str().as_encoded_bytes());
        hasher.write(&[0xff]);
        let mut buffer = [0u8; 16 * 1024];
        let mut len = 0u64;
        loop {
            match file.read(&mut buffer) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.write(&buffer[..n]);
                    len += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.totals.skipped.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            }
        }
        let totals = &self.totals;
        totals.files.fetch_add(1, Ordering::Relaxed);
        totals.bytes.fetch_add(len, Ordering::Relaxed);
        totals.largest.fetch_max(len, Ordering::Relaxed);
        // `fetch_add` wraps on overflow: a sum modulo 2^64.
        totals
            .hash
            .fetch_add(mix(hasher.finish()), Ordering::Relaxed);
    }
}

impl Entry {
    fn path(&self) -> &Path {
        match self {
            Entry::Dir(path) | Entry::File(path) => path,
        }
    }
}

/// The parallel walk of `dir`: a task per subdirectory (which walks it the
/// same way) and a task per file. Every task is counted in `walk.pending`
/// before it is spawned, and its guard is dropped when it ends.
///
/// `'s` is the scope's lifetime: `walk` is borrowed for all of it, so tasks
/// can keep `&'s Walk` without any `Arc`.
fn walk_parallel<'s>(s: &Scope<'s>, walk: &'s Walk, dir: &Path) {
    for entry in walk.entries(dir) {
        let guard = walk.pending.add(); // before the hand-off, never inside the task
        match entry {
            Entry::Dir(path) => s.spawn(move |s| {
                walk_parallel(s, walk, &path);
                drop(guard);
            }),
            Entry::File(path) => s.spawn(move |_| {
                walk.hash_file(&path);
                drop(guard);
            }),
        }
    }
}

/// The same walk on the current thread.
fn walk_sequential(walk: &Walk, dir: &Path) {
    for entry in walk.entries(dir) {
        match entry {
            Entry::Dir(path) => walk_sequential(walk, &path),
            Entry::File(path) => walk.hash_file(&path),
        }
    }
}

/// Prints a progress line every 50 ms until `walk.pending` reaches zero.
/// `wait_timeout` is both the ticker and the stop signal: it returns true
/// as soon as the last guard is dropped.
fn report_progress(walk: &Walk) {
    let mut err = io::stderr();
    let mut shown = false;
    while !walk.pending.wait_timeout(Duration::from_millis(50)) {
        let files = walk.totals.files.load(Ordering::Relaxed);
        let bytes = walk.totals.bytes.load(Ordering::Relaxed);
        let _ = write!(
            err,
            "\r  {:>7} tasks outstanding   {:>8} files   {:>10} hashed ",
            walk.pending.count(),
            files,
            human(bytes)
        );
        let _ = err.flush();
        shown = true;
    }
    if shown {
        let _ = write!(err, "\r{:72}\r", "");
        let _ = err.flush();
    }
}

fn human(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

fn print_summary(label: &str, summary: &Summary, elapsed: Duration) {
    let skipped = match summary.skipped {
        0 => String::new(),
        n => format!(", {n} unreadable entries skipped"),
    };
    println!(
        "{label:<11} {:>7} files  {:>10}  combined hash {:016x}  {:>10.2?}{skipped}",
        summary.files,
        human(summary.bytes),
        summary.hash,
        elapsed
    );
}

/// One parallel walk of `root` on `pool`, with a progress line on stderr if
/// `show_progress`. Returns the totals and the time it took.
fn parallel_walk(
    pool: &ThreadPool,
    root: &Path,
    skip_target: bool,
    show_progress: bool,
) -> (Summary, Duration) {
    let walk = Walk::new(root.to_path_buf(), skip_target);
    let started = Instant::now();
    std::thread::scope(|threads| {
        // The root directory's own guard: the count cannot reach zero (and
        // stop the reporter) before the walk has even started.
        let root_guard = walk.pending.add();
        if show_progress {
            threads.spawn(|| report_progress(&walk));
        }
        pool.scope(|s| walk_parallel(s, &walk, root));
        drop(root_guard);
    }); // joins the reporter, which stops once the count is zero
    (walk.totals.summary(), started.elapsed())
}

fn main() {
    let mut root = None;
    let mut skip_target = true;
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--all" => skip_target = false,
            "-h" | "--help" => {
                println!("usage: tour [--all] [PATH]   (default PATH: this crate's directory)");
                return;
            }
            _ if root.is_none() => root = Some(PathBuf::from(arg)),
            _ => {
                eprintln!("tour: unexpected argument {arg:?}; see --help");
                std::process::exit(2);
            }
        }
    }
    let root = root.unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    if !root.is_dir() {
        eprintln!("tour: {} is not a directory", root.display());
        std::process::exit(2);
    }

    let pool = ThreadPool::new();
    println!(
        "taskgroup tour: hashing every file under {}{} on {} threads",
        root.display(),
        if skip_target {
            " (skipping `target`)"
        } else {
            ""
        },
        pool.num_threads()
    );

    // 0. An untimed parallel walk first, so that both timed walks find the
    //    files in the operating system's page cache: otherwise whichever
    //    walk comes first pays for the disk.
    let show_progress = io::stderr().is_terminal();
    let (warm_summary, warm_time) = parallel_walk(&pool, &root, skip_target, show_progress);
    print_summary("warm-up:", &warm_summary, warm_time);

    // 1. The parallel walk, with a live progress line on a terminal.
    let (parallel_summary, parallel_time) = parallel_walk(&pool, &root, skip_target, show_progress);
    print_summary("parallel:", &parallel_summary, parallel_time);

    // 2. The same walk on this thread alone.
    let sequential = Walk::new(root.clone(), skip_target);
    let started = Instant::now();
    walk_sequential(&sequential, &root);
    let sequential_time = started.elapsed();
    let sequential_summary = sequential.totals.summary();
    print_summary("sequential:", &sequential_summary, sequential_time);

    let speedup = sequential_time.as_secs_f64() / parallel_time.as_secs_f64().max(1e-9);
    println!(
        "speedup:    {speedup:.2}x on {} threads",
        pool.num_threads()
    );
    if sequential_time < Duration::from_millis(50) {
        println!(
            "            (a tree this small is walked in moments either way; for a \
             meaningful speedup try a bigger one, e.g. `-- ~/.cargo/registry/src`)"
        );
    }

    if parallel_summary != sequential_summary || warm_summary != sequential_summary {
        eprintln!(
            "tour: the two walks disagree (did files change while they ran?)\n  \
             parallel:   {parallel_summary:?}\n  sequential: {sequential_summary:?}"
        );
        std::process::exit(1);
    }
    println!("both walks agree");

    // 3. try_scope: the first error stops the walk.
    first_error::demo(&pool, &root, skip_target, sequential_summary.largest);

    // 4. What the pool's workers did through all of the above.
    println!("pool:       {}", pool.metrics());
}

mod first_error {
    //! The walk as an errgroup: a `try_scope` whose tasks return
    //! `Result<(), WalkError>`. The first error (a file over the size limit,
    //! or an unreadable path) becomes the scope's result and cancels the
    //! scope: tasks that have not started are dropped, and running ones see
    //! `is_cancelled()` and return early.

    use super::*;
    use std::fmt;
    use taskgroup::TryScope;

    #[derive(Debug)]
    pub enum WalkError {
        TooBig { path: PathBuf, len: u64, limit: u64 },
        Unreadable { path: PathBuf, error: io::Error },
    }

    impl fmt::Display for WalkError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                WalkError::TooBig { path, len, limit } => write!(
                    f,
                    "{} is {} (the limit is {})",
                    path.display(),
                    human(*len),
                    human(*limit)
                ),
                WalkError::Unreadable { path, error } => {
                    write!(f, "cannot read {}: {error}", path.display())
                }
            }
        }
    }

    fn unreadable(path: &Path) -> impl FnOnce(io::Error) -> WalkError + '_ {
        move |error| WalkError::Unreadable {
            path: path.to_path_buf(),
            error,
        }
    }

    /// Walks `dir`, failing on the first file larger than `limit`.
    fn try_walk<'s>(
        s: &TryScope<'s, WalkError>,
        walk: &'s Walk,
        dir: &Path,
        limit: u64,
    ) -> Result<(), WalkError> {
        for entry in fs::read_dir(dir).map_err(unreadable(dir))? {
            if s.is_cancelled() {
                return Ok(()); // another task failed: stop listing
            }
            let entry = entry.map_err(unreadable(dir))?;
            let path = entry.path();
            let kind = entry.file_type().map_err(unreadable(&path))?;
            if kind.is_dir() {
                if !(walk.skip_target && entry.file_name() == "target") {
                    s.spawn(move |s| try_walk(s, walk, &path, limit));
                }
            } else if kind.is_file() {
                let len = entry.metadata().map_err(unreadable(&path))?.len();
                if len > limit {
                    return Err(WalkError::TooBig { path, len, limit });
                }
                s.spawn(move |_| {
                    walk.hash_file(&path);
                    Ok(())
                });
            }
        }
        Ok(())
    }

    fn run(pool: &ThreadPool, root: &Path, skip_target: bool, limit: u64) {
        let walk = Walk::new(root.to_path_buf(), skip_target);
        let started = Instant::now();
        let result = pool.try_scope(|s| try_walk(s, &walk, root, limit));
        let elapsed = started.elapsed();
        let hashed = walk.totals.files.load(Ordering::Relaxed);
        match result {
            Ok(()) => println!(
                "  limit {:>10}: Ok, {hashed} files hashed in {elapsed:.2?}",
                human(limit)
            ),
            Err(e) => println!(
                "  limit {:>10}: Err after {hashed} files, {elapsed:.2?}: {e}",
                human(limit)
            ),
        }
    }

    /// Runs the walk twice: with a limit below the largest file (it must
    /// stop with `TooBig`) and with the largest file's size (it must pass).
    pub fn demo(pool: &ThreadPool, root: &Path, skip_target: bool, largest: u64) {
        println!("try_scope: the first file over the limit stops the walk");
        run(pool, root, skip_target, largest / 2);
        run(pool, root, skip_target, largest);
    }
}
