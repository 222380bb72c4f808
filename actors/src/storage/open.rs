//! Opening a backend from its URI: the one place that knows which scheme is which store.
//!
//! The default pool and the management store come from the configuration; registered pools
//! come from the admin API at run time. All are opened here, so a pool can be any backend.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::control::ControlStore;
use crate::error::{Result, StorageError};
use crate::model::QueueDefaults;
use crate::storage::encrypted::{Encrypting, Keyring};
use crate::storage::faulty::FaultyStore;
use crate::storage::mongo::{MongoOptions, MongoStore};
use crate::storage::redis::{RedisOptions, RedisStore};
use crate::storage::sql::{SqlOptions, SqlStore};
use crate::storage::DataStore;

pub use super::uri::redact_uri;

/// What every backend is opened with (from `[storage]` and `[limits]`).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub pool_size: u32,
    /// Bound on waiting for a pooled connection, and on opening one.
    pub timeout: Duration,
    /// Bound on each statement, script or command (`[storage] command_timeout`).
    pub command_timeout: Duration,
    pub sqlite_synchronous_full: bool,
    /// Bytes kept aside beside an SQLite file for freeing a full disk (0: none).
    pub sqlite_disk_reserve: u64,
    pub defaults: QueueDefaults,
    pub clock: Clock,
    /// Keys for queues that encrypt their messages (`[encryption] keys`); may be empty.
    pub keys: Arc<Keyring>,
}

/// One opened database: its message store and, when the backend has one, its control store
/// (the same connections serve both).
#[derive(Clone)]
pub struct Backend {
    pub data: Arc<dyn DataStore>,
    pub control: Option<Arc<dyn ControlStore>>,
}

fn backend<S: DataStore + ControlStore>(store: S) -> Backend {
    let store = Arc::new(store);
    Backend {
        data: store.clone(),
        control: Some(store),
    }
}

/// The schemes [`open`] knows, for error messages.
pub const SCHEMES: &str = "sqlite://, postgres://, redis:// or mongodb://";

/// Whether [`open`] knows the URI's scheme.
pub fn known_scheme(uri: &str) -> bool {
    matches!(
        uri.split("://").next(),
        Some("sqlite" | "postgres" | "postgresql" | "redis" | "rediss" | "mongodb" | "mongodb+srv")
    ) && uri.contains("://")
}

/// Connects to the backend named by `uri` (and migrates its schema, for SQL). Its message
/// store comes wrapped in [`Encrypting`]: every body goes in and out through it.
pub async fn open(uri: &str, opts: &OpenOptions) -> Result<Backend> {
    let mut backend = open_raw(uri, opts).await?;
    backend.data = Arc::new(Encrypting::new(backend.data, opts.keys.clone()));
    Ok(backend)
}

async fn open_raw(uri: &str, opts: &OpenOptions) -> Result<Backend> {
    let scheme = uri.split("://").next().unwrap_or_default();
    let (clock, defaults) = (opts.clock.clone(), opts.defaults.clone());
    match scheme {
        "sqlite" | "postgres" | "postgresql" => {
            let sql = SqlOptions {
                uri: uri.to_owned(),
                pool_size: opts.pool_size,
                sqlite_synchronous_full: opts.sqlite_synchronous_full,
                acquire_timeout: opts.timeout,
                command_timeout: opts.command_timeout,
                sqlite_disk_reserve: opts.sqlite_disk_reserve,
            };
            SqlStore::connect(&sql, clock, defaults).await.map(backend)
        }
        "redis" | "rediss" => {
            let redis = RedisOptions {
                uri: uri.to_owned(),
                pool_size: opts.pool_size,
                timeout: opts.timeout,
                command_timeout: opts.command_timeout,
            };
            RedisStore::connect(&redis, clock, defaults)
                .await
                .map(backend)
        }
        "mongodb" | "mongodb+srv" => {
            let mongo = MongoOptions {
                uri: uri.to_owned(),
                pool_size: opts.pool_size,
                timeout: opts.timeout,
                command_timeout: opts.command_timeout,
            };
            MongoStore::connect(&mongo, clock, defaults)
                .await
                .map(backend)
        }
        // Every call fails: for testing how the API answers a dead backend.
        "faulty" => Ok(Backend {
            data: Arc::new(FaultyStore),
            control: None,
        }),
        other => Err(StorageError::InvalidPool(format!(
            "unsupported scheme `{other}` (use {SCHEMES})"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        assert!(known_scheme("redis://127.0.0.1:6379/0"));
        assert!(known_scheme("sqlite://./x.db"));
        assert!(!known_scheme("faulty://"));
        assert!(!known_scheme("mysql://db"));
        assert!(!known_scheme("redis"));
    }
}
