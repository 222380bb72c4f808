//! `zaqar message …`, and reading the messages of a post.

use std::io::Read;
use std::path::PathBuf;

use clap::Subcommand;
use serde_json::{json, Value};

use super::args::Paging;
use super::render::{messages_table, Out};
use super::{parse_json, Failure, Outcome};
use crate::client::{Client, ListOptions, NewMessage};

#[derive(Subcommand)]
pub enum MessageCmd {
    /// Post messages: each BODY argument is one message (JSON, or else a string); without
    /// any, the JSON of --file (or of stdin): a body, a list of bodies or of
    /// {"body", "ttl", "delay"} objects, or {"messages": [...]}.
    Post {
        /// The queue.
        queue: String,
        /// Message bodies, one message each (JSON, else a string).
        bodies: Vec<String>,
        /// Read the messages from this file ("-": stdin).
        #[arg(long)]
        file: Option<PathBuf>,
        /// Seconds each message lives (default: the queue's).
        #[arg(long)]
        ttl: Option<i64>,
        /// Seconds before a message can be claimed or listed.
        #[arg(long)]
        delay: Option<i64>,
    },
    /// List messages in FIFO order.
    List {
        /// The queue.
        queue: String,
        #[command(flatten)]
        paging: Paging,
        /// Include this client's own messages.
        #[arg(long)]
        echo: bool,
        /// Include messages a live claim holds.
        #[arg(long)]
        include_claimed: bool,
        /// Include messages whose delay has not ended.
        #[arg(long)]
        include_delayed: bool,
    },
    /// Show messages by id.
    Get {
        /// The queue.
        queue: String,
        /// The message ids.
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete a message (a claimed one needs --claim-id).
    Delete {
        /// The queue.
        queue: String,
        /// The message id.
        id: String,
        /// The claim that holds the message (needed when one does).
        #[arg(long)]
        claim_id: Option<String>,
    },
    /// Remove and print up to COUNT unclaimed messages from the head of the queue.
    Pop {
        /// The queue.
        queue: String,
        /// How many messages, at most.
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
}

/// The messages of a post: the BODY arguments, else the JSON of the file or stdin.
pub fn messages_to_post(
    bodies: &[String],
    file: Option<&PathBuf>,
    ttl: Option<i64>,
    delay: Option<i64>,
) -> Result<Vec<NewMessage>, Failure> {
    let with = |body: Value| NewMessage { body, ttl, delay };
    if !bodies.is_empty() {
        return Ok(bodies
            .iter()
            .map(|b| with(serde_json::from_str(b).unwrap_or_else(|_| Value::String(b.clone()))))
            .collect());
    }
    let mut text = String::new();
    match file {
        Some(p) if p.as_os_str() != "-" => {
            text = std::fs::read_to_string(p)
                .map_err(|e| Failure::Usage(format!("cannot read {}: {e}", p.display())))?;
        }
        _ => {
            std::io::stdin()
                .read_to_string(&mut text)
                .map_err(|e| Failure::Usage(format!("cannot read stdin: {e}")))?;
        }
    }
    let doc = parse_json("the messages", &text)?;
    let items = match doc {
        Value::Object(mut o) if o.contains_key("messages") => {
            o.remove("messages").unwrap_or_default()
        }
        Value::Array(_) => doc,
        single => Value::Array(vec![single]),
    };
    let Value::Array(items) = items else {
        return Err(Failure::Usage("\"messages\" must be a list".into()));
    };
    Ok(items
        .into_iter()
        .map(|item| match item {
            Value::Object(ref o) if o.contains_key("body") => {
                let mut m: NewMessage =
                    serde_json::from_value(item.clone()).unwrap_or_else(|_| with(item.clone()));
                m.ttl = m.ttl.or(ttl);
                m.delay = m.delay.or(delay);
                m
            }
            other => with(other),
        })
        .collect())
}

pub async fn run(cmd: &MessageCmd, client: &Client, out: &Out) -> Outcome {
    match cmd {
        MessageCmd::Post {
            queue,
            bodies,
            file,
            ttl,
            delay,
        } => {
            let messages = messages_to_post(bodies, file.as_ref(), *ttl, *delay)?;
            let ids = client.post(queue, &messages).await?;
            out.show(&json!({ "ids": ids }), || ids.join("\n"));
        }
        MessageCmd::List {
            queue,
            paging,
            echo,
            include_claimed,
            include_delayed,
        } => {
            let opts = ListOptions {
                limit: paging.limit,
                marker: paging.marker.clone(),
                echo: *echo,
                include_claimed: *include_claimed,
                include_delayed: *include_delayed,
            };
            let page = client.list_messages(queue, &opts).await?;
            out.show(&page.items, || messages_table(&page.items));
        }
        MessageCmd::Get { queue, ids } => {
            let mut found = Vec::with_capacity(ids.len());
            for id in ids {
                found.push(client.get_message(queue, id).await?);
            }
            out.show(&found, || messages_table(&found));
        }
        MessageCmd::Delete {
            queue,
            id,
            claim_id,
        } => {
            client
                .delete_message(queue, id, claim_id.as_deref())
                .await?;
            out.show(&json!({"deleted": id}), || format!("deleted message {id}"));
        }
        MessageCmd::Pop { queue, count } => {
            let popped = client.pop(queue, *count).await?;
            out.show(&popped, || messages_table(&popped));
        }
    }
    Ok(())
}
