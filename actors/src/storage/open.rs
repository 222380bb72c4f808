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
use crate::storage::faulty::FaultyStore;
use crate::storage::mongo::{MongoOptions, MongoStore};
use crate::storage::redis::{RedisOptions, RedisStore};
use crate::storage::sql::{SqlOptions, SqlStore};
use crate::storage::DataStore;

/// What every backend is opened with (from `[storage]` and `[limits]`).
#[derive(Clone, Debug)]
pub struct OpenOptions {
    pub pool_size: u32,
    /// Bound on waiting for a connection (and, on Redis, on each command).
    pub timeout: Duration,
    pub sqlite_synchronous_full: bool,
    pub defaults: QueueDefaults,
    pub clock: Clock,
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

/// Connects to the backend named by `uri` (and migrates its schema, for SQL).
pub async fn open(uri: &str, opts: &OpenOptions) -> Result<Backend> {
    let scheme = uri.split("://").next().unwrap_or_default();
    let (clock, defaults) = (opts.clock.clone(), opts.defaults.clone());
    match scheme {
        "sqlite" | "postgres" | "postgresql" => {
            let sql = SqlOptions {
                uri: uri.to_owned(),
                pool_size: opts.pool_size,
                sqlite_synchronous_full: opts.sqlite_synchronous_full,
                acquire_timeout: opts.timeout,
            };
            SqlStore::connect(&sql, clock, defaults).await.map(backend)
        }
        "redis" | "rediss" => {
            let redis = RedisOptions {
                uri: uri.to_owned(),
                pool_size: opts.pool_size,
                timeout: opts.timeout,
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

    #[test]
    fn schemes() {
        assert!(known_scheme("redis://127.0.0.1:6379/0"));
        assert!(known_scheme("sqlite://./x.db"));
        assert!(!known_scheme("faulty://"));
        assert!(!known_scheme("mysql://db"));
        assert!(!known_scheme("redis"));
    }
}
