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

#[tokio::test]
async fn a_database_password_never_reaches_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("zaqar.toml");
    // Nothing listens on port 1: the server starts anyway (as Zaqar does), says the
    // database is unreachable, and answers 503; no line holds a password, in the userinfo,
    // in a query parameter, or in a parameter the driver does not know (sqlx warns of
    // those with their values: the default filter keeps that warning out).
    std::fs::write(
        &conf,
        "[storage]\nmessage_store = \"postgres://zaqar:hunter2@127.0.0.1:1/zaqar?password=hunter3&sslpassword=hunter4\"\nacquire_timeout = 1\n",
    )
    .unwrap();
    let server = start(
        dir.path(),
        &["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"],
    );
    let masked = "postgres://zaqar:***@127.0.0.1:1/zaqar?password=***&sslpassword=***";
    let warning = server
        .startup
        .iter()
        .find(|l| l.contains("unreachable at start"))
        .unwrap_or_else(|| panic!("no warning in {:?}", server.startup));
    assert!(warning.contains(masked), "{warning}");
    assert!(server.listening.contains(masked), "{}", server.listening);
    let r = headers(reqwest::Client::new().get(format!("{}/v2/queues/q/stats", server.url)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let failure = loop {
        let line = server.log.recv().expect("the server logs the failure");
        if line.contains("storage unavailable") {
            break line;
        }
    };
    for line in server.startup.iter().chain([&server.listening, &failure]) {
        assert!(!line.contains("hunter"), "{line}");
    }
}
