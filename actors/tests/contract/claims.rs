//! Claims: create, read, renew, release, expiry with grace, and deletes that name a claim.

use zaqar_actors::StorageError;

use crate::{ids, seen_by_other, Fixture};

#[tokio::test]
async fn a_claim_holds_its_messages_until_released() {
    let f = Fixture::new().await;
    let q = f.queue("claims");
    let posted = f.post(&q, &["1", "2", "3"]).await;
    let first = f.data.create_claim(&q, 60, 30, 2).await.unwrap().unwrap();
    assert_eq!(ids(&first.messages), posted[..2], "the head of the queue");
    assert!(first
        .messages
        .iter()
        .all(|m| m.claim_id.as_deref() == Some(first.id.as_str()) && m.claim_count == 1));
    let second = f.data.create_claim(&q, 60, 30, 5).await.unwrap().unwrap();
    assert_eq!(
        ids(&second.messages),
        posted[2..],
        "what the first does not hold"
    );
    assert!(f.data.create_claim(&q, 60, 30, 5).await.unwrap().is_none());

    let read = f.data.get_claim(&q, &first.id).await.unwrap();
    assert_eq!((read.ttl, ids(&read.messages)), (60, ids(&first.messages)));
    let stats = f.data.queue_stats(&q).await.unwrap();
    assert_eq!((stats.claimed, stats.free, stats.total), (3, 0, 3));
    // Claimed messages are listed only when asked for.
    assert!(f.list_all(&q, seen_by_other()).await.is_empty());
    let with_claimed = zaqar_actors::model::ListFilter {
        include_claimed: true,
        ..seen_by_other()
    };
    assert_eq!(ids(&f.list_all(&q, with_claimed).await), posted);

    f.data.release_claim(&q, &first.id).await.unwrap();
    let r = f.data.get_claim(&q, &first.id).await;
    assert!(
        matches!(r, Err(StorageError::ClaimDoesNotExist { .. })),
        "{r:?}"
    );
    let again = f.data.create_claim(&q, 60, 30, 5).await.unwrap().unwrap();
    assert_eq!(ids(&again.messages), posted[..2]);
    assert!(again.messages.iter().all(|m| m.claim_count == 2));
}

#[tokio::test]
async fn a_claim_expires_at_its_ttl_and_renewal_moves_it() {
    let f = Fixture::new().await;
    let q = f.queue("expiry");
    let posted = f.post(&q, &["1"]).await;
    let claim = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    f.advance(50);
    f.data.renew_claim(&q, &claim.id, 60, 0).await.unwrap();
    f.advance(50);
    // Renewed at 50 s for 60 s more: alive at 100 s.
    let read = f.data.get_claim(&q, &claim.id).await.unwrap();
    assert_eq!(ids(&read.messages), posted);
    f.advance(11);
    let r = f.data.get_claim(&q, &claim.id).await;
    assert!(
        matches!(r, Err(StorageError::ClaimDoesNotExist { .. })),
        "{r:?}"
    );
    let r = f.data.renew_claim(&q, &claim.id, 60, 0).await;
    assert!(
        matches!(r, Err(StorageError::ClaimDoesNotExist { .. })),
        "{r:?}"
    );
    let next = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    assert_eq!(
        ids(&next.messages),
        posted,
        "an expired claim frees its messages"
    );
}

#[tokio::test]
async fn grace_keeps_a_claimed_message_alive_past_its_ttl() {
    let f = Fixture::new().await;
    let q = f.queue("grace");
    let posted = f
        .data
        .post_messages(
            &q,
            crate::CLIENT,
            vec![crate::message("1", Some(60), None)].into(),
            1,
            true,
        )
        .await
        .unwrap();
    let claim = f.data.create_claim(&q, 120, 60, 1).await.unwrap().unwrap();
    f.advance(150);
    // Its own TTL ended at 60 s; the claim's 120 s plus 60 s of grace keep it.
    assert_eq!(
        ids(&f.data.get_messages(&q, posted.clone()).await.unwrap()),
        posted
    );
    assert!(
        f.data.get_claim(&q, &claim.id).await.is_err(),
        "the claim itself ended"
    );
    f.advance(31);
    assert!(f.data.get_messages(&q, posted).await.unwrap().is_empty());
}

#[tokio::test]
async fn a_claimed_message_is_deleted_only_with_its_claim() {
    let f = Fixture::new().await;
    let q = f.queue("guarded");
    let posted = f.post(&q, &["1", "2", "3"]).await;
    let a = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    let b = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    let (held, other, free) = (&posted[0], &posted[1], &posted[2]);

    let r = f.data.delete_message(&q, held, None).await;
    assert!(
        matches!(r, Err(StorageError::MessageIsClaimed { .. })),
        "{r:?}"
    );
    let r = f.data.delete_message(&q, held, Some(&b.id)).await;
    assert!(
        matches!(r, Err(StorageError::MessageNotClaimedBy { .. })),
        "{r:?}"
    );
    let r = f.data.delete_message(&q, free, Some(&a.id)).await;
    assert!(
        matches!(r, Err(StorageError::MessageNotClaimed { .. })),
        "{r:?}"
    );
    let r = f.data.delete_message(&q, free, Some("not-a-uuid")).await;
    assert!(matches!(r, Err(StorageError::ClaimNotValid)), "{r:?}");
    assert_eq!(
        f.data.queue_stats(&q).await.unwrap().total,
        3,
        "nothing went"
    );

    f.data.delete_message(&q, held, Some(&a.id)).await.unwrap();
    f.data.delete_message(&q, other, Some(&b.id)).await.unwrap();
    f.data.delete_message(&q, free, None).await.unwrap();
    assert_eq!(f.data.queue_stats(&q).await.unwrap().total, 0);
    // The claims that held them are empty now.
    assert!(f
        .data
        .get_claim(&q, &a.id)
        .await
        .map_or(true, |c| c.messages.is_empty()));
}

#[tokio::test]
async fn a_purge_keeps_what_a_live_claim_holds() {
    let f = Fixture::new().await;
    let q = f.queue("purge");
    let posted = f.post(&q, &["1", "2", "3"]).await;
    let claim = f.data.create_claim(&q, 60, 0, 1).await.unwrap().unwrap();
    f.data
        .create_subscription(&q, "http://127.0.0.1:9/a", 3600, Default::default())
        .await
        .unwrap();
    f.data.purge_queue(&q, true, false).await.unwrap();
    let left = f.data.get_messages(&q, posted.clone()).await.unwrap();
    assert_eq!(ids(&left), ids(&claim.messages));
    assert_eq!(
        f.data.list_subscriptions(&q, None, 10).await.unwrap().len(),
        1
    );
    f.data.purge_queue(&q, false, true).await.unwrap();
    assert!(f
        .data
        .list_subscriptions(&q, None, 10)
        .await
        .unwrap()
        .is_empty());
    assert_eq!(
        ids(&f.data.get_messages(&q, posted).await.unwrap()),
        ids(&left)
    );
}

/// PostgreSQL: looking for a claim's messages reads its own queue's rows only, however many
/// older messages another project holds (no tenant slows another). Checked on the generic
/// plan, the one a prepared statement gets after its first executions: with a primary key
/// on `seq` alone it walked every older message of every queue in `seq` order.
#[tokio::test]
async fn postgres_claims_read_only_their_own_queue() {
    use sea_orm::{ConnectionTrait, DbBackend};
    use zaqar_actors::storage::sql::claim_statement;
    let Some(uri) = crate::postgres_uri() else {
        return;
    };
    let busy = Fixture::new().await;
    let backlog: Vec<String> = (0..3000).map(|i| i.to_string()).collect();
    let backlog: Vec<&str> = backlog.iter().map(String::as_str).collect();
    busy.post(&busy.queue("backlog"), &backlog).await;
    let f = Fixture::new().await;
    let q = f.queue("small");
    f.post(&q, &["1"]).await;

    let db = crate::postgres_session(uri).await;
    db.execute_unprepared("ANALYZE messages").await.unwrap();
    db.execute_unprepared("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    // The claim, as the store writes it.
    let claim = claim_statement(DbBackend::Postgres, 10);
    db.execute_unprepared(&format!("PREPARE claim AS {claim}"))
        .await
        .unwrap();
    let now = f.clock.now_ms();
    let plan = crate::plan_of(
        &db,
        format!(
            "EXPLAIN (ANALYZE, COSTS OFF) EXECUTE claim('c1', {}, 60, {now}, {}, '{}', 'small')",
            now + 60_000,
            now + 90_000,
            f.project
        ),
    )
    .await;
    db.execute_unprepared("DEALLOCATE claim").await.unwrap();
    let removed = crate::rows_removed(&plan);
    assert_eq!(removed, 0, "the claim read other queues' rows:\n{plan}");
    assert!(plan.contains("rows=1 "), "{plan}");
}

/// PostgreSQL: a claim and a pop reach the rows they take by the queue's whole key, not by
/// walking the queue, even before the table has statistics. Their statements named the
/// rows `seq = ANY(ARRAY(...))`, which the planner applied as a filter to every row of the
/// queue: in the mixed load a claim took 5-10 ms behind 3,000 messages, more as the backlog
/// grew. Checked with the statements as the store writes them, as generic plans, on a
/// temporary copy of the table, which autovacuum never analyses.
#[tokio::test]
async fn postgres_claims_and_pops_read_only_the_rows_they_take() {
    use sea_orm::{ConnectionTrait, DbBackend};
    use zaqar_actors::storage::sql::{claim_statement, pop_statement};
    let Some(db) = crate::unanalysed_messages(
        "SELECT q || i, 'p', q, 'c', '1', 60, 0, 60000, 0
         FROM generate_series(1, 3000) i, (VALUES ('q'), ('r')) AS v(q)",
    )
    .await
    else {
        return;
    };
    db.execute_unprepared("SET plan_cache_mode = force_generic_plan")
        .await
        .unwrap();
    let cases = [
        (
            "claim",
            claim_statement(DbBackend::Postgres, 10),
            "'c1', 70000, 60, 1000, 90000, 'p', 'q'",
        ),
        (
            "pop",
            pop_statement(DbBackend::Postgres, 10),
            "'p', 'r', 1000",
        ),
    ];
    for (name, sql, args) in cases {
        db.execute_unprepared(&format!("PREPARE {name} AS {sql}"))
            .await
            .unwrap();
        let plan = crate::plan_of(
            &db,
            format!("EXPLAIN (ANALYZE, COSTS OFF) EXECUTE {name}({args})"),
        )
        .await;
        let first = plan.lines().next().unwrap_or_default();
        assert!(first.contains(" rows=10 "), "{name} took 10:\n{plan}");
        let removed = crate::rows_removed(&plan);
        assert_eq!(removed, 0, "{name} read rows it did not take:\n{plan}");
    }
}

/// A claim's messages are found through the claim index, which holds claimed messages
/// only (schema migration 4: posts no longer add an entry each, with a NULL claim id).
/// The lookup as claims.rs writes it must be served by that partial index, even without
/// statistics of the table (with the queue written `project = $2 AND queue = $3`,
/// PostgreSQL planned the lookup as a walk of the queue's key once the HTTP suites had
/// filled the table: CI, reproduced by running them first).
#[tokio::test]
async fn a_claims_messages_are_found_through_a_claimed_only_index() {
    use sea_orm::ConnectionTrait;
    let f = Fixture::new().await;
    let q = f.queue("indexed");
    f.post(&q, &["1", "2", "3"]).await;
    let claim = f.data.create_claim(&q, 60, 30, 2).await.unwrap().unwrap();
    let lookup =
        "SELECT seq FROM messages WHERE claim_id = $1 AND (project = $2 AND queue = $3) IS TRUE";
    if let Some(file) = f.sqlite_file() {
        let db = rusqlite::Connection::open(file).unwrap();
        let partial: bool = db
            .query_row(
                "SELECT partial FROM pragma_index_list('messages') WHERE name = 'messages_claim'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(partial, "messages_claim holds every message");
        let mut plan = db
            .prepare(&format!("EXPLAIN QUERY PLAN {}", lookup.replace('$', "?")))
            .unwrap();
        let plan: Vec<String> = plan
            .query_map((&claim.id, &f.project, "indexed"), |row| row.get(3))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(
            plan.iter()
                .any(|step| step.contains("INDEX messages_claim")),
            "{plan:?}"
        );
    } else if let Some(uri) = crate::postgres_uri() {
        let db = crate::postgres_session(uri).await;
        let definition = crate::plan_of(
            &db,
            "SELECT indexdef FROM pg_indexes WHERE indexname = 'messages_claim'".into(),
        )
        .await;
        assert!(
            definition.contains("WHERE (claim_id IS NOT NULL)"),
            "{definition}"
        );
        // Which index serves it, with the table's statistics and without (a new table, or
        // the first minute after a bulk load), in the generic plan a prepared statement gets
        // after its first executions. Sequential scans are ruled out: these tables are tiny.
        for session in [
            "SET plan_cache_mode = force_generic_plan",
            "SET enable_seqscan = off",
            &format!("PREPARE held(text, text, text) AS {lookup}"),
        ] {
            db.execute_unprepared(session).await.unwrap();
        }
        let explain = format!(
            "EXPLAIN (COSTS OFF) EXECUTE held('{}', '{}', 'indexed')",
            claim.id, f.project
        );
        let unanalysed = crate::plan_of(&db, explain.clone()).await;
        assert!(unanalysed.contains("messages_claim"), "{unanalysed}");
        db.execute_unprepared("ANALYZE messages").await.unwrap();
        let analysed = crate::plan_of(&db, explain).await;
        assert!(analysed.contains("messages_claim"), "{analysed}");
        db.execute_unprepared("DEALLOCATE held").await.unwrap();
    }
}
