//! `zaqar pool …`, `zaqar flavor …` and `zaqar health`: the admin API.

use clap::Subcommand;
use serde_json::{json, Value};

use super::args::Paging;
use super::render::{compact, table, Out};
use super::{parse_object, Failure, Outcome};
use crate::client::Client;

#[derive(Subcommand)]
pub enum PoolCmd {
    /// Register a pool: a backend URI and its share (weight) of new queues.
    Create {
        /// The pool's name.
        name: String,
        /// Its backend: a sqlite://, postgres://, redis:// or mongodb:// URI.
        uri: String,
        /// Its share of new queues, against the other pools' weights.
        #[arg(long, default_value_t = 100)]
        weight: u32,
        /// The flavor it serves.
        #[arg(long)]
        flavor: Option<String>,
        /// Options (a JSON object).
        #[arg(long)]
        options: Option<String>,
    },
    /// List pools.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a pool.
    Show {
        /// The pool.
        name: String,
    },
    /// Change a pool's weight, flavor or options.
    Update {
        /// The pool.
        name: String,
        /// A new weight.
        #[arg(long)]
        weight: Option<u32>,
        /// A new flavor.
        #[arg(long)]
        flavor: Option<String>,
        /// New options (a JSON object).
        #[arg(long)]
        options: Option<String>,
    },
    /// Remove a pool (it must hold no queues).
    Delete {
        /// The pool.
        name: String,
    },
}

#[derive(Subcommand)]
pub enum FlavorCmd {
    /// Create a flavor of these pools.
    Create {
        /// The flavor's name.
        name: String,
        /// A pool it places queues in (repeat for more).
        #[arg(long = "pool", required = true)]
        pools: Vec<String>,
    },
    /// List flavors.
    List {
        #[command(flatten)]
        paging: Paging,
    },
    /// Show a flavor.
    Show {
        /// The flavor.
        name: String,
    },
    /// Replace a flavor's pools.
    Update {
        /// The flavor.
        name: String,
        /// A pool it places queues in (repeat for more).
        #[arg(long = "pool", required = true)]
        pools: Vec<String>,
    },
    /// Delete a flavor.
    Delete {
        /// The flavor.
        name: String,
    },
}

pub fn pools_table(pools: &[crate::client::Pool]) -> String {
    table(
        &["NAME", "URI", "WEIGHT", "FLAVOR"],
        pools
            .iter()
            .map(|p| {
                vec![
                    p.name.clone(),
                    p.uri.clone(),
                    p.weight.to_string(),
                    p.flavor.clone().unwrap_or_default(),
                ]
            })
            .collect(),
    )
}

pub async fn pool(cmd: &PoolCmd, client: &Client, out: &Out) -> Outcome {
    match cmd {
        PoolCmd::Create {
            name,
            uri,
            weight,
            flavor,
            options,
        } => {
            let options = options
                .as_deref()
                .map(|o| parse_object("--options", o))
                .transpose()?;
            client
                .create_pool(name, uri, *weight, flavor.as_deref(), options.as_ref())
                .await?;
            out.show(&json!({"created": name}), || format!("created pool {name}"));
        }
        PoolCmd::List { paging } => {
            let page = client
                .list_pools(paging.marker.as_deref(), paging.limit)
                .await?;
            out.show(&page.items, || pools_table(&page.items));
        }
        PoolCmd::Show { name } => {
            let p = client.get_pool(name).await?;
            out.show(&p, || pools_table(std::slice::from_ref(&p)));
        }
        PoolCmd::Update {
            name,
            weight,
            flavor,
            options,
        } => {
            let mut patch = serde_json::Map::new();
            if let Some(w) = weight {
                patch.insert("weight".into(), (*w).into());
            }
            if let Some(f) = flavor {
                patch.insert("flavor".into(), f.clone().into());
            }
            if let Some(o) = options {
                patch.insert("options".into(), parse_object("--options", o)?);
            }
            if patch.is_empty() {
                return Err(Failure::Usage(
                    "nothing to update: give --weight, --flavor or --options".into(),
                ));
            }
            let p = client.update_pool(name, &Value::Object(patch)).await?;
            out.show(&p, || pools_table(std::slice::from_ref(&p)));
        }
        PoolCmd::Delete { name } => {
            client.delete_pool(name).await?;
            out.show(&json!({"deleted": name}), || format!("deleted pool {name}"));
        }
    }
    Ok(())
}

pub fn flavors_table(flavors: &[crate::client::Flavor]) -> String {
    table(
        &["NAME", "POOLS", "CAPABILITIES"],
        flavors
            .iter()
            .map(|f| {
                vec![
                    f.name.clone(),
                    f.pool_list.join(","),
                    f.capabilities.clone().unwrap_or_default().join(","),
                ]
            })
            .collect(),
    )
}

pub async fn flavor(cmd: &FlavorCmd, client: &Client, out: &Out) -> Outcome {
    match cmd {
        FlavorCmd::Create { name, pools } => {
            client.create_flavor(name, pools).await?;
            out.show(&json!({"created": name}), || {
                format!("created flavor {name}")
            });
        }
        FlavorCmd::List { paging } => {
            let page = client
                .list_flavors(paging.marker.as_deref(), paging.limit)
                .await?;
            out.show(&page.items, || flavors_table(&page.items));
        }
        FlavorCmd::Show { name } => {
            let f = client.get_flavor(name).await?;
            out.show(&f, || flavors_table(std::slice::from_ref(&f)));
        }
        FlavorCmd::Update { name, pools } => {
            let f = client.update_flavor(name, pools).await?;
            out.show(&f, || flavors_table(std::slice::from_ref(&f)));
        }
        FlavorCmd::Delete { name } => {
            client.delete_flavor(name).await?;
            out.show(&json!({"deleted": name}), || {
                format!("deleted flavor {name}")
            });
        }
    }
    Ok(())
}

/// `zaqar health`: whether the catalog and each pool answer.
pub async fn health(client: &Client, out: &Out) -> Outcome {
    let health = client.health().await?;
    out.show(&health, || {
        let mut rows = vec![vec![
            "(catalog)".to_owned(),
            compact(&health["catalog_reachable"]),
        ]];
        if let Some(pools) = health["pools"].as_object() {
            rows.extend(
                pools
                    .iter()
                    .map(|(name, p)| vec![name.clone(), compact(&p["storage_reachable"])]),
            );
        }
        table(&["POOL", "REACHABLE"], rows)
    });
    Ok(())
}
