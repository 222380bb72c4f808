//! Queues over HTTP: create, list, metadata (lazy, JSON-patch, reserved keys), stats, purge, project isolation.

use reqwest::Method;
use serde_json::json;

use crate::common::TestServer;

const PATCH_TYPE: &str = "application/openstack-messaging-v2.0-json-patch";

#[tokio::test]
async fn create_exists_list_delete() {
    let s = TestServer::start();
    let api = s.api();
    let r = api.put("/v2/queues/demo", None).await;
    assert_eq!(r.status, 201);
    assert_eq!(r.header("location"), Some("/v2/queues/demo"));
    assert_eq!(api.put("/v2/queues/demo", None).await.status, 204);
    assert_eq!(
        api.put("/v2/queues/demo2", Some(json!({"description": "d"})))
            .await
            .status,
        201
    );

    let r = api.get("/v2/queues").await;
    assert_eq!(r.status, 200);
    assert_eq!(
        r.json["queues"],
        json!([
            {"name": "demo", "href": "/v2/queues/demo"},
            {"name": "demo2", "href": "/v2/queues/demo2"}
        ])
    );
    assert_eq!(r.json["links"][0]["href"], "/v2/queues?marker=demo2");

    let r = api.get("/v2/queues?detailed=true&limit=1").await;
    assert_eq!(r.json["queues"].as_array().unwrap().len(), 1);
    assert_eq!(
        r.json["queues"][0]["metadata"]["_default_message_ttl"],
        3600
    );
    let next = r.json["links"][0]["href"].as_str().unwrap().to_owned();
    assert_eq!(next, "/v2/queues?detailed=true&limit=1&marker=demo");
    let r = api.get(&next).await;
    assert_eq!(r.json["queues"][0]["name"], "demo2");
    assert_eq!(r.json["queues"][0]["metadata"]["description"], "d");
    let r = api.get(r.json["links"][0]["href"].as_str().unwrap()).await;
    assert_eq!(r.json, json!({"queues": [], "links": []}));

    assert_eq!(api.delete("/v2/queues/demo").await.status, 204);
    assert_eq!(api.delete("/v2/queues/demo").await.status, 204);
    let r = api.get("/v2/queues").await;
    assert_eq!(r.json["queues"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn metadata_get_lazy_and_patch() {
    let s = TestServer::start();
    let api = s.api();
    let r = api.get("/v2/queues/never").await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["_max_messages_post_size"], 262144);
    assert_eq!(r.json["_default_message_delay"], 0);
    assert_eq!(r.json["_dead_letter_queue"], json!(null));

    api.put(
        "/v2/queues/q",
        Some(json!({"description": "demo", "_default_message_ttl": 120})),
    )
    .await;
    let r = api.get("/v2/queues/q").await;
    assert_eq!(r.json["description"], "demo");
    assert_eq!(r.json["_default_message_ttl"], 120);

    let patch = json!([
        {"op": "replace", "path": "/metadata/description", "value": "changed"},
        {"op": "add", "path": "/metadata/owner", "value": "ops"}
    ]);
    let r = api
        .send(
            api.request(Method::PATCH, "/v2/queues/q")
                .header("Content-Type", PATCH_TYPE)
                .body(patch.to_string()),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json["description"], "changed");
    assert_eq!(r.json["owner"], "ops");
    assert_eq!(api.get("/v2/queues/q").await.json["owner"], "ops");

    let remove = json!([{"op": "remove", "path": "/metadata/owner"}]);
    let r = api
        .send(
            api.request(Method::PATCH, "/v2/queues/q")
                .header("Content-Type", PATCH_TYPE)
                .body(remove.to_string()),
        )
        .await;
    assert_eq!(r.status, 200);
    assert!(r.json.get("owner").is_none());

    // Wrong content type: 415; a bad reserved value: 400; a queue never created: 404.
    let r = api
        .send(
            api.request(Method::PATCH, "/v2/queues/q")
                .header("Content-Type", "application/json")
                .body("[]"),
        )
        .await;
    r.assert_error(415, "415 Unsupported Media Type");
    let bad = json!([{"op": "replace", "path": "/metadata/_default_message_ttl", "value": 5}]);
    let r = api
        .send(
            api.request(Method::PATCH, "/v2/queues/q")
                .header("Content-Type", PATCH_TYPE)
                .body(bad.to_string()),
        )
        .await;
    r.assert_error(400, "Invalid request body");
    let r = api
        .send(
            api.request(Method::PATCH, "/v2/queues/nope")
                .header("Content-Type", PATCH_TYPE)
                .body("[]"),
        )
        .await;
    assert_eq!(r.status, 404);
}

#[tokio::test]
async fn reserved_metadata_takes_effect() {
    let s = TestServer::start();
    let api = s.api();
    api.put(
        "/v2/queues/q",
        Some(json!({"_default_message_ttl": 120, "_default_message_delay": 30, "_max_messages_post_size": 100})),
    )
    .await;
    // _max_messages_post_size: a post over 100 bytes is refused for this queue only.
    let big = json!({"messages": [{"body": "x".repeat(200)}]});
    api.post("/v2/queues/q/messages", big.clone())
        .await
        .assert_error(400, "Invalid API request");
    assert_eq!(api.post("/v2/queues/other/messages", big).await.status, 201);

    let ids = api.post_messages("q", json!([{"body": 1}])).await;
    // _default_message_ttl
    let m = api.get(&format!("/v2/queues/q/messages/{}", ids[0])).await;
    assert_eq!(m.json["ttl"], 120);
    // _default_message_delay: invisible to listing and claims until the delay is over.
    let reader = api.other_client();
    assert_eq!(
        reader.get("/v2/queues/q/messages").await.json["messages"],
        json!([])
    );
    assert!(reader.claim("q", "", json!({})).await.is_none());
    let r = reader
        .get("/v2/queues/q/messages?include_delayed=true")
        .await;
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 1);
    s.clock.advance(std::time::Duration::from_secs(31));
    assert_eq!(
        reader.get("/v2/queues/q/messages").await.json["messages"][0]["id"],
        ids[0]
    );
}

#[tokio::test]
async fn stats_and_purge() {
    let s = TestServer::start();
    let api = s.api();
    assert_eq!(
        api.stats("q").await,
        json!({"claimed": 0, "free": 0, "total": 0})
    );
    let ids = api
        .post_messages("q", json!([{"body": "a"}, {"body": "b"}, {"body": "c"}]))
        .await;
    let st = api.stats("q").await;
    assert_eq!(
        (st["free"].as_i64(), st["total"].as_i64()),
        (Some(3), Some(3))
    );
    assert_eq!(
        st["oldest"]["href"],
        format!("/v2/queues/q/messages/{}", ids[0])
    );
    assert_eq!(
        st["newest"]["href"],
        format!("/v2/queues/q/messages/{}", ids[2])
    );
    assert_eq!(st["oldest"]["body"], "a");
    assert!(st["oldest"]["created"].as_str().unwrap().ends_with('Z'));

    let (claim, claimed) = api
        .claim("q", "?limit=1", json!({"ttl": 60}))
        .await
        .unwrap();
    assert_eq!(claimed, vec![ids[0].clone()]);
    let st = api.stats("q").await;
    assert_eq!(
        (st["claimed"].as_i64(), st["free"].as_i64()),
        (Some(1), Some(2))
    );
    assert_eq!(st["oldest"]["claim_id"], claim.as_str());

    // Purge removes the free messages; the claimed one stays with its consumer (as Zaqar).
    let r = api
        .post(
            "/v2/queues/q/purge",
            json!({"resource_types": ["messages"]}),
        )
        .await;
    assert_eq!(r.status, 204);
    let st = api.stats("q").await;
    assert_eq!(
        (st["claimed"].as_i64(), st["total"].as_i64()),
        (Some(1), Some(1))
    );
    api.post("/v2/queues/q/purge", json!({"resource_types": ["bogus"]}))
        .await
        .assert_error(400, "Invalid API request");
}

#[tokio::test]
async fn projects_are_isolated() {
    let s = TestServer::start();
    let a = s.api();
    let b = s.api();
    a.put("/v2/queues/shared", None).await;
    let ids = a.post_messages("shared", json!([{"body": "secret"}])).await;
    assert_eq!(b.get("/v2/queues").await.json["queues"], json!([]));
    assert_eq!(
        b.get("/v2/queues/shared/messages?echo=true").await.json["messages"],
        json!([])
    );
    assert_eq!(
        b.get(&format!("/v2/queues/shared/messages/{}", ids[0]))
            .await
            .status,
        404
    );
    assert!(b.claim("shared", "", json!({})).await.is_none());
    assert_eq!(
        b.delete(&format!("/v2/queues/shared/messages/{}", ids[0]))
            .await
            .status,
        204
    );
    assert_eq!(b.delete("/v2/queues/shared").await.status, 204);
    // Still there for its owner.
    assert_eq!(
        a.get(&format!("/v2/queues/shared/messages/{}", ids[0]))
            .await
            .json["body"],
        "secret"
    );
    assert_eq!(
        a.get("/v2/queues").await.json["queues"][0]["name"],
        "shared"
    );
}
