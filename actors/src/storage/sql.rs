//! The SQL backend on sea-orm: SQLite (the embedded default) and PostgreSQL, one code path.
//!
//! Statements are written once with `$N` placeholders and rewritten to `?N` for SQLite.
//! Every write that must be atomic is a single statement (a multi-row INSERT for a batch,
//! `UPDATE ... WHERE seq IN (SELECT ... LIMIT n) RETURNING` for a claim), so SQLite never
//! holds its write lock across round trips and PostgreSQL needs no explicit transaction;
//! on PostgreSQL the claim's inner SELECT adds `FOR UPDATE SKIP LOCKED` so concurrent
//! claimers take different messages instead of queueing on the same rows.
//!
//! Page sizes go into the SQL text, not into bound parameters: SQLite re-prepares a
//! statement whose `LIMIT` is a parameter every time a new value is bound, which cost a
//! fifth of the store's CPU. They are integers the transport has range-checked.
//!
//! - [`schema`]: tables, indexes and migrations.
//! - [`control`]: the control store (pools, flavors, catalog) on the same database.
//! - [`reserve`]: disk space kept aside so that a full disk can be freed by deleting.

pub mod control;
pub mod reserve;
pub mod schema;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, QueryResult,
    Statement, TransactionTrait, Value,
};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::clock::Clock;
#[cfg(feature = "profiler")]
use crate::envelope::{db_call, DbLayer, DbSystem};
use crate::error::{Result, StorageError};
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueDefaults, QueueEntry,
    QueueId, QueueSettings, QueueStats, Subscription, SubscriptionUpdate,
};
use crate::storage::reach::Reachability;
use crate::storage::{bounded, DataStore};

/// The command spans of each SQL database (`SQL INSERT`, `db.system` sqlite or postgresql).
#[cfg(feature = "profiler")]
const SQLITE_SPANS: DbSystem = DbSystem {
    system: "sqlite",
    prefix: "SQL",
    layer: DbLayer::Sql,
    named_by_statement: false,
};
#[cfg(feature = "profiler")]
const POSTGRES_SPANS: DbSystem = DbSystem {
    system: "postgresql",
    ..SQLITE_SPANS
};
/// Columns every message query selects, in the order [`SqlStore::message`] decodes them.
const MESSAGE_COLUMNS: &str = "seq, id, body, ttl, created, claim_id, claim_expires, claim_count";
const SUBSCRIPTION_COLUMNS: &str = "id, queue, subscriber, ttl, options, created, confirmed";

/// Connection settings of the SQL store.
#[derive(Clone, Debug)]
pub struct SqlOptions {
    /// `sqlite://PATH` or `postgres://USER:PASSWORD@HOST/DB`.
    pub uri: String,
    /// Connections in the pool. SQLite in WAL mode serves reads on all of them at once and
    /// serialises writes, which are single statements and short.
    pub pool_size: u32,
    /// SQLite `synchronous`: `normal` (durable across process crashes) or `full` (also
    /// across power loss).
    pub sqlite_synchronous_full: bool,
    pub acquire_timeout: Duration,
    /// Bound on each statement (and on a transaction's begin and commit).
    pub command_timeout: Duration,
    /// Bytes kept in reserve beside an SQLite file for freeing a full disk (0: none).
    pub sqlite_disk_reserve: u64,
}

pub struct SqlStore {
    db: DatabaseConnection,
    backend: DbBackend,
    clock: Clock,
    defaults: QueueDefaults,
    command_timeout: Duration,
    /// Set once the schema is migrated. A PostgreSQL that is down when the server starts
    /// is connected lazily: the first statement that finds it up migrates first.
    migrated: tokio::sync::OnceCell<()>,
    /// PostgreSQL's address, to fail fast while it refuses connections.
    reach: Reachability,
    /// Why the last write failed, while writes fail for want of disk space: ping then
    /// reports the store degraded. A write that succeeds clears it.
    writes_failing: Mutex<Option<String>>,
    /// SQLite: the space released when a delete finds the disk full.
    reserve: Option<Arc<reserve::Reserve>>,
    /// Settings of recently posted-to queues, so a post is one statement instead of two.
    /// Changes made through this store update it at once; entries older than
    /// [`SETTINGS_FRESHNESS`] are read again, which bounds how long a change made by another
    /// server process on the same database goes unseen.
    settings: Mutex<HashMap<QueueId, (Instant, Option<QueueSettings>)>>,
}

/// Values bound per message row of a post.
const POST_COLUMNS: usize = 9;
/// Message rows per INSERT: SQLite binds at most 32,766 values in one statement and
/// PostgreSQL 65,535, so larger batches are split (in one transaction).
const POST_CHUNK: usize = 1000;

/// How long a cached queue's settings are trusted (see `SqlStore::settings`).
const SETTINGS_FRESHNESS: Duration = Duration::from_secs(1);
/// Beyond this many cached queues the cache starts over, bounding its memory.
const SETTINGS_CAPACITY: usize = 10_000;

impl SqlStore {
    /// Connects, creates the SQLite file's directory if needed, and migrates the schema.
    pub async fn connect(opts: &SqlOptions, clock: Clock, defaults: QueueDefaults) -> Result<Self> {
        let mut uri = opts.uri.clone();
        let sqlite_path = uri
            .strip_prefix("sqlite://")
            .map(|p| p.split('?').next().unwrap_or_default().to_owned());
        if let Some(path) = uri.strip_prefix("sqlite://") {
            let path = path.split('?').next().unwrap_or_default();
            if let Some(dir) = std::path::Path::new(path).parent() {
                if !dir.as_os_str().is_empty() {
                    std::fs::create_dir_all(dir).map_err(|e| {
                        StorageError::Unavailable(format!("cannot create {}: {e}", dir.display()))
                    })?;
                }
            }
            if !uri.contains('?') {
                uri.push_str("?mode=rwc");
            }
        }
        let synchronous = if opts.sqlite_synchronous_full {
            SqliteSynchronous::Full
        } else {
            SqliteSynchronous::Normal
        };
        let lazy = !uri.starts_with("sqlite:");
        let connect = |max: u32| {
            let mut co = ConnectOptions::new(uri.clone());
            co.connect_lazy(lazy)
                .max_connections(max)
                .min_connections(1)
                .acquire_timeout(opts.acquire_timeout)
                .connect_timeout(opts.acquire_timeout)
                .sqlx_logging(false);
            co.map_sqlx_sqlite_opts(move |o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    // A WAL of at most ~1 MiB before it is checkpointed: what the disk
                    // reserve must be able to absorb when the disk is full.
                    .pragma("wal_autocheckpoint", "256")
                    .synchronous(synchronous)
                    .busy_timeout(Duration::from_secs(10))
                    .create_if_missing(true)
            });
            Database::connect(co)
        };
        // Writes share the pool with reads. Queueing SQLite's writes on one connection of
        // their own was tried: it serialised every statement's round trip to sqlx's worker
        // thread, and mixed-load writes fell from about 2400/s to 970/s (BENCHMARKS.md).
        let db = connect(opts.pool_size.max(1)).await?;
        let backend = db.get_database_backend();
        let store = Self {
            db,
            backend,
            clock,
            defaults,
            command_timeout: opts.command_timeout,
            migrated: tokio::sync::OnceCell::new(),
            reach: Reachability::new(postgres_addr(&uri).into_iter().collect()),
            writes_failing: Mutex::default(),
            reserve: sqlite_path
                .as_deref()
                .and_then(|path| reserve::Reserve::new(path, opts.sqlite_disk_reserve)),
            settings: Mutex::default(),
        };
        if let Some(reserve) = &store.reserve {
            let reserve = reserve.clone();
            let filled = tokio::task::spawn_blocking(move || reserve.fill()).await;
            if let Ok(Err(e)) = filled {
                tracing::warn!(error = %e, "disk reserve for SQLite not written");
            }
        }
        match store.reach.guard(store.ready()).await {
            Ok(()) => {}
            // The embedded file must open at start: a failure there is a configuration error.
            Err(e) if !lazy => return Err(e),
            Err(e) => tracing::warn!(
                store = %crate::storage::uri::redact_uri(&opts.uri),
                error = %e,
                "database unreachable at start; its queues answer 503 until it is reachable"
            ),
        }
        Ok(store)
    }

    /// Migrates the schema once, before the first statement that reaches the database.
    async fn ready(&self) -> Result<()> {
        self.migrated
            .get_or_try_init(|| {
                bounded(self.command_timeout, "schema migration", async {
                    Ok(schema::migrate(&self.db).await?)
                })
            })
            .await
            .map(|_| ())
    }

    fn stmt(&self, sql: &str, mut values: Vec<Value>) -> Statement {
        let sql = match self.backend {
            DbBackend::Postgres => {
                values.iter_mut().for_each(without_nul);
                sql.to_owned()
            }
            _ => sql.replace('$', "?"),
        };
        Statement::from_sql_and_values(self.backend, sql, values)
    }

    async fn exec(&self, sql: &str, values: Vec<Value>) -> Result<u64> {
        let done = self.run(sql, values, |s| self.db.execute_raw(s)).await?;
        Ok(done.rows_affected())
    }

    async fn query(&self, sql: &str, values: Vec<Value>) -> Result<Vec<QueryResult>> {
        self.run(sql, values, |s| self.db.query_all_raw(s)).await
    }

    async fn query_one(&self, sql: &str, values: Vec<Value>) -> Result<Option<QueryResult>> {
        self.run(sql, values, |s| self.db.query_one_raw(s)).await
    }

    /// Runs one statement through `call` (execute, query all, query one); a SQLite DELETE
    /// that finds the disk full runs once more after a checkpoint.
    async fn run<T, F>(
        &self,
        sql: &str,
        values: Vec<Value>,
        call: impl Fn(Statement) -> F,
    ) -> Result<T>
    where
        F: std::future::Future<Output = Result<T, sea_orm::DbErr>>,
    {
        let spare = self.spare_for_retry(sql, &values);
        match (
            self.statement(sql, call(self.stmt(sql, values))).await,
            spare,
        ) {
            (Err(e), Some(values)) if disk_full(&e) => {
                self.checkpoint().await;
                self.statement(sql, call(self.stmt(sql, values))).await
            }
            (done, _) => done,
        }
    }

    /// A copy of a SQLite DELETE's values, to run it again after a checkpoint when the disk
    /// is full: a delete is how space is freed, so it gets a second chance that other
    /// writes do not need.
    fn spare_for_retry(&self, sql: &str, values: &[Value]) -> Option<Vec<Value>> {
        (self.backend == DbBackend::Sqlite && sql.trim_start().starts_with("DELETE"))
            .then(|| values.to_vec())
    }

    /// Moves the WAL into the database and truncates it, giving its disk space back; first
    /// releases the disk reserve, without which a full disk lets neither happen.
    async fn checkpoint(&self) {
        if let Some(reserve) = &self.reserve {
            if reserve.release() {
                tracing::warn!("disk full: reserve released so that deletes can free space");
            }
        }
        let run = self
            .db
            .execute_unprepared("PRAGMA wal_checkpoint(TRUNCATE)");
        if let Err(e) = bounded(self.command_timeout, "checkpoint", async { Ok(run.await?) }).await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed");
        }
    }

    /// Whether a live subscription of the queue other than `id` has this subscriber.
    async fn subscriber_holder(
        &self,
        queue: &QueueId,
        subscriber: &str,
        id: &str,
        now: i64,
    ) -> Result<bool> {
        let (p, n) = q(queue);
        Ok(self
            .query_one(
                "SELECT id FROM subscriptions
                 WHERE project = $1 AND queue = $2 AND subscriber = $3 AND id <> $4 AND expires > $5",
                vec![p, n, subscriber.into(), id.into(), now.into()],
            )
            .await?
            .is_some())
    }

    /// Notes a write's outcome: a full disk makes the store degraded until a write works.
    fn note_write<T>(&self, sql: &str, done: &Result<T>) {
        let verb = sql.split_whitespace().next().unwrap_or("");
        if !["INSERT", "UPDATE", "DELETE"].contains(&verb) {
            return;
        }
        let mut failing = self
            .writes_failing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match done {
            Ok(_) => {
                *failing = None;
                if let Some(reserve) = &self.reserve {
                    reserve.restore();
                }
            }
            Err(e) if disk_full(e) => *failing = Some(e.to_string()),
            Err(_) => {}
        }
    }

    /// One statement: traced, and bounded by `command_timeout`.
    async fn statement<T>(
        &self,
        sql: &str,
        run: impl std::future::Future<Output = Result<T, sea_orm::DbErr>>,
    ) -> Result<T> {
        let done = self
            .reach
            .guard(async {
                self.ready().await?;
                bounded(self.command_timeout, "SQL statement", async {
                    Ok(self.traced(sql, run).await?)
                })
                .await
            })
            .await;
        self.note_write(sql, &done);
        done
    }

    /// Opens a transaction, bounded like a statement.
    async fn begin(&self) -> Result<sea_orm::DatabaseTransaction> {
        self.reach
            .guard(async {
                self.ready().await?;
                bounded(self.command_timeout, "BEGIN", async {
                    Ok(self.db.begin().await?)
                })
                .await
            })
            .await
    }

    async fn commit(&self, txn: sea_orm::DatabaseTransaction) -> Result<()> {
        bounded(self.command_timeout, "COMMIT", async {
            Ok(txn.commit().await?)
        })
        .await
    }

    /// Runs one statement inside a span of its own when the request is traced and
    /// `trace_sql` is on: the statement text (placeholders, never values) and its verb.
    #[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
    async fn traced<T>(&self, sql: &str, run: impl std::future::Future<Output = T>) -> T {
        // Only a traced request pays for the statement's text.
        #[cfg(feature = "profiler")]
        if crate::envelope::current().is_some() {
            let statement = sql.split_whitespace().collect::<Vec<_>>().join(" ");
            let verb = statement
                .split(' ')
                .next()
                .unwrap_or("SQL")
                .to_ascii_uppercase();
            let system = match self.backend {
                DbBackend::Postgres => POSTGRES_SPANS,
                _ => SQLITE_SPANS,
            };
            return db_call(system, &verb, Some(&statement), run).await;
        }
        run.await
    }

    /// `GREATEST` on PostgreSQL, the two-argument `MAX` on SQLite.
    fn greatest(&self) -> &'static str {
        match self.backend {
            DbBackend::Postgres => "GREATEST",
            _ => "MAX",
        }
    }

    /// Row locking for a SELECT that picks rows to update, where the backend has it.
    fn skip_locked(&self) -> &'static str {
        match self.backend {
            DbBackend::Postgres => " FOR UPDATE SKIP LOCKED",
            _ => "",
        }
    }

    fn message(&self, row: &QueryResult, now: i64) -> Result<Message> {
        let body: String = row.try_get_by_index(2)?;
        let created: i64 = row.try_get_by_index(4)?;
        let claim_id: Option<String> = row.try_get_by_index(5)?;
        let claim_expires: i64 = row.try_get_by_index(6)?;
        Ok(Message {
            id: row.try_get_by_index(1)?,
            seq: row.try_get_by_index(0)?,
            body: RawValue::from_string(body)
                .map_err(|e| StorageError::Unavailable(format!("stored body is not JSON: {e}")))?,
            ttl: row.try_get_by_index(3)?,
            age: (now - created).max(0) / 1000,
            claim_id: claim_id.filter(|_| claim_expires > now),
            claim_count: row.try_get_by_index(7)?,
            created_ms: created,
        })
    }

    /// Decodes message rows, in FIFO order whatever order the statement returned them in.
    fn messages(&self, rows: Vec<QueryResult>, now: i64) -> Result<Vec<Message>> {
        let mut out = Vec::with_capacity(rows.len());
        for row in &rows {
            let seq: i64 = row.try_get_by_index(0)?;
            out.push((seq, self.message(row, now)?));
        }
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }

    fn subscription(&self, row: &QueryResult, now: i64) -> Result<Subscription> {
        let options: String = row.try_get_by_index(4)?;
        let created: i64 = row.try_get_by_index(5)?;
        let confirmed: i64 = row.try_get_by_index(6)?;
        Ok(Subscription {
            id: row.try_get_by_index(0)?,
            source: row.try_get_by_index(1)?,
            subscriber: row.try_get_by_index(2)?,
            ttl: row.try_get_by_index(3)?,
            age: (now - created).max(0) / 1000,
            options: parse_object(&options)?,
            confirmed: confirmed != 0,
        })
    }

    /// The settings in force for a queue; `None` when the queue was never created.
    async fn queue_settings(&self, queue: &QueueId) -> Result<Option<QueueSettings>> {
        if let Some((read_at, settings)) = self.settings_cache().get(queue) {
            if read_at.elapsed() < SETTINGS_FRESHNESS {
                return Ok(*settings);
            }
        }
        let metadata = self.queue_metadata(queue).await?;
        let settings = metadata.map(|m| self.defaults.settings(Some(&m)));
        self.remember_settings(queue, settings);
        Ok(settings)
    }

    fn remember_settings(&self, queue: &QueueId, settings: Option<QueueSettings>) {
        let mut cache = self.settings_cache();
        if cache.len() >= SETTINGS_CAPACITY {
            cache.clear();
        }
        cache.insert(queue.clone(), (Instant::now(), settings));
    }

    fn forget_settings(&self, queue: &QueueId) {
        self.settings_cache().remove(queue);
    }

    fn settings_cache(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<QueueId, (Instant, Option<QueueSettings>)>> {
        // A panic while holding the lock cannot leave the map inconsistent: use it anyway.
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn writes_failing_now(&self) -> Option<String> {
        self.writes_failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether a claim with this id is live in the queue (some live message holds it).
    async fn claim_is_live(&self, queue: &QueueId, id: &str, now: i64) -> Result<bool> {
        let row = self
            .query_one(
                "SELECT 1 FROM messages WHERE claim_id = $1 AND project = $2 AND queue = $3
                 AND claim_expires > $4 AND expires > $4 LIMIT 1",
                vec![id.into(), q(queue).0, q(queue).1, now.into()],
            )
            .await?;
        Ok(row.is_some())
    }
}

/// Whether a statement failed for want of disk space: SQLite's SQLITE_FULL, the OS's
/// ENOSPC, PostgreSQL's disk_full (53100) or its "could not extend file".
fn disk_full(e: &StorageError) -> bool {
    let StorageError::Unavailable(text) = e else {
        return false;
    };
    [
        "database or disk is full",
        "No space left on device",
        "53100",
        "could not extend file",
    ]
    .iter()
    .any(|sign| text.contains(sign))
}

/// The host and port of a `postgres://` URI (none for SQLite, or a Unix socket).
fn postgres_addr(uri: &str) -> Option<(String, u16)> {
    use std::str::FromStr;
    if uri.starts_with("sqlite:") {
        return None;
    }
    let opts = sea_orm::sqlx::postgres::PgConnectOptions::from_str(uri).ok()?;
    let host = opts.get_host();
    (!host.starts_with('/')).then(|| (host.to_owned(), opts.get_port()))
}

/// PostgreSQL's text cannot hold NUL: a bound value with one fails the whole statement,
/// which would answer a harmless lookup with 503. NUL reaches a statement only inside a key
/// to look up (an id, marker or name from a path or query string): what is written is
/// validated by the transport or escaped as JSON text first, and no stored key holds NUL. So
/// U+FFFD in its place keeps the lookup's answer (nothing matches) without the error.
fn without_nul(value: &mut Value) {
    if let Value::String(Some(text)) = value {
        if text.contains('\0') {
            *text = text.replace('\0', "\u{fffd}");
        }
    }
}

/// The (project, queue) pair as statement values.
fn q(queue: &QueueId) -> (Value, Value) {
    (queue.project.as_str().into(), queue.name.as_str().into())
}

/// `$start, $start+1, ...`: placeholders for an IN list of `n` values.
fn placeholders(start: usize, n: usize) -> String {
    (start..start + n)
        .map(|i| format!("${i}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn parse_object(text: &str) -> Result<Metadata> {
    serde_json::from_str(text).map_err(|e| StorageError::Unavailable(format!("stored JSON: {e}")))
}

fn to_json(m: &Metadata) -> String {
    serde_json::Value::Object(m.clone()).to_string()
}

#[async_trait]
impl DataStore for SqlStore {
    fn name(&self) -> &'static str {
        "SqlStore"
    }

    async fn ping(&self) -> Result<()> {
        self.query_one("SELECT 1", vec![]).await?;
        // Degraded from a write that failed for want of space until one succeeds (a client's,
        // or garbage collection's): a tiny probe write could pass while posts still fail.
        match self.writes_failing_now() {
            Some(why) => Err(StorageError::Degraded(why)),
            None => Ok(()),
        }
    }

    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool> {
        let (p, n) = q(queue);
        let created = self
            .exec(
                "INSERT INTO queues (project, name, metadata, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (project, name) DO NOTHING",
                vec![p, n, to_json(&metadata).into(), self.clock.now_ms().into()],
            )
            .await?;
        self.forget_settings(queue);
        Ok(created == 1)
    }

    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>> {
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT metadata FROM queues WHERE project = $1 AND name = $2",
                vec![p, n],
            )
            .await?;
        match row {
            Some(r) => Ok(Some(parse_object(&r.try_get_by_index::<String>(0)?)?)),
            None => Ok(None),
        }
    }

    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()> {
        let (p, n) = q(queue);
        let updated = self
            .exec(
                "UPDATE queues SET metadata = $1 WHERE project = $2 AND name = $3",
                vec![to_json(&metadata).into(), p, n],
            )
            .await?;
        self.forget_settings(queue);
        if updated == 0 {
            return Err(StorageError::queue_missing(queue));
        }
        Ok(())
    }

    async fn delete_queue(&self, queue: &QueueId) -> Result<()> {
        let txn = self.begin().await?;
        // The queue's row first: on PostgreSQL its lock waits for a post that found the
        // queue (it holds the row `FOR KEY SHARE`), whose messages the next delete then sees.
        for sql in [
            "DELETE FROM queues WHERE project = $1 AND name = $2",
            "DELETE FROM messages WHERE project = $1 AND queue = $2",
            "DELETE FROM subscriptions WHERE project = $1 AND queue = $2",
        ] {
            let (p, n) = q(queue);
            self.statement(sql, txn.execute_raw(self.stmt(sql, vec![p, n])))
                .await?;
        }
        self.commit(txn).await?;
        self.forget_settings(queue);
        Ok(())
    }

    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let rows = self
            .query(
                &format!(
                    "SELECT name, metadata FROM queues WHERE project = $1 AND name > $2
                     ORDER BY name LIMIT {limit}"
                ),
                vec![project.into(), marker.unwrap_or_default().into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueEntry {
                    name: r.try_get_by_index(0)?,
                    metadata: parse_object(&r.try_get_by_index::<String>(1)?)?,
                })
            })
            .collect()
    }

    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let counts = self
            .query_one(
                "SELECT COUNT(*), COUNT(CASE WHEN claim_expires > $3 THEN 1 END) FROM messages
                 WHERE project = $1 AND queue = $2 AND expires > $3",
                vec![p, n, now.into()],
            )
            .await?;
        let (total, claimed): (i64, i64) = match counts {
            Some(r) => (r.try_get_by_index(0)?, r.try_get_by_index(1)?),
            None => (0, 0),
        };
        let mut stats = QueueStats {
            claimed,
            free: total - claimed,
            total,
            ..QueueStats::default()
        };
        if total > 0 {
            for (order, slot) in [("ASC", &mut stats.oldest), ("DESC", &mut stats.newest)] {
                let (p, n) = q(queue);
                let row = self
                    .query_one(
                        &format!(
                            "SELECT {MESSAGE_COLUMNS} FROM messages
                             WHERE project = $1 AND queue = $2 AND expires > $3
                             ORDER BY seq {order} LIMIT 1"
                        ),
                        vec![p, n, now.into()],
                    )
                    .await?;
                *slot = row.map(|r| self.message(&r, now)).transpose()?;
            }
        }
        Ok(stats)
    }

    async fn purge_queue(
        &self,
        queue: &QueueId,
        messages: bool,
        subscriptions: bool,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        if messages {
            let (p, n) = q(queue);
            self.exec(
                "DELETE FROM messages WHERE project = $1 AND queue = $2 AND claim_expires <= $3",
                vec![p, n, now.into()],
            )
            .await?;
        }
        if subscriptions {
            let (p, n) = q(queue);
            self.exec(
                "DELETE FROM subscriptions WHERE project = $1 AND queue = $2",
                vec![p, n],
            )
            .await?;
        }
        Ok(())
    }

    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>> {
        let known = self.queue_settings(queue).await?;
        let settings = known.unwrap_or_else(|| self.defaults.settings(None));
        if size > settings.max_messages_post_size {
            return Err(StorageError::PostTooLarge {
                max: settings.max_messages_post_size,
            });
        }
        let now = self.clock.now_ms();
        if known.is_none() && create {
            self.create_queue(queue, Metadata::new()).await?;
        }
        let columns = "id, project, queue, client_id, body, ttl, created, expires, visible_at";
        let mut ids = Vec::with_capacity(messages.len());
        let mut statements = Vec::with_capacity(messages.len().div_ceil(POST_CHUNK));
        let mut messages = messages.iter().peekable();
        while messages.peek().is_some() {
            let mut rows = Vec::with_capacity(POST_CHUNK);
            let mut values: Vec<Value> = Vec::with_capacity(POST_CHUNK * POST_COLUMNS);
            for (i, m) in messages.by_ref().take(POST_CHUNK).enumerate() {
                let id = Uuid::new_v4().to_string();
                let ttl = m.ttl.unwrap_or(settings.default_message_ttl);
                let delay = m.delay.unwrap_or(settings.default_message_delay);
                rows.push(format!(
                    "({})",
                    placeholders(i * POST_COLUMNS + 1, POST_COLUMNS)
                ));
                values.extend([
                    Value::from(id.as_str()),
                    queue.project.as_str().into(),
                    queue.name.as_str().into(),
                    client_id.into(),
                    m.body.get().into(),
                    ttl.into(),
                    now.into(),
                    (now + ttl * 1000).into(),
                    (now + delay * 1000).into(),
                ]);
                ids.push(id);
            }
            let sql = if create {
                format!(
                    "INSERT INTO messages ({columns}) VALUES {}",
                    rows.join(", ")
                )
            } else {
                // The queue must exist when the rows go in: checked in the same statement,
                // not from the settings cache, which another process's deletion does not
                // reach. PostgreSQL's check locks the row against a concurrent delete until
                // this commits (SQLite runs one writer at a time).
                let at = values.len();
                let (p, n) = q(queue);
                values.extend([p, n]);
                let lock = match self.backend {
                    DbBackend::Postgres => " FOR KEY SHARE",
                    _ => "",
                };
                format!(
                    "INSERT INTO messages ({columns}) SELECT * FROM (VALUES {}) AS v
                     WHERE EXISTS (SELECT 1 FROM queues WHERE project = ${} AND name = ${}{lock})",
                    rows.join(", "),
                    at + 1,
                    at + 2
                )
            };
            statements.push((sql, values));
        }
        let inserted = if let [(sql, values)] = &mut statements[..] {
            self.exec(sql, std::mem::take(values)).await?
        } else {
            // A batch larger than one statement may bind is still atomic: one transaction.
            let txn = self.begin().await?;
            let mut inserted = 0;
            for (sql, values) in statements {
                let run = txn.execute_raw(self.stmt(&sql, values));
                inserted += self.statement(&sql, run).await?.rows_affected();
            }
            self.commit(txn).await?;
            inserted
        };
        if !create && inserted == 0 {
            self.forget_settings(queue);
            return Err(StorageError::queue_missing(queue));
        }
        Ok(ids)
    }

    async fn list_messages(
        &self,
        queue: &QueueId,
        filter: ListFilter,
        marker: Option<MessageMarker>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let (after, values_marker) = match marker {
            None => ("$4", Value::from(0i64)),
            Some(MessageMarker::After(seq)) => ("$4", Value::from(seq)),
            Some(MessageMarker::Id(id)) => (
                "COALESCE((SELECT seq FROM messages WHERE id = $4 AND project = $1 AND queue = $2), 0)",
                Value::from(id),
            ),
        };
        let mut sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE project = $1 AND queue = $2 AND expires > $3 AND seq > {after}"
        );
        let mut values = vec![p, n, now.into(), values_marker];
        if !filter.echo {
            values.push(filter.client_id.into());
            sql.push_str(&format!(" AND client_id <> ${}", values.len()));
        }
        if !filter.include_claimed {
            sql.push_str(" AND claim_expires <= $3");
        }
        if !filter.include_delayed {
            sql.push_str(" AND visible_at <= $3");
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT {limit}"));
        let rows = self.query(&sql, values).await?;
        self.messages(rows, now)
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE project = $1 AND queue = $2 AND expires > $3 AND id IN ({}) ORDER BY seq",
            placeholders(4, ids.len())
        );
        let mut values = vec![p, n, now.into()];
        values.extend(ids.into_iter().map(Value::from));
        let rows = self.query(&sql, values).await?;
        self.messages(rows, now)
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        // Fast path, one statement: an unclaimed message without a claim id, or a message
        // held by the live claim named.
        let (p, n) = q(queue);
        let (guard, mut values) = match claim_id {
            None => ("claim_expires <= $4", vec![]),
            Some(c) => ("claim_id = $5 AND claim_expires > $4", vec![Value::from(c)]),
        };
        values.splice(0..0, [id.into(), p, n, now.into()]);
        let sql = format!(
            "DELETE FROM messages WHERE id = $1 AND project = $2 AND queue = $3 AND {guard}"
        );
        if self.exec(&sql, values).await? == 1 {
            return Ok(());
        }
        // Nothing deleted: find out why.
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT claim_id, claim_expires FROM messages
                 WHERE id = $1 AND project = $2 AND queue = $3 AND expires > $4",
                vec![id.into(), p, n, now.into()],
            )
            .await?;
        let Some(row) = row else {
            return Ok(()); // Already gone: deleting is idempotent.
        };
        let holder: Option<String> = row.try_get_by_index(0)?;
        let claim_expires: i64 = row.try_get_by_index(1)?;
        let held = holder.is_some() && claim_expires > now;
        match claim_id {
            None if held => Err(StorageError::MessageIsClaimed { id: id.to_owned() }),
            Some(c) if !held => Err(crate::storage::not_held(id, c)),
            Some(c) if self.claim_is_live(queue, c, now).await? => {
                Err(StorageError::MessageNotClaimedBy {
                    id: id.to_owned(),
                    claim: c.to_owned(),
                })
            }
            Some(_) => Err(StorageError::ClaimNotValid),
            // Its claim expired between the two statements: it is free now.
            None => Box::pin(self.delete_message(queue, id, None)).await,
        }
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (p, n) = q(queue);
        let sql = format!(
            "DELETE FROM messages WHERE project = $1 AND queue = $2 AND id IN ({})",
            placeholders(3, ids.len())
        );
        let mut values = vec![p, n];
        values.extend(ids.into_iter().map(Value::from));
        self.exec(&sql, values).await.map(|_| ())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let sql = format!(
            "DELETE FROM messages WHERE seq IN (
                SELECT seq FROM messages
                WHERE project = $1 AND queue = $2 AND expires > $3 AND claim_expires <= $3
                AND visible_at <= $3 ORDER BY seq LIMIT {limit}{})
             AND claim_expires <= $3
             RETURNING {MESSAGE_COLUMNS}",
            self.skip_locked()
        );
        let rows = self.query(&sql, vec![p, n, now.into()]).await?;
        self.messages(rows, now)
    }

    async fn create_claim(
        &self,
        queue: &QueueId,
        ttl: i64,
        grace: i64,
        limit: u32,
    ) -> Result<Option<Claim>> {
        let now = self.clock.now_ms();
        let id = Uuid::new_v4().to_string();
        let (p, n) = q(queue);
        let sql = format!(
            "UPDATE messages SET claim_id = $1, claim_expires = $2, claim_ttl = $3,
                claim_created = $4, claim_count = claim_count + 1,
                expires = {greatest}(expires, $5)
             WHERE seq IN (
                SELECT seq FROM messages
                WHERE project = $6 AND queue = $7 AND expires > $4 AND claim_expires <= $4
                AND visible_at <= $4 ORDER BY seq LIMIT {limit}{lock})
             AND claim_expires <= $4
             RETURNING {MESSAGE_COLUMNS}",
            greatest = self.greatest(),
            lock = self.skip_locked(),
        );
        let rows = self
            .query(
                &sql,
                vec![
                    id.as_str().into(),
                    (now + ttl * 1000).into(),
                    ttl.into(),
                    now.into(),
                    // Claimed messages live at least until the claim's grace is over.
                    (now + (ttl + grace) * 1000).into(),
                    p,
                    n,
                ],
            )
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Claim {
            id,
            ttl,
            age: 0,
            messages: self.messages(rows, now)?,
        }))
    }

    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let rows = self
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS}, claim_ttl, claim_created FROM messages
                     WHERE claim_id = $1 AND project = $2 AND queue = $3
                     AND claim_expires > $4 AND expires > $4 ORDER BY seq"
                ),
                vec![id.into(), p, n, now.into()],
            )
            .await?;
        let first = rows
            .first()
            .ok_or_else(|| StorageError::claim_missing(queue, id))?;
        let ttl: i64 = first.try_get_by_index(8)?;
        let created: i64 = first.try_get_by_index(9)?;
        Ok(Claim {
            id: id.to_owned(),
            ttl,
            age: (now - created).max(0) / 1000,
            messages: self.messages(rows, now)?,
        })
    }

    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let renewed = self
            .exec(
                &format!(
                    "UPDATE messages SET claim_expires = $1, claim_ttl = $2, claim_created = $3,
                        expires = {}(expires, $4)
                     WHERE claim_id = $5 AND project = $6 AND queue = $7
                     AND claim_expires > $3 AND expires > $3",
                    self.greatest()
                ),
                vec![
                    (now + ttl * 1000).into(),
                    ttl.into(),
                    now.into(),
                    (now + (ttl + grace) * 1000).into(),
                    id.into(),
                    p,
                    n,
                ],
            )
            .await?;
        if renewed == 0 {
            return Err(StorageError::claim_missing(queue, id));
        }
        Ok(())
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        let (p, n) = q(queue);
        self.exec(
            "UPDATE messages SET claim_id = NULL, claim_expires = 0
             WHERE claim_id = $1 AND project = $2 AND queue = $3",
            vec![id.into(), p, n],
        )
        .await
        .map(|_| ())
    }

    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        // An expired subscription of the same subscriber gives way to the new one.
        self.exec(
            "DELETE FROM subscriptions
             WHERE project = $1 AND queue = $2 AND subscriber = $3 AND expires <= $4",
            vec![p, n, subscriber.into(), now.into()],
        )
        .await?;
        let id = Uuid::new_v4().to_string();
        let (p, n) = q(queue);
        self.exec(
            "INSERT INTO subscriptions
                (id, project, queue, subscriber, ttl, options, created, expires, confirmed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)
             ON CONFLICT (project, queue, subscriber) DO NOTHING",
            vec![
                id.as_str().into(),
                p,
                n,
                subscriber.into(),
                ttl.into(),
                to_json(&options).into(),
                now.into(),
                (now + ttl * 1000).into(),
            ],
        )
        .await?;
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT id FROM subscriptions WHERE project = $1 AND queue = $2 AND subscriber = $3",
                vec![p, n, subscriber.into()],
            )
            .await?
            .ok_or_else(|| StorageError::Unavailable("subscription vanished while created".into()))?;
        Ok(row.try_get_by_index(0)?)
    }

    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let rows = self
            .query(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                     WHERE project = $1 AND queue = $2 AND expires > $3 AND id > $4
                     ORDER BY id LIMIT {limit}"
                ),
                vec![p, n, now.into(), marker.unwrap_or_default().into()],
            )
            .await?;
        rows.iter().map(|r| self.subscription(r, now)).collect()
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let row = self
            .query_one(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                     WHERE id = $1 AND project = $2 AND queue = $3 AND expires > $4"
                ),
                vec![id.into(), p, n, now.into()],
            )
            .await?
            .ok_or_else(|| StorageError::subscription_missing(queue, id))?;
        self.subscription(&row, now)
    }

    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let new_subscriber = update.subscriber.clone();
        if let Some(s) = &new_subscriber {
            // An expired subscription still holding the subscriber gives way, as on create.
            let (p, n) = q(queue);
            self.exec(
                "DELETE FROM subscriptions
                 WHERE project = $1 AND queue = $2 AND subscriber = $3 AND expires <= $4 AND id <> $5",
                vec![p, n, s.as_str().into(), now.into(), id.into()],
            )
            .await?;
        }
        let (p, n) = q(queue);
        let mut values: Vec<Value> = vec![id.into(), p, n, now.into()];
        let mut sets = Vec::new();
        let mut unique = String::new();
        if let Some(s) = update.subscriber {
            values.push(s.into());
            sets.push(format!("subscriber = ${}", values.len()));
            unique = format!(
                " AND NOT EXISTS (SELECT 1 FROM subscriptions o WHERE o.project = $2 AND o.queue = $3
                   AND o.subscriber = ${} AND o.id <> $1)",
                values.len()
            );
        }
        if let Some(ttl) = update.ttl {
            values.push(ttl.into());
            sets.push(format!("ttl = ${}", values.len()));
            values.push((now + ttl * 1000).into());
            sets.push(format!("expires = ${}", values.len()));
        }
        if let Some(o) = update.options {
            values.push(to_json(&o).into());
            sets.push(format!("options = ${}", values.len()));
        }
        if sets.is_empty() {
            // Nothing to change: still answer whether it exists.
            return self.get_subscription(queue, id).await.map(|_| ());
        }
        let sql = format!(
            "UPDATE subscriptions SET {} WHERE id = $1 AND project = $2 AND queue = $3 AND expires > $4{unique}",
            sets.join(", ")
        );
        let done = self.exec(&sql, values).await;
        // Nothing updated, or a concurrent update took the subscriber first (the unique
        // index refused ours): a live holder of the subscriber is a conflict.
        if !matches!(done, Ok(n) if n > 0) {
            if let Some(s) = &new_subscriber {
                if self.subscriber_holder(queue, s, id, now).await? {
                    return Err(StorageError::SubscriptionAlreadyExists);
                }
            }
        }
        match done? {
            0 => Err(StorageError::subscription_missing(queue, id)),
            _ => Ok(()),
        }
    }

    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let updated = self
            .exec(
                "UPDATE subscriptions SET confirmed = $1
                 WHERE id = $2 AND project = $3 AND queue = $4 AND expires > $5",
                vec![i64::from(confirmed).into(), id.into(), p, n, now.into()],
            )
            .await?;
        if updated == 0 {
            return Err(StorageError::subscription_missing(queue, id));
        }
        Ok(())
    }

    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()> {
        let (p, n) = q(queue);
        self.exec(
            "DELETE FROM subscriptions WHERE id = $1 AND project = $2 AND queue = $3",
            vec![id.into(), p, n],
        )
        .await
        .map(|_| ())
    }

    async fn collect_garbage(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        let mut removed = 0;
        for sql in [
            "DELETE FROM messages WHERE expires <= $1",
            "DELETE FROM subscriptions WHERE expires <= $1",
        ] {
            removed += self.exec(sql, vec![now.into()]).await?;
        }
        Ok(removed)
    }
}
