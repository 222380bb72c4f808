//! The Redis backend's queues: create, metadata, listing, stats, purge, delete.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl QueueStore for RedisStore {
    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool> {
        let keys = [prefix(queue), queues_key(&queue.project)];
        let args = (
            self.clock.now_ms(),
            &queue.name,
            serde_json::Value::Object(metadata).to_string(),
        );
        let created: i64 = self.eval(&scripts().create_queue, &keys, args).await?;
        Ok(created == 1)
    }

    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}:meta", prefix(queue)));
        let text: Option<String> = self.command(cmd, "GET").await?;
        text.map(|t| parse_object(&t)).transpose()
    }

    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}:meta", prefix(queue)))
            .arg(serde_json::Value::Object(metadata).to_string())
            .arg("XX");
        let set: Option<String> = self.command(cmd, "SET").await?;
        match set {
            Some(_) => Ok(()),
            None => Err(StorageError::queue_missing(queue)),
        }
    }

    async fn delete_queue(&self, queue: &QueueId) -> Result<()> {
        let keys = [prefix(queue), queues_key(&queue.project)];
        let args = (self.clock.now_ms(), &queue.name);
        let _: String = self.eval(&scripts().delete_queue, &keys, args).await?;
        Ok(())
    }

    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let mut cmd = redis::cmd("ZRANGEBYLEX");
        let from = marker.map_or_else(|| "-".to_owned(), |m| format!("({m}"));
        cmd.arg(queues_key(project))
            .arg(from)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        let names: Vec<String> = self.command(cmd, "ZRANGEBYLEX").await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        for name in &names {
            get.arg(format!(
                "{}:meta",
                prefix(&QueueId::new(project, name.as_str()))
            ));
        }
        let metas: Vec<Option<String>> = self.command(get, "MGET").await?;
        names
            .into_iter()
            .zip(metas)
            .map(|(name, meta)| {
                Ok(QueueEntry {
                    name,
                    metadata: meta
                        .map(|m| parse_object(&m))
                        .transpose()?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats> {
        let now = self.clock.now_ms();
        let json: String = self.eval(&scripts().stats, &[prefix(queue)], now).await?;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Edge {
            Row(Row),
            None(serde::de::IgnoredAny),
        }
        let (total, claimed, first, last): (i64, i64, Edge, Edge) = serde_json::from_str(&json)
            .map_err(|e| StorageError::unavailable_in("redis: stats answer", e))?;
        let edge = |e: Edge| -> Result<Option<Message>> {
            match e {
                Edge::Row(r) => Ok(Some(self.message(r, now)?)),
                Edge::None(_) => Ok(None),
            }
        };
        Ok(QueueStats {
            total,
            claimed,
            free: total - claimed,
            oldest: edge(first)?,
            newest: edge(last)?,
        })
    }

    async fn purge_queue(
        &self,
        queue: &QueueId,
        messages: bool,
        subscriptions: bool,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        if messages {
            // Each call removes a bounded number; a concurrent producer cannot keep this
            // going for ever, since what it posts after the purge began may stay.
            let before: i64 = {
                let mut cmd = redis::cmd("ZCARD");
                cmd.arg(format!("{}:ids", prefix(queue)));
                self.command(cmd, "ZCARD").await?
            };
            for _ in 0..=before / PURGE_BUDGET + 1 {
                let removed: i64 = self.eval(&scripts().purge, &[prefix(queue)], now).await?;
                if removed < PURGE_BUDGET {
                    break;
                }
            }
        }
        if subscriptions {
            for sub in self.list_subscriptions(queue, None, u32::MAX).await? {
                self.delete_subscription(queue, &sub.id).await?;
            }
        }
        Ok(())
    }
}
