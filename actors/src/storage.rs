//! The storage contract and its backends.
//!
//! [`DataStore`] is what every backend implements (Zaqar's data driver), made of Zaqar's four
//! controllers: [`QueueStore`], [`MessageStore`], [`ClaimStore`], [`SubscriptionStore`]. A
//! backend lives in a folder of its own with a file per controller; the contract suite in
//! `actors/tests/contract` holds every backend to the same semantics. Every backend must honour the same semantics: FIFO per queue, a
//! batch post is atomic, a message is held by at most one live claim, expiry is exact at
//! read time (decided against [`crate::Clock`], whatever background cleanup does), and
//! projects never see each other's queues.
//!
//! - [`actor`]: `StorageActor`, the one generic actor in front of any `DataStore`.
//! - [`sql`]: sea-orm backend for SQLite (embedded default) and PostgreSQL.
//! - [`redis`]: Redis over a bb8 pool, every read-modify-write an atomic Lua script.
//! - [`mongo`]: MongoDB on the official driver.
//! - [`faulty`]: a store whose every call fails, for testing the 503 path.
//! - [`open`]: opening any of them from its URI.
//! - [`reach`]: failing fast while a backend refuses connections.
//! - [`uri`]: backend URIs with their credentials masked, for logs and answers.

pub mod actor;
pub mod common;
pub mod encrypted;
pub mod faulty;
pub mod gather;
pub mod mongo;
pub mod open;
pub mod options;
pub mod reach;
pub mod redis;
pub mod sql;
pub mod uri;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueEntry, QueueId,
    QueueStats, Subscription, SubscriptionUpdate,
};

/// Bounds one database command by `limit`: a database that stops answering mid-command
/// (frozen, or a network path that drops packets) costs its request a 503 at the bound,
/// not a hang. Dropping the command's future drops its connection, which the pools replace.
pub async fn bounded<T>(
    limit: Duration,
    what: &str,
    run: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(limit, run).await.unwrap_or_else(|_| {
        Err(crate::error::StorageError::unavailable(format!(
            "{what} took longer than {} s",
            limit.as_secs_f64()
        )))
    })
}

/// Zaqar's queue controller.
#[async_trait]
pub trait QueueStore: Send + Sync + 'static {
    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool>;
    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>>;
    /// Fails with `QueueDoesNotExist` when the queue was never created.
    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()>;
    async fn delete_queue(&self, queue: &QueueId) -> Result<()>;
    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>>;
    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats>;
    /// Purging messages removes those no live claim holds, as Zaqar does (it pops them): a
    /// consumer working on a claim keeps its messages until it deletes or releases them.
    async fn purge_queue(&self, queue: &QueueId, messages: bool, subscriptions: bool)
        -> Result<()>;
}

/// Zaqar's message controller.
#[async_trait]
pub trait MessageStore: Send + Sync + 'static {
    /// `size` is the batch's size in bytes as posted, checked against the queue's
    /// `_max_messages_post_size`. Creates the queue if it does not exist (lazy queues) when
    /// `create` is true, else fails with `QueueDoesNotExist`.
    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>>;
    async fn list_messages(
        &self,
        queue: &QueueId,
        filter: ListFilter,
        marker: Option<MessageMarker>,
        limit: u32,
    ) -> Result<Vec<Message>>;
    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>>;
    /// Deleting a message that does not exist succeeds; a claimed one needs its claim id.
    async fn delete_message(&self, queue: &QueueId, id: &str, claim_id: Option<&str>)
        -> Result<()>;
    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()>;
    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>>;
}

/// Zaqar's claim controller.
#[async_trait]
pub trait ClaimStore: Send + Sync + 'static {
    /// `grace` extends the life of the claimed messages beyond the claim, as in Zaqar.
    async fn create_claim(
        &self,
        queue: &QueueId,
        ttl: i64,
        grace: i64,
        limit: u32,
    ) -> Result<Option<Claim>>;
    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim>;
    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()>;
    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()>;
}

/// Zaqar's subscription controller.
#[async_trait]
pub trait SubscriptionStore: Send + Sync + 'static {
    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String>;
    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>>;
    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription>;
    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()>;
    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()>;
    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()>;
}

/// A whole backend (Zaqar's data driver): its four controllers, split as Zaqar splits them
/// (each backend implements each in a file of its own), plus what concerns the backend as
/// a whole. Bring [`prelude`] into scope to call the controllers' methods on a store.
#[async_trait]
pub trait DataStore: QueueStore + MessageStore + ClaimStore + SubscriptionStore {
    /// The storage actor's name in spans (`SqlStore`, `RedisStore`, ...).
    fn name(&self) -> &'static str;

    async fn ping(&self) -> Result<()>;

    /// Removes expired rows; only for space, since reads already ignore them. Answers how
    /// many rows went.
    async fn collect_garbage(&self) -> Result<u64> {
        Ok(0)
    }
}

/// The storage traits, for calling any of their methods on a store.
pub mod prelude {
    pub use super::{ClaimStore, DataStore, MessageStore, QueueStore, SubscriptionStore};
}
