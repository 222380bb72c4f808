//! Versions, the home document, ping and health.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde_json::json;
use zaqar_actors::messages::pooling::Health;
use zaqar_actors::messages::Ping;
use zaqar_actors::pooling::PoolStatus;

use crate::transport::errors::ApiError;
use crate::transport::extract::Ctx;
use crate::transport::AppState;

/// `GET /`: the API versions (300 Multiple Choices, as Zaqar).
pub async fn versions() -> HttpResponse {
    HttpResponse::MultipleChoices().json(json!({
        "versions": [{
            "id": "2",
            "status": "CURRENT",
            "updated": "2014-9-24T04:06:47Z",
            "media-types": [{
                "base": "application/json",
                "type": "application/vnd.openstack.messaging-v2+json"
            }],
            "links": [{"href": "/v2/", "rel": "self"}]
        }]
    }))
}

/// `GET /v2/`: the JSON home document.
pub async fn homedoc(_ctx: Ctx) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, "application/json-home"))
        .insert_header((header::CACHE_CONTROL, "max-age=86400"))
        .body(include_str!("homedoc.json"))
}

/// `GET|HEAD /v2/ping`: 204 when the storage answers, 503 when it does not.
pub async fn ping(state: web::Data<AppState>, _ctx: Ctx) -> Result<HttpResponse, ApiError> {
    state.ask(Ping {}).await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /v2/health`: admin only; whether the catalog and each pool are reachable, and each
/// pool's status (`ok`, `degraded` while its writes fail, `down`).
pub async fn health(state: web::Data<AppState>, _ctx: Ctx) -> Result<HttpResponse, ApiError> {
    let report = state.ask(Health {}).await?;
    let reachable = |s: &PoolStatus| *s != PoolStatus::Down;
    let pools: serde_json::Map<String, serde_json::Value> = report
        .pools
        .iter()
        .map(|(name, s)| {
            let pool = json!({ "storage_reachable": reachable(s), "status": s.as_str() });
            (name.clone(), pool)
        })
        .collect();
    // The worst of the pools: down, else degraded, else ok.
    let status = [PoolStatus::Down, PoolStatus::Degraded]
        .into_iter()
        .find(|worst| report.pools.iter().any(|(_, s)| s == worst))
        .unwrap_or(PoolStatus::Up);
    Ok(HttpResponse::Ok().json(json!({
        "catalog_reachable": report.catalog_reachable,
        "storage_reachable": report.pools.iter().all(|(_, s)| reachable(s)),
        "status": status.as_str(),
        "pools": pools,
    })))
}
