//! The Keystone trusts of `trust+http(s)://` subscriptions, for the subscription and queue
//! handlers: made with the caller's token before a subscription is stored (its id kept in the
//! subscription's options as `trust_id`, as Zaqar keeps it), renewed when its TTL changes,
//! and deleted with the subscription, alone or with its queue.
//!
//! The server owns `trust_id`: a client may not name one (another project's trust would
//! otherwise be its to use) nor change it, and a subscription cannot turn between a trust
//! subscriber and a plain one.

use std::time::Duration;

use actix_web::{HttpMessage, HttpRequest};
use serde_json::Value;
use zaqar_actors::messages::{GetSubscription, ListSubscriptions};
use zaqar_actors::model::{Metadata, QueueId, Subscription, SubscriptionUpdate};
use zaqar_actors::StorageError;

use crate::keystone::TrustError;
use crate::transport::auth::{Authenticator, Caller};
use crate::transport::errors::ApiError;
use crate::transport::AppState;

const TRUST_ID: &str = "trust_id";

/// Subscriptions read per page when a queue's trusts are deleted.
const PAGE: u32 = 100;

pub fn is_trust(subscriber: &str) -> bool {
    subscriber
        .get(..6)
        .is_some_and(|s| s.eq_ignore_ascii_case("trust+"))
}

fn trust_id(options: &Metadata) -> Option<&str> {
    options.get(TRUST_ID).and_then(Value::as_str)
}

/// The trust a stored subscription holds, if it is a trust subscription.
fn held(sub: &Subscription) -> Option<&str> {
    is_trust(&sub.subscriber)
        .then(|| trust_id(&sub.options))
        .flatten()
}

fn owned_option() -> ApiError {
    ApiError::invalid("The trust_id option of a trust subscriber is set by the server.")
}

/// Keystone and the caller; trusts exist only in keystone mode with a `[trustee]`, and only
/// for a request that showed a token (a signed URL shows none).
fn keystone(state: &AppState, req: &HttpRequest) -> Result<(Authenticator, Caller), ApiError> {
    let auth = state
        .auth
        .clone()
        .filter(|a| a.keystone.makes_trusts())
        .ok_or(TrustError::Disabled)?;
    let caller = req.extensions().get::<Caller>().cloned().ok_or_else(|| {
        ApiError::invalid("A trust subscriber needs a request made with a Keystone token.")
    })?;
    Ok((auth, caller))
}

/// Makes the trust of a new trust subscription (`ttl` seconds long) and records it in
/// `options`; its id, for [`discard`] should the subscription not be stored.
pub async fn register(
    state: &AppState,
    req: &HttpRequest,
    ttl: i64,
    options: &mut Metadata,
) -> Result<String, ApiError> {
    if options.contains_key(TRUST_ID) {
        return Err(owned_option());
    }
    let (auth, caller) = keystone(state, req)?;
    let expires_in = u64::try_from(ttl).ok().map(Duration::from_secs);
    let id = auth
        .keystone
        .create_trust(&auth.http, &caller.token, &caller.identity, expires_in)
        .await?;
    options.insert(TRUST_ID.into(), Value::String(id.clone()));
    Ok(id)
}

/// Deletes a trust made for a subscription that was not stored (or that another request
/// already holds one for); a failure leaves a trust that expires with the TTL, and is logged.
pub async fn discard(state: &AppState, req: &HttpRequest, id: &str) {
    if let Err(e) = delete(state, req, id).await {
        tracing::warn!(error = %e, "a trust made for an unstored subscription remains until it expires");
    }
}

async fn delete(state: &AppState, req: &HttpRequest, id: &str) -> Result<(), TrustError> {
    let Some(auth) = state.auth.as_ref() else {
        return Ok(());
    };
    // The caller's token may delete its own trusts; for others, the service user's does.
    let token = req
        .extensions()
        .get::<Caller>()
        .map(|c| c.token.clone())
        .unwrap_or_else(|| "".into());
    auth.keystone.delete_trust(&auth.http, &token, id).await
}

/// After a create: the trust `made` goes unless `stored` (the subscription the create
/// answered, which may be an earlier one of the same subscriber) holds it.
pub async fn settle(state: &AppState, req: &HttpRequest, made: &str, stored: &Subscription) {
    if held(stored) != Some(made) {
        discard(state, req, made).await;
    }
}

/// Deletes the trust of `sub` before `sub` itself is deleted: if Keystone cannot be reached
/// the request fails, and the subscription with its trust stays, for a retry.
async fn release(state: &AppState, req: &HttpRequest, sub: &Subscription) -> Result<(), ApiError> {
    match held(sub) {
        Some(id) => Ok(delete(state, req, id).await?),
        None => Ok(()),
    }
}

/// Deletes the trust of subscription `id` of `queue`, which is about to be deleted (a
/// subscription that is not there has none).
pub async fn release_subscription(
    state: &AppState,
    req: &HttpRequest,
    queue: &QueueId,
    id: &str,
) -> Result<(), ApiError> {
    if state.auth.is_none() {
        return Ok(());
    }
    let get = GetSubscription {
        queue: queue.clone(),
        id: id.to_owned(),
    };
    match state.ask_storage(get).await {
        Ok(sub) => release(state, req, &sub).await,
        Err(StorageError::SubscriptionDoesNotExist { .. }) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Deletes the trusts of every trust subscription of `queue`, which is about to be deleted.
pub async fn release_queue(
    state: &AppState,
    req: &HttpRequest,
    queue: &QueueId,
) -> Result<(), ApiError> {
    if state.auth.is_none() {
        return Ok(());
    }
    let mut marker = None;
    loop {
        let page = state
            .ask(ListSubscriptions {
                queue: queue.clone(),
                marker: marker.take(),
                limit: PAGE,
            })
            .await?;
        for sub in &page {
            release(state, req, sub).await?;
        }
        match page.last() {
            Some(last) if page.len() == PAGE as usize => marker = Some(last.id.clone()),
            _ => return Ok(()),
        }
    }
}

/// Checks an update of subscription `id` and keeps its trust: the subscriber stays a trust
/// subscriber or a plain one, new options keep `trust_id`, and a new TTL gets a new trust
/// (made by the caller, expiring with it). The trust to delete once the update is stored,
/// and the new one to discard if it is not.
pub async fn update(
    state: &AppState,
    req: &HttpRequest,
    queue: &QueueId,
    id: &str,
    update: &mut SubscriptionUpdate,
) -> Result<Renewal, ApiError> {
    let sub = &state
        .ask(GetSubscription {
            queue: queue.clone(),
            id: id.to_owned(),
        })
        .await?;
    let trust = is_trust(&sub.subscriber);
    if update
        .subscriber
        .as_deref()
        .is_some_and(|s| is_trust(s) != trust)
    {
        return Err(ApiError::invalid(
            "A subscription cannot change between a trust subscriber and another kind; delete it and subscribe again.",
        ));
    }
    if !trust {
        return Ok(Renewal::default());
    }
    let old = trust_id(&sub.options);
    if let Some(options) = &update.options {
        if options.contains_key(TRUST_ID) && trust_id(options) != old {
            return Err(owned_option());
        }
    }
    let mut renewal = Renewal::default();
    if update.options.is_none() && update.ttl.is_none() {
        return Ok(renewal);
    }
    let mut options = update.options.take().unwrap_or_else(|| sub.options.clone());
    options.remove(TRUST_ID);
    match update.ttl {
        Some(ttl) => {
            renewal.made = Some(register(state, req, ttl, &mut options).await?);
            renewal.replaced = old.map(str::to_owned);
        }
        None => {
            if let Some(old) = old {
                options.insert(TRUST_ID.into(), Value::String(old.to_owned()));
            }
        }
    }
    update.options = Some(options);
    Ok(renewal)
}

/// The trusts an update changed: see [`update`].
#[derive(Default)]
pub struct Renewal {
    made: Option<String>,
    replaced: Option<String>,
}

impl Renewal {
    /// The update was stored: the replaced trust goes.
    pub async fn stored(self, state: &AppState, req: &HttpRequest) {
        if let Some(id) = self.replaced {
            discard(state, req, &id).await;
        }
    }

    /// The update failed: the new trust goes.
    pub async fn failed(self, state: &AppState, req: &HttpRequest) {
        if let Some(id) = self.made {
            discard(state, req, &id).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trust_subscribers_are_told_by_their_scheme() {
        assert!(is_trust("trust+http://x"));
        assert!(is_trust("TRUST+https://x"));
        assert!(!is_trust("http://trust+x"));
        assert!(!is_trust("trust"));
        assert!(!is_trust("tr\u{fc}st+http://x"));
    }
}
