//! Subscriptions: create, list, show, update, delete.

use reqwest::Method;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::{paging, Client, Page, Result};

/// A subscription to create: where notifications of a queue's messages go.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct NewSubscription {
    /// `http(s)://…`, `mailto:…` or `trust+http(s)://…`.
    pub subscriber: String,
    /// Seconds it lives; `None` takes the server's default.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub ttl: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub options: Option<Map<String, Value>>,
}

/// A subscription as shown.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Subscription {
    pub id: String,
    /// The queue it belongs to.
    pub source: String,
    pub subscriber: String,
    pub ttl: i64,
    pub age: i64,
    #[serde(default)]
    pub options: Map<String, Value>,
    #[serde(default)]
    pub confirmed: bool,
}

impl Client {
    /// Subscribes; answers the subscription's id (also when the subscriber was already
    /// subscribed: Zaqar answers 409 then, which is an error here).
    pub async fn create_subscription(&self, queue: &str, new: &NewSubscription) -> Result<String> {
        let body = serde_json::to_value(new).map_err(|e| self.protocol(e))?;
        let r = self
            .call(
                Method::POST,
                &format!("/v2/queues/{queue}/subscriptions"),
                Some(&body),
            )
            .await?;
        #[derive(Deserialize)]
        struct Created {
            subscription_id: String,
        }
        let created: Created = self.json(r).await?;
        Ok(created.subscription_id)
    }

    pub async fn list_subscriptions(
        &self,
        queue: &str,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Subscription>> {
        let query = paging(marker, limit);
        let path = format!("/v2/queues/{queue}/subscriptions");
        let r = self
            .send(self.request(Method::GET, &path).query(&query))
            .await?;
        #[derive(Deserialize)]
        struct Listing {
            subscriptions: Vec<Subscription>,
        }
        let page: Listing = self.json(r).await?;
        let next = page.subscriptions.last().map(|s| s.id.clone());
        Ok(Page {
            items: page.subscriptions,
            next,
        })
    }

    pub async fn get_subscription(&self, queue: &str, id: &str) -> Result<Subscription> {
        let path = format!("/v2/queues/{queue}/subscriptions/{id}");
        let r = self.call(Method::GET, &path, None).await?;
        self.json(r).await
    }

    /// Changes what is given of subscriber, ttl and options (options are replaced whole).
    pub async fn update_subscription(
        &self,
        queue: &str,
        id: &str,
        subscriber: Option<&str>,
        ttl: Option<i64>,
        options: Option<&Map<String, Value>>,
    ) -> Result<()> {
        let mut patch = Map::new();
        if let Some(s) = subscriber {
            patch.insert("subscriber".into(), json!(s));
        }
        if let Some(t) = ttl {
            patch.insert("ttl".into(), json!(t));
        }
        if let Some(o) = options {
            patch.insert("options".into(), Value::Object(o.clone()));
        }
        let path = format!("/v2/queues/{queue}/subscriptions/{id}");
        self.call(Method::PATCH, &path, Some(&Value::Object(patch)))
            .await
            .map(|_| ())
    }

    pub async fn delete_subscription(&self, queue: &str, id: &str) -> Result<()> {
        let path = format!("/v2/queues/{queue}/subscriptions/{id}");
        self.call(Method::DELETE, &path, None).await.map(|_| ())
    }
}
