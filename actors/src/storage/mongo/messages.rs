//! The MongoDB backend's messages: post, list, read, delete, pop.

use super::*;
use crate::storage::prelude::*;

#[async_trait]
impl MessageStore for MongoStore {
    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>> {
        let metadata = self.queue_metadata(queue).await?;
        let settings = self.defaults.settings(metadata.as_ref());
        check_post_size(&settings, size)?;
        if metadata.is_none() {
            if !create {
                return Err(StorageError::queue_missing(queue));
            }
            self.create_queue(queue, Metadata::new()).await?;
        }
        // Reserve a block of sequence numbers for the batch, atomically.
        let key = format!("{}:{}:{}", queue.name, queue.project.len(), queue.project);
        let counter = self
            .traced(
                "findAndModify",
                self.counters
                    .find_one_and_update(
                        doc! {"_id": &key},
                        doc! {"$inc": {"s": messages.len() as i64}},
                    )
                    .upsert(true)
                    .return_document(ReturnDocument::After),
            )
            .await
            .map_err(unavailable)?
            .ok_or_else(|| unavailable("sequence counter missing after upsert"))?;
        let last = int(&counter, "s");
        let first = last - messages.len() as i64 + 1;
        let now = self.clock.now_ms();
        let mut ids = Vec::with_capacity(messages.len());
        let docs: Vec<Document> = messages
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let id = Uuid::new_v4().to_string();
                let ttl = m.ttl.unwrap_or(settings.default_message_ttl);
                let delay = m.delay.unwrap_or(settings.default_message_delay);
                let expires = now + ttl * 1000;
                ids.push(id.clone());
                doc! {
                    "_id": id, "p": &queue.project, "q": &queue.name, "s": first + i as i64,
                    "b": m.body.get(), "t": ttl, "c": now, "e": expires,
                    "x": DateTime::from_millis(expires), "v": now + delay * 1000,
                    "cl": client_id, "ci": "", "ce": 0_i64, "ct": 0_i64, "cc": 0_i64, "n": 0_i64,
                }
            })
            .collect();
        self.traced("insert", self.messages.insert_many(docs))
            .await
            .map_err(unavailable)?;
        // Without transactions, a queue deleted between the check above and the insert
        // would keep these messages: checked again, and taken back if it went.
        if !create && self.queue_metadata(queue).await?.is_none() {
            self.traced(
                "delete",
                self.messages.delete_many(doc! {"_id": {"$in": &ids}}),
            )
            .await
            .map_err(unavailable)?;
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
        let after = match marker {
            Some(MessageMarker::After(seq)) => seq,
            Some(MessageMarker::Id(m)) => self
                .traced(
                    "find",
                    self.messages
                        .find_one(doc! {"_id": m, "p": &queue.project, "q": &queue.name}),
                )
                .await
                .map_err(unavailable)?
                .map_or(0, |d| int(&d, "s")),
            None => 0,
        };
        let mut f = queue_filter(queue);
        f.insert("e", doc! {"$gt": now});
        f.insert("s", doc! {"$gt": after});
        if !filter.echo {
            f.insert("cl", doc! {"$ne": filter.client_id});
        }
        if !filter.include_claimed {
            f.insert("ce", doc! {"$lte": now});
        }
        if !filter.include_delayed {
            f.insert("v", doc! {"$lte": now});
        }
        self.find_messages(f, Some(i64::from(limit)), now).await
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let mut f = queue_filter(queue);
        f.insert("_id", doc! {"$in": ids});
        f.insert("e", doc! {"$gt": now});
        self.find_messages(f, None, now).await
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let mut guard = doc! {"_id": id, "p": &queue.project, "q": &queue.name};
        match claim_id {
            None => guard.insert("ce", doc! {"$lte": now}),
            Some(c) => {
                guard.insert("ci", c);
                guard.insert("ce", doc! {"$gt": now})
            }
        };
        let deleted = self
            .traced("delete", self.messages.delete_one(guard))
            .await
            .map_err(unavailable)?
            .deleted_count;
        if deleted == 1 {
            return Ok(());
        }
        let found = self
            .traced(
                "find",
                self.messages.find_one(
                    doc! {"_id": id, "p": &queue.project, "q": &queue.name, "e": {"$gt": now}},
                ),
            )
            .await
            .map_err(unavailable)?;
        let held = found.map(|d| !text(&d, "ci").is_empty() && int(&d, "ce") > now);
        match Undeleted::of(claim_id, held) {
            Undeleted::Gone => Ok(()),
            Undeleted::Free => Box::pin(self.delete_message(queue, id, None)).await,
            Undeleted::HeldByAnother => {
                let live = self
                    .traced(
                        "find",
                        self.messages.find_one(doc! {
                            "ci": claim_id, "p": &queue.project, "q": &queue.name,
                            "ce": {"$gt": now}, "e": {"$gt": now},
                        }),
                    )
                    .await
                    .map_err(unavailable)?;
                Err(Undeleted::HeldByAnother.error(id, claim_id, live.is_some()))
            }
            refused => Err(refused.error(id, claim_id, false)),
        }
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        let mut f = queue_filter(queue);
        f.insert("_id", doc! {"$in": ids});
        self.traced("delete", self.messages.delete_many(f))
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let mut out = Vec::new();
        for _ in 0..limit {
            let mut f = queue_filter(queue);
            f.insert("e", doc! {"$gt": now});
            f.insert("ce", doc! {"$lte": now});
            f.insert("v", doc! {"$lte": now});
            let taken = self
                .traced(
                    "findAndModify",
                    self.messages.find_one_and_delete(f).sort(doc! {"s": 1}),
                )
                .await
                .map_err(unavailable)?;
            match taken {
                Some(d) => out.push(self.message(&d, now)?),
                None => break,
            }
        }
        Ok(out)
    }
}
