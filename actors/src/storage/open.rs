//! Opening a backend from its URI: the one place that knows which scheme is which store.
//!
//! The default pool and the management store come from the configuration; registered pools
//! come from the admin API at run time. All are opened here, so a pool can be any backend.

use std::sync::Arc;

use futures_util::future::BoxFuture;

use crate::error::{Result, StorageError};
use crate::storage::encrypted::Encrypting;
use crate::storage::faulty::FaultyStore;
use crate::storage::mongo::MongoStore;
use crate::storage::redis::RedisStore;
use crate::storage::sql::SqlStore;

pub use super::options::{Backend, OpenOptions};
pub use super::uri::redact_uri;

/// Opens one backend from its URI, with the options every backend takes.
type Opener = fn(String, OpenOptions) -> BoxFuture<'static, Result<Backend>>;

/// Every backend: the URI schemes it serves, and how it opens. A new backend is one row.
const BACKENDS: &[(&[&str], Opener)] = &[
    (&["sqlite", "postgres", "postgresql"], |u, o| {
        Box::pin(SqlStore::open(u, o))
    }),
    (&["redis", "rediss"], |u, o| {
        Box::pin(RedisStore::open(u, o))
    }),
    (&["mongodb", "mongodb+srv"], |u, o| {
        Box::pin(MongoStore::open(u, o))
    }),
];

fn opener(uri: &str) -> Option<Opener> {
    let (scheme, _) = uri.split_once("://")?;
    BACKENDS
        .iter()
        .find(|(schemes, _)| schemes.contains(&scheme))
        .map(|(_, open)| *open)
}

/// The schemes [`open`] knows, for error messages: "sqlite://, ... or mongodb+srv://".
pub fn schemes() -> String {
    let all: Vec<String> = BACKENDS
        .iter()
        .flat_map(|(schemes, _)| schemes.iter().map(|s| format!("{s}://")))
        .collect();
    match all.split_last() {
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// Whether [`open`] knows the URI's scheme.
pub fn known_scheme(uri: &str) -> bool {
    opener(uri).is_some()
}

/// Connects to the backend named by `uri` (and migrates its schema, for SQL). Its message
/// store comes wrapped in [`Encrypting`]: every body goes in and out through it.
pub async fn open(uri: &str, opts: &OpenOptions) -> Result<Backend> {
    let mut backend = open_raw(uri, opts).await?;
    backend.data = Arc::new(Encrypting::new(backend.data, opts.keys.clone()));
    Ok(backend)
}

async fn open_raw(uri: &str, opts: &OpenOptions) -> Result<Backend> {
    if uri == "faulty://" {
        // Every call fails: for testing how the API answers a dead backend.
        return Ok(Backend {
            data: Arc::new(FaultyStore),
            control: None,
        });
    }
    match opener(uri) {
        Some(open) => open(uri.to_owned(), opts.clone()).await,
        None => Err(StorageError::InvalidPool(format!(
            "unsupported scheme `{}` (use {})",
            uri.split("://").next().unwrap_or_default(),
            schemes()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes_are_known_by_the_backend_table() {
        assert!(known_scheme("redis://127.0.0.1:6379/0"));
        assert!(known_scheme("sqlite://./x.db"));
        assert!(!known_scheme("faulty://"));
        assert!(!known_scheme("mysql://db"));
        assert!(!known_scheme("redis"));
        assert_eq!(
            schemes(),
            "sqlite://, postgres://, postgresql://, redis://, rediss://, mongodb:// or mongodb+srv://"
        );
    }
}
