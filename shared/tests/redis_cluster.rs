//! The Redis backend against a real three-master Redis Cluster per test: the store contract, plus
//! what only a cluster shows (shards spread over nodes, reads and pipelines spanning them, blocking
//! reads on several nodes at once).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use shared::shard::shard_of;
use shared::store::redis::{RedisStore, ReplyChannelKind, keys};
use shared::store::{CommandLog, Leases, ReadModel, ShardCommit, ShardState, StreamId};
use shared::testing::TestRedisCluster;
use shared::testing::contract::fixture::{DAY, TTL, envelope, pot_at, write_to};
use shared::testing::contract::{self, Backend, eventually};
use shared::testing::redis_backend::{Deployment, RedisBackend};

/// Shards of the multi-shard tests: enough for every node to hold some.
const SHARDS: u32 = 16;

/// The contract's backend on its own three-master cluster.
type ClusterBackend = RedisBackend<TestRedisCluster>;

shared::store_contract_tests!(ClusterBackend::start(
    TestRedisCluster::start(),
    ReplyChannelKind::Stream
));

/// The port of the node serving `key`'s slot: the one that answers it without a redirection.
async fn node_of(cluster: &TestRedisCluster, key: &str) -> u16 {
    for node in cluster.nodes() {
        let client = redis::Client::open(node.url()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let mut exists = redis::cmd("EXISTS");
        exists.arg(key);
        if exists.query_async::<u64>(&mut conn).await.is_ok() {
            return node.port();
        }
    }
    panic!("no node serves {key}");
}

/// A location of each shard of a [`SHARDS`]-shard store.
fn one_location_per_shard() -> Vec<String> {
    (0..SHARDS)
        .map(|shard| {
            (0..)
                .map(|i| format!("L{i}"))
                .find(|l| shard_of(l, SHARDS) == shard)
                .unwrap()
        })
        .collect()
}

/// Commits quantity `shard + 1` to pot (location, "P") at every shard.
async fn fill_every_shard(store: &RedisStore, locations: &[String]) {
    for (shard, location) in (0..SHARDS).zip(locations) {
        let token = store.acquire(shard, "w1", TTL).await.unwrap().unwrap();
        let mut commit = ShardCommit::new(shard, StreamId { ms: 1, seq: 0 });
        let quantity = f64::from(shard + 1);
        commit
            .pots
            .push(write_to(&pot_at(location, "P"), 1, quantity, false));
        store.commit(&token, &commit, DAY).await.unwrap();
    }
}

#[tokio::test]
async fn the_shards_of_a_store_spread_over_every_node() {
    let cluster = TestRedisCluster::start();
    let mut nodes = BTreeSet::new();
    for shard in 0..SHARDS {
        nodes.insert(node_of(&cluster, &keys::lease(shard)).await);
    }
    assert_eq!(nodes.len(), cluster.nodes().len());
}

#[tokio::test]
async fn pots_of_every_shard_read_back_in_one_call_in_request_order() {
    let cluster = TestRedisCluster::start();
    let store = RedisStore::connect(&cluster.url(), SHARDS, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let locations = one_location_per_shard();
    fill_every_shard(&store, &locations).await;
    // Reversed and with a pot never written, so order and gaps both show.
    let mut pots: Vec<_> = locations.iter().rev().map(|l| pot_at(l, "P")).collect();
    pots.insert(3, pot_at(&locations[0], "unknown"));
    let states = store.read_pots(&pots).await.unwrap();
    let quantities: Vec<f64> = states.iter().map(|s| s.quantity).collect();
    let mut expected: Vec<f64> = (1..=SHARDS).rev().map(f64::from).collect();
    expected.insert(3, 0.0);
    assert_eq!(quantities, expected);
}

#[tokio::test]
async fn the_cluster_view_counts_leases_held_on_every_node() {
    let cluster = TestRedisCluster::start();
    let store = RedisStore::connect(&cluster.url(), SHARDS, ReplyChannelKind::Stream)
        .await
        .unwrap();
    store.heartbeat("w1").await.unwrap();
    for shard in (0..SHARDS).step_by(2) {
        assert!(store.acquire(shard, "w1", DAY).await.unwrap().is_some());
    }
    let view = store.cluster(SHARDS, DAY).await.unwrap();
    assert_eq!(view.owned, SHARDS / 2);
    assert_eq!(view.workers.len(), 1);
    assert_eq!(view.workers[0].shards, SHARDS / 2);
}

#[tokio::test]
async fn blocked_reads_on_shards_of_different_nodes_wake_up_independently() {
    let cluster = TestRedisCluster::start();
    let store = RedisStore::connect(&cluster.url(), SHARDS, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let first = node_of(&cluster, &keys::commands(0)).await;
    let mut other = 1;
    while node_of(&cluster, &keys::commands(other)).await == first {
        other += 1;
    }
    let block = Duration::from_secs(20);
    let reading_first = store.read(0, StreamId::ZERO, 10, block);
    let reading_other = store.read(other, StreamId::ZERO, 10, block);
    let writing = async {
        // Both readers block at once, each on a connection of its own; the shared connection
        // still answers meanwhile.
        eventually("two blocked clients", || async {
            cluster.blocked_clients().await >= 2
        })
        .await;
        store.ping().await.unwrap();
        let other_id = store.append(other, &envelope("c1")).await.unwrap();
        let first_id = store.append(0, &envelope("c0")).await.unwrap();
        (first_id, other_id)
    };
    let (read_first, read_other, (first_id, other_id)) =
        tokio::join!(reading_first, reading_other, writing);
    assert_eq!(read_first.unwrap()[0].0, first_id);
    assert_eq!(read_other.unwrap()[0].0, other_id);
}

#[tokio::test]
async fn replies_over_per_request_keys_reach_open_waiters_on_a_cluster() {
    let backend = ClusterBackend::start(TestRedisCluster::start(), ReplyChannelKind::Key).await;
    contract::replies_reach_open_waiters_in_order_and_are_dropped_otherwise(
        backend.store(),
        backend.aid(),
    )
    .await;
}

#[tokio::test]
async fn a_different_shard_count_is_refused_on_a_cluster() {
    let cluster = TestRedisCluster::start();
    let first = RedisStore::connect(&cluster.url(), 4, ReplyChannelKind::Stream).await;
    assert!(first.is_ok());
    let again = RedisStore::connect(&cluster.url(), 8, ReplyChannelKind::Stream).await;
    assert!(again.is_err());
}

#[tokio::test]
async fn one_seed_with_a_trailing_comma_reaches_the_whole_cluster_and_its_clock() {
    let cluster = TestRedisCluster::start();
    let seed = format!("{},", cluster.nodes()[0].url());
    let store = RedisStore::connect(&seed, SHARDS, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let locations = one_location_per_shard();
    fill_every_shard(&store, &locations).await;
    let now = store.now_ms().await.unwrap();
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert!(now.abs_diff(wall) < 5_000, "{now} vs {wall}");
}
