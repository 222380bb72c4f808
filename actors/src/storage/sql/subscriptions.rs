//! The SQL backend's subscriptions: create, list, read, update, confirm, delete.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl SubscriptionStore for SqlStore {
    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        // An expired subscription of the same subscriber gives way to the new one.
        self.exec(
            "DELETE FROM subscriptions
             WHERE project = $1 AND queue = $2 AND subscriber = $3 AND expires <= $4",
            vec![p, n, subscriber.into(), now.into()],
        )
        .await?;
        let id = Uuid::new_v4().to_string();
        let (p, n) = q(queue);
        self.exec(
            "INSERT INTO subscriptions
                (id, project, queue, subscriber, ttl, options, created, expires, confirmed)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)
             ON CONFLICT (project, queue, subscriber) DO NOTHING",
            vec![
                id.as_str().into(),
                p,
                n,
                subscriber.into(),
                ttl.into(),
                to_json(&options).into(),
                now.into(),
                (now + ttl * 1000).into(),
            ],
        )
        .await?;
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT id FROM subscriptions WHERE project = $1 AND queue = $2 AND subscriber = $3",
                vec![p, n, subscriber.into()],
            )
            .await?
            .ok_or_else(|| StorageError::unavailable("subscription vanished while created"))?;
        Ok(row.try_get_by_index(0)?)
    }

    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let rows = self
            .query(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                     WHERE project = $1 AND queue = $2 AND expires > $3 AND id > $4
                     ORDER BY id LIMIT {limit}"
                ),
                vec![p, n, now.into(), marker.unwrap_or_default().into()],
            )
            .await?;
        rows.iter().map(|r| self.subscription(r, now)).collect()
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let row = self
            .query_one(
                &format!(
                    "SELECT {SUBSCRIPTION_COLUMNS} FROM subscriptions
                     WHERE id = $1 AND project = $2 AND queue = $3 AND expires > $4"
                ),
                vec![id.into(), p, n, now.into()],
            )
            .await?
            .ok_or_else(|| StorageError::subscription_missing(queue, id))?;
        self.subscription(&row, now)
    }

    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let new_subscriber = update.subscriber.clone();
        if let Some(s) = &new_subscriber {
            // An expired subscription still holding the subscriber gives way, as on create.
            let (p, n) = q(queue);
            self.exec(
                "DELETE FROM subscriptions
                 WHERE project = $1 AND queue = $2 AND subscriber = $3 AND expires <= $4 AND id <> $5",
                vec![p, n, s.as_str().into(), now.into(), id.into()],
            )
            .await?;
        }
        let (p, n) = q(queue);
        let mut values: Vec<Value> = vec![id.into(), p, n, now.into()];
        let mut sets = Vec::new();
        let mut unique = String::new();
        if let Some(s) = update.subscriber {
            values.push(s.into());
            sets.push(format!("subscriber = ${}", values.len()));
            unique = format!(
                " AND NOT EXISTS (SELECT 1 FROM subscriptions o WHERE o.project = $2 AND o.queue = $3
                   AND o.subscriber = ${} AND o.id <> $1)",
                values.len()
            );
        }
        if let Some(ttl) = update.ttl {
            values.push(ttl.into());
            sets.push(format!("ttl = ${}", values.len()));
            values.push((now + ttl * 1000).into());
            sets.push(format!("expires = ${}", values.len()));
        }
        if let Some(o) = update.options {
            values.push(to_json(&o).into());
            sets.push(format!("options = ${}", values.len()));
        }
        if sets.is_empty() {
            // Nothing to change: still answer whether it exists.
            return self.get_subscription(queue, id).await.map(|_| ());
        }
        let sql = format!(
            "UPDATE subscriptions SET {} WHERE id = $1 AND project = $2 AND queue = $3 AND expires > $4{unique}",
            sets.join(", ")
        );
        let done = self.exec(&sql, values).await;
        // Nothing updated, or a concurrent update took the subscriber first (the unique
        // index refused ours): a live holder of the subscriber is a conflict.
        if !matches!(done, Ok(n) if n > 0) {
            if let Some(s) = &new_subscriber {
                if self.subscriber_holder(queue, s, id, now).await? {
                    return Err(StorageError::SubscriptionAlreadyExists);
                }
            }
        }
        match done? {
            0 => Err(StorageError::subscription_missing(queue, id)),
            _ => Ok(()),
        }
    }

    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let updated = self
            .exec(
                "UPDATE subscriptions SET confirmed = $1
                 WHERE id = $2 AND project = $3 AND queue = $4 AND expires > $5",
                vec![i64::from(confirmed).into(), id.into(), p, n, now.into()],
            )
            .await?;
        if updated == 0 {
            return Err(StorageError::subscription_missing(queue, id));
        }
        Ok(())
    }

    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()> {
        let (p, n) = q(queue);
        self.exec(
            "DELETE FROM subscriptions WHERE id = $1 AND project = $2 AND queue = $3",
            vec![id.into(), p, n],
        )
        .await
        .map(|_| ())
    }
}

impl SqlStore {
    /// Whether a live subscription of the queue other than `id` has this subscriber.
    async fn subscriber_holder(
        &self,
        queue: &QueueId,
        subscriber: &str,
        id: &str,
        now: i64,
    ) -> Result<bool> {
        let (p, n) = q(queue);
        Ok(self
            .query_one(
                "SELECT id FROM subscriptions
                 WHERE project = $1 AND queue = $2 AND subscriber = $3 AND id <> $4 AND expires > $5",
                vec![p, n, subscriber.into(), id.into(), now.into()],
            )
            .await?
            .is_some())
    }
}
