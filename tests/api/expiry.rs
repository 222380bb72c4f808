//! Expiry is exact at read time: time moves through the server's clock, not sleeps.

use std::time::Duration;

use serde_json::json;

use crate::common::TestServer;

#[tokio::test]
async fn expired_messages_vanish_everywhere() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages(
            "q",
            json!([{"ttl": 60, "body": "short"}, {"ttl": 120, "body": "long"}]),
        )
        .await;
    s.clock.advance(Duration::from_secs(59));
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        200
    );
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .json["age"],
        59
    );
    s.clock.advance(Duration::from_secs(2));
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        404
    );
    let r = api.get("/v2/queues/q/messages?echo=true").await;
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 1);
    assert_eq!(api.stats("q").await["total"], 1);
    let (_, claimed) = api.claim("q", "", json!({})).await.unwrap();
    assert_eq!(claimed, vec![ids[1].clone()]);
    assert_eq!(
        api.delete("/v2/queues/q/messages?pop=1").await.json["messages"],
        json!([])
    );
}

#[tokio::test]
async fn expired_claims_release_their_messages() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api.post_messages("q", json!([{"body": 1}])).await;
    let (claim, _) = api
        .claim("q", "", json!({"ttl": 60, "grace": 60}))
        .await
        .unwrap();
    assert!(
        api.claim("q", "", json!({})).await.is_none(),
        "held by the live claim"
    );
    s.clock.advance(Duration::from_secs(61));
    assert_eq!(
        api.get(&format!("/v2/queues/q/claims/{claim}"))
            .await
            .status,
        404
    );
    let r = api
        .call(
            reqwest::Method::PATCH,
            &format!("/v2/queues/q/claims/{claim}"),
            Some(json!({"ttl": 60})),
        )
        .await;
    assert_eq!(r.status, 404, "an expired claim cannot be renewed");
    // The expired claim no longer authorises a delete...
    let m = format!("/v2/queues/q/messages/{}", ids[0]);
    api.delete(&format!("{m}?claim_id={claim}"))
        .await
        .assert_error(400, "Unable to delete");
    // ...and the message is free: another consumer claims it.
    let (second, again) = api.claim("q", "", json!({})).await.unwrap();
    assert_eq!(again, ids);
    assert_ne!(second, claim);
}

#[tokio::test]
async fn grace_keeps_claimed_messages_alive() {
    let s = TestServer::start();
    let api = s.api();
    let ids = api
        .post_messages("q", json!([{"ttl": 60, "body": 1}]))
        .await;
    api.claim("q", "", json!({"ttl": 60, "grace": 120}))
        .await
        .unwrap();
    // The message's own TTL (60 s) is over, but claim TTL + grace (180 s) keeps it.
    s.clock.advance(Duration::from_secs(150));
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        200
    );
    s.clock.advance(Duration::from_secs(31));
    assert_eq!(
        api.get(&format!("/v2/queues/q/messages/{}", ids[0]))
            .await
            .status,
        404
    );
}

#[tokio::test]
async fn renewal_extends_a_claim() {
    let s = TestServer::start();
    let api = s.api();
    api.post_messages("q", json!([{"body": 1}])).await;
    let (claim, _) = api
        .claim("q", "", json!({"ttl": 60, "grace": 60}))
        .await
        .unwrap();
    s.clock.advance(Duration::from_secs(50));
    let loc = format!("/v2/queues/q/claims/{claim}");
    assert_eq!(
        api.call(
            reqwest::Method::PATCH,
            &loc,
            Some(json!({"ttl": 120, "grace": 60}))
        )
        .await
        .status,
        204
    );
    s.clock.advance(Duration::from_secs(100));
    let r = api.get(&loc).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.json["messages"].as_array().unwrap().len(), 1);
    assert!(api.claim("q", "", json!({})).await.is_none());
}
