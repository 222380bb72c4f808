//! `StorageActor`: the actor in front of one pool's backend.
//!
//! One generic handler serves every [`StorageRequest`]: it opens the hop span and returns
//! the backend call as a future, so the actor never waits on I/O itself and serves many
//! requests at once; the backend's own connection pool bounds the concurrency. One instance
//! runs per HTTP worker thread, all sharing the same `Arc<dyn DataStore>`.

use std::sync::Arc;

use actix::{Actor, Context, Handler, ResponseFuture};

use crate::envelope::{in_hop, ActorLayer, Traced};
use crate::error::StorageError;
use crate::messages::StorageRequest;
use crate::storage::DataStore;

pub struct StorageActor {
    /// Shared with the storage actors of the other workers; the store's connection pool is
    /// the real concurrency limit.
    store: Arc<dyn DataStore>,
    mailbox_capacity: usize,
}

impl StorageActor {
    pub fn new(store: Arc<dyn DataStore>, mailbox_capacity: usize) -> Self {
        Self {
            store,
            mailbox_capacity,
        }
    }
}

impl Actor for StorageActor {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl<M: StorageRequest> Handler<Traced<M>> for StorageActor {
    type Result = ResponseFuture<Result<M::Output, StorageError>>;

    fn handle(&mut self, envelope: Traced<M>, _ctx: &mut Self::Context) -> Self::Result {
        let (msg, hop) = envelope.receive(ActorLayer::Storage, self.store.name(), M::NAME, M::info);
        Box::pin(in_hop(hop, msg.execute(self.store.clone())))
    }
}
