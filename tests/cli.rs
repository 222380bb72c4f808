//! The `zaqar-server` binary as a user runs it: defaults, flags, config errors, graceful stop
//! on SIGTERM, and an accepted message surviving a crash (SIGKILL) and restart.

mod common;

use std::process::Command;

use common::process::{signal, start, BIN};

fn headers(rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    rb.header("Client-ID", "3381af92-2b9e-11e3-b191-71861300734c")
        .header("X-Project-ID", "cli")
}

#[tokio::test]
async fn defaults_graceful_stop_and_crash_durability() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = start(dir.path(), &["--bind", "127.0.0.1:0"]);
    assert!(
        server.listening.contains("sqlite://./data/zaqar.db"),
        "{}",
        server.listening
    );
    // With no config the store is ./data/zaqar.db under the working directory.
    assert!(dir.path().join("data/zaqar.db").exists());
    let http = reqwest::Client::new();
    let r = headers(http.post(format!("{}/v2/queues/q/messages", server.url)))
        .header("Content-Type", "application/json")
        .body(r#"{"messages": [{"body": "keep me"}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    let href = r.json::<serde_json::Value>().await.unwrap()["resources"][0]
        .as_str()
        .unwrap()
        .to_owned();

    // A crash right after the 201: the message is still there after a restart.
    signal(&server.child, "-KILL");
    server.child.wait().unwrap();
    let mut server = start(dir.path(), &["--bind", "127.0.0.1:0"]);
    let r = headers(http.get(format!("{}{href}", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.json::<serde_json::Value>().await.unwrap()["body"],
        "keep me"
    );

    // SIGTERM: a graceful stop, exit status 0.
    signal(&server.child, "-TERM");
    let status = server.child.wait().unwrap();
    assert!(status.success(), "{status}");
    let rest: Vec<String> = server.log.try_iter().collect();
    assert!(rest.iter().any(|l| l.contains("stopped")), "{rest:?}");
}

#[test]
fn config_file_and_errors() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("zaqar.toml");
    std::fs::write(
        &conf,
        "[storage]\nmessage_store = \"sqlite://./elsewhere/q.db\"\n",
    )
    .unwrap();
    let mut server = start(
        dir.path(),
        &["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"],
    );
    assert!(dir.path().join("elsewhere/q.db").exists());
    server.child.kill().unwrap();
    server.child.wait().unwrap();

    // An unknown key and an invalid value stop startup, naming the key; so does ZAQAR_CONFIG.
    for (text, key) in [
        ("[server]\nbnid = \"x\"\n", "bnid"),
        (
            "[limits]\ndefault_claim_ttl = 5\n",
            "limits.default_claim_ttl",
        ),
        (
            "[storage]\nmessage_store = \"memcached://x\"\n",
            "storage.message_store",
        ),
    ] {
        std::fs::write(&conf, text).unwrap();
        let out = Command::new(BIN)
            .env("ZAQAR_CONFIG", &conf)
            .args(["--bind", "127.0.0.1:0"])
            .current_dir(dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
    }
}

#[test]
fn a_database_password_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("zaqar.toml");
    // Nothing listens on port 1: startup fails, and says so without the password.
    std::fs::write(
        &conf,
        "[storage]\nmessage_store = \"postgres://zaqar:hunter2@127.0.0.1:1/zaqar\"\nacquire_timeout = 2\n",
    )
    .unwrap();
    let out = Command::new(BIN)
        .args(["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("postgres://zaqar:***@127.0.0.1:1/zaqar"),
        "{err}"
    );
    assert!(!err.contains("hunter2"), "{err}");
}
