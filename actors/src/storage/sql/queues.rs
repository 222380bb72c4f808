//! The SQL backend's queues: create, metadata, listing, stats, purge, delete.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl QueueStore for SqlStore {
    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool> {
        let (p, n) = q(queue);
        let created = self
            .exec(
                "INSERT INTO queues (project, name, metadata, created) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (project, name) DO NOTHING",
                vec![p, n, to_json(&metadata).into(), self.clock.now_ms().into()],
            )
            .await?;
        self.forget_settings(queue);
        Ok(created == 1)
    }

    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>> {
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT metadata FROM queues WHERE project = $1 AND name = $2",
                vec![p, n],
            )
            .await?;
        match row {
            Some(r) => Ok(Some(parse_object(&r.try_get_by_index::<String>(0)?)?)),
            None => Ok(None),
        }
    }

    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()> {
        let (p, n) = q(queue);
        let updated = self
            .exec(
                "UPDATE queues SET metadata = $1 WHERE project = $2 AND name = $3",
                vec![to_json(&metadata).into(), p, n],
            )
            .await?;
        self.forget_settings(queue);
        if updated == 0 {
            return Err(StorageError::queue_missing(queue));
        }
        Ok(())
    }

    async fn delete_queue(&self, queue: &QueueId) -> Result<()> {
        // The queue's row first: on PostgreSQL its lock waits for a post that found the
        // queue (it holds the row `FOR KEY SHARE`), whose messages the next delete then sees.
        let stmts = [
            "DELETE FROM queues WHERE project = $1 AND name = $2",
            "DELETE FROM messages WHERE project = $1 AND queue = $2",
            "DELETE FROM subscriptions WHERE project = $1 AND queue = $2",
        ]
        .map(|sql| {
            let (p, n) = q(queue);
            (sql, vec![p, n])
        });
        self.transaction(stmts.into()).await?;
        self.forget_settings(queue);
        Ok(())
    }

    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let rows = self
            .query(
                &format!(
                    "SELECT name, metadata FROM queues WHERE project = $1 AND name > $2
                     ORDER BY name LIMIT {limit}"
                ),
                vec![project.into(), marker.unwrap_or_default().into()],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(QueueEntry {
                    name: r.try_get_by_index(0)?,
                    metadata: parse_object(&r.try_get_by_index::<String>(1)?)?,
                })
            })
            .collect()
    }

    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let counts = self
            .query_one(
                "SELECT COUNT(*), COUNT(CASE WHEN claim_expires > $3 THEN 1 END) FROM messages
                 WHERE project = $1 AND queue = $2 AND expires + 0 > $3",
                vec![p, n, now.into()],
            )
            .await?;
        let (total, claimed): (i64, i64) = match counts {
            Some(r) => (r.try_get_by_index(0)?, r.try_get_by_index(1)?),
            None => (0, 0),
        };
        let mut stats = QueueStats {
            claimed,
            free: total - claimed,
            total,
            ..QueueStats::default()
        };
        if total > 0 {
            for (order, slot) in [("ASC", &mut stats.oldest), ("DESC", &mut stats.newest)] {
                let (p, n) = q(queue);
                let row = self
                    .query_one(
                        &format!(
                            "SELECT {MESSAGE_COLUMNS} FROM messages
                             WHERE project = $1 AND queue = $2 AND expires + 0 > $3
                             ORDER BY seq {order} LIMIT 1"
                        ),
                        vec![p, n, now.into()],
                    )
                    .await?;
                *slot = row.map(|r| self.message(&r, now)).transpose()?;
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
            let (p, n) = q(queue);
            self.exec(
                "DELETE FROM messages WHERE project = $1 AND queue = $2 AND claim_expires <= $3",
                vec![p, n, now.into()],
            )
            .await?;
        }
        if subscriptions {
            let (p, n) = q(queue);
            self.exec(
                "DELETE FROM subscriptions WHERE project = $1 AND queue = $2",
                vec![p, n],
            )
            .await?;
        }
        Ok(())
    }
}
