//! OSProfiler facade: decides which requests are traced and how their traces start.
//!
//! A request is traced when `[profiler] enabled` is on and its `X-Trace-Info` header is
//! signed with one of `hmac_keys` (or, when configured, it falls in `sample_ratio` or carries
//! a W3C `traceparent`). Anything else is served untraced, silently, and creates no span.
//! A traced response carries its trace id in hex in [`TRACE_ID_HEADER`].
//!
//! - [`hmac`]: verifying and signing the trace headers.
//! - [`ids`]: osprofiler UUIDs to OpenTelemetry ids; the id generator.
//! - [`root_span`]: the HTTP span and the request's ambient trace context (middleware).
//! - [`otlp`]: exporter and provider set-up, flushed at shutdown.

pub mod hmac;
pub mod ids;
pub mod otlp;
pub mod root_span;

use actix_web::http::header::HeaderMap;
use opentelemetry::trace::{SpanContext, SpanId, TraceFlags, TraceId, TraceState};
use zaqar_actors::envelope::Layers;

use crate::conf::ProfilerConf;

/// Response header that tells a client the id of its request's trace (32 hex digits).
pub const TRACE_ID_HEADER: &str = "x-trace-id";

/// The profiler's settings, shared by all workers.
#[derive(Debug)]
pub struct Profiler {
    enabled: bool,
    keys: hmac::Keys,
    trace_http: bool,
    layers: Layers,
    sample_ratio: f64,
    accept_traceparent: bool,
}

/// How a traced request's trace begins.
#[derive(Clone, Debug)]
pub struct TraceStart {
    pub trace_id: TraceId,
    /// The caller's span, when there is one to hang under (invalid otherwise).
    pub remote: SpanContext,
    pub layers: Layers,
    /// Whether the HTTP layer emits its span.
    pub http_span: bool,
}

impl Profiler {
    pub fn new(conf: &ProfilerConf) -> Self {
        Self {
            enabled: conf.enabled,
            keys: hmac::Keys::new(&conf.hmac_keys.0),
            trace_http: conf.trace_http,
            layers: Layers {
                pooling: conf.trace_pooling,
                sql: conf.trace_sql,
                redis: conf.trace_redis,
                mongodb: conf.trace_mongodb,
            },
            sample_ratio: conf.sample_ratio,
            accept_traceparent: conf.accept_traceparent,
        }
    }

    /// Whether and how to trace a request with these headers.
    pub fn start(&self, headers: &HeaderMap) -> Option<TraceStart> {
        if !self.enabled {
            return None;
        }
        let text = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let (trace_id, parent) = if let Some(info) =
            hmac::verify(text("x-trace-info"), text("x-trace-hmac"), &self.keys)
        {
            let trace_id = ids::trace_id(&info.base_id).unwrap_or_else(random_trace_id);
            let parent = (info.parent_id != info.base_id)
                .then(|| ids::span_id(&info.parent_id))
                .flatten();
            (trace_id, parent)
        } else if let Some((trace_id, parent)) = self
            .accept_traceparent
            .then(|| text("traceparent").and_then(parse_traceparent))
            .flatten()
        {
            (trace_id, Some(parent))
        } else if self.sample_ratio > 0.0 && sampled(self.sample_ratio) {
            (random_trace_id(), None)
        } else {
            return None;
        };
        let remote = match parent {
            Some(span_id) => SpanContext::new(
                trace_id,
                span_id,
                TraceFlags::SAMPLED,
                true,
                TraceState::NONE,
            ),
            None => SpanContext::empty_context(),
        };
        Some(TraceStart {
            trace_id,
            remote,
            layers: self.layers,
            http_span: self.trace_http,
        })
    }
}

fn random_trace_id() -> TraceId {
    TraceId::from_bytes(*uuid::Uuid::new_v4().as_bytes())
}

fn sampled(ratio: f64) -> bool {
    let bytes = uuid::Uuid::new_v4();
    let draw = u64::from_be_bytes(bytes.as_bytes()[..8].try_into().unwrap_or_default());
    (draw as f64) < ratio * (u64::MAX as f64)
}

/// A W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`), when valid and sampled.
fn parse_traceparent(value: &str) -> Option<(TraceId, SpanId)> {
    let mut parts = value.trim().split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    if version != "00" || trace.len() != 32 || span.len() != 16 || flags.len() != 2 {
        return None;
    }
    let trace = TraceId::from_hex(trace)
        .ok()
        .filter(|t| *t != TraceId::INVALID)?;
    let span = SpanId::from_hex(span)
        .ok()
        .filter(|s| *s != SpanId::INVALID)?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    (flags & 1 == 1).then_some((trace, span))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::HmacKeys;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn profiler(f: impl FnOnce(&mut ProfilerConf)) -> Profiler {
        let mut conf = ProfilerConf {
            enabled: true,
            hmac_keys: HmacKeys::parse("SECRET_KEY"),
            ..ProfilerConf::default()
        };
        f(&mut conf);
        Profiler::new(&conf)
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(
                HeaderName::from_static(k),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        h
    }

    #[test]
    fn signed_request_maps_ids_like_osprofiler() {
        let p = profiler(|_| {});
        let base = "5f8e0c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
        let (info, tag) = hmac::sign(base, "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d", "SECRET_KEY");
        let start = p
            .start(&headers(&[("x-trace-info", &info), ("x-trace-hmac", &tag)]))
            .unwrap();
        assert_eq!(
            start.trace_id.to_string(),
            "5f8e0c2a1b3d4e5f8a9b0c1d2e3f4a5b"
        );
        let parent = start.remote.clone();
        assert_eq!(parent.span_id().to_string(), "9c2d1e0f9a8b7c6d");
        assert!(parent.is_remote() && parent.is_sampled());

        // A fresh client (parent = base) has no parent span.
        let (info, tag) = hmac::sign(base, base, "SECRET_KEY");
        let start = p
            .start(&headers(&[("x-trace-info", &info), ("x-trace-hmac", &tag)]))
            .unwrap();
        assert!(!start.remote.is_valid());
        assert_eq!(
            start.trace_id.to_string(),
            "5f8e0c2a1b3d4e5f8a9b0c1d2e3f4a5b"
        );
    }

    #[test]
    fn unsigned_disabled_and_traceparent() {
        let (info, tag) = hmac::sign("b", "b", "SECRET_KEY");
        let signed = headers(&[("x-trace-info", &info), ("x-trace-hmac", &tag)]);
        assert!(profiler(|c| c.enabled = false).start(&signed).is_none());
        assert!(profiler(|_| {}).start(&HeaderMap::new()).is_none());
        let tp = headers(&[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        )]);
        assert!(
            profiler(|_| {}).start(&tp).is_none(),
            "traceparent ignored by default"
        );
        let start = profiler(|c| c.accept_traceparent = true)
            .start(&tp)
            .unwrap();
        assert_eq!(
            start.trace_id.to_string(),
            "0af7651916cd43dd8448eb211c80319c"
        );
        let unsampled = headers(&[(
            "traceparent",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-00",
        )]);
        assert!(profiler(|c| c.accept_traceparent = true)
            .start(&unsampled)
            .is_none());
        assert!(profiler(|c| c.sample_ratio = 1.0)
            .start(&HeaderMap::new())
            .is_some());
    }
}
