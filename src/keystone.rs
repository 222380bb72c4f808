//! The Keystone v3 client the server validates users' tokens with, as keystonemiddleware's
//! `auth_token` does: `[keystone_authtoken]` in the configuration.
//!
//! The server logs in as its service user (`POST /v3/auth/tokens`, password, scoped to its
//! project), keeps that token and renews it before it expires (or when Keystone refuses it),
//! and validates a user's token with `GET /v3/auth/tokens` (`X-Auth-Token`: its own,
//! `X-Subject-Token`: the user's) at the identity endpoint its catalog names for
//! `interface` and `region_name`. Answers are cached in a bounded LRU keyed by the token's
//! SHA-256 (tokens themselves are not kept): a valid token until
//! `min(expires_at, token_cache_time)`, an invalid one for [`NEGATIVE_CACHE`]. Keystone
//! unreachable or answering nonsense is [`KeystoneError`], which the transport answers 503:
//! never a pass. Tokens and the password never reach logs, spans or errors. A traced
//! request's calls to Keystone are client spans ([`traced_span`]).

use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lru::LruCache;
use serde::Deserialize;
use serde_json::json;
use sha2::{Digest, Sha256};
use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use tracing::Instrument;

use crate::conf::{KeystoneAuthtokenConf, TrusteeConf};

mod trusts;
pub use trusts::TrustError;

/// Tracing target of the Keystone spans (the auth span and the calls): exported with the
/// HTTP layer's, under `[profiler] trace_http`.
pub const KEYSTONE_TARGET: &str = "zaqar::keystone";

/// The span `make` opens, for a traced request whose HTTP span is on: Keystone's work is the
/// transport's. Any other request gets `Span::none()`, so an untraced one opens nothing (a
/// span of its own would be exported as a trace of its own).
pub fn traced_span(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    #[cfg(feature = "profiler")]
    if zaqar_actors::envelope::with_current(|ctx| !ctx.span.is_disabled()) == Some(true) {
        return make();
    }
    #[cfg(not(feature = "profiler"))]
    let _ = make;
    tracing::Span::none()
}

/// Tokens remembered at most (valid and invalid together).
const CACHE_CAPACITY: usize = 10_000;
/// How long a token Keystone refused is refused without asking again.
pub const NEGATIVE_CACHE: Duration = Duration::from_secs(10);
/// The service token is renewed this long before it expires.
const RENEW_BEFORE: Duration = Duration::from_secs(120);

/// Who a valid token speaks for.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Identity {
    pub user_id: String,
    pub user_name: String,
    pub user_domain_id: String,
    pub user_domain_name: String,
    /// Empty for a token scoped to no project.
    pub project_id: String,
    pub project_name: String,
    pub project_domain_id: String,
    pub project_domain_name: String,
    pub roles: Vec<String>,
    pub is_admin_project: bool,
}

/// Keystone could not say whether a token is valid.
#[derive(Debug, thiserror::Error)]
#[error("keystone: {0}")]
pub struct KeystoneError(String);

/// Whether the answer came from the cache, for the auth span.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cached {
    Hit,
    Miss,
}

#[derive(Clone)]
struct Entry {
    until: Instant,
    /// `None`: Keystone refused the token.
    identity: Option<Arc<Identity>>,
}

struct ServiceToken {
    token: String,
    renew_at: Instant,
    /// The identity endpoint (`.../v3`) that validates tokens.
    endpoint: String,
}

pub struct Keystone {
    conf: KeystoneAuthtokenConf,
    service: tokio::sync::Mutex<Option<ServiceToken>>,
    cache: Mutex<LruCache<[u8; 32], Entry>>,
    /// Calls made to Keystone: what the cache saves is visible in tests.
    calls: AtomicU64,
    /// `[trustee]`, when trust subscriptions are enabled.
    trustee: Option<trusts::Trustee>,
    /// Set when a call could not reach Keystone, cleared by the next that does: meanwhile
    /// one call at a time tries (without retries) and the others fail at once, so that a
    /// Keystone that does not answer costs one timeout, not one per request.
    unreachable: AtomicBool,
    probe: tokio::sync::Mutex<()>,
}

impl std::fmt::Debug for Keystone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Keystone")
            .field("auth_url", &self.conf.auth_url)
            .field("username", &self.conf.username)
            .finish_non_exhaustive()
    }
}

/// `auth_url` as the v3 API's root.
fn v3(url: &str) -> String {
    let url = url.trim_end_matches('/');
    if url.ends_with("/v3") {
        url.to_owned()
    } else {
        format!("{url}/v3")
    }
}

#[derive(Deserialize)]
struct TokenBody {
    token: Token,
}

#[derive(Deserialize)]
struct Token {
    expires_at: String,
    #[serde(default)]
    user: Named,
    #[serde(default)]
    project: Option<Named>,
    #[serde(default)]
    roles: Vec<Named>,
    #[serde(default)]
    is_admin_project: Option<bool>,
    #[serde(default)]
    catalog: Vec<Service>,
}

#[derive(Deserialize, Default)]
struct Named {
    #[serde(default)]
    id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    domain: Option<Box<Named>>,
}

#[derive(Deserialize)]
struct Service {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    endpoints: Vec<Endpoint>,
}

#[derive(Deserialize)]
struct Endpoint {
    interface: String,
    url: String,
    #[serde(default)]
    region: Option<String>,
    #[serde(default)]
    region_id: Option<String>,
}

impl Token {
    /// How long from now the token stays valid (zero when already expired).
    fn lifetime(&self) -> Result<Duration, KeystoneError> {
        let at = OffsetDateTime::parse(&self.expires_at, &Rfc3339)
            .map_err(|e| KeystoneError(format!("expires_at {:?}: {e}", self.expires_at)))?;
        let left = at - OffsetDateTime::now_utc();
        Ok(left.try_into().unwrap_or(Duration::ZERO))
    }

    fn identity(self) -> Identity {
        let domain = |n: &Named| n.domain.as_deref().map(|d| (d.id.clone(), d.name.clone()));
        let (user_domain_id, user_domain_name) = domain(&self.user).unwrap_or_default();
        let project = self.project.unwrap_or_default();
        let (project_domain_id, project_domain_name) = domain(&project).unwrap_or_default();
        Identity {
            user_id: self.user.id,
            user_name: self.user.name,
            user_domain_id,
            user_domain_name,
            project_id: project.id,
            project_name: project.name,
            project_domain_id,
            project_domain_name,
            roles: self.roles.into_iter().map(|r| r.name).collect(),
            is_admin_project: self.is_admin_project.unwrap_or(true),
        }
    }
}

impl Keystone {
    pub fn new(conf: &KeystoneAuthtokenConf, trustee: &TrusteeConf) -> Self {
        Self {
            trustee: trustee.enabled().then(|| trusts::Trustee::new(trustee)),
            conf: conf.clone(),
            service: tokio::sync::Mutex::new(None),
            cache: Mutex::new(LruCache::new(
                NonZeroUsize::new(CACHE_CAPACITY).expect("non-zero"),
            )),
            calls: AtomicU64::new(0),
            unreachable: AtomicBool::new(false),
            probe: tokio::sync::Mutex::new(()),
        }
    }

    /// An HTTP client with the configured timeouts (one per worker: connections belong to
    /// the runtime that opened them).
    pub fn http(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(self.conf.http_connect_timeout))
            .timeout(Duration::from_secs(self.conf.http_request_timeout))
            .build()
            .unwrap_or_default()
    }

    /// Calls made to Keystone so far.
    pub fn calls(&self) -> u64 {
        self.calls.load(Ordering::Relaxed)
    }

    /// `WWW-Authenticate` of a 401: where clients get a token.
    pub fn www_authenticate(&self) -> String {
        let uri = if self.conf.www_authenticate_uri.is_empty() {
            &self.conf.auth_url
        } else {
            &self.conf.www_authenticate_uri
        };
        format!("Keystone uri=\"{uri}\"")
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, LruCache<[u8; 32], Entry>> {
        // A panic while holding the lock cannot leave the cache inconsistent.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Who `token` speaks for; `None` when Keystone refuses it.
    pub async fn validate(
        &self,
        http: &reqwest::Client,
        token: &str,
    ) -> Result<(Option<Arc<Identity>>, Cached), KeystoneError> {
        let key: [u8; 32] = Sha256::digest(token.as_bytes()).into();
        if let Some(entry) = self.cache().get(&key) {
            if entry.until > Instant::now() {
                return Ok((entry.identity.clone(), Cached::Hit));
            }
        }
        let (identity, lifetime) = self.ask(http, token, true).await?;
        let keep = match &identity {
            Some(_) => lifetime.min(Duration::from_secs(self.conf.token_cache_time)),
            None => NEGATIVE_CACHE,
        };
        self.cache().put(
            key,
            Entry {
                until: Instant::now() + keep,
                identity: identity.clone(),
            },
        );
        Ok((identity, Cached::Miss))
    }

    async fn ask(
        &self,
        http: &reqwest::Client,
        token: &str,
        may_renew: bool,
    ) -> Result<(Option<Arc<Identity>>, Duration), KeystoneError> {
        let (service, endpoint) = self.service_token(http).await?;
        let url = format!("{endpoint}/auth/tokens");
        let answer = self
            .send("GET", &url, || {
                http.get(&url)
                    .header("X-Auth-Token", &service)
                    .header("X-Subject-Token", token)
            })
            .await?;
        match answer.status().as_u16() {
            200 => {
                let body: TokenBody = answer
                    .json()
                    .await
                    .map_err(|e| KeystoneError(format!("token validation answer: {e}")))?;
                let lifetime = body.token.lifetime()?;
                if lifetime.is_zero() {
                    return Ok((None, Duration::ZERO));
                }
                Ok((Some(Arc::new(body.token.identity())), lifetime))
            }
            // Keystone's answer for a token that is not (or no longer) valid.
            404 => Ok((None, Duration::ZERO)),
            // Our own token was refused: log in again, once.
            401 if may_renew => {
                *self.service.lock().await = None;
                Box::pin(self.ask(http, token, false)).await
            }
            status => Err(KeystoneError(format!(
                "token validation answered {status} (does the service user have the service or admin role?)"
            ))),
        }
    }

    /// Sends, retrying a request that could not reach Keystone; each try is a client span
    /// (method and URL only: tokens travel in headers, which spans never show). While
    /// Keystone is unreachable, only one call at a time tries it, once.
    async fn send(
        &self,
        method: &'static str,
        url: &str,
        request: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, KeystoneError> {
        let probing = match self.unreachable.load(Ordering::Relaxed) {
            true => Some(self.probe.try_lock().map_err(|_| {
                KeystoneError("unreachable (failing fast while one request tries it)".into())
            })?),
            false => None,
        };
        let retries = match probing {
            Some(_) => 0,
            None => self.conf.http_request_max_retries,
        };
        let mut tries = 0;
        loop {
            self.calls.fetch_add(1, Ordering::Relaxed);
            let span = traced_span(|| {
                tracing::info_span!(
                    target: KEYSTONE_TARGET,
                    "keystone",
                    otel.kind = "client",
                    http.request.method = method,
                    url.full = url,
                    http.response.status_code = tracing::field::Empty,
                )
            });
            let sent = request().send().instrument(span.clone()).await;
            if let Ok(answer) = &sent {
                span.record("http.response.status_code", answer.status().as_u16());
            }
            match sent {
                Ok(answer) => {
                    self.unreachable.store(false, Ordering::Relaxed);
                    return Ok(answer);
                }
                Err(e) if tries < retries && e.is_connect() => {
                    tries += 1;
                }
                Err(e) => {
                    self.unreachable.store(true, Ordering::Relaxed);
                    let mut cause: &dyn std::error::Error = &e;
                    while let Some(next) = cause.source() {
                        cause = next;
                    }
                    return Err(KeystoneError(format!("unreachable: {cause}")));
                }
            }
        }
    }

    /// The service user's token and the endpoint that validates tokens, logging in when
    /// there is none or it is about to expire.
    async fn service_token(
        &self,
        http: &reqwest::Client,
    ) -> Result<(String, String), KeystoneError> {
        let mut held = self.service.lock().await;
        if let Some(s) = held.as_ref().filter(|s| s.renew_at > Instant::now()) {
            return Ok((s.token.clone(), s.endpoint.clone()));
        }
        let c = &self.conf;
        let body = json!({"auth": {
            "identity": {"methods": ["password"], "password": {"user": {
                "name": c.username,
                "domain": {"name": c.user_domain_name},
                "password": c.password.0,
            }}},
            "scope": {"project": {"name": c.project_name, "domain": {"name": c.project_domain_name}}},
        }});
        let (token, body) = self
            .login(http, &c.auth_url, &body, "the service user", &c.username)
            .await?;
        let lifetime = body.lifetime()?;
        let endpoint = self.identity_endpoint(&body.catalog);
        *held = Some(ServiceToken {
            token: token.clone(),
            renew_at: Instant::now() + lifetime.saturating_sub(RENEW_BEFORE.min(lifetime / 2)),
            endpoint: endpoint.clone(),
        });
        Ok((token, endpoint))
    }

    /// `POST /v3/auth/tokens` at `auth_url` with `body`: the token and what Keystone says of
    /// it. `who` and `name` only word the error.
    async fn login(
        &self,
        http: &reqwest::Client,
        auth_url: &str,
        body: &serde_json::Value,
        who: &str,
        name: &str,
    ) -> Result<(String, Token), KeystoneError> {
        let url = format!("{}/auth/tokens", v3(auth_url));
        let answer = self
            .send("POST", &url, || http.post(&url).json(body))
            .await?;
        let status = answer.status();
        if !status.is_success() {
            return Err(KeystoneError(format!(
                "{who} {name:?} could not log in: {status}"
            )));
        }
        let token = answer
            .headers()
            .get("X-Subject-Token")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .ok_or_else(|| KeystoneError("login answered no X-Subject-Token".into()))?;
        let body: TokenBody = answer
            .json()
            .await
            .map_err(|e| KeystoneError(format!("login answer: {e}")))?;
        Ok((token, body.token))
    }

    /// The catalog's identity endpoint for `interface` (and `region_name`); `auth_url`
    /// without one.
    fn identity_endpoint(&self, catalog: &[Service]) -> String {
        let c = &self.conf;
        let region_ok = |e: &Endpoint| {
            c.region_name.is_empty()
                || e.region.as_deref() == Some(&c.region_name)
                || e.region_id.as_deref() == Some(&c.region_name)
        };
        catalog
            .iter()
            .filter(|s| s.kind == "identity")
            .flat_map(|s| &s.endpoints)
            .find(|e| e.interface == c.interface && region_ok(e))
            .map(|e| v3(&e.url))
            .unwrap_or_else(|| v3(&c.auth_url))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_endpoint_comes_from_the_catalog() {
        let conf = KeystoneAuthtokenConf {
            auth_url: "http://ks:5000".into(),
            interface: "internal".into(),
            region_name: "Two".into(),
            ..Default::default()
        };
        let k = Keystone::new(&conf, &TrusteeConf::default());
        let catalog: Vec<Service> = serde_json::from_value(json!([
            {"type": "messaging", "endpoints": [{"interface": "internal", "url": "http://z"}]},
            {"type": "identity", "endpoints": [
                {"interface": "public", "url": "http://public/v3", "region_id": "Two"},
                {"interface": "internal", "url": "http://one/", "region_id": "One"},
                {"interface": "internal", "url": "http://two", "region": "Two"},
            ]},
        ]))
        .unwrap();
        assert_eq!(k.identity_endpoint(&catalog), "http://two/v3");
        assert_eq!(k.identity_endpoint(&[]), "http://ks:5000/v3");
        assert_eq!(v3("http://ks/v3/"), "http://ks/v3");
    }

    #[test]
    fn debug_shows_no_password() {
        let conf = KeystoneAuthtokenConf {
            password: crate::conf::Secret("hunter2-service-pw".into()),
            ..Default::default()
        };
        assert!(
            !format!("{:?}", Keystone::new(&conf, &TrusteeConf::default())).contains("hunter2")
        );
    }
}
