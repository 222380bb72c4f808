//! Claim exclusivity under concurrency: many consumers, one queue, every message delivered
//! to exactly one live claim and deleted exactly once.

use std::collections::HashMap;

use serde_json::json;

use crate::common::{claim_and_delete_all, Deliveries, TestServer};

const MESSAGES: usize = 1000;
const CLAIMERS: usize = 24;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_claimers_never_share_a_message() {
    let s = TestServer::start_with(|c| c.server.workers = 4);
    let api = s.api();
    let mut posted = Vec::with_capacity(MESSAGES);
    for batch in 0..MESSAGES / 20 {
        let msgs: Vec<_> = (0..20).map(|i| json!({"body": batch * 20 + i})).collect();
        posted.extend(api.post_messages("work", json!(msgs)).await);
    }
    assert_eq!(posted.len(), MESSAGES);

    let deliveries = Deliveries::default();
    let mut tasks = Vec::new();
    for _ in 0..CLAIMERS {
        let consumer = api.other_client();
        tasks.push(tokio::spawn(claim_and_delete_all(
            consumer.clone(),
            consumer,
            "work",
            deliveries.clone(),
        )));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    assert_eq!(total, MESSAGES, "each message deleted exactly once");
    {
        let delivered = deliveries.lock().unwrap();
        assert_eq!(delivered.len(), MESSAGES);
        assert!(posted.iter().all(|id| delivered.contains_key(id)));
    }
    assert_eq!(
        api.stats("work").await,
        json!({"claimed": 0, "free": 0, "total": 0})
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_posts_are_all_kept() {
    let s = TestServer::start_with(|c| c.server.workers = 4);
    let api = s.api();
    let mut tasks = Vec::new();
    for p in 0..16 {
        let producer = api.other_client();
        tasks.push(tokio::spawn(async move {
            let mut ids = Vec::new();
            for b in 0..5 {
                let msgs: Vec<_> = (0..10).map(|i| json!({"body": [p, b, i]})).collect();
                ids.extend(producer.post_messages("in", json!(msgs)).await);
            }
            ids
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    all.sort();
    all.dedup();
    assert_eq!(all.len(), 16 * 5 * 10, "ids are unique");
    assert_eq!(api.stats("in").await["total"], 800);

    // Per-queue order: walking the queue, each producer's messages come in the order it
    // posted them.
    let mut last: HashMap<i64, (i64, i64)> = HashMap::new();
    let mut seen = 0;
    let mut next = "/v2/queues/in/messages?echo=true&limit=20".to_owned();
    loop {
        let r = api.get(&next).await;
        let page = r.json["messages"].as_array().unwrap().clone();
        if page.is_empty() {
            break;
        }
        for m in &page {
            let body = &m["body"];
            let (p, b, i) = (
                body[0].as_i64().unwrap(),
                body[1].as_i64().unwrap(),
                body[2].as_i64().unwrap(),
            );
            if let Some(prev) = last.insert(p, (b, i)) {
                assert!(
                    prev < (b, i),
                    "producer {p}: {prev:?} listed before {:?}",
                    (b, i)
                );
            }
            seen += 1;
        }
        next = r.json["links"][0]["href"].as_str().unwrap().to_owned();
    }
    assert_eq!(seen, 800);
}
