//! Pre-signed URLs, byte for byte as Zaqar makes them (`zaqar/common/urls.py`
//! `create_signed_url`) and checks them (`verify_pre_signed_url` in
//! `zaqar/common/transport/wsgi/helpers.py`).
//!
//! A signature is the hex HMAC-SHA256, under `[signed_url] secret_key`, of the sorted paths
//! joined by `,`, the sorted methods joined by `,`, the project and the expiry time
//! (`%Y-%m-%dT%H:%M:%S`, UTC), separated by the two characters `\` `n` (Zaqar writes them
//! in a raw string), not by newlines.
//!
//! Every request that carries `URL-Signature` is checked, whatever the auth strategy, before
//! anything else: its method must be one of `URL-Methods`, one of `URL-Paths` must match
//! its path (as a pattern, Zaqar's `re.search`, so a signed queue's messages path also
//! admits each message's path), and the signature must be that of those headers, the
//! `X-Project-ID` and `URL-Expires`, which must lie ahead. Anything else answers Zaqar's
//! bare 404. Time is the server's clock, the one message expiry reads.

use actix_web::dev::{Service, ServiceRequest, ServiceResponse};
use actix_web::http::header::HeaderMap;
use actix_web::web;
use hmac::{Hmac, KeyInit, Mac};
use serde::Serialize;
use sha2::Sha256;
use time::{Date, Month, OffsetDateTime, PrimitiveDateTime, Time, UtcOffset};
use zaqar_actors::Clock;

use super::errors::ApiError;
use super::{refuse_or_pass, Answer, AppState};

/// Zaqar's `_DATE_FORMAT`.
const DATE_FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
    time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");

/// How long a URL signed without `expires` lives: Zaqar's one day.
const DEFAULT_LIFETIME: time::Duration = time::Duration::days(1);

/// What `POST /v2/queues/{q}/share` answers, in Zaqar's key order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SignedUrl {
    pub paths: Vec<String>,
    pub methods: Vec<String>,
    pub project: String,
    pub expires: String,
    pub signature: String,
}

/// The signing key and the clock expiry is measured by.
#[derive(Clone)]
pub struct Signer {
    /// `None`: no key is configured; nothing can be signed or verified.
    key: Option<Vec<u8>>,
    clock: Clock,
}

impl std::fmt::Debug for Signer {
    // Never prints the key.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("configured", &self.key.is_some())
            .finish()
    }
}

/// The expiry a client asked for, as Zaqar reads the body's `expires`.
#[derive(Debug, Clone, PartialEq)]
pub enum Expires {
    /// An ISO 8601 date and time.
    Text(String),
    /// A number: refused (Zaqar takes only dates), unless it is 0, which fails as a date.
    Number(i64),
}

impl Signer {
    /// `key` empty: signing is off.
    pub fn new(key: &str, clock: Clock) -> Self {
        Self {
            key: (!key.is_empty()).then(|| key.as_bytes().to_vec()),
            clock,
        }
    }

    fn now(&self) -> OffsetDateTime {
        let ns = i128::from(self.clock.now_ms()) * 1_000_000;
        OffsetDateTime::from_unix_timestamp_nanos(ns).unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// Zaqar's `create_signed_url`: the error is its `ValueError` text.
    pub fn sign(
        &self,
        mut paths: Vec<String>,
        project: &str,
        methods: Option<Vec<String>>,
        expires: Option<&Expires>,
    ) -> Result<SignedUrl, String> {
        let key = self.key.as_deref().ok_or("The `key` can't be None")?;
        if paths.is_empty() {
            return Err("`paths` must be a non-empty list".into());
        }
        let mut methods = methods
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| vec!["GET".to_owned()]);
        let now = self.now();
        let expires = match expires {
            None => now + DEFAULT_LIFETIME,
            Some(Expires::Number(n)) if *n != 0 => {
                return Err(format!(
                    "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: {n}"
                ))
            }
            Some(Expires::Number(n)) => parse_isotime(&n.to_string())?,
            Some(Expires::Text(text)) => match text.trim().parse::<i64>() {
                Ok(n) if n != 0 => {
                    return Err(format!(
                        "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: {n}"
                    ))
                }
                _ => parse_isotime(text)?,
            },
        };
        if expires <= now {
            return Err("`expires` is lower than the current time".into());
        }
        methods.sort();
        paths.sort();
        let expires = expires
            .format(DATE_FORMAT)
            .map_err(|e| format!("`expires` cannot be written: {e}"))?;
        let signature = signature(key, &paths, &methods, project, &expires);
        Ok(SignedUrl {
            paths,
            methods,
            project: project.to_owned(),
            expires,
            signature,
        })
    }

    /// Whether a request carrying `URL-Signature` may proceed.
    pub fn admits(&self, method: &str, path: &str, headers: &HeaderMap) -> bool {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let Some(signature) = header("URL-Signature") else {
            return true;
        };
        let methods: Vec<String> = header("URL-Methods")
            .unwrap_or("")
            .split(',')
            .map(str::to_owned)
            .collect();
        if !methods.iter().any(|m| m == method) {
            return false;
        }
        let paths: Vec<String> = header("URL-Paths")
            .unwrap_or("")
            .split(',')
            .map(str::to_owned)
            .collect();
        let matches = |p: &String| regex::Regex::new(p).is_ok_and(|re| re.is_match(path));
        if !paths.iter().any(matches) {
            return false;
        }
        // Zaqar formats a missing project as Python's None.
        let project = header("X-Project-ID").unwrap_or("None");
        let expires = header("URL-Expires").map(|e| Expires::Text(e.to_owned()));
        match self.sign(paths, project, Some(methods), expires.as_ref()) {
            Ok(signed) => constant_time_eq(signed.signature.as_bytes(), signature.as_bytes()),
            Err(_) => false,
        }
    }
}

fn signature(
    key: &[u8],
    paths: &[String],
    methods: &[String],
    project: &str,
    expires: &str,
) -> String {
    let body = format!(
        "{}\\n{}\\n{}\\n{}",
        paths.join(","),
        methods.join(","),
        project,
        expires
    );
    let mut mac =
        <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Zaqar's `timeutils.parse_isotime` then `normalize_time`: an ISO 8601 date, optionally
/// with a time (minutes, seconds and a fraction optional) and an offset (`Z`, `±HH`,
/// `±HHMM`, `±HH:MM`; none is UTC), as UTC.
fn parse_isotime(text: &str) -> Result<OffsetDateTime, String> {
    let fail = || format!("Unable to parse date string '{text}'");
    let re = regex::Regex::new(
        r"^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2})(?::(\d{2})(?::(\d{2})(?:[.,](\d+))?)?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$",
    )
    .expect("a valid pattern");
    let c = re.captures(text.trim()).ok_or_else(fail)?;
    let num = |i: usize| -> Result<u32, String> {
        c.get(i)
            .map_or(Ok(0), |m| m.as_str().parse::<u32>().map_err(|_| fail()))
    };
    let year = i32::try_from(num(1)?).map_err(|_| fail())?;
    let month = Month::try_from(u8::try_from(num(2)?).map_err(|_| fail())?).map_err(|_| fail())?;
    let date = Date::from_calendar_date(year, month, u8::try_from(num(3)?).map_err(|_| fail())?)
        .map_err(|_| fail())?;
    let nanos = c.get(7).map_or(Ok(0), |m| {
        let digits: String = m
            .as_str()
            .chars()
            .chain(std::iter::repeat('0'))
            .take(9)
            .collect();
        digits.parse::<u32>().map_err(|_| fail())
    })?;
    let small = |v: u32| u8::try_from(v).map_err(|_| fail());
    let time = Time::from_hms_nano(small(num(4)?)?, small(num(5)?)?, small(num(6)?)?, nanos)
        .map_err(|_| fail())?;
    let offset = match c.get(8).map(|m| m.as_str()) {
        None | Some("Z") => UtcOffset::UTC,
        Some(o) => {
            let sign: i8 = if o.starts_with('-') { -1 } else { 1 };
            let digits: String = o[1..].chars().filter(char::is_ascii_digit).collect();
            let hours: i8 = digits[..2].parse().map_err(|_| fail())?;
            let minutes: i8 = digits
                .get(2..4)
                .unwrap_or("0")
                .parse()
                .map_err(|_| fail())?;
            UtcOffset::from_hms(sign * hours, sign * minutes, 0).map_err(|_| fail())?
        }
    };
    Ok(PrimitiveDateTime::new(date, time)
        .assume_offset(offset)
        .to_offset(UtcOffset::UTC))
}

/// Refuses, with Zaqar's bare 404, a signed request its signature does not admit.
pub fn check_signature<S, B>(req: ServiceRequest, srv: &S) -> Answer<B>
where
    S: Service<ServiceRequest, Response = ServiceResponse<B>, Error = actix_web::Error>,
    S::Future: 'static,
    B: 'static,
{
    let admitted = req.app_data::<web::Data<AppState>>().is_none_or(|state| {
        state
            .signer
            .admits(req.method().as_str(), req.path(), req.headers())
    });
    refuse_or_pass(req, srv, (!admitted).then(ApiError::signature_refused))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(key: &str) -> Signer {
        Signer::new(key, Clock::system())
    }

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    /// Recorded from Zaqar 23.0.1's own `zaqar.common.urls.create_signed_url`.
    #[test]
    fn signatures_match_zaqars_vectors() {
        let s = signer("test-key");
        let one = s
            .sign(
                strings(&["/v2/queues/shared/messages"]),
                "p1",
                None,
                Some(&Expires::Text("2099-01-01T00:00:00".into())),
            )
            .unwrap();
        assert_eq!(one.methods, ["GET"]);
        assert_eq!(one.expires, "2099-01-01T00:00:00");
        assert_eq!(
            one.signature,
            "9386af5467dae361435e559e67b6e2f82e0f71c720f103671b9d71cdc01bb146"
        );
        let two = s
            .sign(
                strings(&["/v2/queues/shared/messages", "/v2/queues/shared/claims"]),
                "demo",
                Some(strings(&["POST", "GET"])),
                Some(&Expires::Text("2099-12-31T23:59:59".into())),
            )
            .unwrap();
        assert_eq!(
            two.paths,
            ["/v2/queues/shared/claims", "/v2/queues/shared/messages"]
        );
        assert_eq!(two.methods, ["GET", "POST"]);
        assert_eq!(
            two.signature,
            "69ebff873655fb5e66defc818606fec62049c3e76eab9aac9b243e5b60c47666"
        );
        let s = signer("ключ-🔑");
        let three = s
            .sign(
                strings(&["/v2/queues/q/subscriptions"]),
                "a project",
                Some(strings(&["DELETE", "PATCH", "GET"])),
                Some(&Expires::Text("2100-06-15T12:30:45+02:00".into())),
            )
            .unwrap();
        assert_eq!(three.expires, "2100-06-15T10:30:45", "normalised to UTC");
        assert_eq!(
            three.signature,
            "f2e1cba30ec06ef9f8be10a8ce8cf2f5369cded3c6add9a3f20e96a922be73aa"
        );
        let s = signer("k");
        let four = s
            .sign(
                strings(&["/v2/queues/q/messages"]),
                "None",
                Some(strings(&["GET"])),
                Some(&Expires::Text("2099-01-01T00:00:00.999999Z".into())),
            )
            .unwrap();
        assert_eq!(
            four.expires, "2099-01-01T00:00:00",
            "the fraction is dropped"
        );
        assert_eq!(
            four.signature,
            "f194b238f0cb0f140564426c3fbf35c69e772e3e89a4e772ef1bbd098706b183"
        );
    }

    #[test]
    fn expiry_is_refused_as_zaqar_refuses_it() {
        let s = signer("k");
        let sign = |e: Expires| s.sign(strings(&["/p"]), "x", None, Some(&e)).unwrap_err();
        assert_eq!(
            sign(Expires::Text("12345".into())),
            "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 12345"
        );
        assert_eq!(
            sign(Expires::Number(5)),
            "`expires` should be date format, for example 2016-01-01T00:00:00, not integer value: 5"
        );
        assert_eq!(
            sign(Expires::Text("0".into())),
            "Unable to parse date string '0'"
        );
        assert_eq!(
            sign(Expires::Text("yesterday".into())),
            "Unable to parse date string 'yesterday'"
        );
        assert_eq!(
            sign(Expires::Text("2000-01-01T00:00:00".into())),
            "`expires` is lower than the current time"
        );
        assert!(sign(Expires::Text("2099-13-01T00:00:00".into())).starts_with("Unable"));
        let day = s.sign(
            strings(&["/p"]),
            "x",
            None,
            Some(&Expires::Text("2099-01-01".into())),
        );
        assert_eq!(day.unwrap().expires, "2099-01-01T00:00:00");
        let default = s.sign(strings(&["/p"]), "x", None, None).unwrap();
        let ahead = parse_isotime(&default.expires).unwrap() - s.now();
        assert!(
            (DEFAULT_LIFETIME - time::Duration::seconds(2)..=DEFAULT_LIFETIME).contains(&ahead),
            "one day from now: {ahead}"
        );
        let unkeyed = signer("");
        assert_eq!(
            unkeyed.sign(strings(&["/p"]), "x", None, None).unwrap_err(),
            "The `key` can't be None"
        );
        let secret = signer("s3cret-signing-key");
        assert!(!format!("{secret:?}").contains("s3cret"));
    }
}
