//! The time source of the storage layer.
//!
//! Every expiry decision (message TTL, claim TTL, delay) compares against `Clock::now_ms`
//! inside the query, never against the database's own clock, so tests can move time forward
//! with [`Clock::advance`] instead of sleeping, and every backend sees the same "now".

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Wall-clock time in milliseconds since the Unix epoch, plus an offset that only tests move.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    /// Shared so that a test holding one handle moves the time seen by every actor.
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    pub fn system() -> Self {
        Self::default()
    }

    pub fn now_ms(&self) -> i64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        wall + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and every clone of it) forward.
    pub fn advance(&self, by: Duration) {
        self.offset_ms
            .fetch_add(by.as_millis() as i64, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_is_seen_by_clones() {
        let a = Clock::system();
        let b = a.clone();
        let before = b.now_ms();
        a.advance(Duration::from_secs(3600));
        assert!(b.now_ms() - before >= 3_600_000);
    }
}
