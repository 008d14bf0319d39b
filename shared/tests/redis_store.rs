//! The Redis backend against a real `redis-server` per test: the store contract, plus what only
//! Redis has (key layout and slots, the recorded shard count, reply channel kinds and expiry, TLS,
//! restarts, an unreachable server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use shared::domain::HistoryRequest;
use shared::reply::Reply;
use shared::shard::shard_of;
use shared::store::redis::{RedisOptions, RedisStore, ReplyChannelKind, keys};
use shared::store::{
    CommandLog, CommitError, LeaseToken, Leases, ReadModel, Replies, Settled, ShardCommit,
    ShardState, StoreError, StreamId,
};
use shared::testing::TestRedis;
use shared::testing::contract::fixture::{
    DAY, TTL, credit, envelope, leased, pot, pot_at, record, record_at, write, write_to,
};
use shared::testing::contract::{self, Backend, eventually};
use shared::testing::redis_backend::{self, query};

/// The contract's backend on its own `redis-server`.
type RedisBackend = redis_backend::RedisBackend<TestRedis>;

shared::store_contract_tests!(RedisBackend::start(
    TestRedis::start(),
    ReplyChannelKind::Stream
));

async fn store(server: &TestRedis) -> RedisStore {
    RedisStore::connect(&server.url(), 1, ReplyChannelKind::Stream)
        .await
        .unwrap()
}

#[tokio::test]
async fn the_lease_key_holds_the_token_value() {
    let backend = RedisBackend::start(TestRedis::start(), ReplyChannelKind::Stream).await;
    let token = leased(&backend.store).await;
    let held: String = query(&backend.redis, redis::cmd("GET").arg(keys::lease(0))).await;
    assert_eq!(held, token.value());
}

#[tokio::test]
async fn a_commit_refused_for_a_wrong_position_leaves_no_key_but_the_lease() {
    let backend = RedisBackend::start(TestRedis::start(), ReplyChannelKind::Stream).await;
    contract::a_pot_change_at_the_wrong_position_refuses_the_whole_commit(
        backend.store(),
        backend.aid(),
    )
    .await;
    let mut written: Vec<String> = query(&backend.redis, redis::cmd("KEYS").arg("stock:{*")).await;
    written.sort();
    assert_eq!(written, vec![keys::epoch(0), keys::lease(0)]);
}

#[tokio::test]
async fn replies_over_per_request_keys_reach_open_waiters_in_order() {
    let backend = RedisBackend::start(TestRedis::start(), ReplyChannelKind::Key).await;
    contract::replies_reach_open_waiters_in_order_and_are_dropped_otherwise(
        backend.store(),
        backend.aid(),
    )
    .await;
}

#[tokio::test]
async fn a_pot_of_another_shard_refuses_the_commit() {
    let server = TestRedis::start();
    let store = RedisStore::connect(&server.url(), 8, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let here = (0..)
        .map(|i| format!("L{i}"))
        .find(|l| shard_of(l, 8) == 0)
        .unwrap();
    let elsewhere = (0..)
        .map(|i| format!("L{i}"))
        .find(|l| shard_of(l, 8) != 0)
        .unwrap();
    let token = store.acquire(0, "w1", TTL).await.unwrap().unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit
        .pots
        .push(write_to(&pot_at(&here, "P"), 1, 1.0, false));
    commit
        .pots
        .push(write_to(&pot_at(&elsewhere, "P"), 1, 1.0, false));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Store(StoreError::Corrupt(_)))
    ));
    commit.pots.pop();
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(
        store.read_pots(&[pot_at(&here, "P")]).await.unwrap()[0].quantity,
        1.0
    );
}

#[tokio::test]
async fn a_cancelled_blocking_read_does_not_hold_up_the_next_one() {
    let server = TestRedis::start();
    let options = RedisOptions {
        blocking_connections: 1,
        ..RedisOptions::default()
    };
    let url = server.url();
    let store = RedisStore::connect_with(&url, 1, ReplyChannelKind::Stream, options)
        .await
        .unwrap();
    let long = store.read(0, StreamId::ZERO, 10, Duration::from_secs(30));
    assert!(
        tokio::time::timeout(Duration::from_millis(100), long)
            .await
            .is_err()
    );
    let id = store.append(0, &envelope("c1")).await.unwrap();
    let started = Instant::now();
    let read = store
        .read(0, StreamId::ZERO, 10, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(read[0].0, id);
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn reply_channels_expire_when_nobody_reads_them() {
    let server = TestRedis::start();
    let options = RedisOptions {
        reply_ttl: Duration::from_millis(200),
        ..RedisOptions::default()
    };
    let worker = RedisStore::connect_with(&server.url(), 1, ReplyChannelKind::Key, options)
        .await
        .unwrap();
    let reply = Reply::ContentMismatch;
    worker.send("stream:gone:1", &reply).await.unwrap();
    worker.send("key:gone", &reply).await.unwrap();
    let stream = keys::reply_stream("gone");
    let list = keys::reply_list("gone");
    let ttl: i64 = query(&server, redis::cmd("PTTL").arg(&stream)).await;
    assert!(ttl > 0 && ttl <= 200, "{ttl}");
    eventually("both reply channels to expire", || async {
        query::<u64>(&server, redis::cmd("EXISTS").arg(&stream).arg(&list)).await == 0
    })
    .await;
}

#[tokio::test]
async fn a_different_shard_count_is_refused() {
    let server = TestRedis::start();
    let first = RedisStore::connect(&server.url(), 4, ReplyChannelKind::Stream).await;
    assert!(first.is_ok());
    let again = RedisStore::connect(&server.url(), 4, ReplyChannelKind::Key).await;
    assert!(again.is_ok());
    let Err(refused) = RedisStore::connect(&server.url(), 8, ReplyChannelKind::Stream).await else {
        panic!("a different STOCK_SHARDS must be refused");
    };
    let message = refused.to_string();
    assert!(
        message.contains("STOCK_SHARDS") && message.contains('4') && message.contains('8'),
        "{message}"
    );
    let meta: Vec<String> = query(
        &server,
        redis::cmd("HMGET")
            .arg(keys::META)
            .arg("shards")
            .arg("schema"),
    )
    .await;
    assert_eq!(meta, vec!["4".to_owned(), keys::SCHEMA.to_owned()]);
}

/// Commits a pot write, a record, a credit and an outbox entry at `location`'s shard.
async fn commit_everything(store: &RedisStore, location: &str, product: &str) -> (u32, LeaseToken) {
    let shard = shard_of(location, store.shards());
    let token = store.acquire(shard, "w1", TTL).await.unwrap().unwrap();
    store.append(shard, &envelope("c1")).await.unwrap();
    let mut commit = ShardCommit::new(shard, StreamId { ms: 1, seq: 0 });
    commit
        .pots
        .push(write_to(&pot_at(location, product), 1, 2.0, true));
    commit.records.push(record_at(location, location, "{}"));
    commit.credits_applied.push(location.to_owned());
    commit.outbox_put.push(credit(location));
    store.commit(&token, &commit, DAY).await.unwrap();
    (shard, token)
}

/// A one-node Redis Cluster holding every slot. It refuses any script or multi-key command
/// whose keys span slots, and answers `CLUSTER KEYSLOT`.
async fn cluster_node() -> TestRedis {
    let server = TestRedis::start_with(&["--cluster-enabled", "yes"]);
    query::<()>(
        &server,
        redis::cmd("CLUSTER").arg("ADDSLOTSRANGE").arg(0).arg(16383),
    )
    .await;
    eventually("the cluster to be up", || async {
        let info: String = query(&server, redis::cmd("CLUSTER").arg("INFO")).await;
        info.contains("cluster_state:ok")
    })
    .await;
    server
}

#[tokio::test]
async fn ids_with_braces_colons_and_spaces_keep_every_key_in_its_shards_slot() {
    let server = cluster_node().await;
    let store = RedisStore::connect(&server.url(), 16, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let awkward = ["{s3}", "a:b", "x}y{z", "Central Store", "{}", "é: {s0}"];
    for location in awkward {
        let product = format!("{location}:{{p}} 1");
        let (shard, token) = commit_everything(&store, location, &product).await;
        assert!(store.release(&token).await.unwrap());
        let slot: u64 = query(
            &server,
            redis::cmd("CLUSTER").arg("KEYSLOT").arg(keys::lease(shard)),
        )
        .await;
        let prefix = format!("{}:*", keys::shard_prefix(shard));
        // `KEYS` takes a glob: escape the hash tag's braces.
        let pattern = prefix.replace('{', "\\{").replace('}', "\\}");
        let written: Vec<String> = query(&server, redis::cmd("KEYS").arg(&pattern)).await;
        assert!(written.len() >= 8, "{location}: {written:?}");
        for key in written {
            let key_slot: u64 =
                query(&server, redis::cmd("CLUSTER").arg("KEYSLOT").arg(&key)).await;
            assert_eq!(key_slot, slot, "{key}");
        }
        let pot = pot_at(location, &product);
        assert_eq!(
            store.read_pots(std::slice::from_ref(&pot)).await.unwrap()[0].quantity,
            2.0
        );
        assert_eq!(store.load_pot(shard, &pot).await.unwrap().version, 1);
        assert!(
            store
                .load_record(shard, location, location)
                .await
                .unwrap()
                .is_some()
        );
        assert!(store.credit_applied(shard, location).await.unwrap());
    }
    let all: Vec<String> = query(&server, redis::cmd("KEYS").arg("*")).await;
    for key in all {
        assert!(key == keys::META || key.starts_with("stock:{s"), "{key}");
    }
}

#[tokio::test]
async fn on_a_cluster_node_every_script_keeps_its_keys_in_one_slot() {
    let server = cluster_node().await;
    let store = RedisStore::connect(&server.url(), 16, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let location = "x:{s1}";
    let product = "p:1";
    let (shard, token) = commit_everything(&store, location, product).await;
    assert!(store.acquire(shard, "w2", TTL).await.unwrap().is_none());
    let mut commit = ShardCommit::new(shard, StreamId { ms: 2, seq: 0 });
    commit.outbox_remove.push(location.to_owned());
    let mut cut = write_to(&pot_at(location, product), 2, 1.0, true);
    cut.change.truncate_checkpoints_to = Some(0);
    commit.pots.push(cut);
    store.commit(&token, &commit, DAY).await.unwrap();
    assert!(store.renew(&token, TTL).await.unwrap());
    let deadline = store.now_ms().await.unwrap() - 1;
    assert!(matches!(
        store
            .settle(shard, location, location, deadline)
            .await
            .unwrap(),
        Settled::Recorded(_)
    ));
    let history = HistoryRequest {
        all_checkpoints: true,
        events_from: 0,
        events_to: 2,
    };
    let pot = pot_at(location, product);
    assert_eq!(
        store
            .load_history(shard, &pot, &history)
            .await
            .unwrap()
            .events
            .len(),
        2
    );
    assert!(store.outbox(shard).await.unwrap().is_empty());
    assert!(store.release(&token).await.unwrap());
}

#[tokio::test]
async fn an_unreachable_redis_fails_fast_as_unavailable() {
    let mut server = TestRedis::start();
    let options = RedisOptions {
        response_timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    let url = server.url();
    let store = RedisStore::connect_with(&url, 1, ReplyChannelKind::Stream, options)
        .await
        .unwrap();
    store.ping().await.unwrap();
    server.stop();
    let started = Instant::now();
    for _ in 0..3 {
        assert!(matches!(
            store.ping().await,
            Err(StoreError::Unavailable(_))
        ));
        assert!(matches!(
            store
                .read(0, StreamId::ZERO, 1, Duration::from_millis(100))
                .await,
            Err(StoreError::Unavailable(_))
        ));
    }
    assert!(started.elapsed() < Duration::from_secs(10));
    assert!(matches!(
        RedisStore::connect(&url, 1, ReplyChannelKind::Stream).await,
        Err(StoreError::Unavailable(_))
    ));
    // Once Redis is back the same store works again.
    server.restart(&[]);
    eventually("the store to reconnect", || async {
        store.ping().await.is_ok()
    })
    .await;
}

#[tokio::test]
async fn a_rediss_url_connects_over_tls() {
    let server = TestRedis::start_tls();
    let url = server.tls_url().unwrap();
    let store = RedisStore::connect(&url, 1, ReplyChannelKind::Key)
        .await
        .unwrap();
    store.ping().await.unwrap();
    redis_backend::use_every_connection(&store).await;
}

#[tokio::test]
async fn a_commit_survives_a_redis_restart_with_appendfsync_always() {
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let mut server = TestRedis::start_with(&aof);
    let store = store(&server).await;
    let token = store.acquire(0, "w1", DAY).await.unwrap().unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 5.0, true));
    commit.records.push(record("{}"));
    store.commit(&token, &commit, DAY).await.unwrap();
    server.restart(&aof);
    eventually("the store to reconnect", || async {
        store.ping().await.is_ok()
    })
    .await;
    assert_eq!(store.read_pots(&[pot()]).await.unwrap()[0].quantity, 5.0);
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().checkpoint_count, 1);
    assert!(store.load_record(0, "L", "r1").await.unwrap().is_some());
    assert_eq!(store.applied(0).await.unwrap(), StreamId { ms: 1, seq: 0 });
    // The script cache is empty after a restart: scripts load again by themselves.
    commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.pots.push(write(2, 5.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().version, 2);
}

/// Sends `signal` (`STOP`, `CONT`) to process `pid`.
fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Resumes a frozen server however the test ends.
struct Thaw(u32);

impl Drop for Thaw {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

#[tokio::test]
async fn a_connection_left_unanswered_is_replaced_and_a_command_that_finds_none_is_never_sent() {
    let server = TestRedis::start();
    let options = RedisOptions {
        response_timeout: Duration::from_millis(500),
        ..RedisOptions::default()
    };
    let store = RedisStore::connect_with(&server.url(), 1, ReplyChannelKind::Stream, options)
        .await
        .unwrap();
    store.ping().await.unwrap();
    let pid = server.pid().unwrap();
    // A frozen server keeps its connections open and answers nothing: like a path that died
    // without a reset.
    signal(pid, "STOP");
    let thaw = Thaw(pid);
    let started = Instant::now();
    let sent = store.append(0, &envelope("sent")).await;
    assert!(
        matches!(sent, Err(StoreError::Unavailable(_))),
        "sent on the connection, unanswered: {sent:?}"
    );
    // That connection is dropped; a new one cannot be made with a frozen server, so the next
    // commands are never sent, and say so.
    for n in 0..3 {
        let id = format!("unsent-{n}");
        let unsent = store.append(0, &envelope(&id)).await;
        assert!(
            matches!(unsent, Err(StoreError::Unreachable(_))),
            "{id}: {unsent:?}"
        );
    }
    assert!(started.elapsed() < Duration::from_secs(5));
    drop(thaw);
    eventually("the store to connect again", || async {
        store.ping().await.is_ok()
    })
    .await;
    let ids: Vec<String> = store
        .read(0, StreamId::ZERO, 10, Duration::ZERO)
        .await
        .unwrap()
        .into_iter()
        .map(|(_, command)| command.id)
        .collect();
    assert!(
        ids.iter().all(|id| !id.starts_with("unsent")),
        "a command reported unsent is in the stream: {ids:?}"
    );
}
