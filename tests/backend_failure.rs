//! A backend that goes away while the server runs: requests answer 503 with a Zaqar error body
//! (no hang, no crash), and service resumes when the backend is back, without a restart.
//!
//! The tests stop and restart the backend themselves, so they need to be told how:
//! `ZAQAR_TEST_REDIS_SERVER` (the redis-server binary), and for PostgreSQL
//! `ZAQAR_TEST_PG_URI`, `ZAQAR_TEST_PG_STOP`, `ZAQAR_TEST_PG_START` (shell commands);
//! tests/run.sh sets them all.

mod common;

use std::process::Command;

use serde_json::json;

use common::{free_port, start_redis, TestServer};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_then_back() {
    let Some(binary) = common::redis_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = start_redis(&binary, port, dir.path());
    let s = TestServer::start_with(|c| {
        c.storage.message_store = format!("redis://127.0.0.1:{port}/0");
        c.storage.acquire_timeout = 1;
    });
    let api = s.api();
    let restarted = std::cell::RefCell::new(None);
    outage(
        &api,
        || {
            redis.kill().unwrap();
            redis.wait().unwrap();
        },
        || *restarted.borrow_mut() = Some(start_redis(&binary, port, dir.path())),
    )
    .await;
    if let Some(mut redis) = restarted.into_inner() {
        redis.kill().unwrap();
        redis.wait().unwrap();
    }
}

/// Requests fail with 503 while the store is unreachable, then succeed again once it is back.
async fn outage(api: &common::Api, stop: impl FnOnce(), start: impl FnOnce()) {
    assert_eq!(
        api.post("/v2/queues/q/messages", json!({"messages": [{"body": 1}]}))
            .await
            .status,
        201
    );
    stop();
    for _ in 0..3 {
        let r = api
            .post("/v2/queues/q/messages", json!({"messages": [{"body": 2}]}))
            .await;
        r.assert_error(503, "Service temporarily unavailable");
        assert!(
            !r.text.contains("redis") && !r.text.contains("postgres"),
            "backend details leaked: {}",
            r.text
        );
        api.get("/v2/queues/q/stats")
            .await
            .assert_error(503, "Service temporarily unavailable");
    }
    assert_eq!(api.get("/v2/ping").await.status, 503);
    start();
    assert!(
        common::ping_until_up(api).await,
        "service did not resume after the backend came back"
    );
    let ids = api.post_messages("q", json!([{"body": 3}])).await;
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .json["body"],
        3
    );
}

/// `ZAQAR_TEST_PG_URI` and two of the commands tests/run.sh gives for its PostgreSQL (stop,
/// start, freeze, thaw); without them the test says it did not run.
fn postgres(first: &str, second: &str) -> Option<(String, String, String)> {
    let var = |name: &str| std::env::var(name).ok();
    let found = (|| Some((var("ZAQAR_TEST_PG_URI")?, var(first)?, var(second)?)))();
    if found.is_none() {
        eprintln!("not run: set ZAQAR_TEST_PG_URI, {first} and {second} (tests/run.sh does)");
    }
    found
}

fn shell(command: &str) {
    let ok = Command::new("sh")
        .arg("-c")
        .arg(command)
        .status()
        .unwrap()
        .success();
    assert!(ok, "{command} failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_then_back() {
    let Some((uri, stop, start)) = postgres("ZAQAR_TEST_PG_STOP", "ZAQAR_TEST_PG_START") else {
        return;
    };
    let s = TestServer::start_with(|c| {
        c.storage.message_store = uri;
        c.storage.acquire_timeout = 1;
    });
    let api = s.api();
    outage(&api, || shell(&stop), || shell(&start)).await;
    // What was accepted before the outage is still there: PostgreSQL committed it.
    let r = api.get("/v2/queues/q/messages?echo=true").await;
    assert!(
        r.json["messages"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["body"] == 1),
        "{r:?}"
    );
}

/// A Redis that stops answering (SIGSTOP) mid-service: requests answer 503 at
/// `command_timeout` instead of hanging, and service resumes when it continues.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_frozen_then_thawed() {
    let Some(binary) = common::redis_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = start_redis(&binary, port, dir.path());
    let pid = redis.id().to_string();
    let s = TestServer::start_with(|c| {
        c.storage.message_store = format!("redis://127.0.0.1:{port}/0");
        c.storage.command_timeout = 1;
    });
    frozen(
        &s.api(),
        || shell(&format!("kill -STOP {pid}")),
        || shell(&format!("kill -CONT {pid}")),
    )
    .await;
    redis.kill().unwrap();
    redis.wait().unwrap();
}

/// A PostgreSQL whose processes all stop (SIGSTOP): statements already sent are bounded
/// by `command_timeout` (they used to hang as long as the database did).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_frozen_then_thawed() {
    let Some((uri, freeze, thaw)) = postgres("ZAQAR_TEST_PG_FREEZE", "ZAQAR_TEST_PG_THAW") else {
        return;
    };
    let s = TestServer::start_with(|c| {
        c.storage.message_store = uri;
        c.storage.command_timeout = 1;
        c.storage.acquire_timeout = 1;
    });
    frozen(&s.api(), || shell(&freeze), || shell(&thaw)).await;
}

/// While the backend is frozen every request answers 503 (each bounded by the command
/// timeout; were it not, the HTTP client's minute would fail the test); after the thaw the
/// queue's messages are all there.
async fn frozen(api: &common::Api, freeze: impl FnOnce(), thaw: impl FnOnce()) {
    let ids = api.post_messages("q", json!([{"body": 1}])).await;
    freeze();
    for _ in 0..2 {
        api.post("/v2/queues/q/messages", json!({"messages": [{"body": 2}]}))
            .await
            .assert_error(503, "Service temporarily unavailable");
        api.get("/v2/queues/q/messages?echo=true")
            .await
            .assert_error(503, "Service temporarily unavailable");
    }
    thaw();
    assert!(
        common::ping_until_up(api).await,
        "service did not resume after the thaw"
    );
    let r = api.get(&format!("/v2/queues/q/messages/{}", ids[0])).await;
    assert_eq!(r.json["body"], 1, "{r:?}");
}

/// The server starts while its Redis is down (Zaqar starts this way too): it answers 503
/// until Redis is up, then serves without a restart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_at_start() {
    let Some(binary) = common::redis_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let s = TestServer::start_with(|c| {
        c.storage.message_store = format!("redis://127.0.0.1:{port}/0");
        c.storage.acquire_timeout = 1;
    });
    let api = s.api();
    api.post("/v2/queues/q/messages", json!({"messages": [{"body": 1}]}))
        .await
        .assert_error(503, "Service temporarily unavailable");
    assert_eq!(api.get("/v2/ping").await.status, 503);
    let mut redis = start_redis(&binary, port, dir.path());
    assert!(
        common::ping_until_up(&api).await,
        "service did not start once Redis was up"
    );
    assert_eq!(api.post_messages("q", json!([{"body": 1}])).await.len(), 1);
    redis.kill().unwrap();
    redis.wait().unwrap();
}

/// Likewise for PostgreSQL: stopped before the server starts, the schema is migrated by the
/// first request that finds it up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_down_at_start() {
    let Some((uri, stop, start)) = postgres("ZAQAR_TEST_PG_STOP", "ZAQAR_TEST_PG_START") else {
        return;
    };
    shell(&stop);
    let s = TestServer::start_with(|c| {
        c.storage.message_store = uri;
        c.storage.acquire_timeout = 1;
    });
    let api = s.api();
    api.post("/v2/queues/q/messages", json!({"messages": [{"body": 1}]}))
        .await
        .assert_error(503, "Service temporarily unavailable");
    shell(&start);
    assert!(
        common::ping_until_up(&api).await,
        "service did not start once PostgreSQL was up"
    );
    assert_eq!(api.post_messages("q", json!([{"body": 1}])).await.len(), 1);
}

/// While a backend refuses connections, requests answer 503 at once rather than after the
/// acquire timeout: with an acquire timeout of an hour, waiting for it would fail the test
/// on the HTTP client's minute. (The timeout still applies to a backend that is slow.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connections_fail_fast() {
    for store in refusing_stores() {
        let s = TestServer::start_with(|c| {
            c.storage.message_store = store.clone();
            c.storage.acquire_timeout = 3600;
            c.storage.command_timeout = 3600;
        });
        let api = s.api();
        for _ in 0..3 {
            api.post("/v2/queues/q/messages", json!({"messages": [{"body": 1}]}))
                .await
                .assert_error(503, "Service temporarily unavailable");
        }
    }
}

/// A store URI of each networked backend on a port where nothing listens.
fn refusing_stores() -> Vec<String> {
    let port = free_port();
    vec![
        format!("postgres://zaqar@127.0.0.1:{port}/zaqar"),
        format!("redis://127.0.0.1:{port}/0"),
        format!("mongodb://127.0.0.1:{port}/zaqar?directConnection=true&serverSelectionTimeoutMS=3600000"),
    ]
}
