//! `zaqar subscription …`.

use clap::Subcommand;
use serde_json::{json, Map, Value};

use super::render::{compact, table, Out};
use super::{parse_object, Failure, Outcome};
use crate::client::{Client, NewSubscription, Subscription};

#[derive(Subcommand)]
pub enum SubscriptionCmd {
    /// Subscribe a subscriber (http(s)://…, mailto:…, trust+http(s)://…) to a queue.
    Create {
        /// The queue.
        queue: String,
        /// Where notifications go.
        subscriber: String,
        /// Seconds the subscription lives (default: the server's).
        #[arg(long)]
        ttl: Option<i64>,
        /// Options (a JSON object), e.g. '{"post_data": …}' for webhooks.
        #[arg(long)]
        options: Option<String>,
    },
    /// List a queue's subscriptions.
    List {
        /// The queue.
        queue: String,
        #[command(flatten)]
        paging: super::args::Paging,
    },
    /// Show a subscription.
    Show {
        /// The queue.
        queue: String,
        /// The subscription id.
        id: String,
    },
    /// Change a subscription's subscriber, TTL or options (options are replaced whole).
    Update {
        /// The queue.
        queue: String,
        /// The subscription id.
        id: String,
        /// A new subscriber.
        #[arg(long)]
        subscriber: Option<String>,
        /// A new TTL, in seconds from now.
        #[arg(long)]
        ttl: Option<i64>,
        /// New options (a JSON object).
        #[arg(long)]
        options: Option<String>,
    },
    /// Delete a subscription.
    Delete {
        /// The queue.
        queue: String,
        /// The subscription id.
        id: String,
    },
}

fn options(text: Option<&str>) -> Result<Option<Map<String, Value>>, Failure> {
    let Some(text) = text else {
        return Ok(None);
    };
    match parse_object("--options", text)? {
        Value::Object(o) => Ok(Some(o)),
        _ => Err(Failure::Usage("--options must be a JSON object".into())),
    }
}

fn subscriptions_table(subs: &[Subscription]) -> String {
    if subs.is_empty() {
        return "(no subscriptions)".into();
    }
    table(
        &["ID", "SUBSCRIBER", "TTL", "AGE", "CONFIRMED", "OPTIONS"],
        subs.iter()
            .map(|s| {
                vec![
                    s.id.clone(),
                    s.subscriber.clone(),
                    s.ttl.to_string(),
                    s.age.to_string(),
                    s.confirmed.to_string(),
                    compact(&Value::Object(s.options.clone())),
                ]
            })
            .collect(),
    )
}

pub async fn run(cmd: &SubscriptionCmd, client: &Client, out: &Out) -> Outcome {
    match cmd {
        SubscriptionCmd::Create {
            queue,
            subscriber,
            ttl,
            options: opts,
        } => {
            let new = NewSubscription {
                subscriber: subscriber.clone(),
                ttl: *ttl,
                options: options(opts.as_deref())?,
            };
            let id = client.create_subscription(queue, &new).await?;
            out.show(&json!({ "subscription_id": id }), || id.clone());
        }
        SubscriptionCmd::List { queue, paging } => {
            let page = client
                .list_subscriptions(queue, paging.marker.as_deref(), paging.limit)
                .await?;
            out.show(&page.items, || subscriptions_table(&page.items));
        }
        SubscriptionCmd::Show { queue, id } => {
            let s = client.get_subscription(queue, id).await?;
            out.show(&s, || subscriptions_table(std::slice::from_ref(&s)));
        }
        SubscriptionCmd::Update {
            queue,
            id,
            subscriber,
            ttl,
            options: opts,
        } => {
            let opts = options(opts.as_deref())?;
            if subscriber.is_none() && ttl.is_none() && opts.is_none() {
                return Err(Failure::Usage(
                    "nothing to update: give --subscriber, --ttl or --options".into(),
                ));
            }
            client
                .update_subscription(queue, id, subscriber.as_deref(), *ttl, opts.as_ref())
                .await?;
            out.show(&json!({ "updated": id }), || {
                format!("updated subscription {id}")
            });
        }
        SubscriptionCmd::Delete { queue, id } => {
            client.delete_subscription(queue, id).await?;
            out.show(&json!({ "deleted": id }), || {
                format!("deleted subscription {id}")
            });
        }
    }
    Ok(())
}
