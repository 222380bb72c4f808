//! The requests the `PoolRouter` serves itself: listing queues across pools, and the
//! admin API's pools, flavors and health.
//!
//! Each implements [`RouterRequest`]: its name for spans and how it runs against the
//! router's [`Routing`]. They are not storage requests: no single pool answers them.

use crate::control::{Flavor, Pool};
use crate::envelope::HopInfo;
use crate::error::StorageError;
use crate::messages::{BatchSize, ListQueues, LocalBoxFuture};
use crate::model::QueueEntry;
use crate::pooling::{FlavorEntry, PoolPatch};
use crate::routing::Routing;

/// A message the router answers itself.
pub trait RouterRequest:
    actix::Message<Result = Result<<Self as RouterRequest>::Output, StorageError>> + Send + 'static
{
    const NAME: &'static str;
    type Output: BatchSize + Send + 'static;

    fn info(&self) -> HopInfo<'_> {
        HopInfo {
            queue: None,
            operation: "admin",
        }
    }

    fn execute(self, routing: Routing) -> LocalBoxFuture<Result<Self::Output, StorageError>>;
}

/// What `GET /v2/health` reports.
#[derive(Clone, Debug)]
pub struct HealthReport {
    pub catalog_reachable: bool,
    /// Each pool by name (the default pool first) and how it answers.
    pub pools: Vec<(String, crate::pooling::PoolStatus)>,
}

impl BatchSize for Pool {}
impl BatchSize for Vec<Pool> {}
impl BatchSize for FlavorEntry {}
impl BatchSize for Vec<FlavorEntry> {}
impl BatchSize for HealthReport {}

macro_rules! router_requests {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident { $($field:ident : $ty:ty),* $(,)? } -> $out:ty
            = |$m:ident, $r:ident| $call:expr;
    )*) => {$(
        $(#[doc = $doc])*
        #[derive(Debug)]
        pub struct $name { $(pub $field: $ty),* }

        impl actix::Message for $name {
            type Result = Result<$out, StorageError>;
        }

        impl RouterRequest for $name {
            const NAME: &'static str = stringify!($name);
            type Output = $out;

            fn execute(self, $r: Routing) -> LocalBoxFuture<Result<$out, StorageError>> {
                let $m = self;
                Box::pin(async move { $call.await })
            }
        }
    )*};
}

router_requests! {
    /// A page of a project's queues, by name, merged across every pool.
    ListAllQueues { project: String, marker: Option<String>, limit: u32 } -> Vec<QueueEntry>
        = |m, r| list_all_queues(r, m);

    /// Register or replace a pool, once its backend answers.
    PutPool { pool: Pool } -> () = |m, r| r.pools().put_pool(m.pool);
    GetPool { name: String } -> Pool = |m, r| r.pools().get_pool(&m.name);
    ListPools { marker: Option<String>, limit: u32 } -> Vec<Pool>
        = |m, r| r.pools().list_pools(m.marker.as_deref(), m.limit);
    UpdatePool { name: String, patch: PoolPatch } -> Pool
        = |m, r| r.pools().update_pool(&m.name, m.patch);
    /// Delete a pool that holds no queue.
    DeletePool { name: String } -> () = |m, r| r.pools().delete_pool(&m.name);

    /// Create or replace a flavor; `pools` become its members.
    PutFlavor { flavor: Flavor, pools: Vec<String> } -> ()
        = |m, r| r.pools().put_flavor(m.flavor, m.pools);
    GetFlavor { name: String } -> FlavorEntry = |m, r| r.pools().get_flavor(&m.name);
    ListFlavors { marker: Option<String>, limit: u32 } -> Vec<FlavorEntry>
        = |m, r| r.pools().list_flavors(m.marker.as_deref(), m.limit);
    DeleteFlavor { name: String } -> () = |m, r| r.pools().delete_flavor(&m.name);

    /// Whether the catalog and every pool answer.
    Health {} -> HealthReport = |_m, r| async move {
        let (catalog_reachable, pools) = r.pools().health().await;
        Ok(HealthReport { catalog_reachable, pools })
    };
}

/// Every pool lists its first `limit` queues after the marker; the merged page is the first
/// `limit` of all of them, by name. A queue found in two pools (one being the remains of a
/// failed deletion) is listed once.
async fn list_all_queues(
    routing: Routing,
    m: ListAllQueues,
) -> Result<Vec<QueueEntry>, StorageError> {
    let pools = routing.pools();
    let mut all: Vec<QueueEntry> = Vec::new();
    for (pool, store) in pools.every_pool().await? {
        let at = crate::pooling::Location {
            pool,
            store,
            cache_hit: None,
            placement: None,
        };
        let page = ListQueues {
            project: m.project.clone(),
            marker: m.marker.clone(),
            limit: m.limit,
        };
        all.extend(routing.send(&at, page).await?);
    }
    all.sort_by(|a, b| a.name.cmp(&b.name));
    all.dedup_by(|a, b| a.name == b.name);
    all.truncate(m.limit as usize);
    Ok(all)
}
