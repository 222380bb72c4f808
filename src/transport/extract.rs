//! Request inputs every handler shares: the `Client-ID` / `X-Project-ID` headers, query
//! parameters, and the JSON body (read under a size limit, with Zaqar's error texts).

use std::future::{ready, Ready};

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::{web, FromRequest, HttpRequest};
use futures_util::StreamExt;
use uuid::Uuid;
use zaqar_actors::model::QueueId;

use super::errors::ApiError;

/// Who is asking: the client (a UUID) and the project (tenant) it acts for.
#[derive(Debug, Clone)]
pub struct Ctx {
    /// Hyphenated lower-case form, whatever form the client sent, so that `echo`
    /// comparisons do not depend on spelling.
    pub client_id: String,
    pub project: String,
}

/// Zaqar's limit on a project id's length.
const MAX_PROJECT_ID: usize = 256;

impl Ctx {
    pub fn from_headers(req: &HttpRequest) -> Result<Self, ApiError> {
        let client = req.headers().get("Client-ID").ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Missing header value",
                "The \"Client-Id\" header is required.",
            )
        })?;
        let limits = req
            .app_data::<web::Data<super::AppState>>()
            .map(|state| &state.validator.limits);
        let client_id = client_id(client, limits)?;
        let project = req.headers().get("X-Project-ID").ok_or_else(|| {
            ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Project-Id Missing",
                "The header X-PROJECT-ID was missing",
            )
        })?;
        let project = project.to_str().map(str::trim).unwrap_or("");
        if project.is_empty() {
            return Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Empty project header not allowed",
                "X-PROJECT-ID cannot be an empty string. Specify the right header X-PROJECT-ID and retry.",
            ));
        }
        if project.len() > MAX_PROJECT_ID {
            return Err(invalid_queue_identification());
        }
        Ok(Ctx {
            client_id,
            project: project.to_owned(),
        })
    }

    /// The queue named in the path, checked against Zaqar's `QUEUE_NAME_REGEX`
    /// (`[a-zA-Z0-9_\-.]`, at most 64).
    pub fn queue(&self, name: &str) -> Result<QueueId, ApiError> {
        if !super::validation::valid_queue_name(name) {
            return Err(invalid_queue_identification());
        }
        Ok(QueueId::new(self.project.clone(), name))
    }
}

/// The `Client-ID` as `[limits] client_id_uuid_safe` takes it: `strict`, a UUID (kept in
/// hyphenated lower-case form, so that `echo` comparisons do not depend on spelling);
/// `off`, any string of the configured length (a UUID among them still normalised).
fn client_id(
    header: &header::HeaderValue,
    limits: Option<&crate::conf::LimitsConf>,
) -> Result<String, ApiError> {
    let wrong = |description: String| {
        ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            "Wrong UUID value",
            description,
        )
    };
    let text = header
        .to_str()
        .map_err(|_| wrong("Malformed hexadecimal UUID.".into()))?
        .trim();
    if let Ok(uuid) = Uuid::parse_str(text) {
        return Ok(uuid.to_string());
    }
    match limits.filter(|l| l.client_id_uuid_safe == "off") {
        None => Err(wrong("Malformed hexadecimal UUID.".into())),
        Some(l) => {
            let length = text.chars().count();
            if length < l.min_length_client_id || length > l.max_length_client_id {
                return Err(wrong(format!(
                    "Length of client id must be at least {} and no greater than {}.",
                    l.min_length_client_id, l.max_length_client_id
                )));
            }
            Ok(text.to_owned())
        }
    }
}

fn invalid_queue_identification() -> ApiError {
    ApiError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "Invalid queue identification",
        "The format of the submitted queue name or project id is not valid.",
    )
}

impl FromRequest for Ctx {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ctx::from_headers(req))
    }
}

/// The query string as Zaqar's framework (falcon, with `auto_parse_qs_csv` on and blank
/// values dropped) reads it: ordered pairs, where `?ids=a,b` and `?ids=a&ids=b` both give
/// two `ids` pairs, a parameter without a value is absent, and a percent-encoded comma
/// stays part of its value.
#[derive(Debug, Default, Clone)]
pub struct Params(pub Vec<(String, String)>);

/// The strings falcon's `get_param_as_bool` reads as true and as false (case matters).
const TRUE_STRINGS: [&str; 7] = ["true", "True", "t", "yes", "y", "1", "on"];
const FALSE_STRINGS: [&str; 7] = ["false", "False", "f", "no", "n", "0", "off"];

/// One form-encoded piece: `+` is a space, `%XX` a byte; bytes that are not UTF-8 are
/// replaced (no parameter we read can hold them).
fn form_decode(piece: &str) -> String {
    let spaced = piece.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8_lossy()
        .into_owned()
}

impl Params {
    pub fn parse(req: &HttpRequest) -> Result<Self, ApiError> {
        Ok(Self::from_query(req.query_string()))
    }

    pub fn from_query(query: &str) -> Self {
        let mut pairs = Vec::new();
        for field in query.split('&') {
            let (key, value) = field.split_once('=').unwrap_or((field, ""));
            if key.is_empty() || value.is_empty() {
                continue;
            }
            let key = form_decode(key);
            for item in value.split(',').filter(|item| !item.is_empty()) {
                pairs.push((key.clone(), form_decode(item)));
            }
        }
        Params(pairs)
    }

    /// The parameter's value; of several, the last (as falcon's `get_param`).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn int(&self, name: &str) -> Result<Option<i64>, ApiError> {
        self.get(name)
            .map(|v| {
                v.trim()
                    .parse::<i64>()
                    .map_err(|_| ApiError::bad_param(name, "an integer"))
            })
            .transpose()
    }

    /// A boolean as falcon's `get_param_as_bool` reads it; anything but its true and false
    /// strings is refused with its answer.
    pub fn bool(&self, name: &str) -> Result<Option<bool>, ApiError> {
        match self.get(name) {
            None => Ok(None),
            Some(v) if TRUE_STRINGS.contains(&v) => Ok(Some(true)),
            Some(v) if FALSE_STRINGS.contains(&v) => Ok(Some(false)),
            Some(_) => Err(ApiError::new(
                actix_web::http::StatusCode::BAD_REQUEST,
                "Invalid parameter",
                format!(
                    "The \"{name}\" parameter is invalid. The value of the parameter must be \"true\" or \"false\"."
                ),
            )),
        }
    }

    /// [`Self::bool`], false when absent.
    pub fn flag(&self, name: &str) -> Result<bool, ApiError> {
        Ok(self.bool(name)?.unwrap_or(false))
    }

    /// Every value of a list parameter (`ids=a,b` or `ids=a&ids=b`); `None` when absent.
    pub fn list(&self, name: &str) -> Option<Vec<String>> {
        let values: Vec<String> = self
            .0
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
            .collect();
        (!values.is_empty()).then_some(values)
    }

    /// The query string for the next page: every parameter but `marker`, then the new marker.
    pub fn next_page(&self, marker: &str) -> String {
        let mut pairs: Vec<(&str, &str)> = self
            .0
            .iter()
            .filter(|(k, _)| k != "marker")
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        pairs.push(("marker", marker));
        serde_urlencoded::to_string(pairs).unwrap_or_default()
    }
}

/// `[server] client_body_timeout`'s default, for a request served without the app state.
const DEFAULT_BODY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);

/// The body's length as its `Content-Length` declares it.
pub fn declared_length(req: &HttpRequest) -> Option<u64> {
    req.headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
}

/// Reads the whole body within `[server] client_body_timeout`, refusing (without reading on) one larger than `limit` bytes.
pub async fn read_body(
    req: &HttpRequest,
    mut payload: web::Payload,
    limit: u64,
    too_large: impl Fn() -> ApiError,
) -> Result<web::Bytes, ApiError> {
    let declared = declared_length(req);
    if declared.is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let read = async {
        let mut body = web::BytesMut::with_capacity(declared.unwrap_or(0) as usize);
        while let Some(chunk) = payload.next().await {
            let chunk = chunk.map_err(|_| ApiError::bad_body("Request body could not be read."))?;
            if (body.len() + chunk.len()) as u64 > limit {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok(body.freeze())
    };
    // A body trickled in a byte at a time would otherwise hold its connection for ever.
    let timeout = req
        .app_data::<web::Data<super::AppState>>()
        .map_or(DEFAULT_BODY_TIMEOUT, |state| state.body_timeout);
    tokio::time::timeout(timeout, read)
        .await
        .unwrap_or_else(|_| Err(ApiError::body_timeout(timeout.as_secs())))
}

/// [`read_body`] for a body that must be declared as JSON when it is not empty.
pub async fn read_json_body(
    req: &HttpRequest,
    payload: web::Payload,
    limit: u64,
    too_large: impl Fn() -> ApiError,
) -> Result<web::Bytes, ApiError> {
    let body = read_body(req, payload, limit, too_large).await?;
    require_json(req, &body)?;
    Ok(body)
}

/// Checks that a non-empty body is declared as JSON.
pub fn require_json(req: &HttpRequest, body: &[u8]) -> Result<(), ApiError> {
    if body.is_empty() {
        return Ok(());
    }
    let ctype = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let essence = ctype.split(';').next().unwrap_or("").trim();
    if essence.eq_ignore_ascii_case("application/json") || essence.is_empty() {
        return Ok(());
    }
    Err(ApiError::new(
        actix_web::http::StatusCode::BAD_REQUEST,
        "Invalid Content-Type",
        format!(
            "Endpoint does not accept `{essence}` content; currently supported media type is \
             `application/json`; specify proper client-side media type with the \"Content-Type\" header."
        ),
    ))
}

/// Parses a JSON body into `T`; malformed JSON gets Zaqar's "could not be parsed" answer.
pub fn parse_json<'a, T: serde::Deserialize<'a>>(body: &'a [u8]) -> Result<T, ApiError> {
    parse_json_or(body, "Request body could not be parsed.")
}

/// Parses a JSON body into `T`; malformed JSON, or a top level that is neither an object
/// nor an array, is a 400 saying `malformed` (Zaqar's texts differ by resource).
pub fn parse_json_or<'a, T: serde::Deserialize<'a>>(
    body: &'a [u8],
    malformed: &'static str,
) -> Result<T, ApiError> {
    if !is_document(body) {
        return Err(ApiError::bad_body(malformed));
    }
    serde_json::from_slice(body).map_err(|_| ApiError::bad_body(malformed))
}

/// Whether the body's top level is an object or an array: Zaqar's `read_json` takes any
/// other JSON value (`5`, `"x"`, `null`) for malformed.
pub fn is_document(body: &[u8]) -> bool {
    matches!(
        body.iter().find(|b| !b.is_ascii_whitespace()),
        Some(b'{' | b'[')
    )
}

/// The queue a request is about: the request context plus the `{queue}` path segment,
/// checked against Zaqar's naming rule.
pub struct QueuePath {
    pub ctx: Ctx,
    pub queue: QueueId,
}

impl FromRequest for QueuePath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(Ctx::from_headers(req).and_then(|ctx| {
            let queue = ctx.queue(req.match_info().query("queue"))?;
            Ok(QueuePath { ctx, queue })
        }))
    }
}

/// A message, claim or subscription of a queue: the queue as in [`QueuePath`] plus `{id}`.
pub struct ItemPath {
    pub ctx: Ctx,
    pub queue: QueueId,
    pub id: String,
}

impl FromRequest for ItemPath {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        ready(
            QueuePath::from_request(req, payload)
                .into_inner()
                .map(|QueuePath { ctx, queue }| ItemPath {
                    ctx,
                    queue,
                    id: req.match_info().query("id").to_owned(),
                }),
        )
    }
}
