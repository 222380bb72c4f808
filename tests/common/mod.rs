//! Test harness: a real `zaqar-server` (the library's `run`) on 127.0.0.1:0 with its own
//! SQLite file in a temporary directory, and a small HTTP client that sends Zaqar's headers.
//!
//! Every `Api` uses a fresh project id, so tests never see each other's queues even when
//! they share a server. `ZAQAR_TEST_MESSAGE_STORE` points the servers at another store
//! (e.g. a PostgreSQL URI) instead of a temporary SQLite file; `ZAQAR_TEST_POOLING` turns
//! pooling on (the catalog in that store, queues in its default pool).
#![allow(dead_code)]

pub mod process;

use std::collections::HashMap;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};
use std::sync::{mpsc, Arc, Mutex};

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use zaqar::Config;
use zaqar_actors::Clock;

pub struct TestServer {
    pub url: String,
    /// The server's message store (`[storage] message_store`), for tests that look at or
    /// write to the backend directly.
    pub store_uri: String,
    /// The server's clock: tests move it forward instead of sleeping.
    pub clock: Clock,
    handle: actix_web::dev::ServerHandle,
    _dir: tempfile::TempDir,
}

impl TestServer {
    pub fn start() -> Self {
        Self::start_with(|_| {})
    }

    pub fn start_with(configure: impl FnOnce(&mut Config)) -> Self {
        log_to_test_output();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut conf = Config::default();
        conf.storage.message_store = std::env::var("ZAQAR_TEST_MESSAGE_STORE")
            .unwrap_or_else(|_| format!("sqlite://{}/zaqar.db", dir.path().display()));
        conf.server.workers = 2;
        conf.storage.gc_interval = 0;
        // Every request then goes through the catalog (lookups, placement, merged listing).
        conf.pooling.enabled = std::env::var_os("ZAQAR_TEST_POOLING").is_some();
        configure(&mut conf);
        let store_uri = conf.storage.message_store.clone();
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let clock = Clock::system();
        let server_clock = clock.clone();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            actix_rt::System::new().block_on(async move {
                match zaqar::run(conf, listener, server_clock).await {
                    Ok(running) => {
                        tx.send(Ok((running.addr, running.server.handle())))
                            .unwrap();
                        let _ = running.server.await;
                    }
                    Err(e) => tx.send(Err(e.to_string())).unwrap(),
                }
            });
        });
        let (addr, handle) = rx.recv().unwrap().expect("server failed to start");
        TestServer {
            url: format!("http://{addr}"),
            store_uri,
            clock,
            handle,
            _dir: dir,
        }
    }

    /// A client of the server at `url` (not one of ours) for a project of its own.
    pub fn client_of(url: &str) -> Api {
        Api {
            http: client(),
            base: url.trim_end_matches('/').to_owned(),
            project: format!("proj-{}", uuid::Uuid::new_v4().simple()),
            client_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// A client for a project of its own.
    pub fn api(&self) -> Api {
        Api {
            http: client(),
            base: self.url.clone(),
            project: format!("proj-{}", uuid::Uuid::new_v4().simple()),
            client_id: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// The servers' warnings and errors (a 503's cause, say) go to the output of the test whose
/// server logged them, which the harness shows when that test fails. `ZAQAR_TEST_LOG` sets
/// another filter. A test binary that installs its own subscriber first keeps it.
fn log_to_test_output() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::registry().with(log_layer()).try_init();
    });
}

/// A log layer writing to the test's captured output (see [`log_to_test_output`]).
pub fn log_layer<S>() -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>,
{
    use tracing_subscriber::Layer;
    let filter = std::env::var("ZAQAR_TEST_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt::layer()
        .with_test_writer()
        .with_ansi(false)
        .with_filter(tracing_subscriber::EnvFilter::new(filter))
}

/// An HTTP client whose requests give up after a minute, so a server that hangs fails the
/// test instead of stalling it.
pub fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(60))
        .build()
        .expect("HTTP client")
}

impl Drop for TestServer {
    fn drop(&mut self) {
        // Sends the stop command at once; the server thread ends on its own.
        drop(self.handle.stop(false));
    }
}

#[derive(Debug)]
pub struct Resp {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub text: String,
    pub json: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The ids of the `messages` of a listing, claim or pop, in order.
    pub fn ids(&self) -> Vec<String> {
        self.json["messages"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .map(|m| m["id"].as_str().unwrap().to_owned())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Asserts a Zaqar error body with this status and title.
    pub fn assert_error(&self, status: u16, title: &str) {
        assert_eq!(self.status.as_u16(), status, "{self:?}");
        assert_eq!(self.json["title"], title, "{self:?}");
    }
}

#[derive(Clone)]
pub struct Api {
    pub http: reqwest::Client,
    pub base: String,
    pub project: String,
    pub client_id: String,
}

impl Api {
    /// Another client (Client-ID) in the same project.
    pub fn other_client(&self) -> Api {
        Api {
            client_id: uuid::Uuid::new_v4().to_string(),
            ..self.clone()
        }
    }

    pub fn request(&self, method: Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{}", self.base, path))
            .header("Client-ID", &self.client_id)
            .header("X-Project-ID", &self.project)
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        self.try_send(rb).await.expect("request")
    }

    /// [`Self::send`], answering transport errors instead of failing on them.
    pub async fn try_send(&self, rb: reqwest::RequestBuilder) -> reqwest::Result<Resp> {
        let r = rb.send().await?;
        let status = r.status();
        let headers = r.headers().clone();
        let text = r.text().await?;
        let json = serde_json::from_str(&text).unwrap_or(Value::Null);
        Ok(Resp {
            status,
            headers,
            text,
            json,
        })
    }

    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Resp {
        let mut rb = self.request(method, path);
        if let Some(b) = body {
            rb = rb
                .header("Content-Type", "application/json")
                .body(b.to_string());
        }
        self.send(rb).await
    }

    pub async fn get(&self, path: &str) -> Resp {
        self.call(Method::GET, path, None).await
    }

    pub async fn delete(&self, path: &str) -> Resp {
        self.call(Method::DELETE, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Resp {
        self.call(Method::POST, path, Some(body)).await
    }

    pub async fn put(&self, path: &str, body: Option<Value>) -> Resp {
        self.call(Method::PUT, path, body).await
    }

    /// A queue PATCH with Zaqar's JSON-patch media type.
    pub async fn patch(&self, path: &str, ops: Value) -> Resp {
        self.send(
            self.request(Method::PATCH, path)
                .header(
                    "Content-Type",
                    "application/openstack-messaging-v2.0-json-patch",
                )
                .body(ops.to_string()),
        )
        .await
    }

    /// Posts messages and answers their ids.
    pub async fn post_messages(&self, queue: &str, messages: Value) -> Vec<String> {
        let r = self
            .post(
                &format!("/v2/queues/{queue}/messages"),
                serde_json::json!({ "messages": messages }),
            )
            .await;
        assert_eq!(r.status, 201, "{r:?}");
        r.json["resources"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap().rsplit('/').next().unwrap().to_owned())
            .collect()
    }

    /// Claims and answers (claim id, message ids); `None` on 204.
    pub async fn claim(
        &self,
        queue: &str,
        query: &str,
        body: Value,
    ) -> Option<(String, Vec<String>)> {
        let r = self
            .post(&format!("/v2/queues/{queue}/claims{query}"), body)
            .await;
        if r.status == 204 {
            return None;
        }
        assert_eq!(r.status, 201, "{r:?}");
        let claim = r
            .header("location")
            .unwrap()
            .rsplit('/')
            .next()
            .unwrap()
            .to_owned();
        let ids = r.ids();
        Some((claim, ids))
    }

    pub async fn stats(&self, queue: &str) -> Value {
        let r = self.get(&format!("/v2/queues/{queue}/stats")).await;
        assert_eq!(r.status, 200, "{r:?}");
        r.json["messages"].clone()
    }
}

/// What tests open a store with when they read or write a backend directly.
pub fn store_options() -> zaqar_actors::storage::open::OpenOptions {
    zaqar_actors::storage::open::OpenOptions {
        pool_size: 2,
        timeout: std::time::Duration::from_secs(5),
        command_timeout: std::time::Duration::from_secs(10),
        sqlite_synchronous_full: false,
        sqlite_disk_reserve: 0,
        defaults: zaqar_actors::model::QueueDefaults::default(),
        clock: Clock::system(),
        keys: Default::default(),
        write_batch: Default::default(),
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The redis-server binary tests may start (`ZAQAR_TEST_REDIS_SERVER`); without it they
/// say they did not run.
pub fn redis_binary() -> Option<std::ffi::OsString> {
    let binary = std::env::var_os("ZAQAR_TEST_REDIS_SERVER");
    if binary.is_none() {
        eprintln!("not run: set ZAQAR_TEST_REDIS_SERVER=redis-server (tests/run.sh does)");
    }
    binary
}

/// Pings until the server answers 204, at most 20 times (each ping bounded by the server's
/// own timeouts): whether it did.
pub async fn ping_until_up(api: &Api) -> bool {
    for _ in 0..20 {
        if api.get("/v2/ping").await.status == 204 {
            return true;
        }
    }
    false
}

/// Starts a private redis-server (no persistence) on `port`, waiting until it accepts.
pub fn start_redis(binary: &std::ffi::OsStr, port: u16, dir: &Path) -> Child {
    let mut child = Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start redis-server");
    // Bounded wait for the port to accept connections.
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start on port {port}");
}

/// Which claim delivered each message; a second delivery of one message fails the test.
pub type Deliveries = Arc<Mutex<HashMap<String, String>>>;

/// A consumer: claims up to 5 messages of `queue` at a time through `claim_via`, records
/// each delivery, deletes each message with its claim id through `delete_via`, until
/// nothing is claimable (204: the rest is held by other live claims, whose holders delete
/// it). Answers how many messages it deleted.
pub async fn claim_and_delete_all(
    claim_via: Api,
    delete_via: Api,
    queue: &str,
    deliveries: Deliveries,
) -> usize {
    let mut deleted = 0;
    while let Some((claim, ids)) = claim_via
        .claim(queue, "?limit=5", serde_json::json!({"ttl": 300}))
        .await
    {
        for id in ids {
            let previous = deliveries.lock().unwrap().insert(id.clone(), claim.clone());
            assert!(previous.is_none(), "message {id} delivered to two claims");
            let r = delete_via
                .delete(&format!(
                    "/v2/queues/{queue}/messages/{id}?claim_id={claim}"
                ))
                .await;
            assert_eq!(r.status, 204, "{r:?}");
            deleted += 1;
        }
    }
    deleted
}

/// Everything the backend at `store_uri` holds, as text, read with the backend's own
/// client (no server code in between): the SQLite file and its WAL, every row of
/// PostgreSQL's `messages`, every Redis key's value, every MongoDB document.
pub async fn raw_dump(store_uri: &str) -> String {
    if let Some(path) = store_uri.strip_prefix("sqlite://") {
        let path = path.split('?').next().unwrap_or_default();
        let mut out = Vec::new();
        for suffix in ["", "-wal"] {
            if let Ok(bytes) = std::fs::read(format!("{path}{suffix}")) {
                out.extend(bytes);
            }
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    if store_uri.starts_with("postgres") {
        use sea_orm::{ConnectionTrait, Database, Statement};
        let db = Database::connect(store_uri).await.expect("PostgreSQL");
        let row = db
            .query_one_raw(Statement::from_string(
                db.get_database_backend(),
                "SELECT coalesce(string_agg(m::text, E'\\n'), '') FROM messages m",
            ))
            .await
            .expect("dump messages")
            .expect("a row");
        return row.try_get_by_index::<String>(0).expect("text");
    }
    if store_uri.starts_with("redis") {
        let client = redis::Client::open(store_uri).expect("Redis URI");
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .expect("Redis");
        let keys: Vec<String> = redis::cmd("KEYS")
            .arg("*")
            .query_async(&mut conn)
            .await
            .expect("KEYS");
        let mut out = String::new();
        for key in keys {
            let kind: String = redis::cmd("TYPE")
                .arg(&key)
                .query_async(&mut conn)
                .await
                .expect("TYPE");
            let (command, args): (&str, Vec<&str>) = match kind.as_str() {
                "string" => ("GET", vec![]),
                "hash" => ("HGETALL", vec![]),
                "zset" => ("ZRANGE", vec!["0", "-1"]),
                "list" => ("LRANGE", vec!["0", "-1"]),
                "set" => ("SMEMBERS", vec![]),
                _ => continue,
            };
            let value: redis::Value = redis::cmd(command)
                .arg(&key)
                .arg(&args)
                .query_async(&mut conn)
                .await
                .expect("read key");
            out.push_str(&format!("{key} {value:?}\n"));
        }
        return out;
    }
    if store_uri.starts_with("mongodb") {
        use futures_util::TryStreamExt;
        let client = mongodb::Client::with_uri_str(store_uri)
            .await
            .expect("MongoDB");
        let db = client.default_database().expect("a database in the URI");
        let mut out = String::new();
        for name in db.list_collection_names().await.expect("collections") {
            let docs: Vec<mongodb::bson::Document> = db
                .collection::<mongodb::bson::Document>(&name)
                .find(mongodb::bson::doc! {})
                .await
                .expect("find")
                .try_collect()
                .await
                .expect("documents");
            for d in docs {
                out.push_str(&format!("{name} {d}\n"));
            }
        }
        return out;
    }
    panic!("no raw reader for {store_uri}");
}

/// A user's token, straight from a Keystone of `tests/lib.sh start_keystone` (whose users'
/// passwords are their names with `-pw`).
#[allow(dead_code)] // Not every test binary talks to Keystone.
pub async fn keystone_token(keystone: &str, user: &str, project: &str) -> String {
    let body = serde_json::json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": user, "domain": {"id": "default"}, "password": format!("{user}-pw")}}},
        "scope": {"project": {"name": project, "domain": {"id": "default"}}},
    }});
    let r = reqwest::Client::new()
        .post(format!("{keystone}/auth/tokens"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201, "{user} logs in");
    r.headers()["X-Subject-Token"].to_str().unwrap().to_owned()
}
