//! The SQL store's cache of queue settings, so that a post is one statement instead of two.
//!
//! Changes made through this store update it at once; entries older than
//! [`SETTINGS_FRESHNESS`] are read again, which bounds how long a change made by another
//! server process on the same database goes unseen.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::SqlStore;
use crate::error::Result;
use crate::model::{QueueId, QueueSettings};
use crate::storage::prelude::*;

/// How long a cached queue's settings are trusted.
const SETTINGS_FRESHNESS: Duration = Duration::from_secs(1);
/// Beyond this many cached queues the cache starts over, bounding its memory.
const SETTINGS_CAPACITY: usize = 10_000;

/// A queue's settings as last read, and when; `None` settings: the queue did not exist.
#[derive(Default)]
pub struct SettingsCache(Mutex<HashMap<QueueId, (Instant, Option<QueueSettings>)>>);

impl SettingsCache {
    fn map(&self) -> MutexGuard<'_, HashMap<QueueId, (Instant, Option<QueueSettings>)>> {
        // A panic while holding the lock cannot leave the map inconsistent: use it anyway.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl SqlStore {
    /// The settings in force for a queue; `None` when the queue was never created.
    pub(super) async fn queue_settings(&self, queue: &QueueId) -> Result<Option<QueueSettings>> {
        if let Some((read_at, settings)) = self.settings.map().get(queue) {
            if read_at.elapsed() < SETTINGS_FRESHNESS {
                return Ok(*settings);
            }
        }
        let metadata = self.queue_metadata(queue).await?;
        let settings = metadata.map(|m| self.defaults.settings(Some(&m)));
        self.remember_settings(queue, settings);
        Ok(settings)
    }

    pub(super) fn remember_settings(&self, queue: &QueueId, settings: Option<QueueSettings>) {
        let mut cache = self.settings.map();
        if cache.len() >= SETTINGS_CAPACITY {
            cache.clear();
        }
        cache.insert(queue.clone(), (Instant::now(), settings));
    }

    pub(super) fn forget_settings(&self, queue: &QueueId) {
        self.settings.map().remove(queue);
    }
}
