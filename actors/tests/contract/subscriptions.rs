//! Subscriptions: unique per subscriber, paged, updated, confirmed, expiring.

use zaqar_actors::model::{Metadata, SubscriptionUpdate};
use zaqar_actors::StorageError;

use crate::Fixture;

#[tokio::test]
async fn a_subscriber_has_one_subscription_per_queue() {
    let f = Fixture::new().await;
    let q = f.queue("subs");
    let options: Metadata = serde_json::from_str(r#"{"k": "v"}"#).unwrap();
    let a = f
        .data
        .create_subscription(&q, "http://127.0.0.1:9/a", 3600, options.clone())
        .await
        .unwrap();
    let again = f
        .data
        .create_subscription(&q, "http://127.0.0.1:9/a", 60, Metadata::new())
        .await
        .unwrap();
    assert_eq!(again, a, "the same subscriber keeps its subscription");
    let b = f
        .data
        .create_subscription(&q, "http://127.0.0.1:9/b", 3600, Metadata::new())
        .await
        .unwrap();
    let got = f.data.get_subscription(&q, &a).await.unwrap();
    assert_eq!(
        (
            got.subscriber.as_str(),
            got.ttl,
            &got.options,
            got.confirmed,
            got.source.as_str()
        ),
        ("http://127.0.0.1:9/a", 3600, &options, false, "subs")
    );
    let first = f.data.list_subscriptions(&q, None, 1).await.unwrap();
    let rest = f
        .data
        .list_subscriptions(&q, Some(first[0].id.clone()), 10)
        .await
        .unwrap();
    let mut listed: Vec<String> = first.iter().chain(&rest).map(|s| s.id.clone()).collect();
    listed.sort();
    let mut want = vec![a.clone(), b.clone()];
    want.sort();
    assert_eq!(listed, want, "two pages, each subscription once");

    let onto_b = SubscriptionUpdate {
        subscriber: Some("http://127.0.0.1:9/b".into()),
        ..Default::default()
    };
    let r = f.data.update_subscription(&q, &a, onto_b).await;
    assert!(
        matches!(r, Err(StorageError::SubscriptionAlreadyExists)),
        "{r:?}"
    );
    let change = SubscriptionUpdate {
        subscriber: Some("http://127.0.0.1:9/c".into()),
        ttl: Some(7200),
        options: Some(Metadata::new()),
    };
    f.data.update_subscription(&q, &a, change).await.unwrap();
    let got = f.data.get_subscription(&q, &a).await.unwrap();
    assert_eq!(
        (got.subscriber.as_str(), got.ttl),
        ("http://127.0.0.1:9/c", 7200)
    );
    assert!(got.options.is_empty());
    // Its old subscriber is free again.
    let d = f
        .data
        .create_subscription(&q, "http://127.0.0.1:9/a", 3600, Metadata::new())
        .await
        .unwrap();
    assert_ne!(d, a);

    f.data.confirm_subscription(&q, &a, true).await.unwrap();
    assert!(f.data.get_subscription(&q, &a).await.unwrap().confirmed);
    let r = f.data.confirm_subscription(&q, "nope", true).await;
    assert!(
        matches!(r, Err(StorageError::SubscriptionDoesNotExist { .. })),
        "{r:?}"
    );
    f.data.delete_subscription(&q, &a).await.unwrap();
    f.data.delete_subscription(&q, "nope").await.unwrap();
    assert!(f.data.get_subscription(&q, &a).await.is_err());
}

#[tokio::test]
async fn a_subscription_expires_and_its_subscriber_can_subscribe_again() {
    let f = Fixture::new().await;
    let q = f.queue("expiring");
    let first = f
        .data
        .create_subscription(&q, "mailto:a@example.com", 60, Metadata::new())
        .await
        .unwrap();
    f.advance(61);
    assert!(f.data.get_subscription(&q, &first).await.is_err());
    assert!(f
        .data
        .list_subscriptions(&q, None, 10)
        .await
        .unwrap()
        .is_empty());
    let r = f
        .data
        .update_subscription(
            &q,
            &first,
            SubscriptionUpdate {
                ttl: Some(100),
                ..Default::default()
            },
        )
        .await;
    assert!(
        matches!(r, Err(StorageError::SubscriptionDoesNotExist { .. })),
        "{r:?}"
    );
    let second = f
        .data
        .create_subscription(&q, "mailto:a@example.com", 60, Metadata::new())
        .await
        .unwrap();
    assert_ne!(second, first);
    assert_eq!(
        f.data.list_subscriptions(&q, None, 10).await.unwrap().len(),
        1
    );
}
