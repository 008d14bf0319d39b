//! `scale-from-zero`: a write waits in its shard's stream while no worker runs; time from the first
//! worker being ready to the write's 201 (docs/architecture.md §14).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, ensure};
use features::stack::{Stack, eventually, location_in_shard};
use shared::shard::shard_of;
use shared::store::redis::keys;
use tokio::time::Instant;

use crate::flags::Flags;
use crate::measure::{Spread, millis, verdict};
use crate::tier::{Ownership, deliver, stack_config};

pub(crate) const NAMES: &[&str] = &["repeat", "shards", "ttl", "timeout", "settle"];

struct Settings {
    repeat: u32,
    shards: u32,
    ttl: Duration,
    timeout: Duration,
    settle: Duration,
}

/// One cold start: from the worker's spawn and from its readiness to the 201.
struct ColdStart {
    from_spawn: Duration,
    from_ready: Duration,
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    let s = Settings {
        repeat: flags.number("repeat", 5)?,
        shards: flags.number("shards", 256)?,
        ttl: flags.duration("ttl", Duration::from_secs(3))?,
        timeout: flags.duration("timeout", Duration::from_secs(5))?,
        settle: flags.duration("settle", Duration::from_secs(30))?,
    };
    // A location in the last shard: a worker that claims free shards in order reaches it last.
    let location = location_in_shard("Z", s.shards - 1, s.shards);
    let config = stack_config(s.shards, 0, s.ttl, s.timeout, vec![location.clone()]);
    println!(
        "scale-from-zero: {} shards, lease TTL {:?}, command timeout {:?}, {} cold starts",
        s.shards, s.ttl, s.timeout, s.repeat
    );
    let stack = Arc::new(Stack::start("reliability-scale-from-zero", config).await?);
    let mut starts = Vec::new();
    for round in 1..=s.repeat {
        let start = cold_start(&stack, &s, &location, round).await?;
        println!(
            "cold start {round}/{}: 201 {} after the worker was ready ({} after its spawn)",
            s.repeat,
            millis(start.from_ready),
            millis(start.from_spawn)
        );
        starts.push(start);
    }
    report(&s, &starts);
    Arc::try_unwrap(stack)
        .ok()
        .context("the stack is still in use")?
        .finish()
        .await
}

/// Sends a write with no worker running, starts one once the command is in the stream, then
/// stops it (SIGTERM) and waits until every lease is given back.
async fn cold_start(
    stack: &Arc<Stack>,
    s: &Settings,
    location: &str,
    round: u32,
) -> anyhow::Result<ColdStart> {
    let stream = keys::commands(shard_of(location, s.shards));
    let queued = stream_length(stack, &stream).await?;
    let write = {
        let (stack, location) = (stack.clone(), location.to_owned());
        tokio::spawn(async move {
            let reply = deliver(&stack, &location, "p", &format!("zero-{round}")).await;
            (reply, Instant::now())
        })
    };
    eventually("the write queued in its stream", s.timeout, || async {
        Ok((stream_length(stack, &stream).await? > queued).then_some(()))
    })
    .await?;
    let spawned = Instant::now();
    let index = stack.start_worker("w1").await?;
    let ready = Instant::now();
    let (reply, answered) = write.await?;
    let reply = reply?;
    ensure!(
        reply.status == 201,
        "cold start {round}: {} {}",
        reply.status,
        reply.body
    );
    stack.stop_worker(index).await?;
    eventually("every lease given back", s.settle, || async {
        Ok(Ownership::read(stack).await?.all_free().then_some(()))
    })
    .await?;
    Ok(ColdStart {
        from_spawn: answered.saturating_duration_since(spawned),
        from_ready: answered.saturating_duration_since(ready),
    })
}

async fn stream_length(stack: &Stack, stream: &str) -> anyhow::Result<u64> {
    let mut redis = stack.redis().await?;
    Ok(redis::cmd("XLEN")
        .arg(stream)
        .query_async(&mut redis)
        .await?)
}

fn report(s: &Settings, starts: &[ColdStart]) {
    let ready = Spread::of(&starts.iter().map(|c| c.from_ready).collect::<Vec<_>>());
    let spawn = Spread::of(&starts.iter().map(|c| c.from_spawn).collect::<Vec<_>>());
    let target = s.ttl / 3;
    let pass = ready.max <= target;
    println!();
    println!(
        "worker ready -> 201: p50 {} max {}; worker spawned -> 201: p50 {} max {}",
        millis(ready.p50),
        millis(ready.max),
        millis(spawn.p50),
        millis(spawn.max)
    );
    println!(
        "target: within one claim interval (TTL/3 = {}) -> {}",
        millis(target),
        verdict(pass)
    );
    println!();
    println!("| cold starts | ready → 201 p50 / max | spawn → 201 p50 / max | target | result |");
    println!("|---:|---|---|---|---|");
    println!(
        "| {} | {} / {} | {} / {} | ≤ {} (TTL/3) | {} |",
        ready.n,
        millis(ready.p50),
        millis(ready.max),
        millis(spawn.p50),
        millis(spawn.max),
        millis(target),
        verdict(pass)
    );
}
