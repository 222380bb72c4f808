//! Claims: claim messages, look a claim up, renew it, release it.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use zaqar_actors::messages::dead_letter::ClaimMessages;
use zaqar_actors::messages::{GetClaim, ReleaseClaim, RenewClaim};

use super::{render, MessageOut, MessagesOut};
use crate::transport::errors::ApiError;
use crate::transport::extract::{read_json_body, ItemPath, Params, QueuePath};
use crate::transport::AppState;

/// Claim bodies are two small integers; anything larger is not a claim.
const MAX_CLAIM_BODY: u64 = 4096;

/// The claim's TTL and grace. A claim is created without a body (the defaults), but a
/// renewal, as Zaqar's `on_patch` reads it, must have one.
async fn claim_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
    renewal: bool,
) -> Result<(i64, i64), ApiError> {
    let body = read_json_body(req, payload, MAX_CLAIM_BODY, || {
        ApiError::bad_body("The claim request body is too large.")
    })
    .await?;
    if renewal && body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_body("Request body could not be parsed."));
    }
    state.validator.claim(&body)
}

fn claim_href(queue: &str, id: &str) -> String {
    format!("/v2/queues/{queue}/claims/{id}")
}

pub async fn create(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let limit = state.validator.claim_limit(&Params::parse(&req)?)?;
    let (ttl, grace) = claim_body(&state, &req, payload, false).await?;
    let claim = state
        .ask(ClaimMessages {
            queue: queue.clone(),
            ttl,
            grace,
            limit,
        })
        .await?;
    let Some(claim) = claim else {
        return Ok(HttpResponse::NoContent().finish());
    };
    let messages = claim
        .messages
        .iter()
        .map(|m| MessageOut::of(&queue, m, state.checksum))
        .collect();
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, claim_href(&queue.name, &claim.id)));
    let out = MessagesOut {
        messages,
        links: None,
    };
    render(created, &out)
}

pub async fn get(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
) -> Result<HttpResponse, ApiError> {
    let claim = state
        .ask(GetClaim {
            queue: queue.clone(),
            id,
        })
        .await?;
    #[derive(Serialize)]
    struct ClaimOut<'a> {
        age: i64,
        ttl: i64,
        messages: Vec<MessageOut<'a>>,
        href: String,
    }
    let out = ClaimOut {
        age: claim.age,
        ttl: claim.ttl,
        messages: claim
            .messages
            .iter()
            .map(|m| MessageOut::of(&queue, m, state.checksum))
            .collect(),
        href: claim_href(&queue.name, &claim.id),
    };
    render(HttpResponse::Ok(), &out)
}

pub async fn renew(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let (ttl, grace) = claim_body(&state, &req, payload, true).await?;
    state
        .ask(RenewClaim {
            queue,
            id,
            ttl,
            grace,
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn release(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
) -> Result<HttpResponse, ApiError> {
    state.ask(ReleaseClaim { queue, id }).await?;
    Ok(HttpResponse::NoContent().finish())
}
