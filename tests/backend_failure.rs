//! A backend that goes away while the server runs: requests answer 503 with a Zaqar error body
//! (no hang, no crash), and service resumes when the backend is back, without a restart.
//!
//! Needs `ZAQAR_TEST_REDIS_SERVER` (the redis-server binary; tests/run.sh sets it), because the
//! test stops and restarts the backend process itself.

mod common;

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command};

use serde_json::json;

use common::TestServer;

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_redis(binary: &std::ffi::OsStr, port: u16, dir: &Path) -> Child {
    let mut child = Command::new(binary)
        .args([
            "--port",
            &port.to_string(),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ])
        .arg("--dir")
        .arg(dir)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("start redis-server");
    // Bounded wait for the port to accept connections.
    for _ in 0..300 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return child;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("redis-server did not start on port {port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_down_then_back() {
    let Some(binary) = std::env::var_os("ZAQAR_TEST_REDIS_SERVER") else {
        eprintln!("not run: set ZAQAR_TEST_REDIS_SERVER=redis-server (tests/run.sh does)");
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
    assert_eq!(
        api.post("/v2/queues/q/messages", json!({"messages": [{"body": 1}]}))
            .await
            .status,
        201
    );

    redis.kill().unwrap();
    redis.wait().unwrap();
    for _ in 0..3 {
        let r = api
            .post("/v2/queues/q/messages", json!({"messages": [{"body": 2}]}))
            .await;
        r.assert_error(503, "Service temporarily unavailable");
        assert!(
            !r.text.contains("redis"),
            "backend details leaked: {}",
            r.text
        );
        api.get("/v2/queues/q/stats")
            .await
            .assert_error(503, "Service temporarily unavailable");
    }
    assert_eq!(api.get("/v2/ping").await.status, 503);

    let mut redis = start_redis(&binary, port, dir.path());
    // The pool drops its dead connections as they fail their check: a few requests at most.
    let mut recovered = false;
    for _ in 0..20 {
        if api.get("/v2/ping").await.status == 204 {
            recovered = true;
            break;
        }
    }
    assert!(
        recovered,
        "service did not resume after the backend came back"
    );
    let ids = api.post_messages("q", json!([{"body": 3}])).await;
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .json["body"],
        3
    );
    redis.kill().unwrap();
    redis.wait().unwrap();
}
