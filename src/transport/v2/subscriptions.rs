//! Subscriptions: the records of who wants to hear about a queue (create, list, get,
//! update, confirm, delete), with the Keystone trusts of trust subscribers ([`super::trusts`]).
//! Delivering notifications to subscribers is a later step.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Serialize;
use serde_json::{json, Value};
use zaqar_actors::messages::{
    ConfirmSubscription, CreateSubscription, DeleteSubscription, GetSubscription,
    ListSubscriptions, UpdateSubscription,
};
use zaqar_actors::model::{Metadata, Subscription, SubscriptionUpdate};
use zaqar_actors::StorageError;

use super::{next_links, trusts};
use crate::transport::errors::ApiError;
use crate::transport::extract::{parse_json, read_json_body, ItemPath, Params, QueuePath};
use crate::transport::AppState;

/// Subscription bodies hold a URI, a TTL and a small options object.
const MAX_SUBSCRIPTION_BODY: u64 = 65_536;

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

/// The request's JSON document; an empty body is `{}`, as Zaqar reads it.
async fn document(req: &HttpRequest, payload: web::Payload) -> Result<Value, ApiError> {
    let body = read_json_body(req, payload, MAX_SUBSCRIPTION_BODY, || {
        ApiError::bad_body("The subscription request body is too large.")
    })
    .await?;
    if body.is_empty() {
        return Ok(json!({}));
    }
    parse_json(&body)
}

pub async fn create(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let fields = state
        .validator
        .subscription(&document(&req, payload).await?, true)?;
    let subscriber = fields.subscriber.unwrap_or_default();
    let ttl = fields
        .ttl
        .unwrap_or(state.validator.limits.default_subscription_ttl);
    let mut options = fields.options.unwrap_or_default();
    let trust = match trusts::is_trust(&subscriber) {
        true => Some(trusts::register(&state, &req, ttl, &mut options).await?),
        false => None,
    };
    let location = format!("/v2/queues/{}/subscriptions", queue.name);
    let created = state
        .ask(CreateSubscription {
            queue: queue.clone(),
            subscriber,
            ttl,
            options,
        })
        .await;
    let id = match (created, &trust) {
        (Ok(id), _) => id,
        (Err(e), Some(made)) => {
            trusts::discard(&state, &req, made).await;
            return Err(e);
        }
        (Err(e), None) => return Err(e),
    };
    // A new subscription is never confirmed: a confirmed one is the subscriber's existing
    // subscription, which Zaqar refuses to create again (an unconfirmed one it answers).
    let existing = state
        .ask(GetSubscription {
            queue,
            id: id.clone(),
        })
        .await?;
    if let Some(made) = &trust {
        trusts::settle(&state, &req, made, &existing).await;
    }
    if existing.confirmed {
        return Err(StorageError::SubscriptionAlreadyExists.into());
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
    let fields = state
        .validator
        .subscription(&document(&req, payload).await?, false)?;
    // Zaqar's storage drivers refuse an update that sets none of the three.
    if fields.subscriber.is_none() && fields.ttl.is_none() && fields.options.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Unable to update subscription",
            format!("Subscription {id} could not be updated."),
        ));
    }
    let mut update = SubscriptionUpdate {
        ttl: fields.ttl,
        options: fields.options,
        subscriber: fields.subscriber,
    };
    let renewal = trusts::update(&state, &req, &queue, &id, &mut update).await?;
    let location = format!("/v2/queues/{}/subscriptions/{id}", queue.name);
    match state.ask(UpdateSubscription { queue, id, update }).await {
        Ok(()) => renewal.stored(&state, &req).await,
        Err(e) => {
            renewal.failed(&state, &req).await;
            return Err(e);
        }
    }
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
    let confirmed = match document(&req, payload).await? {
        Value::Object(m) => match m.get("confirmed") {
            Some(Value::Bool(b)) => *b,
            _ => return Err(ApiError::invalid("The 'confirmed' should be boolean.")),
        },
        _ => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "Unable to confirm subscription",
                format!("Subscription {id} could not be confirmed."),
            ))
        }
    };
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
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    trusts::release_subscription(&state, &req, &queue, &id).await?;
    state.ask(DeleteSubscription { queue, id }).await?;
    Ok(HttpResponse::NoContent().finish())
}
