//! The worker over the embedded store: moves across shards, fencing, deadlines, eviction,
//! take-over and graceful shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use actor_worker::{Worker, WorkerHandle, WorkerSettings};
use shared::command::{
    Command, CommandEnvelope, CreditMove, DeliveryLine, MoveStock, RecordDelivery,
};
use shared::domain::LocalDateTime;
use shared::metrics::Metrics;
use shared::reply::{IdempotencyRecord, Reply};
use shared::shard::{ShardId, shard_of};
use shared::store::memory::MemoryStore;
use shared::store::{
    CommandLog, Leases, PotRef, ReadModel, RecordWrite, Replies, ShardCommit, ShardState, Store,
    StreamId,
};

const SHARDS: u32 = 4;
const TTL: Duration = Duration::from_millis(300);

fn settings(worker: &str) -> WorkerSettings {
    WorkerSettings {
        worker_id: worker.to_owned(),
        shards: SHARDS,
        lease_ttl: TTL,
        pot_unload_after: Duration::from_secs(300),
        pot_unload_check_interval: Duration::from_secs(30),
        idempotency_retention: Duration::from_secs(3_600),
        batch_max: 64,
    }
}

fn start(store: &Arc<MemoryStore>, settings: WorkerSettings) -> (WorkerHandle, Metrics) {
    let metrics = Metrics::new();
    let dyn_store: Arc<dyn Store> = store.clone();
    (Worker::start(dyn_store, settings, metrics.clone()), metrics)
}

/// The `n`-th location id that maps to `shard`.
fn location(shard: ShardId, n: usize) -> String {
    (0..)
        .map(|i| format!("loc-{i}"))
        .filter(|l| shard_of(l, SHARDS) == shard)
        .nth(n)
        .unwrap()
}

fn at(time: &str) -> LocalDateTime {
    LocalDateTime::parse(time).unwrap()
}

fn delivery(location: &str, request_id: &str, n: f64) -> Command {
    Command::RecordDelivery(RecordDelivery {
        location: location.to_owned(),
        request_id: request_id.to_owned(),
        supplier_id: "s".to_owned(),
        supplier_ref: "r".to_owned(),
        delivered_at: at("2024-01-01T10:00:00"),
        lines: vec![DeliveryLine {
            product: "P".to_owned(),
            quantity: n,
        }],
    })
}

fn moving(source: &str, destination: &str, request_id: &str, n: f64) -> Command {
    Command::MoveStock(MoveStock {
        source: source.to_owned(),
        destination: destination.to_owned(),
        product: "P".to_owned(),
        request_id: request_id.to_owned(),
        quantity: n,
        moved_at: at("2024-01-01T11:00:00"),
    })
}

fn envelope(command: Command, timeout: Duration, reply_to: Option<String>) -> CommandEnvelope {
    CommandEnvelope {
        id: format!("cmd-{}", command.idempotency_key().map_or("", |k| k.1)),
        timeout_ms: Some(timeout.as_millis() as u64),
        not_after_ms: None,
        traceparent: None,
        reply_to,
        command,
    }
}

/// Appends a client write and collects its replies until a final one or `wait` has passed.
async fn write(store: &MemoryStore, command: Command, wait: Duration) -> Vec<Reply> {
    let mut waiter = store.open().await.unwrap();
    let shard = shard_of(command.location(), SHARDS);
    let envelope = envelope(
        command,
        Duration::from_secs(5),
        Some(waiter.address.clone()),
    );
    store.append(shard, &envelope).await.unwrap();
    let mut replies = Vec::new();
    while let Ok(Some(reply)) = tokio::time::timeout(wait, waiter.replies.recv()).await {
        let last = !matches!(reply, Reply::InTransit { .. });
        replies.push(reply);
        if last {
            break;
        }
    }
    replies
}

async fn quantity(store: &MemoryStore, location: &str) -> f64 {
    let pot = PotRef {
        location: location.to_owned(),
        product: "P".to_owned(),
    };
    store.read_pots(&[pot]).await.unwrap()[0].quantity
}

/// Polls `check` until it holds, failing after a few seconds.
async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let until = tokio::time::Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(
            tokio::time::Instant::now() < until,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn metric(metrics: &Metrics, name: &str) -> f64 {
    let text = metrics.render();
    let line = text.lines().find(|l| l.split(' ').next() == Some(name));
    line.and_then(|l| l.split(' ').nth(1))
        .map_or(0.0, |v| v.parse().unwrap())
}

#[tokio::test]
async fn a_cross_shard_move_ends_with_both_sides_applied_and_the_source_record_complete() {
    let store = Arc::new(MemoryStore::new());
    let (worker, metrics) = start(&store, settings("w1"));
    let (s, d) = (location(0, 0), location(1, 0));
    let replies = write(&store, delivery(&s, "d1", 10.0), Duration::from_secs(5)).await;
    assert!(matches!(replies[..], [Reply::Created { .. }]));
    let replies = write(&store, moving(&s, &d, "m1", 4.0), Duration::from_secs(5)).await;
    let body = moving(&s, &d, "m1", 4.0).echo_body().unwrap();
    assert_eq!(
        replies,
        vec![
            Reply::InTransit { body: body.clone() },
            Reply::Created { body }
        ]
    );
    assert_eq!(
        (quantity(&store, &s).await, quantity(&store, &d).await),
        (6.0, 4.0)
    );
    eventually("the move is complete at its source", || async {
        let record = store.load_record(0, &s, "m1").await.unwrap();
        record.is_some_and(|r| !r.in_transit) && store.outbox(0).await.unwrap().is_empty()
    })
    .await;
    eventually("no move is in transit", || async {
        metric(&metrics, "stock_moves_in_transit") == 0.0
    })
    .await;
    assert_eq!(metric(&metrics, "stock_idempotency_misses_total"), 2.0);
    assert_eq!(metric(&metrics, "stock_leases_held"), f64::from(SHARDS));
    worker.shutdown().await;
}

#[tokio::test]
async fn a_replay_is_answered_from_the_record_and_counted_as_a_hit() {
    let store = Arc::new(MemoryStore::new());
    let (worker, metrics) = start(&store, settings("w1"));
    let l = location(2, 0);
    let first = write(&store, delivery(&l, "d1", 3.0), Duration::from_secs(5)).await;
    let again = write(&store, delivery(&l, "d1", 3.0), Duration::from_secs(5)).await;
    let other = write(&store, delivery(&l, "d1", 4.0), Duration::from_secs(5)).await;
    assert_eq!(first, again);
    assert_eq!(other, vec![Reply::ContentMismatch]);
    assert_eq!(quantity(&store, &l).await, 3.0);
    assert_eq!(metric(&metrics, "stock_idempotency_hits_total"), 1.0);
    assert_eq!(metric(&metrics, "stock_idempotency_misses_total"), 1.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_worker_whose_lease_is_stolen_commits_nothing_more() {
    let store = Arc::new(MemoryStore::new());
    let mut one_shard = settings("w1");
    one_shard.shards = 1;
    let (worker, metrics) = start(&store, one_shard);
    let l = "anywhere";
    let replies = write(&store, delivery(l, "d1", 5.0), Duration::from_secs(5)).await;
    assert!(matches!(replies[..], [Reply::Created { .. }]));
    let applied = store.applied(0).await.unwrap();
    store.steal_lease(0, "thief", Duration::from_secs(60));
    let replies = write(&store, delivery(l, "d2", 7.0), Duration::from_millis(500)).await;
    assert!(
        replies.is_empty(),
        "no reply from a fenced worker: {replies:?}"
    );
    eventually("the worker gives the shard up", || async {
        metric(&metrics, "stock_leases_held") == 0.0
    })
    .await;
    assert_eq!(quantity(&store, l).await, 5.0);
    assert_eq!(store.applied(0).await.unwrap(), applied);
    assert!(store.load_record(0, l, "d2").await.unwrap().is_none());
    assert!(metric(&metrics, "stock_fenced_rejections_total") <= 1.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_command_past_its_deadline_is_never_applied() {
    let store = Arc::new(MemoryStore::new());
    let l = location(3, 0);
    let shard = shard_of(&l, SHARDS);
    let late = envelope(delivery(&l, "d1", 5.0), Duration::from_millis(20), None);
    let id = store.append(shard, &late).await.unwrap();
    tokio::time::sleep(Duration::from_millis(40)).await;
    let (worker, _) = start(&store, settings("w1"));
    eventually("the worker has consumed the command", || async {
        store.applied(shard).await.unwrap() >= id
    })
    .await;
    assert_eq!(quantity(&store, &l).await, 0.0);
    assert!(store.load_record(shard, &l, "d1").await.unwrap().is_none());
    // A write still within its deadline on the same shard goes through.
    let replies = write(&store, delivery(&l, "d2", 2.0), Duration::from_secs(5)).await;
    assert!(matches!(replies[..], [Reply::Created { .. }]));
    assert_eq!(quantity(&store, &l).await, 2.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn an_evicted_pot_reloads_transparently() {
    let store = Arc::new(MemoryStore::new());
    let mut quick = settings("w1");
    quick.pot_unload_after = Duration::from_millis(50);
    quick.pot_unload_check_interval = Duration::from_millis(10);
    let (worker, metrics) = start(&store, quick);
    let l = location(1, 1);
    write(&store, delivery(&l, "d1", 20.0), Duration::from_secs(5)).await;
    assert_eq!(metric(&metrics, "stock_pots_loaded"), 1.0);
    eventually("the idle pot is evicted", || async {
        metric(&metrics, "stock_pots_loaded") == 0.0
    })
    .await;
    write(&store, delivery(&l, "d2", 10.0), Duration::from_secs(5)).await;
    assert_eq!(quantity(&store, &l).await, 30.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_new_owner_resends_unacknowledged_credits() {
    let store = Arc::new(MemoryStore::new());
    let (s, d) = (location(0, 0), location(1, 0));
    let command = moving(&s, &d, "m1", 4.0);
    let body = command.echo_body().unwrap();
    // A previous owner committed the source side, then died before sending the credit.
    let dead = store.acquire(0, "dead", TTL).await.unwrap().unwrap();
    let mut commit = ShardCommit::new(0, StreamId::ZERO);
    commit.records.push(RecordWrite {
        location: s.clone(),
        request_id: "m1".to_owned(),
        record: IdempotencyRecord {
            fingerprint: command.fingerprint().unwrap(),
            in_transit: true,
            body: body.clone(),
        },
    });
    commit.outbox_put.push(CreditMove {
        move_id: "move-1".to_owned(),
        source: s.clone(),
        destination: d.clone(),
        product: "P".to_owned(),
        request_id: "m1".to_owned(),
        quantity: 4.0,
        moved_at: at("2024-01-01T11:00:00"),
        body: body.clone(),
    });
    store
        .commit(&dead, &commit, Duration::from_secs(3_600))
        .await
        .unwrap();
    store.release(&dead).await.unwrap();
    let (worker, _) = start(&store, settings("w2"));
    eventually("the credit is applied and acknowledged", || async {
        let record = store.load_record(0, &s, "m1").await.unwrap();
        record.is_some_and(|r| !r.in_transit) && store.outbox(0).await.unwrap().is_empty()
    })
    .await;
    assert_eq!(quantity(&store, &d).await, 4.0);
    let replay = write(&store, command, Duration::from_secs(5)).await;
    assert_eq!(replay, vec![Reply::Created { body }]);
    worker.shutdown().await;
}

#[tokio::test]
async fn after_a_graceful_shutdown_another_worker_takes_over_at_once() {
    let store = Arc::new(MemoryStore::new());
    let (first, first_metrics) = start(&store, settings("w1"));
    let l = location(2, 1);
    write(&store, delivery(&l, "d1", 1.0), Duration::from_secs(5)).await;
    let (second, second_metrics) = start(&store, settings("w2"));
    eventually("the two workers share the shards", || async {
        metric(&first_metrics, "stock_leases_held") == f64::from(SHARDS / 2)
            && metric(&second_metrics, "stock_leases_held") == f64::from(SHARDS / 2)
    })
    .await;
    first.shutdown().await;
    assert_eq!(metric(&first_metrics, "stock_leases_held"), 0.0);
    // Leases were released, not left to expire: the second worker claims them on its next tick.
    let replies = write(&store, delivery(&l, "d2", 2.0), Duration::from_secs(5)).await;
    assert!(matches!(replies[..], [Reply::Created { .. }]));
    assert_eq!(quantity(&store, &l).await, 3.0);
    eventually("the second worker holds every shard", || async {
        metric(&second_metrics, "stock_leases_held") == f64::from(SHARDS)
    })
    .await;
    second.shutdown().await;
}

#[tokio::test]
async fn opposite_cross_shard_moves_both_complete() {
    let store = Arc::new(MemoryStore::new());
    let (worker, _) = start(&store, settings("w1"));
    let (a, b) = (location(0, 1), location(3, 1));
    write(&store, delivery(&a, "da", 10.0), Duration::from_secs(5)).await;
    write(&store, delivery(&b, "db", 10.0), Duration::from_secs(5)).await;
    let (ab, ba) = tokio::join!(
        write(&store, moving(&a, &b, "ab", 3.0), Duration::from_secs(5)),
        write(&store, moving(&b, &a, "ba", 5.0), Duration::from_secs(5)),
    );
    assert!(matches!(ab.last(), Some(Reply::Created { .. })));
    assert!(matches!(ba.last(), Some(Reply::Created { .. })));
    assert_eq!(
        (quantity(&store, &a).await, quantity(&store, &b).await),
        (12.0, 8.0)
    );
    worker.shutdown().await;
}
