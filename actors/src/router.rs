//! The `PoolRouter` actor: the hop between the HTTP layer and the storage actors.
//!
//! It decides which pool's storage actor serves a request. Until pooling exists there is one
//! pool, so the decision is trivial, but the hop is real and traced, so traces already have
//! their final shape. The handler forwards with a future and never awaits inside the actor,
//! so one router serves many requests at once.

use actix::{Actor, Addr, Context, Handler, ResponseFuture};

use crate::envelope::{in_hop, ActorLayer, Traced};
use crate::messages::StorageRequest;
use crate::storage::actor::StorageActor;

pub struct PoolRouter {
    /// The storage actor of the single pool, started on the same arbiter (worker thread),
    /// so the hop never crosses threads.
    pool: Addr<StorageActor>,
    mailbox_capacity: usize,
}

impl PoolRouter {
    pub fn new(pool: Addr<StorageActor>, mailbox_capacity: usize) -> Self {
        Self {
            pool,
            mailbox_capacity,
        }
    }
}

impl Actor for PoolRouter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.mailbox_capacity);
    }
}

impl<M: StorageRequest> Handler<Traced<M>> for PoolRouter {
    type Result = ResponseFuture<Result<M::Output, crate::StorageError>>;

    fn handle(&mut self, envelope: Traced<M>, _ctx: &mut Self::Context) -> Self::Result {
        let (msg, hop) = envelope.receive(ActorLayer::Pooling, "PoolRouter", M::NAME, M::info);
        let pool = self.pool.clone();
        Box::pin(in_hop(hop, async move {
            // Runs under the hop's context, so the storage actor's span is its child.
            pool.send(Traced::new(msg)).await?
        }))
    }
}
