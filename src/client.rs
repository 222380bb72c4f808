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

mod admin;
mod claims;
mod messages;
mod queues;
mod subscriptions;

use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use thiserror::Error;
use uuid::Uuid;

pub use admin::{Flavor, Pool};
pub use claims::Claim;
pub use messages::{ListOptions, Message, NewMessage};
pub use queues::QueueEntry;
pub use subscriptions::{NewSubscription, Subscription};

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

/// A page of a listing and the marker of the next one.
#[derive(Clone, Debug, Serialize, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Pass it as `marker` for the next page; `None` after an empty page.
    pub next: Option<String>,
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
    /// A Keystone token, sent as `X-Auth-Token` (servers in keystone mode need one).
    token: Option<String>,
}

impl std::fmt::Debug for Client {
    // Never prints the profile key or the token.
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

/// The query of one page of a listing.
fn paging(marker: Option<&str>, limit: Option<u32>) -> Vec<(&'static str, String)> {
    let mut query = vec![];
    if let Some(m) = marker {
        query.push(("marker", m.to_owned()));
    }
    if let Some(l) = limit {
        query.push(("limit", l.to_string()));
    }
    query
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
            token: None,
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

    /// Sends `token` as `X-Auth-Token` with every request.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
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
        if let Some(token) = &self.token {
            rb = rb.header("X-Auth-Token", token);
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
