//! The v2 resources, one file per resource family (as Zaqar's `transport/wsgi/v2_0/`), and
//! the JSON shapes they share. Handlers are thin: read the request context, validate, send
//! one message through the router, render the answer.
//!
//! - [`home`]: versions, home document, ping, health.
//! - [`queues`]: queues, their metadata, stats and purge.
//! - [`messages`]: post, list, get, delete, pop.
//! - [`claims`]: claim, get, renew, release.
//! - [`subscriptions`]: subscription records (notification delivery comes later).
//! - [`pools`], [`flavors`]: the admin API of pooling.

pub mod claims;
pub mod flavors;
pub mod home;
pub mod messages;
pub mod pools;
pub mod queues;
pub mod share;
pub mod subscriptions;
pub mod trusts;

use actix_web::{HttpResponse, HttpResponseBuilder};
use serde::Serialize;
use serde_json::value::RawValue;
use zaqar_actors::model::{Message, QueueId};

use crate::transport::errors::ApiError;

/// Renders `value` as the JSON body of the answer. Every answer that carries message bodies
/// goes through here: stored bodies are written out verbatim (`RawValue`), never re-parsed
/// into a `serde_json::Value` (which refuses deep nesting), so rendering cannot fail on what
/// a store holds; should serialising fail all the same, the answer is a 503, not a panic.
pub fn render(
    mut builder: HttpResponseBuilder,
    value: &impl Serialize,
) -> Result<HttpResponse, ApiError> {
    let body = serde_json::to_vec(value).map_err(|e| {
        tracing::error!(error = %e, "the answer could not be rendered");
        ApiError::unavailable()
    })?;
    Ok(builder.content_type("application/json").body(body))
}

/// `{"messages": [...]}`, with the page's `links` when it is a listing.
#[derive(Serialize)]
pub struct MessagesOut<T> {
    pub messages: Vec<T>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub links: Option<Vec<Link>>,
}

/// A message as listed, fetched or claimed.
#[derive(Serialize)]
pub struct MessageOut<'a> {
    pub id: &'a str,
    pub href: String,
    pub ttl: i64,
    pub age: i64,
    pub body: &'a RawValue,
    /// `[server] enable_checksum`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
}

impl<'a> MessageOut<'a> {
    /// A message as Zaqar's `format_message` renders it: the live claim that holds it goes
    /// into the href, so a consumer can delete with the href as given.
    pub fn of(queue: &QueueId, m: &'a Message, checksum: bool) -> Self {
        let mut href = message_href(queue, &m.id);
        if let Some(c) = &m.claim_id {
            href.push_str("?claim_id=");
            href.push_str(c);
        }
        Self {
            id: &m.id,
            href,
            ttl: m.ttl,
            age: m.age,
            body: &m.body,
            checksum: checksum.then(|| crate::transport::checksum::checksum(m.body.get())),
        }
    }
}

pub fn queue_href(name: &str) -> String {
    format!("/v2/queues/{name}")
}

pub fn message_href(queue: &QueueId, id: &str) -> String {
    format!("/v2/queues/{}/messages/{id}", queue.name)
}

#[derive(Serialize)]
pub struct Link {
    pub rel: &'static str,
    pub href: String,
}

/// The `links` of a page: a `next` link when the page is not empty.
pub fn next_links(base: &str, params: &super::extract::Params, last: Option<&str>) -> Vec<Link> {
    last.map(|marker| Link {
        rel: "next",
        href: format!("{base}?{}", params.next_page(marker)),
    })
    .into_iter()
    .collect()
}

/// `2026-11-25T01:54:52Z` from milliseconds since the Unix epoch.
pub fn iso8601(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's days-to-civil conversion.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso8601_formats_utc() {
        assert_eq!(iso8601(0), "1970-01-01T00:00:00Z");
        assert_eq!(iso8601(1_795_571_692_000), "2026-11-25T01:54:52Z");
        assert_eq!(iso8601(951_782_400_000), "2000-02-29T00:00:00Z");
    }
}
