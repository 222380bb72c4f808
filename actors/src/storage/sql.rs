//! The SQL backend on sea-orm: SQLite (the embedded default) and PostgreSQL, one code path.
//!
//! Statements are written once with `$N` placeholders and rewritten to `?N` for SQLite.
//! Every write that must be atomic is a single statement (a multi-row INSERT for a batch,
//! `UPDATE ... WHERE seq IN (SELECT ... LIMIT n) RETURNING` for a claim), so SQLite never
//! holds its write lock across round trips and PostgreSQL needs no explicit transaction;
//! on PostgreSQL the claim's inner SELECT adds `FOR UPDATE SKIP LOCKED` so concurrent
//! claimers take different messages instead of queueing on the same rows (and runs once,
//! as a materialized CTE whose rows the statement reaches through the queue's key: `picked`).
//!
//! A message looked up by id is found through the id's unique index, and a claim's messages
//! through the claim index, never the queue's key: such statements write their queue
//! condition as `(project = .. AND queue = ..) IS TRUE`, which no index serves. Without
//! statistics (a new table, or the first minute after a bulk load) PostgreSQL otherwise
//! planned a delete by id, or a claim's renewal, as a walk of the whole queue (200 deletes
//! a second at 20,000 messages). Likewise a search of a queue (a claim's, a pop's,
//! a listing, the stats) reads `expires + 0`, so that only the queue's key serves it and
//! never the `expires` index, which holds every queue's messages (claims.rs).
//!
//! Page sizes go into the SQL text, not into bound parameters: SQLite re-prepares a
//! statement whose `LIMIT` is a parameter every time a new value is bound, which cost a
//! fifth of the store's CPU. They are integers the transport has range-checked.
//!
//! - `queues`, `messages`, `claims`, `subscriptions`: the four controllers of
//!   [`crate::storage::DataStore`], one file each, as Zaqar splits its drivers.
//! - `statements`: every statement's one path (placeholders, span, time bound, retry).
//! - [`schema`]: tables, indexes and migrations.
//! - [`control`]: the control store (pools, flavors, catalog) on the same database.
//! - [`lane`]: SQLite's writes, on one connection and thread of their own, committed in
//!   batches (group commit).
//! - `gather`: PostgreSQL's posts and deletes by id, concurrent requests' in one statement
//!   (the lane itself is `storage::gather`'s).
//! - [`reserve`]: disk space kept aside so that a full disk can be freed by deleting.
//! - `settings`: the cache of queues' settings that lets a post be one statement.

mod claims;
pub mod control;
mod gather;
pub mod lane;
mod messages;
mod queues;
pub mod reserve;
pub mod schema;
mod settings;
mod statements;
mod subscriptions;

pub use claims::claim_statement;
pub use messages::pop_statement;

use std::sync::{Arc, Mutex};
use std::time::Duration;

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
use crate::envelope::db_call;
use crate::envelope::{DbLayer, DbSystem};
use crate::error::{Result, StorageError};
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueDefaults, QueueEntry,
    QueueId, QueueStats, Subscription, SubscriptionUpdate,
};
use crate::storage::bounded;
use crate::storage::common::{age, check_post_size, fifo, parse_object, Undeleted};
use crate::storage::gather::LANE_CAPACITY;
use crate::storage::options::{Backend, OpenOptions};
use crate::storage::prelude::*;
use crate::storage::reach::Reachability;

/// The command spans of each SQL database (`SQL INSERT`, `db.system` sqlite or postgresql).
const SQLITE_SPANS: DbSystem = DbSystem {
    system: "sqlite",
    prefix: "SQL",
    layer: DbLayer::Sql,
    named_by_statement: false,
};
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
    /// SQLite: how many writes its lane commits together, and how long one may wait.
    pub write_batch: lane::BatchLimits,
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
    settings: settings::SettingsCache,
    /// SQLite: where every write goes ([`lane`]); PostgreSQL writes through the pool.
    lane: Option<lane::Lane>,
    /// PostgreSQL: where posts and deletes by id go (`gather`), gathered across requests.
    posts: Option<gather::Lane<gather::Posts>>,
    deletes: Option<gather::Lane<gather::Deletes>>,
}

/// Values bound per message row of a post.
const POST_COLUMNS: usize = 9;
/// Message rows per INSERT: SQLite binds at most 32,766 values in one statement and
/// PostgreSQL 65,535, so larger batches are split (in one transaction).
const POST_CHUNK: usize = 1000;

impl SqlStore {
    /// Opens `uri` for the backend table (`storage::open`); the store serves both messages
    /// and the catalog.
    pub async fn open(uri: String, opts: OpenOptions) -> Result<Backend> {
        let sql = SqlOptions {
            uri,
            pool_size: opts.pool_size,
            sqlite_synchronous_full: opts.sqlite_synchronous_full,
            acquire_timeout: opts.timeout,
            command_timeout: opts.command_timeout,
            sqlite_disk_reserve: opts.sqlite_disk_reserve,
            write_batch: opts.write_batch,
        };
        Self::connect(&sql, opts.clock, opts.defaults)
            .await
            .map(Backend::of)
    }

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
                        StorageError::unavailable_in(format!("cannot create {}", dir.display()), e)
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
                // sea-orm's default pings every connection it hands out: a second round trip
                // per statement. Only a connection idle long enough to have been dropped on
                // the way is pinged; one that fails in use is closed by sqlx.
                .test_before_acquire_if_idle_for(Duration::from_secs(5))
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
        // Reads use the pool. SQLite's writes go to the lane, opened once the pool has made
        // the file and put it in WAL mode. (One sqlx connection for the writes, without
        // batching, was tried before: every statement's round trip to sqlx's worker thread
        // was serialised and mixed-load writes fell from about 2400/s to 970/s.)
        let db = connect(opts.pool_size.max(1)).await?;
        let backend = db.get_database_backend();
        let lane = match &sqlite_path {
            Some(path) => Some(lane::Lane::open(
                std::path::Path::new(path),
                opts.sqlite_synchronous_full,
                opts.write_batch,
                LANE_CAPACITY,
            )?),
            None => None,
        };
        // PostgreSQL gathers posts and deletes by id across requests (`gather`).
        let postgres = backend == DbBackend::Postgres;
        let (capacity, timeout, batch) = (LANE_CAPACITY, opts.command_timeout, opts.write_batch);
        let store = Self {
            db: db.clone(),
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
            settings: Default::default(),
            lane,
            posts: postgres.then(|| gather::Lane::start(db.clone(), capacity, timeout, batch)),
            deletes: postgres.then(|| gather::Lane::start(db.clone(), capacity, timeout, batch)),
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

    fn message(&self, row: &impl Cells, now: i64) -> Result<Message> {
        let body: String = row.cell(2)?;
        let created: i64 = row.cell(4)?;
        let claim_id: Option<String> = row.cell(5)?;
        let claim_expires: i64 = row.cell(6)?;
        Ok(Message {
            id: row.cell(1)?,
            seq: row.cell(0)?,
            body: RawValue::from_string(body)
                .map_err(|e| StorageError::unavailable_in("stored body is not JSON", e))?,
            ttl: row.cell(3)?,
            age: age(now, created),
            claim_id: claim_id.filter(|_| claim_expires > now),
            claim_count: row.cell(7)?,
            created_ms: created,
        })
    }

    /// Decodes message rows, in FIFO order whatever order the statement returned them in.
    fn messages<R: Cells>(&self, rows: Vec<R>, now: i64) -> Result<Vec<Message>> {
        let out = rows.iter().map(|row| self.message(row, now));
        Ok(fifo(out.collect::<Result<_>>()?))
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
            age: age(now, created),
            options: parse_object(&options)?,
            confirmed: confirmed != 0,
        })
    }

    fn writes_failing_now(&self) -> Option<String> {
        self.writes_failing
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }
}

/// A row's columns by position, whether it came from the pool or from SQLite's lane.
trait Cells {
    fn cell<T: sea_orm::TryGetable + sea_orm::sea_query::ValueType>(&self, i: usize) -> Result<T>;
}

impl Cells for QueryResult {
    fn cell<T: sea_orm::TryGetable + sea_orm::sea_query::ValueType>(&self, i: usize) -> Result<T> {
        Ok(self.try_get_by_index(i)?)
    }
}

impl Cells for lane::Row {
    fn cell<T: sea_orm::TryGetable + sea_orm::sea_query::ValueType>(&self, i: usize) -> Result<T> {
        self.get(i)
    }
}

/// A row a writing statement returned (`RETURNING`).
enum WrittenRow {
    Pool(QueryResult),
    Lane(lane::Row),
}

impl Cells for WrittenRow {
    fn cell<T: sea_orm::TryGetable + sea_orm::sea_query::ValueType>(&self, i: usize) -> Result<T> {
        match self {
            WrittenRow::Pool(row) => row.cell(i),
            WrittenRow::Lane(row) => row.cell(i),
        }
    }
}

/// Whether a statement failed for want of disk space: SQLite's SQLITE_FULL, the OS's
/// ENOSPC, PostgreSQL's disk_full (53100) or its "could not extend file".
fn disk_full(e: &StorageError) -> bool {
    let StorageError::Unavailable(cause) = e else {
        return false;
    };
    let text = cause.chain();
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
            *text = nul_free(text);
        }
    }
}

/// `text` as PostgreSQL can take it: NUL, which it cannot store, as U+FFFD.
fn nul_free(text: &str) -> String {
    text.replace('\0', "\u{fffd}")
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

/// `rows` tuples of `width` placeholders each, numbered from `$1` (a multi-row `VALUES`).
fn tuples(rows: usize, width: usize) -> String {
    (0..rows)
        .map(|i| format!("({})", placeholders(i * width + 1, width)))
        .collect::<Vec<_>>()
        .join(", ")
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

/// `GREATEST` on PostgreSQL, the two-argument `MAX` on SQLite.
fn greatest(backend: DbBackend) -> &'static str {
    match backend {
        DbBackend::Postgres => "GREATEST",
        _ => "MAX",
    }
}

/// How a claim's or a pop's statement names the rows it takes: the first `limit` free
/// messages of the queue whose project, name and the time are the placeholders `project`,
/// `queue` and `now`. Answers what goes before the statement, and the condition.
///
/// The search reads `expires + 0`: no index on `expires` may serve it. With few queues in
/// the table the generic plan took that index and sorted what it found, reading every other
/// queue's live rows; the key `(project, queue, seq)` is the only path left, and it reads
/// this queue's rows in order (contract: claims.rs).
///
/// PostgreSQL locks them (`FOR UPDATE SKIP LOCKED`, so concurrent claimers take different
/// rows) and must run the search once: written as `seq IN (search)`, its planner may rescan
/// the subquery per row of the queue, and with SKIP LOCKED each rescan can pick other rows (a
/// claim of 2 took 3). A materialized CTE runs once. The statement must then reach the
/// picked rows without walking the queue, whatever the planner believes of the table: as
/// `seq = ANY(...)` alone it was a filter over every row of the queue (5-10 ms a claim
/// behind 3,000 messages), and as a join on `seq` it could be a loop over the queue's rows.
/// The picked range's bounds are conditions on the key, which the index scan always takes:
/// it reads from the first picked row to the last, the rows the search itself walked past.
fn picked(
    backend: DbBackend,
    (project, queue, now): (&str, &str, &str),
    limit: u32,
) -> (String, String) {
    let pick = format!(
        "SELECT seq FROM messages
         WHERE project = {project} AND queue = {queue} AND expires + 0 > {now}
         AND claim_expires <= {now} AND visible_at <= {now} ORDER BY seq LIMIT {limit}"
    );
    match backend {
        DbBackend::Postgres => (
            format!("WITH picked(s) AS MATERIALIZED ({pick} FOR UPDATE SKIP LOCKED) "),
            "seq BETWEEN (SELECT min(s) FROM picked) AND (SELECT max(s) FROM picked)
             AND seq = ANY(ARRAY(SELECT s FROM picked))"
                .to_owned(),
        ),
        _ => (String::new(), format!("seq IN ({pick})")),
    }
}
