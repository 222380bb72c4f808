//! The Redis backend's messages: post, list, read, delete, pop.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl MessageStore for RedisStore {
    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>> {
        let mut args: Vec<String> = Vec::with_capacity(4 + messages.len() * 4);
        args.extend([
            size.to_string(),
            client_id.to_owned(),
            if create { "1" } else { "0" }.to_owned(),
            messages.len().to_string(),
        ]);
        let mut ids = Vec::with_capacity(messages.len());
        for m in messages.iter() {
            let id = Uuid::new_v4().to_string();
            args.push(id.clone());
            args.push(m.body.get().to_owned());
            args.push(m.ttl.map(|t| t.to_string()).unwrap_or_default());
            args.push(m.delay.map(|d| d.to_string()).unwrap_or_default());
            ids.push(id);
        }
        let post = gathered::Post {
            queue: queue.clone(),
            args,
        };
        let posted = self.gathered(&self.posts, &scripts().post, post).await?;
        match posted {
            gathered::Posted::Stored => Ok(ids),
            gathered::Posted::TooLarge { max } => Err(StorageError::PostTooLarge { max }),
            gathered::Posted::QueueMissing => Err(StorageError::queue_missing(queue)),
        }
    }

    async fn list_messages(
        &self,
        queue: &QueueId,
        filter: ListFilter,
        marker: Option<MessageMarker>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let flag = |b: bool| if b { "1" } else { "0" };
        let (marker, kind) = match marker {
            None => (String::new(), "id"),
            Some(MessageMarker::After(seq)) => (seq.to_string(), "seq"),
            Some(MessageMarker::Id(id)) => (id, "id"),
        };
        let args = (
            now,
            marker,
            limit,
            flag(filter.echo),
            flag(filter.include_claimed),
            flag(filter.include_delayed),
            filter.client_id,
            kind,
        );
        let json: String = self.eval(&scripts().list, &[prefix(queue)], args).await?;
        self.messages(&json, now)
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().get, &[prefix(queue)], (now, ids))
            .await?;
        self.messages(&json, now)
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let delete = gathered::Delete {
            queue: queue.clone(),
            id: id.to_owned(),
            claim: claim_id.unwrap_or("").to_owned(),
        };
        let status = self
            .gathered(&self.deletes, &scripts().delete, delete)
            .await?;
        let refused = match status.as_str() {
            "ok" => return Ok(()),
            "claimed" => Undeleted::Claimed,
            "not_claimed" => Undeleted::NotHeld,
            _ => Undeleted::HeldByAnother,
        };
        Err(refused.error(id, claim_id, status == "not_claimed_by"))
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval(&scripts().delete_many, &[prefix(queue)], (now, ids))
            .await?;
        Ok(())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().pop, &[prefix(queue)], (now, limit))
            .await?;
        self.messages(&json, now)
    }
}
