//! The control store on Redis: hashes `zc:pools` and `zc:flavors` (name → JSON), the
//! catalog `zc:catalog` (queue key → pool) and `zc:catalog:counts` (pool → queues placed).
//!
//! Placing a queue, forgetting it and deleting a pool are Lua scripts, so they are atomic
//! against each other: a pool is deleted only while its count is zero, and a queue is placed
//! only in a pool that exists.

use async_trait::async_trait;
use serde_json::{json, Value};

use super::{parse_object, prefix, RedisStore};
use crate::control::{ControlStore, Flavor, Pool, PoolDeletion, DEFAULT_POOL};
use crate::error::{Result, StorageError};
use crate::model::QueueId;

const POOLS: &str = "zc:pools";
const FLAVORS: &str = "zc:flavors";
pub(super) const CATALOG: &str = "zc:catalog";
const COUNTS: &str = "zc:catalog:counts";

// The catalog's scripts stand alone (no queue helpers).
super::lua_scripts!(scripts, Scripts, "", [place, unplace, delete_pool]);

fn decode_pool(name: String, json: &str) -> Result<Pool> {
    let v: Value =
        serde_json::from_str(json).map_err(|e| StorageError::unavailable_in("redis: pool", e))?;
    Ok(Pool {
        name,
        uri: v["uri"].as_str().unwrap_or_default().to_owned(),
        weight: v["weight"]
            .as_u64()
            .and_then(|w| u32::try_from(w).ok())
            .unwrap_or(0),
        flavor: v["flavor"].as_str().map(str::to_owned),
        options: v["options"].as_object().cloned().unwrap_or_default(),
    })
}

fn decode_flavor(name: String, json: &str) -> Result<Flavor> {
    Ok(Flavor {
        name,
        capabilities: parse_object(json)?,
    })
}

/// The page of `all` (name → JSON) after `marker`, by name.
fn page<T>(
    mut all: Vec<(String, String)>,
    marker: Option<&str>,
    limit: u32,
    decode: fn(String, &str) -> Result<T>,
) -> Result<Vec<T>> {
    all.sort();
    all.into_iter()
        .filter(|(name, _)| marker.is_none_or(|m| name.as_str() > m))
        .take(limit as usize)
        .map(|(name, json)| decode(name, &json))
        .collect()
}

impl RedisStore {
    async fn hget(&self, key: &str, field: &str) -> Result<Option<String>> {
        let mut cmd = redis::cmd("HGET");
        cmd.arg(key).arg(field);
        self.command(cmd, "HGET").await
    }

    async fn hset(&self, key: &str, field: &str, value: String) -> Result<()> {
        let mut cmd = redis::cmd("HSET");
        cmd.arg(key).arg(field).arg(value);
        self.command::<i64>(cmd, "HSET").await.map(|_| ())
    }

    async fn hgetall(&self, key: &str) -> Result<Vec<(String, String)>> {
        let mut cmd = redis::cmd("HGETALL");
        cmd.arg(key);
        self.command(cmd, "HGETALL").await
    }
}

#[async_trait]
impl ControlStore for RedisStore {
    async fn ping(&self) -> Result<()> {
        crate::DataStore::ping(self).await
    }

    async fn put_pool(&self, p: &Pool) -> Result<()> {
        let json = json!({
            "uri": p.uri, "weight": p.weight, "flavor": p.flavor, "options": p.options,
        });
        self.hset(POOLS, &p.name, json.to_string()).await
    }

    async fn get_pool(&self, name: &str) -> Result<Option<Pool>> {
        self.hget(POOLS, name)
            .await?
            .map(|json| decode_pool(name.to_owned(), &json))
            .transpose()
    }

    async fn list_pools(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Pool>> {
        page(self.hgetall(POOLS).await?, marker, limit, decode_pool)
    }

    async fn delete_pool(&self, name: &str) -> Result<PoolDeletion> {
        let keys = [POOLS.to_owned(), COUNTS.to_owned()];
        let n: i64 = self.eval(&scripts().delete_pool, &keys, name).await?;
        Ok(match n {
            -1 => PoolDeletion::Missing,
            0 => PoolDeletion::Deleted,
            n => PoolDeletion::InUse(n as u64),
        })
    }

    async fn put_flavor(&self, f: &Flavor) -> Result<()> {
        let json = Value::Object(f.capabilities.clone()).to_string();
        self.hset(FLAVORS, &f.name, json).await
    }

    async fn get_flavor(&self, name: &str) -> Result<Option<Flavor>> {
        self.hget(FLAVORS, name)
            .await?
            .map(|json| decode_flavor(name.to_owned(), &json))
            .transpose()
    }

    async fn list_flavors(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Flavor>> {
        page(self.hgetall(FLAVORS).await?, marker, limit, decode_flavor)
    }

    async fn delete_flavor(&self, name: &str) -> Result<bool> {
        let mut cmd = redis::cmd("HDEL");
        cmd.arg(FLAVORS).arg(name);
        Ok(self.command::<i64>(cmd, "HDEL").await? > 0)
    }

    async fn lookup(&self, queue: &QueueId) -> Result<Option<String>> {
        self.hget(CATALOG, &prefix(queue)).await
    }

    async fn place(&self, queue: &QueueId, pool: &str) -> Result<String> {
        let keys = [CATALOG.to_owned(), POOLS.to_owned(), COUNTS.to_owned()];
        let placed: Option<String> = self
            .eval(&scripts().place, &keys, (prefix(queue), pool, DEFAULT_POOL))
            .await?;
        placed.ok_or_else(|| StorageError::PoolDoesNotExist { name: pool.into() })
    }

    async fn unplace(&self, queue: &QueueId) -> Result<()> {
        let keys = [CATALOG.to_owned(), COUNTS.to_owned()];
        self.eval::<i64>(&scripts().unplace, &keys, prefix(queue))
            .await
            .map(|_| ())
    }
}
