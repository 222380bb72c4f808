//! The SQL schema and its migrations, applied at startup.
//!
//! `schema_version` holds the number of migrations applied; each entry of [`MIGRATIONS`]
//! runs once, in order, in its own transaction. Times are milliseconds since the Unix epoch
//! (BIGINT) so expiry is a plain integer comparison against the store's clock on every
//! backend. `seq` gives FIFO order; `id` is the public message id.
//!
//! A claim has no table of its own: it lives on the messages it holds (`claim_id`,
//! `claim_expires`, `claim_ttl`, `claim_created`), as in Zaqar's MongoDB driver, so claiming
//! is one UPDATE and a claim exists exactly while a live message holds it.
//!
//! Migration 2 adds the control store's tables (pools, flavors, catalogue).
//!
//! Migration 3 (PostgreSQL only) makes the primary key `(project, queue, seq)` and drops
//! the separate `messages_queue` index: with a key on `seq` alone, PostgreSQL planned a
//! claim's `ORDER BY seq LIMIT n` (a generic plan, as prepared statements get) as a walk of
//! that key in `seq` order, filtering out every older message of every other queue first, so
//! one project's backlog slowed another's claims (100 ms per claim behind 48,000 messages).
//! With no index that orders by `seq` alone, every ordered read of a queue walks that
//! queue's own entries. SQLite keeps `seq` as its rowid (its planner picks the queue's
//! index for these statements).
//!
//! Migration 4 makes the claim index partial ([`CLAIM_INDEX_V4`]).

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, DbErr, Statement, TransactionTrait};

/// One migration: the statements for SQLite and for PostgreSQL.
struct Migration {
    sqlite: &'static [&'static str],
    postgres: &'static [&'static str],
}

const COMMON_V1: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS queues (
        project TEXT NOT NULL, name TEXT NOT NULL, metadata TEXT NOT NULL,
        created BIGINT NOT NULL, PRIMARY KEY (project, name))",
    "CREATE INDEX IF NOT EXISTS messages_queue ON messages (project, queue, seq)",
    "CREATE INDEX IF NOT EXISTS messages_claim ON messages (claim_id)",
    "CREATE INDEX IF NOT EXISTS messages_expires ON messages (expires)",
    "CREATE TABLE IF NOT EXISTS subscriptions (
        id TEXT PRIMARY KEY, project TEXT NOT NULL, queue TEXT NOT NULL,
        subscriber TEXT NOT NULL, ttl BIGINT NOT NULL, options TEXT NOT NULL,
        created BIGINT NOT NULL, expires BIGINT NOT NULL, confirmed BIGINT NOT NULL,
        UNIQUE (project, queue, subscriber))",
];

/// The control store's tables (pooling): pools, flavors, and the catalog of which pool
/// holds each queue.
const CONTROL_V2: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS pools (
        name TEXT PRIMARY KEY, uri TEXT NOT NULL, weight BIGINT NOT NULL, flavor TEXT,
        options TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS flavors (name TEXT PRIMARY KEY, capabilities TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS catalogue (
        project TEXT NOT NULL, queue TEXT NOT NULL, pool TEXT NOT NULL,
        PRIMARY KEY (project, queue))",
    "CREATE INDEX IF NOT EXISTS catalogue_pool ON catalogue (pool)",
];

const MIGRATIONS: &[Migration] = &[
    Migration {
        sqlite: &["CREATE TABLE IF NOT EXISTS messages (
            seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,
            project TEXT NOT NULL, queue TEXT NOT NULL, client_id TEXT NOT NULL,
            body TEXT NOT NULL, ttl BIGINT NOT NULL, created BIGINT NOT NULL,
            expires BIGINT NOT NULL, visible_at BIGINT NOT NULL, claim_id TEXT,
            claim_expires BIGINT NOT NULL DEFAULT 0, claim_ttl BIGINT NOT NULL DEFAULT 0,
            claim_created BIGINT NOT NULL DEFAULT 0, claim_count BIGINT NOT NULL DEFAULT 0)"],
        postgres: &["CREATE TABLE IF NOT EXISTS messages (
            seq BIGSERIAL PRIMARY KEY, id TEXT NOT NULL UNIQUE,
            project TEXT NOT NULL, queue TEXT NOT NULL, client_id TEXT NOT NULL,
            body TEXT NOT NULL, ttl BIGINT NOT NULL, created BIGINT NOT NULL,
            expires BIGINT NOT NULL, visible_at BIGINT NOT NULL, claim_id TEXT,
            claim_expires BIGINT NOT NULL DEFAULT 0, claim_ttl BIGINT NOT NULL DEFAULT 0,
            claim_created BIGINT NOT NULL DEFAULT 0, claim_count BIGINT NOT NULL DEFAULT 0)"],
    },
    Migration {
        sqlite: CONTROL_V2,
        postgres: CONTROL_V2,
    },
    Migration {
        sqlite: &[],
        postgres: &[
            "ALTER TABLE messages DROP CONSTRAINT messages_pkey,
                ADD CONSTRAINT messages_pkey PRIMARY KEY (project, queue, seq)",
            "DROP INDEX IF EXISTS messages_queue",
        ],
    },
    Migration {
        sqlite: CLAIM_INDEX_V4,
        postgres: CLAIM_INDEX_V4,
    },
];

/// Migration 4: the claim index holds claimed messages only. Every message used to enter it
/// when posted (with a NULL claim id), one more B-tree insert and one more page written
/// with each commit of posts, for an index only ever searched by a claim's id
/// (`claim_id = $n`, which implies the index's condition on both backends).
const CLAIM_INDEX_V4: &[&str] = &[
    "DROP INDEX IF EXISTS messages_claim",
    "CREATE INDEX IF NOT EXISTS messages_claim ON messages (claim_id) WHERE claim_id IS NOT NULL",
];

/// Brings the schema up to date, in one transaction. On PostgreSQL an advisory lock makes
/// servers that start together against one database migrate one after the other (two
/// concurrent `CREATE TABLE IF NOT EXISTS` can otherwise collide); SQLite serialises writers.
pub async fn migrate(db: &DatabaseConnection) -> Result<(), DbErr> {
    let backend = db.get_database_backend();
    let txn = db.begin().await?;
    if backend == DbBackend::Postgres {
        txn.execute_unprepared("SELECT pg_advisory_xact_lock(72617161)")
            .await?;
    }
    txn.execute_unprepared("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
        .await?;
    let row = txn
        .query_one_raw(Statement::from_string(
            backend,
            "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        ))
        .await?;
    let applied: i64 = match row {
        Some(r) => r.try_get_by_index(0)?,
        None => 0,
    };
    for (i, m) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
        let own = match backend {
            DbBackend::Postgres => m.postgres,
            _ => m.sqlite,
        };
        // The backend-specific tables first: the shared indexes refer to them.
        for sql in own.iter().chain(if i == 0 { COMMON_V1 } else { &[] }) {
            txn.execute_unprepared(sql).await?;
        }
        txn.execute_unprepared(&format!(
            "INSERT INTO schema_version (version) VALUES ({})",
            i + 1
        ))
        .await?;
    }
    txn.commit().await
}
