//! The worker tier's backlog: commands appended to the shard streams and not yet committed, the
//! signal that scales the worker pool from zero (docs/OPERATIONS.md, "Scaling to zero").

use super::{RedisStore, keys};
use crate::store::StoreError;

/// Shards measured per pipeline: bounds one round trip whatever `STOCK_SHARDS` is.
const SHARDS_PER_ROUND_TRIP: u32 = 1024;

impl RedisStore {
    /// Commands waiting in all shard streams. A commit trims its shard's stream up to the last
    /// command it applied, so the length of a stream is exactly what its owner has yet to
    /// commit, and it grows while no worker runs: one `XLEN` per shard, pipelined.
    pub async fn commands_waiting(&self) -> Result<u64, StoreError> {
        let mut total = 0u64;
        let mut first = 0;
        while first < self.shards {
            let last = self.shards.min(first.saturating_add(SHARDS_PER_ROUND_TRIP));
            let lengths = (first..last)
                .map(|shard| {
                    let mut len = redis::cmd("XLEN");
                    len.arg(keys::commands(shard));
                    (shard, len)
                })
                .collect();
            let lengths: Vec<u64> = self.query_each("commands waiting", lengths).await?;
            total = total.saturating_add(lengths.iter().sum::<u64>());
            first = last;
        }
        Ok(total)
    }
}
