//! The `zaqar` command line, over [`crate::client`]: the binary `src/bin/zaqar.rs` only
//! calls [`main`].
//!
//! - `args`: global options and the commands; `render`: tables and `--json`;
//! - `queue`, `message`, `claim`, `subscription`, `admin`: each resource's commands, each
//!   with its arguments and what it prints.
//!
//! Human-readable tables by default, `--json` for scripts. `--profile KEY` signs every
//! request with OSProfiler headers and prints the trace id to stderr afterwards. Exit codes:
//! 0 done, 1 the server refused (its `title: description` is printed), 2 bad usage, 3 the
//! server could not be reached.

mod admin;
mod args;
mod claim;
mod message;
mod queue;
mod render;
mod subscription;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser};
use serde_json::{json, Value};

use crate::client::{Client, ClientError};
use args::{Cli, Command};
use render::Out;

/// A failure of the command, with its exit code.
pub enum Failure {
    Client(ClientError),
    Usage(String),
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure::Client(e)
    }
}

pub type Outcome = Result<(), Failure>;

/// `text` as JSON, or a usage failure naming `what`.
pub fn parse_json(what: &str, text: &str) -> Result<Value, Failure> {
    serde_json::from_str(text).map_err(|e| Failure::Usage(format!("{what} is not JSON: {e}")))
}

/// `text` as a JSON object, or a usage failure naming `what`.
pub fn parse_object(what: &str, text: &str) -> Result<Value, Failure> {
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

async fn run(cli: &Cli, client: &Client) -> Outcome {
    let out = Out { json: cli.json };
    match &cli.command {
        Command::Queue(cmd) => queue::run(cmd, client, &out).await,
        Command::Message(cmd) => message::run(cmd, client, &out).await,
        Command::Claim(cmd) => claim::run(cmd, client, &out).await,
        Command::Subscription(cmd) => subscription::run(cmd, client, &out).await,
        Command::Pool(cmd) => admin::pool(cmd, client, &out).await,
        Command::Flavor(cmd) => admin::flavor(cmd, client, &out).await,
        Command::Health => admin::health(client, &out).await,
        Command::Ping => {
            client.ping().await?;
            out.show(&json!({"ok": true}), || "ok".into());
            Ok(())
        }
        Command::Completions { .. } => Ok(()),
    }
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

/// Runs the command line (the whole of the `zaqar` binary).
pub async fn main() -> ExitCode {
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
