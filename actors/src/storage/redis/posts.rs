//! The Redis store's posts gathered across requests (`storage::gather`): every post waiting
//! while the previous batch ran goes to Redis in one `post` script call per queue.
//!
//! Each script call costs Redis far more than its messages' own commands (BENCHMARKS.md
//! "Sixth round": one message a call, 65 µs a call in Redis; four, 42 µs a message), and with
//! `appendfsync always` Redis makes every call of one turn of its event loop durable with one
//! fsync: fewer, larger calls let a turn hold more posts. The script answers each post in
//! turn (posted, too large, queue missing), as if they had run one after another, so a post
//! refused is refused alone. A call that fails (Redis down, time bound) fails the posts it
//! carried, each with that error; the other queues' calls of the batch stand.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use futures_util::future::{join_all, BoxFuture};

use super::connections::Pool;
use super::{prefix, queues_key, scripts, unavailable, REDIS_SPANS};
use crate::clock::Clock;
use crate::envelope::DbSystem;
use crate::error::{Result, StorageError};
use crate::model::{QueueDefaults, QueueId};
use crate::storage::bounded;
use crate::storage::gather::Gathered;
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
#[derive(Debug, Clone, PartialEq, Eq)]
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
        Box::pin(async move {
            // One call per queue, in the order the queues first appear; all sent at once (the
            // connections pipeline them).
            let mut queues: HashMap<&QueueId, usize> = HashMap::new();
            let mut groups: Vec<Vec<usize>> = Vec::new();
            for (i, post) in posts.iter().enumerate() {
                let g = *queues.entry(&post.queue).or_insert_with(|| {
                    groups.push(Vec::new());
                    groups.len() - 1
                });
                groups[g].push(i);
            }
            let calls = groups.iter().map(|group| {
                let members: Vec<&Post> = group.iter().map(|&i| posts[i]).collect();
                call(sender, members, timeout)
            });
            let mut answers: Vec<Option<Result<Posted>>> = vec![None; posts.len()];
            for (group, answer) in groups.iter().zip(join_all(calls).await) {
                match answer {
                    Ok(each) => {
                        for (&i, posted) in group.iter().zip(each) {
                            answers[i] = Some(Ok(posted));
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
                .map(|a| a.expect("every post is in one group"))
                .collect())
        })
    }

    fn failed(done: &Result<Posted>) -> bool {
        done.is_err()
    }
}

/// One script call for `posts`, all of one queue: how each went.
async fn call(sender: &Sender, posts: Vec<&Post>, timeout: Duration) -> Result<Vec<Posted>> {
    let queue = &posts[0].queue;
    let d = &sender.defaults;
    let mut invocation = scripts().post.script.prepare_invoke();
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
    let run = async {
        let mut conn = sender.pool.get().await.map_err(unavailable)?;
        let answer = invocation
            .invoke_async::<Vec<String>>(&mut conn.redis)
            .await;
        conn.note(&answer);
        answer.map_err(unavailable)
    };
    let answer = sender
        .reach
        .guard(bounded(timeout, scripts().post.name, run))
        .await?;
    if answer.len() != posts.len() * 2 {
        return Err(StorageError::unavailable_in(
            "redis: post script answer",
            format!("{} values for {} posts", answer.len(), posts.len()),
        ));
    }
    answer
        .chunks(2)
        .map(|pair| match pair[0].as_str() {
            "ok" => Ok(Posted::Stored),
            "missing" => Ok(Posted::QueueMissing),
            "too_large" => pair[1]
                .parse()
                .map(|max| Posted::TooLarge { max })
                .map_err(|e| StorageError::unavailable_in("redis: post script answer", e)),
            other => Err(StorageError::unavailable_in(
                "redis: post script answer",
                format!("unknown status {other:?}"),
            )),
        })
        .collect()
}
