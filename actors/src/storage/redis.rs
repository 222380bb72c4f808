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
use std::sync::OnceLock;
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

macro_rules! lua {
    ($body:literal) => {
        concat!(include_str!("redis/scripts.lua"), $body)
    };
}

const POST: &str = lua!(
    r#"
local ttl_d, delay_d, max = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local meta = redis.call('GET', P .. ':meta')
if meta then
  local ok, m = pcall(cjson.decode, meta)
  if ok and type(m) == 'table' then
    if type(m._default_message_ttl) == 'number' then ttl_d = m._default_message_ttl end
    if type(m._default_message_delay) == 'number' then delay_d = m._default_message_delay end
    if type(m._max_messages_post_size) == 'number' then max = m._max_messages_post_size end
  end
end
if tonumber(ARGV[6]) > max then return {'too_large', max} end
if not meta then
  if ARGV[8] ~= '1' then return {'missing', 0} end
  redis.call('SET', P .. ':meta', '{}')
  redis.call('ZADD', KEYS[2], 0, ARGV[2])
end
local client, n = ARGV[7], tonumber(ARGV[9])
for i = 0, n - 1 do
  local id, body, t, d = ARGV[10 + i * 4], ARGV[11 + i * 4], ARGV[12 + i * 4], ARGV[13 + i * 4]
  local ttl = (t == '') and ttl_d or tonumber(t)
  local delay = (d == '') and delay_d or tonumber(d)
  local seq = redis.call('INCR', P .. ':seq')
  local e, v = now + ttl * 1000, now + delay * 1000
  redis.call('HSET', mkey(id), 's', seq, 'b', body, 't', ttl, 'c', now, 'e', e,
    'v', v, 'cl', client, 'ci', '', 'ce', 0, 'n', 0, 'ct', 0, 'cc', 0)
  redis.call('PEXPIREAT', mkey(id), e)
  redis.call('ZADD', IDS, seq, id)
  redis.call('ZADD', EXP, e, id)
  if v > now then redis.call('ZADD', LATER, v, id) else redis.call('ZADD', FREE, seq, id) end
end
return {'ok', 0}
"#
);

const CREATE_QUEUE: &str = lua!(
    r#"
local created = redis.call('SET', P .. ':meta', ARGV[3], 'NX')
redis.call('ZADD', KEYS[2], 0, ARGV[2])
if created then return 1 end
return 0
"#
);

const LIST: &str = lua!(
    r#"
tidy()
local after = 0
if ARGV[8] == 'seq' then after = tonumber(ARGV[2])
elseif ARGV[2] ~= '' then after = redis.call('ZSCORE', IDS, ARGV[2]) or 0 end
local limit, echo, claimed, delayed, client =
  tonumber(ARGV[3]), ARGV[4] == '1', ARGV[5] == '1', ARGV[6] == '1', ARGV[7]
-- Without claimed or delayed messages, the free index holds exactly the candidates.
local index = IDS
if not claimed and not delayed then index = FREE end
local res = {}
scan(index, after, function(m)
  if (echo or m.cl ~= client) and (claimed or not held(m)) and (delayed or m.v <= now) then
    res[#res + 1] = out(m)
  end
  return #res < limit
end)
return cjson.encode(res)
"#
);

const GET: &str = lua!(
    r#"
local res = {}
for i = 2, #ARGV do
  local m = load(ARGV[i])
  if m then res[#res + 1] = out(m) end
end
return cjson.encode(res)
"#
);

const DELETE: &str = lua!(
    r#"
local m = load(ARGV[2])
if not m then return 'ok' end
local claim = ARGV[3]
if claim == '' then
  if held(m) then return 'claimed' end
elseif not held(m) then
  return 'not_claimed'
elseif m.ci ~= claim then
  if claim_is_live(claim) then return 'not_claimed_by' end
  return 'claim_not_valid'
end
forget(m.id)
return 'ok'
"#
);

const DELETE_MANY: &str = lua!(
    r#"
for i = 2, #ARGV do
  if redis.call('ZSCORE', IDS, ARGV[i]) then forget(ARGV[i]) end
end
return 'ok'
"#
);

const POP: &str = lua!(
    r#"
tidy()
local limit, res = tonumber(ARGV[2]), {}
scan(FREE, 0, function(m)
  if not held(m) and m.v <= now then
    res[#res + 1] = out(m)
    forget(m.id)
  end
  return #res < limit
end)
return cjson.encode(res)
"#
);

const CLAIM: &str = lua!(
    r#"
tidy()
local cid, ttl, grace, limit = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local ce, keep = now + ttl * 1000, now + (ttl + grace) * 1000
local set = P .. ':c:' .. cid
local res = {}
scan(FREE, 0, function(m)
  if not held(m) and m.v <= now then
    local e = math.max(m.e, keep)
    redis.call('HSET', mkey(m.id), 'ci', cid, 'ce', ce, 'ct', ttl, 'cc', now, 'n', m.n + 1, 'e', e)
    redis.call('PEXPIREAT', mkey(m.id), e)
    redis.call('ZADD', EXP, e, m.id)
    redis.call('ZREM', FREE, m.id)
    redis.call('ZADD', HELD, ce, m.id)
    redis.call('SADD', set, m.id)
    m.ci, m.ce, m.ct, m.cc, m.n, m.e = cid, ce, ttl, now, m.n + 1, e
    res[#res + 1] = out(m)
  end
  return #res < limit
end)
if #res > 0 then redis.call('PEXPIREAT', set, keep) end
return cjson.encode(res)
"#
);

const GET_CLAIM: &str = lua!(
    r#"
local cid, res = ARGV[2], {}
for _, id in ipairs(redis.call('SMEMBERS', P .. ':c:' .. cid)) do
  local m = load(id)
  if m and m.ci == cid and held(m) then res[#res + 1] = out(m) end
end
return cjson.encode(res)
"#
);

const RENEW: &str = lua!(
    r#"
local cid, ttl, grace = ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local ce, keep = now + ttl * 1000, now + (ttl + grace) * 1000
local set, renewed = P .. ':c:' .. cid, 0
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local m = load(id)
  if m and m.ci == cid and held(m) then
    local e = math.max(m.e, keep)
    redis.call('HSET', mkey(id), 'ce', ce, 'ct', ttl, 'cc', now, 'e', e)
    redis.call('PEXPIREAT', mkey(id), e)
    redis.call('ZADD', EXP, e, id)
    redis.call('ZADD', HELD, ce, id)
    renewed = renewed + 1
  end
end
if renewed > 0 then redis.call('PEXPIREAT', set, keep) end
return renewed
"#
);

const RELEASE: &str = lua!(
    r#"
local cid = ARGV[2]
local set = P .. ':c:' .. cid
for _, id in ipairs(redis.call('SMEMBERS', set)) do
  local m = load(id)
  if m and m.ci == cid then
    redis.call('HSET', mkey(id), 'ci', '', 'ce', 0)
    free_again(id, HELD)
  end
end
redis.call('DEL', set)
return 'ok'
"#
);

const STATS: &str = lua!(
    r#"
tidy()
local total = redis.call('ZCOUNT', EXP, '(' .. now, '+inf')
local claimed = redis.call('ZCOUNT', HELD, '(' .. now, '+inf')
return cjson.encode({total, claimed, edge(false), edge(true)})
"#
);

// Removes at most BUDGET unclaimed messages; the Rust side calls it until none is left, so
// that purging a deep queue never blocks Redis for long.
const PURGE: &str = lua!(
    r#"
tidy()
local removed = 0
for _, index in ipairs({FREE, LATER}) do
  for _, id in ipairs(redis.call('ZRANGE', index, 0, BUDGET - removed - 1)) do
    forget(id)
    removed = removed + 1
  end
  if removed >= BUDGET then break end
end
return removed
"#
);

// Constant work whatever the queue's depth: the indexes are unlinked (freed in the
// background by Redis), and the message hashes, unreachable without P:ids, expire by
// themselves.
const DELETE_QUEUE: &str = lua!(
    r#"
for _, id in ipairs(redis.call('HVALS', P .. ':subs')) do redis.call('DEL', P .. ':s:' .. id) end
redis.call('UNLINK', IDS, EXP, FREE, HELD, LATER, P .. ':seq', P .. ':meta', P .. ':subs')
redis.call('ZREM', KEYS[2], ARGV[2])
return 'ok'
"#
);

const SUB_CREATE: &str = lua!(
    r#"
local subs = P .. ':subs'
local id = redis.call('HGET', subs, ARGV[2])
if id and tonumber(redis.call('HGET', P .. ':s:' .. id, 'e') or '0') > now then return id end
id = ARGV[5]
local e = now + tonumber(ARGV[3]) * 1000
redis.call('HSET', P .. ':s:' .. id, 'sub', ARGV[2], 't', ARGV[3], 'o', ARGV[4], 'c', now, 'e', e, 'k', 0)
redis.call('PEXPIREAT', P .. ':s:' .. id, e)
redis.call('HSET', subs, ARGV[2], id)
return id
"#
);

const SUB_LIST: &str = lua!(
    r#"
local marker, limit, ids = ARGV[2], tonumber(ARGV[3]), {}
local pairs_ = redis.call('HGETALL', P .. ':subs')
for i = 1, #pairs_, 2 do
  local sub, id = pairs_[i], pairs_[i + 1]
  local e = tonumber(redis.call('HGET', P .. ':s:' .. id, 'e') or '0')
  if e > now then
    if id > marker then ids[#ids + 1] = id end
  else
    redis.call('HDEL', P .. ':subs', sub)
  end
end
table.sort(ids)
local res = {}
for i = 1, math.min(limit, #ids) do
  local f = redis.call('HMGET', P .. ':s:' .. ids[i], 'sub', 't', 'o', 'c', 'k')
  res[#res + 1] = {ids[i], f[1], tonumber(f[2]), f[3], tonumber(f[4]), tonumber(f[5])}
end
return cjson.encode(res)
"#
);

const SUB_GET: &str = lua!(
    r#"
local f = redis.call('HMGET', P .. ':s:' .. ARGV[2], 'sub', 't', 'o', 'c', 'k', 'e')
if not f[1] or tonumber(f[6]) <= now then return cjson.encode({}) end
return cjson.encode({{ARGV[2], f[1], tonumber(f[2]), f[3], tonumber(f[4]), tonumber(f[5])}})
"#
);

const SUB_UPDATE: &str = lua!(
    r#"
local key = P .. ':s:' .. ARGV[2]
local f = redis.call('HMGET', key, 'sub', 'e')
if not f[1] or tonumber(f[2]) <= now then return 0 end
if ARGV[3] ~= '' and ARGV[3] ~= f[1] then
  -- Subscribers are unique per queue: a live holder is a conflict, an expired one gives way.
  local holder = redis.call('HGET', P .. ':subs', ARGV[3])
  if holder and holder ~= ARGV[2] then
    local he = redis.call('HGET', P .. ':s:' .. holder, 'e')
    if he and tonumber(he) > now then return -1 end
  end
  redis.call('HDEL', P .. ':subs', f[1])
  redis.call('HSET', P .. ':subs', ARGV[3], ARGV[2])
  redis.call('HSET', key, 'sub', ARGV[3])
end
if ARGV[4] ~= '' then
  local e = now + tonumber(ARGV[4]) * 1000
  redis.call('HSET', key, 't', ARGV[4], 'e', e)
  redis.call('PEXPIREAT', key, e)
end
if ARGV[5] ~= '' then redis.call('HSET', key, 'o', ARGV[5]) end
if ARGV[6] ~= '' then redis.call('HSET', key, 'k', ARGV[6]) end
return 1
"#
);

const SUB_DELETE: &str = lua!(
    r#"
local key = P .. ':s:' .. ARGV[2]
local sub = redis.call('HGET', key, 'sub')
if sub then redis.call('HDEL', P .. ':subs', sub) end
redis.call('DEL', key)
return 'ok'
"#
);

/// Redis command spans are named by the script or command (`REDIS claim`).
const REDIS_SPANS: DbSystem = DbSystem {
    system: "redis",
    prefix: "REDIS",
    layer: DbLayer::Redis,
    named_by_statement: true,
};
/// The compiled scripts (their SHA is computed once).
struct Scripts {
    post: Script,
    create_queue: Script,
    list: Script,
    get: Script,
    delete: Script,
    delete_many: Script,
    pop: Script,
    claim: Script,
    get_claim: Script,
    renew: Script,
    release: Script,
    stats: Script,
    purge: Script,
    delete_queue: Script,
    sub_create: Script,
    sub_list: Script,
    sub_get: Script,
    sub_update: Script,
    sub_delete: Script,
}

fn scripts() -> &'static Scripts {
    static SCRIPTS: OnceLock<Scripts> = OnceLock::new();
    SCRIPTS.get_or_init(|| Scripts {
        post: Script::new(POST),
        create_queue: Script::new(CREATE_QUEUE),
        list: Script::new(LIST),
        get: Script::new(GET),
        delete: Script::new(DELETE),
        delete_many: Script::new(DELETE_MANY),
        pop: Script::new(POP),
        claim: Script::new(CLAIM),
        get_claim: Script::new(GET_CLAIM),
        renew: Script::new(RENEW),
        release: Script::new(RELEASE),
        stats: Script::new(STATS),
        purge: Script::new(PURGE),
        delete_queue: Script::new(DELETE_QUEUE),
        sub_create: Script::new(SUB_CREATE),
        sub_list: Script::new(SUB_LIST),
        sub_get: Script::new(SUB_GET),
        sub_update: Script::new(SUB_UPDATE),
        sub_delete: Script::new(SUB_DELETE),
    })
}

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
        name: &'static str,
        script: &Script,
        keys: &[String],
        args: impl ToRedisArgs,
    ) -> Result<T> {
        self.ready().await?;
        let mut invocation = script.prepare_invoke();
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
        let created: i64 = self
            .eval("create_queue", &scripts().create_queue, &keys, args)
            .await?;
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
        let _: String = self
            .eval("delete_queue", &scripts().delete_queue, &keys, args)
            .await?;
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
        let json: String = self
            .eval("stats", &scripts().stats, &[prefix(queue)], now)
            .await?;
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
                let removed: i64 = self
                    .eval("purge", &scripts().purge, &[prefix(queue)], now)
                    .await?;
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
        let (status, max): (String, u64) = self.eval("post", &scripts().post, &keys, args).await?;
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
        let json: String = self
            .eval("list", &scripts().list, &[prefix(queue)], args)
            .await?;
        self.messages(&json, now)
    }

    async fn get_messages(&self, queue: &QueueId, ids: Vec<String>) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval("get", &scripts().get, &[prefix(queue)], (now, ids))
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
        let status: String = self
            .eval("delete", &scripts().delete, &[prefix(queue)], args)
            .await?;
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
            .eval(
                "delete_many",
                &scripts().delete_many,
                &[prefix(queue)],
                (now, ids),
            )
            .await?;
        Ok(())
    }

    async fn pop_messages(&self, queue: &QueueId, limit: u32) -> Result<Vec<Message>> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval("pop", &scripts().pop, &[prefix(queue)], (now, limit))
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
        let json: String = self
            .eval("claim", &scripts().claim, &[prefix(queue)], args)
            .await?;
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
            .eval(
                "get_claim",
                &scripts().get_claim,
                &[prefix(queue)],
                (now, id),
            )
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
            .eval(
                "renew",
                &scripts().renew,
                &[prefix(queue)],
                (now, id, ttl, grace),
            )
            .await?;
        if renewed == 0 {
            return Err(StorageError::claim_missing(queue, id));
        }
        Ok(())
    }

    async fn release_claim(&self, queue: &QueueId, id: &str) -> Result<()> {
        let now = self.clock.now_ms();
        let _: String = self
            .eval("release", &scripts().release, &[prefix(queue)], (now, id))
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
        self.eval("sub_create", &scripts().sub_create, &[prefix(queue)], args)
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
            .eval("sub_list", &scripts().sub_list, &[prefix(queue)], args)
            .await?;
        rows::<SubRow>(&json)?
            .into_iter()
            .map(|r| self.subscription(r, queue, now))
            .collect()
    }

    async fn get_subscription(&self, queue: &QueueId, id: &str) -> Result<Subscription> {
        let now = self.clock.now_ms();
        let json: String = self
            .eval("sub_get", &scripts().sub_get, &[prefix(queue)], (now, id))
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
            .eval(
                "sub_delete",
                &scripts().sub_delete,
                &[prefix(queue)],
                (now, id),
            )
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
            .eval("sub_update", &scripts().sub_update, &[prefix(queue)], args)
            .await?;
        match changed {
            0 => Err(StorageError::subscription_missing(queue, id)),
            -1 => Err(StorageError::SubscriptionAlreadyExists),
            _ => Ok(()),
        }
    }
}
