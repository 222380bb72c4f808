//! Dead-letter queues, through the router (where the move happens) over each backend: a
//! message claimed more often than `_max_claim_count` goes to `_dead_letter_queue` with
//! `_dead_letter_queue_messages_ttl`, and is never delivered again.

use std::sync::Arc;

use actix::Actor;
use serde_json::json;
use zaqar_actors::messages::dead_letter::{ClaimMessages, DEAD_LETTER_CLIENT};
use zaqar_actors::model::{Claim, QueueId};
use zaqar_actors::{PoolRouter, PoolSet, StorageError, Traced};

use crate::{bodies, seen_by_other, Fixture};

async fn claim(router: &actix::Addr<PoolRouter>, q: &QueueId) -> Option<Claim> {
    let m = ClaimMessages {
        queue: q.clone(),
        ttl: 60,
        grace: 0,
        limit: 10,
    };
    let answer: Result<Option<Claim>, StorageError> =
        router.send(Traced::new(m)).await.expect("router answers");
    answer.expect("claim")
}

#[actix_rt::test]
async fn a_message_claimed_too_often_moves_to_the_dead_letter_queue() {
    let f = Fixture::new().await;
    let router = PoolRouter::new(Arc::new(PoolSet::single(f.data.clone())), 64).start();
    let (q, dead) = (f.queue("work"), f.queue("dead"));
    let policy = json!({
        "_max_claim_count": 2,
        "_dead_letter_queue": "dead",
        "_dead_letter_queue_messages_ttl": 120,
    });
    let serde_json::Value::Object(policy) = policy else {
        unreachable!()
    };
    f.data.create_queue(&q, policy).await.unwrap();
    f.post(&q, &[r#"{"job": 1}"#]).await;

    for round in 1..=2 {
        let c = claim(&router, &q)
            .await
            .expect("delivered while under the count");
        assert_eq!(c.messages.len(), 1);
        assert_eq!(c.messages[0].claim_count, round);
        f.data.release_claim(&q, &c.id).await.unwrap();
    }
    assert!(
        claim(&router, &q).await.is_none(),
        "the third claim moves it instead of delivering it"
    );

    let everything = zaqar_actors::model::ListFilter {
        include_claimed: true,
        include_delayed: true,
        ..seen_by_other()
    };
    assert!(f.list_all(&q, everything.clone()).await.is_empty());
    let moved = f.list_all(&dead, everything).await;
    assert_eq!(bodies(&moved), [r#"{"job": 1}"#]);
    assert_eq!(moved[0].ttl, 120);
    assert_eq!(moved[0].claim_count, 0);
    // Its poster is the dead-letter client id, no consumer's own: only that id with
    // echo=false does not see it.
    let own = zaqar_actors::model::ListFilter {
        echo: false,
        client_id: DEAD_LETTER_CLIENT.to_owned(),
        ..seen_by_other()
    };
    assert!(f.list_all(&dead, own).await.is_empty());
}
