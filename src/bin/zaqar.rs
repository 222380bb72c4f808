//! `zaqar`: the command-line client of a Zaqar v2 server (this one or OpenStack's).
//!
//! Built on [`zaqar::client`]. Human-readable tables by default, `--json` for scripts.
//! `--profile KEY` signs every request with OSProfiler headers and prints the trace id to
//! stderr afterwards. Exit codes: 0 done, 1 the server refused (its `title: description` is
//! printed), 2 bad usage, 3 the server could not be reached.

use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, CommandFactory, Parser, Subcommand};
use serde::Serialize;
use serde_json::{json, Value};
use zaqar::client::{Client, ClientError, ListOptions, Message, NewMessage};

#[derive(Parser)]
#[command(
    name = "zaqar",
    version,
    about = "Command-line client of a Zaqar v2 message queue",
    after_help = "Environment: ZAQAR_URL, ZAQAR_PROJECT, ZAQAR_PROFILE (or OS_PROFILE), \
                  ZAQAR_TRACE_URL.\nExit codes: 0 done, 1 refused by the server, 2 bad usage, \
                  3 server unreachable."
)]
struct Cli {
    /// Server URL.
    #[arg(
        long,
        env = "ZAQAR_URL",
        default_value = "http://127.0.0.1:8888",
        global = true
    )]
    url: String,
    /// Project (tenant) the requests act for (X-Project-ID).
    #[arg(long, env = "ZAQAR_PROJECT", default_value = "default", global = true)]
    project: String,
    /// Client id (a UUID). Default: one kept in the user's config directory, so `echo`
    /// semantics hold across invocations.
    #[arg(long, global = true)]
    client_id: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// Trace the requests: sign them with this OSProfiler HMAC key (one the server lists in
    /// [profiler] hmac_keys), then print the trace id.
    #[arg(long, env = "ZAQAR_PROFILE", global = true, hide_env_values = true)]
    profile: Option<String>,
    /// Where to look a trace up, e.g. http://localhost:16686/trace/{trace_id}; printed with
    /// the trace id.
    #[arg(long, env = "ZAQAR_TRACE_URL", global = true)]
    trace_url: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Queues: create, list, show, set-metadata, stats, delete, purge.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Messages: post, list, get, delete, pop.
    #[command(subcommand)]
    Message(MessageCmd),
    /// Claims: create, show, renew, release.
    #[command(subcommand)]
    Claim(ClaimCmd),
    /// Storage pools (admin).
    #[command(subcommand)]
    Pool(PoolCmd),
    /// Flavors: groups of pools (admin).
    #[command(subcommand)]
    Flavor(FlavorCmd),
    /// Whether the catalog and each pool answer (admin).
    Health,
    /// Whether the server and its storage answer.
    Ping,
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
}

#[derive(Args)]
struct Paging {
    /// Start after this name or id.
    #[arg(long)]
    marker: Option<String>,
    /// At most this many (the server caps it).
    #[arg(long)]
    limit: Option<u32>,
}

#[derive(Subcommand)]
enum QueueCmd {
    /// Create a queue, optionally with metadata (a JSON object).
    Create {
        name: String,
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
    Show { name: String },
    /// Set metadata keys (a JSON object; other keys stay).
    SetMetadata { name: String, metadata: String },
    /// Message counts, oldest and newest.
    Stats { name: String },
    /// Delete a queue with its messages.
    Delete { name: String },
    /// Delete the unclaimed messages and/or the subscriptions.
    Purge {
        name: String,
        /// messages, subscriptions (default: both).
        #[arg(long, value_delimiter = ',')]
        resource_types: Vec<String>,
    },
}

#[derive(Subcommand)]
enum MessageCmd {
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
        #[arg(long)]
        include_claimed: bool,
        #[arg(long)]
        include_delayed: bool,
    },
    /// Show messages by id.
    Get {
        /// The queue.
        queue: String,
        #[arg(required = true)]
        ids: Vec<String>,
    },
    /// Delete a message (a claimed one needs --claim-id).
    Delete {
        /// The queue.
        queue: String,
        id: String,
        #[arg(long)]
        claim_id: Option<String>,
    },
    /// Remove and print up to COUNT unclaimed messages from the head of the queue.
    Pop {
        /// The queue.
        queue: String,
        #[arg(long, default_value_t = 1)]
        count: u32,
    },
}

#[derive(Subcommand)]
enum ClaimCmd {
    /// Claim up to --limit messages for --ttl seconds.
    Create {
        /// The queue.
        queue: String,
        #[arg(long, default_value_t = 300)]
        ttl: i64,
        #[arg(long, default_value_t = 60)]
        grace: i64,
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
        id: String,
        #[arg(long, default_value_t = 300)]
        ttl: i64,
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

#[derive(Subcommand)]
enum PoolCmd {
    /// Register a pool: a backend URI and its share (weight) of new queues.
    Create {
        name: String,
        uri: String,
        #[arg(long, default_value_t = 100)]
        weight: u32,
        #[arg(long)]
        flavor: Option<String>,
        /// Options (a JSON object).
        #[arg(long)]
        options: Option<String>,
    },
    List {
        #[command(flatten)]
        paging: Paging,
    },
    Show {
        name: String,
    },
    /// Change a pool's weight, flavor or options.
    Update {
        name: String,
        #[arg(long)]
        weight: Option<u32>,
        #[arg(long)]
        flavor: Option<String>,
        #[arg(long)]
        options: Option<String>,
    },
    Delete {
        name: String,
    },
}

#[derive(Subcommand)]
enum FlavorCmd {
    /// Create a flavor of these pools.
    Create {
        name: String,
        #[arg(long = "pool", required = true)]
        pools: Vec<String>,
    },
    List {
        #[command(flatten)]
        paging: Paging,
    },
    Show {
        name: String,
    },
    /// Replace a flavor's pools.
    Update {
        name: String,
        #[arg(long = "pool", required = true)]
        pools: Vec<String>,
    },
    Delete {
        name: String,
    },
}

/// A failure of the command, with its exit code.
enum Failure {
    Client(ClientError),
    Usage(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

type Outcome = Result<(), Failure>;

fn parse_json(what: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Usage(format!("{what} is not JSON: {e}")))
}

fn parse_object(what: &str, text: &str) -> Result<Value, Failure> {
    let v = parse_json(what, text)?;
    if v.is_object() {
        Ok(v)
    } else {
        Err(Failure::Usage(format!("{what} must be a JSON object")))
    }
}

/// The client id kept in the user's config directory, created on first use; a fresh one
/// when there is no such directory.
fn stored_client_id() -> String {
    let dir = std::env::var_os("XDG_CONFIG_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))
        .map(|d| d.join("zaqar"));
    let fresh = uuid::Uuid::new_v4().to_string();
    let Some(dir) = dir else { return fresh };
    let path = dir.join("client-id");
    if let Ok(text) = std::fs::read_to_string(&path) {
        if let Ok(id) = uuid::Uuid::parse_str(text.trim()) {
            return id.to_string();
        }
    }
    if std::fs::create_dir_all(&dir).is_ok() {
        let _ = std::fs::write(&path, format!("{fresh}\n"));
    }
    fresh
}

/// The messages of a post: the BODY arguments, else the JSON of the file or stdin.
fn messages_to_post(
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

// ---- output ------------------------------------------------------------------------------

struct Out {
    json: bool,
}

impl Out {
    /// `value` as JSON with --json, else the table or text `human` makes.
    fn show<T: Serialize>(&self, value: &T, human: impl FnOnce() -> String) {
        if self.json {
            println!(
                "{}",
                serde_json::to_string_pretty(value).unwrap_or_else(|_| "null".into())
            );
        } else {
            let text = human();
            if !text.is_empty() {
                println!("{}", text.trim_end());
            }
        }
    }
}

/// Columns padded to their widest cell.
fn table(headers: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.len()).collect();
    for row in &rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_owned()
    };
    let mut out = vec![line(headers.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.into_iter().map(line));
    out.join("\n")
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn messages_table(messages: &[Message]) -> String {
    if messages.is_empty() {
        return "(no messages)".into();
    }
    table(
        &["ID", "AGE", "TTL", "BODY"],
        messages
            .iter()
            .map(|m| {
                vec![
                    m.id.clone(),
                    m.age.to_string(),
                    m.ttl.to_string(),
                    compact(&m.body),
                ]
            })
            .collect(),
    )
}

fn object_table(v: &Value) -> String {
    let Some(o) = v.as_object() else {
        return compact(v);
    };
    table(
        &["KEY", "VALUE"],
        o.iter().map(|(k, v)| vec![k.clone(), compact(v)]).collect(),
    )
}

// ---- commands ----------------------------------------------------------------------------

async fn run(cli: &Cli, client: &Client) -> Outcome {
    let out = Out { json: cli.json };
    match &cli.command {
        Command::Queue(cmd) => queue(cmd, client, &out).await,
        Command::Message(cmd) => message(cmd, client, &out).await,
        Command::Claim(cmd) => claim(cmd, client, &out).await,
        Command::Pool(cmd) => pool(cmd, client, &out).await,
        Command::Flavor(cmd) => flavor(cmd, client, &out).await,
        Command::Health => {
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
        Command::Ping => {
            client.ping().await?;
            out.show(&json!({"ok": true}), || "ok".into());
            Ok(())
        }
        Command::Completions { .. } => Ok(()),
    }
}

async fn queue(cmd: &QueueCmd, client: &Client, out: &Out) -> Outcome {
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

async fn message(cmd: &MessageCmd, client: &Client, out: &Out) -> Outcome {
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

async fn claim(cmd: &ClaimCmd, client: &Client, out: &Out) -> Outcome {
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

fn pools_table(pools: &[zaqar::client::Pool]) -> String {
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

async fn pool(cmd: &PoolCmd, client: &Client, out: &Out) -> Outcome {
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

fn flavors_table(flavors: &[zaqar::client::Flavor]) -> String {
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

async fn flavor(cmd: &FlavorCmd, client: &Client, out: &Out) -> Outcome {
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

/// After a profiled command: the trace id (as a UUID and in the hex form OTLP backends
/// show), and the link when a template was given.
fn print_trace(id: uuid::Uuid, template: Option<&str>) {
    let hex = id.simple().to_string();
    eprintln!("Trace ID: {id}");
    eprintln!("OTLP trace id: {hex}");
    if let Some(t) = template {
        eprintln!(
            "Trace: {}",
            t.replace("{trace_id}", &hex)
                .replace("{uuid}", &id.to_string())
        );
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "zaqar", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    let admin = matches!(
        cli.command,
        Command::Pool(_) | Command::Flavor(_) | Command::Health
    );
    let client_id = cli.client_id.clone().unwrap_or_else(stored_client_id);
    if uuid::Uuid::parse_str(&client_id).is_err() {
        eprintln!("zaqar: --client-id must be a UUID");
        return ExitCode::from(2);
    }
    // openstack's own variable, for users of `openstack --os-profile`.
    let profile = cli
        .profile
        .clone()
        .or_else(|| std::env::var("OS_PROFILE").ok());
    let mut client = Client::new(&cli.url, &cli.project)
        .with_client_id(client_id)
        .with_admin_role(admin);
    if let Some(key) = &profile {
        client = match client.with_profile(key) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("zaqar: {e}");
                return ExitCode::from(2);
            }
        };
    }
    let outcome = run(&cli, &client).await;
    if let Some(id) = client.trace_id() {
        print_trace(id, cli.trace_url.as_deref());
    }
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(msg)) => {
            eprintln!("zaqar: {msg}");
            ExitCode::from(2)
        }
        Err(Failure::Client(e @ ClientError::Api { .. })) => {
            eprintln!("{e}");
            ExitCode::from(1)
        }
        Err(Failure::Client(e)) => {
            eprintln!("zaqar: {e}");
            ExitCode::from(3)
        }
    }
}
