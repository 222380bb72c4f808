//! Posting, listing, reading and deleting messages: FIFO, paging, echo, delays, TTLs,
//! lazy queues and encryption at rest.

use zaqar_actors::model::{ListFilter, MessageMarker, Metadata, ENCRYPT_MESSAGES};
use zaqar_actors::storage::encrypted::Keyring;
use zaqar_actors::StorageError;

use crate::{bodies, ids, message, seen_by_other, Fixture, CLIENT, OTHER};

#[tokio::test]
async fn batches_keep_fifo_order_across_pages_and_markers() {
    let f = Fixture::new().await;
    let q = f.queue("fifo");
    let mut posted = Vec::new();
    for batch in 0..3 {
        let texts: Vec<String> = (0..8).map(|i| format!("{}", batch * 8 + i)).collect();
        let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
        posted.extend(f.post(&q, &refs).await);
    }
    assert_eq!(posted.len(), 24);
    let all = f.list_all(&q, seen_by_other()).await;
    assert_eq!(
        ids(&all),
        posted,
        "pages of 7 walk the queue in posting order"
    );
    let expected: Vec<String> = (0..24).map(|i| i.to_string()).collect();
    assert_eq!(bodies(&all), expected);

    // A marker naming a message id starts after it; an id not in the queue from the head.
    let after = f
        .data
        .list_messages(
            &q,
            seen_by_other(),
            Some(MessageMarker::Id(posted[9].clone())),
            3,
        )
        .await
        .unwrap();
    assert_eq!(ids(&after), posted[10..13]);
    let head = f
        .data
        .list_messages(
            &q,
            seen_by_other(),
            Some(MessageMarker::Id("nope".into())),
            2,
        )
        .await
        .unwrap();
    assert_eq!(ids(&head), posted[..2]);
    // A position marker keeps its place when the message there is gone.
    f.data.delete_message(&q, &posted[5], None).await.unwrap();
    let after_gone = f
        .data
        .list_messages(
            &q,
            seen_by_other(),
            Some(MessageMarker::After(all[5].seq)),
            2,
        )
        .await
        .unwrap();
    assert_eq!(ids(&after_gone), posted[6..8]);
}

#[tokio::test]
async fn echo_decides_whether_a_client_sees_its_own_messages() {
    let f = Fixture::new().await;
    let q = f.queue("echo");
    let mine = f.post_from(&q, CLIENT, &["1", "2"]).await;
    let theirs = f.post_from(&q, OTHER, &["3"]).await;
    let as_poster = |echo| ListFilter {
        echo,
        client_id: CLIENT.into(),
        ..Default::default()
    };
    assert_eq!(ids(&f.list_all(&q, as_poster(false)).await), theirs);
    let every: Vec<String> = mine.iter().chain(&theirs).cloned().collect();
    assert_eq!(ids(&f.list_all(&q, as_poster(true)).await), every);
}

#[tokio::test]
async fn delayed_messages_appear_when_their_delay_ends() {
    let f = Fixture::new().await;
    let q = f.queue("delays");
    let now = f
        .data
        .post_messages(&q, CLIENT, vec![message("1", None, None)].into(), 1, true)
        .await
        .unwrap();
    let later = f
        .data
        .post_messages(
            &q,
            CLIENT,
            vec![message("2", None, Some(60))].into(),
            1,
            true,
        )
        .await
        .unwrap();
    assert_eq!(ids(&f.list_all(&q, seen_by_other()).await), now);
    let with_delayed = ListFilter {
        include_delayed: true,
        ..seen_by_other()
    };
    let both: Vec<String> = now.iter().chain(&later).cloned().collect();
    assert_eq!(ids(&f.list_all(&q, with_delayed).await), both);
    // A delayed message cannot be claimed either.
    let claim = f.data.create_claim(&q, 300, 0, 10).await.unwrap().unwrap();
    assert_eq!(ids(&claim.messages), now);
    f.advance(61);
    let claim = f.data.create_claim(&q, 60, 0, 10).await.unwrap().unwrap();
    assert_eq!(ids(&claim.messages), later);
}

#[tokio::test]
async fn a_message_expires_exactly_at_its_ttl() {
    let f = Fixture::new().await;
    let q = f.queue("ttl");
    let id = f
        .data
        .post_messages(
            &q,
            CLIENT,
            vec![message("\"x\"", Some(60), None)].into(),
            3,
            true,
        )
        .await
        .unwrap();
    f.advance(59);
    assert_eq!(ids(&f.data.get_messages(&q, id.clone()).await.unwrap()), id);
    assert_eq!(f.data.queue_stats(&q).await.unwrap().total, 1);
    f.advance(2);
    assert!(f
        .data
        .get_messages(&q, id.clone())
        .await
        .unwrap()
        .is_empty());
    assert!(f.list_all(&q, seen_by_other()).await.is_empty());
    assert_eq!(f.data.queue_stats(&q).await.unwrap().total, 0);
    assert!(f.data.create_claim(&q, 60, 0, 10).await.unwrap().is_none());
}

#[tokio::test]
async fn messages_are_read_deleted_and_popped_by_id() {
    let f = Fixture::new().await;
    let q = f.queue("byid");
    let posted = f.post(&q, &["1", "2", "3", "4", "5"]).await;
    let got = f
        .data
        .get_messages(
            &q,
            vec![posted[3].clone(), "nope".into(), posted[1].clone()],
        )
        .await
        .unwrap();
    let mut got = ids(&got);
    got.sort();
    let mut want = vec![posted[1].clone(), posted[3].clone()];
    want.sort();
    assert_eq!(got, want, "ids not in the queue are skipped");
    f.data
        .delete_messages(&q, vec![posted[0].clone(), "nope".into()])
        .await
        .unwrap();
    // Deleting what is not there succeeds.
    f.data.delete_message(&q, "nope", None).await.unwrap();
    let popped = f.data.pop_messages(&q, 2).await.unwrap();
    assert_eq!(ids(&popped), posted[1..3], "pop takes from the head");
    assert_eq!(ids(&f.list_all(&q, seen_by_other()).await), posted[3..]);
}

#[tokio::test]
async fn a_post_without_create_needs_the_queue() {
    let f = Fixture::new().await;
    let q = f.queue("absent");
    let r = f
        .data
        .post_messages(&q, CLIENT, vec![message("1", None, None)].into(), 1, false)
        .await;
    assert!(
        matches!(r, Err(StorageError::QueueDoesNotExist { .. })),
        "{r:?}"
    );
    assert!(f.data.queue_metadata(&q).await.unwrap().is_none());
    assert!(f.list_all(&q, seen_by_other()).await.is_empty());
    // With create, the queue comes into being (lazy queues).
    f.post(&q, &["1"]).await;
    assert!(f.data.queue_metadata(&q).await.unwrap().is_some());
}

#[tokio::test]
async fn a_post_is_checked_against_the_queues_size_limit() {
    let f = Fixture::new().await;
    let q = f.queue("small");
    let metadata: Metadata = serde_json::from_str(r#"{"_max_messages_post_size": 10}"#).unwrap();
    f.data.create_queue(&q, metadata).await.unwrap();
    let r = f
        .data
        .post_messages(&q, CLIENT, vec![message("1", None, None)].into(), 11, true)
        .await;
    assert!(
        matches!(r, Err(StorageError::PostTooLarge { max: 10 })),
        "{r:?}"
    );
    assert!(f.list_all(&q, seen_by_other()).await.is_empty());
}

#[tokio::test]
async fn an_encrypted_queue_hands_back_plaintext() {
    let key = format!("k1:{}", "A".repeat(43) + "=");
    let f = Fixture::with_keys(Keyring::parse(&[&key]).expect("a 32-byte key")).await;
    let q = f.queue("secret");
    let metadata: Metadata =
        serde_json::from_str(&format!(r#"{{"{ENCRYPT_MESSAGES}": true}}"#)).unwrap();
    f.data.create_queue(&q, metadata).await.unwrap();
    let body = r#"{"card": "4111 1111 1111 1111"}"#;
    let posted = f.post(&q, &[body]).await;
    let got = f.data.get_messages(&q, posted.clone()).await.unwrap();
    assert_eq!(bodies(&got), [body]);
    let claim = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    assert_eq!(bodies(&claim.messages), [body]);
    let stats = f.data.queue_stats(&q).await.unwrap();
    assert_eq!(
        stats.oldest.map(|m| m.body.get().to_owned()).as_deref(),
        Some(body)
    );
}

/// PostgreSQL: a delete by id finds its message through the id's index even before the
/// table has statistics (a new table, or the first minute after a bulk load), when the
/// planner took the queue's key and walked the whole queue for each delete. Checked on a
/// temporary copy of the table, which autovacuum never analyses.
#[tokio::test]
async fn postgres_deletes_by_id_use_the_id_index_without_statistics() {
    let Some(db) = crate::unanalysed_messages(
        "SELECT 'm' || i, 'p', 'q', 'c', '1', 60, 0, 60000, 0 FROM generate_series(1, 3000) i",
    )
    .await
    else {
        return;
    };
    // The delete of gather.rs (PostgreSQL's deletes by id), for one message.
    let plan = crate::plan_of(
        &db,
        "EXPLAIN DELETE FROM messages m USING (VALUES ('m7', 'p', 'q', NULL::text, 0::bigint))
            AS v(id, project, queue, claim, now)
         WHERE m.id = v.id AND (m.project = v.project AND m.queue = v.queue) IS TRUE
         AND CASE WHEN v.claim IS NULL THEN m.claim_expires <= v.now
             ELSE m.claim_id = v.claim AND m.claim_expires > v.now END
         RETURNING m.id"
            .into(),
    )
    .await;
    assert!(plan.contains("Index Cond: (id = "), "{plan}");
}

/// More messages in one post, claim or delete than one call of a store's inner commands may
/// take at once (Redis scripts write each index with one command for the whole batch, in
/// chunks: Lua's `unpack` stops at 8000 values, two per message in a sorted set). The API
/// bounds these by configuration only, so a store must take any number.
#[tokio::test]
async fn batches_beyond_a_commands_argument_bound_are_stored_claimed_and_deleted_whole() {
    let f = Fixture::new().await;
    let q = f.queue("wide");
    const N: usize = 4001;
    let texts: Vec<String> = (0..N).map(|i| i.to_string()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let posted = f.post(&q, &refs).await;
    assert_eq!(posted.len(), N);
    let stats = f.data.queue_stats(&q).await.unwrap();
    assert_eq!(
        (stats.free, stats.claimed, stats.total),
        (N as i64, 0, N as i64)
    );

    let claim = f.data.create_claim(&q, 60, 30, N as u32).await.unwrap();
    let claim = claim.expect("the free messages are claimed");
    assert_eq!(ids(&claim.messages), posted, "every message, in FIFO order");
    let stats = f.data.queue_stats(&q).await.unwrap();
    assert_eq!((stats.free, stats.claimed), (0, N as i64));
    assert!(f.data.create_claim(&q, 60, 30, 1).await.unwrap().is_none());

    f.data.delete_messages(&q, posted.clone()).await.unwrap();
    let stats = f.data.queue_stats(&q).await.unwrap();
    assert_eq!((stats.free, stats.claimed, stats.total), (0, 0, 0));
    assert!(f.data.get_messages(&q, posted).await.unwrap().is_empty());
}
