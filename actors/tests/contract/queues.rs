//! Queues: create, metadata, listing, stats, delete, and projects that never meet.

use zaqar_actors::model::{Metadata, QueueId};
use zaqar_actors::StorageError;

use crate::{ids, seen_by_other, Fixture};

fn md(json: &str) -> Metadata {
    serde_json::from_str(json).unwrap()
}

#[tokio::test]
async fn queues_are_created_once_and_keep_their_metadata() {
    let f = Fixture::new().await;
    let q = f.queue("meta");
    assert!(f.data.create_queue(&q, md(r#"{"a": 1}"#)).await.unwrap());
    assert!(
        !f.data.create_queue(&q, md(r#"{"a": 2}"#)).await.unwrap(),
        "a second create"
    );
    assert_eq!(
        f.data.queue_metadata(&q).await.unwrap(),
        Some(md(r#"{"a": 1}"#))
    );
    f.data
        .set_queue_metadata(&q, md(r#"{"b": [1, 2]}"#))
        .await
        .unwrap();
    assert_eq!(
        f.data.queue_metadata(&q).await.unwrap(),
        Some(md(r#"{"b": [1, 2]}"#))
    );
    let missing = f.queue("missing");
    let r = f.data.set_queue_metadata(&missing, Metadata::new()).await;
    assert!(
        matches!(r, Err(StorageError::QueueDoesNotExist { .. })),
        "{r:?}"
    );
    assert!(f.data.queue_metadata(&missing).await.unwrap().is_none());
}

#[tokio::test]
async fn queues_are_listed_by_name_a_page_at_a_time() {
    let f = Fixture::new().await;
    let names = ["b", "a.1", "c", "a", "a-2", "d_3"];
    for n in names {
        f.data
            .create_queue(&f.queue(n), md(&format!(r#"{{"n": "{n}"}}"#)))
            .await
            .unwrap();
    }
    let mut listed = Vec::new();
    let mut marker = None;
    loop {
        let page = f.data.list_queues(&f.project, marker, 4).await.unwrap();
        let Some(last) = page.last() else { break };
        marker = Some(last.name.clone());
        assert!(page.iter().all(|e| e.metadata["n"] == e.name.as_str()));
        listed.extend(page.into_iter().map(|e| e.name));
    }
    let mut sorted: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    sorted.sort();
    assert_eq!(listed, sorted);
}

#[tokio::test]
async fn deleting_a_queue_takes_its_messages_claims_and_subscriptions() {
    let f = Fixture::new().await;
    let q = f.queue("gone");
    let posted = f.post(&q, &["1", "2"]).await;
    let claim = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    f.data
        .create_subscription(&q, "mailto:a@example.com", 3600, Metadata::new())
        .await
        .unwrap();
    f.data.delete_queue(&q).await.unwrap();
    assert!(f.data.queue_metadata(&q).await.unwrap().is_none());
    assert!(f.data.get_messages(&q, posted).await.unwrap().is_empty());
    assert!(f.data.get_claim(&q, &claim.id).await.is_err());
    assert!(f
        .data
        .list_subscriptions(&q, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(f.data.queue_stats(&q).await.unwrap().total, 0);
    // A queue of that name starts empty.
    f.post(&q, &["3"]).await;
    assert_eq!(f.list_all(&q, seen_by_other()).await.len(), 1);
}

#[tokio::test]
async fn stats_count_claimed_and_free_and_name_the_ends() {
    let f = Fixture::new().await;
    let q = f.queue("stats");
    let posted = f.post(&q, &["1", "2", "3"]).await;
    f.data.create_claim(&q, 60, 0, 1).await.unwrap();
    let stats = f.data.queue_stats(&q).await.unwrap();
    assert_eq!((stats.claimed, stats.free, stats.total), (1, 2, 3));
    assert_eq!(stats.oldest.map(|m| m.id), Some(posted[0].clone()));
    assert_eq!(stats.newest.map(|m| m.id), Some(posted[2].clone()));
}

#[tokio::test]
async fn projects_never_see_each_others_queues() {
    let f = Fixture::new().await;
    // Characters a key layout could confuse: the separator, and one project's name a
    // prefix of the other's.
    let a = QueueId::new(format!("{}:x", f.project), "shared");
    let b = QueueId::new(format!("{}:x:y", f.project), "shared");
    let in_a = f.post(&a, &["\"a\""]).await;
    f.post(&b, &["\"b\""]).await;
    assert_eq!(ids(&f.list_all(&a, seen_by_other()).await), in_a);
    assert!(f
        .data
        .get_messages(&b, in_a.clone())
        .await
        .unwrap()
        .is_empty());
    let claim = f.data.create_claim(&b, 60, 0, 10).await.unwrap().unwrap();
    assert_eq!(claim.messages.len(), 1);
    assert!(
        f.data.get_claim(&a, &claim.id).await.is_err(),
        "claims stay in their project"
    );
    f.data.delete_messages(&b, in_a.clone()).await.unwrap();
    f.data.delete_queue(&b).await.unwrap();
    assert_eq!(
        ids(&f.data.get_messages(&a, in_a.clone()).await.unwrap()),
        in_a
    );
    let listed = f.data.list_queues(&a.project, None, 10).await.unwrap();
    assert_eq!(
        listed.iter().map(|e| e.name.as_str()).collect::<Vec<_>>(),
        ["shared"]
    );
    assert!(f
        .data
        .list_queues(&b.project, None, 10)
        .await
        .unwrap()
        .is_empty());
}
