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
//! - [`control`]: the control store (pools, flavors, catalog) in the same database.

pub mod control;

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
use crate::storage::reach::Reachability;
use crate::storage::DataStore;

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

fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("mongodb: {e}"))
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

fn parse_object(t: &str) -> Result<Metadata> {
    if t.is_empty() {
        return Ok(Metadata::new());
    }
    serde_json::from_str(t).map_err(|e| unavailable(format!("stored JSON: {e}")))
}

fn queue_filter(q: &QueueId) -> Document {
    doc! { "p": &q.project, "q": &q.name }
}

impl MongoStore {
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
                .map_err(|e| unavailable(format!("stored body: {e}")))?,
            ttl: int(d, "t"),
            age: (now - int(d, "c")).max(0) / 1000,
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
            age: (now - int(d, "c")).max(0) / 1000,
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

    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool> {
        let d = doc! {
            "p": &queue.project,
            "n": &queue.name,
            "m": serde_json::Value::Object(metadata).to_string(),
            "c": self.clock.now_ms(),
        };
        match self.traced("insert", self.queues.insert_one(d)).await {
            Ok(_) => Ok(true),
            Err(e) if is_duplicate(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>> {
        let found = self
            .traced(
                "find",
                self.queues
                    .find_one(doc! {"p": &queue.project, "n": &queue.name}),
            )
            .await
            .map_err(unavailable)?;
        found.map(|d| parse_object(&text(&d, "m"))).transpose()
    }

    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()> {
        let r = self
            .traced(
                "update",
                self.queues.update_one(
                    doc! {"p": &queue.project, "n": &queue.name},
                    doc! {"$set": {"m": serde_json::Value::Object(metadata).to_string()}},
                ),
            )
            .await
            .map_err(unavailable)?;
        if r.matched_count == 0 {
            return Err(StorageError::queue_missing(queue));
        }
        Ok(())
    }

    async fn delete_queue(&self, queue: &QueueId) -> Result<()> {
        // The queue's document first: a post that may not create the queue checks again
        // after inserting (see `post_messages`), so what it inserts is either taken below
        // or taken back by the post itself.
        self.traced(
            "delete",
            self.queues
                .delete_one(doc! {"p": &queue.project, "n": &queue.name}),
        )
        .await
        .map_err(unavailable)?;
        let f = queue_filter(queue);
        self.traced("delete", self.messages.delete_many(f.clone()))
            .await
            .map_err(unavailable)?;
        self.traced("delete", self.subscriptions.delete_many(f))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let find = self
            .queues
            .find(doc! {"p": project, "n": {"$gt": marker.unwrap_or_default()}})
            .sort(doc! {"n": 1})
            .limit(i64::from(limit));
        let docs: Vec<Document> = self
            .traced("find", async { find.await?.try_collect().await })
            .await
            .map_err(unavailable)?;
        docs.iter()
            .map(|d| {
                Ok(QueueEntry {
                    name: text(d, "n"),
                    metadata: parse_object(&text(d, "m"))?,
                })
            })
            .collect()
    }

    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats> {
        let now = self.clock.now_ms();
        let mut live = queue_filter(queue);
        live.insert("e", doc! {"$gt": now});
        let total = self
            .traced("count", self.messages.count_documents(live.clone()))
            .await
            .map_err(unavailable)? as i64;
        let mut held = live.clone();
        held.insert("ce", doc! {"$gt": now});
        let claimed = self
            .traced("count", self.messages.count_documents(held))
            .await
            .map_err(unavailable)? as i64;
        let mut stats = QueueStats {
            total,
            claimed,
            free: total - claimed,
            ..QueueStats::default()
        };
        if total > 0 {
            for (order, slot) in [(1, &mut stats.oldest), (-1, &mut stats.newest)] {
                let found = self
                    .traced(
                        "find",
                        self.messages.find_one(live.clone()).sort(doc! {"s": order}),
                    )
                    .await
                    .map_err(unavailable)?;
                *slot = found.map(|d| self.message(&d, now)).transpose()?;
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
            let mut f = queue_filter(queue);
            f.insert("ce", doc! {"$lte": now});
            self.traced("delete", self.messages.delete_many(f))
                .await
                .map_err(unavailable)?;
        }
        if subscriptions {
            self.traced(
                "delete",
                self.subscriptions.delete_many(queue_filter(queue)),
            )
            .await
            .map_err(unavailable)?;
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
        let metadata = self.queue_metadata(queue).await?;
        let settings = self.defaults.settings(metadata.as_ref());
        if size > settings.max_messages_post_size {
            return Err(StorageError::PostTooLarge {
                max: settings.max_messages_post_size,
            });
        }
        if metadata.is_none() {
            if !create {
                return Err(StorageError::queue_missing(queue));
            }
            self.create_queue(queue, Metadata::new()).await?;
        }
        // Reserve a block of sequence numbers for the batch, atomically.
        let key = format!("{}:{}:{}", queue.name, queue.project.len(), queue.project);
        let counter = self
            .traced(
                "findAndModify",
                self.counters
                    .find_one_and_update(
                        doc! {"_id": &key},
                        doc! {"$inc": {"s": messages.len() as i64}},
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After),
            )
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("sequence counter missing after upsert"))?;
        let last = int(&counter, "s");
        let first = last - messages.len() as i64 + 1;
        let now = self.clock.now_ms();
        let mut ids = Vec::with_capacity(messages.len());
        let docs: Vec<Document> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let id = Uuid::new_v4().to_string();
                let ttl = m.ttl.unwrap_or(settings.default_message_ttl);
                let delay = m.delay.unwrap_or(settings.default_message_delay);
                let expires = now + ttl * 1000;
                ids.push(id.clone());
                doc! {
                    "_id": id, "p": &queue.project, "q": &queue.name, "s": first + i as i64,
                    "b": m.body.get(), "t": ttl, "c": now, "e": expires,
                    "x": DateTime::from_millis(expires), "v": now + delay * 1000,
                    "cl": client_id, "ci": "", "ce": 0_i64, "ct": 0_i64, "cc": 0_i64, "n": 0_i64,
                }
            })
            .collect();
        self.traced("insert", self.messages.insert_many(docs))
            .await
            .map_err(unavailable)?;
        // Without transactions, a queue deleted between the check above and the insert
        // would keep these messages: checked again, and taken back if it went.
        if !create && self.queue_metadata(queue).await?.is_none() {
            self.traced(
                "delete",
                self.messages.delete_many(doc! {"_id": {"$in": &ids}}),
            )
            .await
            .map_err(unavailable)?;
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
        let after = match marker {
            Some(MessageMarker::After(seq)) => seq,
            Some(MessageMarker::Id(m)) => self
                .traced(
                    "find",
                    self.messages
                        .find_one(doc! {"_id": m, "p": &queue.project, "q": &queue.name}),
                )
                .await
                .map_err(unavailable)?
                .map_or(0, |d| int(&d, "s")),
            None => 0,
        };
        let mut f = queue_filter(queue);
        f.insert("e", doc! {"$gt": now});
        f.insert("s", doc! {"$gt": after});
        if !filter.echo {
            f.insert("cl", doc! {"$ne": filter.client_id});
        }
        if !filter.include_claimed {
            f.insert("ce", doc! {"$lte": now});
        }
        if !filter.include_delayed {
            f.insert("v", doc! {"$lte": now});
        }
        self.find_messages(f, Some(i64::from(limit)), now).await
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let mut f = queue_filter(queue);
        f.insert("_id", doc! {"$in": ids});
        f.insert("e", doc! {"$gt": now});
        self.find_messages(f, None, now).await
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut guard = doc! {"_id": id, "p": &queue.project, "q": &queue.name};
        match claim_id {
            None => guard.insert("ce", doc! {"$lte": now}),
            Some(c) => {
                guard.insert("ci", c);
                guard.insert("ce", doc! {"$gt": now})
            }
        };
        let deleted = self
            .traced("delete", self.messages.delete_one(guard))
            .await
            .map_err(unavailable)?
            .deleted_count;
        if deleted == 1 {
            return Ok(());
        }
        let found = self
            .traced(
                "find",
                self.messages.find_one(
                    doc! {"_id": id, "p": &queue.project, "q": &queue.name, "e": {"$gt": now}},
                ),
            )
            .await
            .map_err(unavailable)?;
        let Some(d) = found else {
            return Ok(());
        };
        let held = !text(&d, "ci").is_empty() && int(&d, "ce") > now;
        match claim_id {
            None if held => Err(StorageError::MessageIsClaimed { id: id.to_owned() }),
            None => Box::pin(self.delete_message(queue, id, None)).await,
            Some(c) if !held => Err(crate::storage::not_held(id, c)),
            Some(c) => {
                let live = self
                    .traced(
                        "find",
                        self.messages.find_one(doc! {
                            "ci": c, "p": &queue.project, "q": &queue.name,
                            "ce": {"$gt": now}, "e": {"$gt": now},
                        }),
                    )
                    .await
                    .map_err(unavailable)?;
                Err(match live {
                    Some(_) => StorageError::MessageNotClaimedBy {
                        id: id.to_owned(),
                        claim: c.to_owned(),
                    },
                    None => StorageError::ClaimNotValid,
                })
            }
        }
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        let mut f = queue_filter(queue);
        f.insert("_id", doc! {"$in": ids});
        self.traced("delete", self.messages.delete_many(f))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        for _ in 0..limit {
            let mut f = queue_filter(queue);
            f.insert("e", doc! {"$gt": now});
            f.insert("ce", doc! {"$lte": now});
            f.insert("v", doc! {"$lte": now});
            let taken = self
                .traced(
                    "findAndModify",
                    self.messages.find_one_and_delete(f).sort(doc! {"s": 1}),
                )
                .await
                .map_err(unavailable)?;
            match taken {
                Some(d) => out.push(self.message(&d, now)?),
                None => break,
            }
        }
        Ok(out)
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
        let keep = now + (ttl + grace) * 1000;
        let mut messages = Vec::new();
        for _ in 0..limit {
            let mut free = queue_filter(queue);
            free.insert("e", doc! {"$gt": now});
            free.insert("ce", doc! {"$lte": now});
            free.insert("v", doc! {"$lte": now});
            let update = doc! {
                "$set": {"ci": &id, "ce": now + ttl * 1000, "ct": ttl, "cc": now},
                "$inc": {"n": 1_i64},
            };
            let taken = self
                .traced(
                    "findAndModify",
                    self.messages
                        .find_one_and_update(free, update)
                        .sort(doc! {"s": 1})
                        .return_document(ReturnDocument::After),
                )
                .await
                .map_err(unavailable)?;
            let Some(mut d) = taken else {
                break;
            };
            if int(&d, "e") < keep {
                // Claimed messages outlive the claim by its grace.
                self.traced(
                    "update",
                    self.messages.update_one(
                        doc! {"_id": text(&d, "_id"), "ci": &id},
                        doc! {"$set": {"e": keep, "x": DateTime::from_millis(keep)}},
                    ),
                )
                .await
                .map_err(unavailable)?;
                d.insert("e", keep);
            }
            messages.push(self.message(&d, now)?);
        }
        Ok((!messages.is_empty()).then_some(Claim {
            id,
            ttl,
            age: 0,
            messages,
        }))
    }

    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim> {
        let now = self.clock.now_ms();
        let mut f = queue_filter(queue);
        f.insert("ci", id);
        f.insert("ce", doc! {"$gt": now});
        f.insert("e", doc! {"$gt": now});
        let find = self.messages.find(f).sort(doc! {"s": 1});
        let docs: Vec<Document> = self
            .traced("find", async { find.await?.try_collect().await })
            .await
            .map_err(unavailable)?;
        let first = docs
            .first()
            .ok_or_else(|| StorageError::claim_missing(queue, id))?;
        Ok(Claim {
            id: id.to_owned(),
            ttl: int(first, "ct"),
            age: (now - int(first, "cc")).max(0) / 1000,
            messages: docs
                .iter()
                .map(|d| self.message(d, now))
                .collect::<Result<_>>()?,
        })
    }

    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()> {
        let now = self.clock.now_ms();
        let keep = now + (ttl + grace) * 1000;
        let mut held = queue_filter(queue);
        held.insert("ci", id);
        held.insert("ce", doc! {"$gt": now});
        held.insert("e", doc! {"$gt": now});
        let renewed = self
            .traced(
                "update",
                self.messages.update_many(
                    held,
                    doc! {"$set": {"ce": now + ttl * 1000, "ct": ttl, "cc": now}},
                ),
            )
            .await
            .map_err(unavailable)?;
        if renewed.matched_count == 0 {
            return Err(StorageError::claim_missing(queue, id));
        }
        let mut short = queue_filter(queue);
        short.insert("ci", id);
        short.insert("e", doc! {"$lt": keep});
        self.traced(
            "update",
            self.messages.update_many(
                short,
                doc! {"$set": {"e": keep, "x": DateTime::from_millis(keep)}},
            ),
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        let mut f = queue_filter(queue);
        f.insert("ci", id);
        self.traced(
            "update",
            self.messages
                .update_many(f, doc! {"$set": {"ci": "", "ce": 0_i64}}),
        )
        .await
        .map_err(unavailable)?;
        Ok(())
    }

    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String> {
        let now = self.clock.now_ms();
        let mut expired = queue_filter(queue);
        expired.insert("sub", subscriber);
        expired.insert("e", doc! {"$lte": now});
        self.traced("delete", self.subscriptions.delete_many(expired))
            .await
            .map_err(unavailable)?;
        let id = Uuid::new_v4().to_string();
        let d = doc! {
            "_id": &id, "p": &queue.project, "q": &queue.name, "sub": subscriber, "t": ttl,
            "o": serde_json::Value::Object(options).to_string(), "c": now, "e": now + ttl * 1000,
            "k": 0_i64,
        };
        match self
            .traced("insert", self.subscriptions.insert_one(d))
            .await
        {
            Ok(_) => Ok(id),
            Err(e) if is_duplicate(&e) => {
                let mut same = queue_filter(queue);
                same.insert("sub", subscriber);
                let found = self
                    .traced("find", self.subscriptions.find_one(same))
                    .await
                    .map_err(unavailable)?
                    .ok_or_else(|| unavailable("subscription vanished while created"))?;
                Ok(text(&found, "_id"))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>> {
        let now = self.clock.now_ms();
        let mut f = queue_filter(queue);
        f.insert("e", doc! {"$gt": now});
        f.insert("_id", doc! {"$gt": marker.unwrap_or_default()});
        let find = self
            .subscriptions
            .find(f)
            .sort(doc! {"_id": 1})
            .limit(i64::from(limit.min(i64::MAX as u32)));
        let docs: Vec<Document> = self
            .traced("find", async { find.await?.try_collect().await })
            .await
            .map_err(unavailable)?;
        docs.iter().map(|d| self.subscription(d, now)).collect()
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        let now = self.clock.now_ms();
        let mut f = queue_filter(queue);
        f.insert("_id", id);
        f.insert("e", doc! {"$gt": now});
        let found = self
            .traced("find", self.subscriptions.find_one(f))
            .await
            .map_err(unavailable)?
            .ok_or_else(|| StorageError::subscription_missing(queue, id))?;
        self.subscription(&found, now)
    }

    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut set = Document::new();
        if let Some(s) = update.subscriber {
            set.insert("sub", s);
        }
        if let Some(ttl) = update.ttl {
            set.insert("t", ttl);
            set.insert("e", now + ttl * 1000);
        }
        if let Some(o) = update.options {
            set.insert("o", serde_json::Value::Object(o).to_string());
        }
        if set.is_empty() {
            return self.get_subscription(queue, id).await.map(|_| ());
        }
        let Ok(subscriber) = set.get_str("sub").map(str::to_owned) else {
            return self.change_subscription(queue, id, set, now).await;
        };
        // An expired subscription still holding the subscriber gives way, as on create.
        let mut holder = queue_filter(queue);
        holder.insert("sub", &subscriber);
        holder.insert("_id", doc! {"$ne": id});
        let mut expired = holder.clone();
        expired.insert("e", doc! {"$lte": now});
        self.traced("delete", self.subscriptions.delete_one(expired))
            .await
            .map_err(unavailable)?;
        let done = self.change_subscription(queue, id, set, now).await;
        // The unique index refuses a subscriber another live subscription holds.
        if done.is_err() {
            holder.insert("e", doc! {"$gt": now});
            let live = self
                .traced("find", self.subscriptions.find_one(holder))
                .await
                .map_err(unavailable)?;
            if live.is_some() {
                return Err(StorageError::SubscriptionAlreadyExists);
            }
        }
        done
    }

    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()> {
        let now = self.clock.now_ms();
        self.change_subscription(queue, id, doc! {"k": i64::from(confirmed)}, now)
            .await
    }

    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()> {
        let mut f = queue_filter(queue);
        f.insert("_id", id);
        self.traced("delete", self.subscriptions.delete_one(f))
            .await
            .map_err(unavailable)?;
        Ok(())
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
