//! Real-world sizes and bad stream entries on the distributed Stock API, with real processes:
//! deliveries of thousands of new lines up to the body-size limit are applied whole and replay
//! identically while the shard keeps serving, and an entry of a shard stream that is not a command
//! is set aside without stalling the shard (docs/OPERATIONS.md, dead letters).
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`. The tests of this file run one at a time: each starts several processes of its own.

#![allow(clippy::unwrap_used)]

use std::time::Duration;

use anyhow::{Context, ensure};
use features::stack::{HttpReply, Stack, StackConfig, eventually, segment};
use serde_json::{Value, json};
use shared::shard::shard_of;
use shared::store::redis::keys;

/// One test of this process at a time (see the module comment).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `STOCK_COMMAND_TIMEOUT` of these stacks: generous, so that a loaded machine running debug
/// binaries never turns a slow answer into a failure; a stalled shard still fails the test.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for a condition (a metric to be scraped).
const SETTLE: Duration = Duration::from_secs(20);
/// The limit on a request body (`docs/api.md`).
const BODY_LIMIT: usize = 1 << 20;
const LOCATION: &str = "DC1";

fn config() -> StackConfig {
    StackConfig {
        workers: 1,
        command_timeout: COMMAND_TIMEOUT,
        locations: vec![LOCATION.to_owned()],
        // The production default (docs/configuration.md).
        lease_ttl: Duration::from_secs(3),
        ..StackConfig::default()
    }
}

/// A delivery of one unit of each of `lines` products never seen before, as compact as the
/// contract allows.
fn delivery_of(request_id: &str, lines: usize) -> Value {
    let products: Vec<Value> = (0..lines)
        .map(|i| json!({"productId": format!("P{i:05}"), "quantity": 1}))
        .collect();
    json!({
        "requestId": request_id, "supplierId": "s", "supplierRef": "r",
        "deliveredAt": "2024-12-05T08:00:00", "products": products,
    })
}

fn sale(request_id: &str) -> Value {
    json!({"requestId": request_id, "quantity": 1, "soldAt": "2024-12-05T09:00:00"})
}

async fn sell(stack: &Stack, product: &str, body: &Value) -> anyhow::Result<HttpReply> {
    let path = format!(
        "/locations/{}/products/{}/sales",
        segment(LOCATION),
        segment(product)
    );
    stack.post(&path, body).await
}

fn expect_status(reply: &HttpReply, status: u16, what: &str) -> anyhow::Result<()> {
    let mut body = reply.body.clone();
    body.truncate(300);
    ensure!(
        reply.status == status,
        "{what}: expected {status}, got {} {body}",
        reply.status,
    );
    Ok(())
}

/// Delivers `lines` new products, with a one-line sale to the same location sent meanwhile;
/// both must succeed, the delivery must be applied whole, and its replay must answer the same.
async fn deliver_large(stack: &Stack, request_id: &str, lines: usize) -> anyhow::Result<()> {
    let body = delivery_of(request_id, lines);
    ensure!(serde_json::to_vec(&body)?.len() < BODY_LIMIT);
    let sale_body = sale(&format!("{request_id}-sale"));
    let (delivered, sold) = tokio::join!(
        stack.deliver(LOCATION, &body),
        sell(stack, "P00000", &sale_body)
    );
    let delivered = delivered?;
    expect_status(&delivered, 201, "a large delivery")?;
    expect_status(&sold?, 201, "a sale sent meanwhile")?;
    let last = format!("P{:05}", lines - 1);
    ensure!(stack.quantity(LOCATION, &last).await? == 1.0);
    let replay = stack.deliver(LOCATION, &body).await?;
    expect_status(&replay, 201, "the replay of a large delivery")?;
    ensure!(
        replay.body == delivered.body,
        "the replay answered another body"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deliveries_up_to_the_body_limit_are_applied_whole_while_the_shard_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("large-deliveries", config()).await.unwrap();
    stack
        .run(async |stack| {
            deliver_large(stack, "ten-thousand", 10_000).await?;
            // 28 000 lines: just under the 1 MiB body limit.
            deliver_large(stack, "at-the-limit", 28_000).await?;
            let log = stack.worker_log(0).await?;
            ensure!(!log.contains("refused a command"), "a command was refused");
            Ok(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_entry_that_is_not_a_command_is_set_aside_and_the_shard_keeps_serving() {
    let _serial = SERIAL.lock().await;
    let stack = Stack::start("dead-letters", config()).await.unwrap();
    stack
        .run(async |stack| {
            let shard = shard_of(LOCATION, stack.config().shards);
            let mut redis = stack.redis().await?;
            let newer = r#"{"id":"x","timeout_ms":null,"traceparent":null,"reply_to":null,"command":{"type":"Teleport"}}"#;
            let mut ids = Vec::new();
            for garbage in ["{not json", newer] {
                let id: String = redis::cmd("XADD")
                    .arg(keys::commands(shard))
                    .arg("*")
                    .arg("c")
                    .arg(garbage)
                    .query_async(&mut redis)
                    .await?;
                ids.push(id);
            }
            let after = stack
                .deliver(LOCATION, &delivery_of("after-garbage", 3))
                .await?;
            expect_status(&after, 201, "a write behind entries that are not commands")?;

            let dead: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
                .arg(keys::dead_letters(shard))
                .arg("-")
                .arg("+")
                .query_async(&mut redis)
                .await
                .context("reading the dead-letter stream")?;
            let moved: Vec<String> = dead
                .iter()
                .filter_map(|(_, fields)| {
                    fields.iter().find(|(k, _)| k == "id").map(|(_, v)| v.clone())
                })
                .collect();
            ensure!(moved == ids, "dead letters {dead:?}, garbage written as {ids:?}");
            eventually("the dead letters are counted", SETTLE, || async {
                let count = stack.worker_metric(0, "stock_dead_letters_total").await?;
                Ok((count == 2.0).then_some(()))
            })
            .await?;
            let lag = stack.worker_metric(0, "stock_stream_lag_seconds").await?;
            ensure!(lag.is_finite(), "no stream lag reported");
            let log = stack.worker_log(0).await?;
            for id in &ids {
                ensure!(
                    log.lines().filter(|l| l.contains("dead-letter") && l.contains(id.as_str())).count() == 1,
                    "one log line for {id}"
                );
            }
            Ok(())
        })
        .await;
}
