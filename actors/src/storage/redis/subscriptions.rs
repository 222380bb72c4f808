//! The Redis backend's subscriptions: create, list, read, update, confirm, delete.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl SubscriptionStore for RedisStore {
    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String> {
        let now = self.clock.now_ms();
        let args = (
            now,
            subscriber,
            ttl,
            serde_json::Value::Object(options).to_string(),
            Uuid::new_v4().to_string(),
        );
        self.eval(&scripts().sub_create, &[prefix(queue)], args)
            .await
    }

    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>> {
        let now = self.clock.now_ms();
        let args = (now, marker.unwrap_or_default(), limit);
        let json: String = self
            .eval(&scripts().sub_list, &[prefix(queue)], args)
            .await?;
        rows::<SubRow>(&json)?
            .into_iter()
            .map(|r| self.subscription(r, queue, now))
            .collect()
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().sub_get, &[prefix(queue)], (now, id))
            .await?;
        rows::<SubRow>(&json)?
            .into_iter()
            .next()
            .map(|r| self.subscription(r, queue, now))
            .transpose()?
            .ok_or_else(|| StorageError::subscription_missing(queue, id))
    }

    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()> {
        self.change_subscription(queue, id, update, None).await
    }

    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()> {
        self.change_subscription(queue, id, SubscriptionUpdate::default(), Some(confirmed))
            .await
    }

    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval(&scripts().sub_delete, &[prefix(queue)], (now, id))
            .await?;
        Ok(())
    }
}
