//! A typed client of the Zaqar v2 API, for the `zaqar` command line, the examples, the load
//! tool and tests. It works against this server and against Zaqar itself.
//!
//! Every request carries `Client-ID` and `X-Project-ID`; with [`Client::with_admin_role`]
//! also `X-Roles: admin` (trusted by servers in noauth mode). With
//! [`Client::with_profile`] every request is signed with OSProfiler trace headers, the same
//! bytes the osprofiler library sends for the same ids, all under one trace id
//! ([`Client::trace_id`]), as `openstack --os-profile KEY` does.
//!
//! Errors keep what the server said: [`ClientError::Api`] has its status, title and
//! description; a server that cannot be reached is [`ClientError::Connect`].

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use thiserror::Error;
use uuid::Uuid;

#[derive(Debug, Error)]
pub enum ClientError {
    /// The server answered with an error (its `title` and `description`).
    #[error("{title}: {description}")]
    Api {
        status: u16,
        title: String,
        description: String,
    },
    /// The server could not be reached.
    #[error("cannot reach {url}: {reason}")]
    Connect { url: String, reason: String },
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// A profile was asked for, but this build has no profiler (feature `profiler`).
    #[error("this build cannot sign trace headers (built without the profiler feature)")]
    NoProfiler,
}

pub type Result<T, E = ClientError> = std::result::Result<T, E>;

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

/// A claim and the messages it holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Claim {
    pub id: String,
    pub ttl: i64,
    pub age: i64,
    pub messages: Vec<Message>,
}

/// One queue of a listing.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct QueueEntry {
    pub name: String,
    pub href: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub metadata: Option<Value>,
}

/// A page of a listing and the marker of the next one.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass it as `marker` for the next page; `None` after an empty page.
    pub next: Option<String>,
}

/// A storage pool (admin).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Pool {
    pub name: String,
    pub uri: String,
    pub weight: u32,
    #[serde(default)]
    pub flavor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub options: Option<Value>,
}

/// A flavor (admin).
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct Flavor {
    pub name: String,
    pub pool_list: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub capabilities: Option<Vec<String>>,
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

/// The OSProfiler key and the trace every request of this client joins.
#[derive(Clone)]
#[cfg_attr(not(feature = "profiler"), allow(dead_code))]
struct Profile {
    key: String,
    base_id: Uuid,
}

#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    url: String,
    project: String,
    client_id: String,
    admin: bool,
    profile: Option<Profile>,
}

impl std::fmt::Debug for Client {
    // Never prints the profile key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("url", &self.url)
            .field("project", &self.project)
            .field("client_id", &self.client_id)
            .field("admin", &self.admin)
            .field("trace_id", &self.trace_id())
            .finish()
    }
}

/// The claim id at the end of a claim's `Location`.
fn last_segment(location: &str) -> &str {
    location.rsplit('/').next().unwrap_or(location)
}

impl Client {
    /// A client of the server at `url` (e.g. `http://127.0.0.1:8888`) acting for `project`,
    /// with a fresh client id.
    pub fn new(url: impl Into<String>, project: impl Into<String>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(60))
            .build()
            .unwrap_or_default();
        Self {
            http,
            url: url.into().trim_end_matches('/').to_owned(),
            project: project.into(),
            client_id: Uuid::new_v4().to_string(),
            admin: false,
            profile: None,
        }
    }

    /// Sends through this HTTP client (connection pool and timeouts of the caller's
    /// choosing, e.g. one connection per load-generator task).
    pub fn with_http(mut self, http: reqwest::Client) -> Self {
        self.http = http;
        self
    }

    /// The `Client-ID` to send (a UUID); `echo` compares messages' posters with it.
    pub fn with_client_id(mut self, client_id: impl Into<String>) -> Self {
        self.client_id = client_id.into();
        self
    }

    /// Sends `X-Roles: admin` (pools, flavors, health).
    pub fn with_admin_role(mut self, admin: bool) -> Self {
        self.admin = admin;
        self
    }

    /// Signs every request with OSProfiler headers made with `key`, all in one new trace.
    /// An empty key signs nothing, as osprofiler does.
    pub fn with_profile(mut self, key: &str) -> Result<Self> {
        if !cfg!(feature = "profiler") {
            return Err(ClientError::NoProfiler);
        }
        self.profile = (!key.is_empty()).then(|| Profile {
            key: key.to_owned(),
            base_id: Uuid::new_v4(),
        });
        Ok(self)
    }

    /// The trace the requests join, when profiling.
    pub fn trace_id(&self) -> Option<Uuid> {
        self.profile.as_ref().map(|p| p.base_id)
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    pub fn project(&self) -> &str {
        &self.project
    }

    pub fn client_id(&self) -> &str {
        &self.client_id
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut rb = self
            .http
            .request(method, format!("{}{path}", self.url))
            .header("Client-ID", &self.client_id)
            .header("X-Project-ID", &self.project);
        if self.admin {
            rb = rb.header("X-Roles", "admin");
        }
        #[cfg(feature = "profiler")]
        if let Some(p) = &self.profile {
            // The first hop of a trace: its parent is the trace itself, as osprofiler's
            // `get_trace_id_headers()` right after `profiler.init(key)`.
            let id = p.base_id.to_string();
            let (info, tag) = crate::profiler::hmac::sign(&id, &id, &p.key);
            rb = rb.header("X-Trace-Info", info).header("X-Trace-HMAC", tag);
        }
        rb
    }

    fn with_json(rb: RequestBuilder, body: &Value) -> RequestBuilder {
        rb.header("Content-Type", "application/json")
            .body(body.to_string())
    }

    /// Sends, and turns an error status into [`ClientError::Api`].
    async fn send(&self, rb: RequestBuilder) -> Result<Response> {
        let r = rb.send().await.map_err(|e| ClientError::Connect {
            url: self.url.clone(),
            reason: root_cause(&e),
        })?;
        if r.status().is_success() || r.status() == StatusCode::MULTIPLE_CHOICES {
            return Ok(r);
        }
        let status = r.status();
        let text = r.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let field = |k: &str| body.get(k).and_then(Value::as_str).map(str::to_owned);
        Err(ClientError::Api {
            status: status.as_u16(),
            title: field("title")
                .unwrap_or_else(|| status.canonical_reason().unwrap_or("Error").to_owned()),
            description: field("description").unwrap_or_else(|| format!("HTTP {status}")),
        })
    }

    async fn json<T: DeserializeOwned>(&self, r: Response) -> Result<T> {
        let text = r.text().await.map_err(|e| self.protocol(e))?;
        serde_json::from_str(&text).map_err(|e| self.protocol(e))
    }

    fn protocol(&self, e: impl std::fmt::Display) -> ClientError {
        ClientError::Protocol {
            url: self.url.clone(),
            reason: e.to_string(),
        }
    }

    async fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        let rb = self.request(method, path);
        let rb = match body {
            Some(b) => Self::with_json(rb, b),
            None => rb,
        };
        self.send(rb).await
    }

    // ---- service -------------------------------------------------------------------------

    /// `true` when the server and its storage answer.
    pub async fn ping(&self) -> Result<()> {
        self.call(Method::GET, "/v2/ping", None).await.map(|_| ())
    }

    /// The health document (admin).
    pub async fn health(&self) -> Result<Value> {
        let r = self.call(Method::GET, "/v2/health", None).await?;
        self.json(r).await
    }

    // ---- queues --------------------------------------------------------------------------

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
        let mut query = vec![];
        if let Some(m) = marker {
            query.push(("marker", m.to_owned()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
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

    // ---- messages ------------------------------------------------------------------------

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
        let mut query: Vec<(&str, String)> = vec![];
        if let Some(l) = opts.limit {
            query.push(("limit", l.to_string()));
        }
        if let Some(m) = &opts.marker {
            query.push(("marker", m.clone()));
        }
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

    // ---- claims --------------------------------------------------------------------------

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

    // ---- pools and flavors (admin) -------------------------------------------------------

    pub async fn create_pool(
        &self,
        name: &str,
        uri: &str,
        weight: u32,
        flavor: Option<&str>,
        options: Option<&Value>,
    ) -> Result<()> {
        let mut body = json!({"uri": uri, "weight": weight});
        if let Some(f) = flavor {
            body["flavor"] = f.into();
        }
        if let Some(o) = options {
            body["options"] = o.clone();
        }
        self.call(Method::PUT, &format!("/v2/pools/{name}"), Some(&body))
            .await
            .map(|_| ())
    }

    pub async fn get_pool(&self, name: &str) -> Result<Pool> {
        let r = self
            .call(
                Method::GET,
                &format!("/v2/pools/{name}?detailed=true"),
                None,
            )
            .await?;
        self.json(r).await
    }

    pub async fn list_pools(&self, marker: Option<&str>, limit: Option<u32>) -> Result<Page<Pool>> {
        let r = self.list_admin("/v2/pools", marker, limit).await?;
        let items: Vec<Pool> =
            serde_json::from_value(r["pools"].clone()).map_err(|e| self.protocol(e))?;
        let next = items.last().map(|p| p.name.clone());
        Ok(Page { items, next })
    }

    /// Changes the fields given in `patch` (`weight`, `uri`, `flavor`, `options`).
    pub async fn update_pool(&self, name: &str, patch: &Value) -> Result<Pool> {
        let r = self
            .call(Method::PATCH, &format!("/v2/pools/{name}"), Some(patch))
            .await?;
        self.json(r).await
    }

    pub async fn delete_pool(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("/v2/pools/{name}"), None)
            .await
            .map(|_| ())
    }

    pub async fn create_flavor(&self, name: &str, pools: &[String]) -> Result<()> {
        let body = json!({ "pool_list": pools, "capabilities": {} });
        self.call(Method::PUT, &format!("/v2/flavors/{name}"), Some(&body))
            .await
            .map(|_| ())
    }

    pub async fn get_flavor(&self, name: &str) -> Result<Flavor> {
        let r = self
            .call(Method::GET, &format!("/v2/flavors/{name}"), None)
            .await?;
        self.json(r).await
    }

    pub async fn list_flavors(
        &self,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Page<Flavor>> {
        let r = self.list_admin("/v2/flavors", marker, limit).await?;
        let items: Vec<Flavor> =
            serde_json::from_value(r["flavors"].clone()).map_err(|e| self.protocol(e))?;
        let next = items.last().map(|f| f.name.clone());
        Ok(Page { items, next })
    }

    /// Replaces the flavor's pools.
    pub async fn update_flavor(&self, name: &str, pools: &[String]) -> Result<Flavor> {
        let body = json!({ "pool_list": pools });
        let r = self
            .call(Method::PATCH, &format!("/v2/flavors/{name}"), Some(&body))
            .await?;
        self.json(r).await
    }

    pub async fn delete_flavor(&self, name: &str) -> Result<()> {
        self.call(Method::DELETE, &format!("/v2/flavors/{name}"), None)
            .await
            .map(|_| ())
    }

    async fn list_admin(
        &self,
        path: &str,
        marker: Option<&str>,
        limit: Option<u32>,
    ) -> Result<Value> {
        let mut query = vec![("detailed", "true".to_owned())];
        if let Some(m) = marker {
            query.push(("marker", m.to_owned()));
        }
        if let Some(l) = limit {
            query.push(("limit", l.to_string()));
        }
        let r = self
            .send(self.request(Method::GET, path).query(&query))
            .await?;
        self.json(r).await
    }
}

/// The innermost cause of a transport error ("Connection refused"), which is what a user
/// needs to read.
fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claim_id_comes_from_the_href() {
        let m = Message {
            id: "m".into(),
            href: "/v2/queues/q/messages/m?claim_id=c1".into(),
            ttl: 60,
            age: 0,
            body: Value::Null,
        };
        assert_eq!(m.claim_id(), Some("c1"));
        assert_eq!(last_segment("/v2/queues/q/claims/abc"), "abc");
    }

    #[test]
    #[cfg(feature = "profiler")]
    fn debug_never_shows_the_profile_key() {
        let c = Client::new("http://x", "p")
            .with_profile("s3cret-key")
            .unwrap();
        let shown = format!("{c:?}");
        assert!(!shown.contains("s3cret-key"), "{shown}");
        assert!(c.trace_id().is_some());
        let c = Client::new("http://x", "p").with_profile("").unwrap();
        assert!(c.trace_id().is_none(), "an empty key signs nothing");
    }
}
