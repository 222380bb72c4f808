//! The storage contract, written once and run on every backend: what every [`DataStore`]
//! and [`ControlStore`] must do, checked below the HTTP layer.
//!
//! `ZAQAR_CONTRACT_STORE` names the backend (a `sqlite://`, `postgres://`, `redis://` or
//! `mongodb://` URI, as `[storage] message_store` takes); without it each test opens a
//! SQLite file of its own. Tests on one shared database keep apart by project: each test
//! uses projects of its own. Time is the store's injected clock, moved forward by the tests.
//! Dead-letter queues are a router's work over a store: their test runs a router too.

mod claims;
mod concurrency;
mod control;
mod dead_letter;
mod hostile;
mod messages;
mod queues;
mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;
use zaqar_actors::control::ControlStore;
use zaqar_actors::model::{ListFilter, Message, MessageMarker, NewMessage, QueueId};
use zaqar_actors::storage::encrypted::Keyring;
use zaqar_actors::storage::open::{open, OpenOptions};
use zaqar_actors::{Clock, DataStore};

/// One test's view of the backend: its stores, its clock and a project of its own.
pub struct Fixture {
    pub data: Arc<dyn DataStore>,
    pub control: Option<Arc<dyn ControlStore>>,
    pub clock: Clock,
    pub project: String,
    uri: String,
    _dir: tempfile::TempDir,
}

impl Fixture {
    pub async fn new() -> Self {
        Self::with_keys(Keyring::default()).await
    }

    pub async fn with_keys(keys: Keyring) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let uri = std::env::var("ZAQAR_CONTRACT_STORE")
            .ok()
            .filter(|u| !u.is_empty())
            .unwrap_or_else(|| format!("sqlite://{}/contract.db", dir.path().display()));
        let clock = Clock::system();
        let opts = OpenOptions {
            pool_size: 4,
            timeout: Duration::from_secs(5),
            // Generous: the MongoDB-compatible test server is slow under the concurrency
            // tests, and this suite is about what is stored, not how fast.
            command_timeout: Duration::from_secs(60),
            sqlite_synchronous_full: false,
            sqlite_disk_reserve: 0,
            defaults: Default::default(),
            clock: clock.clone(),
            keys: Arc::new(keys),
            write_batch: Default::default(),
        };
        let backend = open(&uri, &opts).await.expect("the contract store opens");
        Fixture {
            data: backend.data,
            control: backend.control,
            clock,
            project: format!("contract-{}", uuid::Uuid::new_v4().simple()),
            uri,
            _dir: dir,
        }
    }

    /// The SQLite file the stores use, when the backend is SQLite.
    pub fn sqlite_file(&self) -> Option<std::path::PathBuf> {
        let path = self.uri.strip_prefix("sqlite://")?;
        Some(path.split('?').next().unwrap_or(path).into())
    }

    pub fn queue(&self, name: &str) -> QueueId {
        QueueId::new(self.project.clone(), name)
    }

    pub fn advance(&self, seconds: u64) {
        self.clock.advance(Duration::from_secs(seconds));
    }

    /// Posts `bodies` (JSON texts) as one batch from `client`, creating the queue.
    pub async fn post_from(&self, q: &QueueId, client: &str, bodies: &[&str]) -> Vec<String> {
        let batch: Vec<NewMessage> = bodies.iter().map(|b| message(b, None, None)).collect();
        let size = bodies.iter().map(|b| b.len() as u64).sum();
        self.data
            .post_messages(q, client, batch.into(), size, true)
            .await
            .expect("post")
    }

    pub async fn post(&self, q: &QueueId, bodies: &[&str]) -> Vec<String> {
        self.post_from(q, CLIENT, bodies).await
    }

    /// Every message a listing from another client returns, page by page.
    pub async fn list_all(&self, q: &QueueId, filter: ListFilter) -> Vec<Message> {
        let mut out = Vec::new();
        let mut marker = None;
        loop {
            let page = self
                .data
                .list_messages(q, filter.clone(), marker, 7)
                .await
                .expect("list");
            let Some(last) = page.last() else {
                return out;
            };
            marker = Some(MessageMarker::After(last.seq));
            out.extend(page);
        }
    }
}

/// The client that posts in these tests; listings come from [`OTHER`] unless said.
pub const CLIENT: &str = "11111111-1111-4111-8111-111111111111";
pub const OTHER: &str = "22222222-2222-4222-8222-222222222222";

pub fn message(body: &str, ttl: Option<i64>, delay: Option<i64>) -> NewMessage {
    NewMessage {
        ttl,
        delay,
        body: RawValue::from_string(body.to_owned()).expect("JSON body"),
    }
}

/// A listing as another client sees it, with nothing else asked for.
pub fn seen_by_other() -> ListFilter {
    ListFilter {
        client_id: OTHER.into(),
        ..Default::default()
    }
}

pub fn ids(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.id.clone()).collect()
}

pub fn bodies(messages: &[Message]) -> Vec<String> {
    messages.iter().map(|m| m.body.get().to_owned()).collect()
}

/// The contract store's URI when it is a PostgreSQL (for the tests of its query plans).
pub fn postgres_uri() -> Option<String> {
    std::env::var("ZAQAR_CONTRACT_STORE")
        .ok()
        .filter(|u| u.starts_with("postgres"))
}

/// A PostgreSQL session of its own (one connection, so that its settings, prepared
/// statements and temporary tables hold from one statement to the next).
pub async fn postgres_session(uri: String) -> sea_orm::DatabaseConnection {
    let mut opts = sea_orm::ConnectOptions::new(uri);
    opts.max_connections(1);
    sea_orm::Database::connect(opts).await.expect("PostgreSQL")
}

/// On PostgreSQL (none on other stores), a session (after the store has made the schema)
/// whose `messages` is a temporary copy of the table, which autovacuum never analyses,
/// holding the rows that `select` gives for `(id, project, queue, client_id, body, ttl,
/// created, expires, visible_at)`: the planner then knows nothing of them, as after a burst
/// of posts.
pub async fn unanalysed_messages(select: &str) -> Option<sea_orm::DatabaseConnection> {
    use sea_orm::ConnectionTrait;
    let uri = postgres_uri()?;
    Fixture::new().await;
    let db = postgres_session(uri).await;
    db.execute_unprepared(&format!(
        "CREATE TEMPORARY TABLE messages (LIKE public.messages INCLUDING ALL);
         INSERT INTO messages (id, project, queue, client_id, body, ttl, created, expires,
            visible_at) {select}"
    ))
    .await
    .expect("a temporary copy of messages");
    Some(db)
}

/// The rows a plan's filters read and dropped (`Rows Removed by Filter`), over all its nodes.
pub fn rows_removed(plan: &str) -> u64 {
    plan.lines()
        .filter_map(|l| l.split("Rows Removed by Filter:").nth(1))
        .map(|n| n.trim().parse::<u64>().expect("a row count"))
        .sum()
}

/// What PostgreSQL prints for `explain` (an EXPLAIN statement), as one text.
pub async fn plan_of(db: &sea_orm::DatabaseConnection, explain: String) -> String {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let rows = db
        .query_all_raw(Statement::from_string(DbBackend::Postgres, explain))
        .await
        .expect("EXPLAIN");
    rows.iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("a plan line"))
        .collect::<Vec<_>>()
        .join("\n")
}
