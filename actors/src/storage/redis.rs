//! The Redis backend: the redis crate over a bb8 pool of multiplexed connections, shared by
//! the requests in flight so that their scripts go out as one pipeline ([`connections`]).
//!
//! Every operation that reads and then writes runs as one Lua script (loaded once, called by
//! SHA; `redis::Script` falls back to EVAL after a restart), so it is atomic: a message is
//! never handed to two live claims however many servers share the Redis. Keys are namespaced
//! by project and queue (`zq2:<len(project)>:<project>:q:<queue>`: the length prefix keeps
//! any project id, `:` included, from reaching into another project's keys, and queue names
//! hold no `:`). Indexes (free, claimed, delayed, by expiry) let every script start where
//! its answer is instead of walking the queue, so none runs in time proportional to the
//! queue's depth; message hashes expire by themselves (PEXPIREAT) and every read checks a
//! message's own expiry, so expiry is exact at read time. The layout is documented in
//! `redis/scripts.lua`, the prelude of every script. Derived keys are built inside the
//! scripts, so this targets a single Redis (or a primary), not Redis Cluster.
//!
//! - `queues`, `messages`, `claims`, `subscriptions`: the four controllers of
//!   [`crate::storage::DataStore`], one file each, as Zaqar splits its drivers.
//! - `lua/<name>.lua`: each script, declared once in a `lua_scripts!` list.
//! - [`control`]: the control store (pools, flavors, catalog) on the same Redis.
//! - [`layout`]: the version of the key layout, and the upgrade from layout 1.

mod claims;
mod connections;
pub mod control;
mod gathered;
pub mod layout;
mod messages;
mod queues;
mod subscriptions;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use redis::{FromRedisValue, Script, ToRedisArgs};
use serde::Deserialize;
use serde_json::value::RawValue;
use uuid::Uuid;

use crate::clock::Clock;
use crate::envelope::{db_call, DbLayer, DbSystem};
use crate::error::{Result, StorageError};
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueDefaults, QueueEntry,
    QueueId, QueueStats, Subscription, SubscriptionUpdate,
};
use crate::storage::bounded;
use crate::storage::common::{age, fifo, parse_object, Undeleted};
use crate::storage::gather;
use crate::storage::options::{Backend, OpenOptions};
use crate::storage::prelude::*;
use crate::storage::reach::Reachability;

/// Redis command spans are named by the script or command (`REDIS claim`).
const REDIS_SPANS: DbSystem = DbSystem {
    system: "redis",
    prefix: "REDIS",
    layer: DbLayer::Redis,
    named_by_statement: true,
};

/// A Lua script with its name (for its span and its time bound).
pub(super) struct Lua {
    name: &'static str,
    script: Script,
}

impl Lua {
    fn new(name: &'static str, prelude: &str, body: &str) -> Self {
        Self {
            name,
            script: Script::new(&format!("{prelude}{body}")),
        }
    }
}

/// Declares a set of scripts, each the file `redis/lua/<name>.lua` (after `prelude`),
/// compiled once (their SHA is computed once), under `$get()`.
macro_rules! lua_scripts {
    ($get:ident, $ty:ident, $prelude:expr, [$($name:ident),* $(,)?]) => {
        pub(super) struct $ty {
            $(pub(super) $name: $crate::storage::redis::Lua,)*
        }

        pub(super) fn $get() -> &'static $ty {
            static SCRIPTS: std::sync::OnceLock<$ty> = std::sync::OnceLock::new();
            SCRIPTS.get_or_init(|| $ty {
                $($name: $crate::storage::redis::Lua::new(
                    stringify!($name),
                    $prelude,
                    include_str!(concat!(
                        env!("CARGO_MANIFEST_DIR"),
                        "/src/storage/redis/lua/",
                        stringify!($name),
                        ".lua"
                    )),
                ),)*
            })
        }
    };
}
pub(super) use lua_scripts;

// The data scripts share the helpers of `redis/scripts.lua` (`tidy`, `load`, `scan`, ...).
lua_scripts!(
    scripts,
    Scripts,
    include_str!("redis/scripts.lua"),
    [
        post,
        create_queue,
        list,
        get,
        delete,
        delete_many,
        pop,
        claim,
        get_claim,
        renew,
        release,
        stats,
        purge,
        delete_queue,
        sub_create,
        sub_list,
        sub_get,
        sub_update,
        sub_delete
    ]
);

/// Messages one call of the purge script removes at most (`BUDGET` in scripts.lua).
const PURGE_BUDGET: i64 = 1000;

/// A message as the scripts return it (see `out` in scripts.lua).
#[derive(Deserialize)]
struct Row(i64, String, String, i64, i64, String, i64, i64, i64);

/// A subscription as the scripts return it.
#[derive(Deserialize)]
struct SubRow(String, String, i64, String, i64, i64);

/// Connection settings of the Redis store.
#[derive(Clone, Debug)]
pub struct RedisOptions {
    pub uri: String,
    pub pool_size: u32,
    /// Bounds waiting for a pooled connection (and opening one).
    pub timeout: Duration,
    /// Bounds each script or command, so a frozen Redis answers 503 instead of hanging
    /// requests.
    pub command_timeout: Duration,
    /// Bounds of the batches posts and deletes by id are gathered in (`gathered`).
    pub write_batch: gather::BatchLimits,
}

pub struct RedisStore {
    /// Multiplexed connections: each carries many requests at once.
    pool: connections::Pool,
    clock: Clock,
    timeout: Duration,
    /// Set once the data is in the current key layout (see [`layout`]): checked, and
    /// upgraded if need be, before the first command that reaches Redis.
    layout: tokio::sync::OnceCell<()>,
    /// Redis's address, to fail fast while it refuses connections.
    reach: Arc<Reachability>,
    /// Where posts and deletes by id go, gathered across requests (`gathered`).
    posts: gather::Lane<gathered::Posts>,
    deletes: gather::Lane<gathered::Deletes>,
}

fn unavailable(e: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> StorageError {
    StorageError::unavailable_in("redis", e)
}

/// The host and port of a `redis://` URI (none for a Unix socket).
fn redis_addr(uri: &str) -> Option<(String, u16)> {
    use redis::{ConnectionAddr, IntoConnectionInfo};
    match uri.into_connection_info().ok()?.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => {
            Some((host.clone(), *port))
        }
        _ => None,
    }
}

/// The version of the key layout below, kept in [`LAYOUT_KEY`].
const LAYOUT: i64 = 2;
const LAYOUT_KEY: &str = "zq:layout";

/// Every key of a project starts with this: the project id length-prefixed, so that no
/// project id (which may hold any character, `:` included) can reach into another's keys.
fn project_key(project: &str) -> String {
    format!("zq2:{}:{project}", project.len())
}

/// The key prefix of a queue: the project's, then `:q:` and the queue name (which holds no
/// `:`), so that what follows (`:meta`, `:ids`, `:m:<id>`, ...) is unambiguous too.
fn prefix(queue: &QueueId) -> String {
    format!("{}:q:{}", project_key(&queue.project), queue.name)
}

fn queues_key(project: &str) -> String {
    format!("{}:queues", project_key(project))
}

/// cjson writes an empty Lua table as `{}`: that is an empty list here.
fn rows<T: serde::de::DeserializeOwned>(json: &str) -> Result<Vec<T>> {
    if json == "{}" {
        return Ok(Vec::new());
    }
    serde_json::from_str(json).map_err(|e| StorageError::unavailable_in("redis: script answer", e))
}

impl RedisStore {
    /// Opens `uri` for the backend table (`storage::open`); the store serves both messages
    /// and the catalog.
    pub async fn open(uri: String, opts: OpenOptions) -> Result<Backend> {
        let redis = RedisOptions {
            uri,
            pool_size: opts.pool_size,
            timeout: opts.timeout,
            command_timeout: opts.command_timeout,
            write_batch: opts.write_batch,
        };
        Self::connect(&redis, opts.clock, opts.defaults)
            .await
            .map(Backend::of)
    }

    pub async fn connect(
        opts: &RedisOptions,
        clock: Clock,
        defaults: QueueDefaults,
    ) -> Result<Self> {
        let manager = connections::Manager::new(opts.uri.as_str()).map_err(unavailable)?;
        // Connections are made on demand: a Redis that is down when the server starts costs
        // its queues a 503 until it is up, not the start.
        let pool = connections::pool(manager, opts.pool_size, opts.timeout);
        let reach = Arc::new(Reachability::new(
            redis_addr(&opts.uri).into_iter().collect(),
        ));
        let sender = || gathered::Sender {
            pool: pool.clone(),
            reach: reach.clone(),
            clock: clock.clone(),
            defaults: defaults.clone(),
        };
        let (capacity, timeout) = (gather::LANE_CAPACITY, opts.command_timeout);
        let posts = gather::Lane::start(sender(), capacity, timeout, opts.write_batch);
        let deletes = gather::Lane::start(sender(), capacity, timeout, opts.write_batch);
        let store = Self {
            pool,
            clock,
            timeout: opts.command_timeout,
            layout: tokio::sync::OnceCell::new(),
            reach,
            posts,
            deletes,
        };
        if let Err(e) = store.ping().await {
            tracing::warn!(
                store = %crate::storage::uri::redact_uri(&opts.uri),
                error = %e,
                "Redis unreachable at start; its queues answer 503 until it is reachable"
            );
        }
        Ok(store)
    }

    fn message(&self, r: Row, now: i64) -> Result<Message> {
        Ok(Message {
            seq: r.0,
            id: r.1,
            body: RawValue::from_string(r.2)
                .map_err(|e| StorageError::unavailable_in("redis: stored body", e))?,
            ttl: r.3,
            age: age(now, r.4),
            claim_id: Some(r.5).filter(|c| !c.is_empty()),
            claim_count: r.6,
            created_ms: r.4,
        })
    }

    fn messages(&self, json: &str, now: i64) -> Result<Vec<Message>> {
        let out = rows::<Row>(json)?.into_iter().map(|r| self.message(r, now));
        Ok(fifo(out.collect::<Result<_>>()?))
    }

    fn subscription(&self, r: SubRow, queue: &QueueId, now: i64) -> Result<Subscription> {
        Ok(Subscription {
            id: r.0,
            source: queue.name.clone(),
            subscriber: r.1,
            ttl: r.2,
            options: parse_object(&r.3)?,
            age: age(now, r.4),
            confirmed: r.5 != 0,
        })
    }

    /// Runs one script under a time bound, in a span of its own when traced.
    async fn eval<T: FromRedisValue>(
        &self,
        lua: &Lua,
        keys: &[String],
        args: impl ToRedisArgs,
    ) -> Result<T> {
        self.ready().await?;
        let name = lua.name;
        let mut invocation = lua.script.prepare_invoke();
        for k in keys {
            invocation.key(k);
        }
        invocation.arg(args);
        let run = async {
            let mut conn = self.pool.get().await.map_err(unavailable)?;
            let answer = invocation.invoke_async::<T>(&mut conn.redis).await;
            conn.note(&answer);
            answer.map_err(unavailable)
        };
        let run = self.reach.guard(bounded(self.timeout, name, run));
        db_call(REDIS_SPANS, "EVALSHA", Some(name), run).await
    }

    /// Runs one plain command under a time bound, in a span of its own when traced.
    async fn command<T: FromRedisValue>(&self, cmd: redis::Cmd, name: &'static str) -> Result<T> {
        self.ready().await?;
        self.raw_command(cmd, name).await
    }

    /// [`Self::command`] without waiting for the key layout to be current (the upgrade
    /// itself runs on it).
    async fn raw_command<T: FromRedisValue>(
        &self,
        cmd: redis::Cmd,
        name: &'static str,
    ) -> Result<T> {
        let run = async {
            let mut conn = self.pool.get().await.map_err(unavailable)?;
            let answer = cmd.query_async::<T>(&mut conn.redis).await;
            conn.note(&answer);
            answer.map_err(unavailable)
        };
        let run = self.reach.guard(bounded(self.timeout, name, run));
        db_call(REDIS_SPANS, name, Some(name), run).await
    }
}

#[async_trait]
impl DataStore for RedisStore {
    fn name(&self) -> &'static str {
        "RedisStore"
    }

    async fn ping(&self) -> Result<()> {
        let pong: String = self.command(redis::cmd("PING"), "PING").await?;
        if pong == "PONG" {
            Ok(())
        } else {
            Err(unavailable(format!("PING answered {pong}")))
        }
    }
}

impl RedisStore {
    async fn change_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
        confirmed: Option<bool>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let args = (
            now,
            id,
            update.subscriber.unwrap_or_default(),
            update.ttl.map(|t| t.to_string()).unwrap_or_default(),
            update
                .options
                .map(|o| serde_json::Value::Object(o).to_string())
                .unwrap_or_default(),
            confirmed
                .map(|c| i64::from(c).to_string())
                .unwrap_or_default(),
        );
        let changed: i64 = self
            .eval(&scripts().sub_update, &[prefix(queue)], args)
            .await?;
        match changed {
            0 => Err(StorageError::subscription_missing(queue, id)),
            -1 => Err(StorageError::SubscriptionAlreadyExists),
            _ => Ok(()),
        }
    }
}
