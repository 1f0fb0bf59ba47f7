//! Internals exposed to the loom model checks in `tests/loom_*.rs` only:
//! this module exists under `cfg(loom)` and is hidden from the docs.

use crate::pool::sleep;
use crate::WaitGuard;

/// The pool's sleep protocol.
#[derive(Debug)]
pub struct Sleep(sleep::Sleep);

impl Sleep {
    /// Sleep state for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Self(sleep::Sleep::new(workers))
    }
    /// See `pool::sleep::Sleep::sleep_until`.
    pub fn sleep(&self, index: usize, should_wake: impl FnOnce() -> bool) {
        self.0
            .sleep_until(index, sleep::Sleeper::Any, None, should_wake)
    }
    /// See `pool::sleep::Sleep::sleep_until` with `Sleeper::Targeted`.
    pub fn sleep_targeted(&self, index: usize, should_wake: impl FnOnce() -> bool) {
        self.0
            .sleep_until(index, sleep::Sleeper::Targeted, None, should_wake)
    }
    /// See `pool::sleep::Sleep::sleep_until`, with a deadline (loom decides
    /// when, if ever, it passes).
    pub fn sleep_timed(&self, index: usize, should_wake: impl FnOnce() -> bool) {
        let deadline = Some(std::time::Instant::now());
        self.0
            .sleep_until(index, sleep::Sleeper::Any, deadline, should_wake)
    }
    /// See `pool::sleep::Sleep::notify_one`.
    pub fn notify_one(&self) {
        self.0.notify_one()
    }
    /// See `pool::sleep::Sleep::notify_worker`.
    pub fn notify_worker(&self, index: usize) {
        self.0.notify_worker(index)
    }
    /// See `pool::sleep::Sleep::notify_all`.
    pub fn notify_all(&self) {
        self.0.notify_all()
    }
    /// See `pool::sleep::Sleep::sleepers`.
    pub fn sleepers(&self) -> usize {
        self.0.sleepers()
    }
}

/// A scope task's `done`, as run when its worker-owned scope ends.
pub fn finish_task(guard: WaitGuard<'_>, owner: usize, sleep: &Sleep) {
    finish_tasks(vec![guard], owner, sleep)
}

/// Several units of a scope's count returned in one `done`, as a worker
/// returns the units it kept spare (all of `guards` belong to one group).
pub fn finish_tasks(guards: Vec<WaitGuard<'_>>, owner: usize, sleep: &Sleep) {
    let units = u32::try_from(guards.len()).expect("too many guards");
    let wg = guards
        .into_iter()
        .map(WaitGuard::forget)
        .last()
        .expect("no guard to finish");
    // SAFETY: the guards were forgotten just above; their units are ours.
    unsafe { crate::scope::release_units(wg, units, owner, &sleep.0) }
}

/// The completion protocol shared by a task and its `TaskHandle`.
pub fn result_channel<T: Send>() -> (ResultJoiner<T>, ResultSender<T>) {
    let (state, guard) = crate::scope::HandleState::new(
        false,
        crate::error::TaskOrigin::new(std::panic::Location::caller(), None),
    );
    (
        ResultJoiner(crate::sync::Arc::clone(&state)),
        ResultSender { guard, state },
    )
}

/// The task's side of [`result_channel`].
#[derive(Debug)]
pub struct ResultSender<T> {
    guard: WaitGuard<'static>,
    // Declared after `guard`: dropped after it.
    state: crate::sync::Arc<crate::scope::HandleState<T>>,
}

impl<T> ResultSender<T> {
    /// Writes `value`, finishes, and wakes a worker joiner through `sleep`.
    pub fn send(self, value: T, sleep: &Sleep) {
        let Self { guard, state } = self;
        // SAFETY: written once, before the guard is done.
        unsafe { state.write(crate::scope::Outcome::Value(value)) };
        if let Some(joiner) = state.finish(guard) {
            sleep.notify_worker(joiner);
        }
    }
}

/// The handle's side of [`result_channel`].
#[derive(Debug)]
pub struct ResultJoiner<T>(crate::sync::Arc<crate::scope::HandleState<T>>);

impl<T> ResultJoiner<T> {
    /// Joins from worker `index`, sleeping in `sleep` while unfinished.
    pub fn join_as_worker(self, index: usize, sleep: &Sleep) -> Option<T> {
        self.0.wait_as_worker(index, |done| {
            while !done() {
                sleep.sleep(index, done);
            }
        });
        self.take()
    }

    /// Joins from outside any pool, blocking.
    pub fn join_blocking(self) -> Option<T> {
        self.0.wait_blocking();
        self.take()
    }

    fn take(self) -> Option<T> {
        // SAFETY: finished, and taken once (by value).
        match unsafe { self.0.take() } {
            Some(crate::scope::Outcome::Value(value)) => Some(value),
            _ => None,
        }
    }
}

/// A job handed to a thief by [`join_handoff`].
#[derive(Debug)]
pub struct StolenJob(crate::job::JobRef);

// SAFETY: it stands for a stack job whose owner waits for it.
unsafe impl Send for StolenJob {}

impl StolenJob {
    /// Runs the job, as a thief does.
    pub fn run(self) {
        // SAFETY: the job is executed once; its owner waits for it.
        unsafe { self.0.execute() }
    }
}

/// `join`'s hand-off: worker `owner` offers a stack job computing
/// `make()`, `give_away` hands it to a thief, and the owner sleeps in
/// `sleep` until the job's flag is set, then reads the result.
pub fn join_handoff<T: Send>(
    make: impl FnOnce() -> T + Send,
    owner: usize,
    sleep: &Sleep,
    give_away: impl FnOnce(StolenJob),
) -> T {
    let job = crate::join::JoinJob::new(make);
    // As a worker publishes a frame: whom to wake, then the hand-over.
    job.frame().set_owner(&sleep.0, owner);
    // `job` stays in this frame until its flag is set.
    give_away(StolenJob(job.frame().job_ref()));
    while !job.frame().is_done() {
        sleep.sleep(owner, || job.frame().is_done());
    }
    // SAFETY: the thief ran the job.
    match unsafe { job.into_result() } {
        Ok(value) => value,
        Err(payload) => std::panic::resume_unwind(payload),
    }
}

/// A scope's concurrency limit, over jobs named by numbers.
#[derive(Debug)]
pub struct Limiter(crate::scope::Limiter);

impl Limiter {
    /// At most `max` running.
    pub fn new(max: usize) -> Self {
        Self(crate::scope::Limiter::new(max))
    }

    /// Queues job `id` (not 0); `launch` receives the ids to start.
    pub fn submit(&self, id: usize, launch: impl Fn(usize)) {
        fn never(_: *const ()) {
            unreachable!("model jobs are never executed")
        }
        // SAFETY: the job is never executed; its address is its id.
        let job = unsafe { crate::job::JobRef::new(id as *const (), never) };
        self.0.submit(job, id, |job, _| launch(job.addr()));
    }

    /// Takes queued job `id` out of the queue for a lender, as `join` does.
    pub fn take_queued(&self, id: usize) -> bool {
        self.0.take_queued(id).is_some()
    }

    /// A launched job ended; `launch` receives the ids to start.
    pub fn finished(&self, launch: impl Fn(usize)) {
        self.0.finished(|job, _| launch(job.addr()));
    }
}

/// A scope's cancellation state.
#[derive(Debug)]
pub struct Cancellation(crate::scope::Cancellation);

impl Cancellation {
    /// A root state (no parent, no deadline).
    pub fn root() -> Self {
        // SAFETY: no parent.
        Self(unsafe { crate::scope::Cancellation::new(None, std::ptr::null()) })
    }

    /// A state whose parent is `parent`.
    ///
    /// # Safety
    ///
    /// `parent` outlives the child.
    pub unsafe fn child_of(parent: &Cancellation) -> Self {
        // SAFETY: forwarded.
        Self(unsafe { crate::scope::Cancellation::new(None, &parent.0) })
    }

    /// See `scope::cancel::Cancellation::cancel`.
    pub fn cancel(&self) {
        self.0.cancel()
    }

    /// See `scope::cancel::Cancellation::is_cancelled`.
    pub fn is_cancelled(&self) -> bool {
        self.0.is_cancelled()
    }
}

/// A lend host over a model queue of one task (named by its tag), whose
/// owner is worker `owner` of `sleep`.
#[derive(Debug)]
pub struct LendHost {
    host: crate::lend::LendHost,
}

/// The model queue: the tag of the one queued task, or 0 once taken.
#[derive(Debug)]
pub struct LendQueue(crate::sync::AtomicUsize);

impl LendQueue {
    /// A queue holding the task tagged `tag`.
    pub fn new(tag: usize) -> Self {
        Self(crate::sync::AtomicUsize::new(tag))
    }
}

impl LendHost {
    /// A host of a task running on worker `owner` of `sleep`, whose limit's
    /// queue is `queue`.
    ///
    /// # Safety
    ///
    /// `queue` and `sleep` outlive the host.
    pub unsafe fn new(queue: &LendQueue, owner: usize, sleep: &Sleep) -> Self {
        unsafe fn take(queue: *const (), tag: usize) -> Option<crate::job::JobRef> {
            fn never(_: *const ()) {
                unreachable!("model jobs are never executed")
            }
            // SAFETY: the caller of `LendHost::new` keeps the queue alive.
            let queue = unsafe { &*(queue as *const LendQueue) };
            let taken = queue
                .0
                .compare_exchange(
                    tag,
                    0,
                    crate::sync::Ordering::AcqRel,
                    crate::sync::Ordering::Relaxed,
                )
                .is_ok();
            // SAFETY: never executed; the address is the tag.
            taken.then(|| unsafe { crate::job::JobRef::new(tag as *const (), never) })
        }
        unsafe fn wake(sleep: *const (), index: usize) {
            // SAFETY: the caller of `LendHost::new` keeps the sleep state
            // alive.
            unsafe { (*(sleep as *const sleep::Sleep)).notify_worker(index) }
        }
        // SAFETY: forwarded to the caller.
        let host = unsafe {
            crate::lend::LendHost::new(
                queue as *const LendQueue as *const (),
                take,
                (owner + 1, owner),
                wake,
                &sleep.0 as *const sleep::Sleep as *const (),
                std::ptr::null(),
            )
        };
        Self { host }
    }

    /// Requester side: asks the owner to run the task tagged `tag`.
    pub fn request(&self, tag: usize) {
        self.host.request(tag)
    }

    /// Requester side: the wait is over.
    pub fn withdraw(&self, tag: usize) {
        self.host.withdraw(tag)
    }

    /// Owner side: the tag of a requested task taken out of the queue.
    pub fn next_lent(&self) -> Option<usize> {
        self.host.next_lent().map(crate::job::JobRef::addr)
    }

    /// Owner side: whether a request may be pending.
    pub fn is_requested(&self) -> bool {
        self.host.is_requested()
    }
}

/// A handle task's claim: `run` is called from two threads; the task runs
/// once. Returns, per call, whether it ran the task there.
#[derive(Debug)]
pub struct Claim(crate::sync::Arc<crate::scope::HandleState<()>>);

impl Claim {
    /// A claimable task that adds one to `ran`.
    pub fn new(ran: crate::sync::Arc<crate::sync::AtomicUsize>) -> Self {
        let (state, guard) = crate::scope::HandleState::<()>::new(
            false,
            crate::error::TaskOrigin::new(std::panic::Location::caller(), None),
        );
        // SAFETY: not shared yet; the task borrows nothing.
        unsafe {
            state.set_task(move || {
                ran.fetch_add(1, crate::sync::Ordering::Relaxed);
                drop(guard);
            })
        };
        Self(state)
    }

    /// Runs the task here unless it was claimed.
    pub fn run(&self) -> bool {
        self.0.run_if_unclaimed()
    }

    /// Another reference to the same task.
    pub fn share(&self) -> Self {
        Self(crate::sync::Arc::clone(&self.0))
    }
}

/// Each worker's queue of broadcast shares (`pool::broadcast`), over jobs
/// named by numbers.
#[derive(Debug)]
pub struct ShareQueues(crate::pool::broadcast::ShareQueues);

impl ShareQueues {
    /// Queues for `workers` workers.
    pub fn new(workers: usize) -> Self {
        Self(crate::pool::broadcast::ShareQueues::new(workers))
    }

    /// Queues share `id` (not 0) for worker `index` and wakes it in `sleep`.
    pub fn push(&self, index: usize, id: usize, sleep: &Sleep) {
        fn never(_: *const ()) {
            unreachable!("model jobs are never executed")
        }
        // SAFETY: the job is never executed; its address is its id.
        let job = unsafe { crate::job::JobRef::new(id as *const (), never) };
        self.0.push(index, job, &sleep.0);
    }

    /// The id of the oldest share queued for worker `index`.
    pub fn take(&self, index: usize) -> Option<usize> {
        self.0.take(index).map(crate::job::JobRef::addr)
    }

    /// See `pool::broadcast::ShareQueues::has_share`.
    pub fn has_share(&self, index: usize) -> bool {
        self.0.has_share(index)
    }
}

mod async_handle;
mod frames;
mod waitlist;

pub use async_handle::*;
pub use frames::*;
pub use waitlist::*;
