//! Hostile input is normal input: whatever the transport lets through, every backend
//! stores and hands back unchanged (bodies byte for byte, metadata and options key for
//! key, names of every allowed shape), and it never reaches another project.

use zaqar_actors::model::{Metadata, QueueId};

use crate::{bodies, seen_by_other, Fixture};

/// Bodies that have tripped message stores: escapes of NUL and of lone surrogates, keys a
/// document database treats as operators or paths, numbers past f64, deep nesting.
fn hostile_bodies() -> Vec<String> {
    let deep = format!("{}1{}", "[".repeat(60), "]".repeat(60));
    vec![
        r#""nul \u0000 inside""#.into(),
        r#"{"$set": {"a.b": 1}, "": null, "$where": "sleep(1)"}"#.into(),
        r#""\ud83d\ude00 and 😀 and \ud800 lone""#.into(),
        r#"[1e308, -0, 12345678901234567890123, 0.1000000000000000055511151231257827]"#.into(),
        deep,
        r#"{"line": "\u2028\u2029", "quote": "\"'`", "back": "\\"}"#.into(),
        r#"  {"spaced" :  [ 1 , 2 ]  }  "#.trim().into(),
        "\"\u{7f}\u{80}\u{fffd}\"".into(),
    ]
}

#[tokio::test]
async fn bodies_come_back_byte_for_byte() {
    let f = Fixture::new().await;
    let q = f.queue("hostile");
    let sent = hostile_bodies();
    let refs: Vec<&str> = sent.iter().map(String::as_str).collect();
    let ids = f.post(&q, &refs).await;
    assert_eq!(bodies(&f.list_all(&q, seen_by_other()).await), sent);
    let got = f.data.get_messages(&q, ids.clone()).await.unwrap();
    assert_eq!(bodies(&got), sent);
    let claimed = f.data.create_claim(&q, 60, 0, 20).await.unwrap().unwrap();
    assert_eq!(bodies(&claimed.messages), sent);
    let popped = f.data.pop_messages(&q, 20).await;
    // Claimed messages are not popped; after the release they are, bodies intact.
    assert!(popped.unwrap().is_empty());
    f.data.release_claim(&q, &claimed.id).await.unwrap();
    assert_eq!(bodies(&f.data.pop_messages(&q, 20).await.unwrap()), sent);
}

fn object(json: &str) -> Metadata {
    serde_json::from_str(json).expect("a JSON object")
}

#[tokio::test]
async fn metadata_and_options_keep_every_key() {
    let f = Fixture::new().await;
    let q = f.queue("keys");
    let odd = object(
        r#"{"$set": 1, "a.b": {"$in": [1, "x"]}, "": "empty", "ключ": "значение",
            "nul\u0000key": "v", "_default_message_ttl": 3600, "deep": {"$": {"$": []}}}"#,
    );
    f.data.create_queue(&q, odd.clone()).await.unwrap();
    assert_eq!(f.data.queue_metadata(&q).await.unwrap(), Some(odd.clone()));
    f.data.set_queue_metadata(&q, odd.clone()).await.unwrap();
    assert_eq!(f.data.queue_metadata(&q).await.unwrap(), Some(odd.clone()));

    let id = f
        .data
        .create_subscription(&q, "http://127.0.0.1:9/$where?a.b=1", 3600, odd.clone())
        .await
        .unwrap();
    let sub = f.data.get_subscription(&q, &id).await.unwrap();
    assert_eq!(sub.options, odd);
    assert_eq!(sub.subscriber, "http://127.0.0.1:9/$where?a.b=1");
}

#[tokio::test]
async fn names_of_every_allowed_shape_stay_apart() {
    let f = Fixture::new().await;
    // The longest queue name, and projects that differ only where a key layout could
    // run them together: separators, a prefix of another, unicode, the longest allowed.
    let long_name = "Q_-9".repeat(16);
    let projects = [
        f.project.clone(),
        format!("{}:q:x", f.project),
        format!("{}:", f.project),
        format!("{}/ü ✓", f.project),
        format!("{}{}", f.project, "p".repeat(200)),
    ];
    for (i, p) in projects.iter().enumerate() {
        let q = QueueId::new(p.clone(), long_name.clone());
        f.post(&q, &[&i.to_string()]).await;
    }
    for (i, p) in projects.iter().enumerate() {
        let q = QueueId::new(p.clone(), long_name.clone());
        let seen = f.list_all(&q, seen_by_other()).await;
        assert_eq!(bodies(&seen), [i.to_string()], "project {p:?}");
        let listed = f.data.list_queues(p, None, 10).await.unwrap();
        assert_eq!(listed.len(), 1, "project {p:?} sees only its own queue");
        assert_eq!(f.data.queue_stats(&q).await.unwrap().total, 1);
    }
}
