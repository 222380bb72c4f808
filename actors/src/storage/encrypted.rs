//! Encryption at rest: [`Encrypting`] wraps every message store and keeps the bodies of
//! queues with `_enable_encrypt_messages` out of the backend in clear.
//!
//! A body is sealed with AES-256-GCM under the newest key of the [`Keyring`], with a fresh
//! random nonce, and bound to its queue (the project and queue name are the associated
//! data, so a ciphertext copied into another queue does not open). It is stored as a JSON
//! string, `"zaqar:enc:<key id>:<base64 of nonce and ciphertext>"`, so every backend keeps
//! it as any other body; older keys stay in the ring to open what they sealed. A body that
//! does not open (tampered, or sealed under a key no longer configured) is a 503 with a log
//! line naming the message, never garbage handed to a client.
//!
//! The stored text of a client's own body could start the same way: any body whose text
//! starts with `"zaqar:` is escaped on the way in (`"zaqar:raw:` put in front) and
//! unescaped on the way out, in every queue, so what is read back is always what was
//! posted and no client can forge a sealed body.

mod keyring;

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::value::RawValue;

use crate::error::{Result, StorageError};
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueEntry, QueueId,
    QueueStats, Subscription, SubscriptionUpdate, ENCRYPT_MESSAGES,
};
use crate::storage::prelude::*;

pub use keyring::Keyring;
use keyring::{ESCAPED, RESERVED, SEALED};

/// Wraps a message store: seals on the way in where the queue asks for it, escapes
/// reserved-looking bodies, and opens or unescapes on the way out.
pub struct Encrypting {
    inner: Arc<dyn DataStore>,
    keys: Arc<Keyring>,
}

impl Encrypting {
    pub fn new(inner: Arc<dyn DataStore>, keys: Arc<Keyring>) -> Self {
        Self { inner, keys }
    }

    /// Whether new messages of the queue are to be sealed. Read for every post (when the
    /// server has keys at all), so that a queue that has just turned encryption on never
    /// gets a body in clear from any server.
    async fn seals(&self, queue: &QueueId) -> Result<bool> {
        if self.keys.is_empty() {
            return Ok(false);
        }
        let metadata = self.inner.queue_metadata(queue).await?;
        Ok(metadata
            .and_then(|m| m.get(ENCRYPT_MESSAGES).and_then(|v| v.as_bool()))
            .unwrap_or(false))
    }

    fn inbound(&self, queue: &QueueId, seal: bool, body: Box<RawValue>) -> Result<Box<RawValue>> {
        if seal {
            return self.keys.seal(queue, &body);
        }
        if !body.get().starts_with(RESERVED) {
            return Ok(body);
        }
        let escaped = format!("{ESCAPED}{}", &body.get()[1..]);
        RawValue::from_string(escaped).map_err(StorageError::unavailable)
    }

    fn outbound(&self, queue: &QueueId, mut m: Message) -> Result<Message> {
        let text = m.body.get();
        if text.starts_with(SEALED) {
            m.body = self.keys.open(queue, &m.id, text)?;
        } else if let Some(rest) = text.strip_prefix(ESCAPED) {
            let plain = format!("\"{rest}");
            m.body = RawValue::from_string(plain).map_err(StorageError::unavailable)?;
        }
        Ok(m)
    }

    fn all_outbound(&self, queue: &QueueId, messages: Vec<Message>) -> Result<Vec<Message>> {
        messages
            .into_iter()
            .map(|m| self.outbound(queue, m))
            .collect()
    }
}

#[async_trait]
impl DataStore for Encrypting {
    fn name(&self) -> &'static str {
        self.inner.name()
    }

    async fn ping(&self) -> Result<()> {
        self.inner.ping().await
    }

    async fn collect_garbage(&self) -> Result<u64> {
        self.inner.collect_garbage().await
    }
}

#[async_trait]
impl QueueStore for Encrypting {
    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool> {
        self.inner.create_queue(queue, metadata).await
    }

    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>> {
        self.inner.queue_metadata(queue).await
    }

    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()> {
        self.inner.set_queue_metadata(queue, metadata).await
    }

    async fn delete_queue(&self, queue: &QueueId) -> Result<()> {
        self.inner.delete_queue(queue).await
    }

    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        self.inner.list_queues(project, marker, limit).await
    }

    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats> {
        let mut stats = self.inner.queue_stats(queue).await?;
        stats.oldest = stats.oldest.map(|m| self.outbound(queue, m)).transpose()?;
        stats.newest = stats.newest.map(|m| self.outbound(queue, m)).transpose()?;
        Ok(stats)
    }

    async fn purge_queue(
        &self,
        queue: &QueueId,
        messages: bool,
        subscriptions: bool,
    ) -> Result<()> {
        self.inner.purge_queue(queue, messages, subscriptions).await
    }
}

#[async_trait]
impl MessageStore for Encrypting {
    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>> {
        let seal = self.seals(queue).await?;
        // The batch is shared with a retry the router may keep: copied only if changed.
        let untouched = !seal && !messages.iter().any(|m| m.body.get().starts_with(RESERVED));
        let messages = if untouched {
            messages
        } else {
            messages
                .iter()
                .map(|m| {
                    Ok(NewMessage {
                        body: self.inbound(queue, seal, m.body.clone())?,
                        ttl: m.ttl,
                        delay: m.delay,
                    })
                })
                .collect::<Result<Vec<_>>>()?
                .into()
        };
        self.inner
            .post_messages(queue, client_id, messages, size, create)
            .await
    }

    async fn list_messages(
        &self,
        queue: &QueueId,
        filter: ListFilter,
        marker: Option<MessageMarker>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let found = self
            .inner
            .list_messages(queue, filter, marker, limit)
            .await?;
        self.all_outbound(queue, found)
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        let found = self.inner.get_messages(queue, ids).await?;
        self.all_outbound(queue, found)
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        self.inner.delete_message(queue, id, claim_id).await
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        self.inner.delete_messages(queue, ids).await
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let popped = self.inner.pop_messages(queue, limit).await?;
        self.all_outbound(queue, popped)
    }
}

#[async_trait]
impl ClaimStore for Encrypting {
    async fn create_claim(
        &self,
        queue: &QueueId,
        ttl: i64,
        grace: i64,
        limit: u32,
    ) -> Result<Option<Claim>> {
        let Some(mut claim) = self.inner.create_claim(queue, ttl, grace, limit).await? else {
            return Ok(None);
        };
        claim.messages = self.all_outbound(queue, claim.messages)?;
        Ok(Some(claim))
    }

    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim> {
        let mut claim = self.inner.get_claim(queue, id).await?;
        claim.messages = self.all_outbound(queue, claim.messages)?;
        Ok(claim)
    }

    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()> {
        self.inner.renew_claim(queue, id, ttl, grace).await
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        self.inner.release_claim(queue, id).await
    }
}

#[async_trait]
impl SubscriptionStore for Encrypting {
    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String> {
        self.inner
            .create_subscription(queue, subscriber, ttl, options)
            .await
    }

    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>> {
        self.inner.list_subscriptions(queue, marker, limit).await
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        self.inner.get_subscription(queue, id).await
    }

    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()> {
        self.inner.update_subscription(queue, id, update).await
    }

    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()> {
        self.inner.confirm_subscription(queue, id, confirmed).await
    }

    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()> {
        self.inner.delete_subscription(queue, id).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring(entries: &[&str]) -> Keyring {
        Keyring::parse(entries).unwrap()
    }

    const K1: &str = "k1:AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
    const K2: &str = "k2:ICEiIyQlJicoKSorLC0uLzAxMjM0NTY3ODk6Ozw9Pj8=";

    fn q(name: &str) -> QueueId {
        QueueId::new("p", name)
    }

    #[test]
    fn sealed_bodies_open_under_any_key_of_the_ring_and_only_in_their_queue() {
        let old = ring(&[K1]);
        let body = RawValue::from_string(r#"{"secret": [1, 2]}"#.into()).unwrap();
        let sealed = old.seal(&q("a"), &body).unwrap();
        assert!(sealed.get().starts_with("\"zaqar:enc:k1:"));
        assert!(!sealed.get().contains("secret"));
        // Rotated: k2 seals now, k1 still opens.
        let rotated = ring(&[K1, K2]);
        assert_eq!(
            rotated.open(&q("a"), "m", sealed.get()).unwrap().get(),
            body.get()
        );
        assert!(rotated
            .seal(&q("a"), &body)
            .unwrap()
            .get()
            .starts_with("\"zaqar:enc:k2:"));
        // Another queue, a missing key, a flipped byte: refused.
        assert!(rotated.open(&q("b"), "m", sealed.get()).is_err());
        assert!(ring(&[K2]).open(&q("a"), "m", sealed.get()).is_err());
        let mut bytes = sealed.get().to_owned().into_bytes();
        let at = bytes.len() - 6;
        bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
        let tampered = String::from_utf8(bytes).unwrap();
        assert!(rotated.open(&q("a"), "m", &tampered).is_err());
    }

    #[test]
    fn bad_keys_are_refused_without_showing_them() {
        for (entries, wanted) in [
            (vec!["nokey"], "entry 1 is not ID:BASE64"),
            (vec!["k1:c2hvcnQ="], "must be 32 bytes, not 5"),
            (vec!["k1:***"], "not base64"),
            (vec![K1, K1], "given twice"),
            (vec!["bad id:AAAA"], "key id must be"),
        ] {
            let e = Keyring::parse(&entries).unwrap_err();
            assert!(e.contains(wanted), "{e}");
            assert!(!e.contains("c2hvcnQ") && !e.contains("AAEC"), "{e}");
        }
        assert_eq!(
            format!("{:?}", ring(&[K1, K2])),
            "Keyring { ids: [\"k1\", \"k2\"] }"
        );
    }
}
