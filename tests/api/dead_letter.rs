//! Dead-letter queues (`_max_claim_count`, `_dead_letter_queue`): a message claimed more
//! often than allowed moves to the dead-letter queue instead of being delivered again.

use serde_json::json;

use crate::common::{Api, TestServer};

const CLAIM: &str = r#"{"ttl": 60, "grace": 60}"#;

async fn claim(api: &Api, queue: &str, limit: u32) -> Option<(String, Vec<String>)> {
    api.claim(
        queue,
        &format!("?limit={limit}"),
        serde_json::from_str(CLAIM).unwrap(),
    )
    .await
}

async fn release(api: &Api, queue: &str, claim: &str) {
    let r = api
        .delete(&format!("/v2/queues/{queue}/claims/{claim}"))
        .await;
    assert_eq!(r.status, 204, "{r:?}");
}

/// The bodies of every message of `queue` (claimed ones too), in order.
async fn bodies(api: &Api, queue: &str) -> Vec<serde_json::Value> {
    let mut out = Vec::new();
    let mut path = format!("/v2/queues/{queue}/messages?echo=true&include_claimed=true&limit=20");
    loop {
        let r = api.get(&path).await;
        assert_eq!(r.status, 200, "{r:?}");
        let page = r.json["messages"].as_array().cloned().unwrap_or_default();
        if page.is_empty() {
            return out;
        }
        out.extend(page.iter().map(|m| m["body"].clone()));
        path = r.json["links"][0]["href"].as_str().unwrap().to_owned();
    }
}

#[tokio::test]
async fn a_message_claimed_too_often_moves_to_the_dead_letter_queue() {
    let s = TestServer::start();
    let api = s.api();
    let policy = json!({
        "_max_claim_count": 2,
        "_dead_letter_queue": "dead",
        "_dead_letter_queue_messages_ttl": 120,
    });
    assert_eq!(api.put("/v2/queues/work", Some(policy)).await.status, 201);
    let ids = api
        .post_messages("work", json!([{"body": {"task": 1}, "ttl": 600}]))
        .await;

    // Delivered twice: the allowed number of claims.
    for _ in 0..2 {
        let (c, got) = claim(&api, "work", 5).await.expect("delivered");
        assert_eq!(got, ids);
        release(&api, "work", &c).await;
    }
    // The third claim finds it over the count: nothing to deliver, and it has moved.
    assert!(claim(&api, "work", 5).await.is_none());
    assert!(bodies(&api, "work").await.is_empty());
    let r = api.get("/v2/queues/dead/messages?echo=true").await;
    assert_eq!(r.status, 200, "{r:?}");
    let moved = &r.json["messages"][0];
    assert_eq!(moved["body"], json!({"task": 1}));
    assert_eq!(moved["ttl"], 120, "the dead-letter TTL applies");
    // It is an ordinary, claimable message there.
    assert!(claim(&api, "dead", 5).await.is_some());
    // The dead-letter queue exists now.
    assert_eq!(api.get("/v2/queues/dead/stats").await.status, 200);
}

#[tokio::test]
async fn deliverable_messages_are_delivered_with_dead_ones_moved_beside_them() {
    let s = TestServer::start();
    let api = s.api();
    let policy = json!({"_max_claim_count": 1, "_dead_letter_queue": "dead"});
    assert_eq!(api.put("/v2/queues/work", Some(policy)).await.status, 201);
    let first = api
        .post_messages("work", json!([{"body": "old", "ttl": 600}]))
        .await;
    let (c, _) = claim(&api, "work", 5).await.unwrap();
    release(&api, "work", &c).await;
    let fresh = api
        .post_messages("work", json!([{"body": "new", "ttl": 600}]))
        .await;
    // One claim: the old message (second claim) is dead, the new one delivered.
    let (_, got) = claim(&api, "work", 5).await.unwrap();
    assert_eq!(got, fresh);
    assert!(!got.contains(&first[0]));
    assert_eq!(bodies(&api, "dead").await, vec![json!("old")]);
    // Without both keys there is no policy: a message is delivered however often.
    assert_eq!(
        api.put("/v2/queues/plain", Some(json!({"_max_claim_count": 1})))
            .await
            .status,
        201
    );
    api.post_messages("plain", json!([{"body": 1}])).await;
    for _ in 0..3 {
        let (c, _) = claim(&api, "plain", 5).await.expect("no policy, delivered");
        release(&api, "plain", &c).await;
    }
}

/// Concurrent claimers: every message is either delivered or moved, never both, and the
/// dead-letter queue gets each dead message once.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_deliver_a_dead_message_and_lose_none() {
    let s = TestServer::start();
    let api = s.api();
    let policy = json!({"_max_claim_count": 1, "_dead_letter_queue": "dead"});
    assert_eq!(api.put("/v2/queues/work", Some(policy)).await.status, 201);
    let n = 40;
    let batch: Vec<_> = (0..n).map(|i| json!({"body": i, "ttl": 600})).collect();
    for chunk in batch.chunks(20) {
        api.post_messages("work", json!(chunk)).await;
    }
    // Every message claimed once (allowed), then released.
    let mut claims = Vec::new();
    while let Some((c, got)) = claim(&api, "work", 20).await {
        claims.push((c, got.len()));
    }
    assert_eq!(claims.iter().map(|(_, k)| k).sum::<usize>(), n);
    for (c, _) in claims {
        release(&api, "work", &c).await;
    }
    // Now every message is over the count: concurrent claims deliver none of them.
    let claimers: Vec<_> = (0..6)
        .map(|_| {
            let api = api.clone();
            tokio::spawn(async move {
                let mut delivered = Vec::new();
                for _ in 0..10 {
                    if let Some((_, got)) = claim(&api, "work", 7).await {
                        delivered.extend(got);
                    }
                }
                delivered
            })
        })
        .collect();
    for c in claimers {
        assert!(c.await.unwrap().is_empty(), "a dead message was delivered");
    }
    let mut moved: Vec<i64> = bodies(&api, "dead")
        .await
        .iter()
        .map(|b| b.as_i64().unwrap())
        .collect();
    moved.sort_unstable();
    assert_eq!(
        moved,
        (0..n as i64).collect::<Vec<_>>(),
        "each moved once, none lost"
    );
    assert!(bodies(&api, "work").await.is_empty());
}
