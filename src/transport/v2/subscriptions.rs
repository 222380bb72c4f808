//! Subscriptions: the records of who wants to hear about a queue (create, list, get,
//! update, confirm, delete). Delivering notifications to subscribers is a later step.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use zaqar_actors::messages::{
    ConfirmSubscription, CreateSubscription, DeleteSubscription, GetSubscription,
    ListSubscriptions, UpdateSubscription,
};
use zaqar_actors::model::{Metadata, Subscription, SubscriptionUpdate};

use super::next_links;
use crate::transport::errors::ApiError;
use crate::transport::extract::{parse_json, read_json_body, ItemPath, Params, QueuePath};
use crate::transport::AppState;

/// Subscription bodies hold a URI, a TTL and a small options object.
const MAX_SUBSCRIPTION_BODY: u64 = 65_536;

#[derive(Deserialize)]
struct SubscriptionBody {
    subscriber: Option<String>,
    ttl: Option<Value>,
    options: Option<Value>,
}

#[derive(Deserialize)]
struct ConfirmBody {
    confirmed: Option<bool>,
}

#[derive(Serialize)]
struct SubscriptionOut<'a> {
    id: &'a str,
    source: &'a str,
    subscriber: &'a str,
    ttl: i64,
    age: i64,
    options: &'a Metadata,
    confirmed: bool,
}

impl<'a> From<&'a Subscription> for SubscriptionOut<'a> {
    fn from(s: &'a Subscription) -> Self {
        Self {
            id: &s.id,
            source: &s.source,
            subscriber: &s.subscriber,
            ttl: s.ttl,
            age: s.age,
            options: &s.options,
            confirmed: s.confirmed,
        }
    }
}

async fn json_body<T: serde::de::DeserializeOwned>(
    req: &HttpRequest,
    payload: web::Payload,
) -> Result<T, ApiError> {
    let body = read_json_body(req, payload, MAX_SUBSCRIPTION_BODY, || {
        ApiError::bad_body("The subscription request body is too large.")
    })
    .await?;
    parse_json(&body)
}

fn ttl_of(state: &AppState, ttl: Option<Value>) -> Result<Option<i64>, ApiError> {
    ttl.map(|v| {
        let ttl = v
            .as_i64()
            .ok_or_else(|| ApiError::bad_body("The value of the \"ttl\" field must be a int."))?;
        state.validator.subscription_ttl(ttl)
    })
    .transpose()
}

fn options_of(state: &AppState, options: Option<Value>) -> Result<Option<Metadata>, ApiError> {
    match options {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => {
            let text = serde_json::to_string(&m).unwrap_or_default();
            state.validator.depth(&text, "Subscription options")?;
            // Zaqar's subscription_patching checks the options' retry policy too.
            crate::transport::validation::retry_policy(m.get("_retry_policy"))
                .map_err(ApiError::invalid)?;
            Ok(Some(m))
        }
        Some(_) => Err(ApiError::bad_body(
            "The value of the \"options\" field must be a dict.",
        )),
    }
}

pub async fn create(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: SubscriptionBody = json_body(&req, payload).await?;
    let subscriber = body
        .subscriber
        .ok_or_else(|| ApiError::bad_body("Missing \"subscriber\" field."))?;
    state.validator.subscriber(&subscriber)?;
    let ttl = ttl_of(&state, body.ttl)?.unwrap_or(state.validator.limits.default_subscription_ttl);
    let options = options_of(&state, body.options)?.unwrap_or_default();
    let location = format!("/v2/queues/{}/subscriptions", queue.name);
    let id = state
        .ask(CreateSubscription {
            queue: queue.clone(),
            subscriber,
            ttl,
            options,
        })
        .await?;
    // A new subscription is never confirmed: a confirmed one is the subscriber's existing
    // subscription, which Zaqar refuses to create again (an unconfirmed one it answers).
    let existing = state
        .ask(GetSubscription {
            queue,
            id: id.clone(),
        })
        .await?;
    if existing.confirmed {
        return Err(ApiError::new(
            actix_web::http::StatusCode::CONFLICT,
            "Resource conflict",
            "Such subscription already exists.Subscriptions are unique by project + queue + subscriber URI.",
        ));
    }
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, location))
        .json(json!({ "subscription_id": id })))
}

pub async fn list(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let params = Params::parse(&req)?;
    let limit = state.validator.subscription_page(&params)?;
    let subs = state
        .ask(ListSubscriptions {
            queue: queue.clone(),
            marker: params.get("marker").map(str::to_owned),
            limit,
        })
        .await?;
    let links = next_links(
        &format!("/v2/queues/{}/subscriptions", queue.name),
        &params,
        subs.last().map(|s| s.id.as_str()),
    );
    let out: Vec<SubscriptionOut> = subs.iter().map(SubscriptionOut::from).collect();
    Ok(HttpResponse::Ok().json(json!({ "subscriptions": out, "links": links })))
}

pub async fn get(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
) -> Result<HttpResponse, ApiError> {
    let sub = state.ask(GetSubscription { queue, id }).await?;
    Ok(HttpResponse::Ok().json(SubscriptionOut::from(&sub)))
}

pub async fn update(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: SubscriptionBody = json_body(&req, payload).await?;
    if let Some(s) = &body.subscriber {
        state.validator.subscriber(s)?;
    }
    let update = SubscriptionUpdate {
        ttl: ttl_of(&state, body.ttl)?,
        options: options_of(&state, body.options)?,
        subscriber: body.subscriber,
    };
    let location = format!("/v2/queues/{}/subscriptions/{id}", queue.name);
    state.ask(UpdateSubscription { queue, id, update }).await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::LOCATION, location))
        .finish())
}

pub async fn confirm(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body: ConfirmBody = json_body(&req, payload).await?;
    let confirmed = body
        .confirmed
        .ok_or_else(|| ApiError::bad_body("Missing \"confirmed\" field."))?;
    let location = format!("/v2/queues/{}/subscriptions/{id}/confirm", queue.name);
    state
        .ask(ConfirmSubscription {
            queue,
            id,
            confirmed,
        })
        .await?;
    Ok(HttpResponse::NoContent()
        .insert_header((header::LOCATION, location))
        .finish())
}

pub async fn delete(
    state: web::Data<AppState>,
    ItemPath { queue, id, .. }: ItemPath,
) -> Result<HttpResponse, ApiError> {
    state.ask(DeleteSubscription { queue, id }).await?;
    Ok(HttpResponse::NoContent().finish())
}
