//! SIGKILL under load: every message acknowledged with 201 before the crash is there after
//! a restart, for each durable setting: SQLite `synchronous = normal` and `full`, and the
//! store named by `ZAQAR_TEST_MESSAGE_STORE` (PostgreSQL, Redis, MongoDB in tests/run.sh).
//!
//! With `ZAQAR_TEST_CRASH_STORE`, the database is killed too (`ZAQAR_TEST_CRASH_KILL`, a shell
//! command: SIGKILL to every process of it) and started again (`ZAQAR_TEST_CRASH_START`)
//! before the server restarts: tests/run.sh does so with PostgreSQL (`fsync = on`) and Redis
//! (`appendfsync always`), whose 201s must then have reached their logs. A killed process
//! leaves the kernel's page cache behind, so this proves what was written before the 201,
//! not what a power loss would keep (that is the fsync setting's promise).

mod common;

use std::sync::{Arc, Mutex};

use common::process::{signal, start};
use serde_json::json;

/// Posts from 8 clients until `acked` messages are acknowledged, then kills the server with
/// posts still in flight, restarts it on the same store and looks every acknowledged id up.
async fn acknowledged_posts_survive_sigkill(store: &str, synchronous: &str) {
    survive_sigkill(store, synchronous, None).await
}

/// `database`: the shell commands that kill the database and start it again, run between
/// the server's death and its restart.
async fn survive_sigkill(store: &str, synchronous: &str, database: Option<(&str, &str)>) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("zaqar.toml");
    std::fs::write(
        &conf,
        format!(
            "[storage]\nmessage_store = \"{store}\"\nsqlite_synchronous = \"{synchronous}\"\ngc_interval = 0\n"
        ),
    )
    .unwrap();
    let args = ["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"];
    let mut server = start(dir.path(), &args);
    let project = format!("crash-{}", uuid::Uuid::new_v4().simple());
    let acked = Arc::new(Mutex::new(Vec::<String>::new()));
    let target = 400;
    let mut posters = Vec::new();
    for _ in 0..8 {
        let (url, project, acked) = (server.url.clone(), project.clone(), acked.clone());
        posters.push(tokio::spawn(async move {
            let http = common::client();
            let client_id = uuid::Uuid::new_v4().to_string();
            loop {
                let sent = http
                    .post(format!("{url}/v2/queues/q/messages"))
                    .header("Client-ID", &client_id)
                    .header("X-Project-ID", &project)
                    .json(&json!({"messages": [{"body": "keep"}]}))
                    .send()
                    .await;
                let Ok(r) = sent else { return };
                if r.status() != 201 {
                    return;
                }
                let Ok(body) = r.json::<serde_json::Value>().await else {
                    return;
                };
                let href = body["resources"][0].as_str().unwrap_or_default();
                let id = href.rsplit('/').next().unwrap_or_default().to_owned();
                acked.lock().unwrap().push(id);
            }
        }));
    }
    // Watches the count (no sleep stands in for it): kill once enough were acknowledged.
    loop {
        if acked.lock().unwrap().len() >= target {
            break;
        }
        tokio::task::yield_now().await;
    }
    signal(&server.child, "-KILL");
    server.child.wait().unwrap();
    for p in posters {
        p.await.unwrap();
    }
    let acked = acked.lock().unwrap().clone();
    assert!(acked.len() >= target);
    if let Some((kill, start)) = database {
        for command in [kill, start] {
            let status = std::process::Command::new("sh")
                .args(["-c", command])
                .status()
                .unwrap();
            assert!(status.success(), "{command}: {status}");
        }
    }

    let server = start(dir.path(), &args);
    let http = common::client();
    let mut found = 0;
    for ids in acked.chunks(20) {
        let r = http
            .get(format!("{}/v2/queues/q/messages", server.url))
            // One `ids` pair per id: a `,` that the query encoder escapes is part of a value.
            .query(&ids.iter().map(|id| ("ids", id)).collect::<Vec<_>>())
            .header("Client-ID", uuid::Uuid::new_v4().to_string())
            .header("X-Project-ID", &project)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let body: serde_json::Value = r.json().await.unwrap();
        found += body["messages"].as_array().unwrap().len();
    }
    assert_eq!(
        found,
        acked.len(),
        "acknowledged messages lost ({store}, {synchronous})"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_normal() {
    acknowledged_posts_survive_sigkill("sqlite://./data/zaqar.db", "normal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_full() {
    acknowledged_posts_survive_sigkill("sqlite://./data/zaqar.db", "full").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn configured_store() {
    let Ok(store) = std::env::var("ZAQAR_TEST_MESSAGE_STORE") else {
        eprintln!("not run: ZAQAR_TEST_MESSAGE_STORE names no networked store");
        return;
    };
    acknowledged_posts_survive_sigkill(&store, "normal").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_killed_with_the_server() {
    let (Ok(store), Ok(kill), Ok(start)) = (
        std::env::var("ZAQAR_TEST_CRASH_STORE"),
        std::env::var("ZAQAR_TEST_CRASH_KILL"),
        std::env::var("ZAQAR_TEST_CRASH_START"),
    ) else {
        eprintln!("not run: ZAQAR_TEST_CRASH_STORE, _KILL and _START name no database to kill");
        return;
    };
    survive_sigkill(&store, "normal", Some((&kill, &start))).await;
}
