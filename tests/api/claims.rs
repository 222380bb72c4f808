//! Claims over HTTP: create, get, renew, delete with claim ids, release, limits.

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn claim_get_renew_delete_release() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages("q", json!([{"body": "a"}, {"body": "b"}, {"body": "c"}]))
        .await;
    let r = api
        .post(
            "/v2/queues/q/claims?limit=2",
            json!({"ttl": 300, "grace": 60}),
        )
        .await;
    assert_eq!(r.status, 201);
    let loc = r.header("location").unwrap().to_owned();
    let claim = loc.rsplit('/').next().unwrap().to_owned();
    assert_eq!(loc, format!("/v2/queues/q/claims/{claim}"));
    let msgs = r.json["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["id"], ids[0].as_str());
    assert_eq!(
        msgs[0]["href"],
        format!("/v2/queues/q/messages/{}?claim_id={claim}", ids[0])
    );

    let r = api.get(&loc).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["ttl"], 300);
    assert_eq!(r.json["href"], loc.as_str());
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 2);

    let r = api
        .call(
            reqwest::Method::PATCH,
            &loc,
            Some(json!({"ttl": 400, "grace": 60})),
        )
        .await;
    assert_eq!(r.status, 204);
    assert_eq!(api.get(&loc).await.json["ttl"], 400);

    // Deleting a claimed message: without claim id 403, with a bad one 400, with its own 204.
    let m0 = format!("/v2/queues/q/messages/{}", ids[0]);
    api.delete(&m0).await.assert_error(403, "Unable to delete");
    api.delete(&format!("{m0}?claim_id=bad"))
        .await
        .assert_error(400, "Unable to delete");
    assert_eq!(
        api.delete(&format!("{m0}?claim_id={claim}")).await.status,
        204
    );
    assert_eq!(api.get(&m0).await.status, 404);
    assert_eq!(
        api.get(&loc).await.json["messages"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // A live claim that holds other messages is not this message's claim: 403.
    let (other_claim, other_ids) = api.claim("q", "", json!({})).await.unwrap();
    assert_eq!(other_ids, vec![ids[2].clone()]);
    let m1 = format!("/v2/queues/q/messages/{}", ids[1]);
    api.delete(&format!("{m1}?claim_id={other_claim}"))
        .await
        .assert_error(403, "Unable to delete");

    // Release: the claim is gone and its messages are free again.
    assert_eq!(api.delete(&loc).await.status, 204);
    let r = api.get(&loc).await;
    r.assert_error(404, "Not found");
    assert!(r.json["description"].as_str().unwrap().contains(&claim));
    assert_eq!(api.stats("q").await["free"], 1);
    assert_eq!(api.delete(&m1).await.status, 204);
}

#[tokio::test]
async fn nothing_claimable_is_204_and_limits_hold() {
    let s = TestServer::start();
    let api = s.api();
    assert!(api
        .claim("q", "", json!({"ttl": 60, "grace": 60}))
        .await
        .is_none());
    let many: Vec<_> = (0..15).map(|i| json!({"body": i})).collect();
    api.post_messages("q", json!(many)).await;
    // Default claim size is 10.
    assert_eq!(api.claim("q", "", json!({})).await.unwrap().1.len(), 10);
    assert_eq!(api.claim("q", "", json!({})).await.unwrap().1.len(), 5);
    assert!(api.claim("q", "", json!({})).await.is_none());

    api.post("/v2/queues/q/claims", json!({"ttl": 10}))
        .await
        .assert_error(400, "Invalid API request");
    api.post("/v2/queues/q/claims", json!({"ttl": 43201}))
        .await
        .assert_error(400, "Invalid API request");
    api.post("/v2/queues/q/claims", json!({"ttl": 60, "grace": 1}))
        .await
        .assert_error(400, "Invalid API request");
    api.post("/v2/queues/q/claims?limit=21", json!({}))
        .await
        .assert_error(400, "Invalid API request");
    api.post("/v2/queues/q/claims?limit=0", json!({}))
        .await
        .assert_error(400, "Invalid API request");
    api.post("/v2/queues/q/claims", json!({"ttl": "x"}))
        .await
        .assert_error(400, "Invalid request body");
    let r = api
        .call(
            reqwest::Method::PATCH,
            "/v2/queues/q/claims/nope",
            Some(json!({"ttl": 60})),
        )
        .await;
    r.assert_error(404, "Not found");
}
