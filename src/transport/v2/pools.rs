//! The admin API's pools: `/v2/pools` and `/v2/pools/{name}` (admin role only).
//!
//! A pool's URI is answered with its password masked: admin answers end up in logs and
//! terminals too.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::{json, Map, Value};
use zaqar_actors::control::Pool;
use zaqar_actors::messages::pooling::{DeletePool, GetPool, ListPools, PutPool, UpdatePool};
use zaqar_actors::pooling::PoolPatch;
use zaqar_actors::storage::open::redact_uri;

use super::next_links;
use crate::transport::errors::ApiError;
use crate::transport::extract::{parse_json_or, read_json_body, Ctx, Params};
use crate::transport::AppState;

/// Largest admin request body (a pool or flavor definition).
pub const MAX_ADMIN_BODY: u64 = 65_536;

/// The `{name}` of a pool or flavor path, checked like a queue name (who may use it is the
/// policy's: `transport::acl`).
pub fn path_name(req: &HttpRequest, ctx: &Ctx) -> Result<String, ApiError> {
    let name = req.match_info().get("name").unwrap_or_default();
    ctx.queue(name).map(|q| q.name)
}

/// Reads an admin JSON document, with the text of Zaqar's `wsgi_utils.load`.
pub async fn admin_document(req: &HttpRequest, payload: web::Payload) -> Result<Value, ApiError> {
    let body = read_json_body(req, payload, MAX_ADMIN_BODY, || {
        ApiError::bad_body(format!("The body is larger than {MAX_ADMIN_BODY} bytes."))
    })
    .await?;
    parse_json_or(&body, "JSON could not be parsed.")
}

/// An admin document as the body type `T` (Zaqar checks it with a JSON schema; the
/// description here says what is wrong in serde's words).
pub fn admin_fields<T: for<'a> Deserialize<'a>>(doc: Value) -> Result<T, ApiError> {
    if !doc.is_object() {
        return Err(ApiError::bad_body(format!("{doc} is not of type 'object'")));
    }
    serde_json::from_value(doc).map_err(|e| ApiError::bad_body(e.to_string()))
}

/// Whether the document is an object naming one of `fields`: Zaqar's PATCH handlers ask
/// this before anything else.
pub fn names_any(doc: &Value, fields: &[&str]) -> bool {
    doc.as_object()
        .is_some_and(|m| fields.iter().any(|f| m.contains_key(*f)))
}

/// The query of an admin listing (pools, flavors), once the admin role is checked.
pub struct AdminPage {
    params: Params,
    pub marker: Option<String>,
    pub limit: u32,
    pub detailed: bool,
}

impl AdminPage {
    /// The page of a pool or flavor listing (who may read it is the policy's).
    pub fn parse(state: &AppState, req: &HttpRequest) -> Result<Self, ApiError> {
        let params = Params::parse(req)?;
        Ok(Self {
            limit: state.validator.admin_page(&params)?,
            detailed: params.flag("detailed")?,
            marker: params.get("marker").map(str::to_owned),
            params,
        })
    }

    /// `{"links": [...], "<key>": [...]}`: a `next` link when the page is not empty.
    pub fn answer(&self, base: &str, key: &str, last: Option<&str>, items: Vec<Value>) -> Value {
        let mut out = Map::new();
        out.insert("links".into(), json!(next_links(base, &self.params, last)));
        out.insert(key.into(), Value::Array(items));
        Value::Object(out)
    }
}

fn href(name: &str) -> String {
    format!("/v2/pools/{name}")
}

fn render(p: &Pool, detailed: bool) -> Value {
    let mut out = Map::new();
    out.insert("name".into(), p.name.clone().into());
    out.insert("uri".into(), redact_uri(&p.uri).into());
    out.insert("weight".into(), p.weight.into());
    out.insert("flavor".into(), p.flavor.clone().into());
    if detailed {
        out.insert("options".into(), Value::Object(p.options.clone()));
    }
    out.insert("href".into(), href(&p.name).into());
    Value::Object(out)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolBody {
    weight: u32,
    uri: String,
    #[serde(default)]
    flavor: Option<String>,
    #[serde(default)]
    options: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PoolPatchBody {
    weight: Option<u32>,
    uri: Option<String>,
    #[serde(default, deserialize_with = "present")]
    flavor: Option<Option<String>>,
    options: Option<Map<String, Value>>,
}

/// A field that may be given as `null`: `Some(None)` then, `None` when absent.
fn present<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

pub async fn list(
    state: web::Data<AppState>,
    _ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let page = AdminPage::parse(&state, &req)?;
    let pools = state
        .ask(ListPools {
            marker: page.marker.clone(),
            limit: page.limit,
        })
        .await?;
    let items = pools.iter().map(|p| render(p, page.detailed)).collect();
    let last = pools.last().map(|p| p.name.as_str());
    Ok(HttpResponse::Ok()
        .insert_header((header::CONTENT_LOCATION, "/v2/pools"))
        .json(page.answer("/v2/pools", "pools", last, items)))
}

pub async fn create(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    let body: PoolBody = admin_fields(admin_document(&req, payload).await?)?;
    let pool = Pool {
        name: name.clone(),
        uri: body.uri,
        weight: body.weight,
        flavor: body.flavor,
        options: body.options,
    };
    state.ask(PutPool { pool }).await?;
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
    let detailed = Params::parse(&req)?.flag("detailed")?;
    let pool = state.ask(GetPool { name }).await?;
    Ok(HttpResponse::Ok().json(render(&pool, detailed)))
}

pub async fn update(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    let doc = admin_document(&req, payload).await?;
    if !names_any(&doc, &["weight", "uri", "flavor", "options"]) {
        return Err(ApiError::bad_body(
            "One of `uri`, `weight`, `flavor`, or `options` needs to be specified",
        ));
    }
    let body: PoolPatchBody = admin_fields(doc)?;
    let patch = PoolPatch {
        uri: body.uri,
        weight: body.weight,
        flavor: body.flavor,
        options: body.options,
    };
    let pool = state.ask(UpdatePool { name, patch }).await?;
    Ok(HttpResponse::Ok().json(render(&pool, false)))
}

pub async fn delete(
    state: web::Data<AppState>,
    ctx: Ctx,
    req: HttpRequest,
) -> Result<HttpResponse, ApiError> {
    let name = path_name(&req, &ctx)?;
    state.ask(DeletePool { name }).await?;
    Ok(HttpResponse::NoContent().finish())
}
