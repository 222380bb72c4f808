//! What every backend computes the same way, written once: a message's age, FIFO order,
//! the post-size check, why a delete removed nothing, and the JSON objects (queue metadata,
//! subscription options) they store as text.

use crate::error::{Result, StorageError};
use crate::model::{Message, Metadata, QueueSettings};

/// Whole seconds from `created_ms` to `now_ms`, never negative (a clock a little behind
/// another server's).
pub fn age(now_ms: i64, created_ms: i64) -> i64 {
    (now_ms - created_ms).max(0) / 1000
}

/// Messages in FIFO order (by sequence), whatever order a statement or script returned them in.
pub fn fifo(mut messages: Vec<Message>) -> Vec<Message> {
    messages.sort_by_key(|m| m.seq);
    messages
}

/// Refuses a post of `size` body bytes over the queue's `_max_messages_post_size`.
pub fn check_post_size(settings: &QueueSettings, size: u64) -> Result<()> {
    if size > settings.max_messages_post_size {
        return Err(StorageError::PostTooLarge {
            max: settings.max_messages_post_size,
        });
    }
    Ok(())
}

/// What a guarded delete that removed nothing found when it looked at the message again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Undeleted {
    /// The message is gone or expired: deleting is idempotent, so this is success.
    Gone,
    /// Deleted without a claim id, and no live claim holds it now (its claim expired
    /// between the two looks): delete it again.
    Free,
    /// Deleted without a claim id, but a live claim holds it.
    Claimed,
    /// Deleted with a claim id, but no live claim holds it.
    NotHeld,
    /// Held by another claim: whether the named claim is alive decides the error.
    HeldByAnother,
}

impl Undeleted {
    /// From what a second look found: `held` is `None` when the message is gone, else
    /// whether a live claim holds it. (The first delete already tried the claim named, so
    /// a message still held is held by another.)
    pub fn of(claim_id: Option<&str>, held: Option<bool>) -> Self {
        match (claim_id, held) {
            (_, None) => Undeleted::Gone,
            (None, Some(true)) => Undeleted::Claimed,
            (None, Some(false)) => Undeleted::Free,
            (Some(_), Some(false)) => Undeleted::NotHeld,
            (Some(_), Some(true)) => Undeleted::HeldByAnother,
        }
    }

    /// The error a refused delete of `id` answers, as Zaqar decides it. `claim_is_live`
    /// matters only for [`Undeleted::HeldByAnother`]: a live claim that does not hold the
    /// message, or a claim that is not valid (expired, or never was).
    pub fn error(self, id: &str, claim_id: Option<&str>, claim_is_live: bool) -> StorageError {
        let claim = claim_id.unwrap_or_default();
        match self {
            Undeleted::Claimed => StorageError::MessageIsClaimed { id: id.to_owned() },
            // A claim id that cannot be one (not a UUID) does not exist; otherwise the
            // message is not claimed.
            Undeleted::NotHeld if uuid::Uuid::parse_str(claim).is_err() => {
                StorageError::ClaimNotValid
            }
            Undeleted::NotHeld => StorageError::MessageNotClaimed { id: id.to_owned() },
            Undeleted::HeldByAnother if claim_is_live => StorageError::MessageNotClaimedBy {
                id: id.to_owned(),
                claim: claim.to_owned(),
            },
            Undeleted::HeldByAnother | Undeleted::Gone | Undeleted::Free => {
                StorageError::ClaimNotValid
            }
        }
    }
}

/// A stored JSON object; empty text is the empty object.
pub fn parse_object(text: &str) -> Result<Metadata> {
    if text.is_empty() {
        return Ok(Metadata::new());
    }
    serde_json::from_str(text).map_err(|e| StorageError::unavailable_in("stored JSON", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_and_objects() {
        assert_eq!(age(10_999, 1_000), 9);
        assert_eq!(
            age(1_000, 2_000),
            0,
            "a creation time ahead of the clock is age 0"
        );
        assert!(parse_object("").unwrap().is_empty());
        assert_eq!(parse_object(r#"{"a": 1}"#).unwrap()["a"], 1);
        assert!(parse_object("[1]").is_err());
    }

    #[test]
    fn why_a_delete_removed_nothing() {
        let c = "5d0e5f7c-4f1e-4c7e-9d8e-0a1b2c3d4e5f";
        assert_eq!(Undeleted::of(None, None), Undeleted::Gone);
        assert_eq!(Undeleted::of(Some(c), None), Undeleted::Gone);
        assert_eq!(Undeleted::of(None, Some(true)), Undeleted::Claimed);
        assert_eq!(Undeleted::of(None, Some(false)), Undeleted::Free);
        assert_eq!(Undeleted::of(Some(c), Some(false)), Undeleted::NotHeld);
        assert_eq!(Undeleted::of(Some(c), Some(true)), Undeleted::HeldByAnother);
        let e = |u: Undeleted, claim, live| u.error("m", claim, live).kind();
        assert_eq!(e(Undeleted::Claimed, None, false), "message_is_claimed");
        assert_eq!(e(Undeleted::NotHeld, Some(c), false), "message_not_claimed");
        assert_eq!(e(Undeleted::NotHeld, Some("x"), false), "claim_not_valid");
        assert_eq!(
            e(Undeleted::HeldByAnother, Some(c), true),
            "message_not_claimed_by"
        );
        assert_eq!(
            e(Undeleted::HeldByAnother, Some(c), false),
            "claim_not_valid"
        );
    }
}
