//! The MongoDB backend's queues: create, metadata, listing, stats, purge, delete.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl QueueStore for MongoStore {
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
}
