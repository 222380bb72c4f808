//! Messages: post a batch, list, get by id(s), delete one, delete by ids, pop.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::json;
use zaqar_actors::messages::{
    DeleteMessage, DeleteMessages, GetMessages, ListMessages, PopMessages, PostMessages,
};
use zaqar_actors::model::{ListFilter, Message};

use super::{message_href, next_links, MessageOut};
use crate::transport::errors::ApiError;
use crate::transport::extract::{read_json_body, ItemPath, Params, QueuePath};
use crate::transport::AppState;

pub async fn post(
    state: web::Data<AppState>,
    QueuePath { ctx, queue }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let max = state.validator.limits.max_messages_post_size;
    let body = read_json_body(&req, payload, max, || {
        ApiError::invalid(format!(
            "Message collection size is too large. Max size {max}"
        ))
    })
    .await?;
    let messages = state.validator.messages(&body)?;
    let ids = state
        .ask(PostMessages {
            queue: queue.clone(),
            client_id: ctx.client_id,
            messages,
            size: body.len() as u64,
            create: true,
        })
        .await?;
    let resources: Vec<String> = ids.iter().map(|id| message_href(&queue, id)).collect();
    Ok(HttpResponse::Created()
        .insert_header((
            header::LOCATION,
            format!("/v2/queues/{}/messages?ids={}", queue.name, ids.join(",")),
        ))
        .json(json!({ "resources": resources })))
}

/// `GET .../messages`: a page of messages, or with `ids=` the messages of those ids.
pub async fn list(
    state: web::Data<AppState>,
    QueuePath { ctx, queue }: QueuePath,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    if let Some(ids) = params.list("ids") {
        let ids = state.validator.message_ids(ids)?;
        let found = state
            .ask(GetMessages {
                queue: queue.clone(),
                ids,
            })
            .await?;
        if found.is_empty() {
            return Err(ApiError::not_found(format!(
                "None of the given messages exist in queue {} for project {}",
                queue.name, queue.project
            )));
        }
        let out: Vec<_> = found
            .iter()
            .map(|m| MessageOut::new(&queue, m, None))
            .collect();
        return Ok(HttpResponse::Ok().json(json!({ "messages": out })));
    }
    let limit = state.validator.message_page(&params)?;
    let filter = ListFilter {
        echo: params.flag("echo"),
        include_claimed: params.flag("include_claimed"),
        include_delayed: params.flag("include_delayed"),
        client_id: ctx.client_id,
    };
    let found = state
        .ask(ListMessages {
            queue: queue.clone(),
            filter,
            marker: params.get("marker").map(str::to_owned),
            limit,
        })
        .await?;
    let links = next_links(
        &format!("/v2/queues/{}/messages", queue.name),
        &params,
        found.last().map(|m| m.id.as_str()),
    );
    let out: Vec<_> = found
        .iter()
        .map(|m| MessageOut::new(&queue, m, None))
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "messages": out, "links": links })))
}

pub async fn get(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
) -> Result<HttpResponse, ApiError> {
    let found = state
        .ask(GetMessages {
            queue: queue.clone(),
            ids: vec![id.clone()],
        })
        .await?;
    let m = found.first().ok_or_else(|| {
        ApiError::not_found(format!(
            "Message {id} does not exist in queue {} for project {}",
            queue.name, queue.project
        ))
    })?;
    Ok(HttpResponse::Ok().json(MessageOut::new(&queue, m, None)))
}

pub async fn delete(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    state
        .ask(DeleteMessage {
            queue,
            id,
            claim_id: params.get("claim_id").map(str::to_owned),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// A popped message: it is gone, so it has no href.
#[derive(Serialize)]
struct PoppedOut<'a> {
    id: &'a str,
    age: i64,
    ttl: i64,
    body: &'a serde_json::value::RawValue,
    claim_id: Option<&'a str>,
    claim_count: i64,
}

impl<'a> From<&'a Message> for PoppedOut<'a> {
    fn from(m: &'a Message) -> Self {
        Self {
            id: &m.id,
            age: m.age,
            ttl: m.ttl,
            body: &m.body,
            claim_id: m.claim_id.as_deref(),
            claim_count: m.claim_count,
        }
    }
}

/// `DELETE .../messages?ids=...` or `?pop=N`.
pub async fn delete_many(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    match (params.list("ids"), params.int("pop")?) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "pop and id params cannot be present together in the delete request.",
        )),
        (None, None) => Err(ApiError::invalid(
            "The request should have either \"ids\" or \"pop\" parameter in the request, to be able to delete.",
        )),
        (Some(ids), None) => {
            let ids = state.validator.message_ids(ids)?;
            state.ask(DeleteMessages { queue, ids }).await?;
            Ok(HttpResponse::NoContent().finish())
        }
        (None, Some(n)) => {
            let limit = state.validator.pop(n)?;
            let popped = state.ask(PopMessages { queue, limit }).await?;
            let out: Vec<PoppedOut> = popped.iter().map(PoppedOut::from).collect();
            Ok(HttpResponse::Ok().json(json!({ "messages": out })))
        }
    }
}
