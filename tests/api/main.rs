//! HTTP-level tests of the v2 API against the real server and a real SQLite file.
//! One binary, one module per resource family.

#[path = "../common/mod.rs"]
mod common;

mod admin;
mod bad_input;
mod claims;
mod concurrency;
mod cors;
mod dead_letter;
mod encryption;
mod expiry;
mod faulty;
mod home;
mod hostile;
mod messages;
mod parity;
mod policy;
mod queues;
mod signed_urls;
mod subscriptions;
