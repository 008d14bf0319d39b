//! `rolling-restart`: a steady write load while each worker in turn is stopped with SIGTERM and
//! started again (docs/architecture.md §15: no request fails).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use features::stack::{Stack, location_in_shard};
use tokio::time::Instant;

use crate::flags::Flags;
use crate::measure::{SplitMix64, Spread, clock_seed, millis, secs, signed_millis, verdict};
use crate::tier::{Balance, Roster, deliver, stack_config, wait_stable};

pub(crate) const NAMES: &[&str] = &[
    "workers",
    "shards",
    "ttl",
    "timeout",
    "clients",
    "locations",
    "baseline",
    "quiet",
    "max-requests",
    "seed",
    "settle",
];

/// Extra p99 latency the restarts may add.
const EXTRA_P99_TARGET: Duration = Duration::from_millis(200);

struct Settings {
    workers: usize,
    shards: u32,
    ttl: Duration,
    timeout: Duration,
    clients: usize,
    locations: u32,
    baseline: Duration,
    quiet: Duration,
    max_requests: u64,
    seed: u64,
    settle: Duration,
}

impl Settings {
    fn from(flags: &Flags) -> anyhow::Result<Settings> {
        Ok(Settings {
            workers: flags.number("workers", 3)?,
            shards: flags.number("shards", 256)?,
            ttl: flags.duration("ttl", Duration::from_secs(3))?,
            timeout: flags.duration("timeout", Duration::from_secs(5))?,
            clients: flags.number("clients", 8)?,
            locations: flags.number("locations", 64)?,
            baseline: flags.duration("baseline", Duration::from_secs(10))?,
            quiet: flags.duration("quiet", Duration::from_secs(5))?,
            max_requests: flags.number("max-requests", 1_000_000)?,
            seed: flags.number("seed", clock_seed())?,
            settle: flags.duration("settle", Duration::from_secs(60))?,
        })
    }
}

/// One request: when it was sent (since the load began), how long it took, and its outcome.
struct Sample {
    sent: Duration,
    latency: Duration,
    outcome: String,
}

/// What the load clients share.
struct Load {
    stack: Arc<Stack>,
    locations: Vec<String>,
    origin: Instant,
    stop: AtomicBool,
    issued: AtomicU64,
    max_requests: u64,
    hard_stop: Instant,
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    let s = Settings::from(flags)?;
    let locations: Vec<String> = (0..s.locations)
        .map(|i| location_in_shard("R", i * s.shards / s.locations.max(1), s.shards))
        .collect();
    let config = stack_config(s.shards, s.workers, s.ttl, s.timeout, locations.clone());
    println!(
        "rolling-restart: {} workers, {} shards, lease TTL {:?}, command timeout {:?}, \
         {} clients over {} locations, seed {}",
        s.workers, s.shards, s.ttl, s.timeout, s.clients, s.locations, s.seed
    );
    let stack = Arc::new(Stack::start("reliability-rolling-restart", config).await?);
    let mut roster = Roster::started(s.workers);
    wait_stable(&stack, &roster.ids(), s.ttl, s.settle).await?;
    let origin = Instant::now();
    let bound = s.baseline + s.quiet + s.settle * (2 * s.workers as u32 + 1);
    let load = Arc::new(Load {
        stack: stack.clone(),
        locations,
        origin,
        stop: AtomicBool::new(false),
        issued: AtomicU64::new(0),
        max_requests: s.max_requests,
        hard_stop: origin + bound,
    });
    let clients: Vec<_> = (0..s.clients)
        .map(|c| tokio::spawn(client(load.clone(), s.seed ^ ((c as u64 + 1) << 32), c)))
        .collect();
    // The baseline and quiet periods are measurement windows, not waits for a condition.
    tokio::time::sleep(s.baseline).await;
    let restarts_from = origin.elapsed();
    let restarted = restart_each(&stack, &mut roster, &s).await;
    let restarts_to = origin.elapsed();
    if restarted.is_ok() {
        tokio::time::sleep(s.quiet).await;
    }
    load.stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for c in clients {
        samples.extend(c.await?);
    }
    restarted?;
    drop(load);
    report(&s, &samples, restarts_from, restarts_to);
    Arc::try_unwrap(stack)
        .ok()
        .context("the stack is still in use")?
        .finish()
        .await
}

/// SIGTERM and restart of every worker in turn. Before the next, the restarted worker holds
/// shards again (when the tier balances) and no lease has moved for one TTL, so every hand-off
/// a restart causes falls inside the restart period.
async fn restart_each(stack: &Stack, roster: &mut Roster, s: &Settings) -> anyhow::Result<()> {
    let mut balance = Balance::default();
    for id in roster.ids() {
        let began = Instant::now();
        roster.stop(stack, &id).await?;
        let stopped = began.elapsed();
        roster.start(stack, &id).await?;
        balance
            .settle(stack, roster, &id, s.ttl * 3, s.settle)
            .await?;
        let settled = wait_stable(stack, &roster.ids(), s.ttl, s.settle).await?;
        let held = settled.ownership.shards_of(&id).len();
        println!(
            "restarted {id}: exited {} after SIGTERM; ownership settled {} after the SIGTERM; \
             holds {held} shards",
            secs(stopped),
            secs(settled.last_change.saturating_duration_since(began))
        );
    }
    Ok(())
}

/// One client: deliveries with unique request ids until told to stop or a bound is reached.
async fn client(load: Arc<Load>, seed: u64, number: usize) -> Vec<Sample> {
    let mut rng = SplitMix64::new(seed);
    let mut samples = Vec::new();
    while !load.stop.load(Ordering::Relaxed)
        && Instant::now() < load.hard_stop
        && load.issued.fetch_add(1, Ordering::Relaxed) < load.max_requests
    {
        let location = &load.locations[rng.below(load.locations.len() as u64) as usize];
        let product = format!("P{}", rng.below(10));
        let request_id = format!("rolling-{number}-{}", samples.len());
        let sent = load.origin.elapsed();
        let started = Instant::now();
        let reply = deliver(&load.stack, location, &product, &request_id).await;
        let outcome = match reply {
            Ok(reply) => reply.status.to_string(),
            Err(_) => "error".to_owned(),
        };
        samples.push(Sample {
            sent,
            latency: started.elapsed(),
            outcome,
        });
    }
    samples
}

fn report(s: &Settings, samples: &[Sample], from: Duration, to: Duration) {
    let within = |lo: Duration, hi: Duration| {
        let latencies: Vec<Duration> = samples
            .iter()
            .filter(|x| x.sent >= lo && x.sent < hi)
            .map(|x| x.latency)
            .collect();
        Spread::of(&latencies)
    };
    let baseline = within(Duration::ZERO, from);
    let restarts = within(from, to);
    let quiet = within(to, Duration::MAX);
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for sample in samples {
        *outcomes.entry(sample.outcome.as_str()).or_default() += 1;
    }
    let failed = samples.iter().filter(|x| x.outcome != "201").count();
    let extra = restarts.p99.saturating_sub(baseline.p99);
    let pass = failed == 0 && extra <= EXTRA_P99_TARGET;
    let outcome_text: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!();
    println!(
        "requests sent: {}, not answered 201: {failed} ({})",
        samples.len(),
        outcome_text.join(" ")
    );
    for (name, spread, span) in [
        ("baseline", baseline, from),
        ("restarts", restarts, to.saturating_sub(from)),
        ("quiet", quiet, s.quiet),
    ] {
        println!(
            "{name:<9} {:>6} requests over {}: p50 {} p99 {} p99.9 {} max {}",
            spread.n,
            secs(span),
            millis(spread.p50),
            millis(spread.p99),
            millis(spread.p999),
            millis(spread.max)
        );
    }
    println!(
        "extra p99 during restarts: {} (target <= {}, and no failed request) -> {}",
        signed_millis(restarts.p99, baseline.p99),
        millis(EXTRA_P99_TARGET),
        verdict(pass)
    );
    println!();
    println!(
        "| requests | not 201 | baseline p50 / p99 / p99.9 | restarts p50 / p99 / p99.9 / max | \
         extra p99 | target | result |"
    );
    println!("|---:|---:|---|---|---:|---|---|");
    println!(
        "| {} | {failed} | {} / {} / {} | {} / {} / {} / {} | {} | 0 failed, extra p99 ≤ {} | {} |",
        samples.len(),
        millis(baseline.p50),
        millis(baseline.p99),
        millis(baseline.p999),
        millis(restarts.p50),
        millis(restarts.p99),
        millis(restarts.p999),
        millis(restarts.max),
        signed_millis(restarts.p99, baseline.p99),
        millis(EXTRA_P99_TARGET),
        verdict(pass)
    );
}
