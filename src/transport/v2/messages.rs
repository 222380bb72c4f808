//! Messages: post a batch, list, get by id(s), delete one, delete by ids, pop.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use zaqar_actors::messages::{
    DeleteMessage, DeleteMessages, GetMessages, ListMessages, PopMessages, PostMessages,
};
use zaqar_actors::model::{ListFilter, Message, MessageMarker};

use super::{message_href, next_links, render, MessageOut, MessagesOut};
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
            messages: messages.into(),
            size: body.len() as u64,
            create: true,
        })
        .await?;
    #[derive(Serialize)]
    struct Posted {
        resources: Vec<String>,
    }
    let out = Posted {
        resources: ids.iter().map(|id| message_href(&queue, id)).collect(),
    };
    let mut created = HttpResponse::Created();
    created.insert_header((header::LOCATION, posted_location(&queue.name, &ids)));
    render(created, &out)
}

/// The longest `Location` a post answers with. HTTP clients cap a header line (Python's
/// http.client at 64 KiB): a batch of thousands of ids would make the answer unreadable
/// after the messages were stored, and a retrying client would post them again.
const MAX_LOCATION: usize = 4096;

/// `Location` of a post: the posted messages by id as Zaqar answers, or, when that list
/// would be longer than [`MAX_LOCATION`], the queue's messages; `resources` in the body
/// names every message either way.
fn posted_location(queue: &str, ids: &[String]) -> String {
    let base = format!("/v2/queues/{queue}/messages");
    let length = base.len() + "?ids=".len() + ids.iter().map(|id| id.len() + 1).sum::<usize>();
    if length > MAX_LOCATION {
        return base;
    }
    format!("{base}?ids={}", ids.join(","))
}

/// `GET .../messages`: a page of messages, or with `ids=` the messages of those ids.
pub async fn list(
    state: web::Data<AppState>,
    QueuePath { ctx, queue }: QueuePath,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    if let Some(ids) = params.list("ids") {
        let ids = state.validator.ids_to_get(ids)?;
        let found = state
            .ask(GetMessages {
                queue: queue.clone(),
                ids: ids.clone(),
            })
            .await?;
        if found.is_empty() {
            return Err(ApiError::not_found(format!(
                "No messages with IDs: {} found in the queue {} for project {}.",
                python_list(&ids),
                queue.name,
                queue.project
            )));
        }
        let messages = found
            .iter()
            .map(|m| MessageOut::of(&queue, m, state.checksum))
            .collect();
        let out = MessagesOut {
            messages,
            links: None,
        };
        return render(HttpResponse::Ok(), &out);
    }
    let limit = state.validator.message_page(&params)?;
    let filter = ListFilter {
        echo: params.flag("echo")?,
        include_claimed: params.flag("include_claimed")?,
        include_delayed: params.flag("include_delayed")?,
        client_id: ctx.client_id,
    };
    let found = state
        .ask(ListMessages {
            queue: queue.clone(),
            filter,
            marker: params.get("marker").map(MessageMarker::parse),
            limit,
        })
        .await?;
    let links = next_links(
        &format!("/v2/queues/{}/messages", queue.name),
        &params,
        found.last().map(|m| m.seq.to_string()).as_deref(),
    );
    let messages = found
        .iter()
        .map(|m| MessageOut::of(&queue, m, state.checksum))
        .collect();
    let out = MessagesOut {
        messages,
        links: Some(links),
    };
    render(HttpResponse::Ok(), &out)
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
    render(
        HttpResponse::Ok(),
        &MessageOut::of(&queue, m, state.checksum),
    )
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

/// A list of strings as Python prints it (`['a', 'b']`), for Zaqar's error texts.
fn python_list(items: &[String]) -> String {
    let quoted: Vec<String> = items
        .iter()
        .map(|s| {
            if s.contains('\'') && !s.contains('"') {
                format!("\"{s}\"")
            } else {
                format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'"))
            }
        })
        .collect();
    format!("[{}]", quoted.join(", "))
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
    #[serde(skip_serializing_if = "Option::is_none")]
    checksum: Option<String>,
}

impl<'a> PoppedOut<'a> {
    fn of(m: &'a Message, checksum: bool) -> Self {
        Self {
            id: &m.id,
            age: m.age,
            ttl: m.ttl,
            body: &m.body,
            claim_id: m.claim_id.as_deref(),
            claim_count: m.claim_count,
            checksum: checksum.then(|| crate::transport::checksum::checksum(m.body.get())),
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
    let with_claims = state.validator.limits.message_delete_with_claim_id;
    let ids = params.list("ids");
    let claim_ids = params.list("claim_ids").filter(|_| with_claims);
    match (ids, params.int("pop")?) {
        (Some(_), Some(_)) => Err(ApiError::invalid(
            "pop and id params cannot be present together in the delete request.",
        )),
        (None, None) => Err(ApiError::invalid(
            "The request should have either \"ids\" or \"pop\" parameter in the request, to be able to delete.",
        )),
        (ids, _) if with_claims && ids.is_some() != claim_ids.is_some() => {
            Err(ApiError::invalid(
                "The request should have both \"ids\" and \"claim_ids\" parameter in the request when message_delete_with_claim_id is True.",
            ))
        }
        (Some(ids), None) => {
            let ids = state.validator.ids_to_delete(ids)?;
            match claim_ids {
                None => state.ask(DeleteMessages { queue, ids }).await?,
                Some(claims) => delete_claimed(&state, queue, ids, &claims).await?,
            }
            Ok(HttpResponse::NoContent().finish())
        }
        (None, Some(n)) => {
            let limit = state.validator.pop(n)?;
            let popped = state.ask(PopMessages { queue, limit }).await?;
            let messages = popped
                .iter()
                .map(|m| PoppedOut::of(m, state.checksum))
                .collect();
            let out = MessagesOut {
                messages,
                links: None,
            };
            render(HttpResponse::Ok(), &out)
        }
    }
}

/// `message_delete_with_claim_id`: every message of `ids` that exists must be held by one
/// of `claims`; each is then deleted under its claim, which the store checks again. Ids
/// that do not exist are skipped, as by any delete. Nothing is deleted when a message
/// fails the check; a claim that ends between the check and the delete stops the request
/// there with the store's answer.
async fn delete_claimed(
    state: &AppState,
    queue: zaqar_actors::model::QueueId,
    ids: Vec<String>,
    claims: &[String],
) -> Result<(), ApiError> {
    let found = state
        .ask(GetMessages {
            queue: queue.clone(),
            ids,
        })
        .await?;
    let mut held = Vec::with_capacity(found.len());
    for m in found {
        match m.claim_id {
            Some(claim) if claims.contains(&claim) => held.push((m.id, claim)),
            Some(_) => {
                return Err(zaqar_actors::error::StorageError::MessageIsClaimed { id: m.id }.into())
            }
            None => {
                return Err(
                    zaqar_actors::error::StorageError::MessageNotClaimed { id: m.id }.into(),
                )
            }
        }
    }
    for (id, claim) in held {
        state
            .ask(DeleteMessage {
                queue: queue.clone(),
                id,
                claim_id: Some(claim),
            })
            .await?;
    }
    Ok(())
}
