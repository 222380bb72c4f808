//! How the router routes: the pool of a request's queue (through the process-wide
//! [`PoolSet`]) and that pool's storage actor on this worker. The requests the router
//! serves itself (the pool and dead-letter requests) route with it too, so it lives apart
//! from the actor.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;

use actix::{Actor, Addr};

use crate::envelope::Traced;
use crate::error::StorageError;
use crate::messages::{Route, StorageRequest};
use crate::pooling::{Location, PoolSet};
use crate::storage::actor::StorageActor;
use crate::storage::DataStore;

/// A pool's storage actor on this worker, with the store it was started for.
type Actors = HashMap<Arc<str>, (Arc<dyn DataStore>, Addr<StorageActor>)>;

/// What the router's futures route with. They run on the router's thread, so the actors of
/// this worker are shared without locks.
#[derive(Clone)]
pub struct Routing {
    pools: Arc<PoolSet>,
    actors: Rc<RefCell<Actors>>,
    capacity: usize,
}

fn same_store(a: &Arc<dyn DataStore>, b: &Arc<dyn DataStore>) -> bool {
    std::ptr::eq(Arc::as_ptr(a).cast::<()>(), Arc::as_ptr(b).cast::<()>())
}

impl Routing {
    /// Routing over `pools` for one worker; its actors get mailboxes of `capacity`. Must be
    /// called on the thread the routing will run on (its storage actors start there).
    pub fn new(pools: Arc<PoolSet>, capacity: usize) -> Self {
        let routing = Routing {
            pools,
            actors: Rc::default(),
            capacity,
        };
        // The default pool's actor exists from the start, like the router itself.
        routing.actor(&routing.pools.default_location());
        routing
    }

    pub fn capacity(&self) -> usize {
        self.capacity
    }

    pub fn pools(&self) -> &PoolSet {
        &self.pools
    }

    /// This worker's storage actor for the pool, started on first use.
    fn actor(&self, at: &Location) -> Addr<StorageActor> {
        let mut actors = self.actors.borrow_mut();
        if let Some((store, addr)) = actors.get(&at.pool) {
            if same_store(store, &at.store) && addr.connected() {
                return addr.clone();
            }
        }
        let addr = StorageActor::new(at.store.clone(), self.capacity).start();
        actors.insert(at.pool.clone(), (at.store.clone(), addr.clone()));
        addr
    }

    /// Sends `msg` to the storage actor of the pool at `at`.
    pub async fn send<M: StorageRequest>(
        &self,
        at: &Location,
        msg: M,
    ) -> Result<M::Output, StorageError> {
        record_location(at);
        send_to(&self.actor(at), &at.pool, msg).await
    }

    /// Sends `msg` to the pool that holds (or is to hold) its queue.
    pub async fn route<M: StorageRequest>(&self, mut msg: M) -> Result<M::Output, StorageError> {
        let pools = &self.pools;
        if !pools.pooled() {
            // One pool: no catalog to consult, and the span says no more than that it
            // was here.
            let at = pools.default_location();
            return send_to(&self.actor(&at), &at.pool, msg).await;
        }
        match msg.route() {
            Route::Default => self.send(&pools.default_location(), msg).await,
            Route::Queue(queue) => {
                let at = pools.locate(queue).await?;
                self.send(&at, msg).await
            }
            Route::Place { queue, flavor } => {
                let at = pools.place(queue, flavor).await?;
                self.send(&at, msg).await
            }
            Route::Lazy(queue) => {
                let queue = queue.clone();
                let Some(at) = pools.cached(&queue).await else {
                    let at = pools.place(&queue, None).await?;
                    return self.send(&at, msg).await;
                };
                let Some(retry) = msg.forbid_create() else {
                    return self.send(&at, msg).await;
                };
                match self.send(&at, msg).await {
                    // Deleted by another process since it was cached: place it anew.
                    Err(StorageError::QueueDoesNotExist { .. }) => {
                        pools.invalidate(&queue);
                        let at = pools.place(&queue, None).await?;
                        self.send(&at, retry).await
                    }
                    done => done,
                }
            }
            Route::Delete(queue) => {
                let queue = queue.clone();
                let at = pools.locate(&queue).await?;
                pools.unplace(&queue).await?;
                let deleted = self.send(&at, msg).await;
                if deleted.is_err() {
                    // Its messages are still there: keep it findable (best effort, the
                    // client is told to retry anyway).
                    let _ = pools.restore(&queue, &at.pool).await;
                }
                deleted
            }
        }
    }
}

/// Sends `msg` to a pool's storage actor. A backend failure comes back naming the pool and
/// the queue, so that the one log line it gets (in the HTTP layer) says where it happened.
async fn send_to<M: StorageRequest>(
    actor: &Addr<StorageActor>,
    pool: &str,
    msg: M,
) -> Result<M::Output, StorageError> {
    let queue = msg
        .route()
        .queue()
        .map(|q| format!("{}/{}", q.project, q.name));
    match actor.send(Traced::new(msg)).await? {
        Err(StorageError::Unavailable(cause)) => Err(StorageError::unavailable_in(
            format!("pool {pool}, queue {}", queue.as_deref().unwrap_or("-")),
            cause,
        )),
        done => done,
    }
}

/// Records on the router's span where the request goes: the pool, and whether the catalog
/// cache knew it and how a new queue was placed.
#[cfg_attr(not(feature = "profiler"), allow(unused_variables))]
fn record_location(at: &Location) {
    #[cfg(feature = "profiler")]
    if let Some(span) = crate::envelope::pooling_span() {
        span.record("zaqar.pool", &*at.pool);
        if let Some(hit) = at.cache_hit {
            span.record("zaqar.catalog", if hit { "cache" } else { "lookup" });
        }
        if let Some(how) = at.placement {
            span.record("zaqar.placement", how);
        }
    }
}
