//! Tests of the embedded backend: the store contract, and how its clock can be moved at will.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use async_trait::async_trait;

use super::*;
use crate::store::Store;
use crate::testing::contract::fixture::{DAY, TTL, leased, record};
use crate::testing::contract::{Backend, StoreAid};

#[async_trait]
impl StoreAid for MemoryStore {
    fn advance_time(&self, by: Duration) {
        MemoryStore::advance_time(self, by);
    }

    async fn steal_lease(&self, shard: ShardId, worker: &str, ttl: Duration) -> LeaseToken {
        MemoryStore::steal_lease(self, shard, worker, ttl)
    }

    async fn stream_len(&self, shard: ShardId) -> usize {
        MemoryStore::stream_len(self, shard)
    }

    /// A read registers for wake-ups on its first poll, which has happened by now.
    async fn readers_blocked(&self, _n: u64) {}

    fn replier(&self) -> &dyn Store {
        self
    }
}

impl Backend for MemoryStore {
    fn store(&self) -> &dyn Store {
        self
    }

    fn aid(&self) -> &dyn StoreAid {
        self
    }
}

crate::store_contract_tests!(async { MemoryStore::new() });

#[tokio::test]
async fn advancing_the_clock_expires_leases_deadlines_and_records_at_once() {
    let store = MemoryStore::new();
    let token = leased(&store).await;
    let now = store.now_ms().await.unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    store.commit(&token, &commit, DAY).await.unwrap();
    store.advance_time(TTL);
    assert!(store.now_ms().await.unwrap() >= now + 3_000);
    assert!(!store.renew(&token, TTL).await.unwrap());
    assert_eq!(
        store.settle(0, "L", "other", now + 1_000).await.unwrap(),
        Settled::NotApplied
    );
    assert!(matches!(
        store.settle(0, "L", "r1", now + 1_000).await.unwrap(),
        Settled::Recorded(_)
    ));
    store.advance_time(DAY);
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
}
