//! Claims: create, show, renew, release.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{last_segment, Client, Message, Result};

/// A claim and the messages it holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    pub id: String,
    pub ttl: i64,
    pub age: i64,
    pub messages: Vec<Message>,
}

impl Client {
    /// Claims up to `limit` messages for `ttl` seconds; `None` when none was claimable.
    pub async fn claim(
        &self,
        queue: &str,
        ttl: i64,
        grace: i64,
        limit: Option<u32>,
    ) -> Result<Option<Claim>> {
        let mut rb = self.request(Method::POST, &format!("/v2/queues/{queue}/claims"));
        if let Some(l) = limit {
            rb = rb.query(&[("limit", l)]);
        }
        let r = self
            .send(Self::with_json(rb, &json!({"ttl": ttl, "grace": grace})))
            .await?;
        if r.status() == StatusCode::NO_CONTENT {
            return Ok(None);
        }
        let location = r
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(|l| last_segment(l).to_owned())
            .ok_or_else(|| self.protocol("a claim without Location"))?;
        let body: Value = self.json(r).await?;
        let messages =
            serde_json::from_value(body["messages"].clone()).map_err(|e| self.protocol(e))?;
        Ok(Some(Claim {
            id: location,
            ttl,
            age: 0,
            messages,
        }))
    }

    pub async fn get_claim(&self, queue: &str, id: &str) -> Result<Claim> {
        let r = self
            .call(
                Method::GET,
                &format!("/v2/queues/{queue}/claims/{id}"),
                None,
            )
            .await?;
        let body: Value = self.json(r).await?;
        Ok(Claim {
            id: id.to_owned(),
            ttl: body["ttl"].as_i64().unwrap_or_default(),
            age: body["age"].as_i64().unwrap_or_default(),
            messages: serde_json::from_value(body["messages"].clone())
                .map_err(|e| self.protocol(e))?,
        })
    }

    /// Restarts the claim's TTL (and the grace of its messages).
    pub async fn renew_claim(&self, queue: &str, id: &str, ttl: i64, grace: i64) -> Result<()> {
        let body = json!({"ttl": ttl, "grace": grace});
        self.call(
            Method::PATCH,
            &format!("/v2/queues/{queue}/claims/{id}"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }

    pub async fn release_claim(&self, queue: &str, id: &str) -> Result<()> {
        self.call(
            Method::DELETE,
            &format!("/v2/queues/{queue}/claims/{id}"),
            None,
        )
        .await
        .map(|_| ())
    }
}
