//! The service on a replicated Redis managed by Sentinel (a primary, two replicas, three
//! sentinels: real processes on loopback) with `STOCK_REDIS_MIN_REPLICAS=1`, and the real
//! binaries (`http-fn`, two `actor-worker`s) under a write load while a node fails: the primary
//! killed, the primary frozen through a failover and resumed, a replica restarted, both
//! replicas frozen, a sentinel killed before a failover. The failure contract of docs/architecture.md §15 holds each time —
//! every 201 present exactly once, no 5xx but 503 with `Retry-After` — and writes resume without
//! a restart.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use features::chaos::invariants::{self, Findings};
use features::chaos::load::{Op, Record, Request, Tally};
use features::stack::{Stack, StackConfig, delivery, location_in_shard, segment};
use futures::future::join_all;
use shared::testing::sentinel::TestSentinel;
use tokio::time::Instant;

const SHARDS: u32 = 8;
/// Replicas of the primary: with `STOCK_REDIS_MIN_REPLICAS=1`, one may be lost or promoted and
/// the other still confirms commits.
const REPLICAS: usize = 2;
/// Concurrent clients, each writing to its own location (in its own shard).
const CLIENTS: usize = 4;
const PRODUCT: &str = "P1";
/// Bound on waits for leases, the failover and the load.
const WITHIN: Duration = Duration::from_secs(30);
/// Pause between attempts of one request.
const RETRY_EVERY: Duration = Duration::from_millis(50);
/// Load kept up once writes succeed again after a fault.
const AFTER_RECOVERY: Duration = Duration::from_secs(2);

type Deployment = Arc<Mutex<TestSentinel>>;

async fn deployment() -> Deployment {
    let redis = tokio::task::spawn_blocking(|| TestSentinel::start(REPLICAS, &[]))
        .await
        .unwrap_or_else(|e| panic!("starting the deployment: {e}"));
    Arc::new(Mutex::new(redis))
}

/// Runs `action` on the deployment off the runtime's threads (it blocks on processes).
async fn with<T: Send + 'static>(
    redis: &Deployment,
    action: impl FnOnce(&mut TestSentinel) -> T + Send + 'static,
) -> T {
    let redis = redis.clone();
    tokio::task::spawn_blocking(move || {
        action(
            &mut redis
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    })
    .await
    .unwrap_or_else(|e| panic!("controlling the deployment: {e}"))
}

fn locations() -> Vec<String> {
    (0..CLIENTS)
        .map(|c| location_in_shard("R", c as u32 * 2, SHARDS))
        .collect()
}

async fn stack(test: &str, url: String, min_replicas: Option<u32>) -> anyhow::Result<Stack> {
    let config = StackConfig {
        shards: SHARDS,
        workers: 2,
        lease_ttl: Duration::from_secs(1),
        command_timeout: Duration::from_secs(2),
        locations: locations(),
        redis_url: Some(url),
        min_replicas,
        ..StackConfig::default()
    };
    let stack = Stack::start(test, config).await?;
    // The stack's own inspection reads its own redis-server: ask the service instead.
    features::stack::eventually("every shard owned", WITHIN, || async {
        let owned = stack
            .get("/health/cluster")
            .await
            .is_ok_and(|c| c.status == 200 && c.json()["shards"]["unowned"] == 0);
        Ok(owned.then_some(()))
    })
    .await?;
    Ok(stack)
}

/// Request `n` of client `client`: one unit of [`PRODUCT`] delivered at its location.
fn request(client: usize, n: usize) -> Request {
    let location = locations()[client].clone();
    let id = format!("rep-c{client}-{n}");
    Request {
        path: format!("/locations/{}/deliveries", segment(&location)),
        body: delivery(&id, &[(PRODUCT, 1.0)]),
        op: Op::Delivery {
            location,
            lines: vec![(PRODUCT.to_owned(), 1.0)],
        },
        id,
    }
}

/// Where a fault marks the moment it is in place.
struct FaultAt(Arc<Mutex<Option<Instant>>>);

impl FaultAt {
    fn now(&self) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(Instant::now());
    }
}

/// What the clients and the fault share.
#[derive(Default)]
struct Run {
    /// When the fault happened.
    fault_at: Arc<Mutex<Option<Instant>>>,
    /// When the first 201 after the fault arrived.
    first_after: Mutex<Option<Instant>>,
    stop: AtomicBool,
}

impl Run {
    fn fault_at(&self) -> Option<Instant> {
        *self.fault_at.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn first_after(&self) -> Option<Instant> {
        *self
            .first_after
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// A 201 to an attempt sent at `sent`, arrived at `at`: only attempts sent after the
    /// fault count as service after it.
    fn created(&self, sent: Instant, at: Instant) {
        if self.fault_at().is_some_and(|f| sent > f) {
            let mut first = self
                .first_after
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            first.get_or_insert(at);
        }
    }
}

/// One client: one request at a time, each sent again (same `requestId`) after a failed
/// connection, and after a 503 if `retry` (else the 503 is its final answer), until it gets a
/// final answer; starts no new one once told to stop.
async fn client(stack: &Stack, client: usize, run: &Run, retry: bool) -> Vec<Record> {
    let mut records = Vec::new();
    for n in 0..100_000 {
        if run.stop.load(Ordering::SeqCst) {
            break;
        }
        let request = request(client, n);
        let mut tally = Tally::default();
        let mut answer = None;
        let give_up = Instant::now() + WITHIN;
        let mut sent = Instant::now();
        while answer.is_none() && Instant::now() < give_up {
            tally.attempts += 1;
            sent = Instant::now();
            match stack.post(&request.path, &request.body).await {
                Ok(reply) if reply.status < 500 => answer = Some(reply),
                Ok(reply) if reply.status == 503 && reply.retry_after.is_some() => {
                    tally.unavailable += 1;
                    if !retry {
                        answer = Some(reply);
                    }
                }
                Ok(reply) => tally.bad_answers.push(format!(
                    "{} attempt {}: {} {:?} (Retry-After {:?})",
                    request.id, tally.attempts, reply.status, reply.body, reply.retry_after
                )),
                Err(_) => tally.connection_errors += 1,
            }
            if answer.is_none() {
                tokio::time::sleep(RETRY_EVERY).await;
            }
        }
        if answer.as_ref().is_some_and(|a| a.status == 201) {
            run.created(sent, Instant::now());
        }
        records.push(Record {
            request,
            during_run: answer.clone(),
            answer,
            landed: None,
            tally,
        });
    }
    records
}

/// Checks the invariants over every record: no bad answers, every request answered 201 (or,
/// unless `all_created`, 503), each pot holding exactly the 201s of its location — a 503 never
/// applied, a 201 once — and every 201 answered again as a replay.
async fn check(stack: &Stack, records: &[Record], all_created: bool) -> anyhow::Result<()> {
    let mut findings = Findings::default();
    let tallies: Vec<&Tally> = records.iter().map(|r| &r.tally).collect();
    invariants::no_server_errors(&tallies, &mut findings);
    for record in records {
        match &record.answer {
            Some(a) if a.status == 201 || (a.status == 503 && !all_created) => {}
            other => findings.add(2, format!("{}: final answer {other:?}", record.request.id)),
        }
    }
    let created = records.iter().filter(|r| r.applied()).count();
    let model = invariants::model(records);
    let pots = invariants::read_pots(stack, &locations(), &[PRODUCT.to_owned()]).await?;
    invariants::exactly_once(&model, &pots, &mut findings);
    invariants::conservation(records, &pots, &mut findings);
    let replayed = invariants::replays(stack, records, &mut findings).await;
    let after = invariants::read_pots(stack, &locations(), &[PRODUCT.to_owned()]).await?;
    invariants::unchanged(&pots, &after, &mut findings);
    anyhow::ensure!(replayed == created, "{replayed} of {created} replayed");
    let report = findings.render(0);
    anyhow::ensure!(report.is_empty(), "{report}");
    Ok(())
}

/// Runs the clients; after a moment of load `fault` runs, marking the moment its fault is in
/// place, and the load goes on until a 201 has come after that moment, and [`AFTER_RECOVERY`]
/// more. Returns the records and how long after the fault the first 201 came.
async fn under_load<F, Fut>(stack: &Stack, fault: F) -> anyhow::Result<(Vec<Record>, Duration)>
where
    F: FnOnce(FaultAt) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let run = Run::default();
    let clients = join_all((0..CLIENTS).map(|c| client(stack, c, &run, true)));
    let faulting = async {
        tokio::time::sleep(Duration::from_millis(1500)).await;
        fault(FaultAt(run.fault_at.clone())).await;
        let deadline = Instant::now() + WITHIN;
        while run.first_after().is_none() && Instant::now() < deadline {
            tokio::time::sleep(RETRY_EVERY).await;
        }
        tokio::time::sleep(AFTER_RECOVERY).await;
        run.stop.store(true, Ordering::SeqCst);
    };
    let (records, ()) = tokio::join!(clients, faulting);
    let records: Vec<Record> = records.into_iter().flatten().collect();
    let (Some(at), Some(first)) = (run.fault_at(), run.first_after()) else {
        anyhow::bail!("no 201 within {WITHIN:?} of the fault");
    };
    Ok((records, first - at))
}

/// Runs the stack on a fresh deployment of a primary, two replicas and three sentinels with
/// `STOCK_REDIS_MIN_REPLICAS=1`, applies `fault` under load, and checks that every request
/// was answered 201 (clients send 503s again) exactly once; prints how long after the fault
/// the first 201 came, and returns it.
async fn survives<F, Fut>(test: &str, fault: F) -> anyhow::Result<Duration>
where
    F: FnOnce(Deployment, FaultAt) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let redis = deployment().await;
    let url = with(&redis, |r| r.url()).await;
    let stack = stack(test, url, Some(1)).await?;
    let mut after = Duration::ZERO;
    stack
        .run(async |stack| {
            let (records, first) = under_load(stack, |at| fault(redis.clone(), at)).await?;
            after = first;
            let unavailable: u64 = records.iter().map(|r| r.tally.unavailable).sum();
            println!(
                "replicas: {test}: first 201 {} ms after the fault ({} requests, {unavailable} \
                 attempts answered 503)",
                first.as_millis(),
                records.len()
            );
            check(stack, &records, true).await
        })
        .await;
    Ok(after)
}

/// Waits (off the runtime) until the sentinels promote a replica in place of node 0.
async fn failover(redis: &Deployment) -> usize {
    with(redis, |r| r.wait_for_failover(0, WITHIN)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_resume_after_the_primary_is_killed_and_every_201_is_kept_once() -> anyhow::Result<()>
{
    survives("replicas-primary-killed", async |redis, at| {
        with(&redis, |r| r.node_mut(0).stop()).await;
        at.now();
        failover(&redis).await;
    })
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_primary_frozen_through_a_failover_and_resumed_loses_no_acknowledged_write()
-> anyhow::Result<()> {
    survives("replicas-primary-frozen", async |redis, at| {
        with(&redis, |r| r.signal_node(0, "STOP")).await;
        at.now();
        failover(&redis).await;
        // The old primary runs again and, until the sentinels demote it, takes writes from
        // whoever is still connected to it: none of them may be acknowledged.
        with(&redis, |r| {
            r.signal_node(0, "CONT");
            r.wait_for_replica(0, WITHIN);
        })
        .await;
    })
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_replica_restarted_under_load_costs_no_write() -> anyhow::Result<()> {
    survives("replicas-replica-restarted", async |redis, at| {
        with(&redis, |r| r.node_mut(1).stop()).await;
        at.now();
        with(&redis, |r| {
            r.restart_replica(1);
            r.wait_for_replica(1, WITHIN);
        })
        .await;
    })
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_the_first_listed_sentinel_dead_a_failover_is_still_followed() -> anyhow::Result<()> {
    survives("replicas-sentinel-killed", async |redis, at| {
        with(&redis, |r| r.sentinels_mut()[0].stop()).await;
        with(&redis, |r| r.node_mut(0).stop()).await;
        at.now();
        failover(&redis).await;
    })
    .await
    .map(drop)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn while_no_replica_confirms_writes_are_not_acknowledged() -> anyhow::Result<()> {
    const FROZEN: Duration = Duration::from_secs(3);
    let first = survives("replicas-replicas-frozen", async |redis, at| {
        with(&redis, |r| {
            r.signal_node(1, "STOP");
            r.signal_node(2, "STOP");
        })
        .await;
        at.now();
        tokio::time::sleep(FROZEN).await;
        with(&redis, |r| {
            r.signal_node(1, "CONT");
            r.signal_node(2, "CONT");
        })
        .await;
    })
    .await?;
    anyhow::ensure!(
        first >= FROZEN,
        "a write sent while both replicas were frozen was answered 201 after {first:?}"
    );
    Ok(())
}
