//! The Redis backend on a Sentinel-managed deployment (a primary, a replica, three sentinels, all
//! real processes on loopback): the store follows a failover without a restart.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::{Duration, Instant};

use shared::reply::Reply;
use shared::store::redis::{RedisOptions, RedisStore, ReplyChannelKind, keys};
use shared::store::{
    CommandLog, CommitError, LeaseToken, Leases, ReadModel, Replies, ShardCommit, ShardState,
    StoreError, StreamId,
};
use shared::testing::contract::fixture::{DAY, envelope, pot, write};
use shared::testing::sentinel::{SERVICE, TestSentinel};

/// Bound on every wait of these tests.
const WITHIN: Duration = Duration::from_secs(30);

async fn deployment(replicas: usize) -> TestSentinel {
    tokio::task::spawn_blocking(move || TestSentinel::start(replicas, &[]))
        .await
        .unwrap()
}

async fn store(url: &str) -> RedisStore {
    store_confirmed_by(url, 0).await
}

/// A store on the deployment at `url` whose writes `min_replicas` replicas must confirm.
async fn store_confirmed_by(url: &str, min_replicas: u32) -> RedisStore {
    let options = RedisOptions {
        response_timeout: Duration::from_millis(500),
        min_replicas,
        ..RedisOptions::default()
    };
    // The start gives up after a few response timeouts; just after a failover the sentinels
    // may take longer to agree on the primary.
    let started = Instant::now();
    loop {
        match RedisStore::connect_with(url, 1, ReplyChannelKind::Stream, options.clone()).await {
            Ok(store) => return store,
            Err(StoreError::Unavailable(e) | StoreError::Unreachable(e))
                if started.elapsed() < WITHIN =>
            {
                println!("connect: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("connect: {e:?}"),
        }
    }
}

/// A store whose writes one replica must confirm, owning shard 0 as `w1`, with a first
/// delivery of 5 committed and confirmed.
async fn confirmed_owner(redis: &TestSentinel) -> (RedisStore, LeaseToken) {
    let store = store_confirmed_by(&redis.url(), 1).await;
    let token = acquire_when_free(&store, "w1").await;
    commit_until_accepted(&store, &token, &commit_of(1, 5.0, 1)).await;
    (store, token)
}

/// One command to the node on `port`, straight.
async fn node_query<T: redis::FromRedisValue>(port: u16, cmd: &redis::Cmd) -> T {
    let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    cmd.query_async(&mut conn).await.unwrap()
}

/// Waits until the node on `port` holds `key`.
async fn wait_for_key(port: u16, key: &str) {
    let deadline = Instant::now() + WITHIN;
    loop {
        let exists: u64 = node_query(port, redis::cmd("EXISTS").arg(key)).await;
        if exists == 1 {
            return;
        }
        assert!(Instant::now() < deadline, "{key} never reached port {port}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn commit_of(position: u64, quantity: f64, applied_ms: u64) -> ShardCommit {
    let mut commit = ShardCommit::new(
        0,
        StreamId {
            ms: applied_ms,
            seq: 0,
        },
    );
    commit.pots.push(write(position, quantity, false));
    commit
}

/// Commits until one goes through; returns how long that took. Every refusal must be the store
/// being unavailable (never a fenced or corrupt answer).
async fn commit_until_accepted(
    store: &RedisStore,
    token: &LeaseToken,
    commit: &ShardCommit,
) -> Duration {
    let started = Instant::now();
    for _ in 0..2000 {
        match store.commit(token, commit, DAY).await {
            Ok(()) => return started.elapsed(),
            Err(CommitError::Store(StoreError::Unavailable(_) | StoreError::Unreachable(_))) => {}
            Err(other) => panic!("commit after the failover: {other:?}"),
        }
        assert!(
            started.elapsed() < WITHIN,
            "no commit accepted within {WITHIN:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no commit accepted in 2000 attempts");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_follows_the_primary_through_a_failover_and_keeps_what_was_replicated() {
    let mut redis = deployment(1).await;
    assert_eq!(redis.primary(), Some(0));
    let store = store(&redis.url()).await;
    let token = take_and_commit(&store).await;
    store.append(0, &envelope("c1")).await.unwrap();
    let replica = redis.nodes()[1].port();
    wait_for_key(replica, &keys::commands(0)).await;
    wait_for_key(replica, &keys::pot(0, &pot().location, &pot().product)).await;

    redis.node_mut(0).stop();
    let took = commit_until_accepted(&store, &token, &commit_of(2, 5.0, 2)).await;
    println!("SIGKILL of the primary → first accepted commit: {took:?}");
    // The store follows the newest view; a sentinel asked first may lag behind it for a moment.
    assert_eq!(redis.wait_for_failover(0, WITHIN), 1);

    let pots = store.read_pots(&[pot()]).await.unwrap();
    assert_eq!(pots[0].quantity, 10.0, "both commits, once each");
    let read = store
        .read(0, StreamId::ZERO, 10, Duration::from_millis(100))
        .await
        .unwrap();
    assert_eq!(
        read.len(),
        1,
        "the replicated command is read from the new primary"
    );
    let mut waiter = store.open().await.unwrap();
    store
        .send(&waiter.address, &Reply::ContentMismatch)
        .await
        .unwrap();
    let reply = tokio::time::timeout(WITHIN, waiter.replies.recv()).await;
    assert!(
        matches!(reply, Ok(Some(Reply::ContentMismatch))),
        "{reply:?}"
    );
    let held: String = node_query(replica, redis::cmd("GET").arg(keys::lease(0))).await;
    assert_eq!(held, token.value(), "the lease moved with the data");
}

#[tokio::test]
async fn a_sentinel_url_without_a_service_is_refused_before_connecting() {
    let refused =
        RedisStore::connect("redis+sentinel://127.0.0.1:1", 1, ReplyChannelKind::Stream).await;
    assert!(
        matches!(&refused, Err(StoreError::Corrupt(e)) if e.contains("/<service-name>")),
        "{refused:?}"
    );
}

#[tokio::test]
async fn no_sentinel_answering_fails_the_start_as_unavailable() {
    let refused = RedisStore::connect(
        "redis+sentinel://127.0.0.1:1,127.0.0.1:2/stock",
        1,
        ReplyChannelKind::Stream,
    )
    .await;
    assert!(
        matches!(&refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
}

/// A commit's answer once the store answers at all (it may first have to find the new primary).
async fn commit_answered(
    store: &RedisStore,
    token: &LeaseToken,
    commit: &ShardCommit,
) -> Result<(), CommitError> {
    let started = Instant::now();
    loop {
        match store.commit(token, commit, DAY).await {
            Err(CommitError::Store(StoreError::Unavailable(_) | StoreError::Unreachable(_)))
                if started.elapsed() < WITHIN =>
            {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            answer => return answer,
        }
    }
}

/// Takes the free lease of shard 0 for `w1` and commits a first delivery of 5 under it.
async fn take_and_commit(store: &RedisStore) -> LeaseToken {
    let token = store
        .acquire(0, "w1", Duration::from_secs(60))
        .await
        .unwrap()
        .expect("a free lease");
    store
        .commit(&token, &commit_of(1, 5.0, 1), DAY)
        .await
        .unwrap();
    token
}

/// Acquires shard 0 for `worker`, asking again while the store is unavailable or the lease is
/// held; returns the token.
async fn acquire_when_free(store: &RedisStore, worker: &str) -> LeaseToken {
    let started = Instant::now();
    loop {
        if let Ok(Some(token)) = store.acquire(0, worker, Duration::from_secs(10)).await {
            return token;
        }
        assert!(started.elapsed() < WITHIN, "{worker} never got the lease");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acquisition_lost_with_its_primary_cannot_fence_in_a_second_owner() {
    let mut redis = deployment(1).await;
    let first = store(&redis.url()).await;
    // The replica stops and its link is cut, so what the primary does next is not replicated
    // (a stopped replica with its link up would still find it in its socket's receive buffer).
    redis.signal_node(1, "STOP");
    let cut: u64 = node_query(
        redis.nodes()[0].port(),
        redis::cmd("CLIENT").arg("KILL").arg("TYPE").arg("replica"),
    )
    .await;
    assert_eq!(cut, 1, "one replica link cut");
    let lost = take_and_commit(&first).await;
    redis.node_mut(0).stop();
    redis.signal_node(1, "CONT");
    let promoted = tokio::task::spawn_blocking(move || {
        let new = redis.wait_for_failover(0, WITHIN);
        (redis, new)
    });
    let (redis, new) = promoted.await.unwrap();
    assert_eq!(new, 1);

    let second = store(&redis.url()).await;
    let token = acquire_when_free(&second, "w2").await;
    assert_eq!(
        token.epoch, lost.epoch,
        "the increment was lost with the primary: the epoch number repeats"
    );
    let fenced = commit_answered(&first, &lost, &commit_of(1, 7.0, 3)).await;
    assert!(
        matches!(fenced, Err(CommitError::Stale)),
        "the first owner's token does not hold on the new primary: {fenced:?}"
    );
    second
        .commit(&token, &commit_of(1, 9.0, 2), DAY)
        .await
        .unwrap();
    let pots = second.read_pots(&[pot()]).await.unwrap();
    assert_eq!(pots[0].quantity, 9.0, "only the second owner's commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_minimum_of_replicas_an_unconfirmed_commit_is_not_acknowledged_and_later_ones_wait()
{
    let redis = deployment(1).await;
    let (confirmed, token) = confirmed_owner(&redis).await;

    redis.signal_node(1, "STOP");
    let short = confirmed.commit(&token, &commit_of(2, 5.0, 2), DAY).await;
    assert!(
        matches!(short, Err(CommitError::Store(StoreError::Unavailable(_)))),
        "a commit the replica does not confirm is not acknowledged: {short:?}"
    );
    let gated = confirmed.commit(&token, &commit_of(3, 5.0, 3), DAY).await;
    assert!(
        matches!(gated, Err(CommitError::Store(StoreError::Unavailable(_)))),
        "{gated:?}"
    );
    let version: Option<String> = node_query(
        redis.nodes()[0].port(),
        redis::cmd("HGET")
            .arg(keys::pot(0, &pot().location, &pot().product))
            .arg("version"),
    )
    .await;
    assert_eq!(
        version.as_deref(),
        Some("2"),
        "the commit after the shortfall waits for a confirmed probe and is never applied"
    );
    let refused = confirmed.acquire(0, "w2", Duration::from_secs(2)).await;
    assert!(matches!(refused, Ok(None)), "held by w1: {refused:?}");

    redis.signal_node(1, "CONT");
    redis.wait_for_replica(1, WITHIN);
    let took = commit_until_accepted(&confirmed, &token, &commit_of(3, 5.0, 3)).await;
    println!("replica resumed → first confirmed commit: {took:?}");
    let pots = confirmed.read_pots(&[pot()]).await.unwrap();
    assert_eq!(pots[0].quantity, 15.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_from_a_primary_the_sentinels_no_longer_name_is_not_counted() {
    let redis = deployment(2).await;
    let (store, token) = confirmed_owner(&redis).await;

    // What a primary resumed after a failover it slept through sees: another node is the
    // primary the sentinels name, and a replica still follows the old one and confirms its
    // writes (until the sentinels move it, and it drops them).
    let [old, promoted, follower] = [0, 1, 2].map(|i| redis.nodes()[i].port());
    let _: String = node_query(promoted, redis::cmd("REPLICAOF").arg("NO").arg("ONE")).await;
    for sentinel in redis.sentinel_ports() {
        let _: String =
            node_query(sentinel, redis::cmd("SENTINEL").arg("REMOVE").arg(SERVICE)).await;
        let _: String = node_query(
            sentinel,
            redis::cmd("SENTINEL")
                .arg("MONITOR")
                .arg(SERVICE)
                .arg("127.0.0.1")
                .arg(promoted)
                .arg(2),
        )
        .await;
    }
    let acknowledged = store.commit(&token, &commit_of(2, 5.0, 2), DAY).await;
    assert!(
        matches!(
            acknowledged,
            Err(CommitError::Store(StoreError::Unavailable(_)) | CommitError::Stale)
        ),
        "a commit confirmed only by the old primary's follower is not acknowledged: {acknowledged:?}"
    );
    let mut versions = Vec::new();
    for port in [old, follower, promoted] {
        let mut get = redis::cmd("HGET");
        get.arg(keys::pot(0, &pot().location, &pot().product))
            .arg("version");
        versions.push(node_query::<Option<String>>(port, &get).await);
    }
    let versions: Vec<Option<&str>> = versions.iter().map(Option::as_deref).collect();
    assert_eq!(
        versions,
        [Some("2"), Some("2"), Some("1")],
        "the commit ran on the old primary and its follower confirmed it (old, follower, new)"
    );
}
