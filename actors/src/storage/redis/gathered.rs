//! The Redis store's writes gathered across requests (`storage::gather`): every post, and
//! every delete by id, waiting while the previous batch ran goes to Redis in one script call
//! per queue (`post.lua`, `delete.lua`).
//!
//! Each script call costs Redis far more than its messages' own commands (BENCHMARKS.md
//! "Sixth round": one message a call, 65 µs a call in Redis; four, 42 µs a message), and with
//! `appendfsync always` Redis makes every call of one turn of its event loop durable with one
//! fsync: fewer, larger calls let a turn hold more requests. The scripts answer each request
//! in turn (a post stored, too large or without its queue; a delete done or refused and
//! why), as if they had run one after another, so a request refused is refused alone. A
//! call that fails (Redis down, time bound) fails the requests it carried, each with that
//! error; the other queues' calls of the batch stand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture};

use super::connections::Pool;
use super::{prefix, queues_key, scripts, unavailable, Lua, REDIS_SPANS};
use crate::clock::Clock;
use crate::envelope::{db_call, record_batch, DbSystem};
use crate::error::{Result, StorageError};
use crate::model::{QueueDefaults, QueueId};
use crate::storage::bounded;
use crate::storage::gather::{Gathered, Lane};
use crate::storage::reach::Reachability;

/// What the lane sends on: the store's connections and what a call needs besides.
pub(super) struct Sender {
    pub(super) pool: Pool,
    pub(super) reach: Arc<Reachability>,
    pub(super) clock: Clock,
    pub(super) defaults: QueueDefaults,
}

/// One request's post.
pub(super) struct Post {
    pub(super) queue: QueueId,
    /// `size, client id, create, n`, then `id, body, ttl, delay` of each message: its part
    /// of the script's arguments.
    pub(super) args: Vec<String>,
}

impl Post {
    fn messages(&self) -> usize {
        (self.args.len() - 4) / 4
    }
}

/// How a post went.
#[derive(Debug)]
pub(super) enum Posted {
    Stored,
    TooLarge { max: u64 },
    QueueMissing,
}

pub(super) struct Posts;

impl Gathered for Posts {
    type Conn = Sender;
    type Job = Post;
    type Done = Result<Posted>;
    const NAME: &'static str = "redis posts";
    const SPANS: DbSystem = REDIS_SPANS;
    /// Messages in one batch; a larger post goes alone.
    const MAX_ROWS: usize = 1000;

    fn rows(post: &Post) -> usize {
        post.messages()
    }

    fn run<'a>(
        sender: &'a Sender,
        posts: &'a [&'a Post],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<Result<Posted>>>> {
        Box::pin(per_queue(
            posts,
            |post| &post.queue,
            move |posts| post_call(sender, posts, timeout),
        ))
    }

    fn failed(done: &Result<Posted>) -> bool {
        done.is_err()
    }
}

impl super::RedisStore {
    /// Runs `job` with the next batch of its lane, in a span named after `lua` when traced
    /// (linked to the batch's own span): its answer, once the batch's call has returned.
    pub(super) async fn gathered<K, T>(&self, lane: &Lane<K>, lua: &Lua, job: K::Job) -> Result<T>
    where
        K: Gathered<Done = Result<T>>,
    {
        self.ready().await?;
        db_call(REDIS_SPANS, "EVALSHA", Some(lua.name), async {
            let (done, batch) = lane.run(job).await?;
            record_batch(&batch);
            done
        })
        .await
    }
}

/// Each job's answer from one call per queue (`call`, given the jobs of one queue in
/// order), the calls made at once (the connections pipeline them).
async fn per_queue<'a, J, A, F>(
    jobs: &'a [&'a J],
    queue: impl Fn(&J) -> &QueueId,
    call: impl Fn(Vec<&'a J>) -> F,
) -> Result<Vec<Result<A>>>
where
    F: std::future::Future<Output = Result<Vec<A>>>,
{
    let mut queues: HashMap<&QueueId, usize> = HashMap::new();
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, job) in jobs.iter().enumerate() {
        let g = *queues.entry(queue(job)).or_insert_with(|| {
            groups.push(Vec::new());
            groups.len() - 1
        });
        groups[g].push(i);
    }
    let calls = groups
        .iter()
        .map(|group| call(group.iter().map(|&i| jobs[i]).collect()));
    let mut answers: Vec<Option<Result<A>>> = jobs.iter().map(|_| None).collect();
    for (group, answer) in groups.iter().zip(join_all(calls).await) {
        match answer {
            Ok(each) => {
                for (&i, a) in group.iter().zip(each) {
                    answers[i] = Some(Ok(a));
                }
            }
            Err(e) => {
                for &i in group {
                    answers[i] = Some(Err(e.clone()));
                }
            }
        }
    }
    Ok(answers
        .into_iter()
        .map(|a| a.expect("every job is in one group"))
        .collect())
}

/// Runs one prepared script call on the store's connections under `timeout`: its answer,
/// which must hold `expected` values (any other count is an unavailable store, not a guess).
async fn invoke(
    sender: &Sender,
    lua: &Lua,
    invocation: redis::ScriptInvocation<'_>,
    timeout: Duration,
    expected: usize,
) -> Result<Vec<String>> {
    let run = async {
        let mut conn = sender.pool.get().await.map_err(unavailable)?;
        let answer = invocation
            .invoke_async::<Vec<String>>(&mut conn.redis)
            .await;
        conn.note(&answer);
        answer.map_err(unavailable)
    };
    let answer = sender.reach.guard(bounded(timeout, lua.name, run)).await?;
    if answer.len() != expected {
        return Err(bad_answer(
            lua,
            format!("{} values, {expected} expected", answer.len()),
        ));
    }
    Ok(answer)
}

fn bad_answer(lua: &Lua, what: impl std::fmt::Display) -> StorageError {
    StorageError::unavailable_in("redis: script answer", format!("{}: {what}", lua.name))
}

/// One `post` call for `posts`, all of one queue: how each went.
async fn post_call(sender: &Sender, posts: Vec<&Post>, timeout: Duration) -> Result<Vec<Posted>> {
    let lua = &scripts().post;
    let queue = &posts[0].queue;
    let d = &sender.defaults;
    let mut invocation = lua.script.prepare_invoke();
    invocation
        .key(prefix(queue))
        .key(queues_key(&queue.project))
        .arg(sender.clock.now_ms())
        .arg(&queue.name)
        .arg(d.default_message_ttl)
        .arg(d.default_message_delay)
        .arg(d.max_messages_post_size)
        .arg(posts.len());
    for post in &posts {
        invocation.arg(&post.args);
    }
    let answer = invoke(sender, lua, invocation, timeout, posts.len() * 2).await?;
    answer
        .chunks(2)
        .map(|pair| match pair[0].as_str() {
            "ok" => Ok(Posted::Stored),
            "missing" => Ok(Posted::QueueMissing),
            "too_large" => pair[1]
                .parse()
                .map(|max| Posted::TooLarge { max })
                .map_err(|e| bad_answer(lua, e)),
            other => Err(bad_answer(lua, format!("status {other:?}"))),
        })
        .collect()
}

/// One request's delete by id.
pub(super) struct Delete {
    pub(super) queue: QueueId,
    pub(super) id: String,
    /// The claim named, or empty.
    pub(super) claim: String,
}

/// Deletes by id; each is answered the script's word for it (`delete.lua`).
pub(super) struct Deletes;

impl Gathered for Deletes {
    type Conn = Sender;
    type Job = Delete;
    type Done = Result<String>;
    const NAME: &'static str = "redis deletes";
    const SPANS: DbSystem = REDIS_SPANS;
    const MAX_ROWS: usize = 1000;

    fn run<'a>(
        sender: &'a Sender,
        deletes: &'a [&'a Delete],
        timeout: Duration,
    ) -> BoxFuture<'a, Result<Vec<Result<String>>>> {
        Box::pin(per_queue(
            deletes,
            |d| &d.queue,
            move |deletes| delete_call(sender, deletes, timeout),
        ))
    }

    fn failed(done: &Result<String>) -> bool {
        done.is_err()
    }
}

/// One `delete` call for `deletes`, all of one queue.
async fn delete_call(
    sender: &Sender,
    deletes: Vec<&Delete>,
    timeout: Duration,
) -> Result<Vec<String>> {
    let lua = &scripts().delete;
    let mut invocation = lua.script.prepare_invoke();
    invocation
        .key(prefix(&deletes[0].queue))
        .arg(sender.clock.now_ms())
        .arg(deletes.len());
    for d in &deletes {
        invocation.arg(&d.id).arg(&d.claim);
    }
    invoke(sender, lua, invocation, timeout, deletes.len()).await
}
