//! Redis data written in key layout 1 (whose keys could collide across projects) is moved
//! to layout 2 when a server first reaches it: queues, metadata, messages free, claimed
//! and delayed, claims, subscriptions; and the collision it allowed is gone.
//!
//! Needs `ZAQAR_TEST_REDIS_SERVER` (the redis-server binary; tests/run.sh sets it).

mod common;

use std::process::Command;

use serde_json::json;

use common::{free_port, start_redis, TestServer};

fn redis_cli(port: u16, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-p", &port.to_string()])
        .args(args)
        .output()
        .expect("redis-cli");
    assert!(out.status.success(), "{args:?}");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layout_1_data_is_upgraded_on_first_use() {
    let Some(binary) = common::redis_binary() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut redis = start_redis(&binary, port, dir.path());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let (hour, later, claim_end) = (
        (now + 3_600_000).to_string(),
        (now + 600_000).to_string(),
        (now + 300_000).to_string(),
    );
    let now_s = now.to_string();
    let client = "3381af92-2b9e-11e3-b191-71861300734c";
    let cli = |args: &[&str]| redis_cli(port, args);
    // Project p1, queue orders: m1 free, m2 claimed by c1, m3 delayed; one subscription.
    let p = "zq:orders:2:p1";
    cli(&["SET", &format!("{p}:meta"), r#"{"description":"kept"}"#]);
    cli(&["ZADD", "zq:queues:p1", "0", "orders"]);
    cli(&["SET", &format!("{p}:seq"), "3"]);
    let message = |id: &str, seq: &str, v: &str, ci: &str, ce: &str| {
        cli(&[
            "HSET",
            &format!("{p}:m:{id}"),
            "s",
            seq,
            "b",
            &format!(r#"{{"n":{seq}}}"#),
            "t",
            "3600",
            "c",
            &now_s,
            "e",
            &hour,
            "v",
            v,
            "cl",
            client,
            "ci",
            ci,
            "ce",
            ce,
            "n",
            if ci.is_empty() { "0" } else { "1" },
            "ct",
            "300",
            "cc",
            &now_s,
        ]);
        cli(&["ZADD", &format!("{p}:ids"), seq, id]);
    };
    message("m1", "1", &now_s, "", "0");
    message("m2", "2", &now_s, "c1", &claim_end);
    message("m3", "3", &later, "", "0");
    cli(&["SADD", &format!("{p}:c:c1"), "m2"]);
    cli(&[
        "HSET",
        &format!("{p}:subs"),
        "http://127.0.0.1:9/hook",
        "s1",
    ]);
    cli(&[
        "HSET",
        &format!("{p}:s:s1"),
        "sub",
        "http://127.0.0.1:9/hook",
        "t",
        "3600",
        "o",
        "{}",
        "c",
        &now_s,
        "e",
        &hour,
        "k",
        "0",
    ]);
    // Project victim, queue "queues": layout 1 filed its index where project
    // "6:victim:ids" keeps its queue list.
    let v = "zq:queues:6:victim";
    cli(&["SET", &format!("{v}:meta"), "{}"]);
    cli(&["ZADD", "zq:queues:victim", "0", "queues"]);
    cli(&[
        "HSET",
        &format!("{v}:m:vm"),
        "s",
        "1",
        "b",
        "1",
        "t",
        "3600",
        "c",
        &now_s,
        "e",
        &hour,
        "v",
        &now_s,
        "cl",
        client,
        "ci",
        "",
        "ce",
        "0",
        "n",
        "0",
        "ct",
        "0",
        "cc",
        "0",
    ]);
    cli(&["ZADD", &format!("{v}:ids"), "1", "vm"]);

    let s = TestServer::start_with(|c| {
        c.storage.message_store = format!("redis://127.0.0.1:{port}/0");
    });
    let mut api = s.api();
    api.project = "p1".into();
    let r = api.get("/v2/queues/orders").await;
    assert_eq!(r.json["description"], "kept", "{r:?}");
    let r = api
        .get("/v2/queues/orders/messages?echo=true&include_claimed=true&include_delayed=true")
        .await;
    assert_eq!(r.ids(), ["m1", "m2", "m3"], "{r:?}");
    let stats = api.stats("orders").await;
    assert_eq!(
        (stats["total"].clone(), stats["claimed"].clone()),
        (json!(3), json!(1))
    );
    let r = api.get("/v2/queues/orders/claims/c1").await;
    assert_eq!(r.ids(), ["m2"], "{r:?}");
    // Only m1 is free: m2 is held, m3 delayed.
    let (_, claimed) = api
        .claim("orders", "?limit=10", json!({"ttl": 60}))
        .await
        .unwrap();
    assert_eq!(claimed, ["m1"]);
    let r = api.get("/v2/queues/orders/subscriptions").await;
    assert_eq!(r.json["subscriptions"][0]["id"], "s1", "{r:?}");

    let mut victim = s.api();
    victim.project = "victim".into();
    let r = victim.get("/v2/queues/queues/messages?echo=true").await;
    assert_eq!(r.ids(), ["vm"], "{r:?}");
    let mut other = s.api();
    other.project = "6:victim:ids".into();
    assert_eq!(other.get("/v2/queues").await.json["queues"], json!([]));

    assert_eq!(cli(&["GET", "zq:layout"]), "2");
    assert_eq!(cli(&["KEYS", "zq:queues:*"]), "", "no layout-1 key is left");
    drop(s);
    redis.kill().unwrap();
    redis.wait().unwrap();
}
