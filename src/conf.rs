//! Configuration: defaults, then the TOML file, then command-line flags; then `validate`.
//!
//! `config/zaqar.toml` is the commented reference of every key with its default; a unit
//! test keeps it equal to [`Config::default`]. Unknown keys stop startup (a typo must not be
//! silently ignored), and so does an invalid value, with a message that names the key.
//! Groups follow Zaqar's option groups.

use std::path::{Path, PathBuf};

use serde::Deserialize;
use thiserror::Error;
use zaqar_actors::model::QueueDefaults;
use zaqar_actors::storage::open::{known_scheme, schemes};

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid config file {path}: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: toml::de::Error,
    },
    #[error("invalid configuration: {key} {reason}")]
    Invalid { key: &'static str, reason: String },
}

#[derive(Clone, Debug, Default, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    pub server: ServerConf,
    pub storage: StorageConf,
    pub pooling: PoolingConf,
    pub limits: LimitsConf,
    pub profiler: ProfilerConf,
    pub log: LogConf,
    pub encryption: EncryptionConf,
    pub signed_url: SignedUrlConf,
    pub cors: CorsConf,
    pub auth: AuthConf,
    pub keystone_authtoken: KeystoneAuthtokenConf,
    pub trustee: TrusteeConf,
    pub oslo_policy: OsloPolicyConf,
}

/// `[oslo_policy]`: rules over Zaqar's defaults, as oslo.policy's group of that name.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct OsloPolicyConf {
    /// A YAML (or JSON) file of `"action": "rule"`; empty: Zaqar's defaults only.
    pub policy_file: String,
}

/// `[auth]`: who may act as which project.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConf {
    /// `noauth`: trust `X-Project-ID` and `X-Roles` as sent (Zaqar's noauth mode); `keystone`:
    /// every request needs a Keystone token, which decides the project and roles.
    pub strategy: String,
}

impl Default for AuthConf {
    fn default() -> Self {
        Self {
            strategy: "noauth".into(),
        }
    }
}

impl AuthConf {
    pub fn keystone(&self) -> bool {
        self.strategy == "keystone"
    }
}

/// `[keystone_authtoken]`, with keystonemiddleware's option names, so that operators copy
/// their existing settings: the service user the server validates tokens with, and how.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct KeystoneAuthtokenConf {
    /// Named in `WWW-Authenticate` of a 401, for clients to find Keystone.
    pub www_authenticate_uri: String,
    /// Where the service user authenticates (`.../v3` or the Keystone root).
    pub auth_url: String,
    /// Only `password` is supported.
    pub auth_type: String,
    pub username: String,
    pub password: Secret,
    pub project_name: String,
    pub user_domain_name: String,
    pub project_domain_name: String,
    /// Which identity endpoint of the service catalog validates tokens: `internal`,
    /// `public` or `admin`; `auth_url` when the catalog lists none.
    pub interface: String,
    /// The region of that endpoint; empty: any.
    pub region_name: String,
    /// Seconds a validated token is trusted without asking Keystone again (never past its
    /// expiry).
    pub token_cache_time: u64,
    /// Seconds to wait for a connection to Keystone.
    pub http_connect_timeout: u64,
    /// Seconds to wait for Keystone's answer.
    pub http_request_timeout: u64,
    /// How often a request that could not reach Keystone is tried again.
    pub http_request_max_retries: u32,
}

impl Default for KeystoneAuthtokenConf {
    fn default() -> Self {
        Self {
            www_authenticate_uri: String::new(),
            auth_url: String::new(),
            auth_type: "password".into(),
            username: String::new(),
            password: Secret::default(),
            project_name: String::new(),
            user_domain_name: "Default".into(),
            project_domain_name: "Default".into(),
            interface: "internal".into(),
            region_name: String::new(),
            token_cache_time: 300,
            http_connect_timeout: 5,
            http_request_timeout: 10,
            http_request_max_retries: 3,
        }
    }
}

/// `[trustee]`, with keystoneauth's password-plugin names as Zaqar reads that group: the
/// user that `trust+http(s)://` subscriptions delegate to. A user who subscribes one makes a
/// Keystone trust from itself to this user; empty `auth_url`: no trust subscriptions.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct TrusteeConf {
    pub auth_url: String,
    /// Only `password` is supported.
    pub auth_type: String,
    pub username: String,
    pub user_id: String,
    pub password: Secret,
    pub user_domain_name: String,
    pub user_domain_id: String,
    /// A scope for the trustee's login (keystoneauth logs in unscoped without one).
    pub project_name: String,
    pub project_id: String,
    pub project_domain_name: String,
    pub project_domain_id: String,
}

impl Default for TrusteeConf {
    fn default() -> Self {
        Self {
            auth_url: String::new(),
            auth_type: "password".into(),
            username: String::new(),
            user_id: String::new(),
            password: Secret::default(),
            user_domain_name: String::new(),
            user_domain_id: String::new(),
            project_name: String::new(),
            project_id: String::new(),
            project_domain_name: String::new(),
            project_domain_id: String::new(),
        }
    }
}

impl TrusteeConf {
    pub fn enabled(&self) -> bool {
        !self.auth_url.is_empty()
    }
}

/// `[cors]`: cross-origin requests from browsers, with oslo.middleware's option names and
/// Zaqar's defaults for the headers and methods.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct CorsConf {
    /// Origins (`<scheme>://<host>[:<port>]`, or `*`) whose requests get CORS headers; none:
    /// no request does.
    pub allowed_origin: List,
    pub allow_credentials: bool,
    pub expose_headers: List,
    /// Seconds a preflight answer may be cached; 0: no `Access-Control-Max-Age`.
    pub max_age: u64,
    pub allow_methods: List,
    pub allow_headers: List,
}

impl Default for CorsConf {
    fn default() -> Self {
        let list = |items: &[&str]| List(items.iter().map(|s| (*s).to_owned()).collect());
        Self {
            allowed_origin: List::default(),
            allow_credentials: true,
            // Zaqar's `cors.set_defaults` (zaqar/transport/middleware/cors.py).
            expose_headers: list(&[
                "X-Auth-Token",
                "X-Subject-Token",
                "X-Service-Token",
                "X-OpenStack-Request-ID",
            ]),
            max_age: 3600,
            allow_methods: list(&["GET", "PUT", "POST", "DELETE", "PATCH", "HEAD"]),
            allow_headers: list(&[
                "X-Auth-Token",
                "X-Identity-Status",
                "X-Roles",
                "X-Service-Catalog",
                "X-User-Id",
                "X-Tenant-Id",
                "X-OpenStack-Request-ID",
                "X-Trace-Info",
                "X-Trace-HMAC",
                "Client-id",
            ]),
        }
    }
}

/// A list option as oslo.config reads one: a TOML list, or one comma-separated string.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct List(pub Vec<String>);

impl<'de> Deserialize<'de> for List {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Items {
            One(String),
            Many(Vec<String>),
        }
        let items = match Items::deserialize(d)? {
            Items::One(text) => text.split(',').map(str::to_owned).collect(),
            Items::Many(items) => items,
        };
        Ok(List(
            items
                .iter()
                .map(|i| i.trim().to_owned())
                .filter(|i| !i.is_empty())
                .collect(),
        ))
    }
}

/// `[signed_url]`: the key pre-signed URLs are made with (`POST /v2/queues/{q}/share`) and
/// checked against, as Zaqar's group of that name.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct SignedUrlConf {
    /// Empty: no URL can be signed, and every signed request is refused.
    /// `ZAQAR_SIGNED_URL_SECRET_KEY` replaces it, so the key need not sit in the file.
    pub secret_key: Secret,
}

/// `[encryption]`: keys for queues with `_enable_encrypt_messages` (AES-256-GCM).
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct EncryptionConf {
    /// `ID:BASE64` entries, each a 32-byte key under an id of its own; the last one seals
    /// new messages, every one opens what it sealed. A TOML list or one comma-separated
    /// string; `ZAQAR_ENCRYPTION_KEYS` replaces it, so keys need not sit in the file.
    pub keys: HmacKeys,
}

impl EncryptionConf {
    /// The keyring; the configuration is validated, so the keys parse.
    pub fn keyring(&self) -> zaqar_actors::storage::encrypted::Keyring {
        zaqar_actors::storage::encrypted::Keyring::parse(&self.entries()).unwrap_or_default()
    }

    fn entries(&self) -> Vec<&str> {
        self.keys.0.iter().map(|k| k.0.as_str()).collect()
    }
}

/// How the server writes its log (stderr; `RUST_LOG` sets the filter).
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LogConf {
    /// `text` (one human-readable line per event) or `json` (one JSON object per line, for
    /// log collectors).
    pub format: String,
}

impl Default for LogConf {
    fn default() -> Self {
        Self {
            format: "text".into(),
        }
    }
}

/// A secret string (an HMAC or encryption key): its `Debug` never shows it, so it cannot
/// reach a log.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Secret keys (HMAC keys, encryption keys): a TOML list, or one comma-separated string as
/// in Zaqar's `hmac_keys`. Each key is stripped of surrounding spaces and empty ones are
/// dropped, as osprofiler does.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HmacKeys(pub Vec<Secret>);

impl HmacKeys {
    pub fn parse(list: &str) -> Self {
        HmacKeys(
            list.split(',')
                .map(str::trim)
                .filter(|k| !k.is_empty())
                .map(|k| Secret(k.to_owned()))
                .collect(),
        )
    }
}

impl<'de> Deserialize<'de> for HmacKeys {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Keys {
            One(String),
            Many(Vec<String>),
        }
        Ok(match Keys::deserialize(d)? {
            Keys::One(list) => HmacKeys::parse(&list),
            Keys::Many(keys) => HmacKeys::parse(&keys.join(",")),
        })
    }
}

/// `[profiler]`: OSProfiler-compatible tracing, exported over OTLP.
#[derive(Clone, Debug, Deserialize, PartialEq)]
#[serde(default, deny_unknown_fields)]
pub struct ProfilerConf {
    /// Master switch. Off: no request is traced, whatever it carries.
    pub enabled: bool,
    /// Keys a caller may sign `X-Trace-Info` with; tried in order. `ZAQAR_PROFILER_HMAC_KEYS`
    /// (comma-separated) replaces them, so keys need not sit in the file.
    pub hmac_keys: HmacKeys,
    /// One switch per layer; a layer switched off emits no span and keeps the chain whole.
    pub trace_http: bool,
    pub trace_pooling: bool,
    pub trace_sql: bool,
    pub trace_redis: bool,
    pub trace_mongodb: bool,
    /// OTLP collector; unset: `OTEL_EXPORTER_OTLP_ENDPOINT`, else the protocol's local
    /// default (http://127.0.0.1:4318 or :4317).
    pub otlp_endpoint: Option<String>,
    /// `grpc` or `http/protobuf`; unset: `OTEL_EXPORTER_OTLP_PROTOCOL`, else http/protobuf.
    pub otlp_protocol: Option<String>,
    /// Unset: `OTEL_SERVICE_NAME`, else `zaqar-server`.
    pub service_name: Option<String>,
    /// Extra OpenTelemetry resource attributes.
    pub resource_attributes: std::collections::BTreeMap<String, String>,
    /// Fraction of unsigned requests to trace anyway (head sampling), 0.0 to 1.0.
    pub sample_ratio: f64,
    /// Continue a W3C `traceparent` from the caller. Off by default: anyone could then make
    /// the server trace.
    pub accept_traceparent: bool,
}

impl Default for ProfilerConf {
    fn default() -> Self {
        Self {
            enabled: false,
            hmac_keys: HmacKeys::default(),
            trace_http: true,
            trace_pooling: true,
            trace_sql: true,
            trace_redis: true,
            trace_mongodb: true,
            otlp_endpoint: None,
            otlp_protocol: None,
            service_name: None,
            resource_attributes: Default::default(),
            sample_ratio: 0.0,
            accept_traceparent: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConf {
    /// Address to listen on.
    pub bind: String,
    /// HTTP worker threads; 0 means one per CPU core. Each worker runs its own router and
    /// storage actor.
    pub workers: usize,
    /// Capacity of each actor's mailbox; senders wait when it is full.
    pub mailbox_capacity: usize,
    /// Serves the admin API (pools, flavors) to requests with the `admin` role.
    pub admin_mode: bool,
    /// Seconds a client has to send a request's headers (408 and the connection closed).
    pub client_request_timeout: u64,
    /// Seconds a client has to send a request's whole body (408 and the connection closed):
    /// a body trickled a byte at a time must not hold a connection for ever.
    pub client_body_timeout: u64,
    /// Connections each worker serves at once; further ones wait to be accepted, so a
    /// flood of idle or slow connections cannot use up the process's file descriptors.
    /// 0: derived from the file-descriptor limit (see `bootstrap::connections_per_worker`).
    pub max_connections: usize,
    /// Zaqar's `enable_checksum`: every message answered carries `"checksum": "MD5:<hex>"`
    /// of its body, computed as Zaqar's `storage/utils.py` does.
    pub enable_checksum: bool,
}

impl Default for ServerConf {
    fn default() -> Self {
        Self {
            bind: "127.0.0.1:8888".into(),
            workers: 0,
            mailbox_capacity: 1024,
            admin_mode: false,
            client_request_timeout: 5,
            client_body_timeout: 30,
            max_connections: 0,
            enable_checksum: false,
        }
    }
}

#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConf {
    /// Where messages live: `sqlite://PATH` (embedded) or `postgres://...`. With pooling,
    /// the default pool.
    pub message_store: String,
    /// Where pools, flavors and the catalog live (pooling); empty: in `message_store`.
    pub management_store: String,
    /// Connections in the store's pool.
    pub pool_size: u32,
    /// SQLite durability: `normal` (survives a process crash) or `full` (also power loss).
    pub sqlite_synchronous: String,
    /// Bytes kept aside in `<file>-reserve` beside the SQLite file: released when a delete
    /// finds the disk full, so that space can still be freed (0: no reserve).
    pub sqlite_disk_reserve: u64,
    /// Seconds to wait for a pooled connection before answering 503.
    pub acquire_timeout: u64,
    /// Seconds one statement, script or command may take before its request is answered
    /// 503, even when the database has stopped answering mid-query.
    pub command_timeout: u64,
    /// Seconds between removals of expired rows (0 disables; reads ignore them anyway).
    pub gc_interval: u64,
    /// Writes committed together at most: in one transaction on SQLite (group commit), one
    /// statement on PostgreSQL and one script call per queue on Redis (posts and deletes by
    /// id).
    pub write_batch_max: usize,
    /// Microseconds a write may wait for others to join its batch; 0 takes only the writes
    /// already waiting, so a lone write is never delayed.
    pub write_batch_wait_us: u64,
}

impl Default for StorageConf {
    fn default() -> Self {
        Self {
            message_store: "sqlite://./data/zaqar.db".into(),
            management_store: String::new(),
            pool_size: 8,
            sqlite_synchronous: "normal".into(),
            sqlite_disk_reserve: 4 * 1024 * 1024,
            acquire_timeout: 5,
            command_timeout: 10,
            gc_interval: 60,
            write_batch_max: 256,
            write_batch_wait_us: 0,
        }
    }
}

/// `[pooling]`: queues spread over registered pools.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct PoolingConf {
    pub enabled: bool,
    /// Seconds a cached catalog entry serves reads before it is looked up again.
    pub catalog_cache_ttl: u64,
    /// Seed of the random placement of new queues; 0 seeds from the OS.
    pub placement_seed: u64,
}

impl Default for PoolingConf {
    fn default() -> Self {
        Self {
            enabled: false,
            catalog_cache_ttl: 10,
            placement_seed: 0,
        }
    }
}

/// The deepest `max_json_depth` allowed: a message document adds levels of its own around
/// the body, and MongoDB refuses documents nested more than 100 levels.
pub const MAX_JSON_DEPTH: u32 = 96;

/// Zaqar's transport limits (`[transport]` in Zaqar), with its defaults.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConf {
    pub max_queues_per_page: u32,
    pub default_queue_paging: u32,
    pub max_messages_per_page: u32,
    pub default_message_paging: u32,
    pub max_messages_per_claim_or_pop: u32,
    pub default_claim_limit: u32,
    pub max_subscriptions_per_page: u32,
    pub default_subscription_paging: u32,
    /// Bytes in one POST of messages (whole request body).
    pub max_messages_post_size: u64,
    /// Bytes of one queue's metadata document.
    pub max_queue_metadata: u64,
    /// Messages in one POST; 0 leaves the count unbounded (Zaqar bounds posts by bytes only).
    pub max_messages_per_post: u32,
    /// Nesting depth of a message body, queue metadata or subscription options. Deeper JSON
    /// is refused with 400: every backend and the serializer must be able to store and
    /// render what is accepted (MongoDB nests at most 100 levels, serde_json 128).
    pub max_json_depth: u32,
    pub min_message_ttl: i64,
    pub max_message_ttl: i64,
    pub default_message_ttl: i64,
    pub max_message_delay: i64,
    pub default_message_delay: i64,
    pub min_claim_ttl: i64,
    pub max_claim_ttl: i64,
    pub default_claim_ttl: i64,
    pub min_claim_grace: i64,
    pub max_claim_grace: i64,
    pub default_claim_grace: i64,
    pub min_subscription_ttl: i64,
    pub default_subscription_ttl: i64,
    /// Zaqar's `message_delete_with_claim_id`: a delete by `ids` must also name the
    /// `claim_ids` holding those messages, and deletes only messages claimed by one of them.
    pub message_delete_with_claim_id: bool,
    /// Zaqar's `client_id_uuid_safe`: `strict` (the `Client-ID` must be a UUID) or `off`
    /// (any string of `min_length_client_id` to `max_length_client_id` characters).
    pub client_id_uuid_safe: String,
    pub min_length_client_id: usize,
    pub max_length_client_id: usize,
}

impl Default for LimitsConf {
    fn default() -> Self {
        Self {
            max_queues_per_page: 20,
            default_queue_paging: 10,
            max_messages_per_page: 20,
            default_message_paging: 10,
            max_messages_per_claim_or_pop: 20,
            default_claim_limit: 10,
            max_subscriptions_per_page: 20,
            default_subscription_paging: 10,
            max_messages_post_size: 262_144,
            max_queue_metadata: 65_536,
            max_messages_per_post: 0,
            max_json_depth: 64,
            min_message_ttl: 60,
            max_message_ttl: 1_209_600,
            default_message_ttl: 3600,
            max_message_delay: 900,
            default_message_delay: 0,
            min_claim_ttl: 60,
            max_claim_ttl: 43_200,
            default_claim_ttl: 300,
            min_claim_grace: 60,
            max_claim_grace: 43_200,
            default_claim_grace: 60,
            min_subscription_ttl: 60,
            default_subscription_ttl: 3600,
            message_delete_with_claim_id: false,
            client_id_uuid_safe: "strict".into(),
            min_length_client_id: 10,
            max_length_client_id: 36,
        }
    }
}

impl LimitsConf {
    /// What a queue without metadata behaves like.
    pub fn queue_defaults(&self) -> QueueDefaults {
        QueueDefaults {
            default_message_ttl: self.default_message_ttl,
            default_message_delay: self.default_message_delay,
            max_messages_post_size: self.max_messages_post_size,
        }
    }
}

fn invalid(key: &'static str, reason: &str) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.to_owned(),
    }
}

/// What this build can log in to Keystone with: an http:// URL (the HTTP client has no TLS;
/// refused here rather than failing every request at run time) and the password plugin.
fn keystone_login(
    url: (&'static str, &str),
    auth_type: (&'static str, &str),
) -> Result<(), ConfigError> {
    if !url.1.starts_with("http://") {
        return Err(invalid(
            url.0,
            "must be an http:// URL (this build cannot reach Keystone over https)",
        ));
    }
    if auth_type.1 != "password" {
        return Err(invalid(
            auth_type.0,
            "must be \"password\" (the only one supported)",
        ));
    }
    Ok(())
}

impl Config {
    /// Reads `path` (defaults for every key it leaves out), then validates.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let conf = match path {
            None => Config::default(),
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.to_owned(),
                    source,
                })?;
                Self::parse(&text).map_err(|source| ConfigError::Parse {
                    path: path.to_owned(),
                    source,
                })?
            }
        };
        let mut conf = conf;
        if let Ok(keys) = std::env::var("ZAQAR_PROFILER_HMAC_KEYS") {
            conf.profiler.hmac_keys = HmacKeys::parse(&keys);
        }
        if let Ok(keys) = std::env::var("ZAQAR_ENCRYPTION_KEYS") {
            conf.encryption.keys = HmacKeys::parse(&keys);
        }
        if let Ok(password) = std::env::var("ZAQAR_KEYSTONE_PASSWORD") {
            conf.keystone_authtoken.password = Secret(password);
        }
        if let Ok(password) = std::env::var("ZAQAR_TRUSTEE_PASSWORD") {
            conf.trustee.password = Secret(password);
        }
        if let Ok(key) = std::env::var("ZAQAR_SIGNED_URL_SECRET_KEY") {
            conf.signed_url.secret_key = Secret(key);
        }
        conf.validate()?;
        Ok(conf)
    }

    fn validate_trustee(&self) -> Result<(), ConfigError> {
        let t = &self.trustee;
        if !t.enabled() {
            return Ok(());
        }
        if !self.auth.keystone() {
            return Err(invalid(
                "trustee.auth_url",
                "is set, but trusts need [auth] strategy = \"keystone\" (a user's token makes them)",
            ));
        }
        keystone_login(
            ("trustee.auth_url", &t.auth_url),
            ("trustee.auth_type", &t.auth_type),
        )?;
        if t.username.is_empty() && t.user_id.is_empty() {
            return Err(invalid(
                "trustee.username",
                "or trustee.user_id is required",
            ));
        }
        if !t.username.is_empty() && t.user_domain_name.is_empty() && t.user_domain_id.is_empty() {
            return Err(invalid(
                "trustee.user_domain_name",
                "or trustee.user_domain_id is required with trustee.username",
            ));
        }
        if t.password.0.is_empty() {
            return Err(invalid(
                "trustee.password",
                "is required (or ZAQAR_TRUSTEE_PASSWORD)",
            ));
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Result<Self, toml::de::Error> {
        toml::from_str(text)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        let l = &self.limits;
        let pages: [(&'static str, u32, &'static str, u32); 4] = [
            (
                "limits.max_queues_per_page",
                l.max_queues_per_page,
                "limits.default_queue_paging",
                l.default_queue_paging,
            ),
            (
                "limits.max_messages_per_page",
                l.max_messages_per_page,
                "limits.default_message_paging",
                l.default_message_paging,
            ),
            (
                "limits.max_messages_per_claim_or_pop",
                l.max_messages_per_claim_or_pop,
                "limits.default_claim_limit",
                l.default_claim_limit,
            ),
            (
                "limits.max_subscriptions_per_page",
                l.max_subscriptions_per_page,
                "limits.default_subscription_paging",
                l.default_subscription_paging,
            ),
        ];
        for (max_key, max, default_key, default) in pages {
            if max == 0 {
                return Err(invalid(max_key, "must be at least 1"));
            }
            if default == 0 || default > max {
                return Err(invalid(
                    default_key,
                    &format!("must be between 1 and {max}"),
                ));
            }
        }
        let ranges: [(&'static str, i64, i64, i64); 4] = [
            (
                "limits.default_message_ttl",
                l.min_message_ttl,
                l.default_message_ttl,
                l.max_message_ttl,
            ),
            (
                "limits.default_message_delay",
                0,
                l.default_message_delay,
                l.max_message_delay,
            ),
            (
                "limits.default_claim_ttl",
                l.min_claim_ttl,
                l.default_claim_ttl,
                l.max_claim_ttl,
            ),
            (
                "limits.default_claim_grace",
                l.min_claim_grace,
                l.default_claim_grace,
                l.max_claim_grace,
            ),
        ];
        for (key, min, value, max) in ranges {
            if min < 0 || value < min || value > max {
                return Err(invalid(
                    key,
                    &format!(
                        "must be between {min} and {max} (the min_ and max_ keys of [limits])"
                    ),
                ));
            }
        }
        if l.min_subscription_ttl < 1 || l.default_subscription_ttl < l.min_subscription_ttl {
            return Err(invalid(
                "limits.default_subscription_ttl",
                "must be at least limits.min_subscription_ttl, itself at least 1",
            ));
        }
        if let Err(why) =
            zaqar_actors::storage::encrypted::Keyring::parse(&self.encryption.entries())
        {
            return Err(invalid("encryption.keys", &why));
        }
        if !matches!(l.client_id_uuid_safe.as_str(), "strict" | "off") {
            return Err(invalid(
                "limits.client_id_uuid_safe",
                "must be \"strict\" or \"off\"",
            ));
        }
        if l.min_length_client_id > l.max_length_client_id {
            return Err(invalid(
                "limits.min_length_client_id",
                "must not be greater than limits.max_length_client_id",
            ));
        }
        if !matches!(self.log.format.as_str(), "text" | "json") {
            return Err(invalid("log.format", "must be \"text\" or \"json\""));
        }
        let s = &self.server;
        for (key, value) in [
            ("server.client_request_timeout", s.client_request_timeout),
            ("server.client_body_timeout", s.client_body_timeout),
            ("storage.acquire_timeout", self.storage.acquire_timeout),
            ("storage.command_timeout", self.storage.command_timeout),
        ] {
            if value == 0 {
                return Err(invalid(key, "must be at least 1 second"));
            }
        }
        if !(1..=MAX_JSON_DEPTH).contains(&l.max_json_depth) {
            return Err(invalid(
                "limits.max_json_depth",
                "must be between 1 and 96 (MongoDB nests documents at most 100 levels deep)",
            ));
        }
        if l.max_messages_post_size == 0 {
            return Err(invalid(
                "limits.max_messages_post_size",
                "must be at least 1",
            ));
        }
        if self.server.mailbox_capacity == 0 {
            return Err(invalid("server.mailbox_capacity", "must be at least 1"));
        }
        if self.storage.write_batch_max == 0 {
            return Err(invalid("storage.write_batch_max", "must be at least 1"));
        }
        if self.storage.write_batch_wait_us > 100_000 {
            return Err(invalid(
                "storage.write_batch_wait_us",
                "must be at most 100000 (0.1 s): every write may wait that long",
            ));
        }
        if self.storage.pool_size == 0 {
            return Err(invalid("storage.pool_size", "must be at least 1"));
        }
        if !matches!(self.storage.sqlite_synchronous.as_str(), "normal" | "full") {
            return Err(invalid(
                "storage.sqlite_synchronous",
                "must be \"normal\" or \"full\"",
            ));
        }
        let p = &self.profiler;
        if !(0.0..=1.0).contains(&p.sample_ratio) {
            return Err(invalid(
                "profiler.sample_ratio",
                "must be between 0.0 and 1.0",
            ));
        }
        if let Some(proto) = &p.otlp_protocol {
            if proto != "grpc" && proto != "http/protobuf" {
                return Err(invalid(
                    "profiler.otlp_protocol",
                    "must be \"grpc\" or \"http/protobuf\"",
                ));
            }
        }
        if p.enabled && p.hmac_keys.0.is_empty() && p.sample_ratio == 0.0 && !p.accept_traceparent {
            return Err(invalid(
                "profiler.hmac_keys",
                "is empty: with profiling enabled, set a key (or ZAQAR_PROFILER_HMAC_KEYS)",
            ));
        }
        if p.enabled && !cfg!(feature = "profiler") {
            return Err(invalid(
                "profiler.enabled",
                "is true, but this build has no profiler feature",
            ));
        }
        match self.auth.strategy.as_str() {
            "noauth" => {}
            "keystone" => {
                let k = &self.keystone_authtoken;
                for (key, value) in [
                    ("keystone_authtoken.auth_url", &k.auth_url),
                    ("keystone_authtoken.username", &k.username),
                    ("keystone_authtoken.password", &k.password.0),
                    ("keystone_authtoken.project_name", &k.project_name),
                ] {
                    if value.is_empty() {
                        return Err(invalid(
                            key,
                            "is required with [auth] strategy = \"keystone\"",
                        ));
                    }
                }
                keystone_login(
                    ("keystone_authtoken.auth_url", &k.auth_url),
                    ("keystone_authtoken.auth_type", &k.auth_type),
                )?;
                if !["internal", "public", "admin"].contains(&k.interface.as_str()) {
                    return Err(invalid(
                        "keystone_authtoken.interface",
                        "must be internal, public or admin",
                    ));
                }
            }
            _ => {
                return Err(invalid(
                    "auth.strategy",
                    "must be \"noauth\" or \"keystone\"",
                ))
            }
        }
        self.validate_trustee()?;
        if let Err(e) = crate::policy::Policy::load(&self.oslo_policy.policy_file) {
            return Err(invalid("oslo_policy.policy_file", &e.to_string()));
        }
        let store = &self.storage.message_store;
        // `faulty://` is the test store whose every call fails.
        if !known_scheme(store) && store != "faulty://" {
            return Err(invalid(
                "storage.message_store",
                &format!("must be a {} URI", schemes()),
            ));
        }
        let management = &self.storage.management_store;
        if !management.is_empty() && !known_scheme(management) {
            return Err(invalid(
                "storage.management_store",
                &format!("must be empty (use message_store) or a {} URI", schemes()),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_file_lists_the_defaults() {
        let text = include_str!("../config/zaqar.toml");
        assert_eq!(Config::parse(text).unwrap(), Config::default());
    }

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn unknown_key_is_rejected_by_name() {
        let err = Config::parse("[server]\nbnid = \"x\"\n").unwrap_err();
        assert!(err.to_string().contains("bnid"), "{err}");
    }

    #[test]
    fn keystone_mode_needs_its_service_user_and_an_http_url() {
        let mut c = Config::default();
        c.auth.strategy = "keystone".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("keystone_authtoken.auth_url"), "{err}");
        let k = &mut c.keystone_authtoken;
        k.auth_url = "https://keystone.example/v3".into();
        k.username = "zaqar".into();
        k.password = Secret("pw".into());
        k.project_name = "service".into();
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("cannot reach Keystone over https"), "{err}");
        c.keystone_authtoken.auth_url = "http://keystone.example/v3".into();
        assert!(c.validate().is_ok());
        c.auth.strategy = "sometimes".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("auth.strategy"));
    }

    #[test]
    fn a_trustee_needs_keystone_mode_and_its_credentials() {
        let mut c = Config::default();
        c.trustee.auth_url = "http://keystone.example/v3".into();
        let err = |c: &Config| c.validate().unwrap_err().to_string();
        assert!(err(&c).contains("strategy = \"keystone\""), "{}", err(&c));
        c.auth.strategy = "keystone".into();
        let k = &mut c.keystone_authtoken;
        k.auth_url = "http://keystone.example/v3".into();
        k.username = "zaqar".into();
        k.password = Secret("pw".into());
        k.project_name = "service".into();
        assert!(err(&c).contains("trustee.username"), "{}", err(&c));
        c.trustee.username = "zaqar".into();
        assert!(err(&c).contains("trustee.user_domain_name"), "{}", err(&c));
        c.trustee.user_domain_id = "default".into();
        assert!(err(&c).contains("trustee.password"), "{}", err(&c));
        c.trustee.password = Secret("pw".into());
        assert!(c.validate().is_ok());
        c.trustee.auth_url = "https://keystone.example/v3".into();
        assert!(err(&c).contains("over https"), "{}", err(&c));
        let toml = "[trustee]\nauth_url = \"x\"\ncertfile = \"c.pem\"\n";
        assert!(Config::parse(toml)
            .unwrap_err()
            .to_string()
            .contains("certfile"));
    }

    #[test]
    fn invalid_value_names_the_key() {
        let mut c = Config::default();
        c.limits.default_message_paging = 50;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("limits.default_message_paging"), "{err}");

        let mut c = Config::default();
        c.limits.default_claim_ttl = 5;
        let err = c.validate().unwrap_err().to_string();
        assert!(err.contains("limits.default_claim_ttl"), "{err}");

        let mut c = Config::default();
        c.storage.sqlite_synchronous = "off".into();
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("storage.sqlite_synchronous"));
    }

    #[test]
    fn write_batch_bounds_are_checked() {
        let checked = |toml: &str| Config::parse(toml).unwrap().validate();
        let c =
            Config::parse("[storage]\nwrite_batch_max = 16\nwrite_batch_wait_us = 500\n").unwrap();
        assert_eq!(
            (c.storage.write_batch_max, c.storage.write_batch_wait_us),
            (16, 500)
        );
        assert!(c.validate().is_ok());
        let err = checked("[storage]\nwrite_batch_max = 0\n").unwrap_err();
        assert!(err.to_string().contains("storage.write_batch_max"), "{err}");
        let err = checked("[storage]\nwrite_batch_wait_us = 100001\n").unwrap_err();
        assert!(
            err.to_string().contains("storage.write_batch_wait_us"),
            "{err}"
        );
        assert!(checked("[storage]\nwrite_batch_wait_us = 100000\n").is_ok());
    }

    #[test]
    fn hmac_keys_as_list_or_string_and_never_debug_printed() {
        let c = Config::parse("[profiler]\nhmac_keys = \"a, p@ss w0rd! ,,c\"\n").unwrap();
        let keys: Vec<_> = c
            .profiler
            .hmac_keys
            .0
            .iter()
            .map(|k| k.0.as_str())
            .collect();
        assert_eq!(keys, ["a", "p@ss w0rd!", "c"]);
        let c = Config::parse("[profiler]\nhmac_keys = [\" x \", \"y\"]\n").unwrap();
        assert_eq!(
            c.profiler.hmac_keys,
            HmacKeys(vec![Secret("x".into()), Secret("y".into())])
        );
        assert!(!format!("{c:?}").contains("\"y\""));
    }

    #[test]
    fn profiler_values_are_checked() {
        let mut c = Config::default();
        c.profiler.sample_ratio = 1.5;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("profiler.sample_ratio"));
        let mut c = Config::default();
        c.profiler.enabled = true;
        assert!(c
            .validate()
            .unwrap_err()
            .to_string()
            .contains("profiler.hmac_keys"));
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let c = Config::parse("[limits]\nmax_messages_per_page = 5\ndefault_message_paging = 5\n")
            .unwrap();
        assert_eq!(c.limits.max_messages_per_page, 5);
        assert_eq!(c.limits.max_claim_ttl, 43_200);
        assert_eq!(c.server, ServerConf::default());
    }
}
