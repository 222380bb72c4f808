//! Queues: list, create, metadata (get, JSON-patch), delete, stats, purge.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zaqar_actors::messages::pooling::ListAllQueues;
use zaqar_actors::messages::{
    CreateQueue, DeleteQueue, GetQueueMetadata, GetQueueStats, PurgeQueue, SetQueueMetadata,
};
use zaqar_actors::model::{Message, Metadata, QueueId};

use super::{message_href, next_links, queue_href};
use crate::transport::errors::ApiError;
use crate::transport::extract::{parse_json, read_body, read_json_body, Ctx, Params, QueuePath};
use crate::transport::AppState;

/// The only media type Zaqar accepts for a queue PATCH.
pub const JSON_PATCH: &str = "application/openstack-messaging-v2.0-json-patch";

#[derive(Serialize)]
struct QueueOut<'a> {
    name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    metadata: Option<Metadata>,
    href: String,
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    let limit = state.validator.queue_page(&params)?;
    let detailed = params.flag("detailed");
    let queues = state
        .ask(ListAllQueues {
            project: ctx.project,
            marker: params.get("marker").map(str::to_owned),
            limit,
        })
        .await?;
    let links = next_links(
        "/v2/queues",
        &params,
        queues.last().map(|q| q.name.as_str()),
    );
    let queues: Vec<_> = queues
        .into_iter()
        .map(|q| {
            let metadata = detailed.then(|| state.defaults.render(Some(q.metadata)));
            (q.name, metadata)
        })
        .collect();
    let out: Vec<_> = queues
        .iter()
        .map(|(name, metadata)| QueueOut {
            name,
            metadata: metadata.clone(),
            href: queue_href(name),
        })
        .collect();
    Ok(HttpResponse::Ok().json(json!({ "queues": out, "links": links })))
}

/// Reads an optional JSON-object body (queue metadata), within the metadata size limit.
async fn metadata_body(
    state: &AppState,
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<Option<Value>, ApiError> {
    let max = state.validator.limits.max_queue_metadata;
    let body = read_json_body(req, payload, max, || {
        ApiError::invalid(format!("Queue metadata is too large. Max size: {max}"))
    })
    .await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    parse_json(&body).map(Some)
}

pub async fn create(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let metadata = match metadata_body(&state, &req, payload).await? {
        None => Metadata::new(),
        Some(Value::Object(m)) => m,
        Some(_) => return Err(ApiError::bad_body("Queue metadata must be a JSON object.")),
    };
    state.validator.queue_metadata(&metadata)?;
    let location = queue_href(&queue.name);
    let created = state.ask(CreateQueue { queue, metadata }).await?;
    let mut resp = if created {
        let mut r = HttpResponse::Created();
        r.content_type("application/json");
        r
    } else {
        HttpResponse::NoContent()
    };
    Ok(resp.insert_header((header::LOCATION, location)).finish())
}

pub async fn get(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
) -> Result<HttpResponse, ApiError> {
    let stored = state.ask(GetQueueMetadata { queue }).await?;
    Ok(HttpResponse::Ok().json(state.defaults.render(stored)))
}

#[derive(Deserialize)]
struct PatchOp {
    op: String,
    path: String,
    #[serde(default)]
    value: Option<Value>,
}

/// Applies Zaqar's subset of JSON patch (add, replace, remove on `/metadata/KEY`).
fn apply_patch(metadata: &mut Metadata, ops: Vec<PatchOp>) -> Result<(), ApiError> {
    for op in ops {
        let key = op
            .path
            .strip_prefix("/metadata/")
            .filter(|k| !k.is_empty() && !k.contains('/'))
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid path `{}`: the path must be /metadata/KEY.",
                    op.path
                ))
            })?
            .replace("~1", "/")
            .replace("~0", "~");
        match op.op.as_str() {
            "add" | "replace" => {
                let value = op.value.ok_or_else(|| {
                    ApiError::invalid(format!("Missing value for the `{}` operation.", op.op))
                })?;
                metadata.insert(key, value);
            }
            "remove" => {
                if metadata.remove(&key).is_none() {
                    return Err(ApiError::invalid(format!(
                        "Can not remove `{key}`: it is not in the metadata."
                    )));
                }
            }
            other => {
                return Err(ApiError::invalid(format!(
                    "Invalid operation `{other}`: it must be add, replace or remove."
                )))
            }
        }
    }
    Ok(())
}

pub async fn patch(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ctype
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .eq_ignore_ascii_case(JSON_PATCH)
    {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "415 Unsupported Media Type",
            format!("Accepted media type for PATCH: {{'Accept-Patch': '{JSON_PATCH}'}}."),
        ));
    }
    let max = state.validator.limits.max_queue_metadata;
    let body = read_body(&req, payload, max, || {
        ApiError::invalid(format!("Queue metadata is too large. Max size: {max}"))
    })
    .await?;
    let ops: Vec<PatchOp> = parse_json(&body)?;
    let mut metadata = state
        .ask(GetQueueMetadata {
            queue: queue.clone(),
        })
        .await?
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "Queue {} does not exist for project {}",
                queue.name, queue.project
            ))
        })?;
    apply_patch(&mut metadata, ops)?;
    state.validator.queue_metadata(&metadata)?;
    state
        .ask(SetQueueMetadata {
            queue,
            metadata: metadata.clone(),
        })
        .await?;
    Ok(HttpResponse::Ok().json(state.defaults.render(Some(metadata))))
}

pub async fn delete(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
) -> Result<HttpResponse, ApiError> {
    state.ask(DeleteQueue { queue }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize)]
struct StatMessage<'a> {
    age: i64,
    ttl: i64,
    body: &'a serde_json::value::RawValue,
    claim_id: Option<&'a str>,
    claim_count: i64,
    created: String,
    href: String,
}

impl<'a> StatMessage<'a> {
    fn new(queue: &QueueId, m: &'a Message) -> Self {
        Self {
            age: m.age,
            ttl: m.ttl,
            body: &m.body,
            claim_id: m.claim_id.as_deref(),
            claim_count: m.claim_count,
            created: super::iso8601(m.created_ms),
            href: message_href(queue, &m.id),
        }
    }
}

pub async fn stats(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
) -> Result<HttpResponse, ApiError> {
    let s = state
        .ask(GetQueueStats {
            queue: queue.clone(),
        })
        .await?;
    #[derive(Serialize)]
    struct Counts<'a> {
        claimed: i64,
        free: i64,
        total: i64,
        #[serde(skip_serializing_if = "Option::is_none")]
        newest: Option<StatMessage<'a>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        oldest: Option<StatMessage<'a>>,
    }
    #[derive(Serialize)]
    struct Stats<'a> {
        messages: Counts<'a>,
    }
    let out = Stats {
        messages: Counts {
            claimed: s.claimed,
            free: s.free,
            total: s.total,
            newest: s.newest.as_ref().map(|m| StatMessage::new(&queue, m)),
            oldest: s.oldest.as_ref().map(|m| StatMessage::new(&queue, m)),
        },
    };
    super::render(HttpResponse::Ok(), &out)
}

#[derive(Deserialize)]
struct PurgeBody {
    resource_types: Option<Vec<String>>,
}

pub async fn purge(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&req, payload, 4096, || {
        ApiError::bad_body("The purge request is too large.")
    })
    .await?;
    let types = if body.iter().all(u8::is_ascii_whitespace) {
        None
    } else {
        parse_json::<PurgeBody>(&body)?.resource_types
    };
    let types = types.unwrap_or_else(|| vec!["messages".into(), "subscriptions".into()]);
    if types.is_empty()
        || types
            .iter()
            .any(|t| t != "messages" && t != "subscriptions")
    {
        return Err(ApiError::invalid(
            "Resource types must be a sub set of {'subscriptions', 'messages'}.",
        ));
    }
    state
        .ask(PurgeQueue {
            queue,
            messages: types.iter().any(|t| t == "messages"),
            subscriptions: types.iter().any(|t| t == "subscriptions"),
        })
        .await?;
    Ok(HttpResponse::NoContent().finish())
}
