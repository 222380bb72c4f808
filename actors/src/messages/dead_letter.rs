//! Claims that dead-letter: [`ClaimMessages`], what the HTTP layer sends to claim.
//!
//! The stores count every claim of a message (`claim_count`). A queue whose metadata sets
//! `_max_claim_count` and `_dead_letter_queue` ([`DeadLetterPolicy`]) does not deliver a
//! message claimed more often than that: the claim that finds it so moves it to the
//! dead-letter queue instead, as Zaqar 23 does.
//!
//! The move is two steps through the router, so the dead-letter queue may live in another
//! pool: the message is posted to the dead-letter queue, then deleted from its queue under
//! the claim that holds it. Until then the claim keeps it from every other claimer, and it
//! is never delivered: any claim of it finds it over the count. A server that dies between
//! the steps leaves the message in its queue; its claim expires, the next claim moves it
//! again, and the dead-letter queue holds it twice. Nothing is lost.

use crate::envelope::HopInfo;
use crate::error::StorageError;
use crate::messages::pooling::RouterRequest;
use crate::messages::{CreateClaim, DeleteMessage, GetQueueMetadata, LocalBoxFuture, PostMessages};
use crate::model::{Claim, DeadLetterPolicy, Message, NewMessage, QueueId};
use crate::routing::Routing;

/// The `Client-ID` dead-lettered messages are posted with: no client's own, so that no
/// consumer's `echo=false` hides them.
pub const DEAD_LETTER_CLIENT: &str = "00000000-0000-0000-0000-000000000000";

/// Claim up to `limit` free messages, dead-lettering those claimed too often; `None` when
/// nothing deliverable was claimed.
#[derive(Debug)]
pub struct ClaimMessages {
    pub queue: QueueId,
    pub ttl: i64,
    pub grace: i64,
    pub limit: u32,
}

impl actix::Message for ClaimMessages {
    type Result = Result<Option<Claim>, StorageError>;
}

impl RouterRequest for ClaimMessages {
    const NAME: &'static str = "ClaimMessages";
    type Output = Option<Claim>;

    fn info(&self) -> HopInfo<'_> {
        HopInfo {
            queue: Some(&self.queue),
            operation: "receive",
        }
    }

    fn execute(self, routing: Routing) -> LocalBoxFuture<Result<Self::Output, StorageError>> {
        Box::pin(claim(routing, self))
    }
}

async fn claim(routing: Routing, m: ClaimMessages) -> Result<Option<Claim>, StorageError> {
    let queue = m.queue;
    let claimed = routing
        .route(CreateClaim {
            queue: queue.clone(),
            ttl: m.ttl,
            grace: m.grace,
            limit: m.limit,
        })
        .await?;
    let Some(mut claim) = claimed else {
        return Ok(None);
    };
    // A policy allows at least one claim, so a first claim never dead-letters: the
    // metadata is read only when a message has been claimed before.
    if claim.messages.iter().all(|msg| msg.claim_count <= 1) {
        return Ok(Some(claim));
    }
    let metadata = routing
        .route(GetQueueMetadata {
            queue: queue.clone(),
        })
        .await?
        .unwrap_or_default();
    let Some(policy) = DeadLetterPolicy::of(&metadata) else {
        return Ok(Some(claim));
    };
    let (dead, live): (Vec<Message>, Vec<Message>) = claim
        .messages
        .into_iter()
        .partition(|msg| msg.claim_count > policy.max_claim_count);
    claim.messages = live;
    if !dead.is_empty() {
        if let Err(e) = move_dead(&routing, &queue, &claim.id, &policy, dead).await {
            // The dead messages stay held by the claim; once it expires, the next claim
            // tries again. The deliverable ones are delivered all the same.
            tracing::warn!(error = %e, "dead-lettering failed; retried after the claim expires");
        }
    }
    Ok((!claim.messages.is_empty()).then_some(claim))
}

/// Posts `dead` to the policy's queue, then deletes them from `queue` under `claim_id`.
async fn move_dead(
    routing: &Routing,
    queue: &QueueId,
    claim_id: &str,
    policy: &DeadLetterPolicy,
    dead: Vec<Message>,
) -> Result<(), StorageError> {
    let messages = dead
        .iter()
        .map(|msg| NewMessage {
            ttl: Some(policy.ttl.unwrap_or(msg.ttl)),
            delay: Some(0),
            body: msg.body.clone(),
        })
        .collect();
    routing
        .route(PostMessages {
            queue: QueueId::new(queue.project.clone(), policy.queue.clone()),
            client_id: DEAD_LETTER_CLIENT.to_owned(),
            messages,
            size: 0,
            create: true,
        })
        .await?;
    for msg in dead {
        routing
            .route(DeleteMessage {
                queue: queue.clone(),
                id: msg.id,
                claim_id: Some(claim_id.to_owned()),
            })
            .await?;
    }
    Ok(())
}
