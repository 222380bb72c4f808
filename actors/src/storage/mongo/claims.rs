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
        let mut free = queue_filter(queue);
        free.insert("e", doc! {"$gt": now});
        free.insert("ce", doc! {"$lte": now});
        free.insert("v", doc! {"$lte": now});
        let update = doc! {
            "$set": {"ci": &id, "ce": now + ttl * 1000, "ct": ttl, "cc": now},
            "$inc": {"n": 1_i64},
            // Claimed messages outlive the claim by its grace.
            "$max": {"e": keep, "x": DateTime::from_millis(keep)},
        };
        // Uncontended, three round trips whatever the limit: the oldest free ids, one
        // update of those still free, and a read of what it took. The update repeats the
        // free conditions, so a message another claim took in between is not taken twice
        // (this claim then holds fewer, as in Zaqar).
        let find = self
            .messages
            .find(free.clone())
            .sort(doc! {"s": 1})
            .limit(i64::from(limit))
            .projection(doc! {"_id": 1});
        let candidates: Vec<Document> = self
            .traced("find", async { find.await?.try_collect().await })
            .await
            .map_err(unavailable)?;
        if candidates.is_empty() {
            return Ok(None);
        }
        let ids: Vec<Bson> = candidates
            .iter()
            .filter_map(|d| d.get("_id").cloned())
            .collect();
        let mut take = free.clone();
        take.insert("_id", doc! {"$in": ids});
        let taken = self
            .traced("update", self.messages.update_many(take, update.clone()))
            .await
            .map_err(unavailable)?;
        let mut messages = Vec::new();
        if taken.modified_count > 0 {
            let mut held = queue_filter(queue);
            held.insert("ci", &id);
            let find = self.messages.find(held).sort(doc! {"s": 1});
            let docs: Vec<Document> = self
                .traced("find", async { find.await?.try_collect().await })
                .await
                .map_err(unavailable)?;
            for d in &docs {
                messages.push(self.message(d, now)?);
            }
        } else {
            // Contended: other claims took every candidate. Looking again would race them
            // again; instead take one message per round trip, each findAndModify taking the
            // oldest free one atomically, so every try makes progress.
            for _ in 0..limit {
                let one = self
                    .messages
                    .find_one_and_update(free.clone(), update.clone())
                    .sort(doc! {"s": 1})
                    .return_document(ReturnDocument::After);
                match self
                    .traced("findAndModify", one)
                    .await
                    .map_err(unavailable)?
                {
                    Some(d) => messages.push(self.message(&d, now)?),
                    None => break,
                }
            }
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
