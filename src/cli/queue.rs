//! `zaqar queue …`.

use clap::Subcommand;
use serde_json::json;

use super::args::Paging;
use super::render::{compact, object_table, table, Out};
use super::{parse_object, Outcome};
use crate::client::Client;

#[derive(Subcommand)]
pub enum QueueCmd {
    /// Create a queue, optionally with metadata (a JSON object).
    Create {
        /// The queue's name (letters, digits, `_` and `-`, at most 64).
        name: String,
        /// Its metadata (a JSON object), reserved keys such as `_default_message_ttl` too.
        #[arg(long)]
        metadata: Option<String>,
    },
    /// List queues.
    List {
        #[command(flatten)]
        paging: Paging,
        /// Include each queue's metadata.
        #[arg(long)]
        detailed: bool,
    },
    /// Show a queue's metadata.
    Show {
        /// The queue.
        name: String,
    },
    /// Set metadata keys (a JSON object; other keys stay).
    SetMetadata {
        /// The queue.
        name: String,
        /// The keys to set (a JSON object).
        metadata: String,
    },
    /// Message counts, oldest and newest.
    Stats {
        /// The queue.
        name: String,
    },
    /// Delete a queue with its messages.
    Delete {
        /// The queue.
        name: String,
    },
    /// Delete the unclaimed messages and/or the subscriptions.
    Purge {
        /// The queue.
        name: String,
        /// messages, subscriptions (default: both).
        #[arg(long, value_delimiter = ',')]
        resource_types: Vec<String>,
    },
}

pub async fn run(cmd: &QueueCmd, client: &Client, out: &Out) -> Outcome {
    match cmd {
        QueueCmd::Create { name, metadata } => {
            let metadata = metadata
                .as_deref()
                .map(|m| parse_object("--metadata", m))
                .transpose()?;
            let created = client.create_queue(name, metadata.as_ref()).await?;
            out.show(&json!({"name": name, "created": created}), || {
                if created {
                    format!("created queue {name}")
                } else {
                    format!("queue {name} already exists")
                }
            });
        }
        QueueCmd::List { paging, detailed } => {
            let page = client
                .list_queues(paging.marker.as_deref(), paging.limit, *detailed)
                .await?;
            out.show(&page.items, || {
                let rows = page
                    .items
                    .iter()
                    .map(|q| {
                        let mut row = vec![q.name.clone()];
                        if *detailed {
                            row.push(q.metadata.as_ref().map(compact).unwrap_or_default());
                        }
                        row
                    })
                    .collect();
                if *detailed {
                    table(&["NAME", "METADATA"], rows)
                } else {
                    table(&["NAME"], rows)
                }
            });
        }
        QueueCmd::Show { name } => {
            let metadata = client.queue_metadata(name).await?;
            out.show(&metadata, || object_table(&metadata));
        }
        QueueCmd::SetMetadata { name, metadata } => {
            let metadata = parse_object("the metadata", metadata)?;
            let now = client.set_queue_metadata(name, &metadata).await?;
            out.show(&now, || object_table(&now));
        }
        QueueCmd::Stats { name } => {
            let stats = client.queue_stats(name).await?;
            out.show(&stats, || {
                table(
                    &["CLAIMED", "FREE", "TOTAL"],
                    vec![vec![
                        compact(&stats["claimed"]),
                        compact(&stats["free"]),
                        compact(&stats["total"]),
                    ]],
                )
            });
        }
        QueueCmd::Delete { name } => {
            client.delete_queue(name).await?;
            out.show(&json!({"deleted": name}), || {
                format!("deleted queue {name}")
            });
        }
        QueueCmd::Purge {
            name,
            resource_types,
        } => {
            client.purge_queue(name, resource_types).await?;
            out.show(&json!({"purged": name}), || format!("purged queue {name}"));
        }
    }
    Ok(())
}
