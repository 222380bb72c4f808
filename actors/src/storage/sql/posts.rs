//! PostgreSQL's posts across requests: the rows of every post waiting while the previous
//! insert ran go in as one multi-row `INSERT`, one statement and one commit (one WAL flush)
//! for all of them, where each request used to pay its own. SQLite's writes have their own
//! lane ([`super::lane`]); on PostgreSQL only posts are gathered, as they are most of the
//! writes and need nothing back but their count.
//!
//! A batch holds at most [`super::POST_CHUNK`] rows (PostgreSQL binds at most 65,535 values
//! in a statement); a post larger than that is split in one transaction by the store, not
//! here. When the combined statement fails, each post of it runs alone, so a failure is its
//! own request's only. The lane is a task on the runtime that opened the store; one batch
//! is in flight at a time, and the next gathers meanwhile (group commit).

use std::time::{Duration, Instant};

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use tokio::sync::{mpsc, oneshot};

use super::{placeholders, POSTGRES_SPANS, POST_CHUNK, POST_COLUMNS};
use crate::envelope::{BatchInfo, BatchSpan, JobTrace};
use crate::error::{Result, StorageError};
use crate::storage::bounded;

/// The columns every message row binds, in order.
pub const COLUMNS: &str = "id, project, queue, client_id, body, ttl, created, expires, visible_at";

type Answer = Result<(u64, BatchInfo)>;

struct Job {
    /// [`POST_COLUMNS`] values per row.
    values: Vec<Value>,
    queued: Instant,
    reply: oneshot::Sender<Answer>,
    trace: JobTrace,
}

impl Job {
    fn rows(&self) -> usize {
        self.values.len() / POST_COLUMNS
    }
}

/// The sending side; the task ends when the lane is dropped.
pub struct PostLane {
    jobs: mpsc::Sender<Job>,
}

impl PostLane {
    /// Starts the lane's task on the current runtime. `capacity` posts may wait; more are
    /// refused (503). Each statement is bounded by `timeout`.
    pub fn start(db: DatabaseConnection, capacity: usize, timeout: Duration) -> Self {
        let (jobs, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(serve(db, rx, timeout));
        Self { jobs }
    }

    /// Inserts the rows in `values` (at most [`POST_CHUNK`] rows of [`POST_COLUMNS`]) with
    /// the next batch: how many went in, once the batch has committed.
    pub async fn insert(&self, values: Vec<Value>) -> Result<(u64, BatchInfo)> {
        debug_assert!(values.len() / POST_COLUMNS <= POST_CHUNK);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            values,
            queued: Instant::now(),
            reply,
            trace: JobTrace::capture(POSTGRES_SPANS),
        };
        self.jobs.try_send(job).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => {
                StorageError::unavailable("PostgreSQL posts: too many waiting")
            }
            mpsc::error::TrySendError::Closed(_) => {
                StorageError::unavailable("PostgreSQL posts: stopped")
            }
        })?;
        answer
            .await
            .unwrap_or_else(|_| Err(StorageError::unavailable("PostgreSQL posts: stopped")))
    }
}

/// The lane's task: gathers the posts waiting, up to [`POST_CHUNK`] rows, and inserts them.
async fn serve(db: DatabaseConnection, mut rx: mpsc::Receiver<Job>, timeout: Duration) {
    let mut next = None;
    loop {
        let first = match next.take() {
            Some(job) => job,
            None => match rx.recv().await {
                Some(job) => job,
                None => return,
            },
        };
        let mut rows = first.rows();
        let mut batch = vec![first];
        while let Ok(job) = rx.try_recv() {
            if rows + job.rows() > POST_CHUNK {
                next = Some(job);
                break;
            }
            rows += job.rows();
            batch.push(job);
        }
        // A request that gave up waiting (its time bound answered it 503) is not inserted
        // after all: it must not be stored once its client was told it failed.
        batch.retain(|job| !job.reply.is_closed());
        if !batch.is_empty() {
            run(&db, batch, timeout).await;
        }
    }
}

/// Inserts `batch` as one statement; if that fails, each post alone.
async fn run(db: &DatabaseConnection, batch: Vec<Job>, timeout: Duration) {
    let span = BatchSpan::open(POSTGRES_SPANS, batch.iter().map(|job| &job.trace));
    let started = Instant::now();
    let waited = |job: &Job| started.saturating_duration_since(job.queued);
    let size = batch.len();
    if size == 1 {
        let [job] = <[Job; 1]>::try_from(batch).ok().expect("one job");
        let waited = waited(&job);
        let done = span.run(insert(db, &[&job], timeout)).await;
        let info = span.info().of(1, waited);
        span.end();
        let _ = job.reply.send(done.map(|n| (n, info)));
        return;
    }
    let jobs: Vec<&Job> = batch.iter().collect();
    match span.run(insert(db, &jobs, timeout)).await {
        Ok(_) => {
            let context = span.info();
            span.end();
            for job in batch {
                let info = context.of(size, waited(&job));
                let rows = job.rows() as u64;
                let _ = job.reply.send(Ok((rows, info)));
            }
        }
        Err(_) => {
            span.failed();
            span.end();
            for job in batch {
                let alone = BatchSpan::open(POSTGRES_SPANS, [&job.trace].into_iter());
                let done = alone.run(insert(db, &[&job], timeout)).await;
                let info = alone.info().of(1, waited(&job));
                alone.end();
                let _ = job.reply.send(done.map(|n| (n, info)));
            }
        }
    }
}

/// One `INSERT` of the rows of `jobs`: the rows inserted.
async fn insert(db: &DatabaseConnection, jobs: &[&Job], timeout: Duration) -> Result<u64> {
    let rows: usize = jobs.iter().map(|job| job.rows()).sum();
    let tuples: Vec<String> = (0..rows)
        .map(|i| format!("({})", placeholders(i * POST_COLUMNS + 1, POST_COLUMNS)))
        .collect();
    let sql = format!(
        "INSERT INTO messages ({COLUMNS}) VALUES {}",
        tuples.join(", ")
    );
    let values: Vec<Value> = jobs.iter().flat_map(|job| job.values.clone()).collect();
    let statement = Statement::from_sql_and_values(DbBackend::Postgres, sql, values);
    bounded(timeout, "PostgreSQL posts", async {
        Ok(db.execute_raw(statement).await?.rows_affected())
    })
    .await
}
