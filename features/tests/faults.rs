//! Store faults of the distributed Stock API with real processes (docs/architecture.md §14, §15): Redis
//! killed and restarted with its AOF, Redis frozen (SIGSTOP) and resumed, the worker tier scaled
//! to zero and back, and a write shed beyond the HTTP node's in-flight limit.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`. The tests of this file run one at a time: each starts several processes of its own.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use features::stack::{HttpReply, Stack, StackConfig, delivery, eventually, segment};
use futures::future::join_all;
use serde_json::{Value, json};

/// One test of this process at a time (see the module comment).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest wait for a condition: a takeover, a reconnection, a drained stream.
const SETTLE: Duration = Duration::from_secs(20);
/// `STOCK_COMMAND_TIMEOUT` of these stacks.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Longest any request may take while the store fails: the command timeout, the response
/// timeout of the append that may have reached Redis, and the settle margins. A request still
/// running past it counts as hung.
const REQUEST_BOUND: Duration = Duration::from_secs(12);
const LOCATIONS: [&str; 3] = ["North", "South", "East"];

fn config(workers: usize) -> StackConfig {
    StackConfig {
        workers,
        command_timeout: COMMAND_TIMEOUT,
        locations: LOCATIONS.iter().map(|l| (*l).to_owned()).collect(),
        redis_args: ["--appendonly", "yes", "--appendfsync", "always"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        ..StackConfig::default()
    }
}

/// A delivery, failing the test if it is not answered within [`REQUEST_BOUND`].
async fn deliver(stack: &Stack, location: &str, body: &Value) -> anyhow::Result<HttpReply> {
    bounded(
        &format!("delivery at {location}"),
        stack.deliver(location, body),
    )
    .await
}

/// A stock-level read, failing the test if it is not answered within [`REQUEST_BOUND`].
async fn read(stack: &Stack, location: &str) -> anyhow::Result<HttpReply> {
    let path = format!(
        "/locations/{}/products/p?includeChildren=false",
        segment(location)
    );
    bounded(&path, stack.get(&path)).await
}

async fn bounded(
    what: &str,
    request: impl Future<Output = anyhow::Result<HttpReply>>,
) -> anyhow::Result<HttpReply> {
    let reply = tokio::time::timeout(REQUEST_BOUND, request)
        .await
        .with_context(|| format!("{what}: no answer within {REQUEST_BOUND:?}"))??;
    ensure!(reply.status != 500, "{what}: 500 {}", reply.body);
    Ok(reply)
}

/// A 503 as the spec has it: `Retry-After` and the `ServiceUnavailable` body.
fn expect_unavailable(reply: &HttpReply, what: &str) -> anyhow::Result<()> {
    ensure!(
        reply.status == 503,
        "{what}: expected 503, got {} {}",
        reply.status,
        reply.body
    );
    ensure!(
        reply.retry_after.is_some(),
        "{what}: 503 without Retry-After"
    );
    ensure!(
        reply.json() == json!({"status": "ServiceUnavailable"}),
        "{what}: body {}",
        reply.body
    );
    Ok(())
}

/// Every worker process still runs.
async fn all_workers_running(stack: &Stack, count: usize) -> anyhow::Result<()> {
    for index in 0..count {
        ensure!(!stack.worker_exited(index).await?, "worker #{index} exited");
    }
    Ok(())
}

/// Writes until one is answered 201 (the HTTP node and the workers serve again).
async fn wait_serving(stack: &Stack, location: &str, request_id: &str) -> anyhow::Result<()> {
    let body = delivery(request_id, &[("p", 1.0)]);
    eventually("a write answered 201", SETTLE, || async {
        let reply = deliver(stack, location, &body).await?;
        match reply.status {
            201 => Ok(Some(())),
            503 => Ok(None),
            other => bail!("write while recovering: {other} {}", reply.body),
        }
    })
    .await
}

// ---------------------------------------------------------------- Redis killed and restarted

const WRITES_PER_CLIENT: usize = 40;
/// Attempts of one write (the first included) before the test gives up on it.
const MAX_ATTEMPTS: usize = 60;

/// One client: `WRITES_PER_CLIENT` deliveries of one unit each, every 503 retried with the same
/// `requestId` until it is answered 201. Counts the 201s.
async fn client(stack: &Stack, location: &str, acked: &AtomicUsize) -> anyhow::Result<()> {
    for n in 0..WRITES_PER_CLIENT {
        let body = delivery(&format!("{location}-{n}"), &[("p", 1.0)]);
        let mut attempts = 0;
        loop {
            attempts += 1;
            let reply = deliver(stack, location, &body).await?;
            match reply.status {
                201 => break,
                503 if attempts < MAX_ATTEMPTS => {
                    // Retry-After asks for a pause; a short one keeps the test quick.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                other => bail!("{location} write {n}: {other} {}", reply.body),
            }
        }
        acked.fetch_add(1, Ordering::SeqCst);
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_restart_with_aof_loses_no_acknowledged_write_and_every_process_resumes() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("redis-restart", config(2)).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1", "w2"], SETTLE).await?;
            let acked = AtomicUsize::new(0);
            let restarted = AtomicBool::new(false);
            let clients = join_all(LOCATIONS.iter().map(|l| client(stack, l, &acked)));
            let fault = async {
                eventually("a few writes acknowledged", SETTLE, || async {
                    Ok((acked.load(Ordering::SeqCst) >= 10).then_some(()))
                })
                .await?;
                stack.kill_redis().await?;
                let before_kill = acked.load(Ordering::SeqCst);
                let reply =
                    deliver(stack, LOCATIONS[0], &delivery("while-down", &[("p", 1.0)])).await?;
                expect_unavailable(&reply, "a write while Redis is down")?;
                stack.start_redis().await?;
                restarted.store(true, Ordering::SeqCst);
                anyhow::Ok(before_kill)
            };
            let (outcomes, before_kill) = futures::join!(clients, fault);
            for outcome in outcomes {
                outcome?;
            }
            let before_kill = before_kill?;
            let total = LOCATIONS.len() * WRITES_PER_CLIENT;
            ensure!(
                before_kill < total,
                "every write was acknowledged before the kill"
            );
            ensure!(restarted.load(Ordering::SeqCst));
            // Every write was answered 201 exactly once per requestId: all of them are there, none
            // twice, the ones acknowledged before the kill included.
            for location in LOCATIONS {
                let quantity = stack.quantity(location, "p").await?;
                ensure!(
                    quantity == WRITES_PER_CLIENT as f64,
                    "{location}: {quantity} units after the restart, {WRITES_PER_CLIENT} written"
                );
            }
            wait_serving(stack, LOCATIONS[1], "after-restart").await?;
            all_workers_running(stack, 2).await
        })
        .await;
}

// ---------------------------------------------------------------- Redis unreachable

/// While Redis cannot answer: a write and a read, at the same time, both 503.
async fn both_unavailable(stack: &Stack, request_id: &str) -> anyhow::Result<()> {
    let body = delivery(request_id, &[("p", 1.0)]);
    let (write, read) = futures::join!(
        deliver(stack, LOCATIONS[2], &body),
        read(stack, LOCATIONS[2])
    );
    expect_unavailable(&write?, "a write while the store is unreachable")?;
    expect_unavailable(&read?, "a read while the store is unreachable")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_killed_writes_and_reads_answer_503_promptly_and_service_resumes() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("redis-killed", config(1)).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            wait_serving(stack, LOCATIONS[2], "before").await?;
            stack.kill_redis().await?;
            // The first requests find the connection broken; the later ones find it refused.
            for round in 0..3 {
                both_unavailable(stack, &format!("down-{round}")).await?;
            }
            stack.start_redis().await?;
            wait_serving(stack, LOCATIONS[2], "after").await?;
            ensure!(read(stack, LOCATIONS[2]).await?.status == 200);
            all_workers_running(stack, 1).await
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_redis_frozen_writes_and_reads_answer_503_promptly_and_service_resumes() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("redis-paused", config(1)).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            wait_serving(stack, LOCATIONS[2], "before").await?;
            stack.pause_redis(true).await?;
            let during = both_unavailable(stack, "frozen").await;
            stack.pause_redis(false).await?;
            during?;
            // The pause outlived every lease: the worker must notice, claim its shards again and
            // serve, on its own.
            wait_serving(stack, LOCATIONS[2], "after").await?;
            ensure!(read(stack, LOCATIONS[2]).await?.status == 200);
            all_workers_running(stack, 1).await
        })
        .await;
}

// ---------------------------------------------------------------- scale to zero and back

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_scaling_to_zero_the_first_worker_started_serves_at_once() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("scale-from-zero", config(1)).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            wait_serving(stack, LOCATIONS[0], "first").await?;
            stack.stop_worker(0).await?;
            eventually("the worker to exit", SETTLE, || async {
                Ok(stack.worker_exited(0).await?.then_some(()))
            })
            .await?;
            let nobody = deliver(stack, LOCATIONS[0], &delivery("nobody", &[("p", 5.0)])).await?;
            expect_unavailable(&nobody, "a write with no worker")?;

            stack.start_worker("w2").await?;
            let first = deliver(stack, LOCATIONS[0], &delivery("second", &[("p", 2.0)])).await?;
            ensure!(
                first.status == 201,
                "the first write after a worker started: {} {}",
                first.status,
                first.body
            );
            // The write answered 503 was never applied.
            let quantity = stack.quantity(LOCATIONS[0], "p").await?;
            ensure!(quantity == 3.0, "{quantity} units, expected 1 + 2");
            Ok(())
        })
        .await;
}

// ---------------------------------------------------------------- load shedding

/// A metric of the HTTP node, 0 when absent.
async fn http_metric(stack: &Stack, name: &str) -> anyhow::Result<f64> {
    let text = stack.get("/metrics").await?.body;
    Ok(features::prometheus::sample_sum(&text, name).unwrap_or(0.0))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_beyond_the_in_flight_limit_is_refused_at_once_and_never_applied() {
    let _serial = SERIAL.lock().await;
    let config = StackConfig {
        // No worker: a write sent waits its whole command timeout, holding its place.
        workers: 0,
        command_timeout: Duration::from_secs(3),
        locations: LOCATIONS.iter().map(|l| (*l).to_owned()).collect(),
        http_settings: vec![
            ("STOCK_MAX_WRITES_IN_FLIGHT".to_owned(), "1".to_owned()),
            ("STOCK_WRITE_QUEUE_TIMEOUT".to_owned(), "0s".to_owned()),
        ],
        ..StackConfig::default()
    };
    let stack = Stack::start("load-shedding", config).await.unwrap();
    stack
        .run(async |stack| {
            let held = delivery("held", &[("p", 5.0)]);
            let (held_reply, shed) = futures::join!(deliver(stack, LOCATIONS[0], &held), async {
                eventually("the first write in flight", SETTLE, || async {
                    let in_flight = http_metric(stack, "stock_writes_in_flight").await?;
                    Ok((in_flight == 1.0).then_some(()))
                })
                .await?;
                let shed = deliver(stack, LOCATIONS[1], &delivery("shed", &[("p", 7.0)])).await?;
                // Answered while the first still holds the only place.
                let in_flight = http_metric(stack, "stock_writes_in_flight").await?;
                Ok::<_, anyhow::Error>((shed, in_flight))
            });
            let (shed, in_flight_after) = shed?;
            expect_unavailable(&shed, "a write beyond the limit")?;
            ensure!(
                in_flight_after == 1.0,
                "the refused write was answered only after the first ended"
            );
            expect_unavailable(&held_reply?, "a write with no worker")?;
            ensure!(http_metric(stack, "stock_writes_shed_total").await? == 1.0);
            ensure!(http_metric(stack, "stock_writes_in_flight").await? == 0.0);

            // Neither was applied, and a worker arriving now finds nothing to apply.
            stack.start_worker("w1").await?;
            wait_serving(stack, LOCATIONS[2], "after").await?;
            for location in &LOCATIONS[..2] {
                let quantity = stack.quantity(location, "p").await?;
                ensure!(
                    quantity == 0.0,
                    "{quantity} units at {location}, expected none"
                );
            }
            Ok(())
        })
        .await;
}
