//! Which shards this worker tries to own. The one place to change when workers balance shards
//! among themselves (ARCHITECTURE.md §5).

use std::collections::HashMap;

use shared::shard::ShardId;

/// The shards to try to acquire now, given those already owned. For now a worker claims every
/// free shard: with one node that is all of them, and with several the first to ask wins.
pub(crate) fn shards_to_claim<T>(owned: &HashMap<ShardId, T>, shards: u32) -> Vec<ShardId> {
    (0..shards)
        .filter(|shard| !owned.contains_key(shard))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_worker_claims_every_shard_it_does_not_own() {
        let owned: HashMap<ShardId, ()> = [(1, ()), (3, ())].into_iter().collect();
        assert_eq!(shards_to_claim(&owned, 5), vec![0, 2, 4]);
    }
}
