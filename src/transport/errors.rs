//! `ApiError`: every error answer of the API, as Zaqar shapes it: a status code and a JSON
//! body `{"title", "description"}`.
//!
//! This is the only place where storage errors become status codes (one exhaustive match,
//! no catch-all arm), and where bad input gets its title. A backend failure is logged here,
//! once, and answered 503 with a generic text: its details (which may name hosts) never
//! reach a client.

use std::borrow::Cow;
use std::fmt;

use actix_web::http::header::{self, HeaderValue};
use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};
use serde::Serialize;
use zaqar_actors::StorageError;

use crate::keystone::TrustError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub title: Cow<'static, str>,
    pub description: Option<String>,
    /// For 405: the methods the resource does allow.
    pub allow: Option<&'static str>,
}

#[derive(Serialize)]
struct Body<'a> {
    title: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    description: Option<&'a str>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        title: impl Into<Cow<'static, str>>,
        description: impl Into<String>,
    ) -> Self {
        Self {
            status,
            title: title.into(),
            description: Some(description.into()),
            allow: None,
        }
    }

    /// 400 "Invalid API request": a value out of its allowed range, a bad combination.
    pub fn invalid(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Invalid API request", description)
    }

    /// 400 "Invalid request body": the body is not what the resource takes.
    pub fn bad_body(description: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "Invalid request body", description)
    }

    /// 400 for a query parameter that is not of its type.
    pub fn bad_param(name: &str, expected: &str) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "Invalid parameter",
            format!("The \"{name}\" parameter is invalid. The value must be {expected}."),
        )
    }

    pub fn not_found(description: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "Not found", description)
    }

    pub fn forbidden() -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "Not authorized",
            "You are not authorized to complete this action.",
        )
    }

    /// 503 with a generic description; the cause is for the server log only.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service temporarily unavailable",
            "The storage backend could not serve the request. Please try again in a few seconds.",
        )
    }

    /// 503 when Keystone cannot say whether a token is valid (never a pass).
    pub fn auth_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Service Unavailable",
            "The authentication service (Keystone) could not be reached. Please try again in a few seconds.",
        )
    }

    /// 500 for a handler that panicked (the panic is in the server log).
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal server error",
            "The server could not complete the request; its log names the request id.",
        )
    }

    /// 404 for a path no resource serves. Zaqar's title; Zaqar sends no description, ours
    /// does, so that every error body has both fields.
    pub fn no_route() -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "404 Not Found",
            "The requested resource does not exist.",
        )
    }

    /// A signed request its signature does not admit: Zaqar's bare falcon 404.
    pub fn signature_refused() -> Self {
        Self {
            status: StatusCode::NOT_FOUND,
            title: "404 Not Found".into(),
            description: None,
            allow: None,
        }
    }

    pub fn method_not_allowed(allow: &'static str) -> Self {
        Self {
            allow: Some(allow),
            ..Self::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "405 Method Not Allowed",
                format!("This resource allows only {allow}."),
            )
        }
    }

    /// 406 for an `Accept` header that admits no JSON (Zaqar answers it with no body).
    pub fn not_acceptable() -> Self {
        Self::new(
            StatusCode::NOT_ACCEPTABLE,
            "Media type not acceptable",
            "The answer can only be application/json; accept it in the \"Accept\" header.",
        )
    }

    /// 408 for a request body that did not arrive in time; the connection is closed.
    pub fn body_timeout(seconds: u64) -> Self {
        Self::new(
            StatusCode::REQUEST_TIMEOUT,
            "Request timeout",
            format!("The request body did not arrive within {seconds} seconds."),
        )
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.status.as_u16(), self.title)?;
        if let Some(d) = &self.description {
            write!(f, ": {d}")?;
        }
        Ok(())
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut resp = HttpResponse::build(self.status);
        resp.insert_header((header::VARY, HeaderValue::from_static("Accept")));
        if let Some(allow) = self.allow {
            resp.insert_header((header::ALLOW, HeaderValue::from_static(allow)));
        }
        if self.status == StatusCode::REQUEST_TIMEOUT {
            // The rest of a late body may still be on its way: do not read it as a request.
            resp.force_close();
        }
        resp.json(Body {
            title: &self.title,
            description: self.description.as_deref(),
        })
    }
}

impl From<StorageError> for ApiError {
    fn from(e: StorageError) -> Self {
        match e {
            StorageError::QueueDoesNotExist { .. }
            | StorageError::MessageDoesNotExist { .. }
            | StorageError::ClaimDoesNotExist { .. }
            | StorageError::SubscriptionDoesNotExist { .. } => ApiError::not_found(e.to_string()),
            StorageError::MessageIsClaimed { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "Unable to delete",
                "This message is claimed; it cannot be deleted without a valid claim ID.",
            ),
            StorageError::MessageNotClaimedBy { .. } => ApiError::new(
                StatusCode::FORBIDDEN,
                "Unable to delete",
                "This message is not claimed by the specified claim; it cannot be deleted with that claim ID.",
            ),
            StorageError::MessageNotClaimed { .. } => ApiError::new(
                StatusCode::BAD_REQUEST,
                "Unable to delete",
                "A claim was specified, but the message is not currently claimed.",
            ),
            StorageError::ClaimNotValid => ApiError::new(
                StatusCode::BAD_REQUEST,
                "Unable to delete",
                "The specified claim does not exist or has expired.",
            ),
            StorageError::PostTooLarge { .. } => ApiError::invalid(e.to_string()),
            StorageError::PoolDoesNotExist { .. } | StorageError::FlavorDoesNotExist { .. } => {
                ApiError::not_found(e.to_string())
            }
            StorageError::SubscriptionAlreadyExists => {
                ApiError::new(StatusCode::CONFLICT, "Resource conflict", e.to_string())
            }
            StorageError::PoolInUse { .. } | StorageError::PoolUriFixed { .. } => {
                ApiError::new(StatusCode::CONFLICT, "Conflict", e.to_string())
            }
            StorageError::PoolUnreachable { .. } | StorageError::InvalidPool(_) => {
                ApiError::bad_body(e.to_string())
            }
            StorageError::NoPoolForFlavor { .. } => ApiError::invalid(e.to_string()),
            StorageError::Degraded(cause) => {
                tracing::error!(
                    request_id = super::access::request_id().as_deref(),
                    error = %cause,
                    "storage degraded"
                );
                ApiError::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "Service degraded",
                    "The storage backend serves reads but refuses writes (its disk may be full); deleting messages or queues may free space.",
                )
            }
            StorageError::Unavailable(cause) => {
                let request_id = super::access::request_id();
                tracing::error!(
                    request_id = request_id.as_deref(),
                    error = %cause.chain(),
                    "storage unavailable"
                );
                ApiError::unavailable()
            }
        }
    }
}

impl From<TrustError> for ApiError {
    fn from(e: TrustError) -> Self {
        match e {
            TrustError::Disabled => ApiError::invalid(
                "Trust subscribers (trust+http, trust+https) are not enabled on this server: it has no [trustee] user to delegate to.",
            ),
            TrustError::Refused { status, message } => {
                let description = format!("Keystone refused the subscription's trust: {message}");
                match status {
                    403 => ApiError::new(StatusCode::FORBIDDEN, "Not authorized", description),
                    400..=499 => ApiError::invalid(description),
                    _ => {
                        tracing::error!(status, %message, "Keystone failed a trust call");
                        ApiError::auth_unavailable()
                    }
                }
            }
            TrustError::Unavailable(cause) => {
                tracing::error!(error = %cause, "trust call failed");
                ApiError::auth_unavailable()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn storage_errors_map_to_recorded_statuses() {
        let cases = [
            (StorageError::MessageIsClaimed { id: "m".into() }, 403),
            (StorageError::ClaimNotValid, 400),
            (
                StorageError::ClaimDoesNotExist {
                    id: "c".into(),
                    queue: "q".into(),
                    project: "p".into(),
                },
                404,
            ),
            (StorageError::PostTooLarge { max: 10 }, 400),
            (StorageError::PoolDoesNotExist { name: "p".into() }, 404),
            (
                StorageError::PoolInUse {
                    name: "p".into(),
                    queues: 2,
                },
                409,
            ),
            (
                StorageError::PoolUnreachable {
                    uri: "redis://127.0.0.1:1/".into(),
                },
                400,
            ),
            (StorageError::unavailable("postgres://u:secret@h down"), 503),
        ];
        for (e, status) in cases {
            assert_eq!(ApiError::from(e).status.as_u16(), status);
        }
    }

    #[test]
    fn unavailable_hides_the_cause() {
        let e = ApiError::from(StorageError::unavailable("postgres://u:secret@h"));
        assert!(!e.description.unwrap().contains("secret"));
    }
}
