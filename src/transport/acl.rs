//! Policy enforcement, as Zaqar's `acl.enforce`: each route and method is one action
//! (`queues:create`, `pools:get_all`, ...), checked against [`crate::policy`]'s rules with
//! the request's credentials (roles, project and user from the identity headers: trusted as
//! sent in noauth mode, set from the token in keystone mode). Denied: Zaqar's 403.
//!
//! Zaqar checks after its header hooks (Client-ID, project id, queue name) and before the
//! body: so here a request those checks would refuse goes on to be refused by them (its
//! 400), and only a well-formed one is answered 403.

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::web;

use super::errors::ApiError;
use super::extract::Ctx;
use super::{refuse_or_pass, Answer, AppState};
use crate::policy::Creds;

/// The action of a route (its pattern) and method, as Zaqar's resources name them.
pub fn action(pattern: &str, method: &Method) -> Option<&'static str> {
    let m = method.as_str();
    Some(match (pattern, m) {
        ("/v2/queues", "GET") => "queues:get_all",
        ("/v2/queues/{queue}", "PUT") => "queues:create",
        ("/v2/queues/{queue}", "GET") => "queues:get",
        ("/v2/queues/{queue}", "PATCH") => "queues:update",
        ("/v2/queues/{queue}", "DELETE") => "queues:delete",
        ("/v2/queues/{queue}/stats", "GET") => "queues:stats",
        ("/v2/queues/{queue}/share", "POST") => "queues:share",
        ("/v2/queues/{queue}/purge", "POST") => "queues:purge",
        ("/v2/queues/{queue}/messages", "GET") => "messages:get_all",
        ("/v2/queues/{queue}/messages", "POST") => "messages:create",
        ("/v2/queues/{queue}/messages", "DELETE") => "messages:delete_all",
        ("/v2/queues/{queue}/messages/{id}", "GET") => "messages:get",
        ("/v2/queues/{queue}/messages/{id}", "DELETE") => "messages:delete",
        ("/v2/queues/{queue}/claims", "POST") => "claims:create",
        ("/v2/queues/{queue}/claims/{id}", "GET") => "claims:get",
        ("/v2/queues/{queue}/claims/{id}", "PATCH") => "claims:update",
        ("/v2/queues/{queue}/claims/{id}", "DELETE") => "claims:delete",
        ("/v2/queues/{queue}/subscriptions", "GET") => "subscription:get_all",
        ("/v2/queues/{queue}/subscriptions", "POST") => "subscription:create",
        ("/v2/queues/{queue}/subscriptions/{id}", "GET") => "subscription:get",
        ("/v2/queues/{queue}/subscriptions/{id}", "PATCH") => "subscription:update",
        ("/v2/queues/{queue}/subscriptions/{id}", "DELETE") => "subscription:delete",
        ("/v2/queues/{queue}/subscriptions/{id}/confirm", "PUT") => "subscription:confirm",
        ("/v2/pools", "GET") => "pools:get_all",
        ("/v2/pools/{name}", "PUT") => "pools:create",
        ("/v2/pools/{name}", "GET") => "pools:get",
        ("/v2/pools/{name}", "PATCH") => "pools:update",
        ("/v2/pools/{name}", "DELETE") => "pools:delete",
        ("/v2/flavors", "GET") => "flavors:get_all",
        ("/v2/flavors/{name}", "PUT") => "flavors:create",
        ("/v2/flavors/{name}", "GET") => "flavors:get",
        ("/v2/flavors/{name}", "PATCH") => "flavors:update",
        ("/v2/flavors/{name}", "DELETE") => "flavors:delete",
        ("/v2/ping", "GET" | "HEAD") => "ping:get",
        ("/v2/health", "GET") => "health:get",
        _ => return None,
    })
}

/// The request's credentials, as oslo.context reads them from the identity headers.
fn creds(req: &ServiceRequest) -> Creds {
    let header = |name: &str| {
        req.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .unwrap_or_default()
            .to_owned()
    };
    let roles = req
        .headers()
        .get_all("x-roles")
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|r| !r.is_empty())
        .map(str::to_owned)
        .collect();
    let mut values = std::collections::HashMap::new();
    for (key, name) in [
        ("project_id", "x-project-id"),
        ("tenant", "x-project-id"),
        ("project_name", "x-project-name"),
        ("user_id", "x-user-id"),
        ("user", "x-user-id"),
        ("user_name", "x-user-name"),
        ("user_domain_id", "x-user-domain-id"),
        ("project_domain_id", "x-project-domain-id"),
    ] {
        let value = header(name);
        if !value.is_empty() {
            values.insert(key.to_owned(), value);
        }
    }
    // oslo.context's default: no request is an admin context by its headers alone.
    values.insert("is_admin".to_owned(), "False".to_owned());
    let admin_project = header("x-is-admin-project");
    values.insert(
        "is_admin_project".to_owned(),
        if admin_project.eq_ignore_ascii_case("false") {
            "False"
        } else {
            "True"
        }
        .to_owned(),
    );
    Creds { roles, values }
}

/// Whether the checks Zaqar runs before its policy would refuse the request.
fn refused_before_policy(req: &ServiceRequest, pattern: &str) -> bool {
    let Ok(ctx) = Ctx::from_headers(req.request()) else {
        return true;
    };
    if pattern.starts_with("/v2/queues/{queue}") {
        let queue = req.path().split('/').nth(3).unwrap_or_default();
        let queue = percent_encoding::percent_decode_str(queue).decode_utf8_lossy();
        return ctx.queue(&queue).is_err();
    }
    false
}

/// The middleware: inside authentication, so that the credentials are the token's.
pub fn enforce<S, B>(req: ServiceRequest, srv: &S) -> Answer<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let pattern = super::access::route_pattern(req.request());
    let denied = match (req.app_data::<web::Data<AppState>>(), pattern) {
        (Some(state), Some(pattern)) => action(&pattern, req.method()).is_some_and(|action| {
            !state.policy.allows(action, || creds(&req)) && !refused_before_policy(&req, &pattern)
        }),
        _ => false,
    };
    refuse_or_pass(req, srv, denied.then(ApiError::forbidden))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_api_names_its_action() {
        assert_eq!(action("/v2/queues", &Method::GET), Some("queues:get_all"));
        assert_eq!(
            action("/v2/queues/{queue}/messages", &Method::DELETE),
            Some("messages:delete_all")
        );
        assert_eq!(action("/v2/ping", &Method::HEAD), Some("ping:get"));
        assert_eq!(
            action("/v2/", &Method::GET),
            None,
            "the home document is open"
        );
        assert_eq!(action("/v2/queues", &Method::POST), None, "its 405 stays");
    }
}
