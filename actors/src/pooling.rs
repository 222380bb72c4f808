//! Pooling: which pool holds a queue, and the pools themselves.
//!
//! [`PoolSet`] is shared by every `PoolRouter` of the process. It owns
//! - the opened backends, by URI (pools on the same database share its connections);
//! - the catalog cache, (project, queue) → pool, in front of the [`ControlStore`];
//! - placement: a new queue goes to a pool of its flavor chosen at random by weight, from a
//!   random source seeded by configuration so tests can fix it.
//!
//! Correctness across processes rests on two rules, not on the cache being fresh. A queue's
//! pool is fixed from its placement until it is deleted, so a cached entry can only be wrong
//! after another process deleted the queue. Writes that would create a queue (a post to a
//! lazy queue) through a cached entry are sent with creation forbidden: if the queue is gone
//! from that pool, the router drops the entry and places the queue through the catalog, so a
//! queue never comes to life in two pools. Reads through a cached entry may see a queue that
//! another process deleted (and re-created elsewhere) for at most `cache_ttl`.
//!
//! With pooling off there is one pool, the default one, and none of this is consulted.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::control::{ControlStore, Flavor, Pool, PoolDeletion, DEFAULT_POOL};
use crate::error::{Result, StorageError};
use crate::model::{Metadata, QueueId};
use crate::storage::open::{known_scheme, open, redact_uri, schemes, Backend, OpenOptions};
use crate::storage::DataStore;

/// `[pooling]` settings the actors need.
#[derive(Clone, Debug)]
pub struct PoolingOptions {
    pub enabled: bool,
    /// How long a cached catalog entry is trusted for reads.
    pub cache_ttl: Duration,
    /// Seed of the placement's random source; `None` seeds from the OS.
    pub seed: Option<u64>,
}

/// Where a request goes, and how the router found out (recorded on its span).
pub struct Location {
    pub pool: Arc<str>,
    pub store: Arc<dyn DataStore>,
    /// `Some(true)` when the catalog cache answered, `Some(false)` when the catalog did.
    pub cache_hit: Option<bool>,
    /// How a queue without a pool got one: `weighted`, `default` or `existing` (the default
    /// pool already held it, from before pooling); `None` when it had one.
    pub placement: Option<&'static str>,
}

/// A flavor with the pools that belong to it.
#[derive(Clone, Debug)]
pub struct FlavorEntry {
    pub flavor: Flavor,
    pub pools: Vec<Pool>,
}

/// Changes a PATCH of a pool asks for.
#[derive(Clone, Debug, Default)]
pub struct PoolPatch {
    pub uri: Option<String>,
    pub weight: Option<u32>,
    pub flavor: Option<Option<String>>,
    pub options: Option<Metadata>,
}

pub struct PoolSet {
    pooled: bool,
    default: Arc<dyn DataStore>,
    control: Option<Arc<dyn ControlStore>>,
    opts: OpenOptions,
    /// Opened backends by URI. An async lock, so two requests never open the same one twice.
    backends: tokio::sync::Mutex<HashMap<String, Backend>>,
    /// Registered pools this process has opened, by name.
    stores: RwLock<HashMap<String, Arc<dyn DataStore>>>,
    cache: RwLock<HashMap<QueueId, (Arc<str>, Instant)>>,
    cache_ttl: Duration,
    rng: Mutex<SplitMix64>,
    default_name: Arc<str>,
}

/// Beyond this many cached queues the cache starts over, bounding its memory.
const CACHE_CAPACITY: usize = 100_000;

impl PoolSet {
    /// Opens the default pool and, with pooling on, the management store (the same
    /// connections when both URIs are equal).
    pub async fn open(
        message_store: &str,
        management_store: Option<&str>,
        opts: OpenOptions,
        pooling: PoolingOptions,
    ) -> Result<Self> {
        let default = open(message_store, &opts).await?;
        let mut backends = HashMap::from([(message_store.to_owned(), default.clone())]);
        let control = if pooling.enabled {
            let uri = management_store.unwrap_or(message_store);
            let backend = match backends.get(uri) {
                Some(b) => b.clone(),
                None => {
                    let b = open(uri, &opts).await?;
                    backends.insert(uri.to_owned(), b.clone());
                    b
                }
            };
            Some(backend.control.ok_or_else(|| {
                StorageError::InvalidPool(format!(
                    "{} cannot hold the catalog (use {})",
                    redact_uri(uri),
                    schemes()
                ))
            })?)
        } else {
            None
        };
        let seed = pooling
            .seed
            .unwrap_or_else(|| uuid::Uuid::new_v4().as_u64_pair().0);
        Ok(Self {
            pooled: pooling.enabled,
            default: default.data,
            control,
            opts,
            backends: tokio::sync::Mutex::new(backends),
            stores: RwLock::default(),
            cache: RwLock::default(),
            cache_ttl: pooling.cache_ttl,
            rng: Mutex::new(SplitMix64(seed)),
            default_name: Arc::from(DEFAULT_POOL),
        })
    }

    /// One pool, no catalog: pooling off.
    pub fn single(store: Arc<dyn DataStore>) -> Self {
        Self {
            pooled: false,
            default: store,
            control: None,
            // Never used: without a catalog no other pool is opened.
            opts: OpenOptions {
                pool_size: 1,
                timeout: Duration::from_secs(5),
                command_timeout: Duration::from_secs(10),
                sqlite_synchronous_full: false,
                sqlite_disk_reserve: 0,
                defaults: Default::default(),
                clock: Default::default(),
                keys: Default::default(),
                write_batch: Default::default(),
            },
            backends: Default::default(),
            stores: RwLock::default(),
            cache: RwLock::default(),
            cache_ttl: Duration::ZERO,
            rng: Mutex::new(SplitMix64(0)),
            default_name: Arc::from(DEFAULT_POOL),
        }
    }

    pub fn pooled(&self) -> bool {
        self.pooled
    }

    pub fn default_store(&self) -> &Arc<dyn DataStore> {
        &self.default
    }

    pub fn default_location(&self) -> Location {
        Location {
            pool: self.default_name.clone(),
            store: self.default.clone(),
            cache_hit: None,
            placement: None,
        }
    }

    fn control(&self) -> Result<&Arc<dyn ControlStore>> {
        self.control
            .as_ref()
            .ok_or_else(|| StorageError::InvalidPool("pooling is not enabled".into()))
    }

    // ---- the catalog -------------------------------------------------------------------

    /// The queue's pool from the cache, if cached and fresh.
    pub async fn cached(&self, queue: &QueueId) -> Option<Location> {
        let pool = {
            let cache = self.cache.read().unwrap_or_else(|e| e.into_inner());
            match cache.get(queue) {
                Some((pool, at)) if at.elapsed() < self.cache_ttl => pool.clone(),
                _ => return None,
            }
        };
        let store = self.store_of(&pool).await.ok()?;
        Some(Location {
            pool,
            store,
            cache_hit: Some(true),
            placement: None,
        })
    }

    pub fn invalidate(&self, queue: &QueueId) {
        self.cache
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(queue);
    }

    fn remember(&self, queue: &QueueId, pool: &Arc<str>) {
        let mut cache = self.cache.write().unwrap_or_else(|e| e.into_inner());
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(queue.clone(), (pool.clone(), Instant::now()));
    }

    fn name(&self, pool: String) -> Arc<str> {
        if pool == DEFAULT_POOL {
            self.default_name.clone()
        } else {
            Arc::from(pool)
        }
    }

    /// The queue's pool: cached, else from the catalog. A queue that was never placed reads
    /// as empty, which the default pool answers (it is not placed by reading it).
    pub async fn locate(&self, queue: &QueueId) -> Result<Location> {
        if let Some(found) = self.cached(queue).await {
            return Ok(found);
        }
        match self.control()?.lookup(queue).await? {
            Some(pool) => {
                let pool = self.name(pool);
                self.remember(queue, &pool);
                Ok(Location {
                    store: self.store_of(&pool).await?,
                    pool,
                    cache_hit: Some(false),
                    placement: None,
                })
            }
            None => Ok(Location {
                cache_hit: Some(false),
                ..self.default_location()
            }),
        }
    }

    /// The queue's pool, placing the queue first if it has none: among the pools of
    /// `flavor` (or the pools without a flavor), at random by weight. Without such pools an
    /// unflavored queue lives in the default pool; a flavored one cannot be placed.
    pub async fn place(&self, queue: &QueueId, flavor: Option<&str>) -> Result<Location> {
        let control = self.control()?;
        if let Some(pool) = control.lookup(queue).await? {
            let pool = self.name(pool);
            self.remember(queue, &pool);
            return Ok(Location {
                store: self.store_of(&pool).await?,
                pool,
                cache_hit: Some(false),
                placement: None,
            });
        }
        let candidates: Vec<Pool> = self
            .all_pools()
            .await?
            .into_iter()
            .filter(|p| p.flavor.as_deref() == flavor && p.weight > 0)
            .collect();
        let (choice, how) = if candidates.is_empty() {
            if let Some(name) = flavor {
                return Err(StorageError::NoPoolForFlavor {
                    flavor: name.into(),
                });
            }
            (DEFAULT_POOL.to_owned(), "default")
        } else if flavor.is_none() && self.default.queue_metadata(queue).await?.is_some() {
            // Created before pooling was switched on: it stays where its messages are.
            (DEFAULT_POOL.to_owned(), "existing")
        } else {
            let weights: Vec<u32> = candidates.iter().map(|p| p.weight).collect();
            let draw = self.rng.lock().unwrap_or_else(|e| e.into_inner()).draw();
            (
                candidates[weighted(&weights, draw)].name.clone(),
                "weighted",
            )
        };
        // Another process may have placed it meanwhile: the catalog keeps the first.
        let pool = self.name(control.place(queue, &choice).await?);
        self.remember(queue, &pool);
        Ok(Location {
            store: self.store_of(&pool).await?,
            pool,
            cache_hit: Some(false),
            placement: Some(how),
        })
    }

    /// Forgets the queue's pool, before its data is deleted: a post racing the deletion then
    /// either lands before it (and goes with the queue) or places the queue afresh.
    pub async fn unplace(&self, queue: &QueueId) -> Result<()> {
        self.invalidate(queue);
        self.control()?.unplace(queue).await
    }

    /// Puts a queue back in `pool` after its deletion failed half way.
    pub async fn restore(&self, queue: &QueueId, pool: &str) -> Result<()> {
        self.control()?.place(queue, pool).await.map(|_| ())
    }

    /// The store of a pool, opening it on first use in this process.
    pub async fn store_of(&self, pool: &str) -> Result<Arc<dyn DataStore>> {
        if pool == DEFAULT_POOL {
            return Ok(self.default.clone());
        }
        if let Some(store) = self
            .stores
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(pool)
        {
            return Ok(store.clone());
        }
        let def = self
            .control()?
            .get_pool(pool)
            .await?
            .ok_or_else(|| StorageError::PoolDoesNotExist { name: pool.into() })?;
        let store = self.backend(&def.uri).await?.data;
        self.stores
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(def.name, store.clone());
        Ok(store)
    }

    async fn backend(&self, uri: &str) -> Result<Backend> {
        let mut backends = self.backends.lock().await;
        if let Some(b) = backends.get(uri) {
            return Ok(b.clone());
        }
        let b = open(uri, &self.opts).await?;
        backends.insert(uri.to_owned(), b.clone());
        Ok(b)
    }

    /// The default pool and every registered pool, for listing queues across them.
    pub async fn every_pool(&self) -> Result<Vec<(Arc<str>, Arc<dyn DataStore>)>> {
        let mut out = vec![(self.default_name.clone(), self.default.clone())];
        if self.pooled {
            // Opened by the URI just read, not looked up again by name: a pool deleted
            // meanwhile (it held no queue) still answers its empty page.
            for pool in self.all_pools().await? {
                let store = self.backend(&pool.uri).await?.data;
                out.push((Arc::from(pool.name), store));
            }
        }
        Ok(out)
    }

    async fn all_pools(&self) -> Result<Vec<Pool>> {
        const PAGE: u32 = 100;
        let control = self.control()?;
        let mut out: Vec<Pool> = Vec::new();
        loop {
            let marker = out.last().map(|p| p.name.clone());
            let page = control.list_pools(marker.as_deref(), PAGE).await?;
            let done = page.len() < PAGE as usize;
            out.extend(page);
            if done {
                return Ok(out);
            }
        }
    }

    // ---- pools and flavors (the admin API) ---------------------------------------------

    /// Registers (or replaces) a pool once its backend answers. A rejected pool changes
    /// nothing.
    pub async fn put_pool(&self, pool: Pool) -> Result<()> {
        if pool.name == DEFAULT_POOL {
            return Err(StorageError::InvalidPool(format!(
                "the pool name \"{DEFAULT_POOL}\" is reserved for [storage] message_store"
            )));
        }
        let control = self.control()?;
        if let Some(old) = control.get_pool(&pool.name).await? {
            if old.uri != pool.uri {
                return Err(StorageError::PoolUriFixed { name: pool.name });
            }
        }
        self.check_reachable(&pool.uri).await?;
        if let Some(flavor) = &pool.flavor {
            if control.get_flavor(flavor).await?.is_none() {
                return Err(StorageError::FlavorDoesNotExist {
                    name: flavor.clone(),
                });
            }
        }
        control.put_pool(&pool).await
    }

    async fn check_reachable(&self, uri: &str) -> Result<()> {
        if !known_scheme(uri) {
            return Err(StorageError::InvalidPool(format!(
                "unsupported pool uri {} (use {})",
                redact_uri(uri),
                schemes()
            )));
        }
        let unreachable = || StorageError::PoolUnreachable {
            uri: redact_uri(uri),
        };
        let backend = self.backend(uri).await.map_err(|e| match e {
            StorageError::Unavailable(_) => unreachable(),
            other => other,
        })?;
        backend.data.ping().await.map_err(|_| unreachable())
    }

    pub async fn update_pool(&self, name: &str, patch: PoolPatch) -> Result<Pool> {
        let control = self.control()?;
        let mut pool = control
            .get_pool(name)
            .await?
            .ok_or_else(|| StorageError::PoolDoesNotExist { name: name.into() })?;
        if let Some(uri) = patch.uri {
            pool.uri = uri;
        }
        if let Some(weight) = patch.weight {
            pool.weight = weight;
        }
        if let Some(flavor) = patch.flavor {
            pool.flavor = flavor;
        }
        if let Some(options) = patch.options {
            pool.options = options;
        }
        self.put_pool(pool.clone()).await?;
        Ok(pool)
    }

    pub async fn get_pool(&self, name: &str) -> Result<Pool> {
        self.control()?
            .get_pool(name)
            .await?
            .ok_or_else(|| StorageError::PoolDoesNotExist { name: name.into() })
    }

    pub async fn list_pools(&self, marker: Option<&str>, limit: u32) -> Result<Vec<Pool>> {
        self.control()?.list_pools(marker, limit).await
    }

    pub async fn delete_pool(&self, name: &str) -> Result<()> {
        match self.control()?.delete_pool(name).await? {
            PoolDeletion::Deleted => {
                self.stores
                    .write()
                    .unwrap_or_else(|e| e.into_inner())
                    .remove(name);
                Ok(())
            }
            // Deleting what is not there succeeds, as every DELETE of the API.
            PoolDeletion::Missing => Ok(()),
            PoolDeletion::InUse(queues) => Err(StorageError::PoolInUse {
                name: name.into(),
                queues,
            }),
        }
    }

    /// Creates or replaces a flavor; the pools in `pools` join it, the others leave it.
    pub async fn put_flavor(&self, flavor: Flavor, pools: Vec<String>) -> Result<()> {
        let control = self.control()?;
        let all = self.all_pools().await?;
        if let Some(missing) = pools.iter().find(|n| !all.iter().any(|p| &&p.name == n)) {
            return Err(StorageError::PoolDoesNotExist {
                name: missing.clone(),
            });
        }
        control.put_flavor(&flavor).await?;
        for mut pool in all {
            let member = pools.contains(&pool.name);
            let was = pool.flavor.as_deref() == Some(flavor.name.as_str());
            if member != was {
                pool.flavor = member.then(|| flavor.name.clone());
                control.put_pool(&pool).await?;
            }
        }
        Ok(())
    }

    pub async fn get_flavor(&self, name: &str) -> Result<FlavorEntry> {
        let flavor = self
            .control()?
            .get_flavor(name)
            .await?
            .ok_or_else(|| StorageError::FlavorDoesNotExist { name: name.into() })?;
        let all = self.all_pools().await?;
        Ok(with_pools(flavor, &all))
    }

    pub async fn list_flavors(&self, marker: Option<&str>, limit: u32) -> Result<Vec<FlavorEntry>> {
        let flavors = self.control()?.list_flavors(marker, limit).await?;
        let all = self.all_pools().await?;
        Ok(flavors.into_iter().map(|f| with_pools(f, &all)).collect())
    }

    /// Deletes a flavor; its pools stay, without a flavor.
    pub async fn delete_flavor(&self, name: &str) -> Result<()> {
        let control = self.control()?;
        for mut pool in self.all_pools().await? {
            if pool.flavor.as_deref() == Some(name) {
                pool.flavor = None;
                control.put_pool(&pool).await?;
            }
        }
        control.delete_flavor(name).await.map(|_| ())
    }

    /// Whether the catalog and each pool answer, by pool name.
    pub async fn health(&self) -> (bool, Vec<(String, PoolStatus)>) {
        let catalog = match &self.control {
            Some(c) => c.ping().await.is_ok(),
            None => self.default.ping().await.is_ok(),
        };
        let mut pools = vec![(
            DEFAULT_POOL.to_owned(),
            PoolStatus::of(self.default.ping().await),
        )];
        if self.pooled && catalog {
            if let Ok(all) = self.all_pools().await {
                for pool in all {
                    let status = match self.backend(&pool.uri).await {
                        Ok(backend) => PoolStatus::of(backend.data.ping().await),
                        Err(_) => PoolStatus::Down,
                    };
                    pools.push((pool.name, status));
                }
            }
        }
        (catalog, pools)
    }
}

/// How a pool answers its ping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PoolStatus {
    Up,
    /// It answers, but writes fail (a full disk).
    Degraded,
    Down,
}

impl PoolStatus {
    pub fn of(ping: Result<()>) -> Self {
        match ping {
            Ok(()) => PoolStatus::Up,
            Err(StorageError::Degraded(_)) => PoolStatus::Degraded,
            Err(_) => PoolStatus::Down,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PoolStatus::Up => "ok",
            PoolStatus::Degraded => "degraded",
            PoolStatus::Down => "down",
        }
    }
}

fn with_pools(flavor: Flavor, all: &[Pool]) -> FlavorEntry {
    let pools = all
        .iter()
        .filter(|p| p.flavor.as_deref() == Some(flavor.name.as_str()))
        .cloned()
        .collect();
    FlavorEntry { flavor, pools }
}

/// The index picked by `draw` among `weights`, each index with probability weight / total.
/// At least one weight must be above 0.
fn weighted(weights: &[u32], draw: u64) -> usize {
    let total: u64 = weights.iter().map(|w| u64::from(*w)).sum();
    let mut point = draw % total.max(1);
    for (i, w) in weights.iter().enumerate() {
        let w = u64::from(*w);
        if point < w {
            return i;
        }
        point -= w;
    }
    weights.len() - 1
}

/// SplitMix64: small, fast, and good enough to spread queues; seeded for reproducible tests
/// (the fuzzer draws its requests from it too).
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn draw(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weighted_choice_follows_weights() {
        let weights = [1, 0, 3];
        let mut rng = SplitMix64(7);
        let mut counts = [0u32; 3];
        for _ in 0..40_000 {
            counts[weighted(&weights, rng.draw())] += 1;
        }
        assert_eq!(counts[1], 0, "a pool of weight 0 takes no queue");
        // Expected 10000 and 30000; five standard deviations is about 430.
        assert!((9_570..=10_430).contains(&counts[0]), "{counts:?}");
        assert!((29_570..=30_430).contains(&counts[2]), "{counts:?}");
    }

    #[test]
    fn weighted_choice_covers_the_boundaries() {
        assert_eq!(weighted(&[2, 3], 0), 0);
        assert_eq!(weighted(&[2, 3], 1), 0);
        assert_eq!(weighted(&[2, 3], 2), 1);
        assert_eq!(weighted(&[2, 3], 4), 1);
        assert_eq!(weighted(&[2, 3], 5), 0);
    }

    #[test]
    fn same_seed_same_draws() {
        let (mut a, mut b) = (SplitMix64(42), SplitMix64(42));
        assert!((0..10).all(|_| a.draw() == b.draw()));
    }
}
