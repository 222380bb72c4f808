//! Authentication in front of the API, `[auth] strategy`: `noauth` passes every request as
//! sent (Zaqar's noauth mode trusts `X-Project-ID` and `X-Roles`); `keystone` makes each
//! request show a Keystone token (`X-Auth-Token`), validated by [`crate::keystone`], and sets
//! the identity headers from it, as keystonemiddleware does: whatever identity headers the
//! client sent are dropped first, so a user acts only in its token's project, with its
//! token's roles.
//!
//! As in Zaqar, `/` needs no token, and a request carrying `URL-Signature` needs none either:
//! its signature is checked instead ([`super::signed_url`]), and it keeps only the signed
//! project (no client-sent roles). No token or a refused one: 401 with `WWW-Authenticate`;
//! Keystone unreachable: 503.

use std::sync::Arc;

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::middleware::Next;
use actix_web::{web, HttpMessage, ResponseError};
use tracing::Instrument;

use super::errors::ApiError;
use super::AppState;
use crate::keystone::{Cached, Identity, Keystone};

/// One worker's view of Keystone: the shared client state and cache, and an HTTP client of
/// this worker's own.
#[derive(Clone, Debug)]
pub struct Authenticator {
    pub keystone: Arc<Keystone>,
    pub http: reqwest::Client,
}

impl Authenticator {
    pub fn new(keystone: Arc<Keystone>) -> Self {
        let http = keystone.http();
        Self { keystone, http }
    }
}

/// Who a request in keystone mode speaks for, in its extensions: for the handlers that act
/// on the user's behalf at Keystone (trust subscriptions). No `Debug`: it holds the token.
#[derive(Clone)]
pub struct Caller {
    pub token: Arc<str>,
    pub identity: Arc<Identity>,
}

/// The identity headers keystonemiddleware sets, which no client may send.
const IDENTITY_HEADERS: [&str; 21] = [
    "x-identity-status",
    "x-domain-id",
    "x-domain-name",
    "x-project-id",
    "x-project-name",
    "x-project-domain-id",
    "x-project-domain-name",
    "x-user-id",
    "x-user-name",
    "x-user-domain-id",
    "x-user-domain-name",
    "x-roles",
    "x-role",
    "x-is-admin-project",
    "x-tenant-id",
    "x-tenant-name",
    "x-tenant",
    "x-user",
    "x-service-catalog",
    "x-system-scope",
    "x-trust-id",
];

fn strip_identity(req: &mut ServiceRequest, keep_project: bool) {
    let headers = req.headers_mut();
    let service: Vec<HeaderName> = headers
        .keys()
        .filter(|k| k.as_str().starts_with("x-service-"))
        .cloned()
        .collect();
    for name in service {
        headers.remove(name);
    }
    for name in IDENTITY_HEADERS {
        if keep_project && name == "x-project-id" {
            continue;
        }
        headers.remove(name);
    }
}

fn set_identity(req: &mut ServiceRequest, id: &Identity) {
    let headers = req.headers_mut();
    let mut set = |name: &'static str, value: &str| {
        if value.is_empty() {
            return;
        }
        if let Ok(v) = HeaderValue::from_str(value) {
            headers.insert(HeaderName::from_static(name), v);
        }
    };
    set("x-identity-status", "Confirmed");
    set("x-user-id", &id.user_id);
    set("x-user-name", &id.user_name);
    set("x-user-domain-id", &id.user_domain_id);
    set("x-user-domain-name", &id.user_domain_name);
    set("x-project-id", &id.project_id);
    set("x-project-name", &id.project_name);
    set("x-project-domain-id", &id.project_domain_id);
    set("x-project-domain-name", &id.project_domain_name);
    set("x-roles", &id.roles.join(","));
    set(
        "x-is-admin-project",
        if id.is_admin_project { "True" } else { "False" },
    );
}

fn unauthorized(keystone: &Keystone) -> actix_web::HttpResponse {
    let mut res = ApiError::new(
        StatusCode::UNAUTHORIZED,
        "Unauthorized",
        "The request you have made requires authentication.",
    )
    .error_response();
    if let Ok(v) = HeaderValue::from_str(&keystone.www_authenticate()) {
        res.headers_mut()
            .insert(actix_web::http::header::WWW_AUTHENTICATE, v);
    }
    res
}

/// The middleware (`actix_web::middleware::from_fn`).
pub async fn authenticate(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let auth = req
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.auth.clone());
    let Some(auth) = auth else {
        return Ok(next.call(req).await?.map_into_left_body());
    };
    if req.path() == "/" {
        return Ok(next.call(req).await?.map_into_left_body());
    }
    if req.headers().contains_key("url-signature") {
        strip_identity(&mut req, true);
        return Ok(next.call(req).await?.map_into_left_body());
    }
    let token = req
        .headers()
        .get("x-auth-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|t| !t.is_empty());
    strip_identity(&mut req, false);
    let Some(token) = token else {
        let res = unauthorized(&auth.keystone);
        return Ok(req.into_response(res).map_into_right_body());
    };
    let span = crate::keystone::traced_span(|| {
        tracing::info_span!(
            target: crate::keystone::KEYSTONE_TARGET,
            "keystone auth",
            cache = tracing::field::Empty,
            valid = tracing::field::Empty
        )
    });
    let checked = auth
        .keystone
        .validate(&auth.http, &token)
        .instrument(span.clone())
        .await;
    match checked {
        Ok((identity, cached)) => {
            span.record("cache", if cached == Cached::Hit { "hit" } else { "miss" });
            span.record("valid", identity.is_some());
            let Some(identity) = identity else {
                let res = unauthorized(&auth.keystone);
                return Ok(req.into_response(res).map_into_right_body());
            };
            set_identity(&mut req, &identity);
            req.extensions_mut().insert(Caller {
                token: token.into(),
                identity,
            });
            Ok(next.call(req).await?.map_into_left_body())
        }
        Err(e) => {
            tracing::error!(error = %e, "token validation failed");
            let res = ApiError::auth_unavailable().error_response();
            Ok(req.into_response(res).map_into_right_body())
        }
    }
}
