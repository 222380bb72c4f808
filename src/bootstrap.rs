//! Wiring: open the pools named by the configuration, then start the HTTP server with one
//! `PoolRouter` per worker thread (which starts that worker's storage actors), all sharing
//! one `PoolSet`: the stores' connection pools and the catalog cache.
//!
//! [`run`] takes an already-bound listener, so tests bind port 0 and embed the server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::{web, App};
use thiserror::Error;
use tracing_actix_web::TracingLogger;
use zaqar_actors::pooling::PoolingOptions;
pub use zaqar_actors::storage::open::redact_uri;
use zaqar_actors::storage::open::OpenOptions;
use zaqar_actors::{Clock, DataStore, PoolRouter, PoolSet, StorageError};

use crate::conf::{Config, ConfigError};
use crate::transport::validation::Validator;
use crate::transport::{access, admin_routes, common_headers, no_route, routes, wire, AppState};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot open the stores ({store}): {source}")]
    Store {
        /// The store's URI with any password masked.
        store: String,
        #[source]
        source: StorageError,
    },
    #[error("cannot serve on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

/// A started server: await `server` to run it; `addr` is where it listens.
pub struct Running {
    pub server: actix_web::dev::Server,
    pub addr: SocketAddr,
    /// The store, for the startup log line (password masked).
    pub store: String,
}

/// Opens the default pool (`[storage] message_store`) and, with pooling, the management
/// store.
pub async fn open_pools(conf: &Config, clock: Clock) -> Result<PoolSet, StartupError> {
    let storage = &conf.storage;
    let opts = OpenOptions {
        pool_size: storage.pool_size,
        timeout: Duration::from_secs(storage.acquire_timeout),
        command_timeout: Duration::from_secs(storage.command_timeout),
        sqlite_synchronous_full: storage.sqlite_synchronous == "full",
        sqlite_disk_reserve: storage.sqlite_disk_reserve,
        defaults: conf.limits.queue_defaults(),
        clock,
        keys: Arc::new(conf.encryption.keyring()),
        write_batch: zaqar_actors::storage::gather::BatchLimits {
            max_jobs: storage.write_batch_max,
            max_wait: Duration::from_micros(storage.write_batch_wait_us),
        },
    };
    let pooling = PoolingOptions {
        enabled: conf.pooling.enabled,
        cache_ttl: Duration::from_secs(conf.pooling.catalog_cache_ttl),
        seed: Some(conf.pooling.placement_seed).filter(|s| *s != 0),
    };
    let management = Some(storage.management_store.as_str()).filter(|m| !m.is_empty());
    PoolSet::open(&storage.message_store, management, opts, pooling)
        .await
        .map_err(|source| StartupError::Store {
            store: stores_named(conf),
            source,
        })
}

/// The configured stores, passwords masked, for messages.
fn stores_named(conf: &Config) -> String {
    let s = &conf.storage;
    if conf.pooling.enabled && !s.management_store.is_empty() {
        format!(
            "{}, management {}",
            redact_uri(&s.message_store),
            redact_uri(&s.management_store)
        )
    } else {
        redact_uri(&s.message_store)
    }
}

/// Removes expired rows every `interval`, for disk space only.
fn spawn_gc(store: Arc<dyn DataStore>, interval: Duration) {
    if interval.is_zero() {
        return;
    }
    actix_rt::spawn(async move {
        let mut tick = tokio::time::interval(interval);
        tick.tick().await;
        loop {
            tick.tick().await;
            match store.collect_garbage().await {
                Ok(n) if n > 0 => tracing::debug!(removed = n, "expired rows removed"),
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "garbage collection failed"),
            }
        }
    });
}

/// Descriptors kept for everything but client connections: the stores' connection pools,
/// log files, the listener, probes.
const RESERVED_FDS: u64 = 256;

/// `[server] max_connections`, or with 0 the open-file limit less [`RESERVED_FDS`] shared
/// among the workers (at least 16 each): connections past it wait to be accepted instead
/// of using up the descriptors that every other client and the stores need.
pub fn connections_per_worker(server: &crate::conf::ServerConf) -> usize {
    if server.max_connections > 0 {
        return server.max_connections;
    }
    let workers = if server.workers > 0 {
        server.workers
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    };
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given and nothing else.
    let known = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0;
    let open_files = if known { limit.rlim_cur } else { 1024 };
    let per_worker = open_files.saturating_sub(RESERVED_FDS) / workers as u64;
    per_worker.clamp(16, 25_000) as usize
}

/// Opens the store and starts serving on `listener`. Must run inside an actix system.
pub async fn run(
    conf: Config,
    listener: TcpListener,
    clock: Clock,
) -> Result<Running, StartupError> {
    conf.validate()?;
    let pools = Arc::new(open_pools(&conf, clock.clone()).await?);
    spawn_gc(
        pools.default_store().clone(),
        Duration::from_secs(conf.storage.gc_interval),
    );
    let admin = conf.server.admin_mode && conf.pooling.enabled;
    let validator = Arc::new(Validator::new(
        conf.limits.clone(),
        !conf.encryption.keys.0.is_empty(),
    ));
    let defaults = conf.limits.queue_defaults();
    let capacity = conf.server.mailbox_capacity;
    let body_timeout = Duration::from_secs(conf.server.client_body_timeout);
    let checksum = conf.server.enable_checksum;
    let cors = Arc::new(crate::transport::cors::Cors::new(&conf.cors));
    // Validated with the configuration: the file reads and every rule parses.
    let policy = Arc::new(
        crate::policy::Policy::load(&conf.oslo_policy.policy_file).map_err(|e| {
            StartupError::Config(crate::conf::ConfigError::Invalid {
                key: "oslo_policy.policy_file",
                reason: e.to_string(),
            })
        })?,
    );
    let keystone = conf.auth.keystone().then(|| {
        Arc::new(crate::keystone::Keystone::new(
            &conf.keystone_authtoken,
            &conf.trustee,
        ))
    });
    let signer =
        crate::transport::signed_url::Signer::new(&conf.signed_url.secret_key.0, clock.clone());
    #[cfg(feature = "profiler")]
    let profiler = web::Data::new(crate::profiler::Profiler::new(&conf.profiler));
    let addr = listener
        .local_addr()
        .map_err(|source| StartupError::Listen {
            addr: conf.server.bind.clone(),
            source,
        })?;
    if keystone.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(
            %addr,
            "[auth] strategy is noauth on an address beyond loopback: anyone who can reach it \
             can act as any project (X-Project-ID) and as admin (X-Roles); set strategy = \
             \"keystone\" or listen on 127.0.0.1"
        );
    }
    let make_app = move || {
        // Runs once per worker, on the worker's thread: its actors live there too.
        let router = PoolRouter::new(pools.clone(), capacity).start();
        let state = web::Data::new(AppState {
            router,
            validator: validator.clone(),
            defaults: defaults.clone(),
            body_timeout,
            checksum,
            signer: signer.clone(),
            cors: cors.clone(),
            auth: keystone
                .clone()
                .map(crate::transport::auth::Authenticator::new),
            policy: policy.clone(),
        });
        let app = App::new()
            .app_data(state)
            .configure(routes)
            .configure(|cfg| {
                if admin {
                    admin_routes(cfg)
                }
            })
            .default_service(web::to(no_route))
            .wrap_fn(crate::transport::signed_url::check_signature)
            .wrap_fn(crate::transport::acl::enforce)
            .wrap(actix_web::middleware::from_fn(
                crate::transport::auth::authenticate,
            ))
            .wrap_fn(access::catch_panic)
            .wrap_fn(common_headers)
            .wrap_fn(crate::transport::cors::cors);
        #[cfg(feature = "profiler")]
        let app = app
            .app_data(profiler.clone())
            .wrap_fn(crate::profiler::root_span::ambient_trace)
            .wrap_fn(access::access_log)
            .wrap(TracingLogger::<crate::profiler::root_span::ProfilerRootSpan>::new());
        #[cfg(not(feature = "profiler"))]
        let app = app
            .wrap_fn(access::access_log)
            .wrap(TracingLogger::default());
        app
    };
    // actix-web's HttpServer, assembled from its parts, so that each connection can be
    // wrapped (transport::wire gives actix-http's own error answers a JSON body).
    let head_timeout = conf.server.client_request_timeout;
    let mut builder = actix_server::Server::build()
        .shutdown_timeout(10)
        .max_concurrent_connections(connections_per_worker(&conf.server));
    if conf.server.workers > 0 {
        builder = builder.workers(conf.server.workers);
    }
    let server = builder
        .listen("zaqar-http", listener, move || {
            use actix_service::{IntoServiceFactory, ServiceFactoryExt};
            let app = make_app().into_factory().map_err(|e| e.error_response());
            let http = actix_http::HttpService::build()
                .client_request_timeout(Duration::from_secs(head_timeout))
                .local_addr(addr)
                .h1(actix_service::map_config(app, move |_| {
                    actix_web::dev::AppConfig::default()
                }));
            actix_service::fn_service(move |io: actix_rt::net::TcpStream| {
                let peer = io.peer_addr().ok();
                let _ = io.set_nodelay(true);
                std::future::ready(Ok::<_, actix_http::error::DispatchError>((
                    wire::ErrorBodies::new(io, head_timeout),
                    peer,
                )))
            })
            .and_then(http)
        })
        .map_err(|source| StartupError::Listen {
            addr: addr.to_string(),
            source,
        })?
        .run();
    Ok(Running {
        server,
        addr,
        store: stores_named(&conf),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_connection_bound_follows_the_open_file_limit() {
        let mut server = crate::conf::ServerConf {
            workers: 2,
            ..Default::default()
        };
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as in connections_per_worker.
        assert_eq!(
            unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) },
            0
        );
        let auto = connections_per_worker(&server);
        assert!(auto >= 16);
        assert!(auto as u64 * 2 <= limit.rlim_cur.max(16 * 2 + RESERVED_FDS));
        server.max_connections = 7;
        assert_eq!(connections_per_worker(&server), 7);
    }
}
