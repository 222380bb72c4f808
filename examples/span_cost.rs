//! CPU per traced post's span tree (HTTP, two actor hops, two statements), through the
//! server's span layer, in one process: `none` (no layer: untraced), `registry` (spans
//! registered, nothing recorded), `noop` (recorded, handed to the SDK's batch with an
//! exporter that drops them), `http` (recorded and sent over OTLP/HTTP by the server's own
//! exporter to 127.0.0.1:18890, e.g. `examples/bare_server`). CPU is the process's (every
//! thread), read from /proc; trees are paced so the exporter keeps up.
//!
//!     cargo run --release --example span_cost -- http 100000
use std::future::Future;
use std::pin::pin;
use std::task::{Context as TaskCx, Poll, Waker};

use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::trace::{SpanData, SpanExporter};
use tracing::field::Empty;
use tracing_subscriber::layer::SubscriberExt;
use zaqar_actors::envelope::{db_call, scope, start_span, DbLayer, DbSystem, Layers, TraceCtx};

/// The server's allocator, so allocation costs what it costs there.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Debug)]
struct Noop;
impl SpanExporter for Noop {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        std::hint::black_box(batch);
        Ok(())
    }
}

fn cpu() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap();
    let f: Vec<&str> = s.rsplit(')').next().unwrap().split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

fn now<F: Future>(f: F) -> F::Output {
    let mut f = pin!(f);
    match f.as_mut().poll(&mut TaskCx::from_waker(Waker::noop())) {
        Poll::Ready(v) => v,
        Poll::Pending => panic!("pending"),
    }
}

const SQL: DbSystem = DbSystem {
    system: "sqlite",
    prefix: "SQL",
    layer: DbLayer::Sql,
    named_by_statement: false,
};

fn hop(parent: &TraceCtx, actor: &str, message: &str) -> TraceCtx {
    let span = tracing::info_span!(
        target: "zaqar::hop",
        parent: &parent.span,
        "actor hop",
        otel.name = %format_args!("{actor} {message}"),
        otel.kind = "internal",
        otel.status_code = Empty,
        actor = actor,
        message = message,
        mailbox_wait_us = 12u64,
        outcome = Empty,
        error.kind = Empty,
        messaging.system = "zaqar",
        messaging.operation = "publish",
        messaging.destination.name = Empty,
        messaging.batch.message_count = Empty,
        zaqar.project = Empty,
        zaqar.pool = Empty,
        zaqar.catalog = Empty,
        zaqar.placement = Empty,
    );
    span.record("messaging.destination.name", "loadgen");
    span.record("zaqar.project", "loadgen");
    TraceCtx {
        cx: start_span(&span, parent),
        span,
        root: parent.root,
        layers: parent.layers,
    }
}

fn tree() {
    let http = tracing::info_span!(
        target: "zaqar::http",
        "HTTP request",
        otel.name = %format_args!("{} {}", "POST", "/v2/queues/{queue_name}/messages"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = %"POST",
        http.route = %"/v2/queues/{queue_name}/messages",
        http.response.status_code = Empty,
        url.scheme = %"http",
        request_id = %"req-3f0c2a9e-1111-2222-3333-444455556666",
        error.type = Empty,
    );
    let root = TraceCtx {
        span: tracing::Span::none(),
        cx: opentelemetry::trace::SpanContext::empty_context(),
        root: Some(opentelemetry::trace::TraceId::from(7u128)),
        layers: Layers::default(),
    };
    let cx = start_span(&http, &root);
    let ctx0 = TraceCtx {
        cx,
        span: http.clone(),
        root: root.root,
        layers: root.layers,
    };
    {
        let _e = http.enter();
        let h1 = hop(&ctx0, "PoolRouter", "PostMessages");
        {
            let _e1 = h1.span.enter();
        }
        let h2 = hop(&h1, "SqlStore", "PostMessages");
        now(scope(h2.clone(), async {
            let _e2 = h2.span.enter();
            db_call(SQL, "INSERT", Some("INSERT INTO messages ..."), async {}).await;
            db_call(SQL, "SELECT", Some("SELECT ... FROM queues"), async {}).await;
        }));
        h2.span.record("outcome", "ok");
        h1.span.record("outcome", "ok");
    }
    http.record("http.response.status_code", 201u16);
}

fn main() {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let n: u32 = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200_000);
    let sink: Option<std::sync::Arc<dyn zaqar_actors::spans::SpanSink>> = match mode.as_str() {
        "http" => Some(std::sync::Arc::new(
            zaqar::profiler::otlp::http::HttpSink::start(
                zaqar::profiler::otlp::http::Target {
                    endpoint: "http://127.0.0.1:18890/v1/traces".into(),
                    headers: vec![],
                    timeout: std::time::Duration::from_secs(10),
                    batch: Default::default(),
                },
                &opentelemetry_sdk::Resource::builder().build(),
            )
            .unwrap(),
        )),
        _ => None,
    };
    let noop = (mode == "noop").then(|| {
        std::sync::Arc::new(zaqar::profiler::otlp::ProcessorSink::new(
            opentelemetry_sdk::trace::BatchSpanProcessor::builder(Noop).build(),
        ))
    });
    let layer = sink.clone().map(zaqar::profiler::otlp::layer);
    let layer2 = noop.clone().map(zaqar::profiler::otlp::layer);
    let bare = (mode == "registry").then(|| {
        use tracing_subscriber::Layer;
        tracing_subscriber::layer::Identity::new()
            .with_filter(tracing_subscriber::filter::LevelFilter::INFO)
    });
    let subscriber = tracing_subscriber::registry()
        .with(layer)
        .with(layer2)
        .with(bare);
    tracing::subscriber::with_default(subscriber, || {
        for _ in 0..1000 {
            tree();
        }
        let c0 = cpu();
        let t0 = std::time::Instant::now();
        for i in 0..n {
            tree();
            if i % 50 == 0 {
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
        }

        let c1 = cpu();
        println!(
            "{mode}: {:.2} µs CPU / tree, {:.2} µs wall / tree",
            (c1 - c0) * 1e6 / n as f64,
            t0.elapsed().as_secs_f64() * 1e6 / n as f64
        );
    });
}
