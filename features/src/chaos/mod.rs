//! Chaos runs of the multi-process stack: a seeded client load and a seeded fault schedule on
//! real processes (`redis-server` with an AOF fsynced on every write, one `http-fn`, three
//! `actor-worker`s), then the invariants of the failure contract (docs/architecture.md §5, §7, §15;
//! docs/api.md §14.8) checked through the public API.
//!
//! Run by `tests/chaos.rs`; needs the debug binaries (`cargo build -p http-fn -p actor-worker`)
//! and `redis-server` on `PATH`.
//!
//! - `STOCK_CHAOS_SECONDS`: seconds of load (default 60, about two minutes in all).
//! - `STOCK_CHAOS_SEED`: the seed of the load and of the fault schedule (default: random). The seed
//!   is printed at the start and named in every failure line; the same seed replays the same
//!   requests and the same faults at the same offsets (timing still varies).
//!
//! Long run:
//!
//! ```text
//! cargo build -p http-fn -p actor-worker
//! STOCK_CHAOS_SECONDS=900 cargo test -p features --release --test chaos -- --nocapture
//! ```
//!
//! The summary is printed and written to `target/chaos-summary.json`; the process logs are in
//! `target/stack-logs/chaos/`.

pub mod faults;
pub mod invariants;
pub mod load;
mod summary;

use std::time::Duration;

use anyhow::Context;
use futures::future::join_all;
use serde_json::Value;
use tokio::time::Instant;

use crate::stack::{Api, Stack, StackConfig, location_in_shard};
use faults::Injector;
use invariants::Findings;
use load::Record;
use summary::Report;

/// Default seconds of load.
const DEFAULT_SECONDS: u64 = 60;
/// Concurrent clients, each with its own products.
const CLIENTS: usize = 6;
const WORKERS: usize = 3;
const SHARDS: u32 = 32;
/// Shards holding the estate: two tracked locations in each (12 in all).
const ESTATE_SHARDS: u32 = 6;
const LEASE_TTL: Duration = Duration::from_secs(1);
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Bound on the wait for the first leases.
const SETTLE: Duration = Duration::from_secs(30);
/// Bound on the wait, once the faults are over, for a write accepted at every location.
const LIVENESS_WITHIN: Duration = Duration::from_secs(10);

/// What a chaos run does.
#[derive(Clone, Debug)]
pub struct ChaosConfig {
    /// Seed of the load and of the fault schedule.
    pub seed: u64,
    /// How long the load (and the faults) last.
    pub load: Duration,
}

impl ChaosConfig {
    /// From `STOCK_CHAOS_SECONDS` and `STOCK_CHAOS_SEED`.
    pub fn from_env() -> anyhow::Result<ChaosConfig> {
        let seconds = match std::env::var("STOCK_CHAOS_SECONDS") {
            Ok(text) => text.trim().parse().context("STOCK_CHAOS_SECONDS")?,
            Err(_) => DEFAULT_SECONDS,
        };
        let seed = match std::env::var("STOCK_CHAOS_SEED") {
            Ok(text) => text.trim().parse().context("STOCK_CHAOS_SEED")?,
            Err(_) => rand::random(),
        };
        Ok(ChaosConfig {
            seed,
            load: Duration::from_secs(seconds),
        })
    }
}

/// The estate: pairs of tracked locations sharing a shard, the pairs spread over the shards.
#[derive(Clone, Debug)]
pub struct Layout {
    /// Location ids; `2k` and `2k + 1` share a shard.
    pub locations: Vec<String>,
}

impl Layout {
    pub fn new(shards: u32) -> Layout {
        let locations = (0..ESTATE_SHARDS)
            .map(|i| i * shards / ESTATE_SHARDS + 1)
            .flat_map(|s| {
                [
                    location_in_shard("A", s, shards),
                    location_in_shard("B", s, shards),
                ]
            })
            .collect();
        Layout { locations }
    }

    /// The other location of `location`'s shard.
    fn partner(&self, location: usize) -> usize {
        location ^ 1
    }

    /// `candidate`, or the location two places on when `candidate` shares `location`'s shard.
    fn other_shard(&self, location: usize, candidate: usize) -> usize {
        if candidate / 2 == location / 2 {
            (candidate + 2) % self.locations.len()
        } else {
            candidate
        }
    }
}

/// Runs a chaos test named `test`; the summary when every invariant holds, otherwise a message
/// naming the seed, every broken invariant and where the process logs are.
pub async fn run(test: &str, config: &ChaosConfig) -> Result<Value, String> {
    let seed = config.seed;
    eprintln!(
        "chaos: seed {seed}, {:?} of load (replay: STOCK_CHAOS_SEED={seed})",
        config.load
    );
    let layout = Layout::new(SHARDS);
    let stack = Stack::start(test, stack_config(&layout))
        .await
        .map_err(|e| format!("[seed {seed}] starting the stack: {e:#}"))?;
    let logs = stack.log_dir().display().to_string();
    let report = match drive(&stack, config, &layout).await {
        Ok(report) => report,
        Err(error) => {
            drop(stack);
            return Err(format!(
                "[seed {seed}] chaos run aborted: {error:#}\n[seed {seed}] process logs: {logs}"
            ));
        }
    };
    let summary = report.summary(config);
    summary::write(&summary);
    if report.findings.items.is_empty() {
        stack
            .finish()
            .await
            .map_err(|e| format!("[seed {seed}] stopping the stack: {e:#}"))?;
        return Ok(summary);
    }
    drop(stack);
    Err(format!(
        "{}\n[seed {seed}] process logs: {logs}\n[seed {seed}] replay: STOCK_CHAOS_SEED={seed} \
         STOCK_CHAOS_SECONDS={} cargo test -p features --test chaos -- --nocapture",
        report.findings.render(seed),
        config.load.as_secs()
    ))
}

fn stack_config(layout: &Layout) -> StackConfig {
    StackConfig {
        shards: SHARDS,
        workers: WORKERS,
        lease_ttl: LEASE_TTL,
        command_timeout: COMMAND_TIMEOUT,
        locations: layout.locations.clone(),
        redis_args: ["--appendonly", "yes", "--appendfsync", "always"]
            .map(str::to_owned)
            .to_vec(),
        ..StackConfig::default()
    }
}

/// Load and faults, then the resolution phase and every invariant.
async fn drive(stack: &Stack, config: &ChaosConfig, layout: &Layout) -> anyhow::Result<Report> {
    let ids: Vec<String> = (1..=WORKERS).map(|n| format!("w{n}")).collect();
    let ids: Vec<&str> = ids.iter().map(String::as_str).collect();
    stack.wait_all_owned_by(&ids, SETTLE).await?;
    let wall = std::time::Instant::now();
    let started = Instant::now();
    let end = started + config.load;
    let plan = faults::schedule(config.seed, WORKERS, config.load);
    eprintln!("chaos: {} faults planned", plan.len());
    let clients = (0..CLIENTS).map(|c| load::client(stack, layout, config.seed, c, end));
    let injector = Injector::new(stack, WORKERS);
    let (per_client, faults) = tokio::join!(join_all(clients), injector.run(&plan, started));
    let mut records: Vec<Record> = per_client.into_iter().flatten().collect();
    let unanswered_after_load = records.iter().filter(|r| r.answer.is_none()).count();
    eprintln!(
        "chaos: load over after {:.1?}: {} requests, {unanswered_after_load} unanswered",
        started.elapsed(),
        records.len()
    );
    let mut findings = Findings::default();
    for anomaly in &faults.anomalies {
        findings.add(7, anomaly.clone());
    }
    let live = liveness(stack, layout, config.seed, &mut findings).await;
    let locations_live = live.iter().filter(|r| answered(r, 201)).count();
    records.extend(live);
    let products: Vec<String> = (0..CLIENTS)
        .flat_map(load::products_of)
        .chain([load::LIVE_PRODUCT.to_owned()])
        .collect();
    let checked = check(
        stack,
        &layout.locations,
        &products,
        &mut records,
        &mut findings,
    )
    .await?;
    Ok(Report {
        wall: wall.elapsed(),
        unanswered_after_load,
        pots_verified: checked.pots,
        products_conserved: products.len(),
        locations_live,
        replays: checked.replays,
        records,
        faults,
        findings,
    })
}

/// What [`check`] looked at.
#[derive(Clone, Copy, Debug)]
pub struct Checked {
    /// Pots read and compared with the model.
    pub pots: usize,
    /// 201s replayed.
    pub replays: usize,
}

/// The checks after a load: every unanswered request resolved, then invariants 1, 2, 3, 4 and 6
/// over the pots of `products` at `locations`.
pub async fn check(
    stack: &impl Api,
    locations: &[String],
    products: &[String],
    records: &mut [Record],
    findings: &mut Findings,
) -> anyhow::Result<Checked> {
    invariants::resolve(stack, records, findings).await;
    let pots = invariants::read_pots(stack, locations, products).await?;
    invariants::exactly_once(&invariants::model(records), &pots, findings);
    invariants::conservation(records, &pots, findings);
    let replays = invariants::replays(stack, records, findings).await;
    let after = invariants::read_pots(stack, locations, products).await?;
    invariants::unchanged(&pots, &after, findings);
    let tallies: Vec<&load::Tally> = records.iter().map(|r| &r.tally).collect();
    invariants::no_server_errors(&tallies, findings);
    Ok(Checked {
        pots: pots.len(),
        replays,
    })
}

fn answered(record: &Record, status: u16) -> bool {
    record.answer.as_ref().is_some_and(|a| a.status == status)
}

/// Invariant 5: once the faults are over and everything is restored, every location accepts a
/// write within [`LIVENESS_WITHIN`] (a bound on the wait, not a speed claim).
async fn liveness(
    stack: &Stack,
    layout: &Layout,
    seed: u64,
    findings: &mut Findings,
) -> Vec<Record> {
    let until = Instant::now() + LIVENESS_WITHIN;
    let writes = layout
        .locations
        .iter()
        .map(|l| load::record(stack, load::liveness_request(seed, l), until));
    let records = join_all(writes).await;
    for record in records.iter().filter(|r| !answered(r, 201)) {
        let answer = record.answer.as_ref().map_or("no answer".to_owned(), |a| {
            format!("{} {}", a.status, a.body)
        });
        let attempts = record.tally.attempts;
        findings.add(
            5,
            format!(
                "{}: {answer} within {LIVENESS_WITHIN:?} ({attempts} attempts)",
                record.request.id
            ),
        );
    }
    records
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::shard::shard_of;

    #[test]
    fn the_estate_has_same_shard_pairs_spread_over_distinct_shards() {
        let layout = Layout::new(SHARDS);
        assert_eq!(layout.locations.len(), 12);
        let shard = |i: usize| shard_of(&layout.locations[i], SHARDS);
        for i in 0..layout.locations.len() {
            assert_eq!(shard(i), shard(layout.partner(i)));
            assert_ne!(i, layout.partner(i));
            for candidate in 0..layout.locations.len() {
                assert_ne!(shard(i), shard(layout.other_shard(i, candidate)));
            }
        }
    }
}
