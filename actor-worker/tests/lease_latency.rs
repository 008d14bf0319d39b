//! Lease renewal over a distant Redis: a real `redis-server` behind a fixed delay per call, as a
//! managed Redis in another zone would add. A worker renews every lease it holds in one round,
//! so however many shards it holds, a round ends well inside the leases' validity window.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use actor_worker::{Worker, WorkerSettings};
use shared::metrics::Metrics;
use shared::shard::ShardId;
use shared::store::redis::{RedisStore, ReplyChannelKind, keys};
use shared::store::{LeaseToken, Leases, Store};
use shared::testing::TestRedis;
use shared::testing::latency::Distant;

/// The production default of `STOCK_LEASE_TTL`: renewed every second, valid for two.
const TTL: Duration = Duration::from_secs(3);
/// Longest wait for the worker to claim every shard, or for renewal rounds to go by.
const PATIENCE: Duration = Duration::from_secs(60);

async fn distant_store(
    redis: &TestRedis,
    shards: u32,
    delay: Duration,
) -> Arc<Distant<RedisStore>> {
    let store = RedisStore::connect(&redis.url(), shards, ReplyChannelKind::Stream)
        .await
        .unwrap();
    Arc::new(Distant::new(store, delay))
}

/// The sum of the samples of `name` (every label set).
fn metric(metrics: &Metrics, name: &str) -> f64 {
    metrics
        .render()
        .lines()
        .filter(|l| l.split(['{', ' ']).next() == Some(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Polls `done` every 20 ms until it holds, failing after [`PATIENCE`].
async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let until = Instant::now() + PATIENCE;
    while !done() {
        assert!(Instant::now() < until, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The fencing epoch of each shard: 1 for a shard leased once and never again.
async fn epochs(redis: &TestRedis, shards: u32) -> Vec<u64> {
    let client = redis::Client::open(redis.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let mut pipe = redis::pipe();
    for shard in 0..shards {
        pipe.cmd("GET").arg(keys::epoch(shard));
    }
    let epochs: Vec<Option<u64>> = pipe.query_async(&mut conn).await.unwrap();
    epochs.into_iter().map(Option::unwrap_or_default).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_holding_256_shards_of_a_redis_8_ms_away_keeps_every_one_of_them() {
    let shards = 256;
    let redis = TestRedis::start();
    let store = distant_store(&redis, shards, Duration::from_millis(8)).await;
    let metrics = Metrics::new();
    let settings = WorkerSettings {
        worker_id: "w1".to_owned(),
        shards,
        lease_ttl: TTL,
        pot_unload_after: Duration::from_secs(300),
        pot_unload_check_interval: Duration::from_secs(30),
        idempotency_retention: Duration::from_secs(3_600),
        batch_max: 64,
    };
    let dyn_store: Arc<dyn Store> = store.clone();
    let worker = Worker::start(dyn_store, settings, metrics.clone());

    wait_until("the worker holds every shard", || {
        metric(&metrics, "stock_leases_held") == f64::from(shards)
    })
    .await;
    // Five renewal rounds of every lease, each of which would take 256 round trips one lease at
    // a time: more than the two seconds a lease stays valid.
    let from = store.renewals();
    let rounds = 5 * u64::from(shards);
    wait_until("five renewal rounds", || store.renewals() >= from + rounds).await;

    assert_eq!(metric(&metrics, "stock_lease_self_stops_total"), 0.0);
    let view = store.inner().cluster(shards, TTL).await.unwrap();
    let w1 = Some("w1".to_owned());
    assert!(
        view.holders.iter().all(|h| *h == w1),
        "a shard changed hands"
    );
    let epochs = epochs(&redis, shards).await;
    let again: Vec<ShardId> = (0..shards).filter(|s| epochs[*s as usize] != 1).collect();
    assert!(
        again.is_empty(),
        "shards stopped and leased again: {again:?}"
    );
    worker.shutdown().await;
}

/// Round time of one renewal of `tokens`: one lease after the other, and all in one round.
async fn renewal_rounds(
    store: &Distant<RedisStore>,
    tokens: &[LeaseToken],
) -> (Duration, Duration) {
    let started = Instant::now();
    for token in tokens {
        assert!(store.renew(token, TTL).await.unwrap());
    }
    let sequential = started.elapsed();
    let started = Instant::now();
    let answers = store.renew_each(tokens, TTL).await;
    let one_round = started.elapsed();
    assert!(answers.into_iter().all(|a| a.unwrap()));
    (sequential, one_round)
}

/// Prints the round time of a renewal of every held lease against the number of shards and the
/// added latency (docs/RELIABILITY.md): `cargo test -p actor-worker --test lease_latency --
/// --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn renewal_round_time_against_shards_and_latency() {
    const ROUNDS: u32 = 5;
    let redis = TestRedis::start();
    println!("| shards | added latency per call | one lease at a time | one round |");
    println!("|---:|---:|---:|---:|");
    for delay in [Duration::ZERO, Duration::from_millis(8)] {
        for shards in [16u32, 64, 256] {
            let store = distant_store(&redis, 65_536, delay).await;
            let all: Vec<ShardId> = (0..shards).collect();
            let worker = format!("m-{shards}-{}", delay.as_millis());
            let tokens: Vec<LeaseToken> = store
                .acquire_each(&all, &worker, TTL)
                .await
                .into_iter()
                .map(|t| t.unwrap().unwrap())
                .collect();
            let (mut sequential, mut one_round) = (Duration::ZERO, Duration::ZERO);
            for _ in 0..ROUNDS {
                let (s, o) = renewal_rounds(&store, &tokens).await;
                sequential += s;
                one_round += o;
            }
            for token in &tokens {
                store.inner().release(token).await.unwrap();
            }
            println!(
                "| {shards} | {} ms | {:.1} ms | {:.1} ms |",
                delay.as_millis(),
                (sequential / ROUNDS).as_secs_f64() * 1000.0,
                (one_round / ROUNDS).as_secs_f64() * 1000.0,
            );
        }
    }
}
