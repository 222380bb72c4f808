//! The Redis store's connections: a bb8 pool of multiplexed connections that requests
//! share instead of holding one each.
//!
//! A request takes a connection from the pool, keeps a handle of it and gives it back at
//! once, so every request in flight goes over the few connections the pool opened: the
//! redis crate writes what is waiting on a connection in one go and reads the answers in
//! order. Concurrent requests' scripts thus reach Redis as one pipeline, which Redis runs in
//! one turn of its event loop and, with `appendfsync always`, makes durable with one fsync
//! (group commit, as SQLite's write lane does in `sql/lane.rs`). Holding a connection per
//! request instead serialised each connection's commands, and bb8 pinged Redis before each
//! one (a second round trip per request).
//!
//! A command that fails with an I/O error or a dropped connection marks its connection
//! broken: the next request that takes it hands it back, bb8 drops it, and the pool opens a
//! new one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bb8_redis::RedisConnectionManager;
use redis::aio::MultiplexedConnection;
use redis::RedisError;

/// bb8's Redis manager, with a connection's health tracked by the commands it carried.
pub(super) struct Manager(RedisConnectionManager);

impl Manager {
    pub(super) fn new(uri: &str) -> Result<Self, RedisError> {
        RedisConnectionManager::new(uri).map(Self)
    }
}

/// A shared handle to one multiplexed connection.
#[derive(Clone)]
pub(super) struct Conn {
    pub(super) redis: MultiplexedConnection,
    broken: Arc<AtomicBool>,
}

impl Conn {
    /// Notes what a command on this connection answered: a failure of the connection itself
    /// (not a script's or Redis's refusal) retires it.
    pub(super) fn note<T>(&self, result: &Result<T, RedisError>) {
        if let Err(e) = result {
            if e.is_io_error() || e.is_connection_dropped() || e.is_unrecoverable_error() {
                self.broken.store(true, Ordering::Relaxed);
            }
        }
    }

    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::Relaxed)
    }
}

impl bb8::ManageConnection for Manager {
    type Connection = Conn;
    type Error = RedisError;

    async fn connect(&self) -> Result<Conn, RedisError> {
        Ok(Conn {
            redis: self.0.connect().await?,
            broken: Arc::default(),
        })
    }

    async fn is_valid(&self, conn: &mut Conn) -> Result<(), RedisError> {
        self.0.is_valid(&mut conn.redis).await
    }

    fn has_broken(&self, conn: &mut Conn) -> bool {
        conn.is_broken()
    }
}

/// The pool, without bb8's PING before every checkout (see the module's text).
pub(super) fn pool(manager: Manager, size: u32, timeout: std::time::Duration) -> Pool {
    Pool(
        bb8::Pool::builder()
            .max_size(size.max(1))
            .connection_timeout(timeout)
            .test_on_check_out(false)
            .build_unchecked(manager),
    )
}

#[derive(Clone)]
pub(super) struct Pool(bb8::Pool<Manager>);

impl Pool {
    /// A connection to send on, shared with other requests; a broken one is handed back
    /// (and so dropped) and the next taken.
    pub(super) async fn get(&self) -> Result<Conn, bb8::RunError<RedisError>> {
        loop {
            let conn = self.0.get().await?.clone();
            if !conn.is_broken() {
                return Ok(conn);
            }
        }
    }
}
