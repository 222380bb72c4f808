//! The SQL backend's messages: post, list, read, delete, pop.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl MessageStore for SqlStore {
    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>> {
        let known = self.queue_settings(queue).await?;
        let settings = known.unwrap_or_else(|| self.defaults.settings(None));
        check_post_size(&settings, size)?;
        let now = self.clock.now_ms();
        if known.is_none() && create {
            self.create_queue(queue, Metadata::new()).await?;
        }
        let columns = gather::POST_FIELDS;
        let mut ids = Vec::with_capacity(messages.len());
        let mut statements = Vec::with_capacity(messages.len().div_ceil(POST_CHUNK));
        let mut messages = messages.iter().peekable();
        while messages.peek().is_some() {
            let mut values: Vec<Value> = Vec::with_capacity(POST_CHUNK * POST_COLUMNS);
            for m in messages.by_ref().take(POST_CHUNK) {
                // Time-ordered (v7, 74 random bits): new ids land at the end of the unique
                // index instead of on a random page of it, which under load was one more
                // page written to the WAL per message (BENCHMARKS.md "Writes").
                let id = Uuid::now_v7().to_string();
                let ttl = m.ttl.unwrap_or(settings.default_message_ttl);
                let delay = m.delay.unwrap_or(settings.default_message_delay);
                values.extend([
                    Value::from(id.as_str()),
                    queue.project.as_str().into(),
                    queue.name.as_str().into(),
                    client_id.into(),
                    m.body.get().into(),
                    ttl.into(),
                    now.into(),
                    (now + ttl * 1000).into(),
                    (now + delay * 1000).into(),
                ]);
                ids.push(id);
            }
            let rows = tuples(values.len() / POST_COLUMNS, POST_COLUMNS);
            let sql = if create {
                format!("INSERT INTO messages ({columns}) VALUES {rows}")
            } else {
                // The queue must exist when the rows go in: checked in the same statement,
                // not from the settings cache, which another process's deletion does not
                // reach. PostgreSQL's check locks the row against a concurrent delete until
                // this commits (SQLite runs one writer at a time).
                let at = values.len();
                let (p, n) = q(queue);
                values.extend([p, n]);
                let lock = match self.backend {
                    DbBackend::Postgres => " FOR KEY SHARE",
                    _ => "",
                };
                format!(
                    "INSERT INTO messages ({columns}) SELECT * FROM (VALUES {rows}) AS v
                     WHERE EXISTS (SELECT 1 FROM queues WHERE project = ${} AND name = ${}{lock})",
                    at + 1,
                    at + 2
                )
            };
            statements.push((sql, values));
        }
        let inserted = if let [(sql, values)] = &mut statements[..] {
            match &self.posts {
                // A plain INSERT (the queue exists or was just made): with other requests'.
                Some(lane) if create => {
                    let mut values = std::mem::take(values);
                    values.iter_mut().for_each(without_nul);
                    self.gathered(lane, sql, values).await?
                }
                _ => self.exec(sql, std::mem::take(values)).await?,
            }
        } else {
            // A batch larger than one statement may bind is still atomic: one transaction.
            let stmts = statements
                .iter_mut()
                .map(|(sql, values)| (sql.as_str(), std::mem::take(values)))
                .collect();
            self.transaction(stmts).await?.iter().sum()
        };
        if !create && inserted == 0 {
            self.forget_settings(queue);
            return Err(StorageError::queue_missing(queue));
        }
        Ok(ids)
    }

    async fn list_messages(
        &self,
        queue: &QueueId,
        filter: ListFilter,
        marker: Option<MessageMarker>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let (after, values_marker) = match marker {
            None => ("$4", Value::from(0i64)),
            Some(MessageMarker::After(seq)) => ("$4", Value::from(seq)),
            Some(MessageMarker::Id(id)) => (
                "COALESCE((SELECT seq FROM messages WHERE id = $4 AND project = $1 AND queue = $2), 0)",
                Value::from(id),
            ),
        };
        let mut sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE project = $1 AND queue = $2 AND expires + 0 > $3 AND seq > {after}"
        );
        let mut values = vec![p, n, now.into(), values_marker];
        if !filter.echo {
            values.push(filter.client_id.into());
            sql.push_str(&format!(" AND client_id <> ${}", values.len()));
        }
        if !filter.include_claimed {
            sql.push_str(" AND claim_expires <= $3");
        }
        if !filter.include_delayed {
            sql.push_str(" AND visible_at <= $3");
        }
        sql.push_str(&format!(" ORDER BY seq LIMIT {limit}"));
        let rows = self.query(&sql, values).await?;
        self.messages(rows, now)
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let sql = format!(
            "SELECT {MESSAGE_COLUMNS} FROM messages
             WHERE (project = $1 AND queue = $2) IS TRUE AND expires > $3 AND id IN ({})
             ORDER BY seq",
            placeholders(4, ids.len())
        );
        let mut values = vec![p, n, now.into()];
        values.extend(ids.into_iter().map(Value::from));
        let rows = self.query(&sql, values).await?;
        self.messages(rows, now)
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        // Fast path, one statement: an unclaimed message without a claim id, or a message
        // held by the live claim named.
        let guard = match claim_id {
            None => "claim_expires <= $4",
            Some(_) => "claim_id = $5 AND claim_expires > $4",
        };
        let sql = format!(
            "DELETE FROM messages
             WHERE id = $1 AND (project = $2 AND queue = $3) IS TRUE AND {guard}"
        );
        let deleted = match &self.deletes {
            // With other requests' deletes, in one statement.
            Some(lane) => {
                let delete = gather::Delete {
                    id: nul_free(id),
                    project: nul_free(&queue.project),
                    queue: nul_free(&queue.name),
                    claim: claim_id.map(nul_free),
                    now,
                };
                self.gathered(lane, &sql, delete).await?
            }
            None => {
                let (p, n) = q(queue);
                let mut values = vec![id.into(), p, n, now.into()];
                values.extend(claim_id.map(Value::from));
                self.exec(&sql, values).await? == 1
            }
        };
        if deleted {
            return Ok(());
        }
        // Nothing deleted: find out why.
        let (p, n) = q(queue);
        let row = self
            .query_one(
                "SELECT claim_id, claim_expires FROM messages
                 WHERE id = $1 AND (project = $2 AND queue = $3) IS TRUE AND expires > $4",
                vec![id.into(), p, n, now.into()],
            )
            .await?;
        let held = match row {
            None => None,
            Some(row) => {
                let holder: Option<String> = row.try_get_by_index(0)?;
                let claim_expires: i64 = row.try_get_by_index(1)?;
                Some(holder.is_some() && claim_expires > now)
            }
        };
        match Undeleted::of(claim_id, held) {
            Undeleted::Gone => Ok(()),
            Undeleted::Free => Box::pin(self.delete_message(queue, id, None)).await,
            Undeleted::HeldByAnother => {
                let live = self.claim_is_live(queue, claim_id.unwrap_or_default(), now);
                Err(Undeleted::HeldByAnother.error(id, claim_id, live.await?))
            }
            refused => Err(refused.error(id, claim_id, false)),
        }
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let (p, n) = q(queue);
        let sql = format!(
            "DELETE FROM messages WHERE (project = $1 AND queue = $2) IS TRUE AND id IN ({})",
            placeholders(3, ids.len())
        );
        let mut values = vec![p, n];
        values.extend(ids.into_iter().map(Value::from));
        self.exec(&sql, values).await.map(|_| ())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let (p, n) = q(queue);
        let sql = pop_statement(self.backend, limit);
        let rows = self.write_rows(&sql, vec![p, n, now.into()]).await?;
        self.messages(rows, now)
    }
}

/// The statement that deletes up to `limit` free messages of a queue and returns them, with
/// `$1`/`$2` the queue's project and name and `$3` the time. Public so that the contract
/// suite checks PostgreSQL's plan of this very text.
pub fn pop_statement(backend: DbBackend, limit: u32) -> String {
    let (with, picked) = picked(backend, ("$1", "$2", "$3"), limit);
    format!(
        "{with}DELETE FROM messages WHERE project = $1 AND queue = $2 AND {picked}
         AND claim_expires <= $3
         RETURNING {MESSAGE_COLUMNS}"
    )
}
