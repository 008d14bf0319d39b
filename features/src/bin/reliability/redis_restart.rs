//! `redis-restart`: a steady write load on every location while Redis is stopped (SIGKILL or
//! SIGTERM) and started again on its fsynced AOF; measures the time from Redis answering `PING`
//! again to the first 201 at each location (docs/RELIABILITY.md, target 1.5 s on the p99).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use anyhow::{Context, bail, ensure};
use features::stack::{Stack, StackConfig, location_in_shard};
use tokio::time::Instant;

use crate::flags::Flags;
use crate::measure::{Spread, millis, secs, verdict};
use crate::tier::{Roster, deliver, stack_config, wait_stable};

pub(crate) const NAMES: &[&str] = &[
    "restarts",
    "signal",
    "workers",
    "shards",
    "locations",
    "ttl",
    "timeout",
    "pause",
    "settle",
];

/// From Redis answering again to a 201 at every location, on the p99.
const RECOVERY_TARGET: Duration = Duration::from_millis(1500);
/// A client's pause after an answer other than 201, so an outage is not a busy loop.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_millis(10);
/// The only product the load delivers.
const PRODUCT: &str = "P1";

#[derive(Clone, Copy, Debug, PartialEq)]
enum Signal {
    Kill,
    Term,
    /// SIGKILL and SIGTERM in turn.
    Both,
}

impl Signal {
    fn parse(text: &str) -> anyhow::Result<Signal> {
        match text {
            "kill" => Ok(Signal::Kill),
            "term" => Ok(Signal::Term),
            "both" => Ok(Signal::Both),
            other => bail!("--signal {other:?}: kill, term or both"),
        }
    }

    /// The signal of restart `n` (from 0).
    fn nth(self, n: u32) -> Signal {
        match self {
            Signal::Both if n.is_multiple_of(2) => Signal::Kill,
            Signal::Both => Signal::Term,
            one => one,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Signal::Kill => "SIGKILL",
            Signal::Term => "SIGTERM",
            Signal::Both => "SIGKILL and SIGTERM",
        }
    }
}

struct Settings {
    restarts: u32,
    signal: Signal,
    workers: usize,
    shards: u32,
    locations: u32,
    ttl: Duration,
    timeout: Duration,
    pause: Duration,
    settle: Duration,
}

impl Settings {
    fn from(flags: &Flags) -> anyhow::Result<Settings> {
        let s = Settings {
            restarts: flags.number("restarts", 10)?,
            signal: Signal::parse(&flags.text("signal", "both"))?,
            workers: flags.number("workers", 2)?,
            shards: flags.number("shards", 32)?,
            locations: flags.number("locations", 16)?,
            ttl: flags.duration("ttl", Duration::from_secs(1))?,
            timeout: flags.duration("timeout", Duration::from_secs(5))?,
            pause: flags.duration("pause", Duration::from_secs(3))?,
            settle: flags.duration("settle", Duration::from_secs(30))?,
        };
        ensure!(
            s.locations >= 1 && s.locations <= s.shards,
            "--locations must be between 1 and --shards"
        );
        Ok(s)
    }
}

/// One answered write (times since the load began).
struct Sample {
    location: usize,
    sent: Duration,
    done: Duration,
    status: String,
}

/// One restart (times since the load began).
struct Restart {
    signal: Signal,
    stopped: Duration,
    answered: Duration,
}

/// What the load clients share.
struct Load {
    stack: Arc<Stack>,
    locations: Vec<String>,
    origin: Instant,
    stop: AtomicBool,
    hard_stop: Instant,
    /// When each location last had a 201 (since `origin`).
    last_written: Mutex<Vec<Duration>>,
}

impl Load {
    fn last_written(&self) -> Vec<Duration> {
        self.last_written
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    let s = Settings::from(flags)?;
    let locations: Vec<String> = (0..s.locations)
        .map(|i| location_in_shard("Q", i * s.shards / s.locations, s.shards))
        .collect();
    let aof = ["--appendonly", "yes", "--appendfsync", "always"];
    let config = StackConfig {
        redis_args: aof.iter().map(|a| (*a).to_owned()).collect(),
        ..stack_config(s.shards, s.workers, s.ttl, s.timeout, locations.clone())
    };
    println!(
        "redis-restart: {} restarts ({}), {} workers, {} shards, lease TTL {:?}, command timeout \
         {:?}, one client on each of {} locations, {} of load between restarts",
        s.restarts,
        s.signal.name(),
        s.workers,
        s.shards,
        s.ttl,
        s.timeout,
        s.locations,
        secs(s.pause)
    );
    let stack = Arc::new(Stack::start("reliability-redis-restart", config).await?);
    let roster = Roster::started(s.workers);
    wait_stable(&stack, &roster.ids(), s.ttl, s.settle).await?;
    let origin = Instant::now();
    let bound = (s.pause + s.settle) * (s.restarts + 1);
    let load = Arc::new(Load {
        stack: stack.clone(),
        locations: locations.clone(),
        origin,
        stop: AtomicBool::new(false),
        hard_stop: origin + bound,
        last_written: Mutex::new(vec![Duration::ZERO; locations.len()]),
    });
    let clients: Vec<_> = (0..locations.len())
        .map(|l| tokio::spawn(client(load.clone(), l)))
        .collect();
    // Steady load before the first restart: a measurement window, not a wait for a condition.
    tokio::time::sleep(s.pause).await;
    let restarted = restart_each(&stack, &load, &s).await;
    load.stop.store(true, Ordering::Relaxed);
    let mut samples = Vec::new();
    for c in clients {
        samples.extend(c.await?);
    }
    let restarts = restarted?;
    drop(load);
    let missing = check_written(&stack, &locations, &samples).await?;
    report(&s, &restarts, &samples, missing);
    Arc::try_unwrap(stack)
        .ok()
        .context("the stack is still in use")?
        .finish()
        .await
}

/// Stops and starts Redis `s.restarts` times; after each, waits for a 201 at every location,
/// then keeps the load steady for `s.pause`.
async fn restart_each(stack: &Stack, load: &Load, s: &Settings) -> anyhow::Result<Vec<Restart>> {
    let mut restarts = Vec::new();
    for n in 0..s.restarts {
        let signal = s.signal.nth(n);
        let stopped = load.origin.elapsed();
        match signal {
            Signal::Term => stack.terminate_redis().await?,
            _ => stack.kill_redis().await?,
        }
        stack.start_redis().await?;
        let answered = load.origin.elapsed();
        let until = Instant::now() + s.settle;
        let recovered = loop {
            let last = load.last_written();
            if last.iter().all(|&t| t > answered) {
                break last;
            }
            if Instant::now() >= until {
                bail!(
                    "restart {}: {} of {} locations had no 201 within {:?} of Redis answering",
                    n + 1,
                    last.iter().filter(|&&t| t <= answered).count(),
                    last.len(),
                    s.settle
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        // Seen by polling: the report recomputes it exactly from the samples.
        let seen = recovered.iter().max().copied().unwrap_or_default();
        println!(
            "restart {} ({}): Redis answered {} after the signal; every location wrote again \
             within about {}",
            n + 1,
            signal.name(),
            secs(answered - stopped),
            secs(seen.saturating_sub(answered))
        );
        restarts.push(Restart {
            signal,
            stopped,
            answered,
        });
        tokio::time::sleep(s.pause).await;
    }
    Ok(restarts)
}

/// One client on one location: deliveries with unique request ids until told to stop.
async fn client(load: Arc<Load>, location: usize) -> Vec<Sample> {
    let mut samples = Vec::new();
    while !load.stop.load(Ordering::Relaxed) && Instant::now() < load.hard_stop {
        let request_id = format!("redis-restart-{location}-{}", samples.len());
        let sent = load.origin.elapsed();
        let reply = deliver(&load.stack, &load.locations[location], PRODUCT, &request_id).await;
        let done = load.origin.elapsed();
        let status = match reply {
            Ok(reply) => reply.status.to_string(),
            Err(_) => "error".to_owned(),
        };
        if status == "201" {
            load.last_written
                .lock()
                .unwrap_or_else(PoisonError::into_inner)[location] = done;
        } else {
            tokio::time::sleep(PAUSE_AFTER_FAILURE).await;
        }
        samples.push(Sample {
            location,
            sent,
            done,
            status,
        });
    }
    samples
}

/// Locations whose stock differs from the number of 201s they were given (a lost or doubled
/// write); a location with a client-side error (no answer) is not counted, its write may or may
/// not have happened.
async fn check_written(
    stack: &Stack,
    locations: &[String],
    samples: &[Sample],
) -> anyhow::Result<Vec<String>> {
    let mut missing = Vec::new();
    for (l, location) in locations.iter().enumerate() {
        let mine = samples.iter().filter(|x| x.location == l);
        if mine.clone().any(|x| x.status == "error") {
            continue;
        }
        let acknowledged = mine.filter(|x| x.status == "201").count();
        let quantity = stack.quantity(location, PRODUCT).await?;
        if quantity != acknowledged as f64 {
            missing.push(format!(
                "{location}: {quantity} for {acknowledged} acknowledged"
            ));
        }
    }
    Ok(missing)
}

/// Per restart and location: the first 201 completed after Redis answered, if any.
fn firsts<'a>(
    restarts: &[Restart],
    samples: &'a [Sample],
    locations: usize,
) -> Vec<Vec<Option<&'a Sample>>> {
    restarts
        .iter()
        .map(|r| {
            (0..locations)
                .map(|l| {
                    samples
                        .iter()
                        .filter(|x| x.location == l && x.status == "201" && x.done > r.answered)
                        .min_by_key(|x| x.done)
                })
                .collect()
        })
        .collect()
}

fn report(s: &Settings, restarts: &[Restart], samples: &[Sample], missing: Vec<String>) {
    let firsts = firsts(restarts, samples, s.locations as usize);
    let per_location: Vec<Vec<Duration>> = restarts
        .iter()
        .zip(&firsts)
        .map(|(r, f)| {
            f.iter()
                .map(|x| x.map_or(Duration::MAX, |x| x.done - r.answered))
                .collect()
        })
        .collect();
    println!();
    for (n, (r, f)) in restarts.iter().zip(&firsts).enumerate() {
        if let Some(slowest) = f.iter().flatten().max_by_key(|x| x.done) {
            println!(
                "restart {} ({}): slowest location {}: its first 201 after Redis answered was \
                 sent {} after the signal and took {}",
                n + 1,
                r.signal.name(),
                slowest.location,
                signed_secs(slowest.sent, r.stopped),
                secs(slowest.done - slowest.sent)
            );
        }
    }
    let all: Vec<Duration> = per_location.iter().flatten().copied().collect();
    let worst: Vec<Duration> = per_location
        .iter()
        .map(|r| r.iter().max().copied().unwrap_or_default())
        .collect();
    let down: Vec<Duration> = restarts.iter().map(|r| r.answered - r.stopped).collect();
    let (all, worst, down) = (Spread::of(&all), Spread::of(&worst), Spread::of(&down));
    let mut outcomes: BTreeMap<&str, usize> = BTreeMap::new();
    for sample in samples {
        *outcomes.entry(sample.status.as_str()).or_default() += 1;
    }
    let unexpected = samples
        .iter()
        .filter(|x| x.status != "201" && x.status != "503")
        .count();
    let pass = all.p99 <= RECOVERY_TARGET && unexpected == 0 && missing.is_empty();
    let outcome_text: Vec<String> = outcomes.iter().map(|(k, v)| format!("{k}={v}")).collect();
    println!(
        "requests sent: {} ({}); stock differs from the 201s at {} locations{}",
        samples.len(),
        outcome_text.join(" "),
        missing.len(),
        if missing.is_empty() {
            String::new()
        } else {
            format!(": {}", missing.join("; "))
        }
    );
    for kind in [Signal::Kill, Signal::Term] {
        let mine: Vec<Duration> = restarts
            .iter()
            .zip(&per_location)
            .filter(|(r, _)| r.signal == kind)
            .flat_map(|(_, l)| l.iter().copied())
            .collect();
        if !mine.is_empty() {
            let spread = Spread::of(&mine);
            println!(
                "{}: {} location recoveries: p50 {} p99 {} max {}",
                kind.name(),
                spread.n,
                millis(spread.p50),
                millis(spread.p99),
                millis(spread.max)
            );
        }
    }
    println!(
        "Redis answering to a 201 at each location: p50 {} p99 {} max {} (target p99 <= {}; \
         every answer 201 or 503; stock matches the 201s) -> {}",
        millis(all.p50),
        millis(all.p99),
        millis(all.max),
        millis(RECOVERY_TARGET),
        verdict(pass)
    );
    println!();
    println!(
        "| signal | restarts | Redis down p50 | to a 201 at each location p50 / p99 / max | \
         slowest location per restart p50 / max | not 201 | target | result |"
    );
    println!("|---|---:|---:|---|---|---:|---|---|");
    println!(
        "| {} | {} | {} | {} / {} / {} | {} / {} | {} | p99 ≤ {} | {} |",
        s.signal.name(),
        restarts.len(),
        millis(down.p50),
        millis(all.p50),
        millis(all.p99),
        millis(all.max),
        millis(worst.p50),
        millis(worst.max),
        samples.iter().filter(|x| x.status != "201").count(),
        millis(RECOVERY_TARGET),
        verdict(pass)
    );
}

/// `a - b` in seconds with its sign: `+0.31 s`, `-0.02 s`.
fn signed_secs(a: Duration, b: Duration) -> String {
    format!("{:+.2} s", a.as_secs_f64() - b.as_secs_f64())
}
