//! PostgreSQL's writes across requests: the posts (or the deletes by id) of every request
//! waiting while the previous statement ran go to the database as one multi-row statement,
//! one statement and one commit (one WAL flush) for all of them, where each request used to
//! pay its own. SQLite's writes have their own lane ([`super::lane`]); on PostgreSQL only
//! posts and deletes by id are gathered, as they are most of the writes and each request
//! can read its own answer in the statement's.
//!
//! A [`Gathered`] kind says how a batch of its jobs is one statement and what each job is
//! answered. A batch holds at most [`Gathered::MAX_ROWS`] rows (PostgreSQL binds at most
//! 65,535 values in a statement). When the combined statement fails, each job of it runs
//! alone, so a failure is its own request's only. A job whose request stopped waiting (its
//! time bound answered it 503) is not run. Each lane is a task on the runtime that opened the
//! store; one batch is in flight at a time, and the next gathers meanwhile (group commit).

use std::collections::HashSet;
use std::marker::PhantomData;
use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, Statement, Value};
use tokio::sync::{mpsc, oneshot};

use super::{tuples, POSTGRES_SPANS, POST_CHUNK, POST_COLUMNS};
use crate::envelope::{BatchInfo, BatchSpan, JobTrace};
use crate::error::{Result, StorageError};
use crate::storage::bounded;

/// The columns every message row of a post binds, in order.
pub const POST_FIELDS: &str =
    "id, project, queue, client_id, body, ttl, created, expires, visible_at";

/// A kind of write that a batch of requests can make as one statement.
pub trait Gathered: Send + Sync + 'static {
    /// One request's part of the statement.
    type Job: Send + Sync + 'static;
    /// What one request is answered.
    type Done: Send + 'static;
    /// What the lane is called in errors.
    const NAME: &'static str;
    /// Rows a batch may hold.
    const MAX_ROWS: usize;
    /// Rows (`VALUES` tuples) `job` adds to the statement.
    fn rows(job: &Self::Job) -> usize;
    /// Runs `jobs` as one statement: each job's answer, in order.
    fn run<'a>(
        db: &'a DatabaseConnection,
        jobs: &'a [&'a Self::Job],
    ) -> BoxFuture<'a, Result<Vec<Self::Done>>>;
}

/// Posts: the rows of every post in one `INSERT`; each is answered how many rows it had.
pub struct Posts;

impl Gathered for Posts {
    /// [`POST_COLUMNS`] values per row.
    type Job = Vec<Value>;
    type Done = u64;
    const NAME: &'static str = "PostgreSQL posts";
    const MAX_ROWS: usize = POST_CHUNK;

    fn rows(job: &Vec<Value>) -> usize {
        job.len() / POST_COLUMNS
    }

    fn run<'a>(
        db: &'a DatabaseConnection,
        jobs: &'a [&'a Vec<Value>],
    ) -> BoxFuture<'a, Result<Vec<u64>>> {
        Box::pin(async move {
            let sql = format!(
                "INSERT INTO messages ({POST_FIELDS}) VALUES {}",
                tuples(jobs.iter().map(|job| Self::rows(job)).sum(), POST_COLUMNS)
            );
            let values: Vec<Value> = jobs.iter().flat_map(|job| job.iter().cloned()).collect();
            // A plain INSERT puts in every row or fails: each post had all of its own.
            db.execute_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                sql,
                values,
            ))
            .await?;
            Ok(jobs.iter().map(|job| Self::rows(job) as u64).collect())
        })
    }
}

/// A delete by id: the message, its queue, the claim named (if any) and the time.
pub struct Delete {
    pub id: String,
    pub project: String,
    pub queue: String,
    pub claim: Option<String>,
    pub now: i64,
}

/// Deletes by id: every request's in one `DELETE ... USING (VALUES ...)`; each is answered
/// whether its message went (when not, the store finds out why, alone).
pub struct Deletes;

impl Gathered for Deletes {
    type Job = Delete;
    type Done = bool;
    const NAME: &'static str = "PostgreSQL deletes";
    const MAX_ROWS: usize = 1000;

    fn rows(_: &Delete) -> usize {
        1
    }

    fn run<'a>(
        db: &'a DatabaseConnection,
        jobs: &'a [&'a Delete],
    ) -> BoxFuture<'a, Result<Vec<bool>>> {
        Box::pin(async move {
            // As a delete alone (messages.rs): an unclaimed message when no claim is named,
            // else one held by the live claim named.
            let sql = format!(
                "DELETE FROM messages m USING (VALUES {}) AS v(id, project, queue, claim, now)
                 WHERE m.id = v.id AND (m.project = v.project AND m.queue = v.queue) IS TRUE
                 AND CASE WHEN v.claim IS NULL THEN m.claim_expires <= v.now
                     ELSE m.claim_id = v.claim AND m.claim_expires > v.now END
                 RETURNING m.id",
                tuples(jobs.len(), 5)
            );
            let values: Vec<Value> = jobs
                .iter()
                .flat_map(|d| {
                    [
                        Value::from(d.id.as_str()),
                        d.project.as_str().into(),
                        d.queue.as_str().into(),
                        Value::String(d.claim.clone()),
                        d.now.into(),
                    ]
                })
                .collect();
            let rows = db
                .query_all_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    sql,
                    values,
                ))
                .await?;
            let gone: HashSet<String> = rows
                .iter()
                .map(|row| row.try_get_by_index(0))
                .collect::<Result<_, sea_orm::DbErr>>()?;
            Ok(jobs.iter().map(|d| gone.contains(&d.id)).collect())
        })
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
    /// refused (503). Each statement is bounded by `timeout`.
    pub fn start(db: DatabaseConnection, capacity: usize, timeout: Duration) -> Self {
        let (jobs, rx) = mpsc::channel(capacity.max(1));
        tokio::spawn(serve::<K>(db, rx, timeout));
        Self {
            jobs,
            kind: PhantomData,
        }
    }

    /// Runs `part` with the next batch: its answer, once the batch has committed. Called
    /// inside the request's statement span, when traced: the batch's span links to it.
    pub async fn run(&self, part: K::Job) -> Result<(K::Done, BatchInfo)> {
        debug_assert!(K::rows(&part) <= K::MAX_ROWS);
        let (reply, answer) = oneshot::channel();
        let job = Job {
            part,
            queued: Instant::now(),
            reply,
            trace: JobTrace::capture(POSTGRES_SPANS),
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

/// The lane's task: gathers the jobs waiting, up to [`Gathered::MAX_ROWS`], and runs them.
async fn serve<K: Gathered>(
    db: DatabaseConnection,
    mut rx: mpsc::Receiver<Job<K>>,
    timeout: Duration,
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
        while let Ok(job) = rx.try_recv() {
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
            run(&db, batch, timeout).await;
        }
    }
}

/// Runs `batch` as one statement; if that fails (and it held more than one job), each job
/// alone, for its own answer.
async fn run<K: Gathered>(db: &DatabaseConnection, batch: Vec<Job<K>>, timeout: Duration) {
    let span = BatchSpan::open(POSTGRES_SPANS, batch.iter().map(|job| &job.trace));
    let started = Instant::now();
    let waited = |job: &Job<K>| started.saturating_duration_since(job.queued);
    let size = batch.len();
    let parts: Vec<&K::Job> = batch.iter().map(|job| &job.part).collect();
    let done = span.run(statement::<K>(db, &parts, timeout)).await;
    drop(parts);
    match done {
        Ok(answers) => {
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
                let alone = BatchSpan::open(POSTGRES_SPANS, [&job.trace].into_iter());
                let done = alone.run(statement::<K>(db, &[&job.part], timeout)).await;
                let info = alone.info().of(1, waited(&job));
                alone.end();
                let answer = done.map(|mut answers| (answers.remove(0), info));
                let _ = job.reply.send(answer);
            }
        }
    }
}

/// One statement of `parts`, bounded by `timeout`.
async fn statement<K: Gathered>(
    db: &DatabaseConnection,
    parts: &[&K::Job],
    timeout: Duration,
) -> Result<Vec<K::Done>> {
    bounded(timeout, K::NAME, K::run(db, parts)).await
}
