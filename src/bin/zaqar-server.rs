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

/// Requests allocate and free many small buffers, across threads; mimalloc's thread-local
/// free lists cost a fraction of glibc's (BENCHMARKS.md "Writes": malloc and free were a
/// tenth of the server's CPU under a posting load).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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

/// What is logged without `RUST_LOG`. sqlx warns of a connection parameter it does not know
/// with the parameter's value, which may be a password: that warning is kept out.
const DEFAULT_LOG_FILTER: &str =
    "warn,zaqar=info,zaqar_server=info,zaqar::hop=off,sqlx_postgres::options=error";

/// Logs go to stderr; `RUST_LOG` overrides the filter. With the profiler on, the server's
/// spans also go to the OTLP exporter (a layer of its own, unaffected by `RUST_LOG`).
fn init_logging(
    json: bool,
    #[cfg(feature = "profiler")] telemetry: Option<&zaqar::profiler::otlp::Telemetry>,
) {
    use tracing_subscriber::filter::{filter_fn, FilterExt};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    use tracing_subscriber::Layer;
    // The log is events only: a traced request's spans are the exporter's. Seen by this
    // layer they would be formatted when opened and prefixed to each of the request's lines
    // (a signed request's access line would differ from an unsigned one's, and cost more).
    let filter = || {
        EnvFilter::try_from_default_env()
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LOG_FILTER))
            .and(filter_fn(|meta| meta.is_event()))
    };
    let layer = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let fmt = if json {
        layer.json().with_filter(filter()).boxed()
    } else {
        layer
            .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
            .with_filter(filter())
            .boxed()
    };
    // The OTLP exporter's own failures (collector unreachable, spans dropped) are logged,
    // each kind at most once per interval.
    #[cfg(feature = "profiler")]
    let fmt = fmt.with_filter(zaqar::profiler::otlp::ExporterLogLimit::new(
        zaqar::profiler::otlp::EXPORTER_LOG_INTERVAL,
    ));
    let registry = tracing_subscriber::registry().with(EventsOnly(fmt));
    // No layer at all when the profiler is off: an absent (`None`) layer still counts as one
    // interested in every callsite, so each span of the actor path would be checked against
    // the log's filter at every request, only to be dropped.
    #[cfg(feature = "profiler")]
    let exporter = telemetry.map(|t| zaqar::profiler::otlp::layer(t.sink()));
    #[cfg(not(feature = "profiler"))]
    let exporter: Option<tracing_subscriber::layer::Identity> = None;
    match exporter {
        Some(exporter) => registry.with(exporter).init(),
        None => registry.init(),
    }
    set_panic_hook();
}

/// The log's layers, told of events only. Their filters never enable a span, but a per-layer
/// filter still looks each span up in the registry at every enter, exit, record and close
/// to find that out: for a traced request, about 8,000 instructions (BENCHMARKS.md, "Eighth
/// round"). Span callbacks stop here instead; everything that decides and formats events
/// (callsite interest, `enabled`, the per-layer filter's registration) goes through.
struct EventsOnly<L>(L);

impl<S, L> tracing_subscriber::Layer<S> for EventsOnly<L>
where
    S: tracing::Subscriber,
    L: tracing_subscriber::Layer<S>,
{
    fn on_register_dispatch(&self, subscriber: &tracing::Dispatch) {
        self.0.on_register_dispatch(subscriber);
    }

    fn on_layer(&mut self, subscriber: &mut S) {
        self.0.on_layer(subscriber);
    }

    fn register_callsite(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        self.0.register_callsite(meta)
    }

    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.enabled(meta, cx)
    }

    fn on_new_span(
        &self,
        attrs: &tracing::span::Attributes<'_>,
        id: &tracing::span::Id,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        // Cheap (no lookup), and keeps the per-layer filter's bookkeeping exact.
        self.0.on_new_span(attrs, id, cx);
    }

    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        self.0.max_level_hint()
    }

    fn event_enabled(
        &self,
        event: &tracing::Event<'_>,
        cx: tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.0.event_enabled(event, cx)
    }

    fn on_event(&self, event: &tracing::Event<'_>, cx: tracing_subscriber::layer::Context<'_, S>) {
        self.0.on_event(event, cx);
    }

    /// # Safety
    /// Forwarded: the per-layer filter's markers are the inner layer's.
    unsafe fn downcast_raw(&self, id: std::any::TypeId) -> Option<*const ()> {
        if id == std::any::TypeId::of::<Self>() {
            Some(self as *const Self as *const ())
        } else {
            unsafe { self.0.downcast_raw(id) }
        }
    }
}

/// A panic is logged once, as one event (no backtrace of a hundred kilobytes); the request
/// that hit it is answered 500 (transport::access::catch_panic).
fn set_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        let place = info
            .location()
            .map(|l| format!("{}:{}", l.file(), l.line()))
            .unwrap_or_default();
        let what = info
            .payload()
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| info.payload().downcast_ref::<String>().cloned())
            .unwrap_or_default();
        tracing::error!(at = %place, request_id = zaqar::transport::access::request_id().as_deref(), "panic: {what}");
    }));
}

#[actix_web::main]
async fn main() -> ExitCode {
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
    #[cfg(feature = "profiler")]
    let telemetry = if conf.profiler.enabled {
        match zaqar::profiler::otlp::Telemetry::init(&conf.profiler) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("zaqar-server: profiler: cannot set up the OTLP exporter: {e}");
                return ExitCode::from(2);
            }
        }
    } else {
        None
    };
    init_logging(
        conf.log.format == "json",
        #[cfg(feature = "profiler")]
        telemetry.as_ref(),
    );
    #[cfg(feature = "profiler")]
    if let Some(t) = &telemetry {
        tracing::info!(
            "profiler on: signed requests exported over OTLP ({}) to {} as {}",
            if t.settings.grpc {
                "grpc"
            } else {
                "http/protobuf"
            },
            t.settings.endpoint,
            t.settings.service_name
        );
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
    let result = server.await;
    // Spans of requests answered before the stop are still batched: flush them, off the
    // async runtime (see otlp::Telemetry::shutdown).
    #[cfg(feature = "profiler")]
    if let Some(t) = telemetry {
        let _ = tokio::task::spawn_blocking(move || t.shutdown()).await;
    }
    match result {
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
