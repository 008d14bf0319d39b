//! Stock API worker tier: shard leases, the shard drivers and the stock pots they host.
//!
//! `core` is pure (commands and time in, commits and effects out); `driver` is the only loop that
//! awaits; `worker` claims shards and runs one driver per owned shard.

pub mod core;
mod driver;
mod lease;
mod membership;
mod outbox;
mod stats;
mod stock_pot;
mod worker;

pub use worker::{Worker, WorkerHandle, WorkerSettings};
