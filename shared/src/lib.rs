//! Stock API domain core, wire contract, shard mapping and store backends.
//!
//! `domain` is pure (no I/O, no clock). `command` and `reply` are the wire contract between the HTTP
//! tier and the worker tier. `store` holds the backend traits and the embedded in-memory backend.

pub mod backoff;
pub mod command;
pub mod config;
pub mod domain;
pub mod encoding;
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod metrics;
pub mod probe;
pub mod reply;
pub mod shard;
pub mod store;
pub mod telemetry;
#[cfg(feature = "testing")]
pub mod testing;
pub mod trace;
