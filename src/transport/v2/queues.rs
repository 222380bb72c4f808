//! Queues: list, create, metadata (get, JSON-patch), delete, stats, purge.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use zaqar_actors::messages::pooling::ListAllQueues;
use zaqar_actors::messages::{
    CreateQueue, DeleteQueue, GetQueueMetadata, GetQueueStats, PurgeQueue, SetQueueMetadata,
};
use zaqar_actors::model::{Message, Metadata, QueueDefaults, QueueEntry, QueueId};

use super::{message_href, next_links, queue_href};
use crate::transport::errors::ApiError;
use crate::transport::extract::{
    declared_length, parse_json, read_body, read_json_body, Ctx, Params, QueuePath,
};
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

/// The query parameters of a queue listing; any other is a metadata filter.
const LIST_PARAMS: [&str; 5] = ["marker", "limit", "detailed", "name", "with_count"];

/// Queues fetched per store round trip while filtering or counting.
const SCAN_PAGE: u32 = 1000;

/// Which queues a listing shows: Zaqar's `name` (part of the name) and metadata filter
/// (`?key=value`: the metadata holds that value, an integer when it reads as one).
struct QueueFilter {
    name: Option<String>,
    metadata: Vec<(String, Value)>,
}

impl QueueFilter {
    fn parse(params: &Params) -> Self {
        let metadata = params
            .0
            .iter()
            .filter(|(k, _)| !LIST_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| {
                let value = v
                    .trim()
                    .parse::<i64>()
                    .map_or_else(|_| v.clone().into(), Value::from);
                (k.clone(), value)
            })
            .collect();
        Self {
            name: params.get("name").map(str::to_owned),
            metadata,
        }
    }

    fn is_open(&self) -> bool {
        self.name.is_none() && self.metadata.is_empty()
    }

    fn admits(&self, q: &QueueEntry) -> bool {
        self.name
            .as_deref()
            .is_none_or(|part| q.name.contains(part))
            && self
                .metadata
                .iter()
                .all(|(k, v)| q.metadata.get(k) == Some(v))
    }
}

/// Up to `limit` of the project's queues after `marker`, across its pools.
async fn queues_after(
    state: &AppState,
    project: &str,
    marker: Option<String>,
    limit: u32,
) -> Result<Vec<QueueEntry>, ApiError> {
    let page = state
        .ask(ListAllQueues {
            project: project.to_owned(),
            marker,
            limit,
        })
        .await?;
    Ok(page)
}

/// A page of the project's queues that pass `filter`, reading on past the ones that do not.
async fn filtered_page(
    state: &AppState,
    project: &str,
    mut marker: Option<String>,
    limit: u32,
    filter: &QueueFilter,
) -> Result<Vec<QueueEntry>, ApiError> {
    let fetch = if filter.is_open() { limit } else { SCAN_PAGE };
    let mut out = Vec::new();
    loop {
        let page = queues_after(state, project, marker.clone(), fetch).await?;
        let exhausted = page.len() < fetch as usize;
        marker = page.last().map(|q| q.name.clone());
        out.extend(page.into_iter().filter(|q| filter.admits(q)));
        if out.len() >= limit as usize || exhausted || filter.is_open() {
            out.truncate(limit as usize);
            return Ok(out);
        }
    }
}

/// `with_count`: how many queues the project has (Zaqar counts them all, filter or not).
async fn count_queues(state: &AppState, project: &str) -> Result<usize, ApiError> {
    let (mut marker, mut count) = (None, 0);
    loop {
        let page = queues_after(state, project, marker, SCAN_PAGE).await?;
        count += page.len();
        if page.len() < SCAN_PAGE as usize {
            return Ok(count);
        }
        marker = page.last().map(|q| q.name.clone());
    }
}

pub async fn list(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    let limit = state.validator.queue_page(&params)?;
    let detailed = params.flag("detailed")?;
    let with_count = params.flag("with_count")?;
    let filter = QueueFilter::parse(&params);
    let marker = params.get("marker").map(str::to_owned);
    let queues = filtered_page(&state, &ctx.project, marker, limit, &filter).await?;
    let count = if with_count {
        Some(count_queues(&state, &ctx.project).await?)
    } else {
        None
    };
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
    let mut body = json!({ "queues": out, "links": links });
    // Zaqar leaves `count` out when it is 0.
    if let Some(n) = count.filter(|n| *n > 0) {
        body["count"] = n.into();
    }
    Ok(HttpResponse::Ok().json(body))
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
        Some(_) => return Err(ApiError::bad_body("Document type not supported.")),
    };
    state.validator.queue_metadata(&queue.name, &metadata)?;
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

/// One change of a queue PATCH, as Zaqar's `queue_patching` checks it: `op` is add,
/// remove or replace; `path` a JSON pointer of two tokens (`/metadata/KEY`; for a remove
/// the first token may be anything); add and replace carry a `value`.
struct Change {
    op: String,
    key: String,
    value: Option<Value>,
}

const PATCH_OPS: &str = "add, remove, replace";

/// Zaqar's `_validate_json_pointer` and `_decode_json_pointer`, check for check.
fn pointer_tokens(pointer: &str) -> Result<Vec<String>, String> {
    let rest = pointer
        .strip_prefix('/')
        .ok_or_else(|| format!("Pointer `{pointer}` does not start with \"/\"."))?;
    // re.search(r'/\s*?/', pointer[1:])
    let adjacent = rest.char_indices().any(|(i, c)| {
        c == '/'
            && rest[i + 1..]
                .trim_start_matches(char::is_whitespace)
                .starts_with('/')
    });
    if adjacent {
        return Err(format!("Pointer `{pointer}` contains adjacent \"/\"."));
    }
    if pointer.len() > 1 && pointer.ends_with('/') {
        return Err(format!("Pointer `{pointer}` end with \"/\"."));
    }
    if rest.trim() == "/" {
        return Err(format!(
            "Pointer `{pointer}` does not contains valid token."
        ));
    }
    let bad_escape = pointer.ends_with('~')
        || pointer
            .match_indices('~')
            .any(|(i, _)| !matches!(pointer.as_bytes().get(i + 1), Some(b'0' | b'1') | None));
    if bad_escape {
        return Err(format!(
            "Pointer `{pointer}` contains \"~\" not part of a recognized escape sequence."
        ));
    }
    Ok(rest
        .split('/')
        .map(|token| {
            token
                .replace("~1", "/")
                .replace("~0", "~")
                .trim()
                .to_owned()
        })
        .collect())
}

/// The changes of a PATCH body, or Zaqar's description of what is wrong with them.
fn parse_changes(body: &Value) -> Result<Vec<Change>, String> {
    let Value::Array(raw) = body else {
        return Err("Document type not supported.".into());
    };
    raw.iter()
        .map(|raw| {
            let Value::Object(raw) = raw else {
                return Err("Operations must be JSON objects.".into());
            };
            let op = match raw.get("op") {
                None => {
                    return Err(format!(
                        "Unable to find `op` in JSON Schema change. It must be one of the following: {PATCH_OPS}."
                    ))
                }
                Some(Value::String(op)) if ["add", "remove", "replace"].contains(&op.as_str()) => {
                    op.clone()
                }
                Some(other) => {
                    let shown = other.as_str().map_or_else(|| other.to_string(), str::to_owned);
                    return Err(format!(
                        "Invalid operation: `{shown}`. It must be one of the following: {PATCH_OPS}."
                    ));
                }
            };
            let pointer = match raw.get("path") {
                None => return Err("Unable to find 'path' in JSON Schema change".into()),
                Some(Value::String(p)) => p.clone(),
                Some(_) => return Err("Unable to find 'path' in JSON Schema change".into()),
            };
            let path = pointer_tokens(&pointer)?;
            if path.len() != 2 {
                return Err(format!(
                    "Invalid JSON pointer for this resource: '/{}, e.g /metadata/key'",
                    path.join("/")
                ));
            }
            let value = if op == "remove" {
                None
            } else {
                Some(raw.get("value").cloned().ok_or_else(|| {
                    format!("Operation \"{op}\" requires a member named \"value\".")
                })?)
            };
            if op != "remove" && !path[0].eq_ignore_ascii_case("metadata") {
                return Err("The root of path must be metadata, e.g /metadata/key.".into());
            }
            Ok(Change {
                op,
                key: path[1].clone(),
                value,
            })
        })
        .collect()
}

/// Applies the changes as Zaqar's `_do_add`, `_do_replace` and `_do_remove` do: a reserved
/// key can be replaced or removed even when the queue does not set it (it holds its
/// default), any other missing key is a conflict.
fn apply_changes(
    defaults: &QueueDefaults,
    metadata: &mut Metadata,
    changes: Vec<Change>,
) -> Result<(), ApiError> {
    let conflict = |text: String| {
        ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "Resource conflict",
            text,
        )
    };
    for change in changes {
        let reserved = defaults.is_reserved(&change.key);
        match (change.op.as_str(), change.value) {
            ("remove", _) => {
                if metadata.shift_remove(&change.key).is_none() && !reserved {
                    return Err(conflict(format!(
                        "Can't remove non-existent object {}.",
                        change.key
                    )));
                }
            }
            ("replace", Some(value)) => {
                if !metadata.contains_key(&change.key) && !reserved {
                    return Err(conflict(format!(
                        "Can't replace non-existent object {}.",
                        change.key
                    )));
                }
                metadata.insert(change.key, value);
            }
            (_, Some(value)) => {
                metadata.insert(change.key, value);
            }
            (_, None) => {}
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
    let max = state.validator.limits.max_queue_metadata;
    let too_large = || ApiError::bad_body(format!("Queue metadata is too large. Max size: {max}"));
    // Zaqar checks the declared size before the media type.
    if declared_length(&req).is_some_and(|n| n > max) {
        return Err(too_large());
    }
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
    let body = read_body(&req, payload, max, too_large).await?;
    if body.is_empty() {
        return Err(ApiError::bad_body(
            "PATCH body could not be empty for update.",
        ));
    }
    let changes = parse_changes(&parse_json(&body)?).map_err(ApiError::bad_body)?;
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
    apply_changes(&state.defaults, &mut metadata, changes)?;
    state.validator.patched_metadata(&queue.name, &metadata)?;
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
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    // The queue's subscriptions go with it, and so do their trusts.
    super::trusts::release_queue(&state, &req, &queue).await?;
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
    // No body purges both; a body must name what to purge (Zaqar's `queue_purging`).
    let types: Vec<String> = if body.is_empty() {
        vec!["messages".into(), "subscriptions".into()]
    } else {
        let document: Value = parse_json(&body)?;
        let Some(types) = document.get("resource_types") else {
            return Err(ApiError::invalid(
                "Post body must contain key \"resource_types\".",
            ));
        };
        let names = types.as_array().map(|items| {
            items
                .iter()
                .map(|t| t.as_str().map(str::to_owned))
                .collect::<Option<Vec<_>>>()
        });
        match names.flatten() {
            Some(names)
                if names
                    .iter()
                    .all(|t| t == "messages" || t == "subscriptions") =>
            {
                names
            }
            _ => {
                return Err(ApiError::invalid(
                    "Resource types must be a sub set of {'subscriptions', 'messages'}.",
                ))
            }
        }
    };
    if types.is_empty() {
        // Nothing named, nothing to do: Zaqar answers 204 too.
        return Ok(HttpResponse::NoContent().finish());
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
