//! The Redis backend's claims: create, read, renew, release.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl ClaimStore for RedisStore {
    async fn create_claim(
        &self,
        queue: &QueueId,
        ttl: i64,
        grace: i64,
        limit: u32,
    ) -> Result<Option<Claim>> {
        let now = self.clock.now_ms();
        let id = Uuid::new_v4().to_string();
        let args = (now, &id, ttl, grace, limit);
        let json: String = self.eval(&scripts().claim, &[prefix(queue)], args).await?;
        let messages = self.messages(&json, now)?;
        Ok((!messages.is_empty()).then_some(Claim {
            id,
            ttl,
            age: 0,
            messages,
        }))
    }

    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().get_claim, &[prefix(queue)], (now, id))
            .await?;
        let rows = rows::<Row>(&json)?;
        let (ttl, created) = rows
            .first()
            .map(|r| (r.7, r.8))
            .ok_or_else(|| StorageError::claim_missing(queue, id))?;
        Ok(Claim {
            id: id.to_owned(),
            ttl,
            age: age(now, created),
            messages: self.messages(&json, now)?,
        })
    }

    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()> {
        let now = self.clock.now_ms();
        let renewed: i64 = self
            .eval(&scripts().renew, &[prefix(queue)], (now, id, ttl, grace))
            .await?;
        if renewed == 0 {
            return Err(StorageError::claim_missing(queue, id));
        }
        Ok(())
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval(&scripts().release, &[prefix(queue)], (now, id))
            .await?;
        Ok(())
    }
}
