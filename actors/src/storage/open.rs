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

/// The URI with every credential replaced by `***`: the password of the userinfo (even
/// one holding unencoded `/`, `?` or `#`, which URL parsers refuse), and the values of query
/// parameters that carry secrets (`password=`, `token=`, ...). This is the one masking
/// function: whatever shows a backend URI (pool listings, error bodies, logs) goes through
/// it. It errs towards masking too much.
pub fn redact_uri(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else {
        return uri.to_owned();
    };
    let query_at = rest.find(['?', '#']).unwrap_or(rest.len());
    // The userinfo ends at the last `@` of the authority; a password with an unencoded `?`
    // or `#` puts that `@` after the apparent query start, so look further there.
    let at = rest[..query_at]
        .rfind('@')
        .or_else(|| rest.rfind('@').filter(|&i| rest[..i].contains(':')));
    let (userinfo, after) = match at {
        Some(i) => (Some(&rest[..i]), &rest[i + 1..]),
        None => (None, rest),
    };
    let mut out = format!("{scheme}://");
    if let Some(userinfo) = userinfo {
        match userinfo.split_once(':') {
            Some((user, _password)) => out.push_str(&format!("{user}:***@")),
            None => out.push_str(&format!("{userinfo}@")),
        }
    }
    let (base, query) = match after.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (after, None),
    };
    out.push_str(base);
    if let Some(query) = query {
        let (query, fragment) = match query.split_once('#') {
            Some((q, f)) => (q, Some(f)),
            None => (query, None),
        };
        let pairs: Vec<String> = query
            .split('&')
            .map(|pair| match pair.split_once('=') {
                Some((key, _)) if secret_parameter(key) => format!("{key}=***"),
                _ => pair.to_owned(),
            })
            .collect();
        out.push('?');
        out.push_str(&pairs.join("&"));
        if let Some(fragment) = fragment {
            out.push('#');
            out.push_str(fragment);
        }
    }
    out
}

/// Query parameters of backend URIs whose value is a credential (libpq's `password`,
/// `sslpassword`; MongoDB's `authMechanismProperties`, which may hold a session token; and
/// anything named like a password, secret, token or key).
fn secret_parameter(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "pass",
        "pwd",
        "secret",
        "token",
        "key",
        "authmechanismproperties",
    ]
    .iter()
    .any(|word| key.contains(word))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_masked() {
        let cases = [
            (
                "postgres://zaqar:s3cret@db:5432/zaqar",
                "postgres://zaqar:***@db:5432/zaqar",
            ),
            ("sqlite://./data/zaqar.db", "sqlite://./data/zaqar.db"),
            ("sqlite://./a@b.db", "sqlite://./a@b.db"),
            ("redis://:s3cret@host/0", "redis://:***@host/0"),
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("redis://user@host/0", "redis://user@host/0"),
            (
                "postgres://h/db?user=u&password=s3cret",
                "postgres://h/db?user=u&password=***",
            ),
            (
                "postgres://h/db?sslpassword=s3cret&sslmode=require",
                "postgres://h/db?sslpassword=***&sslmode=require",
            ),
            ("postgres://u:s3/cr/et@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3?cr#et@h/db", "postgres://u:***@h/db"),
            ("postgres://u:s3@cret@h/db", "postgres://u:***@h/db"),
            (
                "mongodb://u:s3cret@h1:27017,h2:27017/zaqar?authSource=admin&replicaSet=rs",
                "mongodb://u:***@h1:27017,h2:27017/zaqar?authSource=admin&replicaSet=rs",
            ),
            (
                "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=AWS_SESSION_TOKEN:s3cret",
                "mongodb://h/db?authMechanism=MONGODB-AWS&authMechanismProperties=***",
            ),
            ("rediss://h/0?token=s3cret#x", "rediss://h/0?token=***#x"),
        ];
        for (uri, masked) in cases {
            assert_eq!(redact_uri(uri), masked, "{uri}");
            assert!(!redact_uri(uri).contains("s3"), "{uri}");
        }
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
