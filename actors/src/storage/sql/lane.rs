//! SQLite's write lane: every write of the embedded store runs on one connection of its own,
//! on a thread of its own (rusqlite), which commits the writes waiting for it together: one
//! transaction, and with `synchronous = full` one fsync, for every request that arrived while
//! the previous commit ran (group commit). A request is answered once its batch committed.
//!
//! Why a thread and not sqlx: sqlx runs each SQLite connection on a worker thread and moves
//! every statement there and back; here a batch crosses threads once, its statements run as
//! cached prepared statements in-process, and writers never wait on each other for SQLite's
//! write lock. `cargo bench --bench sqlite_writes` measures the designs side by side
//! (BENCHMARKS.md, "Writes").
//!
//! A job is one request's statements, run in order in the batch's transaction; what a
//! statement finds (rows affected, rows returned) is the job's answer, so a conflict (a claim
//! that matches nothing) is an answer, not a failure. A statement that fails rolls the batch
//! back, and each of its jobs then runs alone, so a failure fails only its own request. Reads
//! stay on sqlx's pool: WAL lets them run beside the lane.

use std::path::Path;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::time::{Duration, Instant};

use rusqlite::types::{ToSqlOutput, Value as Cell, ValueRef};
use sea_orm::sea_query::ValueType;
use sea_orm::Value;
use tokio::sync::oneshot;

use crate::envelope::{BatchInfo, BatchSpan, JobTrace};
use crate::error::{Result, StorageError};
pub use crate::storage::gather::BatchLimits;

/// One statement of a job: its SQL (with `?N` placeholders) and values, and whether the
/// rows it returns are wanted.
pub struct Stmt {
    pub sql: String,
    pub values: Vec<Value>,
    pub rows: bool,
}

/// What one statement found.
#[derive(Debug)]
pub enum Found {
    Affected(u64),
    Rows(Vec<Row>),
}

impl Found {
    /// Rows affected (a statement that returned rows: how many).
    pub fn affected(self) -> u64 {
        match self {
            Found::Affected(n) => n,
            Found::Rows(rows) => rows.len() as u64,
        }
    }
}

/// A returned row: its columns' values, in the statement's order.
#[derive(Debug)]
pub struct Row(Vec<Value>);

impl Row {
    /// Column `i` as `T`.
    pub fn get<T: ValueType>(&self, i: usize) -> Result<T> {
        let value = self
            .0
            .get(i)
            .cloned()
            .ok_or_else(|| StorageError::unavailable(format!("no column {i} in the row")))?;
        T::try_from(value).map_err(|e| StorageError::unavailable(format!("column {i}: {e}")))
    }
}

type Answer = std::result::Result<(Vec<Found>, BatchInfo), rusqlite::Error>;

struct Job {
    stmts: Vec<Stmt>,
    queued: Instant,
    reply: oneshot::Sender<Answer>,
    trace: JobTrace,
}

/// The sending side; the thread ends when the lane is dropped.
pub struct Lane {
    jobs: SyncSender<Job>,
}

impl Lane {
    /// Opens `path` on a new thread. `capacity` jobs may wait; more are refused (503) rather
    /// than queued without bound.
    pub fn open(path: &Path, full: bool, limits: BatchLimits, capacity: usize) -> Result<Self> {
        let conn = connect(path, full)
            .map_err(|e| StorageError::unavailable_in("SQLite write lane: open", e))?;
        let (jobs, rx) = mpsc::sync_channel(capacity.max(1));
        std::thread::Builder::new()
            .name("sqlite-writes".into())
            .spawn(move || serve(conn, rx, limits))
            .map_err(|e| StorageError::unavailable_in("SQLite write lane: thread", e))?;
        Ok(Self { jobs })
    }

    /// Runs `stmts` in the next batch; what each found once the batch has committed. Called
    /// inside the statement's span, when the request is traced: the batch's span links to it.
    pub async fn run(&self, stmts: Vec<Stmt>) -> Result<(Vec<Found>, BatchInfo)> {
        let (reply, answer) = oneshot::channel();
        let job = Job {
            stmts,
            queued: Instant::now(),
            reply,
            trace: JobTrace::capture(super::SQLITE_SPANS),
        };
        match self.jobs.try_send(job) {
            Ok(()) => {}
            Err(TrySendError::Full(_)) => {
                return Err(StorageError::unavailable(
                    "SQLite write lane: too many writes waiting",
                ))
            }
            Err(TrySendError::Disconnected(_)) => {
                return Err(StorageError::unavailable("SQLite write lane: stopped"))
            }
        }
        match answer.await {
            Ok(Ok(done)) => Ok(done),
            Ok(Err(e)) => Err(StorageError::unavailable_in("SQLite", e)),
            Err(_) => Err(StorageError::unavailable("SQLite write lane: stopped")),
        }
    }
}

fn connect(path: &Path, full: bool) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(path)?;
    // As the pool's connections are set up (sql.rs), so that both see one database.
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", if full { "FULL" } else { "NORMAL" })?;
    conn.pragma_update(None, "wal_autocheckpoint", 256)?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.busy_timeout(Duration::from_secs(10))?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

/// The lane's thread: takes a batch, runs it, answers it, until the lane is dropped.
fn serve(mut conn: rusqlite::Connection, rx: Receiver<Job>, limits: BatchLimits) {
    while let Some(mut batch) = take(&rx, limits) {
        // A request that gave up waiting (its time bound answered it 503) is not run after
        // all: it must not be stored once its client was told it failed.
        batch.retain(|job| !job.reply.is_closed());
        if batch.is_empty() {
            continue;
        }
        let span = BatchSpan::open(super::SQLITE_SPANS, batch.iter().map(|job| &job.trace));
        let started = Instant::now();
        let jobs = batch.len();
        let waited = |job: &Job| started.saturating_duration_since(job.queued);
        match span.in_scope(|| run_batch(&mut conn, &batch)) {
            Ok(found) => {
                let context = span.info();
                let infos: Vec<BatchInfo> = batch
                    .iter()
                    .map(|job| context.of(jobs, waited(job)))
                    .collect();
                // The batch's span ends before any of its requests is answered (and so
                // before their own spans end).
                span.end();
                for ((job, found), info) in batch.into_iter().zip(found).zip(infos) {
                    let _ = job.reply.send(Ok((found, info)));
                }
            }
            // One job's failure (or the commit's): each job alone, for its own answer.
            Err(_) => {
                span.failed();
                span.end();
                for job in batch {
                    // As before the batch ran: a request that gave up meanwhile is not run.
                    if job.reply.is_closed() {
                        continue;
                    }
                    let alone = BatchSpan::open(super::SQLITE_SPANS, [&job.trace].into_iter());
                    let answer = alone
                        .in_scope(|| run_batch(&mut conn, std::slice::from_ref(&job)))
                        .map(|mut found| (found.remove(0), alone.info().of(1, waited(&job))));
                    alone.end();
                    let _ = job.reply.send(answer);
                }
            }
        }
    }
}

/// The first job waiting (blocking), then every other one up to the limits.
fn take(rx: &Receiver<Job>, limits: BatchLimits) -> Option<Vec<Job>> {
    let first = rx.recv().ok()?;
    let mut batch = vec![first];
    let deadline = Instant::now() + limits.max_wait;
    while batch.len() < limits.max_jobs {
        let next = match rx.try_recv() {
            Ok(job) => Ok(job),
            Err(_) if limits.max_wait.is_zero() => break,
            Err(_) => rx.recv_timeout(deadline.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(job) => batch.push(job),
            Err(RecvTimeoutError::Timeout) => break,
            // The lane is gone: run what was taken.
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    Some(batch)
}

/// Runs every job of `batch` in one transaction and commits it: what each statement found.
fn run_batch(conn: &mut rusqlite::Connection, batch: &[Job]) -> rusqlite::Result<Vec<Vec<Found>>> {
    // IMMEDIATE: the write lock is taken at BEGIN, so a writer elsewhere (the pool's rare
    // transactions) makes this wait in busy_timeout rather than fail halfway.
    let txn = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let mut out = Vec::with_capacity(batch.len());
    for job in batch {
        let mut found = Vec::with_capacity(job.stmts.len());
        for stmt in &job.stmts {
            found.push(execute(&txn, stmt)?);
        }
        out.push(found);
    }
    txn.commit()?;
    Ok(out)
}

fn execute(txn: &rusqlite::Transaction<'_>, stmt: &Stmt) -> rusqlite::Result<Found> {
    let mut prepared = txn.prepare_cached(&stmt.sql)?;
    for (i, value) in stmt.values.iter().enumerate() {
        prepared.raw_bind_parameter(i + 1, cell(value)?)?;
    }
    if !stmt.rows {
        return Ok(Found::Affected(prepared.raw_execute()? as u64));
    }
    let text: Vec<bool> = prepared
        .columns()
        .iter()
        .map(|c| {
            c.decl_type()
                .is_some_and(|t| t.eq_ignore_ascii_case("TEXT"))
        })
        .collect();
    let mut rows = prepared.raw_query();
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = text
            .iter()
            .enumerate()
            .map(|(i, is_text)| Ok(value(row.get_ref(i)?, *is_text)))
            .collect::<rusqlite::Result<_>>()?;
        out.push(Row(values));
    }
    Ok(Found::Rows(out))
}

/// A bound value, for the types the SQL store binds; text and blobs (message bodies) are
/// bound where they are, not copied.
fn cell(v: &Value) -> rusqlite::Result<ToSqlOutput<'_>> {
    let unsupported =
        || rusqlite::Error::ToSqlConversionFailure(format!("no SQLite binding for {v:?}").into());
    let int = |i: Option<i64>| ToSqlOutput::Owned(i.map_or(Cell::Null, Cell::Integer));
    Ok(match v {
        Value::Bool(b) => int(b.map(i64::from)),
        Value::TinyInt(i) => int(i.map(i64::from)),
        Value::SmallInt(i) => int(i.map(i64::from)),
        Value::Int(i) => int(i.map(i64::from)),
        Value::BigInt(i) => int(*i),
        Value::Unsigned(i) => int(i.map(i64::from)),
        Value::BigUnsigned(i) => match i {
            None => int(None),
            Some(i) => int(Some(
                <i64 as TryFrom<u64>>::try_from(*i).map_err(|_| unsupported())?,
            )),
        },
        Value::Double(d) => ToSqlOutput::Owned(d.map_or(Cell::Null, Cell::Real)),
        Value::String(s) => s.as_ref().map_or(ToSqlOutput::Owned(Cell::Null), |s| {
            ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
        }),
        Value::Bytes(b) => b.as_ref().map_or(ToSqlOutput::Owned(Cell::Null), |b| {
            ToSqlOutput::Borrowed(ValueRef::Blob(b))
        }),
        _ => return Err(unsupported()),
    })
}

/// A column's value as sea-orm's, typed by the column's declared type when NULL.
fn value(v: ValueRef<'_>, text: bool) -> Value {
    match v {
        ValueRef::Null if text => Value::String(None),
        ValueRef::Null => Value::BigInt(None),
        ValueRef::Integer(i) => Value::BigInt(Some(i)),
        ValueRef::Real(f) => Value::Double(Some(f)),
        ValueRef::Text(t) => Value::String(Some(String::from_utf8_lossy(t).into_owned())),
        ValueRef::Blob(b) => Value::Bytes(Some(b.to_vec())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lane(dir: &tempfile::TempDir, limits: BatchLimits) -> Lane {
        let path = dir.path().join("lane.db");
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, note TEXT)",
        )
        .unwrap();
        Lane::open(&path, false, limits, 100).unwrap()
    }

    /// The rows of a read through the lane.
    async fn select(lane: &Lane, sql: &str) -> Vec<Row> {
        let (mut found, _) = lane
            .run(vec![Stmt {
                sql: sql.into(),
                values: vec![],
                rows: true,
            }])
            .await
            .unwrap();
        match found.remove(0) {
            Found::Rows(rows) => rows,
            other => panic!("{other:?}"),
        }
    }

    fn insert(name: &str) -> Stmt {
        Stmt {
            sql: "INSERT INTO t (name) VALUES (?1)".into(),
            values: vec![name.into()],
            rows: false,
        }
    }

    #[tokio::test]
    async fn rows_come_back_in_column_order_with_nulls_typed() {
        let dir = tempfile::tempdir().unwrap();
        let lane = lane(&dir, BatchLimits::default());
        let (found, info) = lane
            .run(vec![
                insert("a"),
                Stmt {
                    sql: "SELECT note, name, id FROM t".into(),
                    values: vec![],
                    rows: true,
                },
            ])
            .await
            .unwrap();
        assert_eq!(info.jobs, 1);
        assert!(matches!(found[0], Found::Affected(1)));
        let Found::Rows(rows) = &found[1] else {
            panic!("{found:?}")
        };
        let note: Option<String> = rows[0].get(0).unwrap();
        let name: String = rows[0].get(1).unwrap();
        let id: i64 = rows[0].get(2).unwrap();
        assert_eq!((note, name.as_str(), id), (None, "a", 1));
    }

    #[tokio::test]
    async fn a_failing_job_fails_alone_in_a_batch() {
        let dir = tempfile::tempdir().unwrap();
        // A wait long enough for every job below to join one batch.
        let limits = BatchLimits {
            max_jobs: 100,
            max_wait: Duration::from_millis(300),
        };
        let lane = lane(&dir, limits);
        lane.run(vec![insert("taken")]).await.unwrap();
        let names: Vec<String> = (0..50).map(|i| format!("n{i}")).collect();
        let batched =
            futures_util::future::join_all(names[..2].iter().map(|n| lane.run(vec![insert(n)])))
                .await;
        assert!(
            batched.iter().all(|a| a.as_ref().unwrap().1.jobs == 2),
            "{batched:?}"
        );
        // Many jobs in one batch, one of which breaks the unique name: only that one fails.
        let runs = names[2..]
            .iter()
            .map(|n| lane.run(vec![insert(n)]))
            .chain([lane.run(vec![insert("taken")])]);
        let answers = futures_util::future::join_all(runs).await;
        let (ok, failed): (Vec<_>, Vec<_>) = answers.iter().partition(|a| a.is_ok());
        assert_eq!((ok.len(), failed.len()), (48, 1));
        assert!(answers.last().unwrap().is_err());
        let rows = select(&lane, "SELECT count(*) FROM t").await;
        assert_eq!(rows[0].get::<i64>(0).unwrap(), 51);
    }

    /// A write whose request stopped waiting before its batch ran is not run.
    #[tokio::test]
    async fn a_write_given_up_before_its_batch_is_not_run() {
        use futures_util::FutureExt;
        let dir = tempfile::tempdir().unwrap();
        let limits = BatchLimits {
            max_jobs: 100,
            max_wait: Duration::from_millis(300),
        };
        let lane = lane(&dir, limits);
        let kept = lane.run(vec![insert("kept")]);
        // Sent, then dropped at once (as a request's time bound drops it).
        assert!(lane.run(vec![insert("dropped")]).now_or_never().is_none());
        kept.await.unwrap();
        let rows = select(&lane, "SELECT name FROM t").await;
        let names: Vec<String> = rows.iter().map(|r| r.get(0).unwrap()).collect();
        assert_eq!(names, ["kept"]);
    }
}
