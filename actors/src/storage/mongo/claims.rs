//! The MongoDB backend's claims: create, read, renew, release.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl ClaimStore for MongoStore {
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
            age: age(now, int(first, "cc")),
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
}
