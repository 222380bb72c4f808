//! A bounded fuzzer over every route: 5,000 requests from a fixed seed (`ZAQAR_FUZZ_SEED`
//! and `ZAQAR_FUZZ_REQUESTS` change them) with hostile paths, query strings, headers and
//! bodies, against a real server on the store the suite runs on. Every answer must be one a
//! client can use: no 5xx other than 503, and every error a JSON `{"title", "description"}`
//! body. A panicking handler would answer 500 and fail it; a dead worker, a transport error.

mod common;

use reqwest::Method;

use common::TestServer;

/// A fixed seed gives the same requests on every run.
struct Rng(zaqar_actors::pooling::SplitMix64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.draw()
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Path segments: plausible, hostile, percent-encoded bytes no backend can store.
const SEGMENTS: &[&str] = &[
    "q",
    "demo",
    "a-b_c",
    "x.y",
    "%00",
    "a%00b",
    "%FF%FE",
    "%2F",
    "..",
    "%2e%2e",
    "%20",
    "\u{e9}t\u{e9}",
    "%F0%9F%92%A9",
    "0",
    "-1",
    "99999999999999999999",
    "null",
    "*",
    "%25",
    "3381af92-2b9e-11e3-b191-71861300734c",
    "' OR 1=1 --",
    "<script>",
    "$ne",
    "{}",
    "[]",
];

const PARAMS: &[&str] = &[
    "limit",
    "marker",
    "echo",
    "include_claimed",
    "include_delayed",
    "ids",
    "claim_id",
    "pop",
    "detailed",
    "with_count",
    "grace",
    "ttl",
    "name",
];

const VALUES: &[&str] = &[
    "1",
    "0",
    "-1",
    "20",
    "21",
    "true",
    "false",
    "maybe",
    "None",
    "",
    "%00",
    "a%00b",
    "1e3",
    "99999999999999999999999",
    "3381af92-2b9e-11e3-b191-71861300734c",
    "a,b,,c",
    "%FF",
    "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21",
];

/// A path, and the methods its route serves (most requests use one of them, so that they
/// reach the handlers rather than the 405).
fn path(rng: &mut Rng) -> (String, &'static [&'static str]) {
    let s = |rng: &mut Rng| rng.pick(SEGMENTS).to_string();
    let long = |rng: &mut Rng| "a".repeat(1 + rng.below(300));
    const ITEM: &[&str] = &["GET", "PATCH", "DELETE"];
    match rng.below(16) {
        0 => ("/".into(), &["GET"]),
        1 => ("/v2/".into(), &["GET"]),
        2 => ("/v2/ping".into(), &["GET", "HEAD"]),
        3 => ("/v2/health".into(), &["GET"]),
        4 => ("/v2/queues".into(), &["GET"]),
        5 => (
            format!("/v2/queues/{}", s(rng)),
            &["GET", "PUT", "PATCH", "DELETE"],
        ),
        6 => (
            format!("/v2/queues/{}", long(rng)),
            &["GET", "PUT", "PATCH", "DELETE"],
        ),
        7 => (format!("/v2/queues/{}/stats", s(rng)), &["GET"]),
        8 => (format!("/v2/queues/{}/purge", s(rng)), &["POST"]),
        9 => (
            format!("/v2/queues/{}/messages", s(rng)),
            &["GET", "POST", "DELETE"],
        ),
        10 => (
            format!("/v2/queues/{}/messages/{}", s(rng), s(rng)),
            &["GET", "DELETE"],
        ),
        11 => (format!("/v2/queues/{}/claims", s(rng)), &["POST"]),
        12 => (format!("/v2/queues/{}/claims/{}", s(rng), s(rng)), ITEM),
        13 => (
            format!("/v2/queues/{}/subscriptions", s(rng)),
            &["GET", "POST"],
        ),
        14 => (
            format!("/v2/queues/{}/subscriptions/{}", s(rng), s(rng)),
            ITEM,
        ),
        _ => (
            format!("/v2/{}/{}", rng.pick(&["pools", "flavors", "nope"]), s(rng)),
            &["GET", "PUT", "PATCH", "DELETE"],
        ),
    }
}

fn query(rng: &mut Rng) -> String {
    let n = rng.below(4);
    (0..n)
        .map(|_| format!("{}={}", rng.pick(PARAMS), rng.pick(VALUES)))
        .collect::<Vec<_>>()
        .join("&")
}

/// JSON nested `depth` levels deep.
fn nested(depth: usize) -> String {
    format!("{}1{}", "[".repeat(depth), "]".repeat(depth))
}

fn body(rng: &mut Rng) -> Vec<u8> {
    let message = |rng: &mut Rng| -> String {
        let body = match rng.below(8) {
            0 => nested(1 + rng.below(200)),
            1 => r#""\u0000""#.into(),
            2 => "1e400".into(),
            3 => format!("\"{}\"", "x".repeat(rng.below(300_000))),
            4 => r#"{"$where": "1"}"#.into(),
            5 => "null".into(),
            _ => r#"{"event": "ok"}"#.into(),
        };
        let ttl = *rng.pick(&[
            "",
            ", \"ttl\": 60",
            ", \"ttl\": -1",
            ", \"ttl\": \"x\"",
            ", \"ttl\": 1e30",
        ]);
        let delay = *rng.pick(&[
            "",
            ", \"delay\": 0",
            ", \"delay\": 901",
            ", \"delay\": null",
        ]);
        format!(r#"{{"body": {body}{ttl}{delay}}}"#)
    };
    let text = match rng.below(14) {
        0 => String::new(),
        1 => "{".into(),
        2 => "[]".into(),
        3 => "null".into(),
        4 => nested(1 + rng.below(1000)),
        5 => {
            let n = 1 + rng.below(30);
            let ms: Vec<String> = (0..n).map(|_| message(rng)).collect();
            format!(r#"{{"messages": [{}]}}"#, ms.join(","))
        }
        6 => format!(r#"{{"messages": [{}]}}"#, message(rng)),
        7 => r#"{"ttl": 60, "grace": 60}"#.into(),
        8 => r#"{"ttl": "x", "grace": -5}"#.into(),
        9 => r#"[{"op": "add", "path": "/x", "value": 1}, {"op": "remove", "path": "/_max_messages_post_size"}]"#.into(),
        10 => r#"{"subscriber": "http://127.0.0.1:9/\u0000", "ttl": 3600, "options": {"a": [1]}}"#.into(),
        11 => r#"{"resource_types": ["messages", 3]}"#.into(),
        12 => r#"{"_default_message_ttl": 1e99, "_max_messages_post_size": -1, "x": {"y": null}}"#.into(),
        _ => {
            let n = rng.below(64);
            return (0..n).map(|_| rng.next() as u8).collect();
        }
    };
    text.into_bytes()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_requests_get_usable_answers() {
    let seed = std::env::var("ZAQAR_FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20_261_201);
    let requests = std::env::var("ZAQAR_FUZZ_REQUESTS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(5000);
    // ZAQAR_FUZZ_URL points the same requests at a server already running (another build,
    // or Zaqar itself) instead of one of our own.
    let own = std::env::var("ZAQAR_FUZZ_URL")
        .is_err()
        .then(|| TestServer::start_with(|c| c.server.admin_mode = true));
    let mut api = match &own {
        Some(s) => s.api(),
        None => TestServer::client_of(&std::env::var("ZAQAR_FUZZ_URL").unwrap()),
    };
    let base = api.base.clone();
    api.project = format!("fuzz-{}", uuid::Uuid::new_v4().simple());
    let mut rng = Rng(zaqar_actors::pooling::SplitMix64(seed));
    let methods = [
        Method::GET,
        Method::PUT,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::HEAD,
        Method::OPTIONS,
    ];
    let mut statuses = std::collections::BTreeMap::<u16, usize>::new();
    for i in 0..requests {
        let (path, allowed) = path(&mut rng);
        let method = if rng.below(10) < 8 {
            Method::from_bytes(rng.pick(allowed).as_bytes()).unwrap()
        } else {
            rng.pick(&methods).clone()
        };
        let q = query(&mut rng);
        let url = if q.is_empty() {
            path
        } else {
            format!("{path}?{q}")
        };
        let mut rb = api.http.request(method.clone(), format!("{base}{url}"));
        if rng.below(10) > 0 {
            rb = rb.header("Client-ID", api.client_id.as_str());
        } else if rng.below(2) == 0 {
            rb = rb.header("Client-ID", *rng.pick(&["not-a-uuid", "", "3381af92"]));
        }
        if rng.below(10) > 0 {
            let project = *rng.pick(&["fuzz", "6:fuzz:ids", "p/q", "\u{e9}", "a b", "x"]);
            rb = rb.header("X-Project-ID", format!("{}{project}", api.project));
        }
        match rng.below(6) {
            0 => {}
            1 => rb = rb.header("Content-Type", "text/plain"),
            2 => {
                rb = rb.header(
                    "Accept",
                    *rng.pick(&["text/html", "*/*", "application/xml"]),
                )
            }
            3 => rb = rb.header("X-Roles", "admin"),
            _ => rb = rb.header("Content-Type", "application/json"),
        }
        let mut sent = 0;
        if method != Method::GET && method != Method::HEAD {
            let bytes = body(&mut rng);
            sent = bytes.len();
            rb = rb.body(bytes);
        }
        let r = match api.try_send(rb).await {
            Ok(r) => r,
            // The server may answer a request it refuses (a 400 for its path, a 413 for its
            // declared size) before reading a large body, and close the connection: the
            // client then fails to write the rest. Only then is a transport error allowed.
            Err(e) if sent > 64 * 1024 && format!("{e:?}").contains("BodyWrite") => {
                *statuses.entry(0).or_default() += 1;
                continue;
            }
            Err(e) => panic!("request {i}: {method} {url}: {e:?}"),
        };
        *statuses.entry(r.status.as_u16()).or_default() += 1;
        let what = format!(
            "request {i}: {method} {url} -> {} {}",
            r.status,
            &r.text[..r.text.len().min(300)]
        );
        assert!(
            !r.status.is_server_error() || r.status == 503,
            "a 5xx other than 503: {what}"
        );
        assert_ne!(
            r.status, 503,
            "the store is up: nothing should answer 503: {what}"
        );
        if r.status.is_client_error() && method != Method::HEAD {
            assert!(
                r.json["title"].is_string() && r.json["description"].is_string(),
                "an error without a Zaqar body: {what}"
            );
            assert_eq!(r.header("content-type"), Some("application/json"), "{what}");
        }
    }
    eprintln!("{requests} requests (seed {seed}): statuses {statuses:?} (0: closed early)");
    // The server still serves.
    assert_eq!(api.get("/v2/ping").await.status, 204);
}
