//! `failover`: SIGKILL a shard owner, and time from the kill to the first commit on each of its
//! shards (docs/architecture.md §15: service back within lease TTL + 1 s).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use features::stack::{Stack, location_in_shard};
use shared::shard::ShardId;
use tokio::time::Instant;

use crate::flags::Flags;
use crate::measure::{SplitMix64, Spread, clock_seed, secs, verdict};
use crate::tier::{Balance, Ownership, Roster, deliver, stack_config, wait_stable};

pub(crate) const NAMES: &[&str] = &[
    "kills", "ttl", "workers", "shards", "timeout", "seed", "stable", "settle",
];

struct Settings {
    kills: u32,
    ttl: Duration,
    workers: usize,
    shards: u32,
    timeout: Duration,
    seed: u64,
    stable: Duration,
    settle: Duration,
}

impl Settings {
    fn from(flags: &Flags) -> anyhow::Result<Settings> {
        let ttl = flags.duration("ttl", Duration::from_secs(3))?;
        Ok(Settings {
            kills: flags.number("kills", 20)?,
            ttl,
            workers: flags.number("workers", 3)?,
            shards: flags.number("shards", 32)?,
            timeout: flags.duration("timeout", ttl + Duration::from_secs(5))?,
            seed: flags.number("seed", clock_seed())?,
            stable: flags.duration("stable", ttl)?,
            settle: flags.duration("settle", Duration::from_secs(60))?,
        })
    }
}

/// One kill: how long its shards were without service.
struct Outage {
    first: Duration,
    last: Duration,
    failed: usize,
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    let s = Settings::from(flags)?;
    let locations: Vec<String> = (0..s.shards)
        .map(|shard| location_in_shard("F", shard, s.shards))
        .collect();
    let config = stack_config(s.shards, s.workers, s.ttl, s.timeout, locations.clone());
    println!(
        "failover: {} workers, {} shards, lease TTL {:?}, command timeout {:?}, {} kills, seed {}",
        s.workers, s.shards, s.ttl, s.timeout, s.kills, s.seed
    );
    let stack = Arc::new(Stack::start("reliability-failover", config).await?);
    let mut roster = Roster::started(s.workers);
    let mut balance = Balance::default();
    let mut rng = SplitMix64::new(s.seed);
    let mut outages = Vec::new();
    wait_stable(&stack, &roster.ids(), s.stable, s.settle).await?;
    for kill in 1..=s.kills {
        // A random phase against the lease renewals (every TTL/3).
        let jitter = rng.below(s.ttl.as_millis() as u64 / 3);
        tokio::time::sleep(Duration::from_millis(jitter)).await;
        let ownership = Ownership::read(&stack).await?;
        let holders: Vec<String> = roster
            .ids()
            .into_iter()
            .filter(|id| !ownership.shards_of(id).is_empty())
            .collect();
        ensure!(!holders.is_empty(), "no running worker holds a shard");
        let victim = holders[rng.below(holders.len() as u64) as usize].clone();
        let shards = ownership.shards_of(&victim);
        let outage =
            kill_and_write(&stack, &mut roster, &victim, &shards, &locations, kill).await?;
        println!(
            "kill {kill}/{}: {victim} ({} shards) first shard back {}, last {}{}",
            s.kills,
            shards.len(),
            secs(outage.first),
            secs(outage.last),
            failed_note(outage.failed)
        );
        outages.push(outage);
        roster.start(&stack, &victim).await?;
        balance
            .settle(&stack, &roster, &victim, s.ttl * 3, s.settle)
            .await?;
        wait_stable(&stack, &roster.ids(), s.stable, s.settle).await?;
    }
    report(&s, &outages, balance.observed());
    Arc::try_unwrap(stack)
        .ok()
        .context("the stack is still in use")?
        .finish()
        .await
}

/// Kills `victim`, then at once sends one write to each of its `shards`; each 201's arrival
/// minus the kill instant is that shard's time without service.
async fn kill_and_write(
    stack: &Arc<Stack>,
    roster: &mut Roster,
    victim: &str,
    shards: &[ShardId],
    locations: &[String],
    kill: u32,
) -> anyhow::Result<Outage> {
    let killed_at = Instant::now();
    roster.kill(stack, victim).await?;
    let writes: Vec<_> = shards
        .iter()
        .map(|shard| {
            let stack = stack.clone();
            let location = locations[*shard as usize].clone();
            let request_id = format!("failover-{kill}-{shard}");
            tokio::spawn(async move {
                let reply = deliver(&stack, &location, "p", &request_id).await;
                (reply.map(|r| r.status), killed_at.elapsed())
            })
        })
        .collect();
    let mut back = Vec::new();
    let mut failed = 0;
    for write in writes {
        match write.await? {
            (Ok(201), elapsed) => back.push(elapsed),
            (Ok(status), _) => {
                failed += 1;
                eprintln!("kill {kill}: a write answered {status}");
            }
            (Err(error), _) => {
                failed += 1;
                eprintln!("kill {kill}: a write failed: {error:#}");
            }
        }
    }
    let spread = Spread::of(&back);
    let first = back.iter().min().copied().unwrap_or_default();
    Ok(Outage {
        first,
        last: spread.max,
        failed,
    })
}

fn failed_note(failed: usize) -> String {
    if failed == 0 {
        String::new()
    } else {
        format!(" ({failed} writes not answered 201)")
    }
}

fn report(s: &Settings, outages: &[Outage], balances: Option<bool>) {
    let first = Spread::of(&outages.iter().map(|o| o.first).collect::<Vec<_>>());
    let last = Spread::of(&outages.iter().map(|o| o.last).collect::<Vec<_>>());
    let failed: usize = outages.iter().map(|o| o.failed).sum();
    let target = s.ttl + Duration::from_secs(1);
    let pass = failed == 0 && first.p99 <= target && last.p99 <= target;
    println!();
    println!(
        "first affected shard back: p50 {} p99 {} max {}",
        secs(first.p50),
        secs(first.p99),
        secs(first.max)
    );
    println!(
        "last affected shard back:  p50 {} p99 {} max {}",
        secs(last.p50),
        secs(last.p99),
        secs(last.max)
    );
    println!(
        "writes not answered 201: {failed}; restarted workers got shards back: {}",
        match balances {
            Some(true) => "yes",
            Some(false) => "no",
            None => "not observed",
        }
    );
    println!(
        "target: p99 <= TTL + 1 s = {} -> {}",
        secs(target),
        verdict(pass)
    );
    println!();
    println!(
        "| TTL | kills | seed | first shard p50 / p99 / max | last shard p50 / p99 / max | \
         writes not 201 | target (p99) | result |"
    );
    println!("|---|---:|---:|---|---|---:|---|---|");
    println!(
        "| {:?} | {} | {} | {} / {} / {} | {} / {} / {} | {failed} | ≤ {} | {} |",
        s.ttl,
        outages.len(),
        s.seed,
        secs(first.p50),
        secs(first.p99),
        secs(first.max),
        secs(last.p50),
        secs(last.p99),
        secs(last.max),
        secs(target),
        verdict(pass)
    );
}
