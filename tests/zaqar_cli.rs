//! The `zaqar` command line against a real server: every subcommand's happy path and its
//! main error paths, exit codes, and `--json` output parsed back. (Its `--profile` is
//! checked in tests/profiler.rs, where the exported spans are visible.)

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use common::TestServer;

const ZAQAR: &str = env!("CARGO_BIN_EXE_zaqar");

/// The command line of one user: a config directory (where its client id is kept), a
/// server and a project.
struct User {
    config: tempfile::TempDir,
    url: String,
    project: String,
}

impl User {
    fn new(server: &TestServer, project: &str) -> Self {
        Self {
            config: tempfile::tempdir().unwrap(),
            url: server.url.clone(),
            project: project.to_owned(),
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(ZAQAR);
        c.args(args)
            .env("XDG_CONFIG_HOME", self.config.path())
            .env("ZAQAR_URL", &self.url)
            .env("ZAQAR_PROJECT", &self.project)
            .env_remove("ZAQAR_PROFILE")
            .env_remove("OS_PROFILE");
        c
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    fn run_with_stdin(&self, args: &[&str], stdin: &str) -> Output {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs with `--json`, expects success, answers the parsed output.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert_ok(&out, args);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: not JSON ({e}): {}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
    }
}

fn assert_ok(out: &Output, args: &[&str]) {
    assert!(
        out.status.success(),
        "{args:?}: {:?}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Asserts the exit code and a fragment of stderr.
fn assert_fails(out: &Output, code: i32, says: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "{err}");
    assert!(err.contains(says), "stderr: {err}");
}

fn ids(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn queues_messages_and_claims() {
    let s = TestServer::start();
    let me = User::new(&s, "cli");

    assert_eq!(me.json(&["queue", "create", "jobs"])["created"], true);
    assert_eq!(me.json(&["queue", "create", "jobs"])["created"], false);
    let out = me.run(&["queue", "create", "other", "--metadata", "{\"a\": 1}"]);
    assert_ok(&out, &["queue create"]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "created queue other"
    );
    let meta = me.json(&["queue", "set-metadata", "jobs", "{\"color\": \"red\"}"]);
    assert_eq!(meta["color"], "red");
    assert_eq!(me.json(&["queue", "show", "jobs"])["color"], "red");
    let names: Vec<Value> = me.json(&["queue", "list"]).as_array().unwrap().to_vec();
    assert_eq!(
        names.iter().map(|q| q["name"].clone()).collect::<Vec<_>>(),
        [json!("jobs"), json!("other")]
    );
    assert_eq!(
        me.json(&["queue", "list", "--limit", "1"])
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Bodies from arguments (JSON, else a string), from stdin and from a file.
    let posted = me.json(&["message", "post", "jobs", "{\"n\": 1}", "plain text"]);
    let first = posted["ids"][0].as_str().unwrap().to_owned();
    assert_eq!(posted["ids"].as_array().unwrap().len(), 2);
    let out = me.run_with_stdin(
        &["--json", "message", "post", "jobs"],
        "[{\"body\": {\"n\": 3}, \"ttl\": 120}, 4]",
    );
    assert_ok(&out, &["post from stdin"]);
    let file = me.config.path().join("batch.json");
    std::fs::write(&file, "{\"messages\": [{\"body\": 5}]}").unwrap();
    me.json(&[
        "message",
        "post",
        "jobs",
        "--file",
        file.to_str().unwrap(),
        "--ttl",
        "300",
    ]);

    // The client id is kept between invocations: without --echo a user does not see its
    // own messages; another user (another config directory) does.
    assert!(me
        .json(&["message", "list", "jobs"])
        .as_array()
        .unwrap()
        .is_empty());
    let listed = me.json(&["message", "list", "jobs", "--echo", "--limit", "10"]);
    let bodies: Vec<Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"].clone())
        .collect();
    assert_eq!(
        bodies,
        [
            json!({"n": 1}),
            json!("plain text"),
            json!({"n": 3}),
            json!(4),
            json!(5)
        ]
    );
    assert_eq!(listed[2]["ttl"], 120);
    assert_eq!(listed[4]["ttl"], 300);
    let other = User::new(&s, "cli");
    assert_eq!(
        other
            .json(&["message", "list", "jobs"])
            .as_array()
            .unwrap()
            .len(),
        5
    );
    let got = me.json(&["message", "get", "jobs", &first]);
    assert_eq!(got[0]["body"], json!({"n": 1}));

    // Claims: a claimed message needs its claim id to be deleted.
    let claim = me.json(&["claim", "create", "jobs", "--limit", "2", "--ttl", "60"]);
    let claim_id = claim["id"].as_str().unwrap().to_owned();
    assert_eq!(ids(&claim["messages"])[0], first);
    let shown = me.json(&["claim", "show", "jobs", &claim_id]);
    assert_eq!(shown["messages"].as_array().unwrap().len(), 2);
    assert_ok(
        &me.run(&["claim", "renew", "jobs", &claim_id, "--ttl", "120"]),
        &["renew"],
    );
    assert_fails(
        &me.run(&["message", "delete", "jobs", &first]),
        1,
        "Unable to delete: This message is claimed",
    );
    assert_ok(
        &me.run(&["message", "delete", "jobs", &first, "--claim-id", &claim_id]),
        &["delete with claim"],
    );
    assert_ok(
        &me.run(&["claim", "release", "jobs", &claim_id]),
        &["release"],
    );
    assert_fails(
        &me.run(&["claim", "show", "jobs", &claim_id]),
        1,
        "Not found",
    );

    let popped = me.json(&["message", "pop", "jobs", "--count", "2"]);
    assert_eq!(popped.as_array().unwrap().len(), 2);
    let stats = me.json(&["queue", "stats", "jobs"]);
    assert_eq!(stats["total"], 2, "{stats}");
    assert_eq!(
        me.json(&["claim", "create", "jobs"])["messages"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_ok(
        &me.run(&["queue", "purge", "jobs", "--resource-types", "messages"]),
        &["purge"],
    );
    assert_ok(&me.run(&["queue", "delete", "jobs"]), &["delete"]);
    assert!(me
        .json(&["message", "list", "jobs", "--echo"])
        .as_array()
        .unwrap()
        .is_empty());
    let out = me.run(&["ping"]);
    assert_ok(&out, &["ping"]);
}

#[test]
fn subscriptions() {
    let s = TestServer::start();
    let me = User::new(&s, "cli-subs");
    me.json(&["queue", "create", "events"]);
    let hook = "http://127.0.0.1:9/hook";
    let created = me.json(&[
        "subscription",
        "create",
        "events",
        hook,
        "--ttl",
        "3600",
        "--options",
        r#"{"a": 1}"#,
    ]);
    let id = created["subscription_id"].as_str().unwrap().to_owned();

    let listed = me.json(&["subscription", "list", "events"]);
    assert_eq!(ids(&listed), std::slice::from_ref(&id));
    let shown = me.json(&["subscription", "show", "events", &id]);
    assert_eq!(shown["subscriber"], hook);
    assert_eq!(shown["source"], "events");
    assert_eq!(shown["ttl"], 3600);
    assert_eq!(shown["options"], json!({"a": 1}));

    me.json(&[
        "subscription",
        "update",
        "events",
        &id,
        "--ttl",
        "7200",
        "--options",
        r#"{"b": 2}"#,
    ]);
    let shown = me.json(&["subscription", "show", "events", &id]);
    assert_eq!(shown["ttl"], 7200);
    assert_eq!(
        shown["options"],
        json!({"b": 2}),
        "options are replaced whole"
    );
    let table = me.run(&["subscription", "list", "events"]);
    assert_ok(&table, &["subscription", "list"]);
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.starts_with("ID") && table.contains(hook), "{table}");

    assert_fails(
        &me.run(&["subscription", "update", "events", &id]),
        2,
        "nothing to update",
    );
    assert_fails(
        &me.run(&["subscription", "create", "events", "ftp://x"]),
        1,
        "Invalid API request",
    );
    // The same subscriber again, still unconfirmed: Zaqar answers the subscription it has.
    let again = me.json(&["subscription", "create", "events", hook]);
    assert_eq!(again["subscription_id"], id.as_str());

    me.json(&["subscription", "delete", "events", &id]);
    assert!(ids(&me.json(&["subscription", "list", "events"])).is_empty());
    assert_fails(
        &me.run(&["subscription", "show", "events", &id]),
        1,
        "does not exist",
    );
}

#[test]
fn errors_and_exit_codes() {
    let s = TestServer::start();
    let me = User::new(&s, "cli-errors");
    // Refused by the server: its title and description, exit 1.
    assert_fails(
        &me.run(&["queue", "create", "bad name!"]),
        1,
        "Invalid queue identification: The format of the submitted queue name",
    );
    assert_fails(
        &me.run(&["claim", "create", "q", "--ttl", "5"]),
        1,
        "Invalid API request",
    );
    // Without admin mode there is no pool API.
    assert_fails(&me.run(&["pool", "list"]), 1, "404 Not Found");
    // Bad usage: exit 2, nothing sent.
    assert_fails(&me.run(&["--client-id", "not-a-uuid", "ping"]), 2, "UUID");
    assert_fails(
        &me.run(&["queue", "create", "q", "--metadata", "[1]"]),
        2,
        "must be a JSON object",
    );
    assert_fails(&me.run(&["message", "get", "q"]), 2, "required");
    // Nobody there: says what it tried, exit 3.
    assert_fails(
        &me.run(&["--url", "http://127.0.0.1:1", "ping"]),
        3,
        "cannot reach http://127.0.0.1:1",
    );
    let out = me.run(&["completions", "bash"]);
    assert_ok(&out, &["completions"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("_zaqar()"));
    let help = me.run(&["--help"]);
    assert!(String::from_utf8_lossy(&help.stdout).contains("Exit codes"));
}

#[test]
fn pools_flavors_and_health() {
    let dir = tempfile::tempdir().unwrap();
    let s = TestServer::start_with(|c| {
        c.server.admin_mode = true;
        c.pooling.enabled = true;
    });
    let me = User::new(&s, "cli-admin");
    let uri = format!("sqlite://{}/p.db", dir.path().display());
    assert_ok(
        &me.run(&["pool", "create", "p1", &uri, "--weight", "5"]),
        &["pool create"],
    );
    let pools = me.json(&["pool", "list"]);
    assert_eq!(pools[0]["name"], "p1");
    assert_eq!(pools[0]["weight"], 5);
    let pool = me.json(&["pool", "update", "p1", "--weight", "7"]);
    assert_eq!(pool["weight"], 7);
    assert_eq!(me.json(&["pool", "show", "p1"])["uri"], uri.as_str());
    assert_ok(
        &me.run(&["flavor", "create", "f1", "--pool", "p1"]),
        &["flavor create"],
    );
    let flavor = me.json(&["flavor", "show", "f1"]);
    assert_eq!(flavor["pool_list"], json!(["p1"]));
    assert_eq!(me.json(&["flavor", "list"])[0]["name"], "f1");
    assert_eq!(me.json(&["pool", "show", "p1"])["flavor"], "f1");
    let health = me.json(&["health"]);
    assert_eq!(health["pools"]["p1"]["storage_reachable"], true, "{health}");
    let out = me.run(&["health"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("p1"));
    assert_fails(
        &me.run(&["pool", "create", "bad", "redis://127.0.0.1:1/0"]),
        1,
        "Invalid request body: cannot connect to redis://127.0.0.1:1/0",
    );
    assert_fails(&me.run(&["pool", "update", "p1"]), 2, "nothing to update");
    assert_ok(&me.run(&["flavor", "delete", "f1"]), &["flavor delete"]);
    assert_ok(&me.run(&["pool", "delete", "p1"]), &["pool delete"]);
    assert_fails(
        &me.run(&["pool", "show", "p1"]),
        1,
        "Pool p1 does not exist",
    );
    assert!(me.json(&["pool", "list"]).as_array().unwrap().is_empty());
}

#[test]
fn client_id_survives_in_the_config_directory() {
    let s = TestServer::start();
    let me = User::new(&s, "cli-id");
    assert_ok(&me.run(&["ping"]), &["ping"]);
    let stored =
        std::fs::read_to_string(Path::new(me.config.path()).join("zaqar/client-id")).unwrap();
    assert!(uuid::Uuid::parse_str(stored.trim()).is_ok(), "{stored}");
}
