//! The MongoDB backend's subscriptions: create, list, read, update, confirm, delete.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl SubscriptionStore for MongoStore {
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
        if let Some(s) = &update.subscriber {
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
        let Some(subscriber) = update.subscriber else {
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
}
