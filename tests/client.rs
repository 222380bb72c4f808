//! The client library (`zaqar::client`) against a real server: typed answers, paging
//! markers, claims, and errors that keep what the server said.

mod common;

use serde_json::json;
use zaqar::client::{Client, ClientError, ListOptions, NewMessage};

use common::TestServer;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_claims_and_paging() {
    let s = TestServer::start();
    let producer = Client::new(&s.url, "client-lib");
    let consumer = Client::new(&s.url, "client-lib");
    assert!(producer.create_queue("work", None).await.unwrap());
    assert!(!producer.create_queue("work", None).await.unwrap());

    let batch: Vec<NewMessage> = (0..5)
        .map(|i| NewMessage {
            ttl: Some(120),
            ..NewMessage::new(json!({ "i": i }))
        })
        .collect();
    let ids = producer.post("work", &batch).await.unwrap();
    assert_eq!(ids.len(), 5);

    // Pages of 2 follow the markers to the end, in FIFO order.
    let mut seen = Vec::new();
    let mut opts = ListOptions {
        limit: Some(2),
        ..ListOptions::default()
    };
    loop {
        let page = consumer.list_messages("work", &opts).await.unwrap();
        if page.items.is_empty() {
            assert_eq!(page.next, None);
            break;
        }
        seen.extend(page.items.iter().map(|m| m.id.clone()));
        opts.marker = page.next;
    }
    assert_eq!(seen, ids);
    // Without echo a client does not list its own messages.
    let own = producer
        .list_messages("work", &ListOptions::default())
        .await
        .unwrap();
    assert!(own.items.is_empty());

    let claim = consumer
        .claim("work", 60, 60, Some(3))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(claim.messages.len(), 3);
    assert_eq!(claim.messages[0].claim_id(), Some(claim.id.as_str()));
    assert_eq!(claim.messages[0].body, json!({"i": 0}));
    consumer
        .renew_claim("work", &claim.id, 120, 60)
        .await
        .unwrap();
    assert_eq!(
        consumer.get_claim("work", &claim.id).await.unwrap().ttl,
        120
    );
    match consumer.delete_message("work", &ids[0], None).await {
        Err(ClientError::Api { status, title, .. }) => {
            assert_eq!((status, title.as_str()), (403, "Unable to delete"));
        }
        other => panic!("deleting a claimed message without its claim: {other:?}"),
    }
    for m in &claim.messages {
        consumer
            .delete_message("work", &m.id, Some(&claim.id))
            .await
            .unwrap();
    }
    let popped = consumer.pop("work", 5).await.unwrap();
    assert_eq!(popped.len(), 2);
    assert!(consumer
        .claim("work", 60, 60, None)
        .await
        .unwrap()
        .is_none());
    let stats = consumer.queue_stats("work").await.unwrap();
    assert_eq!(stats["total"], 0);

    let page = producer.list_queues(None, None, true).await.unwrap();
    assert_eq!(page.items[0].name, "work");
    assert!(page.items[0].metadata.is_some());
    producer.delete_queue("work").await.unwrap();
}

#[tokio::test]
async fn errors_say_what_happened() {
    let s = TestServer::start();
    let c = Client::new(&s.url, "client-lib");
    match c.get_message("q", "nope").await {
        Err(ClientError::Api {
            status,
            title,
            description,
        }) => {
            assert_eq!(status, 404);
            assert_eq!(title, "Not found");
            assert!(description.contains("nope"), "{description}");
        }
        other => panic!("{other:?}"),
    }
    let gone = Client::new("http://127.0.0.1:1", "p");
    match gone.ping().await {
        Err(e @ ClientError::Connect { .. }) => {
            assert!(
                e.to_string().starts_with("cannot reach http://127.0.0.1:1"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}
