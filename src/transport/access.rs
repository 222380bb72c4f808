//! What an operator sees of each request: one access-log line, the request id that every
//! log line of the request names, and a JSON 500 for a handler that panics.
//!
//! [`access_log`] runs outside the resource middleware (it sees the final status and the
//! `x-openstack-request-id` and `x-trace-id` headers) and inside `TracingLogger` (which
//! assigns the request id). It makes the request id ambient for the request's task, so a
//! storage failure logged deep in the handler ([`request_id`]) names it. [`catch_panic`]
//! is the innermost layer: a panic, should one remain, costs its request a 500 with a Zaqar
//! body, not the connection; the panic itself is logged once by the process's panic hook.

use std::panic::AssertUnwindSafe;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::{HttpMessage, HttpRequest};
use futures_util::future::LocalBoxFuture;
use futures_util::FutureExt;
use tracing_actix_web::RequestId;

use super::errors::ApiError;

/// Where the profiler stamps a traced request's trace id (`profiler::TRACE_ID_HEADER`);
/// named here too so the access log is the same with the profiler compiled out.
const TRACE_ID_HEADER: &str = "x-trace-id";

/// Tracing target of the access log (`RUST_LOG=zaqar::access=off` silences it).
pub const ACCESS_TARGET: &str = "zaqar::access";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the request this task serves (`req-...`, as in `x-openstack-request-id`).
pub fn request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// `req-<uuid>`: the form of `x-openstack-request-id`.
pub fn request_id_of(req: &ServiceRequest) -> String {
    req.extensions()
        .get::<RequestId>()
        .map(|id| format!("req-{id}"))
        .unwrap_or_else(|| format!("req-{}", uuid::Uuid::new_v4()))
}

/// The request's route template (`/v2/queues/{queue}/messages`), or none outside the API's
/// routes. Matched once and kept in the request's extensions: matching runs the router's
/// regular expressions over again, and the access log and the policy check both need it.
pub fn route_pattern(req: &HttpRequest) -> Option<String> {
    if let Some(RoutePattern(known)) = req.extensions().get::<RoutePattern>() {
        return known.clone();
    }
    let pattern = req.match_pattern();
    req.extensions_mut().insert(RoutePattern(pattern.clone()));
    pattern
}

/// [`route_pattern`]'s answer, once known.
struct RoutePattern(Option<String>);

/// One `info` line per request: method, route template (never the raw path, which can
/// hold claim ids), status, latency, request id, project and, when traced, the trace id.
pub fn access_log<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: MessageBody + 'static,
{
    let started = Instant::now();
    let request_id = request_id_of(&req);
    let method = req.method().clone();
    let project = req
        .headers()
        .get("X-Project-ID")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let route = route_pattern(req.request()).unwrap_or_else(|| "-".into());
    let fut = srv.call(req);
    Box::pin(REQUEST_ID.scope(request_id.clone(), async move {
        let res = fut.await;
        let (status, trace_id) = match &res {
            Ok(res) => (
                res.status(),
                res.headers()
                    .get(TRACE_ID_HEADER)
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned),
            ),
            // An answer that travels as an error (a panic's 500).
            Err(e) => (e.as_response_error().status_code(), None),
        };
        tracing::info!(
            target: ACCESS_TARGET,
            method = %method,
            route = %route,
            status = status.as_u16(),
            latency_ms = started.elapsed().as_secs_f64() * 1000.0,
            request_id = %request_id,
            project = %project,
            trace_id = trace_id.as_deref(),
            "request"
        );
        res
    }))
}

/// Answers 500 with a Zaqar body when the inner service panics. The answer travels as an
/// error (actix renders it with `ApiError`'s body): the request itself cannot be kept aside
/// for building a response, since routing needs it unshared.
pub fn catch_panic<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<B>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let fut = AssertUnwindSafe(srv.call(req)).catch_unwind();
    Box::pin(async move {
        match fut.await {
            Ok(res) => res,
            Err(_) => Err(ApiError::internal().into()),
        }
    })
}

#[cfg(test)]
mod tests {
    use actix_web::{test, web, App, HttpResponse};

    use super::*;

    #[actix_web::test]
    async fn a_panicking_handler_answers_500_with_a_zaqar_body() {
        let app = test::init_service(
            App::new()
                .wrap_fn(catch_panic)
                .route(
                    "/boom",
                    web::get().to(|| async {
                        if true {
                            panic!("handler bug");
                        }
                        HttpResponse::Ok().finish()
                    }),
                )
                .route(
                    "/ok",
                    web::get().to(|| async { HttpResponse::Ok().finish() }),
                ),
        )
        .await;
        // The answer travels as an error, which actix renders with its error_response.
        let err = test::try_call_service(&app, test::TestRequest::get().uri("/boom").to_request())
            .await
            .expect_err("the panic becomes an error answer");
        let res = err.error_response();
        assert_eq!(res.status(), 500);
        let bytes = actix_web::body::to_bytes(res.into_body()).await.unwrap();
        let body: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(body["title"], "Internal server error");
        assert!(body["description"].is_string());
        // The worker goes on serving.
        let res = test::call_service(&app, test::TestRequest::get().uri("/ok").to_request()).await;
        assert_eq!(res.status(), 200);
    }
}
