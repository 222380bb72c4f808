//! The command line's shape: global options, the commands, and paging.

use clap::{Args, Parser, Subcommand};

use super::admin::{FlavorCmd, PoolCmd};
use super::claim::ClaimCmd;
use super::message::MessageCmd;
use super::queue::QueueCmd;
use super::subscription::SubscriptionCmd;

/// Where the options every command takes are listed in help, apart from the command's own.
const GLOBAL: &str = "Global options";

#[derive(Parser)]
#[command(
    name = "zaqar",
    version,
    about = "Command-line client of a Zaqar v2 message queue",
    after_help = "Environment: ZAQAR_URL, ZAQAR_PROJECT, ZAQAR_PROFILE (or OS_PROFILE), \
                  ZAQAR_TRACE_URL.\nExit codes: 0 done, 1 refused by the server, 2 bad usage, \
                  3 server unreachable."
)]
pub struct Cli {
    /// Server URL.
    #[arg(long, env = "ZAQAR_URL", default_value = "http://127.0.0.1:8888", global = true, help_heading = GLOBAL)]
    pub url: String,
    /// Project (tenant) the requests act for (X-Project-ID).
    #[arg(long, env = "ZAQAR_PROJECT", default_value = "default", global = true, help_heading = GLOBAL)]
    pub project: String,
    /// Client id (a UUID). Default: one kept in the user's config directory, so `echo`
    /// semantics hold across invocations.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub client_id: Option<String>,
    /// Print JSON instead of tables.
    #[arg(long, global = true, help_heading = GLOBAL)]
    pub json: bool,
    /// Trace the requests: sign them with this OSProfiler HMAC key (one the server lists in
    /// [profiler] hmac_keys), then print the trace id.
    #[arg(long, env = "ZAQAR_PROFILE", global = true, help_heading = GLOBAL, hide_env_values = true)]
    pub profile: Option<String>,
    /// Where to look a trace up, e.g. http://localhost:16686/trace/{trace_id}; printed with
    /// the trace id.
    #[arg(long, env = "ZAQAR_TRACE_URL", global = true, help_heading = GLOBAL)]
    pub trace_url: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Queues: create, list, show, set-metadata, stats, delete, purge.
    #[command(subcommand)]
    Queue(QueueCmd),
    /// Messages: post, list, get, delete, pop.
    #[command(subcommand)]
    Message(MessageCmd),
    /// Claims: create, show, renew, release.
    #[command(subcommand)]
    Claim(ClaimCmd),
    /// Subscriptions: create, list, show, update, delete.
    #[command(subcommand)]
    Subscription(SubscriptionCmd),
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
    Completions {
        /// The shell to complete for.
        shell: clap_complete::Shell,
    },
}

#[derive(Args)]
pub struct Paging {
    /// Start after this name or id.
    #[arg(long)]
    pub marker: Option<String>,
    /// At most this many (the server caps it).
    #[arg(long)]
    pub limit: Option<u32>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::*;

    /// Every argument of every command, with the path of commands it belongs to.
    fn walk(cmd: &clap::Command, path: String, out: &mut Vec<(String, clap::Arg)>) {
        for arg in cmd.get_arguments() {
            out.push((path.clone(), arg.clone()));
        }
        for sub in cmd.get_subcommands() {
            walk(sub, format!("{path} {}", sub.get_name()), out);
        }
    }

    #[test]
    fn every_argument_has_a_help_line() {
        let mut args = Vec::new();
        walk(&Cli::command(), "zaqar".into(), &mut args);
        let bare: Vec<String> = args
            .iter()
            .filter(|(_, a)| a.get_help().is_none())
            .map(|(path, a)| format!("{path} {}", a.get_id()))
            .collect();
        assert!(bare.is_empty(), "arguments without help: {bare:?}");
        assert!(args.len() > 50, "the walk saw the commands' arguments");
    }

    #[test]
    fn global_options_are_listed_apart() {
        let cli = Cli::command();
        for arg in cli.get_arguments().filter(|a| a.is_global_set()) {
            assert_eq!(arg.get_help_heading(), Some(GLOBAL), "{}", arg.get_id());
        }
        let mut cli = Cli::command();
        cli.build();
        let help = cli
            .find_subcommand_mut("queue")
            .and_then(|q| q.find_subcommand_mut("create").cloned())
            .expect("queue create")
            .render_help()
            .to_string();
        assert!(help.contains("Global options:"), "{help}");
    }
}
