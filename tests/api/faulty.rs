//! A backend that fails answers 503 with a Zaqar error body: never a hang, never a crash,
//! and never the backend's own error text.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn every_storage_operation_answers_503() {
    let s = TestServer::start_with(|c| {
        c.storage.message_store = "faulty://".into();
        // The faulty store cannot hold a catalog either.
        c.pooling.enabled = false;
    });
    let api = s.api();
    let calls: Vec<(Method, &str, Option<serde_json::Value>)> = vec![
        (Method::GET, "/v2/ping", None),
        (Method::GET, "/v2/queues", None),
        (Method::PUT, "/v2/queues/q", None),
        (Method::GET, "/v2/queues/q", None),
        (Method::DELETE, "/v2/queues/q", None),
        (Method::GET, "/v2/queues/q/stats", None),
        (
            Method::POST,
            "/v2/queues/q/messages",
            Some(json!({"messages": [{"body": 1}]})),
        ),
        (Method::GET, "/v2/queues/q/messages", None),
        (Method::GET, "/v2/queues/q/messages/x", None),
        (Method::DELETE, "/v2/queues/q/messages/x", None),
        (Method::DELETE, "/v2/queues/q/messages?pop=1", None),
        (Method::POST, "/v2/queues/q/claims", Some(json!({}))),
        (Method::GET, "/v2/queues/q/claims/c", None),
        (
            Method::POST,
            "/v2/queues/q/purge",
            Some(json!({"resource_types": ["messages"]})),
        ),
        (Method::GET, "/v2/queues/q/subscriptions", None),
    ];
    for (method, path, body) in calls {
        let r = api.call(method.clone(), path, body).await;
        r.assert_error(503, "Service temporarily unavailable");
        assert!(
            !r.text.contains("faulty store"),
            "{method} {path}: backend text leaked: {}",
            r.text
        );
    }
    // Health reports the failure instead of failing.
    let r = api
        .send(
            api.request(Method::GET, "/v2/health")
                .header("X-Roles", "admin"),
        )
        .await;
    assert_eq!(r.json["catalog_reachable"], false);
    // Bad input is still rejected before any storage call.
    api.put("/v2/queues/bad%20name", None)
        .await
        .assert_error(400, "Invalid queue identification");
}
