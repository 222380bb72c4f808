//! Queues: create, list, metadata, stats, delete, purge.

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{paging, Client, ClientError, Page, Result};

/// One queue of a listing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QueueEntry {
    pub name: String,
    pub href: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

impl Client {
    /// Creates a queue; `true` when it did not exist.
    pub async fn create_queue(&self, name: &str, metadata: Option<&Value>) -> Result<bool> {
        let r = self
            .call(Method::PUT, &format!("/v2/queues/{name}"), metadata)
            .await?;
        Ok(r.status() == StatusCode::CREATED)
    }

    pub async fn list_queues(
        &self,
        marker: Option<&str>,
        limit: Option<u32>,
        detailed: bool,
    ) -> Result<Page<QueueEntry>> {
        let mut query = paging(marker, limit);
        if detailed {
            query.push(("detailed", "true".to_owned()));
        }
        let r = self
            .send(self.request(Method::GET, "/v2/queues").query(&query))
            .await?;
        #[derive(Deserialize)]
        struct Listing {
            queues: Vec<QueueEntry>,
        }
        let page: Listing = self.json(r).await?;
        let next = page.queues.last().map(|q| q.name.clone());
        Ok(Page {
            items: page.queues,
            next,
        })
    }

    /// A queue's metadata (with the defaults of the reserved keys).
    pub async fn queue_metadata(&self, name: &str) -> Result<Value> {
        let r = self
            .call(Method::GET, &format!("/v2/queues/{name}"), None)
            .await?;
        self.json(r).await
    }

    /// Sets the given metadata keys (a JSON-patch `add` per key) and answers the result.
    pub async fn set_queue_metadata(&self, name: &str, metadata: &Value) -> Result<Value> {
        let object = metadata.as_object().ok_or_else(|| ClientError::Api {
            status: 400,
            title: "Invalid metadata".into(),
            description: "queue metadata must be a JSON object".into(),
        })?;
        let ops: Vec<Value> = object
            .iter()
            .map(|(k, v)| json!({"op": "add", "path": format!("/metadata/{k}"), "value": v}))
            .collect();
        let rb = self
            .request(Method::PATCH, &format!("/v2/queues/{name}"))
            .header(
                "Content-Type",
                "application/openstack-messaging-v2.0-json-patch",
            )
            .body(Value::Array(ops).to_string());
        let r = self.send(rb).await?;
        self.json(r).await
    }

    pub async fn queue_stats(&self, name: &str) -> Result<Value> {
        let r = self
            .call(Method::GET, &format!("/v2/queues/{name}/stats"), None)
            .await?;
        let stats: Value = self.json(r).await?;
        Ok(stats["messages"].clone())
    }

    pub async fn delete_queue(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("/v2/queues/{name}"), None)
            .await
            .map(|_| ())
    }

    /// Purges `resource_types` (`messages`, `subscriptions`); empty: both.
    /// Purges the named resource types; none named purges both, and says so explicitly
    /// (Zaqar refuses a body without `resource_types`).
    pub async fn purge_queue(&self, name: &str, resource_types: &[String]) -> Result<()> {
        let all = ["messages".to_owned(), "subscriptions".to_owned()];
        let types = if resource_types.is_empty() {
            &all[..]
        } else {
            resource_types
        };
        let body = json!({ "resource_types": types });
        self.call(
            Method::POST,
            &format!("/v2/queues/{name}/purge"),
            Some(&body),
        )
        .await
        .map(|_| ())
    }
}
