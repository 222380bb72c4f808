//! The HTTP transport: the route table, the middleware, and the per-worker state.
//!
//! Middleware order (outermost first): `TracingLogger` opens the request span (the root of
//! every trace) and assigns the request id; [`cors::cors`] answers preflights and adds CORS
//! headers; [`common_headers`] refuses non-JSON `Accept` (406) and stamps
//! `x-openstack-request-id` on every answer; [`auth::authenticate`] validates the Keystone
//! token and sets the identity from it; [`acl::enforce`] checks the action's policy rule;
//! [`signed_url::check_signature`] refuses signed
//! requests their signature does not admit. Each resource answers 405 with
//! an `Allow` header for a method it does not serve; an unknown path answers 404.
//!
//! - [`access`]: the access log, the ambient request id, panics answered 500.
//! - [`errors`]: `ApiError`, the only storage-error to status-code map.
//! - [`extract`]: request context (`Client-ID`, `X-Project-ID`), query, body.
//! - [`validation`]: limits and Zaqar's error texts.
//! - [`cors`]: CORS for browsers, outermost of the API's middleware.
//! - [`auth`]: Keystone tokens (or noauth), inside CORS and before the signature check.
//! - [`signed_url`]: pre-signed URLs, made and checked (a signed request is checked before
//!   anything else answers it).
//! - [`v2`]: the resources.
//! - [`wire`]: JSON bodies for the protocol errors actix-http answers by itself.

pub mod access;
pub mod acl;
pub mod auth;
pub mod checksum;
pub mod cors;
pub mod errors;
pub mod extract;
pub mod signed_url;
pub mod v2;
pub mod validation;
pub mod wire;

use std::sync::Arc;

use actix::Addr;
use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{web, HttpResponse, Resource};
use futures_util::future::LocalBoxFuture;
use zaqar_actors::model::QueueDefaults;
use zaqar_actors::{PoolRouter, StorageError, Traced};

use errors::ApiError;
use validation::Validator;

/// What every handler of one HTTP worker shares.
pub struct AppState {
    /// This worker's router, running on the worker's own thread.
    pub router: Addr<PoolRouter>,
    pub validator: Arc<Validator>,
    pub defaults: QueueDefaults,
    /// How long a request body may take to arrive (`[server] client_body_timeout`).
    pub body_timeout: std::time::Duration,
    /// `[server] enable_checksum`: messages are answered with their body's checksum.
    pub checksum: bool,
    /// `[signed_url]`: makes pre-signed URLs and checks signed requests.
    pub signer: signed_url::Signer,
    /// `[cors]`: the headers browsers get.
    pub cors: Arc<cors::Cors>,
    /// `[auth] strategy = "keystone"`: who validates tokens; `None` in noauth mode.
    pub auth: Option<auth::Authenticator>,
    /// `[oslo_policy]`: who may do what.
    pub policy: Arc<crate::policy::Policy>,
}

impl AppState {
    /// Sends one request to this worker's router, carrying the current span: a storage
    /// request (which the router forwards to the queue's pool) or one the router answers
    /// itself (pools, flavors, merged listings).
    pub async fn ask<M, T>(&self, msg: M) -> Result<T, ApiError>
    where
        M: actix::Message<Result = Result<T, StorageError>> + Send + 'static,
        T: Send + 'static,
        PoolRouter: actix::Handler<Traced<M>>,
    {
        Ok(self.ask_storage(msg).await?)
    }

    /// [`Self::ask`] with the storage error itself, for a handler that answers one of them
    /// in its own words.
    pub async fn ask_storage<M, T>(&self, msg: M) -> Result<T, StorageError>
    where
        M: actix::Message<Result = Result<T, StorageError>> + Send + 'static,
        T: Send + 'static,
        PoolRouter: actix::Handler<Traced<M>>,
    {
        self.router.send(Traced::new(msg)).await?
    }
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-openstack-request-id");

/// Whether the client accepts a JSON answer (no `Accept` header means it does).
fn accepts_json(req: &ServiceRequest) -> bool {
    let Some(accept) = req.headers().get(header::ACCEPT) else {
        return true;
    };
    let accept = accept.to_str().unwrap_or("");
    accept.trim().is_empty()
        || accept.split(',').any(|item| {
            let mt = item
                .split(';')
                .next()
                .unwrap_or("")
                .trim()
                .to_ascii_lowercase();
            mt == "*/*" || mt == "application/*" || mt.ends_with("json")
        })
}

/// 406 for a non-JSON `Accept`; `x-openstack-request-id` on every response.
pub fn common_headers<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let request_id = HeaderValue::from_str(&access::request_id_of(&req)).ok();
    let stamp = move |mut res: ServiceResponse<EitherBody<B>>| {
        if let Some(id) = request_id {
            res.headers_mut().insert(REQUEST_ID, id);
        }
        res
    };
    if !accepts_json(&req) {
        let res = req.into_response(
            actix_web::ResponseError::error_response(&ApiError::not_acceptable())
                .map_into_right_body(),
        );
        return Box::pin(async move { Ok(stamp(res)) });
    }
    let fut = srv.call(req);
    Box::pin(async move { Ok(stamp(fut.await?.map_into_left_body())) })
}

/// What a middleware answers: a response now, or the rest of the chain's.
pub type Answer<B> =
    LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>;

/// For a middleware that may refuse: answers `refusal` at once, or passes the request on.
pub fn refuse_or_pass<S, B>(req: ServiceRequest, srv: &S, refusal: Option<ApiError>) -> Answer<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    if let Some(refusal) = refusal {
        let res = req.into_response(
            actix_web::ResponseError::error_response(&refusal).map_into_right_body(),
        );
        return Box::pin(async move { Ok(res) });
    }
    let fut = srv.call(req);
    Box::pin(async move { Ok(fut.await?.map_into_left_body()) })
}

/// A resource whose unserved methods answer 405 with `Allow`.
fn resource(path: &str, allow: &'static str) -> Resource {
    web::resource(path).default_service(web::to(move || async move {
        Err::<HttpResponse, _>(ApiError::method_not_allowed(allow))
    }))
}

/// The route table of API v2 (and the versions document at `/`). No two templates match one
/// path; the message and claim routes come first, as the router tries each in turn with a
/// regular expression and they carry most requests.
pub fn routes(cfg: &mut web::ServiceConfig) {
    use v2::{claims, home, messages, queues, share, subscriptions};
    cfg.service(resource("/", "GET").route(web::get().to(home::versions)))
        .service(resource("/v2/", "GET").route(web::get().to(home::homedoc)))
        .service(
            resource("/v2/ping", "GET, HEAD")
                .route(web::get().to(home::ping))
                .route(web::head().to(home::ping)),
        )
        .service(resource("/v2/health", "GET").route(web::get().to(home::health)))
        .service(resource("/v2/queues", "GET").route(web::get().to(queues::list)))
        .service(
            resource("/v2/queues/{queue}/messages", "GET, POST, DELETE")
                .route(web::get().to(messages::list))
                .route(web::post().to(messages::post))
                .route(web::delete().to(messages::delete_many)),
        )
        .service(
            resource("/v2/queues/{queue}/messages/{id}", "GET, DELETE")
                .route(web::get().to(messages::get))
                .route(web::delete().to(messages::delete)),
        )
        .service(
            resource("/v2/queues/{queue}/claims", "POST").route(web::post().to(claims::create)),
        )
        .service(
            resource("/v2/queues/{queue}/claims/{id}", "GET, PATCH, DELETE")
                .route(web::get().to(claims::get))
                .route(web::patch().to(claims::renew))
                .route(web::delete().to(claims::release)),
        )
        .service(
            resource("/v2/queues/{queue}", "GET, PUT, PATCH, DELETE")
                .route(web::get().to(queues::get))
                .route(web::put().to(queues::create))
                .route(web::patch().to(queues::patch))
                .route(web::delete().to(queues::delete)),
        )
        .service(
            resource("/v2/queues/{queue}/stats", "GET, OPTIONS")
                .route(web::get().to(queues::stats)),
        )
        .service(resource("/v2/queues/{queue}/purge", "POST").route(web::post().to(queues::purge)))
        .service(resource("/v2/queues/{queue}/share", "POST").route(web::post().to(share::create)))
        .service(
            resource("/v2/queues/{queue}/subscriptions", "GET, POST")
                .route(web::get().to(subscriptions::list))
                .route(web::post().to(subscriptions::create)),
        )
        .service(
            resource(
                "/v2/queues/{queue}/subscriptions/{id}",
                "GET, PATCH, DELETE",
            )
            .route(web::get().to(subscriptions::get))
            .route(web::patch().to(subscriptions::update))
            .route(web::delete().to(subscriptions::delete)),
        )
        .service(
            resource("/v2/queues/{queue}/subscriptions/{id}/confirm", "PUT")
                .route(web::put().to(subscriptions::confirm)),
        );
}

/// The admin API (`[server] admin_mode` with pooling): pools and flavors.
pub fn admin_routes(cfg: &mut web::ServiceConfig) {
    use v2::{flavors, pools};
    cfg.service(resource("/v2/pools", "GET").route(web::get().to(pools::list)))
        .service(
            resource("/v2/pools/{name}", "GET, PUT, PATCH, DELETE")
                .route(web::get().to(pools::get))
                .route(web::put().to(pools::create))
                .route(web::patch().to(pools::update))
                .route(web::delete().to(pools::delete)),
        )
        .service(resource("/v2/flavors", "GET").route(web::get().to(flavors::list)))
        .service(
            resource("/v2/flavors/{name}", "GET, PUT, PATCH, DELETE")
                .route(web::get().to(flavors::get))
                .route(web::put().to(flavors::create))
                .route(web::patch().to(flavors::update))
                .route(web::delete().to(flavors::delete)),
        );
}

/// Any path no resource serves.
pub async fn no_route() -> Result<HttpResponse, ApiError> {
    Err(ApiError::no_route())
}
