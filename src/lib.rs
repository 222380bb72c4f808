//! # zaqar: a Zaqar v2 compatible message queue on actix actors
//!
//! This crate is the HTTP shell around `zaqar-actors`: it reads the configuration, opens
//! the store, starts one `PoolRouter` and one `StorageActor` per HTTP worker, and serves the
//! Zaqar v2 REST API. Requests flow
//! `handler --Traced<M>--> PoolRouter --Traced<M>--> StorageActor --> database`.
//!
//! ## Layout
//! - [`conf`]: configuration groups, defaults, file loading and validation.
//! - [`bootstrap`]: opening the store and starting the server ([`run`]).
//! - [`transport`]: routes, middleware, extractors, validation, error mapping, resources.
//! - [`policy`]: access rules (Zaqar's defaults, an oslo.policy file) and their language.
//! - [`keystone`]: the Keystone v3 client that validates tokens (service token, cache).
//! - [`client`]: a typed client of the v2 API (used by `zaqar`, the examples and tests).
//! - `profiler` (feature `profiler`): OSProfiler-compatible tracing and OTLP export.
//! - `src/bin/zaqar-server.rs`: the server's command line; `src/bin/zaqar.rs`: the client's.

pub mod bootstrap;
pub mod cli;
pub mod client;
pub mod conf;
pub mod keystone;
pub mod policy;
#[cfg(feature = "profiler")]
pub mod profiler;
pub mod transport;

pub use bootstrap::{run, Running, StartupError};
pub use conf::Config;
