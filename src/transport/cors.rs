//! CORS, as oslo.middleware's `CORS` (which Zaqar installs outermost, with its own header
//! defaults) answers browsers: `[cors]` in the configuration.
//!
//! A preflight (`OPTIONS`) that the API does not answer 2xx is answered an empty 200, on
//! every path, as Zaqar's are; it gets `Access-Control-Allow-*` only when its origin, its
//! `Access-Control-Request-Method` and each of its `Access-Control-Request-Headers` are
//! allowed. Any other request from an allowed origin gets `Access-Control-Allow-Origin`
//! (and credentials, exposed headers); from any other origin, no CORS header at all.

use actix_web::body::EitherBody;
use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::http::Method;
use actix_web::{web, HttpResponse};
use futures_util::future::LocalBoxFuture;

use super::AppState;
use crate::conf::CorsConf;

/// The headers a request may always carry (oslo.middleware's `simple_headers`).
const SIMPLE_HEADERS: [&str; 8] = [
    "Accept",
    "Accept-Language",
    "Content-Type",
    "Cache-Control",
    "Content-Language",
    "Expires",
    "Last-Modified",
    "Pragma",
];

/// The `[cors]` rules, ready for requests.
#[derive(Debug, Clone)]
pub struct Cors {
    conf: CorsConf,
    /// Upper-cased: request headers are compared without case.
    permitted_headers: Vec<String>,
}

/// What a request asked for, read before it goes in.
struct Asked {
    origin: Option<String>,
    preflight: bool,
    method: Option<String>,
    headers: Vec<String>,
}

impl Cors {
    pub fn new(conf: &CorsConf) -> Self {
        let permitted_headers = conf
            .allow_headers
            .0
            .iter()
            .map(String::as_str)
            .chain(SIMPLE_HEADERS)
            .map(str::to_ascii_uppercase)
            .collect();
        Self {
            conf: conf.clone(),
            permitted_headers,
        }
    }

    /// The origin as the answer names it: itself, or `*` when only the wildcard allows it.
    fn allowed(&self, origin: &str) -> Option<String> {
        let origins = &self.conf.allowed_origin.0;
        if origins.iter().any(|o| o == origin) {
            Some(origin.to_owned())
        } else if origins.iter().any(|o| o == "*") {
            Some("*".to_owned())
        } else {
            None
        }
    }

    fn decorate(&self, asked: &Asked, headers: &mut HeaderMap) {
        if headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
            return; // Something inside knows better.
        }
        let Some(origin) = asked.origin.as_deref().and_then(|o| self.allowed(o)) else {
            return;
        };
        let vary = match headers.get(header::VARY).and_then(|v| v.to_str().ok()) {
            Some(v) if !asked.preflight => format!("{v},Origin"),
            _ => "Origin".to_owned(),
        };
        let mut set = |name, value: &str| {
            if let Ok(v) = HeaderValue::from_str(value) {
                headers.insert(name, v);
            }
        };
        if asked.preflight {
            let Some(method) = &asked.method else {
                return;
            };
            if !self.conf.allow_methods.0.contains(method) {
                return;
            }
            let permitted = |h: &String| self.permitted_headers.contains(&h.to_ascii_uppercase());
            if !asked.headers.iter().all(permitted) {
                return;
            }
            set(header::VARY, &vary);
            set(header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
            if self.conf.allow_credentials {
                set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
            }
            if self.conf.max_age > 0 {
                set(
                    header::ACCESS_CONTROL_MAX_AGE,
                    &self.conf.max_age.to_string(),
                );
            }
            set(header::ACCESS_CONTROL_ALLOW_METHODS, method);
            if !asked.headers.is_empty() {
                set(
                    header::ACCESS_CONTROL_ALLOW_HEADERS,
                    &asked.headers.join(","),
                );
            }
            return;
        }
        set(header::VARY, &vary);
        set(header::ACCESS_CONTROL_ALLOW_ORIGIN, &origin);
        if self.conf.allow_credentials {
            set(header::ACCESS_CONTROL_ALLOW_CREDENTIALS, "true");
        }
        if !self.conf.expose_headers.0.is_empty() {
            set(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                &self.conf.expose_headers.0.join(","),
            );
        }
    }
}

fn asked(req: &ServiceRequest) -> Asked {
    let text = |name| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    Asked {
        origin: text(header::ORIGIN),
        preflight: req.method() == Method::OPTIONS,
        method: text(header::ACCESS_CONTROL_REQUEST_METHOD),
        headers: text(header::ACCESS_CONTROL_REQUEST_HEADERS)
            .map(|list| {
                list.split(',')
                    .map(str::trim)
                    .filter(|h| !h.is_empty())
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// The middleware: outermost of the API's own, so that preflights need no credentials.
pub fn cors<S, B>(
    req: ServiceRequest,
    srv: &S,
) -> LocalBoxFuture<'static, Result<ServiceResponse<EitherBody<B>>, actix_web::Error>>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let rules = req
        .app_data::<web::Data<AppState>>()
        .map(|state| state.cors.clone());
    let asked = asked(&req);
    let fut = srv.call(req);
    Box::pin(async move {
        let res = fut.await?;
        let mut res = if asked.preflight && !res.status().is_success() {
            let (req, _) = res.into_parts();
            ServiceResponse::new(req, HttpResponse::Ok().finish().map_into_right_body())
        } else {
            res.map_into_left_body()
        };
        if let Some(rules) = rules {
            rules.decorate(&asked, res.headers_mut());
        }
        Ok(res)
    })
}
