//! Under concurrency: claimers never share a message, producers keep their order, a post
//! that may not create its queue never outlives a concurrent delete of it, and posts sent
//! together, and deletes sent together, are answered each its own.

use std::collections::{BTreeMap, HashSet};

use zaqar_actors::error::StorageError;
use zaqar_actors::model::{ListFilter, QueueId};

use crate::{message, seen_by_other, Fixture, CLIENT};

/// Posts `batches` batches of 100 numbered messages; answers their ids.
async fn post_numbered(f: &Fixture, q: &QueueId, batches: usize) -> HashSet<String> {
    let mut posted = HashSet::new();
    for batch in 0..batches {
        let texts: Vec<String> = (0..100).map(|i| (batch * 100 + i).to_string()).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        posted.extend(f.post(q, &refs).await);
    }
    posted
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_claimers_take_a_thousand_messages_each_exactly_once() {
    let f = Fixture::new().await;
    let q = f.queue("work");
    let posted = post_numbered(&f, &q, 10).await;
    assert_eq!(posted.len(), 1000);
    let claimers: Vec<_> = (0..20)
        .map(|_| {
            let (data, q) = (f.data.clone(), q.clone());
            tokio::spawn(async move {
                let mut done = Vec::new();
                while let Some(claim) = data.create_claim(&q, 60, 0, 10).await.unwrap() {
                    for m in claim.messages {
                        // Fails if another live claim holds it too.
                        data.delete_message(&q, &m.id, Some(&claim.id))
                            .await
                            .unwrap_or_else(|e| panic!("delete {} with {}: {e}", m.id, claim.id));
                        done.push(m.id);
                    }
                }
                done
            })
        })
        .collect();
    let mut seen = Vec::new();
    for c in claimers {
        seen.extend(c.await.unwrap());
    }
    let unique: HashSet<String> = seen.iter().cloned().collect();
    assert_eq!(seen.len(), 1000, "every message handed out once");
    assert_eq!(unique, posted);
    assert_eq!(f.data.queue_stats(&q).await.unwrap().total, 0);
}

/// Claims taken at once and all held together: a message in two live claims would be
/// handed to two claimers (deleting at once, as the test above does, can hide that: the
/// second delete of a message finds it gone, which is not an error).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn claims_taken_at_once_never_share_a_message() {
    let f = Fixture::new().await;
    let q = f.queue("held");
    let posted = post_numbered(&f, &q, 5).await;
    let claimers: Vec<_> = (0..20)
        .map(|_| {
            let (data, q) = (f.data.clone(), q.clone());
            tokio::spawn(async move {
                let mut claims = Vec::new();
                while let Some(claim) = data.create_claim(&q, 600, 0, 5).await.unwrap() {
                    let ids: Vec<String> = claim.messages.into_iter().map(|m| m.id).collect();
                    claims.push((claim.id, ids));
                }
                claims
            })
        })
        .collect();
    let mut claims = Vec::new();
    for c in claimers {
        claims.extend(c.await.unwrap());
    }
    let handed: Vec<&String> = claims.iter().flat_map(|(_, ids)| ids).collect();
    let unique: HashSet<String> = handed.iter().map(|id| (*id).clone()).collect();
    assert_eq!(handed.len(), unique.len(), "a message handed to two claims");
    assert_eq!(unique, posted, "every message claimed");
    // Each claim still holds what it was handed, and no message was claimed twice (a claim
    // that took a message another held counts a second claim of it, even if it then hands
    // out only what it read back).
    for (id, ids) in &claims {
        let held = f.data.get_claim(&q, id).await.unwrap();
        assert!(
            held.messages.iter().all(|m| m.claim_count == 1),
            "claim {id}: a message claimed twice"
        );
        let held: Vec<String> = held.messages.into_iter().map(|m| m.id).collect();
        assert_eq!(&held, ids, "claim {id}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_producers_keep_their_own_order() {
    let f = Fixture::new().await;
    let q = f.queue("producers");
    f.data.create_queue(&q, Default::default()).await.unwrap();
    let producers: Vec<_> = (0..5)
        .map(|p| {
            let (data, q) = (f.data.clone(), q.clone());
            tokio::spawn(async move {
                for n in 0..40 {
                    let body = format!(r#"{{"p": {p}, "n": {n}}}"#);
                    data.post_messages(
                        &q,
                        CLIENT,
                        vec![message(&body, None, None)].into(),
                        1,
                        false,
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for p in producers {
        p.await.unwrap();
    }
    let all = f.list_all(&q, seen_by_other()).await;
    let mut by_producer: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for m in &all {
        let v: serde_json::Value = serde_json::from_str(m.body.get()).unwrap();
        by_producer
            .entry(v["p"].as_i64().unwrap())
            .or_default()
            .push(v["n"].as_i64().unwrap());
    }
    let want: Vec<i64> = (0..40).collect();
    assert_eq!(by_producer.len(), 5);
    for (p, ns) in by_producer {
        assert_eq!(
            ns, want,
            "producer {p}'s messages in the order it posted them"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_post_without_create_never_outlives_a_concurrent_queue_delete() {
    let f = Fixture::new().await;
    for round in 0..30 {
        let q = f.queue(&format!("racing-{round}"));
        f.data.create_queue(&q, Default::default()).await.unwrap();
        let (data, dq) = (f.data.clone(), q.clone());
        let delete = tokio::spawn(async move { data.delete_queue(&dq).await });
        let posted = f
            .data
            .post_messages(&q, CLIENT, vec![message("1", None, None)].into(), 1, false)
            .await;
        delete.await.unwrap().unwrap();
        // Either the post came first (and the delete took its message) or it found no
        // queue: no message is left in a queue that does not exist.
        assert!(f.data.queue_metadata(&q).await.unwrap().is_none());
        if let Ok(ids) = posted {
            assert!(
                f.data.get_messages(&q, ids).await.unwrap().is_empty(),
                "round {round}: a message outlived its queue"
            );
        }
        let all = ListFilter {
            include_claimed: true,
            include_delayed: true,
            ..seen_by_other()
        };
        assert!(f.list_all(&q, all).await.is_empty(), "round {round}");
    }
}

/// Posts sent together (and so, on stores that gather writes, in one batch) are answered
/// each its own: one too large for its queue, one to a queue that does not exist, and one
/// to another queue neither fail the rest nor are stored.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn posts_sent_together_are_answered_each_its_own() {
    let f = Fixture::new().await;
    let small = f.queue("small-together");
    let other = f.queue("other-together");
    let absent = f.queue("absent-together");
    let metadata = serde_json::from_str(r#"{"_max_messages_post_size": 10}"#).unwrap();
    f.data.create_queue(&small, metadata).await.unwrap();
    // (queue, text, size, create): every third post to `small` is too large for it.
    let mut posts = Vec::new();
    for i in 0..30 {
        posts.push((
            small.clone(),
            i.to_string(),
            if i % 3 == 0 { 11 } else { 5 },
            true,
        ));
        posts.push((other.clone(), i.to_string(), 5, true));
        posts.push((absent.clone(), i.to_string(), 5, false));
    }
    let answers = futures_util::future::join_all(posts.iter().map(|(q, text, size, create)| {
        f.data.post_messages(
            q,
            CLIENT,
            vec![message(text, None, None)].into(),
            *size,
            *create,
        )
    }))
    .await;
    let mut stored: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for ((q, text, size, _), answer) in posts.iter().zip(answers) {
        match (q.name.as_str(), answer) {
            ("small-together", Err(StorageError::PostTooLarge { max: 10 })) if *size == 11 => {}
            ("absent-together", Err(StorageError::QueueDoesNotExist { .. })) => {}
            ("small-together" | "other-together", Ok(ids)) if *size == 5 => {
                assert_eq!(ids.len(), 1);
                stored.entry(q.name.clone()).or_default().push(text.clone());
            }
            (name, answer) => panic!("{name} {text} (size {size}): {answer:?}"),
        }
    }
    assert_eq!(stored["small-together"].len(), 20);
    assert_eq!(stored["other-together"].len(), 30);
    for q in [&small, &other] {
        let mut bodies: Vec<String> = f
            .list_all(q, seen_by_other())
            .await
            .iter()
            .map(|m| m.body.get().to_owned())
            .collect();
        bodies.sort();
        let mut expected = stored[&q.name].clone();
        expected.sort();
        assert_eq!(bodies, expected, "{}", q.name);
    }
    assert!(f.data.queue_metadata(&absent).await.unwrap().is_none());
}

/// Deletes by id sent together (and so, on stores that gather writes, in one batch) are
/// answered each its own: one refused (claimed, not claimed, claimed by another) does not
/// fail the others, nor is its message deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn deletes_sent_together_are_answered_each_its_own() {
    let f = Fixture::new().await;
    let q = f.queue("deletes-together");
    let m = f.post(&q, &["0", "1", "2", "3", "4", "5"]).await;
    let c1 = f.data.create_claim(&q, 60, 60, 3).await.unwrap().unwrap();
    let c2 = f.data.create_claim(&q, 60, 60, 1).await.unwrap().unwrap();
    let held = |c: &zaqar_actors::model::Claim| -> Vec<String> {
        c.messages.iter().map(|m| m.id.clone()).collect()
    };
    assert_eq!(held(&c1), m[0..3]);
    assert_eq!(held(&c2), m[3..4]);
    let c1 = c1.id.as_str();
    let deletes = [
        (&m[0], Some(c1)), // its claim's: deleted
        (&m[1], None),     // claimed, no claim named: refused
        (&m[4], Some(c1)), // not claimed: refused
        (&m[3], Some(c1)), // held by c2, c1 live: refused
        (&m[5], None),     // free, no claim named: deleted
        (&m[2], Some(c1)), // its claim's: deleted
    ];
    let answers = futures_util::future::join_all(
        deletes
            .iter()
            .map(|(id, claim)| f.data.delete_message(&q, id, *claim)),
    )
    .await;
    assert!(answers[0].is_ok(), "{:?}", answers[0]);
    assert!(
        matches!(answers[1], Err(StorageError::MessageIsClaimed { .. })),
        "{:?}",
        answers[1]
    );
    assert!(
        matches!(answers[2], Err(StorageError::MessageNotClaimed { .. })),
        "{:?}",
        answers[2]
    );
    assert!(
        matches!(answers[3], Err(StorageError::MessageNotClaimedBy { .. })),
        "{:?}",
        answers[3]
    );
    assert!(answers[4].is_ok(), "{:?}", answers[4]);
    assert!(answers[5].is_ok(), "{:?}", answers[5]);
    let all = ListFilter {
        include_claimed: true,
        ..seen_by_other()
    };
    let left: Vec<String> = f
        .list_all(&q, all)
        .await
        .into_iter()
        .map(|m| m.id)
        .collect();
    assert_eq!(left, [m[1].clone(), m[3].clone(), m[4].clone()]);
}
