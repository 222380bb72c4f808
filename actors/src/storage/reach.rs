//! Failing fast when a backend refuses connections.
//!
//! The drivers retry a refused connection until their acquire timeout (sqlx, bb8) or server
//! selection timeout (MongoDB): right for a backend that is starting, but while one is down
//! it makes every request wait that long for its 503. [`Reachability`] looks for itself: a
//! command that has not finished after [`PROBE_AFTER`] races a plain TCP connection to the
//! backend's port (a refusing host answers at once), and a refusal ends the command with a
//! 503 there and then. It also remembers the refusal: while the port still refuses, each
//! command tries the port first and fails at once. A backend that is only slow keeps the
//! full timeouts: its port accepts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use crate::error::{Result, StorageError};

/// How long a command runs before its backend's port is probed.
pub const PROBE_AFTER: Duration = Duration::from_millis(200);

/// At most one probe for slow commands in this interval.
const PROBE_INTERVAL: Duration = Duration::from_secs(1);

/// How long a probe may take; a port that neither accepts nor refuses in this time is
/// treated as not refusing (the command then runs under its own timeouts).
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

fn refused<T>() -> Result<T> {
    Err(StorageError::unavailable(
        "connection refused (failing fast until the backend accepts again)",
    ))
}

pub struct Reachability {
    /// The backend's TCP addresses; none for an embedded store.
    addrs: Vec<(String, u16)>,
    /// Whether every address refused when a command last failed.
    refused: AtomicBool,
    /// When a slow command last had the port probed.
    last_probe: std::sync::Mutex<Option<std::time::Instant>>,
}

impl Reachability {
    pub fn new(addrs: Vec<(String, u16)>) -> Self {
        Self {
            addrs,
            refused: AtomicBool::new(false),
            last_probe: std::sync::Mutex::default(),
        }
    }

    /// Before a command: fails at once while the backend still refuses connections.
    pub async fn check(&self) -> Result<()> {
        if !self.refused.load(Ordering::Relaxed) {
            return Ok(());
        }
        if self.all_refuse().await {
            return refused();
        }
        self.refused.store(false, Ordering::Relaxed);
        Ok(())
    }

    /// After a command failed as unavailable: notes whether the backend refuses.
    pub async fn failed(&self) {
        if !self.addrs.is_empty() && self.all_refuse().await {
            self.refused.store(true, Ordering::Relaxed);
        }
    }

    /// Runs `command` after [`Self::check`], racing a probe of the port once it has run
    /// for [`PROBE_AFTER`]; a failure notes whether the port refuses ([`Self::failed`]).
    pub async fn guard<T>(
        &self,
        command: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.check().await?;
        if self.addrs.is_empty() {
            return command.await;
        }
        tokio::select! {
            done = command => {
                if matches!(done, Err(StorageError::Unavailable(_))) {
                    self.failed().await;
                }
                done
            }
            refusal = self.refusal() => Err(refusal),
        }
    }

    /// Resolves, after [`PROBE_AFTER`], only if the backend's port refuses connections
    /// (and remembers it); to race against a command.
    pub async fn refusal(&self) -> StorageError {
        tokio::time::sleep(PROBE_AFTER).await;
        // One probe a second is enough: a slow backend under load must not also get a
        // probe connection for every slow command.
        let due = {
            let mut last = self.last_probe.lock().unwrap_or_else(|e| e.into_inner());
            let due = last.is_none_or(|at| at.elapsed() >= PROBE_INTERVAL);
            if due {
                *last = Some(std::time::Instant::now());
            }
            due
        };
        if due && self.all_refuse().await {
            self.refused.store(true, Ordering::Relaxed);
            if let Err(e) = refused::<()>() {
                return e;
            }
        }
        std::future::pending().await
    }

    async fn all_refuse(&self) -> bool {
        for (host, port) in &self.addrs {
            let probe = tokio::net::TcpStream::connect((host.as_str(), *port));
            match tokio::time::timeout(PROBE_TIMEOUT, probe).await {
                Ok(Err(e)) if e.kind() == std::io::ErrorKind::ConnectionRefused => continue,
                _ => return false,
            }
        }
        !self.addrs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refusing_port_fails_fast_and_an_accepting_one_clears_it() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let reach = Reachability::new(vec![("127.0.0.1".into(), port)]);
        reach.check().await.unwrap();
        reach.failed().await;
        assert!(reach.check().await.is_err(), "the port refuses");
        let _open = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
        reach.check().await.unwrap();
        reach.check().await.unwrap();
    }
}
