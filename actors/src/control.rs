//! The control (management) store: pools, flavors and the catalog, Zaqar's control driver.
//!
//! [`ControlStore`] is what a backend implements to hold the pooling state; the SQL, Redis
//! and MongoDB stores implement it next to [`crate::DataStore`], so one database can hold
//! both (the default: the management store is the message store). Which pool holds a queue
//! is decided once, when the queue is placed, and stays until the queue is deleted; the two
//! writes that could race (placing a queue in a pool, deleting that pool) are atomic against
//! each other in every backend, so a pool is never deleted under a queue.

use async_trait::async_trait;

use crate::error::Result;
use crate::model::{Metadata, QueueId};

/// The pool every server has without registering anything: `[storage] message_store`.
/// Queues live there while no pool of their flavor is registered, and queues that existed
/// before pooling was switched on are found there.
pub const DEFAULT_POOL: &str = "default";

/// A registered storage pool.
#[derive(Clone, Debug, PartialEq)]
pub struct Pool {
    pub name: String,
    /// Backend URI, with its password if it has one: never logged or answered as is.
    pub uri: String,
    /// Relative share of new queues; 0 takes none.
    pub weight: u32,
    pub flavor: Option<String>,
    pub options: Metadata,
}

/// A named group of pools (those whose `flavor` is this name), chosen by a queue's
/// `_flavor` metadata.
#[derive(Clone, Debug, PartialEq)]
pub struct Flavor {
    pub name: String,
    pub capabilities: Metadata,
}

/// What deleting a pool did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolDeletion {
    Deleted,
    Missing,
    /// Refused: this many queues still live in the pool.
    InUse(u64),
}

#[async_trait]
pub trait ControlStore: Send + Sync + 'static {
    async fn ping(&self) -> Result<()>;

    /// Creates the pool or replaces it (a PUT).
    async fn put_pool(&self, pool: &Pool) -> Result<()>;
    async fn get_pool(&self, name: &str) -> Result<Option<Pool>>;
    /// Pools by name after `marker`.
    async fn list_pools(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Pool>>;
    /// Deletes the pool unless a queue lives in it, atomically with [`Self::place`].
    async fn delete_pool(&self, name: &str) -> Result<PoolDeletion>;

    async fn put_flavor(&self, flavor: &Flavor) -> Result<()>;
    async fn get_flavor(&self, name: &str) -> Result<Option<Flavor>>;
    async fn list_flavors(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Flavor>>;
    /// `false` when there was no such flavor.
    async fn delete_flavor(&self, name: &str) -> Result<bool>;

    /// The pool the queue lives in, if it was placed.
    async fn lookup(&self, queue: &QueueId) -> Result<Option<String>>;
    /// Records that the queue lives in `pool` unless it already lives somewhere, and answers
    /// where it lives. Fails with `PoolDoesNotExist` if `pool` (other than the default pool)
    /// was deleted meanwhile.
    async fn place(&self, queue: &QueueId, pool: &str) -> Result<String>;
    /// Forgets where the queue lives (it was deleted).
    async fn unplace(&self, queue: &QueueId) -> Result<()>;
}
