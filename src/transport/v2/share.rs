//! `POST /v2/queues/{queue}/share`: a pre-signed URL for the queue's messages, claims or
//! subscriptions, as Zaqar's `zaqar/transport/wsgi/v2_0/urls.py` answers it (the signing
//! itself is [`crate::transport::signed_url`]).

use actix_web::{web, HttpRequest, HttpResponse};
use serde_json::{Map, Value};

use crate::transport::errors::ApiError;
use crate::transport::extract::{parse_json, read_json_body, QueuePath};
use crate::transport::signed_url::Expires;
use crate::transport::AppState;

/// The body's keys Zaqar knows.
const KNOWN_KEYS: [&str; 3] = ["methods", "expires", "paths"];
/// What a URL may be signed for, below the queue.
const VALID_PATHS: [&str; 3] = ["messages", "subscriptions", "claims"];
/// Largest share request body.
const MAX_SHARE_BODY: u64 = 16_384;

pub async fn create(
    state: web::Data<AppState>,
    QueuePath { queue, .. }: QueuePath,
    req: HttpRequest,
    payload: web::Payload,
) -> Result<HttpResponse, ApiError> {
    let body = read_json_body(&req, payload, MAX_SHARE_BODY, || {
        ApiError::bad_body("The share request is too large.")
    })
    .await?;
    let Value::Object(doc) = parse_json::<Value>(&body)? else {
        return Err(ApiError::bad_body("Document type not supported."));
    };
    let unknown: Vec<Value> = doc
        .keys()
        .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
        .map(|k| Value::String(k.clone()))
        .collect();
    if !unknown.is_empty() {
        return Err(ApiError::invalid(format!(
            "Unknown keys: {}",
            py_set(&unknown)
        )));
    }
    let paths = paths(&doc)?
        .into_iter()
        .map(|p| format!("/v2/queues/{}/{p}", queue.name))
        .collect();
    let signed = state
        .signer
        .sign(
            paths,
            &queue.project,
            methods(&doc)?,
            expires(&doc).as_ref(),
        )
        .map_err(ApiError::invalid)?;
    Ok(HttpResponse::Ok().json(signed))
}

/// Python's truth of a JSON value, which decides whether Zaqar takes its default.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The body's `paths`, each one of [`VALID_PATHS`]; none: the messages.
fn paths(doc: &Map<String, Value>) -> Result<Vec<String>, ApiError> {
    let given = match doc.get("paths") {
        Some(v) if truthy(v) => v,
        _ => return Ok(vec!["messages".to_owned()]),
    };
    // What Python's set() of the value holds: a list's items, a text's characters, an
    // object's keys.
    let items: Vec<Value> = match given {
        Value::Array(items) => items.clone(),
        Value::String(s) => s.chars().map(|c| Value::String(c.into())).collect(),
        Value::Object(o) => o.keys().map(|k| Value::String(k.clone())).collect(),
        other => vec![other.clone()],
    };
    let invalid: Vec<Value> = items
        .iter()
        .filter(|p| !p.as_str().is_some_and(|p| VALID_PATHS.contains(&p)))
        .cloned()
        .collect();
    if !invalid.is_empty() {
        return Err(ApiError::invalid(format!(
            "Invalid paths: {}",
            py_set(&invalid)
        )));
    }
    Ok(items
        .iter()
        .filter_map(|p| p.as_str().map(str::to_owned))
        .collect())
}

/// The body's `methods`; none or empty: Zaqar's default (GET).
fn methods(doc: &Map<String, Value>) -> Result<Option<Vec<String>>, ApiError> {
    match doc.get("methods") {
        Some(v) if !truthy(v) => Ok(None),
        None => Ok(None),
        Some(Value::Array(items)) => items
            .iter()
            .map(|m| m.as_str().map(str::to_owned))
            .collect::<Option<Vec<_>>>()
            .map(Some)
            // Zaqar fails sorting a list that mixes texts and numbers (a 500).
            .ok_or_else(|| ApiError::invalid("`methods` should be a list of strings")),
        Some(_) => Err(ApiError::invalid("`methods` should be a list")),
    }
}

/// The body's `expires` as Zaqar reads it: numbers (and booleans) as integers.
fn expires(doc: &Map<String, Value>) -> Option<Expires> {
    match doc.get("expires")? {
        Value::Null => None,
        Value::String(s) => Some(Expires::Text(s.clone())),
        Value::Bool(b) => Some(Expires::Number(i64::from(*b))),
        Value::Number(n) => Some(Expires::Number(
            n.as_i64()
                .unwrap_or_else(|| n.as_f64().unwrap_or(0.0) as i64),
        )),
        other => Some(Expires::Text(other.to_string())),
    }
}

/// Values as Python prints a set of them (sorted here: Python's order is arbitrary).
fn py_set(values: &[Value]) -> String {
    let mut shown: Vec<String> = values
        .iter()
        .map(|v| match v {
            Value::String(s) => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "\\'")),
            other => other.to_string(),
        })
        .collect();
    shown.sort();
    shown.dedup();
    format!("{{{}}}", shown.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_read_as_python_prints_them() {
        let v = |s: &str| Value::String(s.into());
        assert_eq!(py_set(&[v("project_id")]), "{'project_id'}");
        assert_eq!(py_set(&[v("b"), v("a"), v("b")]), "{'a', 'b'}");
        assert_eq!(py_set(&[Value::from(1)]), "{1}");
    }
}
