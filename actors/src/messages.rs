//! The request messages the HTTP layer sends through the router to a storage actor.
//!
//! There is one message type per storage operation. Each implements [`StorageRequest`]: its
//! name (for spans) and how it runs against a [`DataStore`]. Because of that, the router and
//! the storage actor each need a single generic handler instead of one per message, and
//! adding an operation is one entry in the table below plus one `DataStore` method.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use crate::envelope::BatchSize;
use crate::envelope::HopInfo;
use crate::error::StorageError;
use crate::model::{
    Claim, ListFilter, Message, MessageMarker, Metadata, NewMessage, QueueEntry, QueueId,
    QueueStats, Subscription, SubscriptionUpdate, FLAVOR,
};
use crate::storage::DataStore;

pub mod dead_letter;
pub mod pooling;

/// How the router finds the pool that serves a request.
#[derive(Clone, Copy, Debug)]
pub enum Route<'a> {
    /// Any pool can answer (ping): the default pool does.
    Default,
    /// The pool the queue lives in; a queue never placed reads as empty.
    Queue(&'a QueueId),
    /// The queue's pool, placing the queue first (in a pool of `flavor`) if it has none.
    Place {
        queue: &'a QueueId,
        flavor: Option<&'a str>,
    },
    /// Like `Place`, but the request creates its queue when missing (a post to a lazy
    /// queue); see [`StorageRequest::forbid_create`].
    Lazy(&'a QueueId),
    /// The queue's pool; the queue leaves the catalog.
    Delete(&'a QueueId),
}

impl Route<'_> {
    /// The queue the request is about, if any.
    pub fn queue(&self) -> Option<&QueueId> {
        match self {
            Route::Default => None,
            Route::Queue(q) | Route::Lazy(q) | Route::Delete(q) | Route::Place { queue: q, .. } => {
                Some(q)
            }
        }
    }
}

/// A future that runs on the receiving actor's thread.
pub type LocalBoxFuture<T> = Pin<Box<dyn Future<Output = T>>>;

/// A message that a storage actor can serve.
pub trait StorageRequest:
    actix::Message<Result = Result<<Self as StorageRequest>::Output, StorageError>> + Send + 'static
{
    /// The message's name in span names (`SqlStore PostMessages`).
    const NAME: &'static str;
    type Output: BatchSize + Send + 'static;

    /// What the hop spans say about this message.
    fn info(&self) -> HopInfo<'_>;

    fn route(&self) -> Route<'_>;

    /// For a request that creates its queue when it is missing: forbids that, and answers
    /// a copy that still may, for a retry once the queue has been placed. The router sends
    /// through a cached catalog entry with creation forbidden, so an entry made stale by
    /// another process can never bring the queue to life in a second pool.
    fn forbid_create(&mut self) -> Option<Self>
    where
        Self: Sized,
    {
        None
    }

    fn execute(
        self,
        store: Arc<dyn DataStore>,
    ) -> LocalBoxFuture<Result<Self::Output, StorageError>>;
}

impl BatchSize for Vec<Message> {
    fn batch_size(&self) -> Option<usize> {
        Some(self.len())
    }
}

/// Ids of posted messages.
impl BatchSize for Vec<String> {
    fn batch_size(&self) -> Option<usize> {
        Some(self.len())
    }
}

impl BatchSize for Option<Claim> {
    fn batch_size(&self) -> Option<usize> {
        Some(self.as_ref().map_or(0, |c| c.messages.len()))
    }
}

impl BatchSize for Claim {
    fn batch_size(&self) -> Option<usize> {
        Some(self.messages.len())
    }
}

impl BatchSize for () {}
impl BatchSize for bool {}
impl BatchSize for String {}
impl BatchSize for Option<Metadata> {}
impl BatchSize for QueueStats {}
impl BatchSize for Subscription {}
impl BatchSize for Vec<QueueEntry> {}
impl BatchSize for Vec<Subscription> {}

macro_rules! storage_requests {
    // A queue-scoped message has the queue as its first field.
    (@first $m:ident) => { None };
    (@first $m:ident queue $($rest:ident)*) => { Some(&$m.queue) };
    (@first $m:ident $other:ident $($rest:ident)*) => { None };
    // Its route, unless given, follows from that: the queue's pool, or any pool.
    (@route $m:ident [$r:ident $route:expr] $($f:ident)*) => {{ let $r = $m; $route }};
    (@route $m:ident [] queue $($f:ident)*) => { Route::Queue(&$m.queue) };
    (@route $m:ident [] $($f:ident)*) => { Route::Default };
    ($(
        $(#[doc = $doc:literal])*
        $name:ident { $($field:ident : $ty:ty),* $(,)? } -> $out:ty, $op:literal
            $(, route(|$r:ident| $route:expr))?
            $(, create_flag = $flag:ident)?
            = |$m:ident, $store:ident| $call:expr;
    )*) => {$(
        $(#[doc = $doc])*
        #[derive(Debug, Clone)]
        pub struct $name { $(pub $field: $ty),* }

        impl actix::Message for $name {
            type Result = Result<$out, StorageError>;
        }

        impl StorageRequest for $name {
            const NAME: &'static str = stringify!($name);
            type Output = $out;

            fn info(&self) -> HopInfo<'_> {
                HopInfo {
                    queue: storage_requests!(@first self $($field)*),
                    operation: $op,
                }
            }

            fn route(&self) -> Route<'_> {
                storage_requests!(@route self [$($r $route)?] $($field)*)
            }

            $(
            fn forbid_create(&mut self) -> Option<Self> {
                let copy = self.clone();
                self.$flag = false;
                Some(copy)
            }
            )?

            fn execute(self, $store: Arc<dyn DataStore>) -> LocalBoxFuture<Result<$out, StorageError>> {
                let $m = self;
                Box::pin(async move { $call.await })
            }
        }
    )*};
}

storage_requests! {
    /// Is the backend reachable?
    Ping {} -> (), "ping" = |_m, s| s.ping();

    /// Create a queue; `true` when it did not exist before.
    CreateQueue { queue: QueueId, metadata: Metadata } -> bool, "create",
        route(|m| Route::Place {
            queue: &m.queue,
            flavor: m.metadata.get(FLAVOR).and_then(|f| f.as_str()),
        })
        = |m, s| s.create_queue(&m.queue, m.metadata);
    /// The stored metadata of a queue; `None` when the queue was never created.
    GetQueueMetadata { queue: QueueId } -> Option<Metadata>, "get"
        = |m, s| s.queue_metadata(&m.queue);
    /// Replace the metadata of an existing queue.
    SetQueueMetadata { queue: QueueId, metadata: Metadata } -> (), "update"
        = |m, s| s.set_queue_metadata(&m.queue, m.metadata);
    /// Delete a queue with its messages, claims and subscriptions.
    DeleteQueue { queue: QueueId } -> (), "delete", route(|m| Route::Delete(&m.queue))
        = |m, s| s.delete_queue(&m.queue);
    /// A page of a project's queues in one pool, by name (the router merges the pools').
    ListQueues { project: String, marker: Option<String>, limit: u32 } -> Vec<QueueEntry>, "list"
        = |m, s| s.list_queues(&m.project, m.marker, m.limit);
    /// Message counts and the oldest and newest message.
    GetQueueStats { queue: QueueId } -> QueueStats, "stats" = |m, s| s.queue_stats(&m.queue);
    /// Delete the unclaimed messages and/or the subscriptions of a queue.
    PurgeQueue { queue: QueueId, messages: bool, subscriptions: bool } -> (), "purge"
        = |m, s| s.purge_queue(&m.queue, m.messages, m.subscriptions);

    /// Post a batch atomically; answers the new ids in order.
    /// With `create` false, fails with `QueueDoesNotExist` instead of creating the queue.
    PostMessages { queue: QueueId, client_id: String, messages: Arc<[NewMessage]>, size: u64, create: bool } -> Vec<String>, "send",
        route(|m| Route::Lazy(&m.queue)), create_flag = create
        = |m, s| s.post_messages(&m.queue, &m.client_id, m.messages, m.size, m.create);
    /// A page of messages in FIFO order after `marker`.
    ListMessages { queue: QueueId, filter: ListFilter, marker: Option<MessageMarker>, limit: u32 } -> Vec<Message>, "receive"
        = |m, s| s.list_messages(&m.queue, m.filter, m.marker, m.limit);
    /// The live messages among `ids`.
    GetMessages { queue: QueueId, ids: Vec<String> } -> Vec<Message>, "receive"
        = |m, s| s.get_messages(&m.queue, m.ids);
    /// Delete one message, honouring its claim.
    DeleteMessage { queue: QueueId, id: String, claim_id: Option<String> } -> (), "settle"
        = |m, s| s.delete_message(&m.queue, &m.id, m.claim_id.as_deref());
    /// Delete messages by id, claimed or not.
    DeleteMessages { queue: QueueId, ids: Vec<String> } -> (), "settle"
        = |m, s| s.delete_messages(&m.queue, m.ids);
    /// Remove and return up to `limit` unclaimed messages from the head of the queue.
    PopMessages { queue: QueueId, limit: u32 } -> Vec<Message>, "receive"
        = |m, s| s.pop_messages(&m.queue, m.limit);

    /// Claim up to `limit` free messages; `None` when none was claimable.
    CreateClaim { queue: QueueId, ttl: i64, grace: i64, limit: u32 } -> Option<Claim>, "receive"
        = |m, s| s.create_claim(&m.queue, m.ttl, m.grace, m.limit);
    /// A live claim and the messages it holds.
    GetClaim { queue: QueueId, id: String } -> Claim, "get" = |m, s| s.get_claim(&m.queue, &m.id);
    /// Restart a live claim's TTL.
    RenewClaim { queue: QueueId, id: String, ttl: i64, grace: i64 } -> (), "settle"
        = |m, s| s.renew_claim(&m.queue, &m.id, m.ttl, m.grace);
    /// Release a claim's messages and forget it.
    ReleaseClaim { queue: QueueId, id: String } -> (), "settle" = |m, s| s.release_claim(&m.queue, &m.id);

    /// Subscribe; an existing subscription of the same subscriber keeps its id.
    CreateSubscription { queue: QueueId, subscriber: String, ttl: i64, options: Metadata } -> String, "create"
        = |m, s| s.create_subscription(&m.queue, &m.subscriber, m.ttl, m.options);
    /// A page of a queue's subscriptions, by id.
    ListSubscriptions { queue: QueueId, marker: Option<String>, limit: u32 } -> Vec<Subscription>, "list"
        = |m, s| s.list_subscriptions(&m.queue, m.marker, m.limit);
    GetSubscription { queue: QueueId, id: String } -> Subscription, "get"
        = |m, s| s.get_subscription(&m.queue, &m.id);
    UpdateSubscription { queue: QueueId, id: String, update: SubscriptionUpdate } -> (), "update"
        = |m, s| s.update_subscription(&m.queue, &m.id, m.update);
    ConfirmSubscription { queue: QueueId, id: String, confirmed: bool } -> (), "update"
        = |m, s| s.confirm_subscription(&m.queue, &m.id, m.confirmed);
    DeleteSubscription { queue: QueueId, id: String } -> (), "delete"
        = |m, s| s.delete_subscription(&m.queue, &m.id);
}
