//! Wiring: open the store named by the configuration, then start the HTTP server with one
//! `PoolRouter` and one `StorageActor` per worker thread, all sharing the store.
//!
//! [`run`] takes an already-bound listener, so tests bind port 0 and embed the server.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix::Actor;
use actix_web::{web, App, HttpServer};
use thiserror::Error;
use tracing_actix_web::TracingLogger;
use zaqar_actors::storage::faulty::FaultyStore;
use zaqar_actors::storage::mongo::{MongoOptions, MongoStore};
use zaqar_actors::storage::redis::{RedisOptions, RedisStore};
use zaqar_actors::storage::sql::{SqlOptions, SqlStore};
use zaqar_actors::{Clock, DataStore, PoolRouter, StorageActor, StorageError};

use crate::conf::{Config, ConfigError};
use crate::transport::validation::Validator;
use crate::transport::{common_headers, no_route, routes, AppState};

#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("storage.message_store: unsupported scheme `{scheme}` (use sqlite://, postgres://, redis:// or mongodb://)")]
    UnsupportedStore { scheme: String },
    #[error("cannot open the message store {store}: {source}")]
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

/// The URI with the password part, if any, replaced by `***`.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{scheme}://{user}:***@{host}{path}")
        }
        None => uri.to_owned(),
    }
}

/// Opens the store named by `[storage] message_store`.
pub async fn open_store(conf: &Config, clock: Clock) -> Result<Arc<dyn DataStore>, StartupError> {
    let uri = &conf.storage.message_store;
    let scheme = uri.split("://").next().unwrap_or_default();
    let timeout = Duration::from_secs(conf.storage.acquire_timeout);
    let pool_size = conf.storage.pool_size;
    let defaults = conf.limits.queue_defaults();
    fn shared<S: DataStore>(store: S) -> Arc<dyn DataStore> {
        Arc::new(store)
    }
    let opened = match scheme {
        "sqlite" | "postgres" | "postgresql" => {
            let opts = SqlOptions {
                uri: uri.clone(),
                pool_size,
                sqlite_synchronous_full: conf.storage.sqlite_synchronous == "full",
                acquire_timeout: timeout,
            };
            SqlStore::connect(&opts, clock, defaults).await.map(shared)
        }
        "redis" | "rediss" => {
            let opts = RedisOptions {
                uri: uri.clone(),
                pool_size,
                timeout,
            };
            RedisStore::connect(&opts, clock, defaults)
                .await
                .map(shared)
        }
        "mongodb" | "mongodb+srv" => {
            let opts = MongoOptions {
                uri: uri.clone(),
                pool_size,
                timeout,
            };
            MongoStore::connect(&opts, clock, defaults)
                .await
                .map(shared)
        }
        // Every call fails: for testing how the API answers a dead backend.
        "faulty" => Ok(shared(FaultyStore)),
        other => {
            return Err(StartupError::UnsupportedStore {
                scheme: other.to_owned(),
            })
        }
    };
    opened.map_err(|source| StartupError::Store {
        store: redact_uri(uri),
        source,
    })
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

/// Opens the store and starts serving on `listener`. Must run inside an actix system.
pub async fn run(
    conf: Config,
    listener: TcpListener,
    clock: Clock,
) -> Result<Running, StartupError> {
    conf.validate()?;
    let store = open_store(&conf, clock).await?;
    spawn_gc(store.clone(), Duration::from_secs(conf.storage.gc_interval));
    let validator = Arc::new(Validator::new(conf.limits.clone()));
    let defaults = conf.limits.queue_defaults();
    let capacity = conf.server.mailbox_capacity;
    #[cfg(feature = "profiler")]
    let profiler = web::Data::new(crate::profiler::Profiler::new(&conf.profiler));
    let addr = listener
        .local_addr()
        .map_err(|source| StartupError::Listen {
            addr: conf.server.bind.clone(),
            source,
        })?;
    let mut server = HttpServer::new(move || {
        // Runs once per worker, on the worker's thread: its actors live there too.
        let storage = StorageActor::new(store.clone(), capacity).start();
        let router = PoolRouter::new(storage, capacity).start();
        let state = web::Data::new(AppState {
            router,
            validator: validator.clone(),
            defaults: defaults.clone(),
        });
        let app = App::new()
            .app_data(state)
            .configure(routes)
            .default_service(web::to(no_route))
            .wrap_fn(common_headers);
        #[cfg(feature = "profiler")]
        let app = app
            .app_data(profiler.clone())
            .wrap_fn(crate::profiler::root_span::ambient_trace)
            .wrap(TracingLogger::<crate::profiler::root_span::ProfilerRootSpan>::new());
        #[cfg(not(feature = "profiler"))]
        let app = app.wrap(TracingLogger::default());
        app
    })
    .shutdown_timeout(10);
    if conf.server.workers > 0 {
        server = server.workers(conf.server.workers);
    }
    let server = server
        .listen(listener)
        .map_err(|source| StartupError::Listen {
            addr: addr.to_string(),
            source,
        })?
        .run();
    Ok(Running {
        server,
        addr,
        store: redact_uri(&conf.storage.message_store),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        assert_eq!(
            redact_uri("postgres://zaqar:s3cret@db:5432/zaqar"),
            "postgres://zaqar:***@db:5432/zaqar"
        );
        assert_eq!(
            redact_uri("sqlite://./data/zaqar.db"),
            "sqlite://./data/zaqar.db"
        );
        assert!(!redact_uri("redis://:pw@host/0").contains("pw"));
    }
}
