//! Input validation against the configured `[limits]`, with Zaqar's error texts.
//!
//! Handlers call these before sending anything to an actor, so a bad request never costs a
//! storage round trip (the one exception is a queue's own `_max_messages_post_size`, which
//! only the store knows and checks).

use serde::Deserialize;
use serde_json::value::RawValue;
use serde_json::Value;
use zaqar_actors::model::{
    Metadata, NewMessage, DEAD_LETTER_QUEUE, DEAD_LETTER_TTL, DEFAULT_MESSAGE_DELAY,
    DEFAULT_MESSAGE_TTL, ENCRYPT_MESSAGES, FLAVOR, MAX_CLAIM_COUNT, MAX_MESSAGES_POST_SIZE,
    RETRY_POLICY,
};

use super::errors::ApiError;
use super::extract::Params;
use crate::conf::LimitsConf;

/// Subscriber URI schemes Zaqar accepts.
const SUBSCRIBER_SCHEMES: [&str; 5] = ["http", "https", "mailto", "trust+http", "trust+https"];

#[derive(Clone, Debug)]
pub struct Validator {
    pub limits: LimitsConf,
    /// Whether the server has an encryption key, without which no queue may encrypt.
    pub encryption: bool,
}

/// What a subscription body sets (checked by [`Validator::subscription`]).
pub struct SubscriptionFields {
    pub subscriber: Option<String>,
    pub ttl: Option<i64>,
    pub options: Option<Metadata>,
}

/// Zaqar's text names the schemes as a Python list.
fn subscriber_type_error() -> ApiError {
    let schemes: Vec<String> = SUBSCRIBER_SCHEMES
        .iter()
        .map(|s| format!("'{s}'"))
        .collect();
    ApiError::invalid(format!(
        "The subscriber type of subscription must be supported in the list [{}].",
        schemes.join(", ")
    ))
}

fn limit_error(max: u32) -> ApiError {
    ApiError::invalid(format!(
        "Limit must be at least 1 and may not be greater than {max}."
    ))
}

/// The wording of Zaqar's `queue_listing`, `pool_listing` and `flavor_listing`.
fn listing_limit_error(max: u32) -> ApiError {
    ApiError::invalid(format!(
        "Limit must be at least 1 and no greater than {max}."
    ))
}

/// An integer field of a JSON object, with Zaqar's type error.
fn int_field(value: Option<&RawValue>, name: &str) -> Result<Option<i64>, ApiError> {
    value
        .map(|raw| {
            // Python's bool is an int: Zaqar takes `true` for 1.
            match raw.get() {
                "true" => return Ok(1),
                "false" => return Ok(0),
                _ => {}
            }
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
    page_limit_or(params, default, max, limit_error)
}

/// A `limit` of 1 to `max`, `default` when absent; out of range, `out_of_range(max)`.
fn page_limit_or(
    params: &Params,
    default: u32,
    max: u32,
    out_of_range: fn(u32) -> ApiError,
) -> Result<u32, ApiError> {
    match params.int("limit")? {
        None => Ok(default),
        Some(n) if n >= 1 && n <= i64::from(max) => Ok(n as u32),
        Some(_) => Err(out_of_range(max)),
    }
}

fn truthy(v: &Value) -> bool {
    !zaqar_actors::model::falsy(v)
}

/// Zaqar's `QUEUE_NAME_REGEX` and length.
pub fn valid_queue_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-.".contains(&b))
}

/// The retry-policy backoff functions Zaqar knows.
const BACKOFF_FUNCTIONS: [&str; 4] = ["linear", "arithmetic", "exponential", "geometric"];

/// `_retry_policy` of queue metadata or subscription options, as Zaqar's
/// `_validate_retry_policy` checks it (its defaults: delays 5 and 30, interval 5).
pub fn retry_policy(policy: Option<&Value>) -> Result<(), String> {
    let Some(policy) = policy.filter(|p| truthy(p)) else {
        return Ok(());
    };
    let Value::Object(policy) = policy else {
        return Err("retry_policy must be a dict.".into());
    };
    let set = |key: &str| policy.get(key).filter(|v| truthy(v));
    if let Some(f) = set("retry_backoff_function") {
        let Value::String(f) = f else {
            return Err("retry_backoff_function must be a string.".into());
        };
        if !BACKOFF_FUNCTIONS.contains(&f.as_str()) {
            return Err("invalid retry_backoff_function.".into());
        }
    }
    if set("ignore_subscription_override").is_some_and(|v| !v.is_boolean()) {
        return Err("ignore_subscription_override must be a boolean.".into());
    }
    for key in [
        "retries_with_no_delay",
        "minimum_delay_retries",
        "minimum_delay",
        "maximum_delay",
        "maximum_delay_retries",
    ] {
        if set(key).is_some_and(|v| !v.is_i64() && !v.is_boolean()) {
            return Err(format!("Retry policy: {key} must be a integer."));
        }
    }
    let delay = |key: &str, default: i64| match policy.get(key) {
        Some(Value::Bool(b)) => i64::from(*b),
        Some(v) => v.as_i64().unwrap_or(default),
        None => default,
    };
    let (min, max) = (delay("minimum_delay", 5), delay("maximum_delay", 30));
    if max < min {
        return Err("minimum_delay must less than maximum_delay.".into());
    }
    if max - min < 2 * 5 {
        return Err("invalid minimum_delay and maximum_delay.".into());
    }
    Ok(())
}

#[derive(Deserialize)]
struct PostBody<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    messages: Option<&'a RawValue>,
}

/// A well-formed post body, parsed in one pass: what nearly every post is. Anything else
/// takes the slower path that finds Zaqar's text for what is wrong.
#[derive(Deserialize)]
struct WellFormedPost<'a> {
    #[serde(borrow)]
    messages: Vec<PostedMessage<'a>>,
}

/// One posted message's fields. Only a JSON object is one: serde's derived structs also take
/// an array, field by field (`[60, 0, "x"]` would be a ttl, a delay and a body).
#[derive(Default)]
struct PostedMessage<'a> {
    ttl: Option<&'a RawValue>,
    delay: Option<&'a RawValue>,
    body: Option<&'a RawValue>,
}

impl<'de: 'a, 'a> Deserialize<'de> for PostedMessage<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::{Error, IgnoredAny, MapAccess, Visitor};
        struct Fields<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for Fields<'a> {
            type Value = PostedMessage<'a>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut m = PostedMessage::default();
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    let (name, slot) = match &*key {
                        "ttl" => ("ttl", &mut m.ttl),
                        "delay" => ("delay", &mut m.delay),
                        "body" => ("body", &mut m.body),
                        _ => {
                            map.next_value::<IgnoredAny>()?;
                            continue;
                        }
                    };
                    if slot.is_some() {
                        return Err(A::Error::duplicate_field(name));
                    }
                    *slot = Some(map.next_value()?);
                }
                Ok(m)
            }
        }
        d.deserialize_map(Fields(std::marker::PhantomData))
    }
}

#[derive(Deserialize, Default)]
struct ClaimBody<'a> {
    #[serde(borrow, default, deserialize_with = "present")]
    ttl: Option<&'a RawValue>,
    #[serde(borrow, default, deserialize_with = "present")]
    grace: Option<&'a RawValue>,
}

/// A field that is there, `null` included (`None` only when absent): Zaqar's `sanitize`
/// takes a `null` body as the body, and refuses a `null` TTL as not an integer.
fn present<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<&'a RawValue>, D::Error> {
    <&RawValue>::deserialize(d).map(Some)
}

impl Validator {
    pub fn new(limits: LimitsConf, encryption: bool) -> Self {
        Self { limits, encryption }
    }

    /// A page of pools or flavors: Zaqar's `max_pools_per_page` and `max_flavors_per_page`
    /// (both 20, not configurable here), with the text of its `pool_listing`.
    pub fn admin_page(&self, params: &Params) -> Result<u32, ApiError> {
        const MAX: u32 = 20;
        page_limit_or(
            params,
            self.limits.default_queue_paging.min(MAX),
            MAX,
            listing_limit_error,
        )
    }

    pub fn queue_page(&self, params: &Params) -> Result<u32, ApiError> {
        page_limit_or(
            params,
            self.limits.default_queue_paging,
            self.limits.max_queues_per_page,
            listing_limit_error,
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

    /// Message ids of `GET ?ids=`: at most a page (Zaqar checks them as a page limit).
    pub fn ids_to_get(&self, ids: Vec<String>) -> Result<Vec<String>, ApiError> {
        let max = self.limits.max_messages_per_page;
        if ids.is_empty() || ids.len() > max as usize {
            return Err(limit_error(max));
        }
        Ok(ids)
    }

    /// Message ids of `DELETE ?ids=`: at least one, at most a page.
    pub fn ids_to_delete(&self, ids: Vec<String>) -> Result<Vec<String>, ApiError> {
        let max = self.limits.max_messages_per_page;
        if ids.is_empty() || ids.len() > max as usize {
            return Err(ApiError::invalid(format!(
                "ids parameter should have at least 1 and not greater than {max} values."
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
                "The Delay TTL for a message may not exceed {max} seconds,and must be at least 0 seconds long."
            )));
        }
        Ok(delay)
    }

    /// The body of `POST .../messages`: `{"messages": [{"body": ..., "ttl": n, "delay": n}]}`.
    pub fn messages(&self, body: &[u8]) -> Result<Vec<NewMessage>, ApiError> {
        let object = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{');
        if let Some(post) = object
            .then(|| serde_json::from_slice::<WellFormedPost>(body).ok())
            .flatten()
        {
            return self.new_messages(post.messages);
        }
        let none_found = || ApiError::invalid("No messages were found in the request body.");
        let raw: &RawValue = super::extract::parse_json(body)?;
        if !raw.get().trim_start().starts_with('{') {
            return Err(none_found());
        }
        let envelope: PostBody = super::extract::parse_json(raw.get().as_bytes())?;
        let list = envelope.messages.ok_or_else(none_found)?;
        if !list.get().trim_start().starts_with('[') {
            return Err(ApiError::bad_body("Document type not supported."));
        }
        let items: Vec<PostedMessage> = serde_json::from_str(list.get())
            .map_err(|_| ApiError::bad_body("Each message must be a JSON object."))?;
        self.new_messages(items)
    }

    fn new_messages(&self, items: Vec<PostedMessage>) -> Result<Vec<NewMessage>, ApiError> {
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
                return Err(ApiError::bad_body("Document type not supported."));
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

    /// Queue metadata on PUT: an object within the size limit whose reserved keys hold
    /// valid values (400 "Invalid API request", as Zaqar answers a PUT).
    pub fn queue_metadata(&self, queue: &str, metadata: &Metadata) -> Result<(), ApiError> {
        self.metadata_size(metadata)?;
        self.reserved_metadata(queue, metadata)
            .map_err(ApiError::invalid)
    }

    /// Queue metadata after a PATCH (400 "Invalid request body", as Zaqar answers a PATCH).
    pub fn patched_metadata(&self, queue: &str, metadata: &Metadata) -> Result<(), ApiError> {
        self.metadata_size(metadata)?;
        self.reserved_metadata(queue, metadata)
            .map_err(ApiError::bad_body)
    }

    fn metadata_size(&self, metadata: &Metadata) -> Result<(), ApiError> {
        let l = &self.limits;
        let text = Value::Object(metadata.clone()).to_string();
        self.depth(&text, "Queue metadata")?;
        if text.len() as u64 > l.max_queue_metadata {
            return Err(ApiError::invalid(format!(
                "Queue metadata is too large. Max size: {}",
                l.max_queue_metadata
            )));
        }
        Ok(())
    }

    /// The reserved keys, checked as Zaqar's `queue_metadata_putting` checks them: a value
    /// Python finds false (null, false, 0, "", [], {}) skips the type check, never the range
    /// check; a boolean is no integer here (Python's `True` is, and then fails the range).
    /// Beyond Zaqar: `_max_claim_count` below 1 (no message would ever be delivered), a
    /// `_dead_letter_queue` that names no other valid queue, a `_flavor` that is no string,
    /// and encryption on a server without a key are refused too.
    fn reserved_metadata(&self, queue: &str, metadata: &Metadata) -> Result<(), String> {
        let l = &self.limits;
        let int = |key: &str| -> Result<Option<i64>, String> {
            match metadata.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::Bool(b)) => Ok(Some(i64::from(*b))),
                Some(v) => v
                    .as_i64()
                    .map(Some)
                    .ok_or_else(|| format!("{key} must be integer.")),
            }
        };
        if let Some(ttl) = int(DEFAULT_MESSAGE_TTL)? {
            if ttl < l.min_message_ttl || ttl > l.max_message_ttl {
                return Err(format!(
                    "_default_message_ttl can not exceed {} seconds, and must be at least {} seconds long.",
                    l.max_message_ttl, l.min_message_ttl
                ));
            }
        }
        if let Some(size) = int(MAX_MESSAGES_POST_SIZE)? {
            if size < 1 || size as u64 > l.max_messages_post_size {
                return Err(format!(
                    "_max_messages_post_size can not exceed {},  and must be at least greater than 0.",
                    l.max_messages_post_size
                ));
            }
        }
        if let Some(count) = int(MAX_CLAIM_COUNT)? {
            if count < 1 {
                return Err("_max_claim_count must be at least 1.".into());
            }
        }
        if let Some(ttl) = int(DEAD_LETTER_TTL)? {
            if ttl < l.min_message_ttl || ttl > l.max_message_ttl {
                return Err(format!(
                    "The TTL for a message may not exceed {} seconds, and must be at least {} seconds long.",
                    l.max_message_ttl, l.min_message_ttl
                ));
            }
        }
        if let Some(delay) = int(DEFAULT_MESSAGE_DELAY)? {
            if !(0..=l.max_message_delay).contains(&delay) {
                return Err(format!(
                    "The TTL can not exceed {} seconds, and must be at least 0 seconds long.",
                    l.max_message_delay
                ));
            }
        }
        match metadata.get(DEAD_LETTER_QUEUE) {
            None | Some(Value::Null) => {}
            Some(Value::String(name)) if valid_queue_name(name) && name != queue => {}
            Some(_) => {
                return Err(
                    "_dead_letter_queue must be the name of another queue of the project.".into(),
                )
            }
        }
        match metadata.get(ENCRYPT_MESSAGES) {
            Some(Value::Bool(true)) if !self.encryption => {
                return Err(
                    "_enable_encrypt_messages can not be true: this server has no encryption key ([encryption] keys)."
                        .into(),
                )
            }
            Some(v) if truthy(v) && !v.is_boolean() => {
                return Err("_enable_encrypt_messages must be boolean.".into())
            }
            _ => {}
        }
        match metadata.get(FLAVOR) {
            None | Some(Value::Null | Value::String(_)) => {}
            Some(_) => return Err("_flavor must be a string.".into()),
        }
        retry_policy(metadata.get(RETRY_POLICY))
    }

    /// A subscription's body as Zaqar's `subscription_posting` (`posting`) or
    /// `subscription_patching` checks it, with its texts. Where Zaqar lets a value through
    /// that it then fails on (a `ttl` of 0, an empty subscriber, a list for a body, which
    /// answer 500 or 503 there), the value is refused here with the check's own text.
    pub fn subscription(&self, doc: &Value, posting: bool) -> Result<SubscriptionFields, ApiError> {
        if posting {
            if let Value::Object(m) = doc {
                if !m.contains_key("subscriber") {
                    return Err(ApiError::invalid("Missing parameter subscriber in body."));
                }
            }
        }
        if !truthy(doc) {
            return Err(ApiError::invalid("No subscription to create."));
        }
        let Value::Object(m) = doc else {
            return Err(ApiError::invalid("Subscriptions must be a dict."));
        };
        let subscriber = match m.get("subscriber") {
            None => None,
            Some(Value::String(s)) => {
                self.subscriber(s)?;
                Some(s.clone())
            }
            Some(Value::Null) if !posting => None,
            Some(_) => return Err(subscriber_type_error()),
        };
        let options = match m.get("options") {
            None | Some(Value::Null) => None,
            Some(options @ Value::Object(o)) => {
                self.depth(&options.to_string(), "Subscription options")?;
                retry_policy(o.get(RETRY_POLICY)).map_err(ApiError::invalid)?;
                Some(o.clone())
            }
            Some(_) => return Err(ApiError::invalid("Options must be a dict.")),
        };
        let ttl = match m.get("ttl") {
            None | Some(Value::Null) => None,
            Some(v) => Some(self.subscription_ttl(v)?),
        };
        Ok(SubscriptionFields {
            subscriber,
            ttl,
            options,
        })
    }

    fn subscriber(&self, subscriber: &str) -> Result<(), ApiError> {
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
        Err(subscriber_type_error())
    }

    /// A subscription TTL: an integer (Python counts `true` as 1) of at least the minimum,
    /// and small enough that now plus it is a date Python can hold (year 9999).
    fn subscription_ttl(&self, ttl: &Value) -> Result<i64, ApiError> {
        /// 9999-12-31T23:59:59Z, Python's `datetime.max` to the second.
        const MAX_DATE: i64 = 253_402_300_799;
        let too_long = || {
            ApiError::invalid(
                "The TTL seconds for a subscription plus current time must be less than 9999-12-31 23:59:59.999999.",
            )
        };
        let ttl = match ttl {
            Value::Bool(b) => i64::from(*b),
            Value::Number(n) if n.is_i64() => n.as_i64().unwrap_or_default(),
            Value::Number(n) if n.is_u64() => return Err(too_long()),
            _ => return Err(ApiError::invalid("TTL must be an integer.")),
        };
        let min = self.limits.min_subscription_ttl;
        if ttl < min {
            return Err(ApiError::invalid(format!(
                "The TTL for a subscription must be at least {min} seconds long."
            )));
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if ttl > MAX_DATE - now {
            return Err(too_long());
        }
        Ok(ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v() -> Validator {
        Validator::new(LimitsConf::default(), false)
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
        // An escaped key is the key; other keys are ignored, also around a duplicate.
        let ok = v
            .messages(br#"{"x": 1, "messages": [{"b\u006fdy": [1], "extra": {"ttl": 1}}]}"#)
            .unwrap();
        assert_eq!((ok[0].body.get(), ok[0].ttl), ("[1]", None));
        assert_eq!(
            err(v.messages(br#"{"messages": [{"body": 1, "body": 2}]}"#)),
            "Each message must be a JSON object."
        );
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
        let p = |q: &str| Params::from_query(q);
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
        v.queue_metadata("q", &m(r#"{"_default_message_ttl": 3600, "x": 1}"#))
            .unwrap();
        assert!(v
            .queue_metadata("q", &m(r#"{"_default_message_ttl": 5}"#))
            .is_err());
        assert!(v
            .queue_metadata("q", &m(r#"{"_max_messages_post_size": 262145}"#))
            .is_err());
        assert!(v
            .queue_metadata("q", &m(r#"{"_default_message_delay": "x"}"#))
            .is_err());
    }

    #[test]
    fn subscription_bodies() {
        let v = v();
        let check = |doc: &str, posting: bool| {
            v.subscription(&serde_json::from_str(doc).unwrap(), posting)
                .map(|f| (f.subscriber, f.ttl, f.options.map(|o| o.len())))
                .map_err(|e| e.description.unwrap())
        };
        assert_eq!(
            check(
                r#"{"subscriber": "HTTP://h/x", "ttl": 60, "options": {}}"#,
                true
            ),
            Ok((Some("HTTP://h/x".into()), Some(60), Some(0)))
        );
        assert_eq!(
            check(r#"{"subscriber": "mailto:ops@example.com"}"#, true),
            Ok((Some("mailto:ops@example.com".into()), None, None))
        );
        assert_eq!(
            check("{}", true).unwrap_err(),
            "Missing parameter subscriber in body."
        );
        assert_eq!(
            check("{}", false).unwrap_err(),
            "No subscription to create."
        );
        assert_eq!(
            check("[]", false).unwrap_err(),
            "No subscription to create."
        );
        assert_eq!(
            check("[1]", true).unwrap_err(),
            "Subscriptions must be a dict."
        );
        assert_eq!(
            check(r#"{"subscriber": "ftp://x"}"#, true).unwrap_err(),
            "The subscriber type of subscription must be supported in the list \
             ['http', 'https', 'mailto', 'trust+http', 'trust+https']."
        );
        assert!(check(r#"{"subscriber": 5}"#, true).is_err());
        assert!(check(r#"{"subscriber": ""}"#, true).is_err());
        assert_eq!(
            check(r#"{"options": 5}"#, false).unwrap_err(),
            "Options must be a dict."
        );
        assert_eq!(
            check(r#"{"ttl": "x"}"#, false).unwrap_err(),
            "TTL must be an integer."
        );
        assert_eq!(
            check(r#"{"ttl": 1.5}"#, false).unwrap_err(),
            "TTL must be an integer."
        );
        let too_short = "The TTL for a subscription must be at least 60 seconds long.";
        assert_eq!(check(r#"{"ttl": true}"#, false).unwrap_err(), too_short);
        assert_eq!(check(r#"{"ttl": 0}"#, false).unwrap_err(), too_short);
        assert!(check(r#"{"ttl": 99999999999999}"#, false)
            .unwrap_err()
            .contains("9999-12-31 23:59:59.999999"));
        assert!(check(r#"{"ttl": 18446744073709551615}"#, false)
            .unwrap_err()
            .contains("9999-12-31"));
        assert_eq!(
            check(r#"{"ttl": 9999999999}"#, false),
            Ok((None, Some(9_999_999_999), None))
        );
        assert_eq!(check(r#"{"colour": 1}"#, false), Ok((None, None, None)));
    }
}
