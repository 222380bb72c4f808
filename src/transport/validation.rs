//! Input validation against the configured `[limits]`, with Zaqar's error texts.
//!
//! Handlers call these before sending anything to an actor, so a bad request never costs a
//! storage round trip (the one exception is a queue's own `_max_messages_post_size`, which
//! only the store knows and checks).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use zaqar_actors::model::{
    Metadata, NewMessage, DEFAULT_MESSAGE_DELAY, DEFAULT_MESSAGE_TTL, MAX_MESSAGES_POST_SIZE,
};

use super::errors::ApiError;
use super::extract::Params;
use crate::conf::LimitsConf;

/// Subscriber URI schemes Zaqar accepts.
const SUBSCRIBER_SCHEMES: [&str; 5] = ["http", "https", "mailto", "trust+http", "trust+https"];

#[derive(Clone, Debug)]
pub struct Validator {
    pub limits: LimitsConf,
}

fn limit_error(max: u32) -> ApiError {
    ApiError::invalid(format!(
        "Limit must be at least 1 and may not be greater than {max}."
    ))
}

/// An integer field of a JSON object, with Zaqar's type error.
fn int_field(value: Option<&RawValue>, name: &str) -> Result<Option<i64>, ApiError> {
    value
        .map(|raw| {
            serde_json::from_str::<i64>(raw.get()).map_err(|_| {
                ApiError::bad_body(format!("The value of the \"{name}\" field must be a int."))
            })
        })
        .transpose()
}

/// The nesting depth of JSON text (a scalar is 0, `[]` is 1), measured without parsing, so
/// that text of any depth is measured safely; brackets inside strings do not count.
pub fn json_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let (mut in_string, mut escaped) = (false, false);
    for b in text.bytes() {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                max = max.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    max
}

/// `limit` from the query string: default when absent, 1..=max otherwise.
fn page_limit(params: &Params, default: u32, max: u32) -> Result<u32, ApiError> {
    match params.int("limit")? {
        None => Ok(default),
        Some(n) if n >= 1 && n <= i64::from(max) => Ok(n as u32),
        Some(_) => Err(limit_error(max)),
    }
}

#[derive(Deserialize)]
struct PostBody<'a> {
    #[serde(borrow)]
    messages: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct PostedMessage<'a> {
    #[serde(borrow)]
    ttl: Option<&'a RawValue>,
    #[serde(borrow)]
    delay: Option<&'a RawValue>,
    #[serde(borrow)]
    body: Option<&'a RawValue>,
}

#[derive(Deserialize, Default)]
struct ClaimBody<'a> {
    #[serde(borrow)]
    ttl: Option<&'a RawValue>,
    #[serde(borrow)]
    grace: Option<&'a RawValue>,
}

impl Validator {
    pub fn new(limits: LimitsConf) -> Self {
        Self { limits }
    }

    pub fn queue_page(&self, params: &Params) -> Result<u32, ApiError> {
        page_limit(
            params,
            self.limits.default_queue_paging,
            self.limits.max_queues_per_page,
        )
    }

    pub fn message_page(&self, params: &Params) -> Result<u32, ApiError> {
        page_limit(
            params,
            self.limits.default_message_paging,
            self.limits.max_messages_per_page,
        )
    }

    pub fn subscription_page(&self, params: &Params) -> Result<u32, ApiError> {
        page_limit(
            params,
            self.limits.default_subscription_paging,
            self.limits.max_subscriptions_per_page,
        )
    }

    pub fn claim_limit(&self, params: &Params) -> Result<u32, ApiError> {
        page_limit(
            params,
            self.limits.default_claim_limit,
            self.limits.max_messages_per_claim_or_pop,
        )
    }

    pub fn pop(&self, n: i64) -> Result<u32, ApiError> {
        let max = self.limits.max_messages_per_claim_or_pop;
        if n >= 1 && n <= i64::from(max) {
            Ok(n as u32)
        } else {
            Err(ApiError::invalid(format!(
                "Pop value must be at least 1 and may not be greater than {max}."
            )))
        }
    }

    /// Message ids of `?ids=`: at least one, at most a page.
    pub fn message_ids(&self, ids: Vec<String>) -> Result<Vec<String>, ApiError> {
        let max = self.limits.max_messages_per_page;
        if ids.is_empty() || ids.len() > max as usize {
            return Err(ApiError::invalid(format!(
                "The number of message ids must be at least 1 and may not be greater than {max}."
            )));
        }
        Ok(ids)
    }

    fn message_ttl(&self, ttl: i64) -> Result<i64, ApiError> {
        let l = &self.limits;
        if ttl < l.min_message_ttl || ttl > l.max_message_ttl {
            return Err(ApiError::invalid(format!(
                "The TTL for a message may not exceed {} seconds, and must be at least {} seconds long.",
                l.max_message_ttl, l.min_message_ttl
            )));
        }
        Ok(ttl)
    }

    fn message_delay(&self, delay: i64) -> Result<i64, ApiError> {
        let max = self.limits.max_message_delay;
        if !(0..=max).contains(&delay) {
            return Err(ApiError::invalid(format!(
                "The delay for a message may not exceed {max} seconds, and must be at least 0 seconds long."
            )));
        }
        Ok(delay)
    }

    /// The body of `POST .../messages`: `{"messages": [{"body": ..., "ttl": n, "delay": n}]}`.
    pub fn messages(&self, body: &[u8]) -> Result<Vec<NewMessage>, ApiError> {
        let none_found = || ApiError::invalid("No messages were found in the request body.");
        let raw: &RawValue = super::extract::parse_json(body)?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(none_found());
        }
        let envelope: PostBody = super::extract::parse_json(raw.get().as_bytes())?;
        let list = envelope.messages.ok_or_else(none_found)?;
        let items: Vec<PostedMessage> = serde_json::from_str(list.get()).map_err(|_| {
            if list.get().trim_start().starts_with('[') {
                ApiError::bad_body("Each message must be a JSON object.")
            } else {
                none_found()
            }
        })?;
        if items.is_empty() {
            return Err(ApiError::invalid("No messages to enqueu."));
        }
        let max = self.limits.max_messages_per_post;
        if max > 0 && items.len() > max as usize {
            return Err(ApiError::invalid(format!(
                "No more than {max} messages may be posted at once."
            )));
        }
        items
            .into_iter()
            .map(|m| {
                let body = m
                    .body
                    .ok_or_else(|| ApiError::bad_body("Missing \"body\" field."))?;
                self.depth(body.get(), "A message body")?;
                Ok(NewMessage {
                    ttl: int_field(m.ttl, "ttl")?
                        .map(|t| self.message_ttl(t))
                        .transpose()?,
                    delay: int_field(m.delay, "delay")?
                        .map(|d| self.message_delay(d))
                        .transpose()?,
                    body: body.to_owned(),
                })
            })
            .collect()
    }

    /// Refuses JSON nested deeper than `max_json_depth`: what is accepted must be storable
    /// on every backend and renderable by the serializer.
    pub fn depth(&self, json: &str, what: &str) -> Result<(), ApiError> {
        let max = self.limits.max_json_depth as usize;
        if json_depth(json) > max {
            return Err(ApiError::bad_body(format!(
                "{what} may not nest arrays and objects more than {max} levels deep."
            )));
        }
        Ok(())
    }

    /// The body of a claim create or renew: `{"ttl": n, "grace": n}`, both optional.
    pub fn claim(&self, body: &[u8]) -> Result<(i64, i64), ApiError> {
        let l = &self.limits;
        let fields: ClaimBody = if body.iter().all(u8::is_ascii_whitespace) {
            ClaimBody::default()
        } else {
            let raw: &RawValue = super::extract::parse_json(body)?;
            if !raw.get().trim_start().starts_with('{') {
                return Err(ApiError::bad_body("The claim must be a JSON object."));
            }
            super::extract::parse_json(body)?
        };
        let ttl = int_field(fields.ttl, "ttl")?.unwrap_or(l.default_claim_ttl);
        let grace = int_field(fields.grace, "grace")?.unwrap_or(l.default_claim_grace);
        if ttl < l.min_claim_ttl || ttl > l.max_claim_ttl {
            return Err(ApiError::invalid(format!(
                "The TTL for a claim may not exceed {} seconds, and must be at least {} seconds long.",
                l.max_claim_ttl, l.min_claim_ttl
            )));
        }
        if grace < l.min_claim_grace || grace > l.max_claim_grace {
            return Err(ApiError::invalid(format!(
                "The grace for a claim may not exceed {} seconds, and must be at least {} seconds long.",
                l.max_claim_grace, l.min_claim_grace
            )));
        }
        Ok((ttl, grace))
    }

    /// Queue metadata: an object within the size limit whose reserved keys hold valid values.
    pub fn queue_metadata(&self, metadata: &Metadata) -> Result<(), ApiError> {
        let l = &self.limits;
        let text = Value::Object(metadata.clone()).to_string();
        let size = text.len() as u64;
        self.depth(&text, "Queue metadata")?;
        if size > l.max_queue_metadata {
            return Err(ApiError::invalid(format!(
                "Queue metadata is too large. Max size: {}",
                l.max_queue_metadata
            )));
        }
        let int = |key: &str| -> Result<Option<i64>, ApiError> {
            match metadata.get(key) {
                None => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    ApiError::invalid(format!("The value of the \"{key}\" field must be a int."))
                }),
            }
        };
        if let Some(ttl) = int(DEFAULT_MESSAGE_TTL)? {
            self.message_ttl(ttl)?;
        }
        if let Some(delay) = int(DEFAULT_MESSAGE_DELAY)? {
            self.message_delay(delay)?;
        }
        if let Some(size) = int(MAX_MESSAGES_POST_SIZE)? {
            if size < 1 || size as u64 > l.max_messages_post_size {
                return Err(ApiError::invalid(format!(
                    "_max_messages_post_size must be at least 1 and may not be greater than {}.",
                    l.max_messages_post_size
                )));
            }
        }
        Ok(())
    }

    pub fn subscriber(&self, subscriber: &str) -> Result<(), ApiError> {
        // No URI holds control characters, and PostgreSQL cannot store NUL in text.
        if subscriber.chars().any(char::is_control) {
            return Err(ApiError::invalid(
                "The subscriber may not contain control characters.",
            ));
        }
        let scheme = subscriber.split_once(':').map(|(s, _)| s).unwrap_or("");
        if SUBSCRIBER_SCHEMES.contains(&scheme.to_ascii_lowercase().as_str()) {
            return Ok(());
        }
        Err(ApiError::invalid(format!(
            "The subscriber type of subscription must be supported in the list {:?}.",
            SUBSCRIBER_SCHEMES
        )))
    }

    pub fn subscription_ttl(&self, ttl: i64) -> Result<i64, ApiError> {
        let min = self.limits.min_subscription_ttl;
        // Far beyond any useful TTL, but keeps expiry arithmetic in milliseconds from overflowing.
        const MAX: i64 = 100 * 365 * 24 * 3600;
        if ttl < min || ttl > MAX {
            return Err(ApiError::invalid(format!(
                "The TTL for a subscription must be at least {min} seconds long."
            )));
        }
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validator {
        Validator::new(LimitsConf::default())
    }

    fn err(r: Result<impl std::fmt::Debug, ApiError>) -> String {
        r.unwrap_err().description.unwrap()
    }

    #[test]
    fn post_body_shapes() {
        let v = v();
        let ok = v
            .messages(br#"{"messages": [{"body": {"a": [1, 2]}, "ttl": 60, "delay": 5}]}"#)
            .unwrap();
        assert_eq!(ok[0].body.get(), r#"{"a": [1, 2]}"#);
        assert_eq!((ok[0].ttl, ok[0].delay), (Some(60), Some(5)));
        assert_eq!(
            err(v.messages(b"{not json")),
            "Request body could not be parsed."
        );
        assert_eq!(
            err(v.messages(br#"[{"body": 1}]"#)),
            "No messages were found in the request body."
        );
        assert_eq!(
            err(v.messages(br#"{"messages": []}"#)),
            "No messages to enqueu."
        );
        assert_eq!(
            err(v.messages(br#"{"messages": [{"ttl": 60}]}"#)),
            "Missing \"body\" field."
        );
        assert!(
            err(v.messages(br#"{"messages": [{"ttl": 10, "body": 1}]}"#)).contains("at least 60")
        );
        assert!(
            err(v.messages(br#"{"messages": [{"ttl": 1209601, "body": 1}]}"#)).contains("1209600")
        );
        assert_eq!(
            err(v.messages(br#"{"messages": [{"ttl": "abc", "body": 1}]}"#)),
            "The value of the \"ttl\" field must be a int."
        );
        assert!(err(v.messages(br#"{"messages": [{"delay": 901, "body": 1}]}"#)).contains("900"));
    }

    #[test]
    fn claim_body_defaults_and_ranges() {
        let v = v();
        assert_eq!(v.claim(b"").unwrap(), (300, 60));
        assert_eq!(v.claim(br#"{"ttl": 120}"#).unwrap(), (120, 60));
        assert!(err(v.claim(br#"{"ttl": 10}"#)).contains("TTL for a claim"));
        assert!(err(v.claim(br#"{"ttl": 60, "grace": 43201}"#)).contains("grace"));
    }

    #[test]
    fn page_limits() {
        let v = v();
        let p = |q: &str| Params(serde_urlencoded::from_str(q).unwrap());
        assert_eq!(v.message_page(&p("")).unwrap(), 10);
        assert_eq!(v.message_page(&p("limit=20")).unwrap(), 20);
        assert!(v.message_page(&p("limit=0")).is_err());
        assert!(v.message_page(&p("limit=21")).is_err());
        assert_eq!(
            v.message_page(&p("limit=x")).unwrap_err().title,
            "Invalid parameter"
        );
    }

    #[test]
    fn reserved_metadata_is_checked() {
        let v = v();
        let m = |j: &str| serde_json::from_str::<Metadata>(j).unwrap();
        v.queue_metadata(&m(r#"{"_default_message_ttl": 3600, "x": 1}"#))
            .unwrap();
        assert!(v
            .queue_metadata(&m(r#"{"_default_message_ttl": 5}"#))
            .is_err());
        assert!(v
            .queue_metadata(&m(r#"{"_max_messages_post_size": 262145}"#))
            .is_err());
        assert!(v
            .queue_metadata(&m(r#"{"_default_message_delay": "x"}"#))
            .is_err());
    }

    #[test]
    fn subscriber_schemes() {
        let v = v();
        v.subscriber("http://example.com/hook").unwrap();
        v.subscriber("mailto:ops@example.com").unwrap();
        assert!(
            err(v.subscriber("ftp://x")).contains("'http'")
                || err(v.subscriber("ftp://x")).contains("http")
        );
    }
}
