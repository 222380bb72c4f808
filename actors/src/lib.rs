//! # zaqar-actors: everything behind a mailbox
//!
//! The HTTP layer (the root crate) never touches a database: it sends a request message,
//! wrapped in a [`Traced`] envelope, to a [`PoolRouter`], which forwards it to the
//! [`StorageActor`] of the pool that holds the queue. This crate has no HTTP dependency.
//!
//! ## Layout
//! - [`envelope`]: `Traced<M>`, the envelope that carries the sender's span and enqueue time,
//!   and the helper that runs a handler inside its per-hop child span.
//! - [`messages`]: one message type per storage operation, and the [`StorageRequest`] trait
//!   that lets one generic handler serve them all.
//! - [`model`]: queues, messages, claims, subscriptions and queue defaults.
//! - [`error`]: [`StorageError`], the domain errors (no status codes here); a backend
//!   failure keeps the driver's error as its source.
//! - `spans` (with the `profiler` feature): the `tracing` layer that turns the server's spans
//!   into OpenTelemetry span records, and the span extension that sets their parents and
//!   links.
//! - [`clock`]: the time source every expiry decision reads, adjustable in tests.
//! - [`router`]: the `PoolRouter` actor; [`routing`]: how it finds a request's pool and actor.
//! - [`pooling`]: `PoolSet`, the pools of the process, the catalog cache and placement.
//! - [`control`]: the `ControlStore` contract (pools, flavors, catalog).
//! - [`storage`]: the `DataStore` contract (four controller traits), the generic
//!   `StorageActor` and the backends, each in a folder with a file per controller:
//!   `sql` (sea-orm, SQLite and PostgreSQL), `redis` (Lua scripts in `redis/lua/`),
//!   `mongo`; `encrypted` wraps any of them; `faulty` fails everything, for tests.
//!   `storage::open` holds the backend table (URI schemes → a backend's `open`),
//!   `storage::options` what each is opened with, `storage::common` what every backend
//!   computes alike (message age, FIFO order, post size, why a delete removed nothing).

pub mod clock;
pub mod control;
pub mod envelope;
pub mod error;
pub mod messages;
pub mod model;
pub mod pooling;
pub mod router;
pub mod routing;
#[cfg(feature = "profiler")]
pub mod spans;
pub mod storage;

pub use clock::Clock;
pub use envelope::Traced;
pub use error::StorageError;
pub use messages::StorageRequest;
pub use pooling::PoolSet;
pub use router::PoolRouter;
pub use storage::{actor::StorageActor, DataStore};
