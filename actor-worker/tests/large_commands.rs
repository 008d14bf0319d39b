//! Commands at real-world sizes over the embedded store: deliveries of thousands of new lines,
//! and many of them in one batch, are applied whole and answered, and the shard keeps serving.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use actor_worker::{Worker, WorkerHandle, WorkerSettings};
use shared::command::{Command, CommandEnvelope, DeliveryLine, RecordDelivery, RecordSale};
use shared::domain::LocalDateTime;
use shared::metrics::Metrics;
use shared::reply::Reply;
use shared::store::memory::MemoryStore;
use shared::store::{CommandLog, PotRef, ReadModel, Replies, Store};

/// Longest wait for one reply: far beyond what a correct worker needs, so that a slow machine
/// never fails the test, while a worker that never answers does.
const PATIENCE: Duration = Duration::from_secs(60);

fn start(store: &Arc<MemoryStore>) -> (WorkerHandle, Metrics) {
    let settings = WorkerSettings {
        worker_id: "w1".to_owned(),
        shards: 1,
        lease_ttl: Duration::from_secs(2),
        pot_unload_after: Duration::from_secs(300),
        pot_unload_check_interval: Duration::from_secs(30),
        idempotency_retention: Duration::from_secs(3_600),
        batch_max: 64,
    };
    let metrics = Metrics::new();
    let dyn_store: Arc<dyn Store> = store.clone();
    (Worker::start(dyn_store, settings, metrics.clone()), metrics)
}

fn at(time: &str) -> LocalDateTime {
    LocalDateTime::parse(time).unwrap()
}

/// A delivery of one unit of each of `lines` products never seen before.
fn delivery(request_id: &str, lines: usize) -> Command {
    Command::RecordDelivery(RecordDelivery {
        location: "DC1".to_owned(),
        request_id: request_id.to_owned(),
        supplier_id: "s".to_owned(),
        supplier_ref: "r".to_owned(),
        delivered_at: at("2024-12-05T08:00:00"),
        lines: (0..lines)
            .map(|i| DeliveryLine {
                product: format!("{request_id}-P{i}"),
                quantity: 1.0,
            })
            .collect(),
    })
}

fn sale(request_id: &str, product: &str) -> Command {
    Command::RecordSale(RecordSale {
        location: "DC1".to_owned(),
        product: product.to_owned(),
        request_id: request_id.to_owned(),
        quantity: 1.0,
        sold_at: at("2024-12-05T09:00:00"),
    })
}

/// Appends a client write with its own reply address; the waiter receives its reply.
async fn send(store: &MemoryStore, command: Command) -> shared::store::ReplyWaiter {
    let waiter = store.open().await.unwrap();
    let envelope = CommandEnvelope {
        id: format!("cmd-{}", command.idempotency_key().map_or("", |k| k.1)),
        timeout_ms: Some(PATIENCE.as_millis() as u64),
        not_after_ms: None,
        traceparent: None,
        reply_to: Some(waiter.address.clone()),
        command,
    };
    store.append(0, &envelope).await.unwrap();
    waiter
}

async fn reply(mut waiter: shared::store::ReplyWaiter) -> Reply {
    tokio::time::timeout(PATIENCE, waiter.replies.recv())
        .await
        .expect("a reply within the command timeout")
        .expect("the reply channel stays open")
}

async fn created(waiter: shared::store::ReplyWaiter) -> String {
    match reply(waiter).await {
        Reply::Created { body } => body,
        other => panic!("expected 201, got {other:?}"),
    }
}

async fn quantity(store: &MemoryStore, product: &str) -> f64 {
    let pot = PotRef {
        location: "DC1".to_owned(),
        product: product.to_owned(),
    };
    store.read_pots(&[pot]).await.unwrap()[0].quantity
}

#[tokio::test]
async fn a_delivery_of_ten_thousand_new_lines_is_applied_whole_and_its_replay_is_identical() {
    let store = Arc::new(MemoryStore::new());
    let (worker, _metrics) = start(&store);
    let big = send(&store, delivery("big", 10_000)).await;
    let meanwhile = send(&store, sale("sale-1", "big-P0")).await;
    let body = created(big).await;
    created(meanwhile).await;
    assert_eq!(quantity(&store, "big-P0").await, 0.0);
    assert_eq!(quantity(&store, "big-P9999").await, 1.0);
    let replay = created(send(&store, delivery("big", 10_000)).await).await;
    assert_eq!(replay, body);
    assert_eq!(quantity(&store, "big-P9999").await, 1.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn many_large_deliveries_in_one_batch_are_each_applied_and_answered() {
    let store = Arc::new(MemoryStore::new());
    // Appended before any worker reads, so that one read returns them all.
    let mut waiters = Vec::new();
    for n in 0..4 {
        waiters.push(send(&store, delivery(&format!("d{n}"), 10_000)).await);
    }
    waiters.push(send(&store, sale("sale-after", "d3-P7")).await);
    let (worker, metrics) = start(&store);
    for waiter in waiters {
        created(waiter).await;
    }
    for n in 0..4 {
        assert_eq!(quantity(&store, &format!("d{n}-P9999")).await, 1.0);
    }
    assert_eq!(quantity(&store, "d3-P7").await, 0.0);
    // 40 000 pot writes do not fit in one batch: they were committed in more than one.
    let text = metrics.render();
    let commits: f64 = text
        .lines()
        .find(|l| l.starts_with("stock_commit_batch_size_count"))
        .and_then(|l| l.split(' ').nth(1))
        .map_or(0.0, |v| v.parse().unwrap());
    assert!(commits >= 2.0, "{text}");
    worker.shutdown().await;
}
