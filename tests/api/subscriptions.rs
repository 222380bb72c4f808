//! Subscription records over HTTP: lifecycle, validation, expiry.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn subscription_lifecycle() {
    let s = TestServer::start();
    let api = s.api();
    let base = "/v2/queues/demo/subscriptions";
    let r = api
        .post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600, "options": {"k": "v"}}),
        )
        .await;
    assert_eq!(r.status, 201);
    let id = r.json["subscription_id"].as_str().unwrap().to_owned();
    // The same subscriber again keeps its subscription.
    let r = api
        .post(
            base,
            json!({"subscriber": "http://127.0.0.1:9/hook", "ttl": 3600}),
        )
        .await;
    assert_eq!(r.json["subscription_id"], id.as_str());

    let r = api.get(base).await;
    // Its age is read from the wall clock (a slow backend may take a second to answer):
    // moved forward by the server's clock, it grows by as much.
    let mut listed = r.json["subscriptions"][0].clone();
    let age = listed["age"].as_i64().expect("an integer age");
    listed["age"] = json!(0);
    assert_eq!(
        listed,
        json!({
            "id": id, "source": "demo", "subscriber": "http://127.0.0.1:9/hook",
            "ttl": 3600, "age": 0, "options": {"k": "v"}, "confirmed": false
        })
    );
    s.clock.advance(std::time::Duration::from_secs(120));
    let later = api.get(base).await.json["subscriptions"][0]["age"]
        .as_i64()
        .unwrap();
    assert!(later >= age + 120, "age {age} then {later}");
    let one = format!("{base}/{id}");
    assert_eq!(
        api.call(Method::PATCH, &one, Some(json!({"ttl": 7200})))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&one).await.json["ttl"], 7200);
    assert_eq!(
        api.put(&format!("{one}/confirm"), Some(json!({"confirmed": true})))
            .await
            .status,
        204
    );
    assert_eq!(api.get(&one).await.json["confirmed"], true);
    assert_eq!(api.delete(&one).await.status, 204);
    api.get(&one).await.assert_error(404, "Not found");

    api.post(base, json!({"subscriber": "ftp://x", "ttl": 3600}))
        .await
        .assert_error(400, "Invalid API request");
    api.post(base, json!({"ttl": 3600}))
        .await
        .assert_error(400, "Invalid request body");
    api.post(base, json!({"subscriber": "http://x", "ttl": 1}))
        .await
        .assert_error(400, "Invalid API request");
}

#[tokio::test]
async fn subscriptions_expire() {
    let s = TestServer::start();
    let api = s.api();
    let r = api
        .post(
            "/v2/queues/q/subscriptions",
            json!({"subscriber": "mailto:a@b.c", "ttl": 60}),
        )
        .await;
    let id = r.json["subscription_id"].as_str().unwrap().to_owned();
    s.clock.advance(std::time::Duration::from_secs(61));
    assert_eq!(
        api.get(&format!("/v2/queues/q/subscriptions/{id}"))
            .await
            .status,
        404
    );
    assert_eq!(
        api.get("/v2/queues/q/subscriptions").await.json["subscriptions"],
        json!([])
    );
}
