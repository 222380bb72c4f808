//! A full disk under the embedded SQLite store (a small tmpfs): writes answer 503, ping and
//! health say the store is degraded, deletes still free space, and writes work again after.
//!
//! Mounting needs root (CI runs as root); elsewhere the test says so and does nothing.

mod common;

use std::process::Command;

use serde_json::json;

use common::TestServer;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn small_disk(dir: &std::path::Path) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16m", "tmpfs"])
        .arg(dir)
        .status()
        .is_ok_and(|s| s.success());
    ok.then(|| Mount(dir.to_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_degrades_writes_and_deletes_still_free_space() {
    let dir = tempfile::tempdir().unwrap();
    let Some(_mount) = small_disk(dir.path()) else {
        eprintln!("not run: cannot mount a tmpfs here (needs root)");
        return;
    };
    let db = dir.path().join("zaqar.db");
    let s = TestServer::start_with(|c| {
        c.storage.message_store = format!("sqlite://{}", db.display());
    });
    let api = s.api();
    let body = "x".repeat(200_000);
    let mut posted = Vec::new();
    let mut full = None;
    for _ in 0..1000 {
        let r = api
            .post(
                "/v2/queues/q/messages",
                json!({"messages": [{"body": body}]}),
            )
            .await;
        if r.status == 201 {
            posted.push(
                r.json["resources"][0]
                    .as_str()
                    .unwrap()
                    .rsplit('/')
                    .next()
                    .unwrap()
                    .to_owned(),
            );
        } else {
            full = Some(r);
            break;
        }
    }
    let full = full.expect("the disk never filled");
    full.assert_error(503, "Service temporarily unavailable");
    assert!(!posted.is_empty());

    let r = api.get("/v2/ping").await;
    r.assert_error(503, "Service degraded");
    let r = api
        .send(
            api.request(reqwest::Method::GET, "/v2/health")
                .header("X-Roles", "admin"),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["status"], "degraded", "{r:?}");

    // Space can be freed through the API.
    for ids in posted.chunks(10) {
        let r = api
            .delete(&format!("/v2/queues/q/messages?ids={}", ids.join(",")))
            .await;
        assert_eq!(r.status, 204, "{r:?}");
    }
    assert_eq!(api.post_messages("q", json!([{"body": 1}])).await.len(), 1);
    assert_eq!(api.get("/v2/ping").await.status, 204);
}
