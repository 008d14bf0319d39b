//! Dispatch over the embedded store with a running worker (or none, or one whose replies are
//! lost), and over appends that fail before or after reaching the stream.
#![allow(clippy::unwrap_used)]

use std::time::Duration;

use actor_worker::{Worker, WorkerHandle, WorkerSettings};
use async_trait::async_trait;
use shared::command::{CreditMove, DeliveryLine, MoveStock, RecordDelivery};
use shared::domain::{HistoryRequest, LocalDateTime, PotHistory, PotState, StoredPot};
use shared::metrics::Metrics;
use shared::reply::IdempotencyRecord;
use shared::store::memory::MemoryStore;
use shared::store::{
    ClusterView, CommandLog, CommitError, LeaseToken, Leases, MembershipCursor, PotRef, ReadModel,
    Replies, ShardCommit, ShardState, StreamId,
};

use super::*;

const SHARDS: u32 = 4;

fn worker(store: Arc<dyn Store>) -> WorkerHandle {
    let settings = WorkerSettings {
        worker_id: "w1".to_owned(),
        shards: SHARDS,
        lease_ttl: Duration::from_millis(300),
        pot_unload_after: Duration::from_secs(300),
        pot_unload_check_interval: Duration::from_secs(30),
        idempotency_retention: Duration::from_secs(3_600),
        batch_max: 64,
    };
    Worker::start(store, settings, Metrics::new())
}

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

async fn quantity(store: &dyn Store, location: &str) -> f64 {
    let pot = PotRef {
        location: location.to_owned(),
        product: "P".to_owned(),
    };
    store.read_pots(&[pot]).await.unwrap()[0].quantity
}

fn created(command: &Command) -> Reply {
    Reply::Created {
        body: command.echo_body().unwrap(),
    }
}

/// Executes `command` and checks that it is answered as created.
async fn answers_created(dispatcher: &Dispatcher, command: &Command) {
    let reply = dispatcher.execute(command.clone(), None).await.unwrap();
    assert_eq!(reply, created(command));
}

#[tokio::test]
async fn a_write_is_answered_created() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(5));
    let command = delivery(&location(1, 0), "d1", 5.0);
    answers_created(&dispatcher, &command).await;
    answers_created(&dispatcher, &command).await;
    let other = delivery(&location(1, 0), "d1", 6.0);
    assert_eq!(
        dispatcher.execute(other, None).await.unwrap(),
        Reply::ContentMismatch
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_cross_shard_move_is_answered_created_once_both_sides_are_applied() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(5));
    let (s, d) = (location(0, 0), location(2, 0));
    dispatcher
        .execute(delivery(&s, "d1", 10.0), None)
        .await
        .unwrap();
    let command = moving(&s, &d, "m1", 4.0);
    answers_created(&dispatcher, &command).await;
    assert_eq!(
        (
            quantity(store.as_ref(), &s).await,
            quantity(store.as_ref(), &d).await
        ),
        (6.0, 4.0)
    );
    let too_much = moving(&s, &d, "m2", 40.0);
    assert_eq!(
        dispatcher.execute(too_much, None).await.unwrap(),
        Reply::InsufficientStock
    );
    worker.shutdown().await;
}

#[tokio::test]
async fn a_move_whose_credit_is_not_applied_in_time_is_answered_in_transit() {
    let memory = Arc::new(MemoryStore::new());
    let (s, d) = (location(0, 0), location(2, 0));
    // Nobody will serve the destination's shard for a while.
    memory.steal_lease(2, "absent", Duration::from_secs(60));
    let store: Arc<dyn Store> = memory.clone();
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_millis(300));
    dispatcher
        .execute(delivery(&s, "d1", 10.0), None)
        .await
        .unwrap();
    let command = moving(&s, &d, "m1", 4.0);
    let body = command.echo_body().unwrap();
    let reply = dispatcher.execute(command.clone(), None).await.unwrap();
    assert_eq!(reply, Reply::InTransit { body: body.clone() });
    assert_eq!(quantity(store.as_ref(), &s).await, 6.0);
    assert_eq!(quantity(store.as_ref(), &d).await, 0.0);
    let replay = dispatcher.execute(command, None).await.unwrap();
    assert_eq!(replay, Reply::Accepted { body });
    worker.shutdown().await;
}

#[tokio::test]
async fn without_a_worker_a_write_is_unavailable_and_a_later_worker_never_applies_it() {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_millis(100));
    let l = location(3, 0);
    let result = dispatcher.execute(delivery(&l, "d1", 5.0), None).await;
    assert!(matches!(result, Err(DispatchError::Unavailable(_))));
    let worker = worker(store.clone());
    wait_consumed(&memory, 3).await;
    assert_eq!(quantity(store.as_ref(), &l).await, 0.0);
    assert!(store.load_record(3, &l, "d1").await.unwrap().is_none());
    worker.shutdown().await;
}

#[tokio::test]
async fn a_committed_write_whose_reply_is_lost_is_settled_from_its_record() {
    let store: Arc<dyn Store> = Arc::new(Faulty::new(AppendFault::None, true));
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_millis(100));
    let l = location(1, 1);
    let command = delivery(&l, "d1", 5.0);
    answers_created(&dispatcher, &command).await;
    let other = delivery(&l, "d1", 6.0);
    assert_eq!(
        dispatcher.execute(other, None).await.unwrap(),
        Reply::ContentMismatch
    );
    assert_eq!(quantity(store.as_ref(), &l).await, 5.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_committed_write_whose_reply_may_have_been_lost_is_answered_from_its_record_at_once() {
    let (faulty, store) = Faulty::shared(AppendFault::None, true);
    let worker = worker(store.clone());
    // Settling would only answer after this.
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(60));
    let l = location(3, 2);
    let command = delivery(&l, "d1", 5.0);
    let write = tokio::spawn({
        let command = command.clone();
        async move { dispatcher.execute(command, None).await }
    });
    let until = Instant::now() + Duration::from_secs(5);
    while store.load_record(3, &l, "d1").await.unwrap().is_none() {
        assert!(Instant::now() < until, "the write was never committed");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    faulty.gaps.send_modify(|n| *n += 1);
    let answered = tokio::time::timeout(Duration::from_secs(10), write).await;
    assert!(
        answered.is_ok(),
        "not answered once replies may have been lost"
    );
    assert_eq!(answered.unwrap().unwrap().unwrap(), created(&command));
    assert_eq!(faulty.settles(), 0, "settled instead of looked up");
    worker.shutdown().await;
}

#[tokio::test]
async fn a_write_whose_append_failed_after_landing_is_settled_as_created() {
    let store: Arc<dyn Store> = Arc::new(Faulty::new(AppendFault::LandedUnanswered, true));
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_millis(200));
    let l = location(2, 1);
    let command = delivery(&l, "d1", 5.0);
    answers_created(&dispatcher, &command).await;
    assert_eq!(quantity(store.as_ref(), &l).await, 5.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_write_whose_append_may_have_landed_is_unavailable_only_once_it_can_never_apply() {
    let (faulty, store) = Faulty::shared(AppendFault::LandedUnanswered, false);
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_millis(200));
    let l = location(3, 1);
    let result = dispatcher.execute(delivery(&l, "d1", 5.0), None).await;
    assert!(matches!(result, Err(DispatchError::Unavailable(_))));
    assert!(faulty.settles() > 0, "answered without settling");
    // The command is in the stream; a worker arriving now must find it expired.
    let worker = worker(store.clone());
    wait_consumed(&faulty.inner, 3).await;
    assert_eq!(quantity(store.as_ref(), &l).await, 0.0);
    assert!(store.load_record(3, &l, "d1").await.unwrap().is_none());
    worker.shutdown().await;
}

#[tokio::test]
async fn a_write_lost_with_its_connection_is_sent_again_and_answered_without_settling() {
    let (faulty, store) = Faulty::shared(AppendFault::FirstLost, false);
    let worker = worker(store.clone());
    // Without a second copy the write would only be settled, as never applied, after this.
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(2));
    let l = location(1, 2);
    let command = delivery(&l, "d1", 5.0);
    answers_created(&dispatcher, &command).await;
    assert_eq!(faulty.settles(), 0, "settled instead of answered");
    assert_eq!(faulty.appends(), 2);
    assert_eq!(quantity(store.as_ref(), &l).await, 5.0);
    worker.shutdown().await;
}

#[tokio::test]
async fn a_second_copy_of_a_write_that_did_land_is_applied_once() {
    let (faulty, store) = Faulty::shared(AppendFault::FirstLandedUnanswered, false);
    // The worker starts once both copies are in the stream: one batch holds them both.
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(5));
    let l = location(2, 2);
    let command = delivery(&l, "d1", 5.0);
    let write = tokio::spawn({
        let command = command.clone();
        async move { dispatcher.execute(command, None).await }
    });
    wait_stream_len(&faulty.inner, 2, 2).await;
    let worker = worker(store.clone());
    assert_eq!(write.await.unwrap().unwrap(), created(&command));
    wait_consumed(&faulty.inner, 2).await;
    assert_eq!(quantity(store.as_ref(), &l).await, 5.0);
    assert_eq!(faulty.settles(), 0, "settled instead of answered");
    worker.shutdown().await;
}

#[tokio::test]
async fn a_write_that_could_not_be_sent_is_unavailable_without_settling() {
    let (faulty, store) = Faulty::shared(AppendFault::Refused, false);
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(60));
    let result = dispatcher
        .execute(delivery(&location(0, 1), "d1", 5.0), None)
        .await;
    assert!(matches!(result, Err(DispatchError::Unavailable(_))));
    assert_eq!(faulty.settles(), 0);
    assert_eq!(faulty.inner.stream_len(0), 0);
    worker.shutdown().await;
}

/// How the wrapped store's `append` fails.
enum AppendFault {
    None,
    /// Refused before anything was sent.
    Refused,
    /// Appended, then failed as if the connection broke before the answer.
    LandedUnanswered,
    /// The first append is lost with its connection (never appended, answered with a failure
    /// that cannot tell); the next ones go through.
    FirstLost,
    /// The first append lands and is answered with a failure; the next ones go through.
    FirstLandedUnanswered,
}

/// The embedded store with a failing `append`, or every reply lost, counting settle calls.
struct Faulty {
    inner: MemoryStore,
    append: AppendFault,
    lose_replies: bool,
    settles: std::sync::atomic::AtomicUsize,
    appends: std::sync::atomic::AtomicUsize,
    /// What the waiters it opens see as possible losses of replies.
    gaps: tokio::sync::watch::Sender<u64>,
}

impl Faulty {
    fn new(append: AppendFault, lose_replies: bool) -> Faulty {
        Faulty {
            inner: MemoryStore::new(),
            append,
            lose_replies,
            settles: Default::default(),
            appends: Default::default(),
            gaps: tokio::sync::watch::channel(0).0,
        }
    }

    /// The store, and the same as the `dyn Store` the dispatcher and worker take.
    fn shared(append: AppendFault, lose_replies: bool) -> (Arc<Faulty>, Arc<dyn Store>) {
        let faulty = Arc::new(Faulty::new(append, lose_replies));
        (faulty.clone(), faulty)
    }

    fn settles(&self) -> usize {
        self.settles.load(std::sync::atomic::Ordering::SeqCst)
    }

    fn appends(&self) -> usize {
        self.appends.load(std::sync::atomic::Ordering::SeqCst)
    }
}

#[async_trait]
impl CommandLog for Faulty {
    async fn append(
        &self,
        shard: ShardId,
        command: &CommandEnvelope,
    ) -> Result<StreamId, StoreError> {
        let first = self
            .appends
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
            == 0;
        match self.append {
            AppendFault::FirstLost if first => {
                Err(StoreError::Unavailable("broken pipe".to_owned()))
            }
            AppendFault::FirstLandedUnanswered if first => {
                self.inner.append(shard, command).await?;
                Err(StoreError::Unavailable("connection reset".to_owned()))
            }
            AppendFault::None | AppendFault::FirstLost | AppendFault::FirstLandedUnanswered => {
                self.inner.append(shard, command).await
            }
            AppendFault::Refused => Err(StoreError::Unreachable("refused".to_owned())),
            AppendFault::LandedUnanswered => {
                self.inner.append(shard, command).await?;
                Err(StoreError::Unavailable("connection reset".to_owned()))
            }
        }
    }
    async fn now_ms(&self) -> Result<u64, StoreError> {
        self.inner.now_ms().await
    }
    async fn read(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, CommandEnvelope)>, StoreError> {
        self.inner.read(shard, after, max, block).await
    }
}

#[async_trait]
impl Leases for Faulty {
    async fn acquire(
        &self,
        shard: ShardId,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        self.inner.acquire(shard, worker, ttl).await
    }
    async fn renew(&self, token: &LeaseToken, ttl: Duration) -> Result<bool, StoreError> {
        self.inner.renew(token, ttl).await
    }
    async fn release(&self, token: &LeaseToken) -> Result<bool, StoreError> {
        self.inner.release(token).await
    }
    async fn heartbeat(&self, worker: &str) -> Result<(), StoreError> {
        self.inner.heartbeat(worker).await
    }
    async fn cluster(&self, shards: u32, max_age: Duration) -> Result<ClusterView, StoreError> {
        self.inner.cluster(shards, max_age).await
    }
    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        self.inner.leave(worker).await
    }
    async fn announce(&self, worker: &str) -> Result<(), StoreError> {
        self.inner.announce(worker).await
    }
    async fn await_membership_change(
        &self,
        after: &MembershipCursor,
        timeout: Duration,
    ) -> Result<MembershipCursor, StoreError> {
        self.inner.await_membership_change(after, timeout).await
    }
}

#[async_trait]
impl ShardState for Faulty {
    async fn applied(&self, shard: ShardId) -> Result<StreamId, StoreError> {
        self.inner.applied(shard).await
    }
    async fn load_pot(&self, shard: ShardId, pot: &PotRef) -> Result<StoredPot, StoreError> {
        self.inner.load_pot(shard, pot).await
    }
    async fn load_history(
        &self,
        shard: ShardId,
        pot: &PotRef,
        request: &HistoryRequest,
    ) -> Result<PotHistory, StoreError> {
        self.inner.load_history(shard, pot, request).await
    }
    async fn load_record(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.inner.load_record(shard, location, request_id).await
    }
    async fn credit_applied(&self, shard: ShardId, move_id: &str) -> Result<bool, StoreError> {
        self.inner.credit_applied(shard, move_id).await
    }
    async fn outbox(&self, shard: ShardId) -> Result<Vec<CreditMove>, StoreError> {
        self.inner.outbox(shard).await
    }
    async fn commit(
        &self,
        token: &LeaseToken,
        commit: &ShardCommit,
        retention: Duration,
    ) -> Result<(), CommitError> {
        self.inner.commit(token, commit, retention).await
    }
    async fn settle(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<Settled, StoreError> {
        self.settles
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.inner
            .settle(shard, location, request_id, deadline_ms)
            .await
    }
}

#[async_trait]
impl ReadModel for Faulty {
    async fn read_pots(&self, pots: &[PotRef]) -> Result<Vec<PotState>, StoreError> {
        self.inner.read_pots(pots).await
    }
    async fn ping(&self) -> Result<(), StoreError> {
        self.inner.ping().await
    }
}

#[async_trait]
impl Replies for Faulty {
    async fn open(&self) -> Result<ReplyWaiter, StoreError> {
        let mut waiter = self.inner.open().await?;
        waiter.gaps = Some(self.gaps.subscribe());
        Ok(waiter)
    }
    async fn send(&self, address: &str, reply: &Reply) -> Result<(), StoreError> {
        if self.lose_replies {
            return Ok(());
        }
        self.inner.send(address, reply).await
    }
}

/// Waits (at most 5 s) until a worker has consumed shard `shard`'s stream.
/// Waits (bounded) until `shard`'s stream holds `len` entries.
async fn wait_stream_len(memory: &MemoryStore, shard: ShardId, len: usize) {
    let until = Instant::now() + Duration::from_secs(5);
    while memory.stream_len(shard) != len {
        assert!(
            Instant::now() < until,
            "the stream never held {len} entries"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A memory store without a worker and a dispatcher over it with a single place for a write in
/// flight, counted in the returned metrics.
fn one_place(
    queue_timeout: Duration,
) -> (Arc<MemoryStore>, Arc<dyn Store>, Metrics, Arc<Dispatcher>) {
    let memory = Arc::new(MemoryStore::new());
    let store: Arc<dyn Store> = memory.clone();
    let metrics = Metrics::new();
    let limit = WriteLimit {
        max_in_flight: 1,
        queue_timeout,
    };
    let dispatcher =
        Dispatcher::new(store.clone(), SHARDS, Duration::from_secs(60)).limited(limit, &metrics);
    (memory, store, metrics, Arc::new(dispatcher))
}

fn spawn_write(
    dispatcher: &Arc<Dispatcher>,
    command: Command,
) -> tokio::task::JoinHandle<Result<Reply, DispatchError>> {
    let dispatcher = dispatcher.clone();
    tokio::spawn(async move { dispatcher.execute(command, None).await })
}

#[tokio::test]
async fn beyond_the_limit_a_write_is_refused_unsent_and_answered_writes_give_their_place_back() {
    let (memory, store, metrics, dispatcher) = one_place(Duration::from_millis(1));
    let l = location(1, 0);
    // No worker yet: the first write waits for its reply, holding the only place.
    let first = delivery(&l, "d1", 5.0);
    let waiting = spawn_write(&dispatcher, first.clone());
    wait_stream_len(&memory, 1, 1).await;
    let refused = dispatcher.execute(delivery(&l, "d2", 7.0), None).await;
    assert!(matches!(
        refused,
        Err(DispatchError::Overloaded { limit: 1 })
    ));
    assert_eq!(memory.stream_len(1), 1, "the refused write was sent");
    let text = metrics.render();
    assert!(text.contains("stock_writes_shed_total 1"), "{text}");
    assert!(text.contains("stock_writes_in_flight 1"), "{text}");

    let worker = worker(store.clone());
    assert_eq!(waiting.await.unwrap().unwrap(), created(&first));
    let third = delivery(&l, "d3", 1.0);
    assert_eq!(
        dispatcher.execute(third.clone(), None).await.unwrap(),
        created(&third)
    );
    assert_eq!(quantity(store.as_ref(), &l).await, 6.0);
    assert!(store.load_record(1, &l, "d2").await.unwrap().is_none());
    let text = metrics.render();
    assert!(text.contains("stock_writes_in_flight 0"), "{text}");
    assert!(text.contains("stock_writes_shed_total 1"), "{text}");
    worker.shutdown().await;
}

#[tokio::test]
async fn a_write_beyond_the_limit_waits_its_queue_timeout_for_a_place() {
    let (memory, store, metrics, dispatcher) = one_place(Duration::from_secs(60));
    let l = location(2, 0);
    let first = delivery(&l, "d1", 5.0);
    let second = delivery(&l, "d2", 7.0);
    let first_write = spawn_write(&dispatcher, first.clone());
    wait_stream_len(&memory, 2, 1).await;
    // Beyond the limit: it waits for the first's place instead of being refused.
    let second_write = spawn_write(&dispatcher, second.clone());
    let worker = worker(store.clone());
    assert_eq!(first_write.await.unwrap().unwrap(), created(&first));
    assert_eq!(second_write.await.unwrap().unwrap(), created(&second));
    assert_eq!(quantity(store.as_ref(), &l).await, 12.0);
    let text = metrics.render();
    assert!(text.contains("stock_writes_shed_total 0"), "{text}");
    worker.shutdown().await;
}

async fn wait_consumed(memory: &MemoryStore, shard: ShardId) {
    let until = Instant::now() + Duration::from_secs(5);
    while memory.stream_len(shard) > 0 {
        assert!(
            Instant::now() < until,
            "the worker never consumed the stream"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_command_timeout_beyond_what_an_instant_holds_still_answers() {
    let store: Arc<dyn Store> = Arc::new(MemoryStore::new());
    let worker = worker(store.clone());
    let dispatcher = Dispatcher::new(store.clone(), SHARDS, Duration::MAX);
    let command = delivery(&location(1, 0), "d1", 5.0);
    answers_created(&dispatcher, &command).await;
    worker.shutdown().await;
}
