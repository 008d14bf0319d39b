//! Reliability measurements of the distributed Stock API against its failure contract
//! (docs/architecture.md §15): failover after SIGKILL, rolling restarts under load, shard churn when a
//! worker joins or leaves, scale from zero, and recovery after a Redis restart. Figures and
//! commands: `docs/RELIABILITY.md`.
//!
//! Every scenario runs its own local stack (`features::stack`: `redis-server`, one `http-fn`,
//! `actor-worker`s) from the **debug** binaries, on 127.0.0.1 only, so build them first:
//!
//! ```text
//! cargo build -p http-fn -p actor-worker
//! cargo run -p features --release --bin reliability -- failover --kills 20 --ttl 3s
//! cargo run -p features --release --bin reliability -- rolling-restart
//! cargo run -p features --release --bin reliability -- churn
//! cargo run -p features --release --bin reliability -- scale-from-zero --repeat 5
//! cargo run -p features --release --bin reliability -- redis-restart --restarts 10
//! ```
//!
//! Each prints a short summary and a Markdown table ready to paste. Every loop is bounded in
//! count and time; process logs stay under `target/stack-logs/reliability-<scenario>/`.

#[path = "reliability/churn.rs"]
mod churn;
#[path = "reliability/failover.rs"]
mod failover;
#[path = "reliability/flags.rs"]
mod flags;
#[path = "reliability/measure.rs"]
mod measure;
#[path = "reliability/redis_restart.rs"]
mod redis_restart;
#[path = "reliability/rolling.rs"]
mod rolling;
#[path = "reliability/tier.rs"]
mod tier;
#[path = "reliability/zero.rs"]
mod zero;

use anyhow::bail;

use crate::flags::Flags;

const USAGE: &str = "usage: reliability <scenario> [--option value ...]
scenarios:
  failover         [--kills 20] [--ttl 3s] [--workers 3] [--shards 32] [--timeout TTL+5s]
                   [--seed N] [--stable TTL] [--settle 60s]
  rolling-restart  [--workers 3] [--shards 256] [--ttl 3s] [--timeout 5s] [--clients 8]
                   [--locations 64] [--baseline 10s] [--quiet 5s] [--max-requests 1000000]
                   [--seed N] [--settle 60s]
  churn            [--workers 3] [--shards 256] [--ttl 3s] [--stable 2*TTL] [--settle 120s]
  scale-from-zero  [--repeat 5] [--shards 256] [--ttl 3s] [--timeout 5s] [--settle 30s]
  redis-restart    [--restarts 10] [--signal both|kill|term] [--workers 2] [--shards 32]
                   [--locations 16] [--ttl 1s] [--timeout 5s] [--pause 3s] [--settle 30s]
Needs the debug binaries: cargo build -p http-fn -p actor-worker";

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    // Everything a scenario started is dropped (and killed) before its error comes back here.
    if let Err(error) = run().await {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

async fn run() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let scenario = args.next().unwrap_or_default();
    let names = match scenario.as_str() {
        "failover" => failover::NAMES,
        "rolling-restart" => rolling::NAMES,
        "churn" => churn::NAMES,
        "scale-from-zero" => zero::NAMES,
        "redis-restart" => redis_restart::NAMES,
        "-h" | "--help" | "help" => {
            println!("{USAGE}");
            return Ok(());
        }
        other => bail!("unknown scenario {other:?}\n{USAGE}"),
    };
    let flags = Flags::parse(args, names)?;
    tier::check_binaries()?;
    println!("{}", machine());
    match scenario.as_str() {
        "failover" => failover::run(&flags).await,
        "rolling-restart" => rolling::run(&flags).await,
        "churn" => churn::run(&flags).await,
        "redis-restart" => redis_restart::run(&flags).await,
        _ => zero::run(&flags).await,
    }
}

/// The date, the core count and the load average: figures on a shared machine need them.
fn machine() -> String {
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{}: {cores} cores, load average {}",
        measure::today(),
        load.join(" ")
    )
}
