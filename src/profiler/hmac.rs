//! `X-Trace-Info` / `X-Trace-HMAC`: verifying (and, for clients and tests, signing) trace
//! headers exactly as osprofiler 4.x does.
//!
//! The tag is an HMAC over the header *text* (the base64, not the JSON), lowercase hex,
//! compared in constant time and case-sensitively; keys are tried in configured order and the
//! first match decides. HMAC-SHA1 (40 hex characters, what osprofiler 4.4 sends) and
//! HMAC-SHA256 (64) are both accepted. Only after a key matches is the payload decoded.
//!
//! Base64, decided on purpose: we decode the way Python's `base64.urlsafe_b64decode` does,
//! because that is what every osprofiler peer accepts: both alphabets (`-_` and `+/`),
//! characters outside the alphabet dropped, `=` padding required. Being stricter would only
//! refuse requests that a key holder signed, so it buys no security (the HMAC has already
//! been checked) and would break traces that Python services accept.

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Map, Value};

use crate::conf::Secret;

/// What a valid signed header says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceInfo {
    pub base_id: String,
    pub parent_id: String,
}

/// The configured keys, each already taken into an HMAC state for either digest: a check
/// clones a state rather than hashing its key again (two of a SHA-1 check's compressions).
#[derive(Clone)]
pub struct Keys(Vec<(Hmac<sha1::Sha1>, Hmac<sha2::Sha256>)>);

impl Keys {
    pub fn new(keys: &[Secret]) -> Self {
        Self(
            keys.iter()
                .map(|k| {
                    (
                        <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(k.0.as_bytes())
                            .expect("HMAC takes any key length"),
                        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(k.0.as_bytes())
                            .expect("HMAC takes any key length"),
                    )
                })
                .collect(),
        )
    }
}

/// Never the keys, nor anything derived from them.
impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Keys({} configured)", self.0.len())
    }
}

/// Verifies the two headers against `keys`; `None` for anything invalid (the request is then
/// served untraced, silently).
pub fn verify(info: Option<&str>, tag: Option<&str>, keys: &Keys) -> Option<TraceInfo> {
    let info = info.filter(|i| !i.is_empty())?;
    let tag = tag.map(str::trim).filter(|t| !t.is_empty())?;
    let mut bytes = [0u8; 32];
    let tag = decode_hex(tag, &mut bytes)?;
    // The first matching key decides; osprofiler would re-sign downstream calls with it,
    // and this server makes none yet.
    if !keys.0.iter().any(|k| tag_matches(k, info, tag)) {
        return None;
    }
    let payload = python_urlsafe_b64decode(info)?;
    let object: Map<String, Value> = serde_json::from_slice(&payload).ok()?;
    if object
        .keys()
        .any(|k| !matches!(k.as_str(), "base_id" | "parent_id" | "hmac_key"))
    {
        return None;
    }
    let text = |k: &str| match object.get(k) {
        Some(Value::String(s)) => Some(s.clone()),
        Some(Value::Null) | None => None,
        Some(other) => Some(other.to_string()),
    };
    // `base_id` is required; an empty one is replaced by a fresh id (detached from the
    // caller), and an empty `parent_id` means "the trace root", as osprofiler does.
    if !object.contains_key("base_id") {
        return None;
    }
    let base_id = text("base_id")
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let parent_id = text("parent_id")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| base_id.clone());
    Some(TraceInfo { base_id, parent_id })
}

fn tag_matches(key: &(Hmac<sha1::Sha1>, Hmac<sha2::Sha256>), info: &str, tag: &[u8]) -> bool {
    match tag.len() {
        20 => {
            let mut mac = key.0.clone();
            mac.update(info.as_bytes());
            mac.verify_slice(tag).is_ok()
        }
        32 => {
            let mut mac = key.1.clone();
            mac.update(info.as_bytes());
            mac.verify_slice(tag).is_ok()
        }
        _ => false,
    }
}

/// Lowercase hex only: osprofiler compares `hexdigest()` strings, so `ABCD` never matches.
/// A tag longer than the longest digest matches nothing.
fn decode_hex<'a>(text: &str, out: &'a mut [u8; 32]) -> Option<&'a [u8]> {
    if !text.len().is_multiple_of(2) || text.len() > 2 * out.len() {
        return None;
    }
    let nibble = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    let n = text.len() / 2;
    for (byte, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *byte = nibble(pair[0])? << 4 | nibble(pair[1])?;
    }
    Some(&out[..n])
}

/// `base64.urlsafe_b64decode` of CPython: map `-_` to `+/`, drop every character outside
/// the standard alphabet and `=`, then decode with padding required.
fn python_urlsafe_b64decode(text: &str) -> Option<Vec<u8>> {
    // What every osprofiler client sends: only the URL-safe alphabet, which the URL-safe
    // engine decodes as the mapping below would, without a copy.
    if text
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'='))
    {
        return base64::engine::general_purpose::URL_SAFE.decode(text).ok();
    }
    let cleaned: Vec<u8> = text
        .bytes()
        .filter_map(|b| match b {
            b'-' => Some(b'+'),
            b'_' => Some(b'/'),
            b if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'=') => Some(b),
            _ => None,
        })
        .collect();
    base64::engine::general_purpose::STANDARD
        .decode(cleaned)
        .ok()
}

/// Signs a payload as osprofiler does (HMAC-SHA1, Python's `json.dumps` layout), answering
/// the two header values. For clients and tests.
pub fn sign(base_id: &str, parent_id: &str, key: &str) -> (String, String) {
    let json = format!(
        "{{\"base_id\": {}, \"parent_id\": {}}}",
        Value::String(base_id.to_owned()),
        Value::String(parent_id.to_owned())
    );
    let info = base64::engine::general_purpose::URL_SAFE.encode(json);
    let mut mac = <Hmac<sha1::Sha1> as KeyInit>::new_from_slice(key.as_bytes())
        .expect("HMAC takes any key length");
    mac.update(info.as_bytes());
    let tag = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    (info, tag)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conf::HmacKeys;

    /// The vectors produced by running the real osprofiler 4.4.0 (copied from
    /// ../shared/reference so the project's own tests do not need that folder).
    fn vectors() -> Value {
        serde_json::from_str(include_str!(
            "../../tests/data/osprofiler-test-vectors.json"
        ))
        .unwrap()
    }

    fn header<'a>(case: &'a Value, name: &str) -> Option<&'a str> {
        case["headers"][name].as_str()
    }

    fn keys(case: &Value) -> Keys {
        Keys::new(&HmacKeys::parse(case["server_hmac_keys_config"].as_str().unwrap()).0)
    }

    /// Whether our server traces the request described by a vector case.
    fn traced(case: &Value) -> Option<TraceInfo> {
        let enabled = case
            .get("server_enabled")
            .and_then(Value::as_bool)
            .unwrap_or(true);
        let found = verify(
            header(case, "X-Trace-Info"),
            header(case, "X-Trace-HMAC"),
            &keys(case),
        );
        found.filter(|_| enabled)
    }

    #[test]
    fn every_positive_vector_is_traced_with_its_ids() {
        let v = vectors();
        let cases = v["positive_cases"].as_array().unwrap();
        assert_eq!(cases.len(), 8);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let got = traced(case).unwrap_or_else(|| panic!("{name}: not accepted"));
            let data = &case["input"]["data"];
            assert_eq!(got.base_id, data["base_id"].as_str().unwrap(), "{name}");
            let parent = data["parent_id"].as_str().unwrap_or(&got.base_id);
            assert_eq!(got.parent_id, parent, "{name}");
            assert_eq!(case["middleware"]["traced"], true, "{name}");
        }
    }

    #[test]
    fn every_negative_and_edge_vector_matches_the_middleware() {
        let v = vectors();
        let cases = v["negative_and_edge_cases"].as_array().unwrap();
        assert_eq!(cases.len(), 19);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let expected = case["middleware_traced"].as_bool().unwrap();
            let got = traced(case);
            assert_eq!(got.is_some(), expected, "{name}: {got:?}");
            if let (Some(got), Some(result)) = (got, case["signed_unpack_result"].as_object()) {
                let base = result["base_id"].as_str().unwrap();
                if base.is_empty() {
                    // Regenerated: a fresh UUID, and the parent follows it.
                    assert!(uuid::Uuid::parse_str(&got.base_id).is_ok(), "{name}");
                    assert_eq!(got.parent_id, got.base_id, "{name}");
                } else {
                    assert_eq!(got.base_id, base, "{name}");
                    assert_eq!(
                        got.parent_id,
                        result["parent_id"].as_str().unwrap(),
                        "{name}"
                    );
                }
            }
        }
    }

    #[test]
    fn empty_client_key_sends_nothing_we_accept() {
        let v = vectors();
        assert_eq!(
            v["empty_key_case"]["get_trace_id_headers"],
            serde_json::json!({})
        );
        // A tag made with the empty key is valid HMAC but no server key is empty.
        let info = v["positive_cases"][0]["headers"]["X-Trace-Info"]
            .as_str()
            .unwrap();
        let tag = v["empty_key_case"]["hmac_sha1_empty_key_of_info_for_reference"].as_str();
        let keys = Keys::new(&HmacKeys::parse("SECRET_KEY").0);
        assert!(verify(Some(info), tag, &keys).is_none());
        assert!(verify(Some(info), tag, &Keys::new(&[])).is_none());
    }

    #[test]
    fn signing_reproduces_osprofiler_byte_for_byte() {
        let v = vectors();
        for case in v["positive_cases"].as_array().unwrap() {
            let data = &case["input"]["data"];
            let (Some(base), Some(parent)) = (data["base_id"].as_str(), data["parent_id"].as_str())
            else {
                continue;
            };
            if case["json_text_before_base64"]
                .as_str()
                .unwrap()
                .contains("\\u")
            {
                continue; // Python escapes non-ASCII; we sign with serde's layout.
            }
            let (info, tag) = sign(base, parent, case["input"]["hmac_key"].as_str().unwrap());
            assert_eq!(
                Some(info.as_str()),
                header(case, "X-Trace-Info"),
                "{}",
                case["name"]
            );
            assert_eq!(
                Some(tag.as_str()),
                header(case, "X-Trace-HMAC"),
                "{}",
                case["name"]
            );
        }
    }

    #[test]
    fn sha256_tags_are_accepted_and_checked() {
        let info = sign("b", "b", "k").0;
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(b"k").unwrap();
        mac.update(info.as_bytes());
        let tag: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let keys = Keys::new(&HmacKeys::parse("k").0);
        assert!(verify(Some(&info), Some(&tag), &keys).is_some());
        assert!(verify(Some(&info), Some(&tag.to_uppercase()), &keys).is_none());
        let other = Keys::new(&HmacKeys::parse("other").0);
        assert!(verify(Some(&info), Some(&tag), &other).is_none());
        // Longer or shorter than a digest: no match, and no panic.
        for bad in [format!("{tag}00"), tag[..62].to_owned(), "ab".repeat(40)] {
            assert!(verify(Some(&info), Some(&bad), &keys).is_none(), "{bad}");
        }
        // A state is reused across checks: the second check of the same header still passes.
        assert!(verify(Some(&info), Some(&tag), &keys).is_some());
        assert_eq!(format!("{keys:?}"), "Keys(1 configured)");
    }

    /// The URL-safe shortcut decodes what the general path (alphabet mapped, strays
    /// dropped) decodes.
    #[test]
    fn url_safe_headers_decode_as_the_general_path_does() {
        for len in 0..40u8 {
            let data: Vec<u8> = (0..len).map(|i| i.wrapping_mul(97) ^ 0xfb).collect();
            let text = base64::engine::general_purpose::URL_SAFE.encode(&data);
            assert_eq!(python_urlsafe_b64decode(&text), Some(data.clone()));
            // The same text through the general path: a stray character forces it.
            let stray = format!("{text}\n");
            assert_eq!(python_urlsafe_b64decode(&stray), Some(data.clone()));
            let standard = text.replace('-', "+").replace('_', "/");
            assert_eq!(python_urlsafe_b64decode(&standard), Some(data));
        }
        assert_eq!(python_urlsafe_b64decode("YQ"), None, "padding is required");
    }
}
