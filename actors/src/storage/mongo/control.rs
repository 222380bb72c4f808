//! The control store on MongoDB: collections `pools` (`_id` = name, `n` = queues placed in
//! it), `flavors` and `catalogue` (`_id` = queue key, `pool`).
//!
//! No multi-document transaction is needed (nor trusted: wire-compatible servers do not
//! isolate them): the pool document's counter is the lock. Placing a queue first increments
//! the counter of a pool that must exist, and deleting a pool deletes its document only
//! where the counter is zero, so a pool is never deleted under a queue.

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{doc, Document};
use mongodb::Collection;

use super::{int, is_duplicate, parse_object, text, unavailable, MongoStore};
use crate::control::{ControlStore, Flavor, Pool, PoolDeletion, DEFAULT_POOL};
use crate::error::{Result, StorageError};
use crate::model::QueueId;

/// The catalogue's key of a queue (queue names hold no `:`).
fn key(queue: &QueueId) -> String {
    format!("{}:{}", queue.name, queue.project)
}

fn pool(d: &Document) -> Result<Pool> {
    let flavor = text(d, "f");
    Ok(Pool {
        name: text(d, "_id"),
        uri: text(d, "uri"),
        weight: u32::try_from(int(d, "w")).unwrap_or(0),
        // No flavor is stored as "": null filters are unreliable on some servers.
        flavor: Some(flavor).filter(|f| !f.is_empty()),
        options: parse_object(&text(d, "o"))?,
    })
}

fn flavor(d: &Document) -> Result<Flavor> {
    Ok(Flavor {
        name: text(d, "_id"),
        capabilities: parse_object(&text(d, "caps"))?,
    })
}

impl MongoStore {
    fn pools(&self) -> Collection<Document> {
        self.db.collection("pools")
    }

    fn flavors(&self) -> Collection<Document> {
        self.db.collection("flavors")
    }

    fn catalogue(&self) -> Collection<Document> {
        self.db.collection("catalogue")
    }

    async fn page(
        &self,
        coll: Collection<Document>,
        marker: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Document>> {
        let find = coll
            .find(doc! {"_id": {"$gt": marker.unwrap_or("")}})
            .sort(doc! {"_id": 1})
            .limit(i64::from(limit));
        self.traced("find", async { find.await?.try_collect().await })
            .await
            .map_err(unavailable)
    }

    /// Moves a pool's queue counter; `None` when the pool does not exist.
    async fn count_in_pool(&self, name: &str, by: i32) -> Result<Option<Document>> {
        self.traced(
            "findAndModify",
            self.pools()
                .find_one_and_update(doc! {"_id": name}, doc! {"$inc": {"n": by}}),
        )
        .await
        .map_err(unavailable)
    }
}

#[async_trait]
impl ControlStore for MongoStore {
    async fn ping(&self) -> Result<()> {
        crate::DataStore::ping(self).await
    }

    async fn put_pool(&self, p: &Pool) -> Result<()> {
        let fields = doc! {
            "uri": &p.uri,
            "w": i64::from(p.weight),
            "f": p.flavor.clone().unwrap_or_default(),
            "o": serde_json::Value::Object(p.options.clone()).to_string(),
        };
        let mut new = fields.clone();
        new.insert("_id", &p.name);
        new.insert("n", 0i32);
        match self.traced("insert", self.pools().insert_one(new)).await {
            Ok(_) => Ok(()),
            // It exists: keep its counter, replace the rest.
            Err(e) if is_duplicate(&e) => self
                .traced(
                    "update",
                    self.pools()
                        .update_one(doc! {"_id": &p.name}, doc! {"$set": fields}),
                )
                .await
                .map(|_| ())
                .map_err(unavailable),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn get_pool(&self, name: &str) -> Result<Option<Pool>> {
        self.traced("find", self.pools().find_one(doc! {"_id": name}))
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(pool)
            .transpose()
    }

    async fn list_pools(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Pool>> {
        let docs = self.page(self.pools(), marker, limit).await?;
        docs.iter().map(pool).collect()
    }

    async fn delete_pool(&self, name: &str) -> Result<PoolDeletion> {
        let deleted = self
            .traced(
                "delete",
                self.pools().delete_one(doc! {"_id": name, "n": 0}),
            )
            .await
            .map_err(unavailable)?;
        if deleted.deleted_count == 1 {
            return Ok(PoolDeletion::Deleted);
        }
        let found = self
            .traced("find", self.pools().find_one(doc! {"_id": name}))
            .await
            .map_err(unavailable)?;
        Ok(match found {
            None => PoolDeletion::Missing,
            Some(d) => PoolDeletion::InUse(int(&d, "n").max(1) as u64),
        })
    }

    async fn put_flavor(&self, f: &Flavor) -> Result<()> {
        let caps = serde_json::Value::Object(f.capabilities.clone()).to_string();
        self.traced("delete", self.flavors().delete_one(doc! {"_id": &f.name}))
            .await
            .map_err(unavailable)?;
        self.traced(
            "insert",
            self.flavors()
                .insert_one(doc! {"_id": &f.name, "caps": caps}),
        )
        .await
        .map(|_| ())
        .map_err(unavailable)
    }

    async fn get_flavor(&self, name: &str) -> Result<Option<Flavor>> {
        self.traced("find", self.flavors().find_one(doc! {"_id": name}))
            .await
            .map_err(unavailable)?
            .as_ref()
            .map(flavor)
            .transpose()
    }

    async fn list_flavors(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Flavor>> {
        let docs = self.page(self.flavors(), marker, limit).await?;
        docs.iter().map(flavor).collect()
    }

    async fn delete_flavor(&self, name: &str) -> Result<bool> {
        let deleted = self
            .traced("delete", self.flavors().delete_one(doc! {"_id": name}))
            .await
            .map_err(unavailable)?;
        Ok(deleted.deleted_count > 0)
    }

    async fn lookup(&self, queue: &QueueId) -> Result<Option<String>> {
        let found = self
            .traced("find", self.catalogue().find_one(doc! {"_id": key(queue)}))
            .await
            .map_err(unavailable)?;
        Ok(found.map(|d| text(&d, "pool")))
    }

    async fn place(&self, queue: &QueueId, pool: &str) -> Result<String> {
        if let Some(placed) = self.lookup(queue).await? {
            return Ok(placed);
        }
        let counted = pool != DEFAULT_POOL;
        if counted && self.count_in_pool(pool, 1).await?.is_none() {
            return Err(StorageError::PoolDoesNotExist { name: pool.into() });
        }
        let entry = doc! {"_id": key(queue), "pool": pool};
        match self
            .traced("insert", self.catalogue().insert_one(entry))
            .await
        {
            Ok(_) => Ok(pool.to_owned()),
            Err(e) => {
                if counted {
                    self.count_in_pool(pool, -1).await?;
                }
                if !is_duplicate(&e) {
                    return Err(unavailable(e));
                }
                // Placed meanwhile by another server: that placement stands.
                self.lookup(queue)
                    .await?
                    .ok_or_else(|| unavailable("catalogue entry vanished while placing"))
            }
        }
    }

    async fn unplace(&self, queue: &QueueId) -> Result<()> {
        let removed = self
            .traced(
                "findAndModify",
                self.catalogue()
                    .find_one_and_delete(doc! {"_id": key(queue)}),
            )
            .await
            .map_err(unavailable)?;
        if let Some(d) = removed {
            let pool = text(&d, "pool");
            if pool != DEFAULT_POOL {
                self.count_in_pool(&pool, -1).await?;
            }
        }
        Ok(())
    }
}
