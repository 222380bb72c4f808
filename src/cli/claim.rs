//! `zaqar claim …`.

use clap::Subcommand;
use serde_json::json;

use super::render::{messages_table, Out};
use super::Outcome;
use crate::client::Client;

#[derive(Subcommand)]
pub enum ClaimCmd {
    /// Claim up to --limit messages for --ttl seconds.
    Create {
        /// The queue.
        queue: String,
        /// Seconds the claim holds its messages.
        #[arg(long, default_value_t = 300)]
        ttl: i64,
        /// Seconds a claimed message outlives the claim.
        #[arg(long, default_value_t = 60)]
        grace: i64,
        /// At most this many messages (default: the server's).
        #[arg(long)]
        limit: Option<u32>,
    },
    /// Show a claim and the messages it holds.
    Show {
        /// The queue.
        queue: String,
        /// The claim id.
        id: String,
    },
    /// Restart a claim's TTL.
    Renew {
        /// The queue.
        queue: String,
        /// The claim id.
        id: String,
        /// Seconds the claim holds its messages from now.
        #[arg(long, default_value_t = 300)]
        ttl: i64,
        /// Seconds a claimed message outlives the claim.
        #[arg(long, default_value_t = 60)]
        grace: i64,
    },
    /// Release a claim's messages.
    Release {
        /// The queue.
        queue: String,
        /// The claim id.
        id: String,
    },
}

pub async fn run(cmd: &ClaimCmd, client: &Client, out: &Out) -> Outcome {
    match cmd {
        ClaimCmd::Create {
            queue,
            ttl,
            grace,
            limit,
        } => {
            let claim = client.claim(queue, *ttl, *grace, *limit).await?;
            out.show(&claim, || match &claim {
                None => "no messages to claim".into(),
                Some(c) => format!("claim {}\n{}", c.id, messages_table(&c.messages)),
            });
        }
        ClaimCmd::Show { queue, id } => {
            let c = client.get_claim(queue, id).await?;
            out.show(&c, || {
                format!(
                    "claim {} (ttl {}, age {})\n{}",
                    c.id,
                    c.ttl,
                    c.age,
                    messages_table(&c.messages)
                )
            });
        }
        ClaimCmd::Renew {
            queue,
            id,
            ttl,
            grace,
        } => {
            client.renew_claim(queue, id, *ttl, *grace).await?;
            out.show(&json!({"renewed": id}), || format!("renewed claim {id}"));
        }
        ClaimCmd::Release { queue, id } => {
            client.release_claim(queue, id).await?;
            out.show(&json!({"released": id}), || format!("released claim {id}"));
        }
    }
    Ok(())
}
