//! Versions, home document, ping, health and the request id every answer carries.

use reqwest::Method;

use crate::common::TestServer;

#[tokio::test]
async fn versions_need_no_headers() {
    let s = TestServer::start();
    let r = reqwest::get(format!("{}/", s.url)).await.unwrap();
    assert_eq!(r.status(), 300);
    assert!(r
        .headers()
        .get("x-openstack-request-id")
        .unwrap()
        .to_str()
        .unwrap()
        .starts_with("req-"));
    let v: serde_json::Value = r.json().await.unwrap();
    assert_eq!(v["versions"][0]["id"], "2");
    assert_eq!(v["versions"][0]["links"][0]["href"], "/v2/");
}

#[tokio::test]
async fn home_document() {
    let s = TestServer::start();
    let api = s.api();
    let r = api.get("/v2/").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("application/json-home"));
    assert_eq!(
        r.json["resources"]["rel/queue"]["href-template"],
        "/v2/queues/{queue_name}"
    );
    // Without the trailing slash there is no such resource, as in Zaqar.
    api.get("/v2").await.assert_error(404, "404 Not Found");
}

#[tokio::test]
async fn ping_and_head() {
    let s = TestServer::start();
    let api = s.api();
    assert_eq!(api.get("/v2/ping").await.status, 204);
    assert_eq!(api.call(Method::HEAD, "/v2/ping", None).await.status, 204);
}

#[tokio::test]
async fn health_is_for_admins() {
    let s = TestServer::start();
    let api = s.api();
    api.get("/v2/health")
        .await
        .assert_error(403, "Not authorized");
    let r = api
        .send(
            api.request(Method::GET, "/v2/health")
                .header("X-Roles", "member, admin"),
        )
        .await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["catalog_reachable"], true);
}

#[tokio::test]
async fn every_response_has_a_request_id() {
    let s = TestServer::start();
    let api = s.api();
    for r in [
        api.get("/v2/queues").await,
        api.get("/v2/nope").await,
        api.get("/v2/queues/x/stats").await,
    ] {
        let id = r.header("x-openstack-request-id").unwrap();
        assert!(id.starts_with("req-") && id.len() == 40, "{id}");
    }
}
