//! The MongoDB backend, on the official driver.
//!
//! Collections `queues`, `messages`, `subscriptions` and `counters` (a per-queue sequence that
//! gives FIFO order). Ids are strings (UUIDs) everywhere, metadata and options are stored as
//! JSON text, and every number is read whatever integer or double width the server answers
//! with, so the store keeps to what wire-compatible servers (NX-27017 in the tests) get right.
//! A claim takes messages one at a time with `find_one_and_update`, guarded by the message
//! being free, so two claimers never take the same message; expiry is decided against the
//! store's clock in every query (a TTL index on `x` only reclaims space).
//!
//! - `queues`, `messages`, `claims`, `subscriptions`: the four controllers of
//!   [`crate::storage::DataStore`], one file each, as Zaqar splits its drivers.
//! - [`control`]: the control store (pools, flavors, catalog) in the same database.

mod claims;
pub mod control;
mod messages;
mod queues;
mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Bson, DateTime, Document};
use mongodb::options::{ClientOptions, IndexOptions, ReturnDocument};
use mongodb::{Client, Collection, Database, IndexModel};
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::clock::Clock;
use crate::envelope::{db_call, DbLayer, DbSystem};
use crate::error::{Result, StorageError};
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueDefaults, QueueEntry,
    QueueId, QueueStats, Subscription, SubscriptionUpdate,
};
use crate::storage::common::{age, check_post_size, parse_object, Undeleted};
use crate::storage::options::{Backend, OpenOptions};
use crate::storage::prelude::*;
use crate::storage::reach::Reachability;

/// MongoDB command spans are named by the operation (`MONGODB find`).
const MONGO_SPANS: DbSystem = DbSystem {
    system: "mongodb",
    prefix: "MONGODB",
    layer: DbLayer::MongoDb,
    named_by_statement: false,
};
/// Connection settings of the MongoDB store.
#[derive(Clone, Debug)]
pub struct MongoOptions {
    pub uri: String,
    pub pool_size: u32,
    /// Bounds server selection and connecting, so a dead server answers 503 quickly.
    pub timeout: Duration,
    /// Bounds each operation, so a server that stops answering mid-command costs a 503.
    pub command_timeout: Duration,
}

pub struct MongoStore {
    db: Database,
    messages: Collection<Document>,
    queues: Collection<Document>,
    subscriptions: Collection<Document>,
    /// One sequence per queue, for FIFO order.
    counters: Collection<Document>,
    clock: Clock,
    command_timeout: Duration,
    /// Set once the indexes exist (see `ready`).
    indexed: tokio::sync::OnceCell<()>,
    /// The servers' addresses, to fail fast while all of them refuse connections.
    reach: Reachability,
    defaults: QueueDefaults,
}

fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    StorageError::unavailable_in("mongodb", e)
}

fn is_duplicate(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    /// The server's `DuplicateKey` error code.
    const DUPLICATE_KEY: i32 = 11000;
    match e.kind.as_ref() {
        ErrorKind::Write(WriteFailure::WriteError(w)) => w.code == DUPLICATE_KEY,
        ErrorKind::InsertMany(m) => m
            .write_errors
            .iter()
            .flatten()
            .any(|w| w.code == DUPLICATE_KEY),
        ErrorKind::Command(c) => c.code == DUPLICATE_KEY,
        _ => false,
    }
}

/// An integer field, whatever width or type the server stored it with.
fn int(d: &Document, key: &str) -> i64 {
    match d.get(key) {
        Some(Bson::Int32(v)) => i64::from(*v),
        Some(Bson::Int64(v)) => *v,
        Some(Bson::Double(v)) => *v as i64,
        _ => 0,
    }
}

fn text(d: &Document, key: &str) -> String {
    d.get_str(key).unwrap_or_default().to_owned()
}

fn queue_filter(q: &QueueId) -> Document {
    doc! { "p": &q.project, "q": &q.name }
}

impl MongoStore {
    /// Opens `uri` for the backend table (`storage::open`); the store serves both messages
    /// and the catalog.
    pub async fn open(uri: String, opts: OpenOptions) -> Result<Backend> {
        let mongo = MongoOptions {
            uri,
            pool_size: opts.pool_size,
            timeout: opts.timeout,
            command_timeout: opts.command_timeout,
        };
        Self::connect(&mongo, opts.clock, opts.defaults)
            .await
            .map(Backend::of)
    }

    pub async fn connect(
        opts: &MongoOptions,
        clock: Clock,
        defaults: QueueDefaults,
    ) -> Result<Self> {
        let mut options = ClientOptions::parse(&opts.uri).await.map_err(unavailable)?;
        let addrs = options
            .hosts
            .iter()
            .filter_map(|h| match h {
                mongodb::options::ServerAddress::Tcp { host, port } => {
                    Some((host.clone(), port.unwrap_or(27017)))
                }
                _ => None,
            })
            .collect();
        options.max_pool_size = Some(opts.pool_size.max(1));
        options.server_selection_timeout = Some(opts.timeout);
        options.connect_timeout = Some(opts.timeout);
        let name = options
            .default_database
            .clone()
            .unwrap_or_else(|| "zaqar".into());
        let client = Client::with_options(options).map_err(unavailable)?;
        let db = client.database(&name);
        let store = Self {
            messages: db.collection("messages"),
            queues: db.collection("queues"),
            subscriptions: db.collection("subscriptions"),
            counters: db.collection("counters"),
            db,
            clock,
            command_timeout: opts.command_timeout,
            indexed: tokio::sync::OnceCell::new(),
            reach: Reachability::new(addrs),
            defaults,
        };
        // The client connects on demand; the indexes (two of them unique, so needed for
        // correctness) are made before the first operation that reaches the server.
        let ready = async {
            tokio::select! {
                ready = store.ready() => ready,
                refusal = store.reach.refusal() => Err(refusal),
            }
        };
        if let Err(e) = ready.await {
            tracing::warn!(
                store = %crate::storage::uri::redact_uri(&opts.uri),
                error = %e,
                "MongoDB unreachable at start; its queues answer 503 until it is reachable"
            );
        }
        Ok(store)
    }

    /// Creates the indexes once, before the first operation that reaches the server.
    async fn ready(&self) -> Result<()> {
        self.indexed
            .get_or_try_init(|| async {
                tokio::time::timeout(self.command_timeout, self.create_indexes())
                    .await
                    .unwrap_or_else(|_| Err(unavailable("creating the indexes timed out")))
            })
            .await
            .map(|_| ())
    }

    async fn create_indexes(&self) -> Result<()> {
        let index = |keys: Document, unique: bool| {
            IndexModel::builder()
                .keys(keys)
                .options(IndexOptions::builder().unique(unique).build())
                .build()
        };
        let messages = &self.messages;
        messages
            .create_index(index(doc! {"p": 1, "q": 1, "s": 1}, false))
            .await
            .map_err(unavailable)?;
        messages
            .create_index(index(doc! {"ci": 1}, false))
            .await
            .map_err(unavailable)?;
        // Space only: reads never rely on it (some servers expire lazily).
        messages
            .create_index(
                IndexModel::builder()
                    .keys(doc! {"x": 1})
                    .options(IndexOptions::builder().expire_after(Duration::ZERO).build())
                    .build(),
            )
            .await
            .map_err(unavailable)?;
        self.queues
            .create_index(index(doc! {"p": 1, "n": 1}, true))
            .await
            .map_err(unavailable)?;
        self.subscriptions
            .create_index(index(doc! {"p": 1, "q": 1, "sub": 1}, true))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    fn message(&self, d: &Document, now: i64) -> Result<Message> {
        let claim = text(d, "ci");
        Ok(Message {
            id: text(d, "_id"),
            seq: int(d, "s"),
            body: RawValue::from_string(text(d, "b"))
                .map_err(|e| StorageError::unavailable_in("mongodb: stored body", e))?,
            ttl: int(d, "t"),
            age: age(now, int(d, "c")),
            claim_id: Some(claim).filter(|c| !c.is_empty() && int(d, "ce") > now),
            claim_count: int(d, "n"),
            created_ms: int(d, "c"),
        })
    }

    async fn find_messages(
        &self,
        filter: Document,
        limit: Option<i64>,
        now: i64,
    ) -> Result<Vec<Message>> {
        let mut find = self.messages.find(filter).sort(doc! {"s": 1});
        if let Some(n) = limit {
            find = find.limit(n);
        }
        let docs: Vec<Document> = self
            .traced("find", async { find.await?.try_collect().await })
            .await
            .map_err(unavailable)?;
        docs.iter().map(|d| self.message(d, now)).collect()
    }

    fn subscription(&self, d: &Document, now: i64) -> Result<Subscription> {
        Ok(Subscription {
            id: text(d, "_id"),
            source: text(d, "q"),
            subscriber: text(d, "sub"),
            ttl: int(d, "t"),
            age: age(now, int(d, "c")),
            options: parse_object(&text(d, "o"))?,
            confirmed: int(d, "k") != 0,
        })
    }

    /// Runs one command in a span of its own when traced (`trace_mongodb`).
    /// One operation: traced, and bounded by `command_timeout`.
    async fn traced<T>(
        &self,
        command: &'static str,
        run: impl std::future::IntoFuture<Output = mongodb::error::Result<T>>,
    ) -> mongodb::error::Result<T> {
        let as_mongo = |e: StorageError| std::io::Error::other(e.to_string()).into();
        let ready = async {
            self.reach.check().await?;
            tokio::select! {
                ready = self.ready() => ready,
                refusal = self.reach.refusal() => Err(refusal),
            }
        };
        if let Err(e) = ready.await {
            self.reach.failed().await;
            return Err(as_mongo(e));
        }
        let run = db_call(MONGO_SPANS, command, None, run);
        let bounded = async {
            tokio::time::timeout(self.command_timeout, run)
                .await
                .unwrap_or_else(|_| {
                    let late = format!(
                        "{command} took longer than {} s",
                        self.command_timeout.as_secs_f64()
                    );
                    Err(std::io::Error::new(std::io::ErrorKind::TimedOut, late).into())
                })
        };
        let done = tokio::select! {
            done = bounded => done,
            refusal = self.reach.refusal() => Err(as_mongo(refusal)),
        };
        if done.as_ref().is_err_and(|e| {
            matches!(
                *e.kind,
                mongodb::error::ErrorKind::Io(_)
                    | mongodb::error::ErrorKind::ServerSelection { .. }
            )
        }) {
            self.reach.failed().await;
        }
        done
    }
}

#[async_trait]
impl DataStore for MongoStore {
    fn name(&self) -> &'static str {
        "MongoStore"
    }

    async fn ping(&self) -> Result<()> {
        self.traced("ping", self.db.run_command(doc! {"ping": 1}))
            .await
            .map(|_| ())
            .map_err(unavailable)
    }

    async fn collect_garbage(&self) -> Result<u64> {
        let now = self.clock.now_ms();
        let messages = self
            .traced(
                "delete",
                self.messages.delete_many(doc! {"e": {"$lte": now}}),
            )
            .await
            .map_err(unavailable)?;
        let subs = self
            .traced(
                "delete",
                self.subscriptions.delete_many(doc! {"e": {"$lte": now}}),
            )
            .await
            .map_err(unavailable)?;
        Ok(messages.deleted_count + subs.deleted_count)
    }
}

impl MongoStore {
    async fn change_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        set: Document,
        now: i64,
    ) -> Result<()> {
        let mut f = queue_filter(queue);
        f.insert("_id", id);
        f.insert("e", doc! {"$gt": now});
        let r = self
            .traced(
                "update",
                self.subscriptions.update_one(f, doc! {"$set": set}),
            )
            .await
            .map_err(unavailable)?;
        if r.matched_count == 0 {
            return Err(StorageError::subscription_missing(queue, id));
        }
        Ok(())
    }
}
