//! Export: closed span records ([`zaqar_actors::spans`]) to an OpenTelemetry span processor
//! whose batch exporter sends them over OTLP (gRPC or HTTP/protobuf), and the `tracing`
//! layer that makes those records.
//!
//! Only the server's own spans are exported (targets `zaqar::http`, `zaqar::hop`,
//! `zaqar::db`, `zaqar::keystone`): library spans and log events never are. [`Telemetry::shutdown`] flushes
//! what is batched, so spans of requests answered before a graceful stop are not lost.

pub mod http;

use std::sync::Arc;
use std::time::Duration;

use opentelemetry::trace::Link;
use opentelemetry::{InstrumentationScope, KeyValue};
use opentelemetry_otlp::{SpanExporter, WithExportConfig};
use opentelemetry_sdk::trace::{
    BatchSpanProcessor, SpanData, SpanEvents, SpanLinks, SpanProcessor,
};
use opentelemetry_sdk::Resource;
use tracing::Subscriber;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::Layer;
use zaqar_actors::envelope::{DB_TARGET, HOP_TARGET};
use zaqar_actors::spans::{SpanLayer, SpanRecord, SpanSink};

use super::root_span::HTTP_TARGET;
use crate::conf::ProfilerConf;
use crate::keystone::KEYSTONE_TARGET;

/// Where and how spans are exported, after configuration and `OTEL_*` variables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportSettings {
    pub grpc: bool,
    pub endpoint: String,
    pub service_name: String,
}

impl ExportSettings {
    /// Configuration first, then the standard variables, then local defaults.
    pub fn resolve(conf: &ProfilerConf, env: impl Fn(&str) -> Option<String>) -> Self {
        let protocol = conf
            .otlp_protocol
            .clone()
            .or_else(|| env("OTEL_EXPORTER_OTLP_PROTOCOL"))
            .unwrap_or_else(|| "http/protobuf".into());
        let grpc = protocol == "grpc";
        let endpoint = conf
            .otlp_endpoint
            .clone()
            .or_else(|| env("OTEL_EXPORTER_OTLP_ENDPOINT"))
            .unwrap_or_else(|| {
                if grpc {
                    "http://127.0.0.1:4317".into()
                } else {
                    "http://127.0.0.1:4318".into()
                }
            });
        // OTLP/HTTP posts traces to <endpoint>/v1/traces.
        let endpoint = if grpc || endpoint.ends_with("/v1/traces") {
            endpoint
        } else {
            format!("{}/v1/traces", endpoint.trim_end_matches('/'))
        };
        let service_name = conf
            .service_name
            .clone()
            .or_else(|| env("OTEL_SERVICE_NAME"))
            .unwrap_or_else(|| "zaqar-server".into());
        Self {
            grpc,
            endpoint,
            service_name,
        }
    }
}

/// Target of the exporter's own log events (export failures, spans dropped).
pub const EXPORT_TARGET: &str = "zaqar::export";

/// The running exporter.
pub struct Telemetry {
    export: Export,
    pub settings: ExportSettings,
}

/// OTLP/HTTP by the server's own thread ([`http`]); gRPC by the SDK's batch and
/// opentelemetry-otlp's tonic exporter.
enum Export {
    Http(Arc<http::HttpSink>),
    Grpc(Arc<ProcessorSink>),
}

/// Why the exporter could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error(transparent)]
    Grpc(#[from] opentelemetry_otlp::ExporterBuildError),
    #[error("{0}")]
    Http(String),
}

impl Telemetry {
    pub fn init(conf: &ProfilerConf) -> Result<Self, InitError> {
        let settings = ExportSettings::resolve(conf, |k| std::env::var(k).ok());
        let resource = Resource::builder()
            .with_service_name(settings.service_name.clone())
            .with_attributes(
                conf.resource_attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        let export = if settings.grpc {
            let exporter = SpanExporter::builder()
                .with_tonic()
                .with_endpoint(settings.endpoint.clone())
                .build()?;
            let mut processor = BatchSpanProcessor::builder(exporter).build();
            processor.set_resource(&resource);
            Export::Grpc(Arc::new(ProcessorSink::new(processor)))
        } else {
            let target =
                http::Target::from_env(settings.endpoint.clone(), |k| std::env::var(k).ok())
                    .map_err(InitError::Http)?;
            let sink = http::HttpSink::start(target, &resource)
                .map_err(|e| InitError::Http(e.to_string()))?;
            Export::Http(Arc::new(sink))
        };
        Ok(Self { export, settings })
    }

    /// Where the span layer hands closed spans.
    pub fn sink(&self) -> Arc<dyn SpanSink> {
        match &self.export {
            Export::Http(sink) => sink.clone(),
            Export::Grpc(sink) => sink.clone(),
        }
    }

    /// Flushes batched spans and stops the exporter. Blocking: call it off the async
    /// runtime (the gRPC exporter otherwise waits for its own timeout and drops the batch).
    pub fn shutdown(&self) {
        match &self.export {
            Export::Http(sink) => {
                if !sink.flush(Duration::from_secs(10)) {
                    eprintln!("zaqar-server: flushing spans failed: timed out");
                }
            }
            Export::Grpc(sink) => {
                if let Err(e) = sink.processor.shutdown() {
                    eprintln!("zaqar-server: flushing spans failed: {e}");
                }
            }
        }
    }
}

/// Closed spans handed to an OpenTelemetry span processor (the exporter's batch, or a
/// test's in-memory exporter), each as the SDK's [`SpanData`].
pub struct ProcessorSink {
    processor: Box<dyn SpanProcessor>,
    scope: InstrumentationScope,
}

impl ProcessorSink {
    pub fn new(processor: impl SpanProcessor + 'static) -> Self {
        Self {
            processor: Box::new(processor),
            scope: InstrumentationScope::builder("zaqar").build(),
        }
    }
}

impl SpanSink for ProcessorSink {
    fn closed(&self, span: SpanRecord) {
        self.processor.on_end(span_data(span, &self.scope));
    }
}

/// A record as the SDK's exporters take it.
pub(crate) fn span_data(span: SpanRecord, scope: &InstrumentationScope) -> SpanData {
    SpanData {
        span_context: span.context(),
        parent_span_id: span.parent_id,
        parent_span_is_remote: span.parent_is_remote,
        span_kind: span.kind,
        name: span.name,
        start_time: span.start,
        end_time: span.end,
        attributes: span.attributes.to_key_values(),
        dropped_attributes_count: 0,
        events: SpanEvents::default(),
        links: {
            let mut links = SpanLinks::default();
            links.links = span
                .links
                .into_iter()
                .map(|(to, attributes)| Link::new(to, attributes, 0))
                .collect();
            links
        },
        status: span.status,
        instrumentation_scope: scope.clone(),
    }
}

/// The `tracing` layer recording the server's spans and handing them to `sink`.
pub fn layer<S, K>(sink: K) -> impl Layer<S>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    K: SpanSink,
{
    SpanLayer::new(
        sink,
        vec![HTTP_TARGET, HOP_TARGET, DB_TARGET, KEYSTONE_TARGET],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_from_config_then_environment_then_defaults() {
        let none = |_: &str| None;
        let s = ExportSettings::resolve(&ProfilerConf::default(), none);
        assert_eq!(s.endpoint, "http://127.0.0.1:4318/v1/traces");
        assert!(!s.grpc);
        assert_eq!(s.service_name, "zaqar-server");

        let env = |k: &str| match k {
            "OTEL_EXPORTER_OTLP_PROTOCOL" => Some("grpc".to_owned()),
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some("http://collector:4317".to_owned()),
            "OTEL_SERVICE_NAME" => Some("mq".to_owned()),
            _ => None,
        };
        let s = ExportSettings::resolve(&ProfilerConf::default(), env);
        assert_eq!(
            (s.grpc, s.endpoint.as_str(), s.service_name.as_str()),
            (true, "http://collector:4317", "mq")
        );

        let conf = ProfilerConf {
            otlp_protocol: Some("http/protobuf".into()),
            otlp_endpoint: Some("http://127.0.0.1:6006/".into()),
            ..ProfilerConf::default()
        };
        let s = ExportSettings::resolve(&conf, env);
        assert_eq!(
            (s.grpc, s.endpoint.as_str()),
            (false, "http://127.0.0.1:6006/v1/traces")
        );
    }
}

/// How often one kind of exporter event (one call site: an export failure, spans dropped)
/// reaches the log.
pub const EXPORTER_LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

/// A log filter that lets each call site of the OpenTelemetry SDK and exporter through at
/// most once per interval. Their failures (collector unreachable, spans dropped) are worth
/// knowing, but the SDK reports some of them on every span, which would flood the log.
/// Events of every other target pass untouched.
pub struct ExporterLogLimit {
    interval: std::time::Duration,
    last: std::sync::Mutex<
        std::collections::HashMap<tracing::callsite::Identifier, std::time::Instant>,
    >,
}

impl ExporterLogLimit {
    pub fn new(interval: std::time::Duration) -> Self {
        Self {
            interval,
            last: Default::default(),
        }
    }

    fn allow(&self, meta: &tracing::Metadata<'_>, now: std::time::Instant) -> bool {
        if !limited(meta) {
            return true;
        }
        let mut last = self.last.lock().unwrap_or_else(|e| e.into_inner());
        match last.get(&meta.callsite()) {
            Some(at) if now.duration_since(*at) < self.interval => false,
            _ => {
                last.insert(meta.callsite(), now);
                true
            }
        }
    }
}

/// The exporter's events: the SDK's and opentelemetry-otlp's, and this server's own.
fn limited(meta: &tracing::Metadata<'_>) -> bool {
    meta.target().starts_with("opentelemetry") || meta.target() == EXPORT_TARGET
}

impl<S> tracing_subscriber::layer::Filter<S> for ExporterLogLimit {
    fn enabled(
        &self,
        meta: &tracing::Metadata<'_>,
        _: &tracing_subscriber::layer::Context<'_, S>,
    ) -> bool {
        self.allow(meta, std::time::Instant::now())
    }

    /// Decided event by event: the answer changes with time.
    fn callsite_enabled(
        &self,
        meta: &'static tracing::Metadata<'static>,
    ) -> tracing::subscriber::Interest {
        if limited(meta) {
            tracing::subscriber::Interest::sometimes()
        } else {
            tracing::subscriber::Interest::always()
        }
    }
}

#[cfg(test)]
mod log_limit_tests {
    use super::*;

    #[test]
    fn each_exporter_call_site_is_logged_once_per_interval() {
        let limit = ExporterLogLimit::new(std::time::Duration::from_secs(30));
        use tracing::callsite::Callsite;
        let meta = || {
            tracing::callsite! { name: "export failed", kind: tracing::metadata::Kind::EVENT, target: "opentelemetry_sdk", level: tracing::Level::ERROR, fields: [] }
            .metadata()
        };
        let other = || {
            tracing::callsite! { name: "request", kind: tracing::metadata::Kind::EVENT, target: "zaqar::access", level: tracing::Level::INFO, fields: [] }
            .metadata()
        };
        let t0 = std::time::Instant::now();
        assert!(limit.allow(meta(), t0));
        assert!(!limit.allow(meta(), t0 + std::time::Duration::from_secs(29)));
        assert!(limit.allow(meta(), t0 + std::time::Duration::from_secs(31)));
        assert!(limit.allow(other(), t0));
        assert!(limit.allow(other(), t0));
    }
}
