//! What an operator sees: one access-log line per request (4xx included), JSON lines on
//! request, and a storage failure logged once with its pool, queue and request id.

mod common;

use std::time::Duration;

use common::process;

fn server(dir: &std::path::Path, config: &str) -> process::Server {
    let conf = dir.join("zaqar.toml");
    std::fs::write(&conf, config).unwrap();
    process::start(
        dir,
        &["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"],
    )
}

/// The next log line that contains every one of `words` (bounded: the server logs each
/// request before its answer is complete, so the line is there by the time we look).
fn line_with(server: &process::Server, words: &[&str]) -> String {
    loop {
        let line = server
            .log
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("no log line with {words:?}"));
        if words.iter().all(|w| line.contains(w)) {
            return line;
        }
    }
}

async fn get(url: &str, project: &str) -> reqwest::Response {
    common::client()
        .get(url)
        .header("Client-ID", uuid::Uuid::new_v4().to_string())
        .header("X-Project-ID", project)
        .send()
        .await
        .unwrap()
}

fn request_id(r: &reqwest::Response) -> String {
    r.headers()["x-openstack-request-id"]
        .to_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn every_request_gets_one_access_line_with_its_route_status_and_ids() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        dir.path(),
        &format!(
            "[storage]\nmessage_store = \"sqlite://{}/z.db\"\n",
            dir.path().display()
        ),
    );
    let ok = get(&format!("{}/v2/queues", s.url), "logs-project").await;
    assert_eq!(ok.status(), 200);
    let line = line_with(&s, &["zaqar::access", &request_id(&ok)]);
    for word in [
        "method=GET",
        "route=/v2/queues",
        "status=200",
        "project=logs-project",
        "latency_ms=",
    ] {
        assert!(line.contains(word), "{word} missing: {line}");
    }
    // A refusal is logged too, with the route template, never the raw path.
    let bad = get(
        &format!("{}/v2/queues/q/claims/secret-claim-id", s.url),
        "logs-project",
    )
    .await;
    assert_eq!(bad.status(), 404);
    let line = line_with(&s, &["zaqar::access", &request_id(&bad)]);
    assert!(line.contains("status=404"), "{line}");
    assert!(
        line.contains("route=/v2/queues/{queue}/claims/{id}"),
        "{line}"
    );
    assert!(!line.contains("secret-claim-id"), "{line}");
}

#[tokio::test]
async fn json_log_lines_parse_and_name_the_request() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(
        dir.path(),
        &format!(
            "[log]\nformat = \"json\"\n[storage]\nmessage_store = \"sqlite://{}/z.db\"\n",
            dir.path().display()
        ),
    );
    let r = get(&format!("{}/v2/queues/bad%20name", s.url), "p").await;
    assert_eq!(r.status(), 400);
    let line = line_with(&s, &["zaqar::access", &request_id(&r)]);
    let event: serde_json::Value = serde_json::from_str(&line).expect("a JSON line");
    assert_eq!(event["fields"]["status"], 400, "{line}");
    assert_eq!(event["fields"]["route"], "/v2/queues/{queue}", "{line}");
    assert_eq!(event["level"], "INFO");
}

#[tokio::test]
async fn a_storage_failure_names_pool_queue_and_request_id() {
    let dir = tempfile::tempdir().unwrap();
    let s = server(dir.path(), "[storage]\nmessage_store = \"faulty://\"\n");
    let r = get(&format!("{}/v2/queues/broken/stats", s.url), "tenant-a").await;
    assert_eq!(r.status(), 503);
    let id = request_id(&r);
    let line = line_with(&s, &["storage unavailable", &id]);
    assert!(line.contains("pool default"), "{line}");
    assert!(line.contains("queue tenant-a/broken"), "{line}");
    assert!(line.contains("ERROR"), "{line}");
}

/// A server tracing requests signed with key `k1`, its collector a closed port; each
/// `OTEL_*` variable of `env` is passed on.
#[cfg(feature = "profiler")]
fn traced_server(dir: &std::path::Path, env: &[(&str, &str)]) -> process::Server {
    let conf = dir.join("zaqar.toml");
    std::fs::write(
        &conf,
        format!(
            "[storage]\nmessage_store = \"sqlite://{}/z.db\"\n[profiler]\nenabled = true\nhmac_keys = [\"k1\"]\n",
            dir.display()
        ),
    )
    .unwrap();
    let closed = format!("http://127.0.0.1:{}", common::free_port());
    let mut env = env.to_vec();
    env.push(("OTEL_EXPORTER_OTLP_ENDPOINT", closed.as_str()));
    process::start_with_env(
        dir,
        &["--config", conf.to_str().unwrap(), "--bind", "127.0.0.1:0"],
        &env,
    )
}

/// `zaqar queue list` for `project`, signed with `k1` (the command line's --profile).
#[cfg(feature = "profiler")]
fn signed_queue_list(s: &process::Server, project: &str) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_zaqar"))
        .args(["--url", &s.url, "--profile", "k1", "queue", "list"])
        .env("ZAQAR_PROJECT", project)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// With the OTLP collector unreachable, the exporter's failure reaches the log (once per
/// interval, not per span).
#[cfg(feature = "profiler")]
#[tokio::test]
async fn an_unreachable_collector_is_logged() {
    let dir = tempfile::tempdir().unwrap();
    let s = traced_server(
        dir.path(),
        &[
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            ("OTEL_BSP_SCHEDULE_DELAY", "100"),
        ],
    );
    signed_queue_list(&s, "traced");
    let line = line_with(&s, &["OTLP export failed: collector unreachable"]);
    assert!(line.contains("ERROR"), "{line}");
}

/// A traced request's access line is the line any request gets: its spans go to the
/// exporter, not into the log (each line of a signed request used to carry its HTTP span's
/// fields as a prefix, formatted at every span's opening).
#[cfg(feature = "profiler")]
#[tokio::test]
async fn a_signed_request_logs_the_line_any_request_gets() {
    let dir = tempfile::tempdir().unwrap();
    let s = traced_server(dir.path(), &[]);
    signed_queue_list(&s, "signed-project");
    let line = line_with(&s, &["zaqar::access", "project=signed-project"]);
    assert!(line.contains("trace_id="), "a traced request: {line}");
    assert!(
        line.contains(" INFO zaqar::access: request method=GET route=/v2/queues "),
        "{line}"
    );
    assert!(!line.contains("otel.") && !line.contains('{'), "{line}");
}
