//! errgroup-style fan-out: fetch many things at once, at most N at a time,
//! under a deadline, and stop everything at the first error.
//!
//! ```sh
//! cargo run --release --example fetch_all         # 24 jobs per run
//! cargo run --release --example fetch_all -- 8    # a small input (CI)
//! ```
//!
//! The "fetches" are simulated: each job sleeps for a pseudo-random 20 to
//! 120 ms, in 5 ms slices, checking between slices whether its scope has
//! been cancelled (a real client would pass the same check to its I/O, or
//! poll it between requests). Three runs over the same jobs:
//!
//! 1. everything succeeds: `Ok`, and the peak number of jobs in flight never
//!    exceeds the limit;
//! 2. one job fails: its error is the result, the scope is cancelled, jobs
//!    that had not started never run and running ones stop early;
//! 3. the deadline is too short: `Err(Deadline { skipped })`.
//!
//! In Go this is `errgroup.WithContext` + `SetLimit` + `context.WithTimeout`:
//!
//! ```go
//! ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
//! defer cancel()
//! g, ctx := errgroup.WithContext(ctx)
//! g.SetLimit(4)
//! for i, job := range jobs {
//!     g.Go(func() error {
//!         page, err := fetch(ctx, job)
//!         if err != nil {
//!             return err
//!         }
//!         pages[i] = page
//!         return nil
//!     })
//! }
//! err := g.Wait()
//! ```
//!
//! Here: `pool.scope_builder().max_concurrency(4).timeout(2 s).try_scope(..)`.
//! The jobs block (they sleep), so they run on a pool with more threads than
//! the limit: the limit, not the pool, decides how many are in flight. For
//! real network I/O at scale, an async runtime is the better tool; this
//! shape fits blocking clients and CPU-heavy jobs.

mod fetch {
    use std::fmt;
    use std::time::{Duration, Instant};

    use taskgroup::{DeadlineExceeded, ThreadPool, TryScope, WaitGroup};

    /// How long a job sleeps between two looks at its scope's cancellation.
    const SLICE: Duration = Duration::from_millis(5);

    /// A simulated remote resource.
    pub struct Job {
        id: usize,
        latency: Duration,
    }

    /// What a successful fetch returns.
    #[derive(Debug)]
    struct Page {
        #[allow(dead_code)]
        id: usize,
        bytes: usize,
    }

    #[derive(Debug)]
    enum FetchError {
        NotFound { id: usize },
        Deadline { skipped: usize },
    }

    impl fmt::Display for FetchError {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                FetchError::NotFound { id } => write!(f, "job {id}: not found"),
                FetchError::Deadline { skipped } => {
                    write!(f, "deadline exceeded; never started: {skipped}")
                }
            }
        }
    }

    /// What lets `try_scope` report a passed deadline as our error type.
    impl From<DeadlineExceeded> for FetchError {
        fn from(e: DeadlineExceeded) -> Self {
            FetchError::Deadline {
                skipped: e.skipped(),
            }
        }
    }

    /// Counters for the report. `in_flight` is a `WaitGroup` used as an RAII
    /// counter: a job holds a guard while it runs, whichever way it returns.
    #[derive(Default)]
    struct Stats {
        in_flight: WaitGroup,
        peak: std::sync::atomic::AtomicUsize,
        started: std::sync::atomic::AtomicUsize,
        stopped_early: std::sync::atomic::AtomicUsize,
    }

    /// Jobs with pseudo-random latencies of 20 to 120 ms (xorshift).
    pub fn jobs(n: usize) -> Vec<Job> {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        (0..n)
            .map(|id| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                Job {
                    id,
                    latency: Duration::from_millis(20 + seed % 100),
                }
            })
            .collect()
    }

    /// "Fetches" `job`: `Ok(None)` if the scope was cancelled meanwhile.
    fn fetch(
        s: &TryScope<'_, FetchError>,
        job: &Job,
        failing: Option<usize>,
        stats: &Stats,
    ) -> Result<Option<Page>, FetchError> {
        use std::sync::atomic::Ordering::Relaxed;
        let _in_flight = stats.in_flight.add();
        stats.started.fetch_add(1, Relaxed);
        stats.peak.fetch_max(stats.in_flight.count(), Relaxed);

        let done = Instant::now() + job.latency;
        loop {
            if s.is_cancelled() {
                stats.stopped_early.fetch_add(1, Relaxed);
                return Ok(None); // like returning on <-ctx.Done()
            }
            let now = Instant::now();
            if now >= done {
                break;
            }
            std::thread::sleep(SLICE.min(done - now));
        }
        if failing == Some(job.id) {
            return Err(FetchError::NotFound { id: job.id });
        }
        Ok(Some(Page {
            id: job.id,
            bytes: 1000 + job.id,
        }))
    }

    /// One fan-out over `jobs`: at most `limit` in flight, all of it within
    /// `timeout`, and job `failing` (if any) returns an error.
    pub fn run(
        label: &str,
        pool: &ThreadPool,
        jobs: &[Job],
        limit: usize,
        timeout: Duration,
        failing: Option<usize>,
    ) {
        use std::sync::atomic::Ordering::Relaxed;
        let stats = Stats::default();
        let mut pages: Vec<Option<Page>> = jobs.iter().map(|_| None).collect();
        let started = Instant::now();

        let result = pool
            .scope_builder()
            .max_concurrency(limit)
            .timeout(timeout)
            .try_scope(|s| {
                for (job, page) in jobs.iter().zip(&mut pages) {
                    let stats = &stats;
                    // Each task borrows its job and its own result slot.
                    s.spawn(move |s| {
                        *page = fetch(s, job, failing, stats)?;
                        Ok(())
                    });
                }
                Ok(())
            });

        let elapsed = started.elapsed();
        let fetched = pages.iter().flatten().count();
        let bytes: usize = pages.iter().flatten().map(|p| p.bytes).sum();
        println!("{label}");
        match &result {
            Ok(()) => println!("  Ok: {fetched} pages, {bytes} bytes, in {elapsed:.0?}"),
            Err(e) => println!("  Err({e}) after {elapsed:.0?}; {fetched} pages fetched"),
        }
        println!(
            "  {} of {} jobs started, {} stopped early; at most {} in flight (limit {limit})",
            stats.started.load(Relaxed),
            jobs.len(),
            stats.stopped_early.load(Relaxed),
            stats.peak.load(Relaxed),
        );
        assert!(stats.peak.load(Relaxed) <= limit, "the limit was exceeded");
    }
}

fn main() {
    use std::time::Duration;

    let n: usize = match std::env::args().nth(1) {
        Some(arg) => arg.parse().unwrap_or_else(|_| {
            eprintln!("usage: fetch_all [JOBS]  (default 24)");
            std::process::exit(2);
        }),
        None => 24,
    };
    let limit = 4;
    // Blocking jobs: more threads than the limit, so that the limit is what
    // bounds the jobs in flight.
    let pool = taskgroup::ThreadPool::builder()
        .num_threads(2 * limit)
        .build()
        .expect("start the pool");
    let jobs = fetch::jobs(n.max(1));
    let failing = Some(n.max(1) / 2);

    fetch::run(
        "1. all succeed (limit 4, deadline 2 s):",
        &pool,
        &jobs,
        limit,
        Duration::from_secs(2),
        None,
    );
    fetch::run(
        "2. one job fails (the first error cancels the rest):",
        &pool,
        &jobs,
        limit,
        Duration::from_secs(2),
        failing,
    );
    fetch::run(
        "3. deadline too short (100 ms):",
        &pool,
        &jobs,
        limit,
        Duration::from_millis(100),
        None,
    );
}
