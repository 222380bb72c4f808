//! The SQL backend's claims: create, read, renew, release.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl ClaimStore for SqlStore {
    async fn create_claim(
        &self,
        queue: &QueueId,
        ttl: i64,
        grace: i64,
        limit: u32,
    ) -> Result<Option<Claim>> {
        let now = self.clock.now_ms();
        // Time-ordered, as message ids (messages.rs): the claimed rows' entries in the
        // claim_id index go to its end, not to a random page. 74 random bits remain: a
        // claim id is still not to be guessed.
        let id = Uuid::now_v7().to_string();
        let (p, n) = q(queue);
        let sql = claim_statement(self.backend, limit);
        let rows = self
            .write_rows(
                &sql,
                vec![
                    id.as_str().into(),
                    (now + ttl * 1000).into(),
                    ttl.into(),
                    now.into(),
                    // Claimed messages live at least until the claim's grace is over.
                    (now + (ttl + grace) * 1000).into(),
                    p,
                    n,
                ],
            )
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        Ok(Some(Claim {
            id,
            ttl,
            age: 0,
            messages: self.messages(rows, now)?,
        }))
    }

    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let rows = self
            .query(
                &format!(
                    "SELECT {MESSAGE_COLUMNS}, claim_ttl, claim_created FROM messages
                     WHERE claim_id = $1 AND (project = $2 AND queue = $3) IS TRUE
                     AND claim_expires > $4 AND expires > $4 ORDER BY seq"
                ),
                vec![id.into(), p, n, now.into()],
            )
            .await?;
        let first = rows
            .first()
            .ok_or_else(|| StorageError::claim_missing(queue, id))?;
        let ttl: i64 = first.try_get_by_index(8)?;
        let created: i64 = first.try_get_by_index(9)?;
        Ok(Claim {
            id: id.to_owned(),
            ttl,
            age: age(now, created),
            messages: self.messages(rows, now)?,
        })
    }

    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let renewed = self
            .exec(
                &format!(
                    "UPDATE messages SET claim_expires = $1, claim_ttl = $2, claim_created = $3,
                        expires = {}(expires, $4)
                     WHERE claim_id = $5 AND (project = $6 AND queue = $7) IS TRUE
                     AND claim_expires > $3 AND expires > $3",
                    greatest(self.backend)
                ),
                vec![
                    (now + ttl * 1000).into(),
                    ttl.into(),
                    now.into(),
                    (now + (ttl + grace) * 1000).into(),
                    id.into(),
                    p,
                    n,
                ],
            )
            .await?;
        if renewed == 0 {
            return Err(StorageError::claim_missing(queue, id));
        }
        Ok(())
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        let (p, n) = q(queue);
        self.exec(
            "UPDATE messages SET claim_id = NULL, claim_expires = 0
             WHERE claim_id = $1 AND (project = $2 AND queue = $3) IS TRUE",
            vec![id.into(), p, n],
        )
        .await
        .map(|_| ())
    }
}

impl SqlStore {
    /// Whether a claim with this id is live in the queue (some live message holds it).
    pub(super) async fn claim_is_live(&self, queue: &QueueId, id: &str, now: i64) -> Result<bool> {
        let row = self
            .query_one(
                "SELECT 1 FROM messages WHERE claim_id = $1 AND (project = $2 AND queue = $3) IS TRUE
                 AND claim_expires > $4 AND expires > $4 LIMIT 1",
                vec![id.into(), q(queue).0, q(queue).1, now.into()],
            )
            .await?;
        Ok(row.is_some())
    }
}

/// The statement that claims up to `limit` messages of a queue and returns them, with
/// `$1` the claim's id, `$2`-`$5` its expiry, ttl, creation time and the messages' least
/// new expiry, `$6`/`$7` the queue's project and name. Public so that the contract suite
/// checks PostgreSQL's plan of this very text.
pub fn claim_statement(backend: DbBackend, limit: u32) -> String {
    let (with, picked) = picked(backend, ("$6", "$7", "$4"), limit);
    format!(
        "{with}UPDATE messages SET claim_id = $1, claim_expires = $2, claim_ttl = $3,
            claim_created = $4, claim_count = claim_count + 1,
            expires = {greatest}(expires, $5)
         WHERE project = $6 AND queue = $7 AND {picked} AND claim_expires <= $4
         RETURNING {MESSAGE_COLUMNS}",
        greatest = greatest(backend),
    )
}
