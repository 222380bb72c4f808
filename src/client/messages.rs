//! Messages: post, list, get, delete, pop.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{last_segment, paging, Client, Page, Result};

/// A message to post. `ttl` and `delay` in seconds; `None` takes the queue's default.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NewMessage {
    pub body: Value,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub delay: Option<i64>,
}

impl NewMessage {
    pub fn new(body: Value) -> Self {
        Self {
            body,
            ttl: None,
            delay: None,
        }
    }
}

/// A message as listed, fetched, claimed or popped.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Message {
    pub id: String,
    /// Carries `?claim_id=` when the message came with a claim; popped messages have none.
    #[serde(default)]
    pub href: String,
    pub ttl: i64,
    pub age: i64,
    pub body: Value,
}

impl Message {
    /// The claim id in the href, when the message came with a claim.
    pub fn claim_id(&self) -> Option<&str> {
        self.href.split_once("claim_id=").map(|(_, c)| c)
    }
}

/// Which messages a listing returns.
#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub limit: Option<u32>,
    pub marker: Option<String>,
    /// Include this client's own messages.
    pub echo: bool,
    pub include_claimed: bool,
    pub include_delayed: bool,
}

impl Client {
    /// Posts a batch (atomically) and answers the new ids, in order.
    pub async fn post(&self, queue: &str, messages: &[NewMessage]) -> Result<Vec<String>> {
        let body = json!({ "messages": messages });
        let r = self
            .call(
                Method::POST,
                &format!("/v2/queues/{queue}/messages"),
                Some(&body),
            )
            .await?;
        #[derive(Deserialize)]
        struct Posted {
            resources: Vec<String>,
        }
        let posted: Posted = self.json(r).await?;
        Ok(posted
            .resources
            .iter()
            .map(|href| last_segment(href).to_owned())
            .collect())
    }

    pub async fn list_messages(&self, queue: &str, opts: &ListOptions) -> Result<Page<Message>> {
        let mut query = paging(opts.marker.as_deref(), opts.limit);
        for (name, on) in [
            ("echo", opts.echo),
            ("include_claimed", opts.include_claimed),
            ("include_delayed", opts.include_delayed),
        ] {
            if on {
                query.push((name, "true".into()));
            }
        }
        let rb = self
            .request(Method::GET, &format!("/v2/queues/{queue}/messages"))
            .query(&query);
        let r = self.send(rb).await?;
        let listing: Value = self.json(r).await?;
        let items: Vec<Message> =
            serde_json::from_value(listing["messages"].clone()).map_err(|e| self.protocol(e))?;
        let next = listing["links"]
            .as_array()
            .and_then(|l| l.first())
            .and_then(|l| l["href"].as_str())
            .and_then(|h| h.split("marker=").nth(1))
            .map(|m| m.split('&').next().unwrap_or(m).to_owned())
            .filter(|_| !items.is_empty());
        Ok(Page { items, next })
    }

    pub async fn get_message(&self, queue: &str, id: &str) -> Result<Message> {
        let r = self
            .call(
                Method::GET,
                &format!("/v2/queues/{queue}/messages/{id}"),
                None,
            )
            .await?;
        self.json(r).await
    }

    /// Deletes one message; a claimed one needs its claim id.
    pub async fn delete_message(
        &self,
        queue: &str,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let mut rb = self.request(Method::DELETE, &format!("/v2/queues/{queue}/messages/{id}"));
        if let Some(c) = claim_id {
            rb = rb.query(&[("claim_id", c)]);
        }
        self.send(rb).await.map(|_| ())
    }

    /// Removes up to `count` unclaimed messages from the head of the queue and answers them.
    pub async fn pop(&self, queue: &str, count: u32) -> Result<Vec<Message>> {
        let rb = self
            .request(Method::DELETE, &format!("/v2/queues/{queue}/messages"))
            .query(&[("pop", count)]);
        let r = self.send(rb).await?;
        if r.status() == StatusCode::NO_CONTENT {
            return Ok(Vec::new());
        }
        let popped: Value = self.json(r).await?;
        serde_json::from_value(popped["messages"].clone()).map_err(|e| self.protocol(e))
    }
}
