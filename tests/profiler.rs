//! Profiling end to end inside the process: requests signed as osprofiler signs them, spans
//! exported through the real OpenTelemetry pipeline into an in-memory exporter, and the
//! exported trees checked span by span.
//!
//! Its own test binary, because it installs a global subscriber; tests run one at a time
//! (they count exported spans) behind `SERIAL`.
#![cfg(feature = "profiler")]

mod common;

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use opentelemetry::trace::{SpanId, SpanKind, Status};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SimpleSpanProcessor, SpanData};
use serde_json::json;
use tracing_subscriber::layer::SubscriberExt;
use zaqar::conf::HmacKeys;
use zaqar::profiler::{hmac, otlp};

use common::{Api, Resp, TestServer};

const KEY: &str = "SECRET_KEY";

static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// The exporter every span of this test binary lands in.
fn exporter() -> &'static InMemorySpanExporter {
    static EXPORTER: OnceLock<InMemorySpanExporter> = OnceLock::new();
    EXPORTER.get_or_init(|| {
        let exporter = InMemorySpanExporter::default();
        let sink = otlp::ProcessorSink::new(SimpleSpanProcessor::new(exporter.clone()));
        let subscriber = tracing_subscriber::registry()
            .with(otlp::layer(sink))
            .with(common::log_layer());
        tracing::subscriber::set_global_default(subscriber).expect("global subscriber");
        exporter
    })
}

fn server(configure: impl FnOnce(&mut zaqar::Config)) -> TestServer {
    exporter();
    TestServer::start_with(|c| {
        c.profiler.enabled = true;
        c.profiler.hmac_keys = HmacKeys::parse("other-key, SECRET_KEY");
        configure(c);
    })
}

/// Request headers signed as osprofiler 4.x signs them.
fn signed(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    base: &str,
    parent: &str,
) -> reqwest::RequestBuilder {
    let (info, tag) = hmac::sign(base, parent, KEY);
    api.request(method, path)
        .header("X-Trace-Info", info)
        .header("X-Trace-HMAC", tag)
}

/// A signed request with a JSON body.
fn signed_json(
    api: &Api,
    method: reqwest::Method,
    path: &str,
    base: &str,
    parent: &str,
    body: impl std::fmt::Display,
) -> reqwest::RequestBuilder {
    signed(api, method, path, base, parent)
        .header("Content-Type", "application/json")
        .body(body.to_string())
}

/// Posts one message to `path`, signed with `base` as a trace of its own; asserts the 201.
async fn signed_post(api: &Api, path: &str, base: &str) -> Resp {
    let body = json!({"messages": [{"body": 1}]});
    let r = api
        .send(signed_json(
            api,
            reqwest::Method::POST,
            path,
            base,
            base,
            body,
        ))
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    r
}

fn hex(uuid: &str) -> String {
    uuid.replace('-', "")
}

/// The spans exported for a trace, once `done` holds for them (a bounded wait on an
/// observable condition: the HTTP span ends just after the response is written).
fn spans_of(trace: &str, done: impl Fn(&[SpanData]) -> bool) -> Vec<SpanData> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let spans: Vec<SpanData> = exporter()
            .get_finished_spans()
            .unwrap()
            .into_iter()
            .filter(|s| s.span_context.trace_id().to_string() == trace)
            .collect();
        if done(&spans) || Instant::now() > deadline {
            return spans;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn has_http(spans: &[SpanData]) -> bool {
    spans.iter().any(|s| s.span_kind == SpanKind::Server)
}

fn named<'a>(spans: &'a [SpanData], name: &str) -> Vec<&'a SpanData> {
    spans.iter().filter(|s| s.name == name).collect()
}

fn one<'a>(spans: &'a [SpanData], name: &str) -> &'a SpanData {
    let found = named(spans, name);
    assert_eq!(found.len(), 1, "exactly one {name}: {:?}", names(spans));
    found[0]
}

fn names(spans: &[SpanData]) -> Vec<String> {
    spans.iter().map(|s| s.name.to_string()).collect()
}

fn attr(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// Every exported hop span about `queue`.
fn about_queue(queue: &str) -> Vec<SpanData> {
    exporter()
        .get_finished_spans()
        .unwrap()
        .into_iter()
        .filter(|s| attr(s, "messaging.destination.name").as_deref() == Some(queue))
        .collect()
}

fn children<'a>(spans: &'a [SpanData], parent: &SpanData) -> Vec<&'a SpanData> {
    let id = parent.span_context.span_id();
    spans.iter().filter(|s| s.parent_span_id == id).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn span_tree_of_post_list_claim_and_delete() {
    let _serial = SERIAL.lock().await;
    let s = server(|_| {});
    let api = s.api();
    let base = "5f8e0c2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let caller = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";

    // Post, under a caller's trace point: the HTTP span hangs under it.
    let r = api
        .send(signed_json(
            &api,
            reqwest::Method::POST,
            "/v2/queues/traced/messages",
            base,
            caller,
            json!({"messages": [{"body": "secret-body"}, {"body": 2}]}),
        ))
        .await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("x-trace-id"), Some(hex(base).as_str()));
    let spans = spans_of(&hex(base), has_http);
    let http = one(&spans, "POST /v2/queues/{queue}/messages");
    assert_eq!(http.span_kind, SpanKind::Server);
    assert_eq!(
        http.parent_span_id.to_string(),
        "9c2d1e0f9a8b7c6d",
        "low 64 bits of parent_id"
    );
    assert_eq!(
        attr(http, "http.response.status_code").as_deref(),
        Some("201")
    );
    assert_eq!(
        attr(http, "http.route").as_deref(),
        Some("/v2/queues/{queue}/messages")
    );
    let router = one(&spans, "PoolRouter PostMessages");
    assert_eq!(router.parent_span_id, http.span_context.span_id());
    assert_eq!(
        attr(router, "messaging.destination.name").as_deref(),
        Some("traced")
    );
    assert_eq!(attr(router, "zaqar.project"), Some(api.project.clone()));
    assert_eq!(attr(router, "messaging.operation").as_deref(), Some("send"));
    assert_eq!(
        attr(router, "messaging.batch.message_count").as_deref(),
        Some("2")
    );
    assert!(attr(router, "mailbox_wait_us")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    let storage = one(&spans, "SqlStore PostMessages");
    assert_eq!(storage.parent_span_id, router.span_context.span_id());
    let statements = children(&spans, storage);
    // A first post reads the queue's settings, creates the lazy queue, inserts the batch.
    let texts: Vec<String> = statements
        .iter()
        .map(|s| attr(s, "db.statement").unwrap())
        .collect();
    assert_eq!(
        names(&statements.iter().map(|s| (*s).clone()).collect::<Vec<_>>()),
        ["SQL SELECT", "SQL INSERT", "SQL INSERT"]
    );
    assert!(
        texts[0].starts_with("SELECT metadata FROM queues"),
        "{texts:?}"
    );
    assert!(texts[1].starts_with("INSERT INTO queues"), "{texts:?}");
    assert!(texts[2].starts_with("INSERT INTO messages"), "{texts:?}");
    assert!(
        texts[2].contains("VALUES ($1, $2"),
        "placeholders, never values: {texts:?}"
    );
    let insert = statements[2];
    assert_eq!(insert.span_kind, SpanKind::Client);
    assert_eq!(attr(insert, "db.system").as_deref(), Some("sqlite"));
    // SQLite's writes are committed in batches (the write lane): the statement's span says
    // how many requests its batch served (this one alone here) and how long it waited.
    assert_eq!(attr(insert, "zaqar.batch.size").as_deref(), Some("1"));
    assert!(attr(insert, "zaqar.batch.wait_us")
        .unwrap()
        .parse::<u64>()
        .is_ok());
    assert_eq!(
        attr(statements[0], "zaqar.batch.size"),
        None,
        "a read is no batch"
    );
    // Each write's batch has a span of its own, the transaction, under the first traced
    // request it served (this one); the statement links to it, the link saying the batch's
    // size and the wait. A read has none.
    assert!(children(&spans, statements[0]).is_empty());
    assert!(statements[0].links.is_empty());
    for write in &statements[1..] {
        let batch = children(&spans, write);
        assert_eq!(batch.len(), 1, "{:?}", names(&spans));
        let batch = batch[0];
        assert_eq!(batch.name, "SQL BATCH");
        assert_eq!(attr(batch, "db.system").as_deref(), Some("sqlite"));
        assert_eq!(attr(batch, "zaqar.batch.size").as_deref(), Some("1"));
        assert_eq!(attr(batch, "zaqar.batch.traced").as_deref(), Some("1"));
        assert!(batch.links.is_empty(), "no other traced request in it");
        assert_eq!(write.links.len(), 1, "{}", write.name);
        let link = &write.links.links[0];
        assert_eq!(link.span_context, batch.span_context);
        let link_attr = |key: &str| {
            link.attributes
                .iter()
                .find(|kv| kv.key.as_str() == key)
                .map(|kv| kv.value.to_string())
        };
        assert_eq!(link_attr("zaqar.batch.size").as_deref(), Some("1"));
        assert_eq!(
            link_attr("zaqar.batch.wait_us"),
            attr(write, "zaqar.batch.wait_us")
        );
    }
    assert_eq!(spans.len(), 3 + statements.len() + 2, "{:?}", names(&spans));
    for span in &spans {
        // Only what the server records: not the source location, thread, target or
        // busy/idle times tracing-opentelemetry adds by default (each encoded in every
        // export of every span).
        for key in [
            "code.file.path",
            "thread.id",
            "target",
            "busy_ns",
            "idle_ns",
        ] {
            assert_eq!(attr(span, key), None, "{} has {key}", span.name);
        }
        for kv in &span.attributes {
            let v = kv.value.to_string();
            assert!(
                !v.contains("secret-body") && !v.contains(KEY),
                "{}: {v}",
                span.name
            );
        }
    }

    // List, claim and delete, each a fresh client request (parent = base): root HTTP spans.
    let list_base = "11111111-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed(
            &api,
            reqwest::Method::GET,
            "/v2/queues/traced/messages?echo=true",
            list_base,
            list_base,
        ))
        .await;
    assert_eq!(r.status, 200);
    let spans = spans_of(&hex(list_base), has_http);
    let http = one(&spans, "GET /v2/queues/{queue}/messages");
    assert_eq!(http.parent_span_id, SpanId::INVALID, "no invented parent");
    assert_eq!(
        one(&spans, "PoolRouter ListMessages").parent_span_id,
        http.span_context.span_id()
    );
    let store = one(&spans, "SqlStore ListMessages");
    assert_eq!(
        attr(store, "messaging.batch.message_count").as_deref(),
        Some("2")
    );
    assert_eq!(
        names(
            &children(&spans.clone(), store)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        ),
        ["SQL SELECT"]
    );

    let claim_base = "22222222-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed_json(
            &api,
            reqwest::Method::POST,
            "/v2/queues/traced/claims",
            claim_base,
            claim_base,
            "{}",
        ))
        .await;
    assert_eq!(r.status, 201);
    let href = r.json["messages"][0]["href"].as_str().unwrap().to_owned();
    let claim_id = href.split("claim_id=").nth(1).unwrap().to_owned();
    let spans = spans_of(&hex(claim_base), has_http);
    let store = one(&spans, "SqlStore CreateClaim");
    assert_eq!(
        attr(store, "messaging.operation").as_deref(),
        Some("receive")
    );
    assert_eq!(
        names(
            &children(&spans, store)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        ),
        ["SQL UPDATE"]
    );

    let delete_base = "33333333-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed(
            &api,
            reqwest::Method::DELETE,
            &href,
            delete_base,
            delete_base,
        ))
        .await;
    assert_eq!(r.status, 204);
    let spans = spans_of(&hex(delete_base), has_http);
    one(&spans, "DELETE /v2/queues/{queue}/messages/{id}");
    one(&spans, "PoolRouter DeleteMessage");
    let store = one(&spans, "SqlStore DeleteMessage");
    assert_eq!(
        names(
            &children(&spans, store)
                .into_iter()
                .cloned()
                .collect::<Vec<_>>()
        ),
        ["SQL DELETE"]
    );
    // The claim id is in the request's query, never in an exported span.
    for span in &spans {
        for kv in &span.attributes {
            assert!(!kv.value.to_string().contains(&claim_id), "{}", span.name);
        }
    }
}

/// A traced post committed together with untraced ones (the lane waits 100 ms for a batch
/// to fill, so posts sent at once share one): it keeps its statement span and the batch's
/// span, which says how many requests it served; the untraced ones export nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_traced_write_in_a_batch_of_untraced_ones_keeps_its_spans() {
    let _serial = SERIAL.lock().await;
    let s = server(|c| c.storage.write_batch_wait_us = 100_000);
    let api = s.api();
    assert_eq!(api.put("/v2/queues/mixed", None).await.status, 201);
    let before = exporter().get_finished_spans().unwrap().len();
    let base = "12121212-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let post = json!({"messages": [{"body": "b"}]});
    let untraced = (0..6).map(|_| api.post("/v2/queues/mixed/messages", post.clone()));
    let traced = api.send(signed_json(
        &api,
        reqwest::Method::POST,
        "/v2/queues/mixed/messages",
        base,
        base,
        &post,
    ));
    // The untraced ones first: the batch's first job is not the traced one.
    let (untraced, traced) =
        futures_util::future::join(futures_util::future::join_all(untraced), traced).await;
    assert_eq!(traced.status, 201);
    assert!(untraced.iter().all(|r| r.status == 201));

    let spans = spans_of(&hex(base), has_http);
    let insert = one(&spans, "SQL INSERT");
    let batch = one(&spans, "SQL BATCH");
    assert_eq!(batch.parent_span_id, insert.span_context.span_id());
    assert_eq!(insert.links.len(), 1);
    assert_eq!(insert.links.links[0].span_context, batch.span_context);
    let size: u64 = attr(batch, "zaqar.batch.size").unwrap().parse().unwrap();
    assert!(size > 1, "the batch served the untraced posts too: {size}");
    assert_eq!(attr(insert, "zaqar.batch.size"), Some(size.to_string()));
    assert_eq!(attr(batch, "zaqar.batch.traced").as_deref(), Some("1"));
    let exported = exporter().get_finished_spans().unwrap().len() - before;
    assert_eq!(
        exported,
        spans.len(),
        "only the traced request exported spans"
    );
}

/// PostgreSQL's posts and deletes by id go in with other requests' (storage/sql/gather.rs):
/// a traced request's statement has its `SQL BATCH` child (the multi-row statement it was
/// part of), linked, with the batch's size and this request's wait. Needs
/// `ZAQAR_TEST_PG_URI` (tests/run.sh sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_gathered_writes_have_batch_spans() {
    let Ok(uri) = std::env::var("ZAQAR_TEST_PG_URI") else {
        eprintln!("not run: set ZAQAR_TEST_PG_URI=postgres://... (tests/run.sh does)");
        return;
    };
    let _serial = SERIAL.lock().await;
    let s = server(move |c| c.storage.message_store = uri);
    let api = s.api();
    let post = "edededed-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = signed_post(&api, "/v2/queues/pg-batch/messages", post).await;
    let href = r.json["resources"][0].as_str().unwrap().to_owned();
    let delete = "fefefefe-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed(&api, reqwest::Method::DELETE, &href, delete, delete))
        .await;
    assert_eq!(r.status, 204);
    for (base, name, statement) in [
        (post, "SQL INSERT", "INSERT INTO messages"),
        (delete, "SQL DELETE", "DELETE FROM messages WHERE id"),
    ] {
        assert_gathered(base, name, statement, "postgresql", "SQL BATCH");
    }
}

/// The Redis store's posts go in with other requests' (storage/redis/gathered.rs): the traced
/// post's script span has its `REDIS BATCH` child, linked, with the batch's size and wait.
/// Needs `ZAQAR_TEST_REDIS_URI` (tests/run.sh sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_gathered_posts_have_batch_spans() {
    let Ok(uri) = std::env::var("ZAQAR_TEST_REDIS_URI") else {
        eprintln!("not run: set ZAQAR_TEST_REDIS_URI=redis://... (tests/run.sh does)");
        return;
    };
    let _serial = SERIAL.lock().await;
    let s = server(move |c| c.storage.message_store = uri);
    let post = "eaeaeaea-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = signed_post(&s.api(), "/v2/queues/redis-batch/messages", post).await;
    assert_eq!(r.status, 201);
    assert_gathered(post, "REDIS post", "post", "redis", "REDIS BATCH");
}

/// The trace `base` has a span `name` (its statement starting with `statement`) whose one
/// child is the batch it went in, `batch_name`, linked from it with the batch's size.
fn assert_gathered(base: &str, name: &str, statement: &str, system: &str, batch_name: &str) {
    let spans = spans_of(&hex(base), has_http);
    let own = spans
        .iter()
        .find(|s| {
            s.name == name && attr(s, "db.statement").is_some_and(|t| t.starts_with(statement))
        })
        .unwrap_or_else(|| panic!("no {statement}: {:?}", names(&spans)));
    assert_eq!(attr(own, "db.system").as_deref(), Some(system));
    let batch = one(&spans, batch_name);
    assert_eq!(batch.parent_span_id, own.span_context.span_id());
    assert_eq!(attr(batch, "db.system").as_deref(), Some(system));
    assert_eq!(attr(batch, "zaqar.batch.traced").as_deref(), Some("1"));
    assert_eq!(own.links.len(), 1);
    assert_eq!(own.links.links[0].span_context, batch.span_context);
    assert_eq!(
        attr(own, "zaqar.batch.size"),
        attr(batch, "zaqar.batch.size")
    );
    assert!(attr(own, "zaqar.batch.wait_us").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_mark_the_hops() {
    let _serial = SERIAL.lock().await;
    let s = server(|_| {});
    let api = s.api();
    let base = "44444444-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed(
            &api,
            reqwest::Method::GET,
            "/v2/queues/q/claims/nope",
            base,
            base,
        ))
        .await;
    assert_eq!(r.status, 404);
    let spans = spans_of(&hex(base), has_http);
    for name in ["PoolRouter GetClaim", "SqlStore GetClaim"] {
        let hop = one(&spans, name);
        assert_eq!(attr(hop, "outcome").as_deref(), Some("error"));
        assert_eq!(
            attr(hop, "error.kind").as_deref(),
            Some("claim_does_not_exist")
        );
        assert!(
            matches!(hop.status, Status::Error { .. }),
            "{name}: {:?}",
            hop.status
        );
    }
    // A 404 is the client's error, not the server's.
    let http = one(&spans, "GET /v2/queues/{queue}/claims/{id}");
    assert!(!matches!(http.status, Status::Error { .. }));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn switched_off_layers_vanish_and_the_rest_stays_connected() {
    let _serial = SERIAL.lock().await;
    let caller = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
    type Switch = fn(&mut zaqar::Config);
    let cases: [(&str, Switch); 3] = [
        ("55555555-1b3d-4e5f-8a9b-0c1d2e3f4a5b", |c| {
            c.profiler.trace_http = false
        }),
        ("66666666-1b3d-4e5f-8a9b-0c1d2e3f4a5b", |c| {
            c.profiler.trace_pooling = false
        }),
        ("77777777-1b3d-4e5f-8a9b-0c1d2e3f4a5b", |c| {
            c.profiler.trace_sql = false
        }),
    ];
    for (i, (base, switch)) in cases.into_iter().enumerate() {
        let s = server(switch);
        let api = s.api();
        let r = api
            .send(signed(
                &api,
                reqwest::Method::GET,
                "/v2/queues/q/stats",
                base,
                caller,
            ))
            .await;
        assert_eq!(r.status, 200);
        let store_done =
            |spans: &[SpanData]| spans.iter().any(|s| s.name == "SqlStore GetQueueStats");
        let spans = match i {
            0 => spans_of(&hex(base), |s| {
                store_done(s) && s.iter().any(|s| s.name == "PoolRouter GetQueueStats")
            }),
            _ => spans_of(&hex(base), |s| has_http(s) && store_done(s)),
        };
        let store = one(&spans, "SqlStore GetQueueStats");
        match i {
            0 => {
                // No HTTP span: the router hangs directly under the caller's point.
                assert!(!has_http(&spans), "{:?}", names(&spans));
                let router = one(&spans, "PoolRouter GetQueueStats");
                assert_eq!(router.parent_span_id.to_string(), "9c2d1e0f9a8b7c6d");
                assert_eq!(store.parent_span_id, router.span_context.span_id());
            }
            1 => {
                // No router span: the store hangs under the HTTP span.
                assert!(named(&spans, "PoolRouter GetQueueStats").is_empty());
                let http = one(&spans, "GET /v2/queues/{queue}/stats");
                assert_eq!(store.parent_span_id, http.span_context.span_id());
            }
            _ => {
                assert!(
                    spans.iter().all(|s| !s.name.starts_with("SQL ")),
                    "{:?}",
                    names(&spans)
                );
                let router = one(&spans, "PoolRouter GetQueueStats");
                assert_eq!(store.parent_span_id, router.span_context.span_id());
            }
        }
        assert!(spans
            .iter()
            .all(|s| s.span_context.trace_id().to_string() == hex(base)));
        if i == 2 {
            // A write, with the SQL spans off: no statement span and no batch span (which
            // would otherwise hang under the hop).
            let write = "78787878-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
            signed_post(&api, "/v2/queues/q/messages", write).await;
            let spans = spans_of(&hex(write), has_http);
            one(&spans, "SqlStore PostMessages");
            assert!(
                spans.iter().all(|s| !s.name.starts_with("SQL ")),
                "{:?}",
                names(&spans)
            );
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_signatures_are_served_untraced() {
    let _serial = SERIAL.lock().await;
    let s = server(|_| {});
    let api = s.api();
    // A queue of its own: a trace started for any of these requests would name it.
    let queue = format!("untraced-{}", uuid::Uuid::new_v4().simple());
    let path = format!("/v2/queues/{queue}/stats");
    let base = "88888888-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let (info, tag) = hmac::sign(base, base, KEY);
    let (_, wrong_key_tag) = hmac::sign(base, base, "NOT_THE_KEY");
    let mut tampered = info.clone().into_bytes();
    tampered[5] ^= 1;
    let tampered = String::from_utf8(tampered).unwrap();
    let cases: Vec<Vec<(&str, String)>> = vec![
        vec![],
        vec![("X-Trace-Info", info.clone())],
        vec![
            ("X-Trace-Info", info.clone()),
            ("X-Trace-HMAC", wrong_key_tag),
        ],
        vec![("X-Trace-Info", tampered), ("X-Trace-HMAC", tag.clone())],
        vec![
            ("X-Trace-Info", info.clone()),
            ("X-Trace-HMAC", tag.to_uppercase()),
        ],
        vec![
            ("X-Trace-Info", "%%%not base64".into()),
            ("X-Trace-HMAC", "00".repeat(20)),
        ],
        vec![
            ("X-Trace-Info", info.clone()),
            ("X-Trace-HMAC", "zz".into()),
        ],
    ];
    for headers in cases {
        let mut rb = api.request(reqwest::Method::GET, &path);
        for (k, v) in &headers {
            rb = rb.header(*k, v.as_str());
        }
        let r = api.send(rb).await;
        assert_eq!(r.status, 200, "{headers:?}");
        assert!(r.header("x-trace-id").is_none(), "{headers:?}");
    }
    // A valid request afterwards is traced, and its hops are the only spans about this
    // queue: the invalid requests above started no trace.
    let r = api
        .send(signed(&api, reqwest::Method::GET, &path, base, base))
        .await;
    assert_eq!(r.status, 200);
    spans_of(&hex(base), |s| has_http(s) && s.len() >= 3);
    let about = about_queue(&queue);
    assert_eq!(
        about.len(),
        2,
        "router and store of the signed request only"
    );
    assert!(about
        .iter()
        .all(|s| s.span_context.trace_id().to_string() == hex(base)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiler_off_traces_nothing() {
    let _serial = SERIAL.lock().await;
    exporter();
    let s = TestServer::start_with(|c| c.profiler.hmac_keys = HmacKeys::parse(KEY));
    let api = s.api();
    let queue = format!("off-{}", uuid::Uuid::new_v4().simple());
    let base = "99999999-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let path = format!("/v2/queues/{queue}/stats");
    let r = api
        .send(signed(&api, reqwest::Method::GET, &path, base, base))
        .await;
    assert_eq!(r.status, 200);
    assert!(r.header("x-trace-id").is_none());
    assert!(about_queue(&queue).is_empty());
    assert!(spans_of(&hex(base), |_| true).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_traced_requests_keep_their_own_trees() {
    let _serial = SERIAL.lock().await;
    let s = server(|c| c.server.workers = 2);
    let api = s.api();
    let bases: Vec<String> = (0..200).map(|_| uuid::Uuid::new_v4().to_string()).collect();
    let mut tasks = Vec::new();
    for (i, base) in bases.iter().cloned().enumerate() {
        let api = api.clone();
        tasks.push(tokio::spawn(async move {
            let rb = signed_json(
                &api,
                reqwest::Method::POST,
                &format!("/v2/queues/c{}/messages", i % 7),
                &base,
                &base,
                json!({"messages": [{"body": i}]}),
            );
            api.send(rb).await.status
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), 201);
    }
    let all: Vec<SpanData> = {
        let wanted: std::collections::HashSet<String> = bases.iter().map(|b| hex(b)).collect();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let spans: Vec<SpanData> = exporter()
                .get_finished_spans()
                .unwrap()
                .into_iter()
                .filter(|s| wanted.contains(&s.span_context.trace_id().to_string()))
                .collect();
            let servers = spans
                .iter()
                .filter(|s| s.span_kind == SpanKind::Server)
                .count();
            if servers >= 200 || Instant::now() > deadline {
                break spans;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let by_id: HashMap<SpanId, &SpanData> =
        all.iter().map(|s| (s.span_context.span_id(), s)).collect();
    for base in &bases {
        let trace = hex(base);
        let spans: Vec<&SpanData> = all
            .iter()
            .filter(|s| s.span_context.trace_id().to_string() == trace)
            .collect();
        let names: Vec<&str> = spans.iter().map(|s| s.name.as_ref()).collect();
        for expected in [
            "POST /v2/queues/{queue}/messages",
            "PoolRouter PostMessages",
            "SqlStore PostMessages",
        ] {
            assert_eq!(
                names.iter().filter(|n| **n == expected).count(),
                1,
                "{trace}: {names:?}"
            );
        }
        // Every parent is a span of the same trace (or none, for the HTTP root).
        for span in &spans {
            if span.parent_span_id == SpanId::INVALID {
                assert_eq!(span.span_kind, SpanKind::Server);
                continue;
            }
            let parent = by_id
                .get(&span.parent_span_id)
                .unwrap_or_else(|| panic!("{}: parent not exported", span.name));
            assert_eq!(
                parent.span_context.trace_id(),
                span.span_context.trace_id(),
                "{}",
                span.name
            );
        }
    }
}

/// Database command spans of a backend other than SQL, under its store's hop, and their
/// layer switch: on, the store's hop has `<PREFIX>...` children; off, none and the hop stays.
async fn command_spans_and_their_switch(
    uri: String,
    store_span: &str,
    command_prefix: &str,
    first_command: &str,
    bases: [&str; 2],
    switch: fn(&mut zaqar::Config, bool),
) {
    for (base, on) in [(bases[0], true), (bases[1], false)] {
        let uri = uri.clone();
        let s = server(move |c| {
            c.storage.message_store = uri;
            switch(c, on);
        });
        let api = s.api();
        signed_post(&api, "/v2/queues/r/messages", base).await;
        let spans = spans_of(&hex(base), has_http);
        let store = one(&spans, store_span);
        let commands = children(&spans, store);
        if on {
            let first = commands
                .iter()
                .find(|s| s.name == first_command)
                .unwrap_or_else(|| panic!("no {first_command}: {:?}", names(&spans)));
            assert_eq!(first.span_kind, SpanKind::Client);
            assert!(commands.iter().all(|s| s.name.starts_with(command_prefix)));
        } else {
            assert!(commands.is_empty(), "{:?}", names(&spans));
            assert!(spans.iter().all(|s| !s.name.starts_with(command_prefix)));
        }
    }
}

/// Needs a Redis: `ZAQAR_TEST_REDIS_URI` (tests/run.sh sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_command_spans_and_their_switch() {
    let Ok(uri) = std::env::var("ZAQAR_TEST_REDIS_URI") else {
        eprintln!("not run: set ZAQAR_TEST_REDIS_URI=redis://... (tests/run.sh does)");
        return;
    };
    let _serial = SERIAL.lock().await;
    let bases = [
        "aaaaaaaa-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        "bbbbbbbb-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
    ];
    command_spans_and_their_switch(
        uri,
        "RedisStore PostMessages",
        "REDIS ",
        "REDIS post",
        bases,
        |c, on| c.profiler.trace_redis = on,
    )
    .await;
}

/// Needs a MongoDB-compatible server: `ZAQAR_TEST_MONGO_URI` (tests/run.sh sets it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mongo_command_spans_and_their_switch() {
    let Ok(uri) = std::env::var("ZAQAR_TEST_MONGO_URI") else {
        eprintln!("not run: set ZAQAR_TEST_MONGO_URI=mongodb://... (tests/run.sh does)");
        return;
    };
    let _serial = SERIAL.lock().await;
    let bases = [
        "cccccccc-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
        "dddddddd-1b3d-4e5f-8a9b-0c1d2e3f4a5b",
    ];
    command_spans_and_their_switch(
        uri,
        "MongoStore PostMessages",
        "MONGODB ",
        "MONGODB insert",
        bases,
        |c, on| c.profiler.trace_mongodb = on,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_router_span_names_pool_cache_and_placement() {
    let _serial = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let s = server(|c| {
        c.pooling.enabled = true;
        c.pooling.placement_seed = 7;
        c.server.admin_mode = true;
    });
    let api = s.api();
    let pool_uri = format!("sqlite://{}/px.db", dir.path().display());
    let r = api
        .send(
            api.request(reqwest::Method::PUT, "/v2/pools/px")
                .header("X-Roles", "admin")
                .header("Content-Type", "application/json")
                .body(json!({"weight": 1, "uri": pool_uri}).to_string()),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");

    // Creating the queue places it: the router asks the catalog and chooses by weight.
    let base = "eeeeeeee-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed(
            &api,
            reqwest::Method::PUT,
            "/v2/queues/pq",
            base,
            base,
        ))
        .await;
    assert_eq!(r.status, 201);
    let spans = spans_of(&hex(base), has_http);
    let router = one(&spans, "PoolRouter CreateQueue");
    assert_eq!(attr(router, "zaqar.pool").as_deref(), Some("px"));
    assert_eq!(attr(router, "zaqar.catalog").as_deref(), Some("lookup"));
    assert_eq!(attr(router, "zaqar.placement").as_deref(), Some("weighted"));
    let under: Vec<_> = children(&spans, router);
    assert!(
        under
            .iter()
            .any(|c| attr(c, "db.statement").is_some_and(|s| s.contains("catalogue"))),
        "the catalog's statements are the router's children: {:?}",
        names(&spans)
    );
    assert!(under.iter().any(|c| c.name == "SqlStore CreateQueue"));

    // A post finds it in the cache.
    let base = "ffffffff-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    signed_post(&api, "/v2/queues/pq/messages", base).await;
    let spans = spans_of(&hex(base), has_http);
    let router = one(&spans, "PoolRouter PostMessages");
    assert_eq!(attr(router, "zaqar.pool").as_deref(), Some("px"));
    assert_eq!(attr(router, "zaqar.catalog").as_deref(), Some("cache"));
    assert_eq!(attr(router, "zaqar.placement"), None);

    // Listing asks every pool: the default one and px.
    let base = "12121212-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed(&api, reqwest::Method::GET, "/v2/queues", base, base))
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["queues"][0]["name"], "pq");
    let spans = spans_of(&hex(base), has_http);
    let router = one(&spans, "PoolRouter ListAllQueues");
    let lists: Vec<_> = children(&spans, router)
        .into_iter()
        .filter(|c| c.name == "SqlStore ListQueues")
        .collect();
    assert_eq!(lists.len(), 2, "{:?}", names(&spans));
}

/// Runs the `zaqar` command line against `url` and answers the trace id it printed.
fn zaqar_cli(url: &str, key: (&str, &str), args: &[&str]) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zaqar"))
        .args(args)
        .env("ZAQAR_URL", url)
        .env("ZAQAR_PROJECT", "cli-profile")
        .env("XDG_CONFIG_HOME", home.path())
        .env_remove("ZAQAR_PROFILE")
        .env_remove("OS_PROFILE")
        .env(key.0, key.1)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    assert!(!err.contains(key.1), "the key was printed: {err}");
    let id = err
        .lines()
        .find_map(|l| l.strip_prefix("Trace ID: "))
        .unwrap_or_else(|| panic!("no trace id printed: {err}"));
    let hex = err
        .lines()
        .find_map(|l| l.strip_prefix("OTLP trace id: "))
        .unwrap();
    assert_eq!(hex, uuid::Uuid::parse_str(id).unwrap().simple().to_string());
    hex.to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_profile_is_traced_and_a_wrong_key_is_not() {
    let _serial = SERIAL.lock().await;
    let s = server(|_| {});
    let post = ["message", "post", "cliq", "1"];
    let wrong = zaqar_cli(&s.url, ("ZAQAR_PROFILE", "not-a-server-key"), &post);
    // openstack's variable works too.
    let right = zaqar_cli(&s.url, ("OS_PROFILE", "SECRET_KEY"), &post);
    let spans = spans_of(&right, has_http);
    assert_eq!(
        parent_of(one(&spans, "PoolRouter PostMessages"), &spans).name,
        "POST /v2/queues/{queue}/messages"
    );
    one(&spans, "SqlStore PostMessages");
    // The wrongly signed request came first; its spans would have been exported by now.
    assert!(spans_of(&wrong, |_| true).is_empty());
}

fn parent_of<'a>(span: &SpanData, spans: &'a [SpanData]) -> &'a SpanData {
    spans
        .iter()
        .find(|s| s.span_context.span_id() == span.parent_span_id)
        .expect("parent in the trace")
}

/// A claim that dead-letters: the move (the post to the dead-letter queue and the delete
/// from the queue) is in the claim's trace, under its `ClaimMessages` hop.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_letter_move_is_in_the_claims_trace() {
    let _serial = SERIAL.lock().await;
    let s = server(|_| {});
    let api = s.api();
    let policy = json!({"_max_claim_count": 1, "_dead_letter_queue": "dead-traced"});
    assert_eq!(
        api.put("/v2/queues/dl-traced", Some(policy)).await.status,
        201
    );
    api.post_messages("dl-traced", json!([{"body": "poison"}]))
        .await;
    let (first, _) = api
        .claim("dl-traced", "", json!({"ttl": 60, "grace": 60}))
        .await
        .unwrap();
    let r = api
        .delete(&format!("/v2/queues/dl-traced/claims/{first}"))
        .await;
    assert_eq!(r.status, 204);
    let base = "44444444-1b3d-4e5f-8a9b-0c1d2e3f4a5b";
    let r = api
        .send(signed_json(
            &api,
            reqwest::Method::POST,
            "/v2/queues/dl-traced/claims",
            base,
            base,
            "{}",
        ))
        .await;
    assert_eq!(r.status, 204, "the only message was dead: {r:?}");
    let spans = spans_of(&hex(base), |spans| {
        has_http(spans) && !named(spans, "SqlStore DeleteMessage").is_empty()
    });
    let claim = one(&spans, "PoolRouter ClaimMessages");
    let under: Vec<String> = children(&spans, claim)
        .iter()
        .map(|s| s.name.to_string())
        .collect();
    assert_eq!(
        under,
        [
            "SqlStore CreateClaim",
            "SqlStore GetQueueMetadata",
            "SqlStore PostMessages",
            "SqlStore DeleteMessage"
        ],
        "{:?}",
        names(&spans)
    );
    let post = one(&spans, "SqlStore PostMessages");
    assert_eq!(
        attr(post, "messaging.destination.name").as_deref(),
        Some("dead-traced")
    );
    for span in &spans {
        for kv in &span.attributes {
            assert!(!kv.value.to_string().contains("poison"), "{}", span.name);
        }
    }
}

/// keystone mode, against the real Keystone of `ZAQAR_TEST_KEYSTONE` (tests/run.sh sets it
/// in its Keystone stage; without it this test does nothing): a signed request's token
/// validation is an auth span under the HTTP span, a cache miss with the Keystone calls as
/// client spans under it the first time, a hit with none the second. Neither the token nor
/// the service password is in any span.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_validation_is_an_auth_span_with_its_keystone_calls() {
    let Ok(ks) = std::env::var("ZAQAR_TEST_KEYSTONE") else {
        eprintln!("not run: set ZAQAR_TEST_KEYSTONE to a Keystone /v3 URL (tests/run.sh does)");
        return;
    };
    let _serial = SERIAL.lock().await;
    let token = common::keystone_token(&ks, "alice", "demo").await;
    let url = ks.clone();
    let s = server(move |c| {
        c.auth.strategy = "keystone".into();
        let k = &mut c.keystone_authtoken;
        k.auth_url = url;
        k.username = "zaqar".into();
        k.password = zaqar::conf::Secret("zaqar-pw".into());
        k.project_name = "service".into();
    });
    let api = s.api();
    let mut seen = Vec::new();
    for base in [
        "9f1c3b7e-2d4a-4e8f-8a6b-0c5d7e9f1a2b",
        "1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d",
    ] {
        let r = api
            .send(
                signed(&api, reqwest::Method::GET, "/v2/queues", base, base)
                    .header("X-Auth-Token", &token),
            )
            .await;
        assert_eq!(r.status, 200, "{r:?}");
        let spans = spans_of(&hex(base), has_http);
        let auth = one(&spans, "keystone auth");
        assert_eq!(parent_of(auth, &spans).name, "GET /v2/queues");
        assert_eq!(attr(auth, "valid").as_deref(), Some("true"));
        seen.push((attr(auth, "cache"), children(&spans, auth).len()));
        for span in &spans {
            let text = format!("{:?}", span.attributes);
            assert!(
                !text.contains(&token) && !text.contains("zaqar-pw"),
                "{text}"
            );
        }
        if seen.len() == 1 {
            // The service user's login and the validation, each a client span.
            let calls = children(&spans, auth);
            assert!(calls
                .iter()
                .all(|c| c.name == "keystone" && c.span_kind == SpanKind::Client));
            let methods: Vec<_> = calls
                .iter()
                .map(|c| attr(c, "http.request.method").unwrap_or_default())
                .collect();
            assert_eq!(methods, ["POST", "GET"], "{:?}", names(&spans));
        }
    }
    assert_eq!(
        seen,
        [(Some("miss".to_owned()), 2), (Some("hit".to_owned()), 0)]
    );
    // An unsigned request with a token the cache does not know asks Keystone untraced: no
    // span of its own (it would be a trace of its own) is exported.
    let bobs = common::keystone_token(&ks, "bob", "other").await;
    let r = api
        .send(
            api.request(reqwest::Method::GET, "/v2/queues")
                .header("X-Auth-Token", &bobs),
        )
        .await;
    assert_eq!(r.status, 200);
    let traces = [
        hex("9f1c3b7e-2d4a-4e8f-8a6b-0c5d7e9f1a2b"),
        hex("1a2b3c4d-5e6f-4a8b-9c0d-1e2f3a4b5c6d"),
    ];
    for span in exporter().get_finished_spans().unwrap() {
        if span.name.starts_with("keystone") {
            let trace = span.span_context.trace_id().to_string();
            assert!(traces.contains(&trace), "{} in trace {trace}", span.name);
        }
    }
}
