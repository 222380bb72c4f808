//! Where a trace starts: the HTTP server span (a `tracing-actix-web` root span builder) and
//! the middleware that makes the request's trace context ambient for its handler.
//!
//! The root span builder asks the [`Profiler`] whether to trace; if so it opens the HTTP span
//! (unless `trace_http` is off) under the caller's context, with the request's chosen trace
//! id, and leaves the [`TraceStart`] in the request's extensions. [`ambient_trace`], inside
//! it, runs the handler with that context as the ambient one, so every actor message the
//! handler sends carries it, and stamps the trace id on the response.
//!
//! The HTTP span records method, route template, status code and request id. It never records
//! the raw path or query, which can hold claim ids.

use std::borrow::Cow;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue, X_FORWARDED_PROTO};
use actix_web::{web, Error, HttpMessage};
use futures_util::future::{Either, LocalBoxFuture};
use tracing::field::Empty;
use tracing::Span;
use tracing_actix_web::{RequestId, RootSpanBuilder};
use zaqar_actors::envelope::{scope, start_span, TraceCtx};
use zaqar_actors::spans::SpanExt;

use super::{Profiler, TraceStart, TRACE_ID_HEADER};

/// Tracing target of the HTTP server spans.
pub const HTTP_TARGET: &str = "zaqar::http";

pub struct ProfilerRootSpan;

impl RootSpanBuilder for ProfilerRootSpan {
    fn on_request_start(request: &ServiceRequest) -> Span {
        let Some(profiler) = request.app_data::<web::Data<Profiler>>() else {
            return Span::none();
        };
        let Some(start) = profiler.start(request.headers()) else {
            return Span::none();
        };
        let span = if start.http_span {
            let method = request.method().as_str();
            let route = request.match_pattern().unwrap_or_else(|| "default".into());
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .map(|id| format!("req-{id}"))
                .unwrap_or_default();
            let span = tracing::info_span!(
                target: HTTP_TARGET,
                "HTTP request",
                otel.name = %format_args!("{method} {route}"),
                otel.kind = "server",
                otel.status_code = Empty,
                http.request.method = method,
                http.route = route.as_str(),
                http.response.status_code = Empty,
                url.scheme = &*scheme(request),
                request_id = request_id.as_str(),
                error.type = Empty,
            );
            start_span(&span, &root_ctx(&start));
            span
        } else {
            Span::none()
        };
        request.extensions_mut().insert(start);
        span
    }

    fn on_request_end<B: MessageBody>(span: Span, outcome: &Result<ServiceResponse<B>, Error>) {
        if span.is_disabled() {
            return;
        }
        let status = match outcome {
            Ok(response) => response.status(),
            Err(error) => error.as_response_error().status_code(),
        };
        span.record("http.response.status_code", status.as_u16());
        // Server spans count 5xx as errors; a 4xx is the client's, not the server's, failure.
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
            span.record("error.type", status.as_str());
        }
    }
}

/// The request's scheme as actix's connection info tells it (`Forwarded: proto=`, then
/// `X-Forwarded-Proto`, then the URI's, then the listener's), without building the rest of
/// that info (host, peer and client addresses, each a new string) unless a proxy header is
/// there to read.
fn scheme(request: &ServiceRequest) -> Cow<'_, str> {
    let headers = request.headers();
    if headers.contains_key(header::FORWARDED) || headers.contains_key(X_FORWARDED_PROTO) {
        return request.connection_info().scheme().to_owned().into();
    }
    match request.uri().scheme_str() {
        Some(scheme) => scheme.into(),
        None if request.app_config().secure() => "https".into(),
        None => "http".into(),
    }
}

/// The context of a trace before any span: the caller's, with the chosen trace id.
fn root_ctx(start: &TraceStart) -> TraceCtx {
    TraceCtx {
        span: Span::none(),
        cx: start.remote.clone(),
        root: Some(start.trace_id),
        layers: start.layers,
    }
}

/// Runs a traced request's handler with its trace context ambient, and answers its trace
/// id in [`TRACE_ID_HEADER`]. Untraced requests pass straight through.
pub fn ambient_trace<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> Either<S::Future, LocalBoxFuture<'static, Result<ServiceResponse<B>, Error>>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = Error>,
    S::Future: 'static,
    B: 'static,
{
    let Some(start) = req.extensions().get::<TraceStart>().cloned() else {
        return Either::Left(srv.call(req));
    };
    // The HTTP span, when there is one, is the current span here (the root span builder's
    // span is entered while the inner service is called).
    let http = Span::current();
    let ctx = if http.is_disabled() {
        root_ctx(&start)
    } else {
        TraceCtx {
            cx: http.span_context().unwrap_or_else(|| start.remote.clone()),
            span: http,
            root: Some(start.trace_id),
            layers: start.layers,
        }
    };
    // Hex without the formatting machinery: `TraceId`'s `Display` costs a traced request
    // more than the header it makes.
    let mut hex = [0u8; 32];
    let trace_id = hex::encode_to_slice(start.trace_id.to_bytes(), &mut hex)
        .ok()
        .and_then(|()| HeaderValue::from_bytes(&hex).ok());
    let fut = srv.call(req);
    Either::Right(Box::pin(async move {
        let mut res = scope(ctx, fut).await?;
        if let Some(id) = trace_id {
            res.headers_mut()
                .insert(HeaderName::from_static(TRACE_ID_HEADER), id);
        }
        Ok(res)
    }))
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    /// The scheme is what actix's connection info says, whether or not a proxy header is
    /// there to make it build that info.
    #[test]
    fn the_scheme_is_the_connection_infos() {
        let cases = [
            TestRequest::default(),
            TestRequest::default().insert_header(("x-forwarded-proto", "https")),
            TestRequest::default().insert_header(("forwarded", "for=1.2.3.4; proto=https")),
            TestRequest::default()
                .insert_header(("forwarded", "for=1.2.3.4"))
                .insert_header(("x-forwarded-proto", "wss")),
            TestRequest::default().uri("https://example.com/v2/queues"),
        ];
        let mut seen = Vec::new();
        for case in cases {
            let request = case.to_srv_request();
            let expected = request.connection_info().scheme().to_owned();
            assert_eq!(scheme(&request), expected);
            seen.push(expected);
        }
        assert_eq!(seen, ["http", "https", "https", "wss", "https"]);
    }
}
