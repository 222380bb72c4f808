//! Writes gathered across requests: the jobs of every request waiting while the previous
//! batch ran go to the database together (one multi-row statement on PostgreSQL, one script
//! call per queue on Redis), one round trip and one commit (one WAL flush, one fsync of
//! Redis's append-only file) for all of them, where each request used to pay its own.
//! SQLite's writes have their own lane (`sql::lane`).
//!
//! A [`Gathered`] kind says how a batch of its jobs is sent and what each job is answered.
//! A batch holds at most [`Gathered::MAX_ROWS`] rows (a job larger than that runs alone).
//! When a batch fails as a whole, each of its jobs runs alone, so a failure is its own
//! request's only (kinds whose jobs can fail apart answer each job its own result instead).
//! A job whose request stopped waiting (its time bound answered it 503) is not run. Each lane
//! is a task on the runtime that opened the store; one batch is in flight at a time, and the
//! next gathers meanwhile (group commit).

use std::marker::PhantomData;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use tokio::sync::{mpsc, oneshot};

use crate::envelope::{BatchInfo, BatchSpan, DbSystem, JobTrace};
use crate::error::{Result, StorageError};

/// Bounds of a batch, on every store that gathers writes (SQLite's lane too):
/// `[storage] write_batch_max` and `write_batch_wait_us`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BatchLimits {
    /// Jobs (requests) committed together at most.
    pub max_jobs: usize,
    /// How long the lane waits for more jobs once it has one; zero: it takes what is
    /// already waiting, so a lone write is never delayed and batches form under load.
    pub max_wait: Duration,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_jobs: 256,
            max_wait: Duration::ZERO,
        }
    }
}

/// Writes that may wait in a lane; beyond, a write is answered 503 at once.
pub const LANE_CAPACITY: usize = 10_000;

/// A kind of write that a batch of requests can send as one.
pub trait Gathered: Send + Sync + 'static {
    /// What a batch is sent on.
    type Conn: Send + Sync + 'static;
    /// One request's part of the batch.
    type Job: Send + Sync + 'static;
    /// What one request is answered.
    type Done: Send + 'static;
    /// What the lane is called in errors.
    const NAME: &'static str;
    /// The batch span's database.
    const SPANS: DbSystem;
    /// Rows a batch may hold.
    const MAX_ROWS: usize;
    /// Rows `job` adds to the batch (one, unless a job carries many).
    fn rows(_job: &Self::Job) -> usize {
        1
    }
    /// Runs `jobs` as one batch, each round trip bounded by `timeout`: each job's answer, in
    /// order.
    fn run<'a>(
        conn: &'a Self::Conn,
        jobs: &'a [&'a Self::Job],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<Self::Done>>>;
    /// Whether an answer is a failure, for the batch's span.
    fn failed(_done: &Self::Done) -> bool {
        false
    }
}

type Answer<D> = Result<(D, BatchInfo)>;

struct Job<K: Gathered> {
    part: K::Job,
    queued: Instant,
    reply: oneshot::Sender<Answer<K::Done>>,
    trace: JobTrace,
}

/// The sending side of one kind's lane; its task ends when the lane is dropped.
pub struct Lane<K: Gathered> {
    jobs: mpsc::Sender<Job<K>>,
    kind: PhantomData<K>,
}

impl<K: Gathered> Lane<K> {
    /// Starts the lane's task on the current runtime. `capacity` jobs may wait; more are
    /// refused (503). Each batch's round trips are bounded by `timeout`; its size and the
    /// wait for it to fill by `limits`.
    pub fn start(conn: K::Conn, capacity: usize, timeout: Duration, limits: BatchLimits) -> Self {
        let (jobs, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(serve::<K>(conn, rx, timeout, limits));
        Self {
            jobs,
            kind: PhantomData,
        }
    }

    /// Runs `part` with the next batch: its answer, once the batch has committed. Called
    /// inside the request's statement span, when traced: the batch's span links to it.
    pub async fn run(&self, part: K::Job) -> Result<(K::Done, BatchInfo)> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            part,
            queued: Instant::now(),
            reply,
            trace: JobTrace::capture(K::SPANS),
        };
        self.jobs.try_send(job).map_err(|e| {
            StorageError::unavailable(match e {
                mpsc::error::TrySendError::Full(_) => format!("{}: too many waiting", K::NAME),
                mpsc::error::TrySendError::Closed(_) => format!("{}: stopped", K::NAME),
            })
        })?;
        answer
            .await
            .unwrap_or_else(|_| Err(StorageError::unavailable(format!("{}: stopped", K::NAME))))
    }
}

/// The lane's task: gathers the jobs waiting (and, with a `max_wait`, those arriving until
/// it has passed), up to `limits.max_jobs` jobs and [`Gathered::MAX_ROWS`] rows, and runs
/// them.
async fn serve<K: Gathered>(
    conn: K::Conn,
    mut rx: mpsc::Receiver<Job<K>>,
    timeout: Duration,
    limits: BatchLimits,
) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut rows = K::rows(&first.part);
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + limits.max_wait;
        while batch.len() < limits.max_jobs {
            let job = match rx.try_recv() {
                Ok(job) => job,
                Err(_) if limits.max_wait.is_zero() => break,
                // Time up, or the lane is gone: run what was taken.
                Err(_) => match tokio::time::timeout_at(deadline, rx.recv()).await {
                    Ok(Some(job)) => job,
                    _ => break,
                },
            };
            if rows + K::rows(&job.part) > K::MAX_ROWS {
                next = Some(job);
                break;
            }
            rows += K::rows(&job.part);
            batch.push(job);
        }
        // A request that gave up waiting (its time bound answered it 503) is not run after
        // all: it must not be done once its client was told it failed.
        batch.retain(|job| !job.reply.is_closed());
        if !batch.is_empty() {
            run(&conn, batch, timeout).await;
        }
    }
}

/// Runs `batch` as one; if that fails (and it held more than one job), each job
/// alone, for its own answer.
async fn run<K: Gathered>(conn: &K::Conn, batch: Vec<Job<K>>, timeout: Duration) {
    let span = BatchSpan::open(K::SPANS, batch.iter().map(|job| &job.trace));
    let started = Instant::now();
    let waited = |job: &Job<K>| started.saturating_duration_since(job.queued);
    let size = batch.len();
    let parts: Vec<&K::Job> = batch.iter().map(|job| &job.part).collect();
    let done = span.run(K::run(conn, &parts, timeout)).await;
    drop(parts);
    match done {
        Ok(answers) => {
            if answers.iter().any(K::failed) {
                span.failed();
            }
            let context = span.info();
            span.end();
            for (job, answer) in batch.into_iter().zip(answers) {
                let info = context.of(size, waited(&job));
                let _ = job.reply.send(Ok((answer, info)));
            }
        }
        Err(e) if size == 1 => {
            span.failed();
            span.end();
            if let Some(job) = batch.into_iter().next() {
                let _ = job.reply.send(Err(e));
            }
        }
        Err(_) => {
            span.failed();
            span.end();
            for job in batch {
                // As before the batch ran: a request that gave up meanwhile is not run.
                if job.reply.is_closed() {
                    continue;
                }
                let alone = BatchSpan::open(K::SPANS, [&job.trace].into_iter());
                let done = alone.run(K::run(conn, &[&job.part], timeout)).await;
                let info = alone.info().of(1, waited(&job));
                alone.end();
                let answer = done.map(|mut answers| (answers.remove(0), info));
                let _ = job.reply.send(answer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use futures_util::future::join_all;

    use super::*;
    use crate::envelope::DbLayer;

    /// What a [`Recorded`] lane ran: the jobs of each batch, in order.
    type Record = Arc<Mutex<Vec<Vec<usize>>>>;

    /// A kind that records the batches it runs; a job is its number of rows, and is answered
    /// it.
    struct Recorded;

    impl Gathered for Recorded {
        type Conn = Record;
        type Job = usize;
        type Done = usize;
        const NAME: &'static str = "recorded";
        const SPANS: DbSystem = DbSystem {
            system: "test",
            prefix: "TEST",
            layer: DbLayer::Sql,
            named_by_statement: false,
        };
        const MAX_ROWS: usize = 5;

        fn rows(job: &usize) -> usize {
            *job
        }

        fn run<'a>(
            record: &'a Record,
            jobs: &'a [&'a usize],
            _: Duration,
        ) -> BoxFuture<'a, Result<Vec<usize>>> {
            let jobs: Vec<usize> = jobs.iter().map(|j| **j).collect();
            record.lock().unwrap().push(jobs.clone());
            Box::pin(async move { Ok(jobs) })
        }
    }

    /// A kind whose batches of more than one job fail, once `release` is notified (after it
    /// notifies `started`); a job alone runs.
    #[derive(Default)]
    struct Gate {
        record: Record,
        started: tokio::sync::Notify,
        release: tokio::sync::Notify,
    }

    struct FailsTogether;

    impl Gathered for FailsTogether {
        type Conn = Arc<Gate>;
        type Job = usize;
        type Done = usize;
        const NAME: &'static str = "fails together";
        const SPANS: DbSystem = Recorded::SPANS;
        const MAX_ROWS: usize = 100;

        fn run<'a>(
            gate: &'a Arc<Gate>,
            jobs: &'a [&'a usize],
            _: Duration,
        ) -> BoxFuture<'a, Result<Vec<usize>>> {
            let jobs: Vec<usize> = jobs.iter().map(|j| **j).collect();
            gate.record.lock().unwrap().push(jobs.clone());
            Box::pin(async move {
                if jobs.len() == 1 {
                    return Ok(jobs);
                }
                gate.started.notify_one();
                gate.release.notified().await;
                Err(StorageError::unavailable("the batch failed"))
            })
        }
    }

    /// When a batch fails, its jobs run alone, except those whose request gave up while the
    /// batch ran: they must not be done once their client was told they failed.
    #[tokio::test(flavor = "current_thread")]
    async fn a_job_given_up_during_a_failed_batch_is_not_run_alone() {
        use futures_util::FutureExt;
        let gate = Arc::new(Gate::default());
        let limits = BatchLimits::default();
        let lane = Lane::<FailsTogether>::start(gate.clone(), 100, Duration::from_secs(5), limits);
        // Both sent before the lane's task first runs (one thread: it runs when this waits).
        let mut kept = Box::pin(lane.run(1));
        let mut given_up = Box::pin(lane.run(2));
        assert!((&mut kept).now_or_never().is_none());
        assert!((&mut given_up).now_or_never().is_none());
        gate.started.notified().await;
        drop(given_up);
        gate.release.notify_one();
        assert_eq!(kept.await.unwrap().0, 1);
        // The lane runs one batch at a time: once 3 is answered, the failed batch's jobs
        // have all been run alone or skipped.
        assert_eq!(lane.run(3).await.unwrap().0, 3);
        assert_eq!(*gate.record.lock().unwrap(), [vec![1, 2], vec![1], vec![3]]);
    }

    fn lane(max_jobs: usize, max_wait: Duration) -> (Arc<Lane<Recorded>>, Record) {
        let record = Record::default();
        let limits = BatchLimits { max_jobs, max_wait };
        let lane = Lane::start(record.clone(), 100, Duration::from_secs(5), limits);
        (Arc::new(lane), record)
    }

    /// Jobs already waiting are taken together up to `max_jobs` jobs and `MAX_ROWS` rows
    /// (a job larger than that alone), each answered its own.
    #[tokio::test(flavor = "current_thread")]
    async fn batches_are_bounded_by_jobs_and_rows() {
        let (lane, record) = lane(3, Duration::ZERO);
        // All sent before the lane's task first runs (one thread: it runs when this waits).
        let jobs = [1, 1, 1, 1, 2, 2, 2, 7, 1];
        let answers = join_all(jobs.iter().map(|&j| lane.run(j))).await;
        let answers: Vec<usize> = answers.into_iter().map(|a| a.unwrap().0).collect();
        assert_eq!(answers, jobs);
        assert_eq!(
            *record.lock().unwrap(),
            [vec![1, 1, 1], vec![1, 2, 2], vec![2], vec![7], vec![1]]
        );
    }

    /// With a `max_wait`, a job sent after the lane took the first still joins its batch;
    /// without one, the first runs alone at once.
    #[tokio::test(flavor = "current_thread")]
    async fn a_wait_lets_later_jobs_join() {
        for (max_wait, expected) in [
            (Duration::from_secs(60), vec![vec![1, 2]]),
            (Duration::ZERO, vec![vec![1], vec![2]]),
        ] {
            let (lane, record) = lane(2, max_wait);
            let first = tokio::spawn({
                let lane = lane.clone();
                async move { lane.run(1).await }
            });
            // The lane's task takes the first job (and, with a wait, waits for more).
            for _ in 0..10 {
                tokio::task::yield_now().await;
            }
            assert_eq!(lane.run(2).await.unwrap().0, 2);
            assert_eq!(first.await.unwrap().unwrap().0, 1);
            assert_eq!(*record.lock().unwrap(), expected, "{max_wait:?}");
        }
    }
}
