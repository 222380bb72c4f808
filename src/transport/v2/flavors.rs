//! The admin API's flavors: `/v2/flavors` and `/v2/flavors/{name}` (admin role only).
//!
//! A flavor groups pools; a queue whose metadata names it (`_flavor`) is placed in one of
//! them. Its capabilities are those every backend of its pools offers, as Zaqar reports
//! its drivers' capabilities.

use actix_web::http::{header, StatusCode};
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use zaqar_actors::control::{Flavor, Pool};
use zaqar_actors::messages::pooling::{DeleteFlavor, GetFlavor, ListFlavors, PutFlavor};
use zaqar_actors::pooling::FlavorEntry;
use zaqar_actors::StorageError;

use super::pools::{admin_document, admin_fields, names_any, path_name, AdminPage};
use crate::transport::errors::ApiError;
use crate::transport::extract::Ctx;
use crate::transport::AppState;

fn href(name: &str) -> String {
    format!("/v2/flavors/{name}")
}

/// What a backend offers, in Zaqar's capability names.
fn capabilities(pool: &Pool) -> &'static [&'static str] {
    match pool.uri.split("://").next().unwrap_or_default() {
        "redis" | "rediss" => &["FIFO", "CLAIMS", "AOD", "HIGH_THROUGHPUT"],
        _ => &["FIFO", "CLAIMS", "AOD", "DURABILITY"],
    }
}

/// The capabilities every pool of the flavor offers.
fn common_capabilities(pools: &[Pool]) -> Vec<&'static str> {
    let Some((first, rest)) = pools.split_first() else {
        return Vec::new();
    };
    capabilities(first)
        .iter()
        .copied()
        .filter(|c| rest.iter().all(|p| capabilities(p).contains(c)))
        .collect()
}

fn render(f: &FlavorEntry, detailed: bool) -> Value {
    let pool_list: Vec<&str> = f.pools.iter().map(|p| p.name.as_str()).collect();
    let mut out = Map::new();
    out.insert("name".into(), f.flavor.name.clone().into());
    if detailed {
        out.insert("capabilities".into(), json!(common_capabilities(&f.pools)));
    }
    out.insert("pool_list".into(), json!(pool_list));
    out.insert("href".into(), href(&f.flavor.name).into());
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlavorBody {
    pool_list: Vec<String>,
    #[serde(default)]
    capabilities: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FlavorPatchBody {
    pool_list: Vec<String>,
    capabilities: Option<Map<String, Value>>,
}

pub async fn list(
    state: web::Data<AppState>,
    _ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = AdminPage::parse(&state, &req)?;
    let flavors = state
        .ask(ListFlavors {
            marker: page.marker.clone(),
            limit: page.limit,
        })
        .await?;
    let items = flavors.iter().map(|f| render(f, page.detailed)).collect();
    let last = flavors.last().map(|f| f.flavor.name.as_str());
    Ok(HttpResponse::Ok().json(page.answer("/v2/flavors", "flavors", last, items)))
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    let body: FlavorBody = admin_fields(admin_document(&req, payload).await?)?;
    let unable = |description: String| {
        ApiError::new(StatusCode::BAD_REQUEST, "Unable to create", description)
    };
    if body.pool_list.is_empty() {
        return Err(unable("Bad Request".into()));
    }
    let flavor = Flavor {
        name: name.clone(),
        capabilities: body.capabilities,
    };
    let put = state.ask_storage(PutFlavor {
        flavor,
        pools: body.pool_list,
    });
    match put.await {
        Err(e @ StorageError::PoolDoesNotExist { .. }) => {
            return Err(unable(format!(
                "Flavor {name} could not be created, error:{e}"
            )))
        }
        done => done?,
    }
    Ok(HttpResponse::Created()
        .content_type("application/json")
        .insert_header((header::LOCATION, href(&name)))
        .finish())
}

pub async fn get(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    let flavor = state.ask(GetFlavor { name }).await?;
    // A single flavor always shows its capabilities, as Zaqar's does.
    Ok(HttpResponse::Ok().json(render(&flavor, true)))
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    let doc = admin_document(&req, payload).await?;
    // Zaqar's PATCH changes the pool list only; capabilities come from the pools.
    if !names_any(&doc, &["pool_list"]) {
        return Err(ApiError::bad_body("`pool_list` needs to be specified"));
    }
    let body: FlavorPatchBody = admin_fields(doc)?;
    if body.pool_list.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "Unable to create",
            "Bad Request",
        ));
    }
    let current = state.ask(GetFlavor { name: name.clone() }).await?;
    let flavor = Flavor {
        name: name.clone(),
        capabilities: body.capabilities.unwrap_or(current.flavor.capabilities),
    };
    let put = state.ask_storage(PutFlavor {
        flavor,
        pools: body.pool_list,
    });
    match put.await {
        Err(e @ StorageError::PoolDoesNotExist { .. }) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "updatefail",
                format!("Flavor {name} cant be updated, error:{e}"),
            ))
        }
        done => done?,
    }
    let updated = state.ask(GetFlavor { name }).await?;
    Ok(HttpResponse::Ok().json(render(&updated, true)))
}

pub async fn delete(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    state.ask(DeleteFlavor { name }).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(uri: &str) -> Pool {
        Pool {
            name: "p".into(),
            uri: uri.into(),
            weight: 1,
            flavor: None,
            options: Map::new(),
        }
    }

    #[test]
    fn capabilities_are_those_all_pools_share() {
        let redis = pool("redis://h/0");
        let sql = pool("postgres://h/db");
        assert_eq!(
            common_capabilities(std::slice::from_ref(&redis)),
            ["FIFO", "CLAIMS", "AOD", "HIGH_THROUGHPUT"]
        );
        assert_eq!(
            common_capabilities(&[redis, sql]),
            ["FIFO", "CLAIMS", "AOD"]
        );
        assert!(common_capabilities(&[]).is_empty());
    }
}
