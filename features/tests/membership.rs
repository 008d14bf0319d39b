//! Balance of shard ownership among real `actor-worker` processes (docs/architecture.md §10, §15):
//! every worker owns its share, a join moves about the joiner's share only, and a worker stopped
//! with SIGTERM hands its shards to the survivors at once, without a failed request.
//!
//! Needs the debug binaries (`cargo build -p http-fn -p actor-worker`) and `redis-server` on
//! `PATH`. The tests of this file run one at a time: each starts several processes.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use anyhow::ensure;
use features::stack::{Stack, StackConfig, delivery, eventually, location_in_shard};
use tokio::time::Instant;

/// One test of this process at a time (see the module comment).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const SHARDS: u32 = 64;
/// Longest wait for the workers to settle on their shares.
const SETTLE: Duration = Duration::from_secs(60);
/// How long ownership must stay unchanged to count as settled: many supervisor ticks.
const STEADY: Duration = Duration::from_secs(2);

/// Whether every shard is owned by one of `ids` and none of them owns more than
/// `ceil(shards / ids.len())`.
fn balanced(owners: &[Option<String>], ids: &[&str]) -> bool {
    let cap = owners.len().div_ceil(ids.len());
    let all_owned = owners
        .iter()
        .all(|o| o.as_deref().is_some_and(|o| ids.contains(&o)));
    all_owned
        && ids
            .iter()
            .all(|id| owners.iter().filter(|o| o.as_deref() == Some(*id)).count() <= cap)
}

/// Waits until ownership is balanced among `ids` and has not changed for [`STEADY`]; returns
/// the owner of each shard then.
async fn settled(stack: &Stack, ids: &[&str]) -> anyhow::Result<Vec<String>> {
    // The balanced ownership last seen and since when it has not changed.
    let last: Mutex<Option<(Vec<Option<String>>, Instant)>> = Mutex::new(None);
    let what = format!("shards balanced among {ids:?} and steady");
    eventually(&what, SETTLE, || async {
        let owners = stack.lease_owners().await?;
        let now = Instant::now();
        let mut last = last.lock().unwrap_or_else(PoisonError::into_inner);
        if !balanced(&owners, ids) {
            *last = None;
            return Ok(None);
        }
        let since = match last.take() {
            Some((seen, since)) if seen == owners => since,
            _ => now,
        };
        if now.duration_since(since) >= STEADY {
            return Ok(Some(owners.into_iter().flatten().collect()));
        }
        *last = Some((owners, since));
        Ok(None)
    })
    .await
}

fn count(owners: &[String], id: &str) -> usize {
    owners.iter().filter(|o| *o == id).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_the_shards_and_a_join_moves_about_the_joiners_share() {
    let _serial = SERIAL.lock().await;
    let config = StackConfig {
        shards: SHARDS,
        workers: 3,
        ..StackConfig::default()
    };
    let stack = Stack::start("membership-balance", config).await.unwrap();
    stack
        .run(async |stack| {
            let three = settled(stack, &["w1", "w2", "w3"]).await?;
            for id in ["w1", "w2", "w3"] {
                let n = count(&three, id);
                ensure!((1..=22).contains(&n), "{id} owns {n} of 64 shards");
            }
            stack.start_worker("w4").await?;
            let four = settled(stack, &["w1", "w2", "w3", "w4"]).await?;
            for id in ["w1", "w2", "w3", "w4"] {
                let n = count(&four, id);
                ensure!(n == 16, "{id} owns {n} of 64 shards");
            }
            let moved = three.iter().zip(&four).filter(|(a, b)| a != b).count();
            eprintln!("shards that changed owner when w4 joined: {moved} (ideal 16)");
            // Within 10 % of the ideal 64 / 4 = 16.
            ensure!((15..=17).contains(&moved), "{moved} shards moved");
            let handoffs = stack.worker_metric(0, "stock_shard_handoffs_total").await?
                + stack.worker_metric(1, "stock_shard_handoffs_total").await?
                + stack.worker_metric(2, "stock_shard_handoffs_total").await?;
            ensure!(handoffs > 0.0, "no hand-off counted");
            Ok(())
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_hands_its_shards_to_the_survivors_before_its_ttl() {
    let _serial = SERIAL.lock().await;
    let locations: Vec<String> = (0..SHARDS)
        .step_by(4)
        .map(|s| location_in_shard("M", s, SHARDS))
        .collect();
    // Far longer than the command timeout: only released leases let the survivors in soon
    // enough for every write to be answered 201.
    let ttl = Duration::from_secs(10);
    let config = StackConfig {
        shards: SHARDS,
        workers: 3,
        lease_ttl: ttl,
        command_timeout: Duration::from_secs(4),
        locations: locations.clone(),
        ..StackConfig::default()
    };
    let stack = Stack::start("membership-sigterm", config).await.unwrap();
    stack
        .run(async |stack| {
            let three = settled(stack, &["w1", "w2", "w3"]).await?;
            ensure!(count(&three, "w3") > 0, "w3 owns nothing");
            let created = AtomicUsize::new(0);
            let done = AtomicBool::new(false);
            let writer = async {
                let mut failures = Vec::new();
                for round in 0..200 {
                    if done.load(Ordering::Relaxed) {
                        break;
                    }
                    for location in &locations {
                        let body = delivery(&format!("r{round}-{location}"), &[("p", 1.0)]);
                        let reply = stack.deliver(location, &body).await?;
                        if reply.status == 201 {
                            created.fetch_add(1, Ordering::Relaxed);
                        } else {
                            failures.push(format!("{location}: {} {}", reply.status, reply.body));
                        }
                    }
                }
                anyhow::Ok(failures)
            };
            let stopper = async {
                let outcome = async {
                    eventually("the first writes answered", SETTLE, || async {
                        Ok((created.load(Ordering::Relaxed) >= locations.len()).then_some(()))
                    })
                    .await?;
                    let signalled = Instant::now();
                    stack.stop_worker(2).await?;
                    let survivors = ["w1", "w2"];
                    eventually("every shard leased by a survivor", ttl, || async {
                        let owners = stack.lease_owners().await?;
                        let all = owners
                            .iter()
                            .all(|o| o.as_deref().is_some_and(|o| survivors.contains(&o)));
                        Ok(all.then_some(()))
                    })
                    .await?;
                    let taken_within = signalled.elapsed();
                    eprintln!("the survivors held every shard {taken_within:?} after SIGTERM");
                    ensure!(
                        taken_within < ttl,
                        "survivors held every shard only after {taken_within:?}"
                    );
                    // Writes go on a while on the survivors before the writer stops.
                    let after = created.load(Ordering::Relaxed);
                    eventually("writes answered after the take-over", SETTLE, || async {
                        let now = created.load(Ordering::Relaxed);
                        Ok((now >= after + 2 * locations.len()).then_some(()))
                    })
                    .await
                }
                .await;
                done.store(true, Ordering::Relaxed);
                outcome
            };
            let (failures, stopped) = tokio::join!(writer, stopper);
            stopped?;
            let failures = failures?;
            ensure!(failures.is_empty(), "requests failed: {failures:?}");
            ensure!(
                stack.worker_log(2).await?.contains("lease released"),
                "the stopped worker released no lease"
            );
            let total = created.load(Ordering::Relaxed);
            eprintln!("{total} writes answered 201, none failed");
            Ok(())
        })
        .await;
}
