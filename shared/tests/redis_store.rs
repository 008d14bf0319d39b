//! The Redis backend against a real `redis-server` per test: the behaviour of the embedded
//! backend's tests, plus what only Redis has (key slots, the recorded shard count, reply channels
//! across instances, an unreachable server).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::command::{AcknowledgeMove, Command, CommandEnvelope, CreditMove};
use shared::domain::{
    Checkpoint, Event, EventKind, Fingerprint, HistoryRequest, LocalDateTime, PotChange, PotState,
};
use shared::reply::{IdempotencyRecord, Reply};
use shared::shard::shard_of;
use shared::store::redis::{RedisOptions, RedisStore, ReplyChannelKind, keys};
use shared::store::{
    CommandLog, CommitError, LeaseToken, Leases, PotRef, PotWrite, ReadModel, RecordWrite, Replies,
    Settled, ShardCommit, ShardState, StoreError, StreamId,
};
use shared::testing::TestRedis;

const TTL: Duration = Duration::from_secs(3);
const DAY: Duration = Duration::from_secs(86_400);
/// How long a condition may take to come true before a test fails.
const PATIENCE: Duration = Duration::from_secs(10);

async fn store(server: &TestRedis) -> RedisStore {
    RedisStore::connect(&server.url(), 1, ReplyChannelKind::Stream)
        .await
        .unwrap()
}

async fn raw(server: &TestRedis) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(server.url()).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

async fn query<T: redis::FromRedisValue>(server: &TestRedis, cmd: &redis::Cmd) -> T {
    cmd.query_async(&mut raw(server).await).await.unwrap()
}

/// Polls `check` until it holds, failing the test after [`PATIENCE`].
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let until = Instant::now() + PATIENCE;
    while !check().await {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

fn envelope(id: &str) -> CommandEnvelope {
    CommandEnvelope {
        id: id.to_owned(),
        timeout_ms: None,
        traceparent: None,
        reply_to: None,
        command: Command::AcknowledgeMove(AcknowledgeMove {
            move_id: id.to_owned(),
            source: "S".to_owned(),
            request_id: id.to_owned(),
        }),
    }
}

fn pot() -> PotRef {
    pot_at("L", "P")
}

fn pot_at(location: &str, product: &str) -> PotRef {
    PotRef {
        location: location.to_owned(),
        product: product.to_owned(),
    }
}

fn at(secs: i64) -> LocalDateTime {
    LocalDateTime::from_epoch(secs, 0).unwrap()
}

/// A delivery of `n` at `position` to pot (L, P), with a checkpoint pushed if asked.
fn write(position: u64, n: f64, checkpoint: bool) -> PotWrite {
    write_to(&pot(), position, n, checkpoint)
}

fn write_to(pot: &PotRef, position: u64, n: f64, checkpoint: bool) -> PotWrite {
    let state = PotState {
        quantity: n * position as f64,
        pending_adjustment: 0.0,
        last_updated: at(0),
    };
    PotWrite {
        location: pot.location.clone(),
        product: pot.product.clone(),
        change: PotChange {
            event: Event {
                kind: EventKind::Delivery,
                quantity: n,
                at: at(0),
                id: format!("r{position}"),
                position,
            },
            state,
            truncate_checkpoints_to: None,
            push_checkpoint: checkpoint.then_some(Checkpoint { position, state }),
        },
    }
}

fn record(body: &str) -> RecordWrite {
    record_at("L", "r1", body)
}

fn record_at(location: &str, request_id: &str, body: &str) -> RecordWrite {
    RecordWrite {
        location: location.to_owned(),
        request_id: request_id.to_owned(),
        record: IdempotencyRecord {
            fingerprint: Fingerprint([7; 32]),
            in_transit: false,
            body: body.to_owned(),
        },
    }
}

fn credit(move_id: &str) -> CreditMove {
    CreditMove {
        move_id: move_id.to_owned(),
        source: "S".to_owned(),
        destination: "D".to_owned(),
        product: "P".to_owned(),
        request_id: "r1".to_owned(),
        quantity: 1.5,
        moved_at: at(0),
        body: "{}".to_owned(),
    }
}

async fn leased(store: &RedisStore) -> LeaseToken {
    store.acquire(0, "w1", TTL).await.unwrap().unwrap()
}

fn positions(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}

#[tokio::test]
async fn a_commit_with_a_stale_token_writes_nothing() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let old = leased(&store).await;
    // The holder paused past its lease and another worker took over.
    query::<()>(&server, redis::cmd("DEL").arg(keys::lease(0))).await;
    let new = store.acquire(0, "w2", TTL).await.unwrap().unwrap();
    assert_eq!(new.epoch, old.epoch + 1);
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 5.0, false));
    commit.records.push(record("{}"));
    assert!(matches!(
        store.commit(&old, &commit, DAY).await,
        Err(CommitError::Stale)
    ));
    assert_eq!(store.applied(0).await.unwrap(), StreamId::ZERO);
    assert_eq!(
        store.read_pots(&[pot()]).await.unwrap()[0],
        PotState::INITIAL
    );
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
    store.commit(&new, &commit, DAY).await.unwrap();
    assert_eq!(store.read_pots(&[pot()]).await.unwrap()[0].quantity, 5.0);
}

#[tokio::test]
async fn an_expired_lease_fences_commits_and_can_be_acquired_again() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let ttl = Duration::from_millis(200);
    let token = store.acquire(0, "w1", ttl).await.unwrap().unwrap();
    assert!(store.acquire(0, "w2", ttl).await.unwrap().is_none());
    assert!(store.renew(&token, ttl).await.unwrap());
    eventually("the lease to expire", || async {
        query::<u64>(&server, redis::cmd("EXISTS").arg(keys::lease(0))).await == 0
    })
    .await;
    let commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Stale)
    ));
    assert!(!store.renew(&token, TTL).await.unwrap());
    let next = store.acquire(0, "w2", TTL).await.unwrap().unwrap();
    assert_eq!(next.epoch, token.epoch + 1);
    let held: String = query(&server, redis::cmd("GET").arg(keys::lease(0))).await;
    assert_eq!(held, next.value());
    assert!(!store.release(&token).await.unwrap());
    assert!(store.release(&next).await.unwrap());
}

#[tokio::test]
async fn a_token_of_another_shard_is_stale() {
    let server = TestRedis::start();
    let store = RedisStore::connect(&server.url(), 4, ReplyChannelKind::Stream)
        .await
        .unwrap();
    let token = store.acquire(1, "w1", TTL).await.unwrap().unwrap();
    let commit = ShardCommit::new(2, StreamId { ms: 1, seq: 0 });
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Stale)
    ));
}

#[tokio::test]
async fn a_batch_past_its_deadline_writes_nothing() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let now = store.now_ms().await.unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.min_deadline_ms = Some(now - 1);
    commit.pots.push(write(1, 5.0, false));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Expired)
    ));
    assert_eq!(store.applied(0).await.unwrap(), StreamId::ZERO);
    assert_eq!(
        store.read_pots(&[pot()]).await.unwrap()[0],
        PotState::INITIAL
    );
    commit.min_deadline_ms = Some(now + 60_000);
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.applied(0).await.unwrap(), StreamId { ms: 1, seq: 0 });
}

#[tokio::test]
async fn a_pot_change_at_the_wrong_position_refuses_the_whole_commit() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    commit.credits_applied.push("m1".to_owned());
    commit.outbox_put.push(credit("m2"));
    commit.pots.push(write(1, 5.0, false));
    commit.pots.push(write(3, 5.0, false));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Store(StoreError::Corrupt(_)))
    ));
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().version, 0);
    assert!(!store.credit_applied(0, "m1").await.unwrap());
    assert!(store.outbox(0).await.unwrap().is_empty());
    assert_eq!(store.applied(0).await.unwrap(), StreamId::ZERO);
    let mut written: Vec<String> = query(&server, redis::cmd("KEYS").arg("stock:{*")).await;
    written.sort();
    assert_eq!(written, vec![keys::epoch(0), keys::lease(0)]);
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
async fn settle_waits_for_the_deadline_then_reports_the_record_or_its_absence() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let deadline = store.now_ms().await.unwrap() + 300;
    assert_eq!(
        store.settle(0, "L", "r1", deadline).await.unwrap(),
        Settled::Pending
    );
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{\"a\":1}"));
    store.commit(&token, &commit, DAY).await.unwrap();
    eventually("the deadline to pass", || async {
        store.now_ms().await.unwrap() > deadline
    })
    .await;
    let Settled::Recorded(found) = store.settle(0, "L", "r1", deadline).await.unwrap() else {
        panic!("the record was committed");
    };
    assert_eq!(found.body, "{\"a\":1}");
    assert_eq!(
        store.settle(0, "L", "other", deadline).await.unwrap(),
        Settled::NotApplied
    );
}

#[tokio::test]
async fn once_settled_as_not_applied_a_write_can_never_commit() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let deadline = store.now_ms().await.unwrap() + 5;
    eventually("the write to settle", || async {
        store.settle(0, "L", "r1", deadline).await.unwrap() == Settled::NotApplied
    })
    .await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.min_deadline_ms = Some(deadline);
    commit.records.push(record("{}"));
    assert!(matches!(
        store.commit(&token, &commit, DAY).await,
        Err(CommitError::Expired)
    ));
    assert_eq!(store.load_record(0, "L", "r1").await.unwrap(), None);
}

#[tokio::test]
async fn records_and_credits_expire_after_the_retention() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.records.push(record("{}"));
    commit.credits_applied.push("m1".to_owned());
    store
        .commit(&token, &commit, Duration::from_millis(300))
        .await
        .unwrap();
    assert!(store.load_record(0, "L", "r1").await.unwrap().is_some());
    assert!(store.credit_applied(0, "m1").await.unwrap());
    eventually("the record to expire", || async {
        store.load_record(0, "L", "r1").await.unwrap().is_none()
    })
    .await;
    eventually("the credit marker to expire", || async {
        !store.credit_applied(0, "m1").await.unwrap()
    })
    .await;
}

#[tokio::test]
async fn stream_ids_increase_and_reads_return_entries_after_the_given_id() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(store.append(3, &envelope(&format!("c{i}"))).await.unwrap());
    }
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    let now = store.now_ms().await.unwrap();
    assert!(
        ids[4].ms <= now && now - ids[4].ms < 60_000,
        "ids carry store time"
    );
    let read = store.read(3, ids[1], 2, Duration::ZERO).await.unwrap();
    let got: Vec<_> = read.iter().map(|(id, e)| (*id, e.id.clone())).collect();
    assert_eq!(
        got,
        vec![(ids[2], "c2".to_owned()), (ids[3], "c3".to_owned())]
    );
    assert_eq!(read[0].1, envelope("c2"));
    let blocking = store.read(3, ids[1], 10, Duration::from_millis(50));
    assert_eq!(blocking.await.unwrap().len(), 3);
    assert!(
        store
            .read(4, StreamId::ZERO, 10, Duration::ZERO)
            .await
            .unwrap()
            .is_empty()
    );
}

/// Waits until Redis reports at least `n` clients blocked in a command.
async fn blocked_clients(server: &TestRedis, n: u64) {
    eventually("a blocked client", || async {
        let info: String = query(server, redis::cmd("INFO").arg("clients")).await;
        info.lines()
            .find_map(|l| l.strip_prefix("blocked_clients:"))
            .and_then(|v| v.trim().parse::<u64>().ok())
            .is_some_and(|blocked| blocked >= n)
    })
    .await;
}

#[tokio::test]
async fn a_blocked_read_wakes_up_when_a_command_is_appended() {
    let server = TestRedis::start();
    let store = Arc::new(store(&server).await);
    let reader = {
        let store = store.clone();
        tokio::spawn(async move {
            store
                .read(1, StreamId::ZERO, 10, Duration::from_secs(30))
                .await
        })
    };
    blocked_clients(&server, 1).await;
    // The shared connection still answers while a read is blocked.
    store.ping().await.unwrap();
    store.append(1, &envelope("c1")).await.unwrap();
    let read = tokio::time::timeout(Duration::from_secs(5), reader)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(read.len(), 1);
}

#[tokio::test]
async fn a_blocked_read_returns_empty_after_the_block_time() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let read = store
        .read(1, StreamId::ZERO, 10, Duration::from_millis(30))
        .await
        .unwrap();
    assert!(read.is_empty());
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
async fn a_commit_trims_the_stream_up_to_applied() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut ids = Vec::new();
    for i in 0..3 {
        ids.push(store.append(0, &envelope(&format!("c{i}"))).await.unwrap());
    }
    store
        .commit(&token, &ShardCommit::new(0, ids[1]), DAY)
        .await
        .unwrap();
    let len: u64 = query(&server, redis::cmd("XLEN").arg(keys::commands(0))).await;
    assert_eq!(len, 1);
    assert_eq!(store.applied(0).await.unwrap(), ids[1]);
    let rest = store.read(0, ids[1], 10, Duration::ZERO).await.unwrap();
    assert_eq!(rest[0].0, ids[2]);
    // `applied` never moves back.
    store
        .commit(&token, &ShardCommit::new(0, ids[0]), DAY)
        .await
        .unwrap();
    assert_eq!(store.applied(0).await.unwrap(), ids[1]);
}

#[tokio::test]
async fn the_outbox_holds_credits_until_removed() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.outbox_put.push(credit("m2"));
    commit.outbox_put.push(credit("m1"));
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(
        store.outbox(0).await.unwrap(),
        vec![credit("m1"), credit("m2")]
    );
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.outbox_remove.push("m1".to_owned());
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.outbox(0).await.unwrap(), vec![credit("m2")]);
}

#[tokio::test]
async fn a_loaded_pot_holds_the_top_checkpoint_and_the_events_after_it() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=5 {
        commit
            .pots
            .push(write(position, 2.0, position == 2 || position == 4));
    }
    store.commit(&token, &commit, DAY).await.unwrap();
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!(stored.version, 5);
    assert_eq!(stored.checkpoint_count, 2);
    assert_eq!(stored.top_checkpoint.map(|c| c.position), Some(4));
    assert_eq!(positions(&stored.events), vec![5]);
    assert_eq!(stored.state.quantity, 10.0);
    let empty = store.load_pot(0, &pot_at("L", "Q")).await.unwrap();
    assert_eq!(
        (empty.version, empty.state, empty.events.len()),
        (0, PotState::INITIAL, 0)
    );
    assert_eq!(empty.top_checkpoint, None);
}

#[tokio::test]
async fn a_pot_without_checkpoints_loads_every_event_and_later_commits_continue_it() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 1.0, false));
    commit.pots.push(write(2, 1.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.pots.push(write(3, 1.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!((stored.version, stored.checkpoint_count), (3, 0));
    assert_eq!(positions(&stored.events), vec![1, 2, 3]);
    assert_eq!(stored.events[2], write(3, 1.0, false).change.event);
}

#[tokio::test]
async fn history_requests_return_the_checkpoint_stack_and_the_event_range() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=5 {
        commit
            .pots
            .push(write(position, 2.0, position == 2 || position == 4));
    }
    store.commit(&token, &commit, DAY).await.unwrap();
    let request = HistoryRequest {
        all_checkpoints: true,
        events_from: 2,
        events_to: 4,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    let stack: Vec<u64> = history
        .checkpoints
        .unwrap()
        .iter()
        .map(|c| c.position)
        .collect();
    assert_eq!(stack, vec![2, 4]);
    assert_eq!(positions(&history.events), vec![3, 4]);
    let request = HistoryRequest {
        all_checkpoints: false,
        events_from: 0,
        events_to: 9,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    assert!(history.checkpoints.is_none());
    assert_eq!(history.events.len(), 5);
    let none = HistoryRequest {
        all_checkpoints: false,
        events_from: 3,
        events_to: 3,
    };
    assert!(
        store
            .load_history(0, &pot(), &none)
            .await
            .unwrap()
            .events
            .is_empty()
    );
}

#[tokio::test]
async fn a_change_can_cut_the_checkpoint_stack_before_pushing() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    for position in 1..=4 {
        commit.pots.push(write(position, 1.0, true));
    }
    let mut cut = write(5, 1.0, true);
    cut.change.truncate_checkpoints_to = Some(1);
    commit.pots.push(cut);
    let mut drop_all = write(6, 1.0, false);
    drop_all.change.truncate_checkpoints_to = Some(0);
    store.commit(&token, &commit, DAY).await.unwrap();
    let request = HistoryRequest {
        all_checkpoints: true,
        events_from: 0,
        events_to: 0,
    };
    let history = store.load_history(0, &pot(), &request).await.unwrap();
    let stack: Vec<u64> = history
        .checkpoints
        .unwrap()
        .iter()
        .map(|c| c.position)
        .collect();
    assert_eq!(stack, vec![1, 5]);
    assert_eq!(store.load_pot(0, &pot()).await.unwrap().checkpoint_count, 2);
    let mut commit = ShardCommit::new(0, StreamId { ms: 2, seq: 0 });
    commit.pots.push(drop_all);
    store.commit(&token, &commit, DAY).await.unwrap();
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!((stored.checkpoint_count, stored.top_checkpoint), (0, None));
    assert_eq!(positions(&stored.events), vec![1, 2, 3, 4, 5, 6]);
}

#[tokio::test]
async fn pot_states_read_back_bit_exact_in_one_round_trip() {
    let server = TestRedis::start();
    let store = store(&server).await;
    let token = leased(&store).await;
    let mut exact = write(1, 0.1, true);
    exact.change.state = PotState {
        quantity: 0.1 + 0.2,
        pending_adjustment: -1.0 / 3.0,
        last_updated: LocalDateTime::parse("2024-12-07T10:00:00.123456789").unwrap(),
    };
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(exact.clone());
    store.commit(&token, &commit, DAY).await.unwrap();
    let states = store
        .read_pots(&[pot_at("L", "none"), pot(), pot_at("M", "P")])
        .await
        .unwrap();
    assert_eq!(
        states,
        vec![PotState::INITIAL, exact.change.state, PotState::INITIAL]
    );
    assert!(store.read_pots(&[]).await.unwrap().is_empty());
    let stored = store.load_pot(0, &pot()).await.unwrap();
    assert_eq!(stored.state, exact.change.state);
    assert_eq!(stored.top_checkpoint, exact.change.push_checkpoint);
}

async fn next(waiter: &mut shared::store::ReplyWaiter) -> Option<Reply> {
    tokio::time::timeout(Duration::from_secs(5), waiter.replies.recv())
        .await
        .unwrap()
}

async fn check_replies(kind: ReplyChannelKind) {
    let server = TestRedis::start();
    let http = RedisStore::connect(&server.url(), 1, kind).await.unwrap();
    // The worker's own reply kind does not matter: the address says where to send.
    let worker = RedisStore::connect(&server.url(), 1, ReplyChannelKind::Key)
        .await
        .unwrap();
    let mut waiter = http.open().await.unwrap();
    let mut other = http.open().await.unwrap();
    assert_ne!(waiter.address, other.address);
    let provisional = Reply::InTransit {
        body: "{\"q\":1.0}".to_owned(),
    };
    let last = Reply::Created {
        body: "{\"q\":1.0}".to_owned(),
    };
    worker.send(&waiter.address, &provisional).await.unwrap();
    worker.send(&waiter.address, &last).await.unwrap();
    worker
        .send(&other.address, &Reply::InsufficientStock)
        .await
        .unwrap();
    assert_eq!(next(&mut waiter).await, Some(provisional));
    assert_eq!(next(&mut waiter).await, Some(last.clone()));
    assert_eq!(next(&mut other).await, Some(Reply::InsufficientStock));
    worker.send("nobody", &last).await.unwrap();
    let address = waiter.address.clone();
    drop(waiter);
    worker.send(&address, &last).await.unwrap();
    // Later waiters still get their replies.
    let mut third = http.open().await.unwrap();
    worker
        .send(&third.address, &Reply::ContentMismatch)
        .await
        .unwrap();
    assert_eq!(next(&mut third).await, Some(Reply::ContentMismatch));
}

#[tokio::test]
async fn replies_over_the_instance_stream_reach_open_waiters_in_order() {
    check_replies(ReplyChannelKind::Stream).await;
}

#[tokio::test]
async fn replies_over_per_request_keys_reach_open_waiters_in_order() {
    check_replies(ReplyChannelKind::Key).await;
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
    let token = leased(&store).await;
    let mut commit = ShardCommit::new(0, StreamId { ms: 1, seq: 0 });
    commit.pots.push(write(1, 5.0, false));
    store.commit(&token, &commit, DAY).await.unwrap();
    assert_eq!(store.read_pots(&[pot()]).await.unwrap()[0].quantity, 5.0);
    store.append(0, &envelope("c1")).await.unwrap();
    let read = store.read(0, StreamId::ZERO, 10, Duration::from_millis(100));
    assert_eq!(read.await.unwrap().len(), 1);
    let mut waiter = store.open().await.unwrap();
    store
        .send(&waiter.address, &Reply::ContentMismatch)
        .await
        .unwrap();
    assert_eq!(next(&mut waiter).await, Some(Reply::ContentMismatch));
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
