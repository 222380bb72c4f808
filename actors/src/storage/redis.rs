//! The Redis backend: the redis crate over a bb8 pool of multiplexed connections.
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
//! - [`control`]: the control store (pools, flavors, catalog) on the same Redis.
//! - [`layout`]: the version of the key layout, and the upgrade from layout 1.

pub mod control;
pub mod layout;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bb8_redis::RedisConnectionManager;
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
use crate::storage::reach::Reachability;
use crate::storage::{bounded, DataStore};

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
}

pub struct RedisStore {
    /// Multiplexed connections: each carries many requests at once.
    pool: bb8::Pool<RedisConnectionManager>,
    clock: Clock,
    defaults: QueueDefaults,
    timeout: Duration,
    /// Set once the data is in the current key layout (see [`layout`]): checked, and
    /// upgraded if need be, before the first command that reaches Redis.
    layout: tokio::sync::OnceCell<()>,
    /// Redis's address, to fail fast while it refuses connections.
    reach: Reachability,
}

fn unavailable(e: impl std::fmt::Display) -> StorageError {
    StorageError::Unavailable(format!("redis: {e}"))
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
    serde_json::from_str(json).map_err(|e| unavailable(format!("script answer: {e}")))
}

fn parse_object(text: &str) -> Result<Metadata> {
    serde_json::from_str(text).map_err(|e| unavailable(format!("stored JSON: {e}")))
}

impl RedisStore {
    pub async fn connect(
        opts: &RedisOptions,
        clock: Clock,
        defaults: QueueDefaults,
    ) -> Result<Self> {
        let manager = RedisConnectionManager::new(opts.uri.as_str()).map_err(unavailable)?;
        // Connections are made on demand: a Redis that is down when the server starts costs
        // its queues a 503 until it is up, not the start.
        let pool = bb8::Pool::builder()
            .max_size(opts.pool_size.max(1))
            .connection_timeout(opts.timeout)
            .build_unchecked(manager);
        let store = Self {
            pool,
            clock,
            defaults,
            timeout: opts.command_timeout,
            layout: tokio::sync::OnceCell::new(),
            reach: Reachability::new(redis_addr(&opts.uri).into_iter().collect()),
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

    fn message(&self, r: Row, now: i64) -> Result<(i64, Message)> {
        Ok((
            r.0,
            Message {
                seq: r.0,
                id: r.1,
                body: RawValue::from_string(r.2)
                    .map_err(|e| unavailable(format!("stored body: {e}")))?,
                ttl: r.3,
                age: (now - r.4).max(0) / 1000,
                claim_id: Some(r.5).filter(|c| !c.is_empty()),
                claim_count: r.6,
                created_ms: r.4,
            },
        ))
    }

    fn messages(&self, json: &str, now: i64) -> Result<Vec<Message>> {
        let mut out = rows::<Row>(json)?
            .into_iter()
            .map(|r| self.message(r, now))
            .collect::<Result<Vec<_>>>()?;
        out.sort_by_key(|(seq, _)| *seq);
        Ok(out.into_iter().map(|(_, m)| m).collect())
    }

    fn subscription(&self, r: SubRow, queue: &QueueId, now: i64) -> Result<Subscription> {
        Ok(Subscription {
            id: r.0,
            source: queue.name.clone(),
            subscriber: r.1,
            ttl: r.2,
            options: parse_object(&r.3)?,
            age: (now - r.4).max(0) / 1000,
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
            invocation
                .invoke_async::<T>(&mut *conn)
                .await
                .map_err(unavailable)
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
            cmd.query_async::<T>(&mut *conn).await.map_err(unavailable)
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

    async fn create_queue(&self, queue: &QueueId, metadata: Metadata) -> Result<bool> {
        let keys = [prefix(queue), queues_key(&queue.project)];
        let args = (
            self.clock.now_ms(),
            &queue.name,
            serde_json::Value::Object(metadata).to_string(),
        );
        let created: i64 = self.eval(&scripts().create_queue, &keys, args).await?;
        Ok(created == 1)
    }

    async fn queue_metadata(&self, queue: &QueueId) -> Result<Option<Metadata>> {
        let mut cmd = redis::cmd("GET");
        cmd.arg(format!("{}:meta", prefix(queue)));
        let text: Option<String> = self.command(cmd, "GET").await?;
        text.map(|t| parse_object(&t)).transpose()
    }

    async fn set_queue_metadata(&self, queue: &QueueId, metadata: Metadata) -> Result<()> {
        let mut cmd = redis::cmd("SET");
        cmd.arg(format!("{}:meta", prefix(queue)))
            .arg(serde_json::Value::Object(metadata).to_string())
            .arg("XX");
        let set: Option<String> = self.command(cmd, "SET").await?;
        match set {
            Some(_) => Ok(()),
            None => Err(StorageError::queue_missing(queue)),
        }
    }

    async fn delete_queue(&self, queue: &QueueId) -> Result<()> {
        let keys = [prefix(queue), queues_key(&queue.project)];
        let args = (self.clock.now_ms(), &queue.name);
        let _: String = self.eval(&scripts().delete_queue, &keys, args).await?;
        Ok(())
    }

    async fn list_queues(
        &self,
        project: &str,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<QueueEntry>> {
        let mut cmd = redis::cmd("ZRANGEBYLEX");
        let from = marker.map_or_else(|| "-".to_owned(), |m| format!("({m}"));
        cmd.arg(queues_key(project))
            .arg(from)
            .arg("+")
            .arg("LIMIT")
            .arg(0)
            .arg(limit);
        let names: Vec<String> = self.command(cmd, "ZRANGEBYLEX").await?;
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let mut get = redis::cmd("MGET");
        for name in &names {
            get.arg(format!(
                "{}:meta",
                prefix(&QueueId::new(project, name.as_str()))
            ));
        }
        let metas: Vec<Option<String>> = self.command(get, "MGET").await?;
        names
            .into_iter()
            .zip(metas)
            .map(|(name, meta)| {
                Ok(QueueEntry {
                    name,
                    metadata: meta
                        .map(|m| parse_object(&m))
                        .transpose()?
                        .unwrap_or_default(),
                })
            })
            .collect()
    }

    async fn queue_stats(&self, queue: &QueueId) -> Result<QueueStats> {
        let now = self.clock.now_ms();
        let json: String = self.eval(&scripts().stats, &[prefix(queue)], now).await?;
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Edge {
            Row(Row),
            None(serde::de::IgnoredAny),
        }
        let (total, claimed, first, last): (i64, i64, Edge, Edge) =
            serde_json::from_str(&json).map_err(|e| unavailable(format!("stats answer: {e}")))?;
        let edge = |e: Edge| -> Result<Option<Message>> {
            match e {
                Edge::Row(r) => Ok(Some(self.message(r, now)?.1)),
                Edge::None(_) => Ok(None),
            }
        };
        Ok(QueueStats {
            total,
            claimed,
            free: total - claimed,
            oldest: edge(first)?,
            newest: edge(last)?,
        })
    }

    async fn purge_queue(
        &self,
        queue: &QueueId,
        messages: bool,
        subscriptions: bool,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        if messages {
            // Each call removes a bounded number; a concurrent producer cannot keep this
            // going for ever, since what it posts after the purge began may stay.
            let before: i64 = {
                let mut cmd = redis::cmd("ZCARD");
                cmd.arg(format!("{}:ids", prefix(queue)));
                self.command(cmd, "ZCARD").await?
            };
            for _ in 0..=before / PURGE_BUDGET + 1 {
                let removed: i64 = self.eval(&scripts().purge, &[prefix(queue)], now).await?;
                if removed < PURGE_BUDGET {
                    break;
                }
            }
        }
        if subscriptions {
            for sub in self.list_subscriptions(queue, None, u32::MAX).await? {
                self.delete_subscription(queue, &sub.id).await?;
            }
        }
        Ok(())
    }

    async fn post_messages(
        &self,
        queue: &QueueId,
        client_id: &str,
        messages: Arc<[NewMessage]>,
        size: u64,
        create: bool,
    ) -> Result<Vec<String>> {
        let now = self.clock.now_ms();
        let d = &self.defaults;
        let mut args: Vec<String> = vec![
            now.to_string(),
            queue.name.clone(),
            d.default_message_ttl.to_string(),
            d.default_message_delay.to_string(),
            d.max_messages_post_size.to_string(),
            size.to_string(),
            client_id.to_owned(),
            if create { "1" } else { "0" }.to_owned(),
            messages.len().to_string(),
        ];
        let mut ids = Vec::with_capacity(messages.len());
        for m in messages.iter() {
            let id = Uuid::new_v4().to_string();
            args.push(id.clone());
            args.push(m.body.get().to_owned());
            args.push(m.ttl.map(|t| t.to_string()).unwrap_or_default());
            args.push(m.delay.map(|d| d.to_string()).unwrap_or_default());
            ids.push(id);
        }
        let keys = [prefix(queue), queues_key(&queue.project)];
        let (status, max): (String, u64) = self.eval(&scripts().post, &keys, args).await?;
        match status.as_str() {
            "too_large" => Err(StorageError::PostTooLarge { max }),
            "missing" => Err(StorageError::queue_missing(queue)),
            _ => Ok(ids),
        }
    }

    async fn list_messages(
        &self,
        queue: &QueueId,
        filter: ListFilter,
        marker: Option<MessageMarker>,
        limit: u32,
    ) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let flag = |b: bool| if b { "1" } else { "0" };
        let (marker, kind) = match marker {
            None => (String::new(), "id"),
            Some(MessageMarker::After(seq)) => (seq.to_string(), "seq"),
            Some(MessageMarker::Id(id)) => (id, "id"),
        };
        let args = (
            now,
            marker,
            limit,
            flag(filter.echo),
            flag(filter.include_claimed),
            flag(filter.include_delayed),
            filter.client_id,
            kind,
        );
        let json: String = self.eval(&scripts().list, &[prefix(queue)], args).await?;
        self.messages(&json, now)
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().get, &[prefix(queue)], (now, ids))
            .await?;
        self.messages(&json, now)
    }

    async fn delete_message(
        &self,
        queue: &QueueId,
        id: &str,
        claim_id: Option<&str>,
    ) -> Result<()> {
        let now = self.clock.now_ms();
        let args = (now, id, claim_id.unwrap_or(""));
        let status: String = self.eval(&scripts().delete, &[prefix(queue)], args).await?;
        match status.as_str() {
            "ok" => Ok(()),
            "claimed" => Err(StorageError::MessageIsClaimed { id: id.to_owned() }),
            "not_claimed" => Err(crate::storage::not_held(id, claim_id.unwrap_or_default())),
            "not_claimed_by" => Err(StorageError::MessageNotClaimedBy {
                id: id.to_owned(),
                claim: claim_id.unwrap_or_default().to_owned(),
            }),
            _ => Err(StorageError::ClaimNotValid),
        }
    }

    async fn delete_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval(&scripts().delete_many, &[prefix(queue)], (now, ids))
            .await?;
        Ok(())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().pop, &[prefix(queue)], (now, limit))
            .await?;
        self.messages(&json, now)
    }

    async fn create_claim(
        &self,
        queue: &QueueId,
        ttl: i64,
        grace: i64,
        limit: u32,
    ) -> Result<Option<Claim>> {
        let now = self.clock.now_ms();
        let id = Uuid::new_v4().to_string();
        let args = (now, &id, ttl, grace, limit);
        let json: String = self.eval(&scripts().claim, &[prefix(queue)], args).await?;
        let messages = self.messages(&json, now)?;
        Ok((!messages.is_empty()).then_some(Claim {
            id,
            ttl,
            age: 0,
            messages,
        }))
    }

    async fn get_claim(&self, queue: &QueueId, id: &str) -> Result<Claim> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().get_claim, &[prefix(queue)], (now, id))
            .await?;
        let rows = rows::<Row>(&json)?;
        let (ttl, created) = rows
            .first()
            .map(|r| (r.7, r.8))
            .ok_or_else(|| StorageError::claim_missing(queue, id))?;
        Ok(Claim {
            id: id.to_owned(),
            ttl,
            age: (now - created).max(0) / 1000,
            messages: self.messages(&json, now)?,
        })
    }

    async fn renew_claim(&self, queue: &QueueId, id: &str, ttl: i64, grace: i64) -> Result<()> {
        let now = self.clock.now_ms();
        let renewed: i64 = self
            .eval(&scripts().renew, &[prefix(queue)], (now, id, ttl, grace))
            .await?;
        if renewed == 0 {
            return Err(StorageError::claim_missing(queue, id));
        }
        Ok(())
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval(&scripts().release, &[prefix(queue)], (now, id))
            .await?;
        Ok(())
    }

    async fn create_subscription(
        &self,
        queue: &QueueId,
        subscriber: &str,
        ttl: i64,
        options: Metadata,
    ) -> Result<String> {
        let now = self.clock.now_ms();
        let args = (
            now,
            subscriber,
            ttl,
            serde_json::Value::Object(options).to_string(),
            Uuid::new_v4().to_string(),
        );
        self.eval(&scripts().sub_create, &[prefix(queue)], args)
            .await
    }

    async fn list_subscriptions(
        &self,
        queue: &QueueId,
        marker: Option<String>,
        limit: u32,
    ) -> Result<Vec<Subscription>> {
        let now = self.clock.now_ms();
        let args = (now, marker.unwrap_or_default(), limit);
        let json: String = self
            .eval(&scripts().sub_list, &[prefix(queue)], args)
            .await?;
        rows::<SubRow>(&json)?
            .into_iter()
            .map(|r| self.subscription(r, queue, now))
            .collect()
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval(&scripts().sub_get, &[prefix(queue)], (now, id))
            .await?;
        rows::<SubRow>(&json)?
            .into_iter()
            .next()
            .map(|r| self.subscription(r, queue, now))
            .transpose()?
            .ok_or_else(|| StorageError::subscription_missing(queue, id))
    }

    async fn update_subscription(
        &self,
        queue: &QueueId,
        id: &str,
        update: SubscriptionUpdate,
    ) -> Result<()> {
        self.change_subscription(queue, id, update, None).await
    }

    async fn confirm_subscription(&self, queue: &QueueId, id: &str, confirmed: bool) -> Result<()> {
        self.change_subscription(queue, id, SubscriptionUpdate::default(), Some(confirmed))
            .await
    }

    async fn delete_subscription(&self, queue: &QueueId, id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval(&scripts().sub_delete, &[prefix(queue)], (now, id))
            .await?;
        Ok(())
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
