//! `zaqar-server [--config FILE] [--bind HOST:PORT]`: with nothing given it serves on
//! 127.0.0.1:8888 from the embedded SQLite store in ./data. Stops gracefully on SIGINT or
//! SIGTERM (requests in flight are answered first).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use tracing_subscriber::EnvFilter;
use zaqar::{Config, Running};
use zaqar_actors::Clock;

#[derive(Parser)]
#[command(
    name = "zaqar-server",
    version,
    about = "Zaqar v2 compatible message queue server"
)]
struct Args {
    /// Configuration file (see config/zaqar.toml for every key and its default).
    #[arg(long, env = "ZAQAR_CONFIG")]
    config: Option<PathBuf>,
    /// Address to listen on; overrides [server] bind.
    #[arg(long, value_name = "HOST:PORT")]
    bind: Option<String>,
}

/// Logs go to stderr; `RUST_LOG` overrides. Per-request spans stay off by default: they
/// cost time on every request and belong to the profiler.
fn init_logging() {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("warn,zaqar=info,zaqar_server=info,zaqar::hop=off"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}

#[actix_web::main]
async fn main() -> ExitCode {
    init_logging();
    let args = Args::parse();
    let mut conf = match Config::load(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("zaqar-server: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(bind) = args.bind {
        conf.server.bind = bind;
    }
    let listener = match TcpListener::bind(&conf.server.bind) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("zaqar-server: cannot listen on {}: {e}", conf.server.bind);
            return ExitCode::from(1);
        }
    };
    let Running {
        server,
        addr,
        store,
    } = match zaqar::run(conf, listener, Clock::system()).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("zaqar-server: {e}");
            return ExitCode::from(1);
        }
    };
    tracing::info!("zaqar-server listening on http://{addr} with message store {store}");
    match server.await {
        Ok(()) => {
            tracing::info!("zaqar-server stopped");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("zaqar-server: {e}");
            ExitCode::from(1)
        }
    }
}
