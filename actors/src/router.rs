//! The `PoolRouter` actor: the hop between the HTTP layer and the storage actors.
//!
//! It finds the pool that holds a request's queue (through the process-wide [`PoolSet`]:
//! catalog cache, catalog, placement) and forwards the request to that pool's storage
//! actor. Each router starts one storage actor per pool it has routed to, on its own worker
//! thread, so a hop never crosses threads. Handlers forward with a future and never await
//! inside the actor, so one router serves many requests at once. It also serves the
//! requests that concern the pools themselves (see [`crate::messages::pooling`]).
//!
//! With pooling off the router forwards everything to the default pool's actor, and its
//! span says no more than that it was there.

use std::sync::Arc;

use actix::{Actor, Context, Handler, ResponseFuture};

use crate::envelope::{in_hop, ActorLayer, Traced};
use crate::error::StorageError;
use crate::messages::pooling::RouterRequest;
use crate::messages::StorageRequest;
use crate::pooling::PoolSet;
use crate::routing::Routing;

pub struct PoolRouter {
    routing: Routing,
}

impl PoolRouter {
    /// A router over `pools`; its actors get mailboxes of `mailbox_capacity`. Must be
    /// called on the thread the router will run on (its storage actors start there).
    pub fn new(pools: Arc<PoolSet>, mailbox_capacity: usize) -> Self {
        Self {
            routing: Routing::new(pools, mailbox_capacity),
        }
    }
}

impl Actor for PoolRouter {
    type Context = Context<Self>;

    fn started(&mut self, ctx: &mut Self::Context) {
        ctx.set_mailbox_capacity(self.routing.capacity());
    }
}

impl<M: StorageRequest> Handler<Traced<M>> for PoolRouter {
    type Result = ResponseFuture<Result<M::Output, StorageError>>;

    fn handle(&mut self, envelope: Traced<M>, _ctx: &mut Self::Context) -> Self::Result {
        let (msg, hop) = envelope.receive(ActorLayer::Pooling, "PoolRouter", M::NAME, M::info);
        let routing = self.routing.clone();
        // Runs under the hop's context, so the storage actor's span is its child.
        Box::pin(in_hop(hop, async move { routing.route(msg).await }))
    }
}

/// The handlers of the requests the router serves itself (`module::Request` under
/// [`crate::messages`]).
macro_rules! router_handlers {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        impl Handler<Traced<crate::messages::$module::$name>> for PoolRouter {
            type Result = ResponseFuture<
                Result<<crate::messages::$module::$name as RouterRequest>::Output, StorageError>,
            >;

            fn handle(
                &mut self,
                envelope: Traced<crate::messages::$module::$name>,
                _ctx: &mut Self::Context,
            ) -> Self::Result {
                type M = crate::messages::$module::$name;
                let (msg, hop) =
                    envelope.receive(ActorLayer::Pooling, "PoolRouter", M::NAME, M::info);
                Box::pin(in_hop(hop, msg.execute(self.routing.clone())))
            }
        }
    )*};
}

router_handlers!(
    dead_letter::ClaimMessages,
    pooling::ListAllQueues,
    pooling::PutPool,
    pooling::GetPool,
    pooling::ListPools,
    pooling::UpdatePool,
    pooling::DeletePool,
    pooling::PutFlavor,
    pooling::GetFlavor,
    pooling::ListFlavors,
    pooling::DeleteFlavor,
    pooling::Health,
);
