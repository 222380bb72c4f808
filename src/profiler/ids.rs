//! Identifiers: osprofiler's mapping of its UUIDs onto OpenTelemetry ids.
//!
//! Trace id = the 16 bytes of `base_id`; a span's parent = the low 64 bits of `parent_id`
//! (only when it differs from `base_id`). That is osprofiler's OTLP driver's mapping, so
//! Python services exporting with it land in the same trace as this server.

use opentelemetry::trace::{SpanId, TraceId};

/// The trace id of an osprofiler `base_id`; `None` when it is not a UUID (osprofiler then
/// uses a random id).
pub fn trace_id(base_id: &str) -> Option<TraceId> {
    uuid::Uuid::parse_str(base_id)
        .ok()
        .map(|u| TraceId::from_bytes(*u.as_bytes()))
        .filter(|t| *t != TraceId::INVALID)
}

/// The span id an osprofiler point id maps to: the UUID's low 64 bits.
pub fn span_id(point_id: &str) -> Option<SpanId> {
    let uuid = uuid::Uuid::parse_str(point_id).ok()?;
    let low: [u8; 8] = uuid.as_bytes()[8..].try_into().ok()?;
    Some(SpanId::from_bytes(low)).filter(|s| *s != SpanId::INVALID)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vector_id_conversions() {
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/data/osprofiler-test-vectors.json"
        ))
        .unwrap();
        let ids = &v["id_conversions"];
        let base = ids["base_id"].as_str().unwrap();
        assert_eq!(
            trace_id(base).unwrap().to_string(),
            ids["uuid_to_int128_hex"]
        );
        assert_eq!(span_id(base).unwrap().to_string(), ids["shorten_id_hex_64"]);
        assert!(trace_id("a??b>>c~~d").is_none());
    }

    #[test]
    fn otlp_driver_ids_match() {
        // The Python OTLP driver exported these ids for the vectors' request.
        let v: serde_json::Value = serde_json::from_str(include_str!(
            "../../tests/data/osprofiler-test-vectors.json"
        ))
        .unwrap();
        let span = &v["otlp_driver_output"]["spans"][0];
        let base = v["id_conversions"]["base_id"].as_str().unwrap();
        assert_eq!(trace_id(base).unwrap().to_string(), span["traceId_hex"]);
    }
}
