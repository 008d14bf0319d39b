//! What an operator sees, with real processes (docs/OPERATIONS.md): one warning and one
//! recovery line per worker across a Redis outage, a paused worker saying so, the worker tier's
//! state exported by the HTTP node while no worker runs, and a 503 that names its trace.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`. The tests of this file run one at a time: each starts several processes of its own.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, bail, ensure};
use features::prometheus::sample_sum;
use features::stack::{Stack, StackConfig, delivery, eventually};
use serde_json::Value;

/// One test of this process at a time (see the module comment).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest wait for a condition: a takeover, a reconnection, a refresh.
const SETTLE: Duration = Duration::from_secs(20);
const LOCATION: &str = "North";

fn config(workers: usize) -> StackConfig {
    StackConfig {
        workers,
        locations: vec![LOCATION.to_owned()],
        redis_args: ["--appendonly", "yes", "--appendfsync", "always"]
            .iter()
            .map(|a| (*a).to_owned())
            .collect(),
        ..StackConfig::default()
    }
}

/// The JSON log lines of `log` from byte `from` on with `level`.
fn lines_at(log: &str, from: usize, level: &str) -> Vec<Value> {
    log.get(from..)
        .unwrap_or_default()
        .lines()
        .filter_map(|line| serde_json::from_str::<Value>(line).ok())
        .filter(|line| line["level"] == level)
        .collect()
}

fn message(line: &Value) -> &str {
    line["message"].as_str().unwrap_or_default()
}

/// Writes until one is answered 201.
async fn wait_serving(stack: &Stack, request_id: &str) -> anyhow::Result<()> {
    let body = delivery(request_id, &[("p", 1.0)]);
    eventually("a write answered 201", SETTLE, || async {
        let reply = stack.deliver(LOCATION, &body).await?;
        match reply.status {
            201 => Ok(Some(())),
            503 => Ok(None),
            other => bail!("write while recovering: {other} {}", reply.body),
        }
    })
    .await
}

/// One sample of the HTTP node's `/metrics`.
async fn http_metric(stack: &Stack, name: &str) -> anyhow::Result<Option<f64>> {
    let text = stack.get("/metrics").await?.body;
    Ok(sample_sum(&text, name))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_outage_is_one_warning_and_one_recovery_line_per_worker() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("outage-lines", config(2)).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1", "w2"], SETTLE).await?;
            wait_serving(stack, "before").await?;
            let marks = [
                stack.worker_log(0).await?.len(),
                stack.worker_log(1).await?.len(),
            ];
            stack.kill_redis().await?;
            // Long enough for every lease to lapse: each worker stops all its shards.
            for index in 0..2 {
                eventually("the worker's shards stopped", SETTLE, || async {
                    let held = stack.worker_metric(index, "stock_leases_held").await?;
                    Ok((held == 0.0).then_some(()))
                })
                .await?;
            }
            stack.start_redis().await?;
            stack.wait_all_owned_by(&["w1", "w2"], SETTLE).await?;
            wait_serving(stack, "after").await?;
            for (index, mark) in marks.into_iter().enumerate() {
                let recovered = eventually("the recovery line", SETTLE, || async {
                    let log = stack.worker_log(index).await?;
                    let info = lines_at(&log, mark, "INFO");
                    let seen = info.iter().any(|l| message(l) == "store reachable again");
                    Ok(seen.then_some(log))
                })
                .await?;
                let warnings = lines_at(&recovered, mark, "WARN");
                let texts: Vec<&str> = warnings.iter().map(message).collect();
                ensure!(
                    texts.len() == 1 && texts[0].starts_with("store unreachable"),
                    "worker #{index}: WARN lines across the outage: {texts:?}"
                );
                let recoveries = lines_at(&recovered, mark, "INFO")
                    .iter()
                    .filter(|l| message(l) == "store reachable again")
                    .count();
                ensure!(
                    recoveries == 1,
                    "worker #{index}: {recoveries} recovery lines"
                );
                let failures = stack
                    .worker_metric(index, "stock_store_failures_total")
                    .await?;
                ensure!(failures >= 1.0, "worker #{index}: failures not counted");
            }
            Ok(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_worker_says_it_was_paused_and_not_that_the_store_failed() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("paused-worker", config(2)).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1", "w2"], SETTLE).await?;
            let mark = stack.worker_log(0).await?.len();
            stack.pause_worker(0).await?;
            let taken = stack.wait_all_owned_by(&["w2"], SETTLE).await;
            stack.resume_worker(0).await?;
            taken?;
            eventually("the pause counted", SETTLE, || async {
                let pauses = stack.worker_metric(0, "stock_worker_pauses_total").await?;
                let stops = stack
                    .worker_metric(0, "stock_lease_self_stops_total")
                    .await?;
                Ok((pauses >= 1.0 && stops >= 1.0).then_some(()))
            })
            .await?;
            let log = stack.worker_log(0).await?;
            let warnings = lines_at(&log, mark, "WARN");
            let texts: Vec<&str> = warnings.iter().map(message).collect();
            ensure!(
                texts.iter().any(|t| t.starts_with("worker paused")),
                "no pause line: {texts:?}"
            );
            ensure!(
                !texts.iter().any(|t| t.starts_with("store unreachable")),
                "a pause reported as a store outage: {texts:?}"
            );
            Ok(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_http_node_exports_unowned_shards_while_no_worker_runs_and_names_a_503s_trace() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("shards-unowned", config(1)).await.unwrap();
    let shards = f64::from(stack.config().shards);
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            eventually("every shard owned on the HTTP node", SETTLE, || async {
                let unowned = http_metric(stack, "stock_shards_unowned").await?;
                Ok((unowned == Some(0.0)).then_some(()))
            })
            .await?;
            ensure!(http_metric(stack, "stock_shards").await? == Some(shards));
            stack.kill_worker(0).await?;
            eventually("every shard unowned on the HTTP node", SETTLE, || async {
                let unowned = http_metric(stack, "stock_shards_unowned").await?;
                Ok((unowned == Some(shards)).then_some(()))
            })
            .await?;
            // The HTTP tier stays ready; the worker tier's check says what is wrong.
            let ready = stack.get("/health/ready").await?;
            ensure!(
                ready.status == 200,
                "ready: {} {}",
                ready.status,
                ready.body
            );
            ensure!(!ready.body.contains("workerTier"), "{}", ready.body);
            let named = stack.get("/health/ready?include=workerTier").await?;
            ensure!(named.status == 200, "{} {}", named.status, named.body);
            let checks = named.json()["checks"].clone();
            ensure!(
                checks[3] == serde_json::json!({"name": "workerTier", "status": "DOWN"}),
                "{}",
                named.body
            );
            let refused = stack
                .deliver(LOCATION, &delivery("nobody", &[("p", 1.0)]))
                .await?;
            ensure!(refused.status == 503, "{} {}", refused.status, refused.body);
            let trace_id = refused.trace_id.context("no x-trace-id on the 503")?;
            let log = stack.http_log()?;
            let line = lines_at(&log, 0, "ERROR")
                .into_iter()
                .find(|l| l["trace_id"] == trace_id.as_str())
                .with_context(|| format!("no ERROR line of trace {trace_id}"))?;
            ensure!(message(&line) == "request failed", "{line}");
            let cause = line["cause"].as_str().unwrap_or_default();
            ensure!(
                cause.starts_with("write not committed before its deadline (shard"),
                "{line}"
            );
            ensure!(
                line["route"] == "/locations/{location}/deliveries",
                "{line}"
            );
            Ok(())
        })
        .await;
}
