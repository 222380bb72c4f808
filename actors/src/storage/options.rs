//! What every backend is opened with ([`OpenOptions`], from `[storage]` and `[limits]`) and
//! what opening one gives ([`Backend`]). Below both the backends and the backend table
//! (`open`), so a backend's `open` and the table that lists it import this, not each other.

use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::control::ControlStore;
use crate::model::QueueDefaults;
use crate::storage::encrypted::Keyring;
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
    /// How many writes a batch holds (SQLite's lane, PostgreSQL's and Redis's gathered
    /// writes), and how long one may wait for more (`[storage] write_batch_max`,
    /// `write_batch_wait_us`).
    pub write_batch: crate::storage::gather::BatchLimits,
}

/// One opened database: its message store and, when the backend has one, its control store
/// (the same connections serve both).
#[derive(Clone)]
pub struct Backend {
    pub data: Arc<dyn DataStore>,
    pub control: Option<Arc<dyn ControlStore>>,
}

impl Backend {
    /// A store that serves both messages and the catalog.
    pub fn of<S: DataStore + ControlStore>(store: S) -> Backend {
        let store = Arc::new(store);
        Backend {
            data: store.clone(),
            control: Some(store),
        }
    }
}
