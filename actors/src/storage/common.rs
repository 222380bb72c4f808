//! What every backend computes the same way, written once: a message's age, and the JSON
//! objects (queue metadata, subscription options) they store as text.

use crate::error::{Result, StorageError};
use crate::model::Metadata;

/// Whole seconds from `created_ms` to `now_ms`, never negative (a clock a little behind
/// another server's).
pub fn age(now_ms: i64, created_ms: i64) -> i64 {
    (now_ms - created_ms).max(0) / 1000
}

/// A stored JSON object; empty text is the empty object.
pub fn parse_object(text: &str) -> Result<Metadata> {
    if text.is_empty() {
        return Ok(Metadata::new());
    }
    serde_json::from_str(text).map_err(|e| StorageError::Unavailable(format!("stored JSON: {e}")))
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
}
