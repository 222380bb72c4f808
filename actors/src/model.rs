//! The data the storage layer stores and returns: queues, messages, claims, subscriptions,
//! and the queue defaults that reserved metadata keys override.

use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// A queue is named within a project; the pair is the key everywhere.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct QueueId {
    pub project: String,
    pub name: String,
}

impl QueueId {
    pub fn new(project: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            project: project.into(),
            name: name.into(),
        }
    }
}

/// Queue metadata: a JSON object, with Zaqar's reserved keys starting with `_`.
pub type Metadata = Map<String, Value>;

/// Reserved metadata keys that change how a queue behaves.
pub const DEFAULT_MESSAGE_TTL: &str = "_default_message_ttl";
pub const MAX_MESSAGES_POST_SIZE: &str = "_max_messages_post_size";
pub const DEFAULT_MESSAGE_DELAY: &str = "_default_message_delay";
/// The flavor whose pools a new queue is placed in (pooling).
pub const FLAVOR: &str = "_flavor";
/// Dead-lettering: a message claimed more than `_max_claim_count` times moves to the queue
/// `_dead_letter_queue` (same project), living `_dead_letter_queue_messages_ttl` seconds
/// there (its own TTL when unset).
pub const MAX_CLAIM_COUNT: &str = "_max_claim_count";
pub const DEAD_LETTER_QUEUE: &str = "_dead_letter_queue";
pub const DEAD_LETTER_TTL: &str = "_dead_letter_queue_messages_ttl";
/// Notification retries of the queue's subscriptions (checked, kept, not yet acted on).
pub const RETRY_POLICY: &str = "_retry_policy";
/// Message bodies of the queue are stored encrypted.
pub const ENCRYPT_MESSAGES: &str = "_enable_encrypt_messages";

/// A queue's dead-letter policy: in force only when both `_max_claim_count` and
/// `_dead_letter_queue` are set, as in Zaqar.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadLetterPolicy {
    pub max_claim_count: i64,
    pub queue: String,
    pub ttl: Option<i64>,
}

impl DeadLetterPolicy {
    pub fn of(metadata: &Metadata) -> Option<Self> {
        Some(Self {
            max_claim_count: metadata.get(MAX_CLAIM_COUNT)?.as_i64()?,
            queue: metadata.get(DEAD_LETTER_QUEUE)?.as_str()?.to_owned(),
            ttl: metadata.get(DEAD_LETTER_TTL).and_then(Value::as_i64),
        })
    }
}

/// What a queue without metadata behaves like (from the `[limits]` configuration).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueDefaults {
    pub default_message_ttl: i64,
    pub default_message_delay: i64,
    pub max_messages_post_size: u64,
}

impl Default for QueueDefaults {
    fn default() -> Self {
        Self {
            default_message_ttl: 3600,
            default_message_delay: 0,
            max_messages_post_size: 262_144,
        }
    }
}

/// The settings in force for one queue: its metadata over the defaults.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct QueueSettings {
    pub default_message_ttl: i64,
    pub default_message_delay: i64,
    pub max_messages_post_size: u64,
}

impl QueueDefaults {
    pub fn settings(&self, metadata: Option<&Metadata>) -> QueueSettings {
        let get = |key: &str| metadata.and_then(|m| m.get(key)).and_then(Value::as_i64);
        QueueSettings {
            default_message_ttl: get(DEFAULT_MESSAGE_TTL).unwrap_or(self.default_message_ttl),
            default_message_delay: get(DEFAULT_MESSAGE_DELAY).unwrap_or(self.default_message_delay),
            max_messages_post_size: get(MAX_MESSAGES_POST_SIZE)
                .and_then(|v| u64::try_from(v).ok())
                .unwrap_or(self.max_messages_post_size),
        }
    }

    /// The keys Zaqar's `_get_reserved_metadata` lists, with their defaults: every queue
    /// has them, set or not.
    pub fn reserved(&self) -> [(&'static str, Value); 7] {
        [
            (MAX_MESSAGES_POST_SIZE, self.max_messages_post_size.into()),
            (DEFAULT_MESSAGE_TTL, self.default_message_ttl.into()),
            (DEFAULT_MESSAGE_DELAY, self.default_message_delay.into()),
            (DEAD_LETTER_QUEUE, Value::Null),
            (DEAD_LETTER_TTL, Value::Null),
            (MAX_CLAIM_COUNT, Value::Null),
            (ENCRYPT_MESSAGES, Value::Bool(false)),
        ]
    }

    /// Whether `key` is one of [`Self::reserved`].
    pub fn is_reserved(&self, key: &str) -> bool {
        self.reserved().iter().any(|(k, _)| *k == key)
    }

    /// The metadata document a client sees: stored keys first, then every reserved key the
    /// queue does not set, with its default (as Zaqar 23 answers, lazy queues included).
    pub fn render(&self, metadata: Option<Metadata>) -> Metadata {
        let mut out = metadata.unwrap_or_default();
        for (key, value) in self.reserved() {
            // Zaqar's `if not resp_dict.get(meta)`: a key set to what Python finds false
            // (null, false, 0, "", [], {}) shows the default too, in its own place.
            match out.get_mut(key) {
                Some(set) if !falsy(set) => {}
                Some(set) => *set = value,
                None => {
                    out.insert(key.to_owned(), value);
                }
            }
        }
        out
    }
}

/// Whether Python finds a JSON value false (Zaqar's checks often ask that).
pub fn falsy(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// A message as a client posts it, after validation. `None` means "use the queue's default".
#[derive(Clone, Debug)]
pub struct NewMessage {
    pub ttl: Option<i64>,
    pub delay: Option<i64>,
    /// The message body as JSON text, stored and returned verbatim.
    pub body: Box<RawValue>,
}

/// A stored message as read back.
#[derive(Clone, Debug)]
pub struct Message {
    pub id: String,
    /// Its position in the queue's FIFO order: what a page's `next` marker names.
    pub seq: i64,
    pub ttl: i64,
    /// Seconds since it was posted.
    pub age: i64,
    pub body: Box<RawValue>,
    /// The live claim that holds it, if any.
    pub claim_id: Option<String>,
    pub claim_count: i64,
    /// Milliseconds since the Unix epoch.
    pub created_ms: i64,
}

/// Where a page of messages starts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MessageMarker {
    /// After this position (`Message::seq`): what our `next` links carry. It keeps its
    /// place when the message at that position has since been deleted or has expired.
    After(i64),
    /// After the message with this id (a marker built from an id, as Zaqar's Redis driver
    /// gives out); an id that is not in the queue starts from the head, as in Zaqar.
    Id(String),
}

impl MessageMarker {
    /// Message ids are UUIDs, never a bare number, so the two forms cannot be confused.
    pub fn parse(text: &str) -> Self {
        match text.parse::<i64>() {
            Ok(seq) if seq >= 0 => MessageMarker::After(seq),
            _ => MessageMarker::Id(text.to_owned()),
        }
    }
}

/// A live claim and the messages it still holds.
#[derive(Clone, Debug)]
pub struct Claim {
    pub id: String,
    pub ttl: i64,
    pub age: i64,
    pub messages: Vec<Message>,
}

/// What `GET .../stats` reports.
#[derive(Clone, Debug, Default)]
pub struct QueueStats {
    pub claimed: i64,
    pub free: i64,
    pub total: i64,
    pub oldest: Option<Message>,
    pub newest: Option<Message>,
}

/// One row of a queue listing.
#[derive(Clone, Debug)]
pub struct QueueEntry {
    pub name: String,
    pub metadata: Metadata,
}

/// Which messages a listing returns, besides the queue and the page.
#[derive(Clone, Debug, Default)]
pub struct ListFilter {
    /// Include messages posted by this same client (`echo`).
    pub echo: bool,
    pub include_claimed: bool,
    pub include_delayed: bool,
    /// The requesting client, compared with each message's poster when `echo` is false.
    pub client_id: String,
}

/// A webhook or e-mail subscription to a queue.
#[derive(Clone, Debug)]
pub struct Subscription {
    pub id: String,
    pub source: String,
    pub subscriber: String,
    pub ttl: i64,
    pub age: i64,
    pub options: Metadata,
    pub confirmed: bool,
}

/// Fields a subscription update may change; `None` leaves a field as it is.
#[derive(Clone, Debug, Default)]
pub struct SubscriptionUpdate {
    pub subscriber: Option<String>,
    pub ttl: Option<i64>,
    pub options: Option<Metadata>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn metadata_overrides_defaults() {
        let d = QueueDefaults::default();
        let meta = json!({"_default_message_ttl": 90, "_default_message_delay": 5})
            .as_object()
            .cloned();
        let s = d.settings(meta.as_ref());
        assert_eq!(s.default_message_ttl, 90);
        assert_eq!(s.default_message_delay, 5);
        assert_eq!(s.max_messages_post_size, 262_144);
    }

    #[test]
    fn render_keeps_stored_keys_first_and_fills_reserved_ones() {
        let d = QueueDefaults::default();
        let meta = json!({"description": "x", "_default_message_ttl": 60})
            .as_object()
            .cloned();
        let out = d.render(meta);
        let keys: Vec<_> = out.keys().map(String::as_str).collect();
        assert_eq!(
            &keys[..3],
            [
                "description",
                "_default_message_ttl",
                "_max_messages_post_size"
            ]
        );
        assert_eq!(out["_default_message_ttl"], 60);
        assert_eq!(out["_enable_encrypt_messages"], false);
        assert_eq!(out.len(), 8);
    }
}
