//! What the deployment descriptions rely on, checked on a real stack (a `redis-server`, an
//! `http-fn` node with `NODE_ROLE=http`, `actor-worker` processes): the backlog gauge that scales
//! the worker pool from zero (docs/OPERATIONS.md, "Scaling to zero"), and the metric names of
//! the Grafana dashboard `infra/grafana/stock-api.json` and of the KEDA triggers
//! `infra/k8s/base/worker-scaler.yaml`.
//!
//! Needs the debug binaries (`cargo build --bins`) and `redis-server` on `PATH`.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use anyhow::{Context, ensure};
use features::estate::{Estate, TRACKED};
use features::location_api::LocationApi;
use features::prometheus::sample_sum;
use features::stack::{HttpReply, Stack, StackConfig, delivery, eventually, location_in_shard};
use futures::future::join_all;
use serde_json::Value;

/// One test of this process at a time: each starts several processes of its own.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest wait for a count of the backlog (one scan interval, 5 s by default) or a start.
const SETTLE: Duration = Duration::from_secs(20);
/// The gauge of the commands waiting in the shard streams.
const WAITING: &str = "stock_commands_waiting";

/// The HTTP node's `/metrics` text.
async fn http_metrics(stack: &Stack) -> anyhow::Result<String> {
    let page = stack.get("/metrics").await?;
    ensure!(page.status == 200, "GET /metrics: {}", page.status);
    Ok(page.body)
}

/// Waits until the HTTP node reports `expected` commands waiting.
async fn wait_waiting(stack: &Stack, expected: f64) -> anyhow::Result<()> {
    let what = format!("{WAITING} = {expected}");
    eventually(&what, SETTLE, || async {
        let waiting = sample_sum(&http_metrics(stack).await?, WAITING);
        Ok((waiting == Some(expected)).then_some(()))
    })
    .await
}

fn expect_created(reply: &HttpReply, what: &str) -> anyhow::Result<()> {
    ensure!(
        reply.status == 201,
        "{what}: expected 201, got {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_backlog_gauge_rises_while_no_worker_runs_and_falls_to_zero_once_one_serves() {
    let _serial = SERIAL.lock().await;
    let shards = 4;
    let locations: Vec<String> = (0..2).map(|s| location_in_shard("B", s, shards)).collect();
    let config = StackConfig {
        shards,
        workers: 0,
        // The writes wait for the worker started below, well within this.
        command_timeout: Duration::from_secs(25),
        locations: locations.clone(),
        ..StackConfig::default()
    };
    let stack = Stack::start("backlog-signal", config).await.unwrap();
    stack
        .run(async |stack| {
            wait_waiting(stack, 0.0).await?;
            let writes = join_all(locations.iter().enumerate().map(|(n, location)| {
                let body = delivery(&format!("backlog-{n}"), &[("p", 5.0)]);
                async move { stack.deliver(location, &body).await }
            }));
            let scale = async {
                // Both writes wait in their streams while no worker runs.
                wait_waiting(stack, 2.0).await?;
                ensure!(stack.lease_owners().await?.iter().all(Option::is_none));
                stack.start_worker("w1").await?;
                wait_waiting(stack, 0.0).await
            };
            let (replies, scaled) = tokio::join!(writes, scale);
            scaled?;
            for (reply, location) in replies.into_iter().zip(&locations) {
                expect_created(&reply?, &format!("the delivery at {location}"))?;
                ensure!(stack.quantity(location, "p").await? == 5.0);
            }
            Ok(())
        })
        .await;
}

/// Every `stock_…` name in the expressions of the dashboard's panels and in the queries of its
/// variables, and any other name used as a metric (followed by a selector or a range).
fn dashboard_metric_names(dashboard: &Value) -> anyhow::Result<(BTreeSet<String>, usize)> {
    let panels = dashboard["panels"].as_array().context("no panels")?;
    let targets = panels
        .iter()
        .flat_map(|panel| panel["targets"].as_array().into_iter().flatten())
        .map(|target| target["expr"].as_str().context("a target without expr"));
    let variables = dashboard["templating"]["list"]
        .as_array()
        .into_iter()
        .flatten();
    let queries = variables
        .filter(|variable| variable["type"] == "query")
        .map(|variable| {
            variable["definition"]
                .as_str()
                .context("a variable without query")
        });
    let mut names = BTreeSet::new();
    let mut expressions = 0;
    for expr in targets.chain(queries) {
        let expr = expr?;
        expressions += 1;
        let found = metric_names(expr);
        ensure!(!found.is_empty(), "no metric in {expr:?}");
        names.extend(found);
    }
    Ok((names, expressions))
}

/// The metric names of one PromQL expression: identifiers starting with `stock_`, or followed by
/// `{` or `[`; label matchers (`{…}`) and strings are skipped.
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut in_matchers = false;
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '"' => {
                // A string: up to the next unescaped quote.
                i += 1;
                while i < chars.len() && chars[i] != '"' {
                    i += if chars[i] == '\\' { 2 } else { 1 };
                }
                i += 1;
            }
            '{' => {
                in_matchers = true;
                i += 1;
            }
            '}' => {
                in_matchers = false;
                i += 1;
            }
            c if c.is_ascii_alphabetic() || c == '_' => {
                let start = i;
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                let selected = matches!(chars.get(i), Some('{' | '['));
                if !in_matchers && (word.starts_with("stock_") || selected) {
                    names.push(word);
                }
            }
            _ => i += 1,
        }
    }
    names
}

#[test]
fn metric_names_are_read_past_functions_labels_and_durations() {
    let expr = r#"histogram_quantile(0.99, sum by (le, route) (rate(stock_http_request_duration_seconds_bucket{route!="x{\"}"}[5m]))) / up{job="a"}"#;
    assert_eq!(
        metric_names(expr),
        vec!["stock_http_request_duration_seconds_bucket", "up"]
    );
}

/// The sample names of a `/metrics` page.
fn sample_names(page: &str) -> BTreeSet<String> {
    page.lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| line.split(['{', ' ']).next())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The metric names of the Prometheus queries of the KEDA triggers (`query:` lines).
fn scaler_metric_names(manifest: &str) -> anyhow::Result<BTreeSet<String>> {
    let queries: Vec<&str> = manifest
        .lines()
        .filter_map(|line| line.trim().strip_prefix("query:"))
        .collect();
    ensure!(
        queries.len() >= 2,
        "the scaler has {} queries",
        queries.len()
    );
    Ok(queries.into_iter().flat_map(metric_names).collect())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_metric_of_the_dashboard_and_the_worker_scaler_is_exported_by_a_running_stack() {
    let _serial = SERIAL.lock().await;
    let infra = concat!(env!("CARGO_MANIFEST_DIR"), "/../infra");
    let text = std::fs::read_to_string(format!("{infra}/grafana/stock-api.json")).unwrap();
    let dashboard: Value = serde_json::from_str(&text).unwrap();
    let (mut names, expressions) = dashboard_metric_names(&dashboard).unwrap();
    assert!(expressions >= 10, "only {expressions} expressions");
    let scaler = std::fs::read_to_string(format!("{infra}/k8s/base/worker-scaler.yaml")).unwrap();
    names.extend(scaler_metric_names(&scaler).unwrap());
    let location = "D1".to_owned();
    let estate = Estate::from_rows([(location.as_str(), "", vec![TRACKED.to_owned()])]).unwrap();
    // The Location API client (and its breaker gauge) exists only with a Location API.
    let api = LocationApi::start(estate).await.unwrap();
    let config = StackConfig {
        shards: 4,
        workers: 1,
        locations: vec![location.clone()],
        location_api: Some(api.base_url()),
        ..StackConfig::default()
    };
    let stack = Stack::start("dashboard-metrics", config).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            let reply = stack
                .deliver(&location, &delivery("d-1", &[("p", 3.0)]))
                .await?;
            expect_created(&reply, "a delivery")?;
            ensure!(stack.quantity(&location, "p").await? == 3.0);
            let mut exported = sample_names(&http_metrics(stack).await?);
            exported.extend(sample_names(&stack.worker_metrics(0).await?));
            let missing: Vec<&String> = names.difference(&exported).collect();
            ensure!(
                missing.is_empty(),
                "metrics queried that nobody exports: {missing:?}\nexported: {exported:?}"
            );
            Ok(())
        })
        .await;
}
