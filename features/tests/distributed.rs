//! Failure tests of the distributed Stock API: a real `redis-server`, real `actor-worker` and
//! `http-fn` processes, killed, paused and fenced off (docs/architecture.md §10, §5, §7, §15).
//!
//! Needs the debug binaries (`cargo build --bins`) and `redis-server` on `PATH`. Under `cargo test`
//! the tests of this file run one at a time: each starts several processes of its own, and a small
//! machine has few cores (nextest runs them in separate processes, which they also survive).

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail, ensure};
use features::stack::{
    HttpReply, Stack, StackConfig, delivery, eventually, location_in_shard, segment,
};
use futures::future::join_all;
use serde_json::{Value, json};
use shared::shard::shard_of;
use shared::store::redis::keys;

/// One test of this process at a time (see the module comment).
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Longest wait for a takeover, a credit or a drained stream.
const SETTLE: Duration = Duration::from_secs(15);
/// A lease token no worker holds, with an expiry far beyond any test.
const FOREIGN_TOKEN: &str = "intruder/999999/fenced";
const FOREIGN_TTL_MS: u64 = 120_000;

// ---------------------------------------------------------------- request bodies and calls

fn movement(request_id: &str, destination: &str, quantity: f64) -> Value {
    json!({
        "requestId": request_id, "destinationLocationId": destination, "quantity": quantity,
        "reason": "replenishment", "movedAt": "2024-12-26T16:00:00",
    })
}

async fn move_stock(
    stack: &Stack,
    source: &str,
    product: &str,
    body: &Value,
) -> anyhow::Result<HttpReply> {
    let path = format!(
        "/locations/{}/{}/movements",
        segment(source),
        segment(product)
    );
    stack.post(&path, body).await
}

fn expect_status(reply: &HttpReply, status: u16, what: &str) -> anyhow::Result<()> {
    ensure!(
        reply.status == status,
        "{what}: expected {status}, got {} {}",
        reply.status,
        reply.body
    );
    Ok(())
}

// ---------------------------------------------------------------- Redis fault injection

/// Replaces a shard's lease with a token no worker holds: nobody can commit on that shard.
async fn steal_lease(stack: &Stack, shard: u32) -> anyhow::Result<()> {
    let mut redis = stack.redis().await?;
    redis::cmd("SET")
        .arg(keys::lease(shard))
        .arg(FOREIGN_TOKEN)
        .arg("PX")
        .arg(FOREIGN_TTL_MS)
        .query_async::<()>(&mut redis)
        .await?;
    Ok(())
}

async fn free_lease(stack: &Stack, shard: u32) -> anyhow::Result<()> {
    let mut redis = stack.redis().await?;
    redis::cmd("DEL")
        .arg(keys::lease(shard))
        .query_async::<()>(&mut redis)
        .await?;
    Ok(())
}

/// Stream entry ids of a shard's command stream whose command is a `CreditMove`.
async fn credit_entries(stack: &Stack, shard: u32) -> anyhow::Result<Vec<String>> {
    let mut redis = stack.redis().await?;
    let entries: Vec<(String, Vec<(String, String)>)> = redis::cmd("XRANGE")
        .arg(keys::commands(shard))
        .arg("-")
        .arg("+")
        .query_async(&mut redis)
        .await?;
    Ok(entries
        .into_iter()
        .filter(|(_, fields)| {
            fields.iter().any(|(name, value)| {
                name == "c"
                    && serde_json::from_str::<Value>(value)
                        .is_ok_and(|v| v["command"]["type"] == "CreditMove")
            })
        })
        .map(|(id, _)| id)
        .collect())
}

async fn delete_entries(stack: &Stack, shard: u32, ids: &[String]) -> anyhow::Result<usize> {
    let mut redis = stack.redis().await?;
    let deleted: usize = redis::cmd("XDEL")
        .arg(keys::commands(shard))
        .arg(ids)
        .query_async(&mut redis)
        .await?;
    Ok(deleted)
}

/// Waits until every command stream is consumed (commits trim them) and no credit awaits an
/// acknowledgement: nothing is left to apply anywhere.
async fn wait_drained(stack: &Stack) -> anyhow::Result<()> {
    let shards = stack.config().shards;
    eventually(
        "every stream consumed and every outbox empty",
        SETTLE,
        || async {
            let mut pipe = redis::pipe();
            for shard in 0..shards {
                pipe.cmd("XLEN").arg(keys::commands(shard));
                pipe.cmd("HLEN").arg(keys::outbox(shard));
            }
            let lengths: Vec<u64> = pipe.query_async(&mut stack.redis().await?).await?;
            Ok(lengths.iter().all(|n| *n == 0).then_some(()))
        },
    )
    .await
}

/// Shards a worker stopped on its own because it missed its lease renewals (a counter: once
/// made, a stop stays counted).
const RENEWALS_MISSED: &str = r#"stock_lease_self_stops_total{reason="renewals_missed"}"#;

/// Waits until worker `index` reports holding `count` leases: a state that lasts, not one passed
/// through (the leases held after a take-over by another worker, say).
async fn wait_leases_held(stack: &Stack, index: usize, count: u32) -> anyhow::Result<()> {
    let what = format!("worker #{index} holding {count} leases");
    eventually(&what, SETTLE, || async {
        let held = stack.worker_metric(index, "stock_leases_held").await?;
        Ok((held == f64::from(count)).then_some(()))
    })
    .await
}

// ---------------------------------------------------------------- 1. leases and fencing

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_or_fenced_off_worker_commits_nothing_and_every_write_lands_once() {
    let _serial = SERIAL.lock().await;
    let shards = 16;
    let locations: Vec<String> = (0..shards)
        .map(|s| location_in_shard("L", s, shards))
        .collect();
    let config = StackConfig {
        shards,
        workers: 2,
        command_timeout: Duration::from_secs(4),
        locations: locations.clone(),
        ..StackConfig::default()
    };
    let stack = Stack::start("leases-and-fencing", config).await.unwrap();
    stack
        .run(async |stack| {
            // Each shard is leased by exactly one of the two workers, and no hand-off is under
            // way: a shard being handed off when its owner is paused stops for that reason.
            wait_halves(stack).await?;
            eventually("the two workers' leases to add up", SETTLE, || async {
                let a = stack.worker_metric(0, "stock_leases_held").await?;
                let b = stack.worker_metric(1, "stock_leases_held").await?;
                Ok((a + b == f64::from(shards)).then_some(()))
            })
            .await?;
            write_everywhere(stack, &locations, "before", 1.0).await?;

            // Pause the owner of shard 0 past its lease; the other takes its shards over.
            let owner = stack.lease_owners().await?[0]
                .clone()
                .context("shard 0 unowned")?;
            let (a, b) = if owner == "w1" { (0, 1) } else { (1, 0) };
            let lost = stack.shards_of(&owner).await?;
            let a_commits = stack
                .worker_metric(a, "stock_commit_batch_size_count")
                .await?;
            ensure!(a_commits > 0.0, "the owner of shard 0 reports no commit");
            let a_stops = stack.worker_metric(a, RENEWALS_MISSED).await?;
            stack.pause_worker(a).await?;
            let b_id = stack.worker_id(b).await?;
            let b_only = [b_id.as_str()];
            // Writes sent while A is frozen: those for A's shards reach A's blocked reads too.
            let (written, taken) = tokio::join!(
                write_everywhere(stack, &locations, "paused", 2.0),
                stack.wait_all_owned_by(&b_only, SETTLE),
            );
            written?;
            taken?;
            stack.resume_worker(a).await?;
            // The resumed worker stops every shard it held on its own. Its count of such stops
            // stays put once made, unlike the leases it holds: it rejoins the balance at once
            // and may take shards back under new leases within milliseconds.
            let what = format!("the resumed worker to stop its {} shards", lost.len());
            eventually(&what, SETTLE, || async {
                let stops = stack.worker_metric(a, RENEWALS_MISSED).await? - a_stops;
                Ok((stops >= lost.len() as f64).then_some(()))
            })
            .await?;
            // Read before any new write: shards taken back under new leases may commit
            // legitimately.
            let a_commits_after = stack
                .worker_metric(a, "stock_commit_batch_size_count")
                .await?;
            write_everywhere(stack, &locations, "resumed", 4.0).await?;

            // One line per round of shards stopped, with their count: the sum covers them all.
            let a_log = stack.worker_log(a).await?;
            let stopped: u64 = a_log
                .lines()
                .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                .filter(|line| line["message"] == "stopped its shards: lease renewals missed")
                .filter_map(|line| line["count"].as_u64())
                .sum();
            ensure!(
                stopped >= lost.len() as u64,
                "the resumed worker said it stopped {stopped} shards, had {}",
                lost.len()
            );
            ensure!(
                a_log.contains("worker paused"),
                "the resumed worker did not say it was paused"
            );
            ensure!(
                a_commits_after == a_commits,
                "the resumed worker committed {} batches after losing its leases",
                a_commits_after - a_commits
            );
            for location in &locations {
                let quantity = stack.quantity(location, "p").await?;
                ensure!(quantity == 7.0, "{location}: {quantity}, expected 7.0");
            }

            // A stale token: the lease taken from under its holder while it still believes it
            // holds it. The resumed worker takes shards back one hand-off at a time: the holder
            // is only known for sure once the two hold half each, which then lasts.
            wait_halves(stack).await?;
            let shard = shard_of(&locations[0], shards);
            let holder = stack.lease_owners().await?[shard as usize]
                .clone()
                .context("the shard unowned")?;
            let h = if holder == "w1" { 0 } else { 1 };
            let fenced_before = stack
                .worker_metric(h, "stock_fenced_rejections_total")
                .await?;
            let lost_before = stack.worker_log(h).await?.matches("lease lost").count();
            steal_lease(stack, shard).await?;
            let body = delivery("fenced-1", &[("p", 8.0)]);
            let fenced = stack.deliver(&locations[0], &body).await?;
            expect_status(&fenced, 503, "a write on a fenced-off shard")?;
            let fenced_after = stack
                .worker_metric(h, "stock_fenced_rejections_total")
                .await?;
            let lost_after = stack.worker_log(h).await?.matches("lease lost").count();
            ensure!(
                fenced_after > fenced_before || lost_after > lost_before,
                "the holder neither had a commit fenced off nor noticed the lease loss"
            );
            eprintln!(
                "fenced commits rejected by Redis: {}",
                fenced_after - fenced_before
            );
            ensure!(
                stack.quantity(&locations[0], "p").await? == 7.0,
                "a fenced write landed"
            );

            // Once the lease is free again, a worker carries on and the write can be sent again.
            free_lease(stack, shard).await?;
            stack.wait_all_owned_by(&["w1", "w2"], SETTLE).await?;
            let again = stack.deliver(&locations[0], &body).await?;
            expect_status(&again, 201, "the fenced write sent again")?;
            ensure!(stack.quantity(&locations[0], "p").await? == 15.0);
            Ok(())
        })
        .await;
}

/// Waits until `w1` and `w2` hold half the shards each: the balance of two workers, which then
/// lasts (no hand-off under way, none to come).
async fn wait_halves(stack: &Stack) -> anyhow::Result<()> {
    let half = stack.config().shards as usize / 2;
    let holds_half = |owners: &[Option<String>], id: &str| {
        owners.iter().filter(|o| o.as_deref() == Some(id)).count() == half
    };
    eventually(
        "the two workers holding half the shards each",
        SETTLE,
        || async {
            let owners = stack.lease_owners().await?;
            Ok((holds_half(&owners, "w1") && holds_half(&owners, "w2")).then_some(()))
        },
    )
    .await
}

/// One single-line delivery of `quantity` of `p` at every location, all at once; all 201.
async fn write_everywhere(
    stack: &Stack,
    locations: &[String],
    tag: &str,
    quantity: f64,
) -> anyhow::Result<()> {
    let writes = locations.iter().map(|location| async move {
        let body = delivery(&format!("{tag}-{location}"), &[("p", quantity)]);
        let reply = stack.deliver(location, &body).await?;
        expect_status(&reply, 201, &format!("{tag} delivery at {location}"))
    });
    join_all(writes).await.into_iter().collect()
}

// ---------------------------------------------------------------- graceful hand-over

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_with_sigterm_hands_its_shards_over_without_failing_a_request() {
    let _serial = SERIAL.lock().await;
    let shards = 8;
    let locations: Vec<String> = (0..shards)
        .map(|s| location_in_shard("T", s, shards))
        .collect();
    // Far longer than the command timeout: only a released lease lets the successor in soon
    // enough for every write to be answered 201.
    let config = StackConfig {
        shards,
        workers: 2,
        lease_ttl: Duration::from_secs(6),
        command_timeout: Duration::from_secs(4),
        locations: locations.clone(),
        ..StackConfig::default()
    };
    let stack = Stack::start("sigterm-handover", config).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1", "w2"], SETTLE).await?;
            let owner = stack.lease_owners().await?[0]
                .clone()
                .context("shard 0 unowned")?;
            let (a, b) = if owner == "w1" { (0, 1) } else { (1, 0) };
            let created = AtomicUsize::new(0);
            let rounds = 6;
            let writer = async {
                for round in 0..rounds {
                    let writes = locations.iter().map(|location| {
                        let created = &created;
                        async move {
                            let body = delivery(&format!("t{round}-{location}"), &[("p", 1.0)]);
                            let reply = stack.deliver(location, &body).await?;
                            expect_status(&reply, 201, &format!("round {round} at {location}"))?;
                            created.fetch_add(1, Ordering::Relaxed);
                            anyhow::Ok(())
                        }
                    });
                    join_all(writes)
                        .await
                        .into_iter()
                        .collect::<anyhow::Result<()>>()?;
                }
                anyhow::Ok(())
            };
            let stopper = async {
                eventually("the first writes to be answered", SETTLE, || async {
                    Ok((created.load(Ordering::Relaxed) >= locations.len()).then_some(()))
                })
                .await?;
                stack.stop_worker(a).await
            };
            let (written, stopped) = tokio::join!(writer, stopper);
            stopped?;
            written?;
            ensure!(
                stack.worker_log(a).await?.contains("lease released"),
                "no lease released"
            );
            let b_id = stack.worker_id(b).await?;
            stack.wait_all_owned_by(&[b_id.as_str()], SETTLE).await?;
            for location in &locations {
                let quantity = stack.quantity(location, "p").await?;
                ensure!(quantity == f64::from(rounds), "{location}: {quantity}");
            }
            Ok(())
        })
        .await;
}

// ---------------------------------------------------------------- 2. the deadline

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_nobody_commits_in_time_gets_503_and_is_never_applied_later() {
    let _serial = SERIAL.lock().await;
    let config = StackConfig {
        workers: 0,
        locations: vec!["Store".to_owned()],
        ..StackConfig::default()
    };
    let timeout = config.command_timeout;
    let stack = Stack::start("deadline", config).await.unwrap();
    stack
        .run(async |stack| {
            let started = Instant::now();
            let late = stack
                .deliver("Store", &delivery("late-1", &[("p", 5.0)]))
                .await?;
            let elapsed = started.elapsed();
            expect_status(&late, 503, "a write with no worker")?;
            ensure!(
                late.json() == json!({"status": "ServiceUnavailable"}),
                "{}",
                late.body
            );
            ensure!(late.retry_after.is_some(), "503 without Retry-After");
            ensure!(
                elapsed >= timeout && elapsed < timeout + Duration::from_secs(4),
                "503 after {elapsed:?}, command timeout {timeout:?}"
            );

            // A worker arrives and works through the stream, the expired command included.
            stack.start_worker("w1").await?;
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            let next = stack
                .deliver("Store", &delivery("late-2", &[("p", 3.0)]))
                .await?;
            expect_status(&next, 201, "a write once a worker runs")?;
            ensure!(
                stack.quantity("Store", "p").await? == 3.0,
                "the 503 write was applied"
            );

            // Its requestId was never recorded: other content is a new write, not a 409.
            let reused = stack
                .deliver("Store", &delivery("late-1", &[("p", 9.0)]))
                .await?;
            expect_status(&reused, 201, "the 503 write's requestId with other content")?;
            ensure!(stack.quantity("Store", "p").await? == 12.0);
            Ok(())
        })
        .await;
}

// ---------------------------------------------------------------- 3. batch atomicity

const DELIVERIES: usize = 64;
const SENDERS: usize = 8;
const OWN_LINES: usize = 4;
/// Deliveries numbered from these on wait for the first and the second kill.
const HOLD: [usize; 2] = [2 * SENDERS, 5 * SENDERS];

/// Delivery `d`: four lines of its own products (1, 2, 3, 4 units) and one line of the shared
/// product `common` (`d + 1` units).
fn batch_delivery(d: usize) -> Value {
    let own: Vec<(String, f64)> = (0..OWN_LINES)
        .map(|k| (format!("d{d}-p{k}"), (k + 1) as f64))
        .collect();
    let mut lines: Vec<(&str, f64)> = own.iter().map(|(p, q)| (p.as_str(), *q)).collect();
    lines.push(("common", (d + 1) as f64));
    delivery(&format!("batch-{d}"), &lines)
}

/// How many of delivery `d`'s own lines are applied (0 or all of them, if atomic).
async fn lines_applied(stack: &Stack, location: &str, d: usize) -> anyhow::Result<usize> {
    let mut applied = 0;
    for k in 0..OWN_LINES {
        let quantity = stack.quantity(location, &format!("d{d}-p{k}")).await?;
        if quantity == (k + 1) as f64 {
            applied += 1;
        } else if quantity != 0.0 {
            bail!("delivery {d} line {k}: quantity {quantity}");
        }
    }
    Ok(applied)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multi_line_deliveries_are_all_or_nothing_when_the_worker_is_killed_mid_stream() {
    let _serial = SERIAL.lock().await;
    let shards = 16;
    let locations: Vec<String> = (0..4)
        .map(|s| location_in_shard("B", s * 4, shards))
        .collect();
    let config = StackConfig {
        shards,
        command_timeout: Duration::from_secs(3),
        locations: locations.clone(),
        ..StackConfig::default()
    };
    let stack = Stack::start("batch-atomicity", config).await.unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            let location = |d: usize| locations[d % locations.len()].clone();
            let created = AtomicUsize::new(0);
            let unavailable = AtomicUsize::new(0);
            // Deliveries from `HOLD[k]` on wait until the k-th kill has been made, so that both
            // kills land mid-stream however fast the tier drains its streams.
            let (kills, kills_seen) = tokio::sync::watch::channel(0usize);
            let senders = (0..SENDERS).map(|s| {
                let (created, unavailable, location) = (&created, &unavailable, &location);
                let mut kills_seen = kills_seen.clone();
                async move {
                    let mut statuses = Vec::new();
                    for d in (s..DELIVERIES).step_by(SENDERS) {
                        let phase = HOLD.iter().filter(|from| d >= **from).count();
                        kills_seen.wait_for(|made| *made >= phase).await?;
                        let reply = stack.deliver(&location(d), &batch_delivery(d)).await?;
                        match reply.status {
                            201 => created.fetch_add(1, Ordering::Relaxed),
                            503 => unavailable.fetch_add(1, Ordering::Relaxed),
                            _ => 0,
                        };
                        statuses.push((d, reply));
                    }
                    anyhow::Ok(statuses)
                }
            });
            let answered = |n: usize| {
                let created = &created;
                async move {
                    let what = format!("{n} deliveries answered 201");
                    eventually(&what, SETTLE, || async {
                        Ok((created.load(Ordering::Relaxed) >= n).then_some(()))
                    })
                    .await
                }
            };
            // First kill: the successor starts at once and takes over within the deadline of the
            // writes in flight. Second kill: it starts only once a write has been answered 503.
            let killer = async {
                // Owned by the killer: if it fails, held senders stop waiting instead of hanging.
                let kills = kills;
                answered(SENDERS).await?;
                stack.kill_worker(0).await?;
                let first = created.load(Ordering::Relaxed);
                kills.send_replace(1);
                stack.start_worker("w2").await?;
                answered(first + 2 * SENDERS).await?;
                stack.kill_worker(1).await?;
                let second = created.load(Ordering::Relaxed);
                kills.send_replace(2);
                eventually("a delivery answered 503", SETTLE, || async {
                    Ok((unavailable.load(Ordering::Relaxed) > 0).then_some(()))
                })
                .await?;
                stack.start_worker("w3").await?;
                anyhow::Ok((first, second))
            };
            let (sent, killed_after) = tokio::join!(join_all(senders), killer);
            let (first, second) = killed_after?;
            let mut replies = Vec::new();
            for statuses in sent {
                replies.extend(statuses?);
            }
            replies.sort_by_key(|(d, _)| *d);
            let answered_201 = replies.iter().filter(|(_, r)| r.status == 201).count();
            eprintln!(
                "workers killed after {first} and {second} deliveries; \
             {answered_201}/{DELIVERIES} answered 201"
            );
            ensure!(
                second < DELIVERIES,
                "the second kill came after the last delivery"
            );
            stack.wait_all_owned_by(&["w3"], SETTLE).await?;
            wait_drained(stack).await?;

            // Every delivery is entirely applied or not at all; 201 means applied, 503 means not.
            let mut applied_common = vec![0.0; locations.len()];
            for (d, reply) in &replies {
                let applied = lines_applied(stack, &location(*d), *d).await?;
                ensure!(
                    applied == 0 || applied == OWN_LINES,
                    "delivery {d} is partly applied: {applied} of {OWN_LINES} lines"
                );
                match reply.status {
                    201 => ensure!(
                        applied == OWN_LINES,
                        "delivery {d} answered 201, not applied"
                    ),
                    503 => ensure!(applied == 0, "delivery {d} answered 503, yet applied"),
                    other => bail!("delivery {d}: unexpected {other} {}", reply.body),
                }
                if applied == OWN_LINES {
                    applied_common[d % locations.len()] += (d + 1) as f64;
                }
            }
            check_common(stack, &locations, &applied_common).await?;

            // Sent again, every delivery ends 201, and the totals are exactly the sum.
            let mut expected_common = vec![0.0; locations.len()];
            for (d, first) in &replies {
                let again = stack.deliver(&location(*d), &batch_delivery(*d)).await?;
                expect_status(&again, 201, &format!("delivery {d} sent again"))?;
                if first.status == 201 {
                    ensure!(
                        again.body == first.body,
                        "delivery {d}: replay body differs"
                    );
                }
                ensure!(lines_applied(stack, &location(*d), *d).await? == OWN_LINES);
                expected_common[d % locations.len()] += (d + 1) as f64;
            }
            check_common(stack, &locations, &expected_common).await
        })
        .await;
}

async fn check_common(stack: &Stack, locations: &[String], expected: &[f64]) -> anyhow::Result<()> {
    for (location, expected) in locations.iter().zip(expected) {
        let quantity = stack.quantity(location, "common").await?;
        ensure!(
            quantity == *expected,
            "{location}: common {quantity}, expected {expected}"
        );
    }
    Ok(())
}

// ---------------------------------------------------------------- 4. cross-shard moves

/// A source and a destination in different shards, and the product moved.
struct MovePair {
    source: String,
    destination: String,
    source_shard: u32,
    destination_shard: u32,
}

fn move_pair(shards: u32) -> MovePair {
    let (source_shard, destination_shard) = (1, 2);
    MovePair {
        source: location_in_shard("Src", source_shard, shards),
        destination: location_in_shard("Dst", destination_shard, shards),
        source_shard,
        destination_shard,
    }
}

fn move_config(pair: &MovePair, reply_channel: &str) -> StackConfig {
    StackConfig {
        locations: vec![pair.source.clone(), pair.destination.clone()],
        reply_channel: reply_channel.to_owned(),
        ..StackConfig::default()
    }
}

/// Stocks the source, fences the destination shard off for everybody and sends the move:
/// the source commits, the credit cannot land, the client gets 202. Returns the 202 reply.
async fn move_into_a_fenced_shard(stack: &Stack, pair: &MovePair) -> anyhow::Result<HttpReply> {
    let stocked = stack
        .deliver(&pair.source, &delivery("stock-1", &[("P", 100.0)]))
        .await?;
    expect_status(&stocked, 201, "stocking the source")?;
    steal_lease(stack, pair.destination_shard).await?;
    wait_leases_held(stack, 0, stack.config().shards - 1).await?;
    let body = movement("move-1", &pair.destination, 10.0);
    let accepted = move_stock(stack, &pair.source, "P", &body).await?;
    expect_status(&accepted, 202, "a move whose destination is fenced off")?;
    let echo = json!({
        "requestId": "move-1", "sourceLocationId": pair.source,
        "destinationLocationId": pair.destination, "productId": "P", "quantity": 10.0,
        "reason": "replenishment", "movedAt": "2024-12-26T16:00:00",
    });
    ensure!(accepted.json() == echo, "202 body: {}", accepted.body);
    ensure!(
        stack.quantity(&pair.source, "P").await? == 90.0,
        "source not debited"
    );
    ensure!(
        stack.quantity(&pair.destination, "P").await? == 0.0,
        "credit landed"
    );
    Ok(accepted)
}

/// Waits for the credit to land and be acknowledged, then checks both sides and the replay.
async fn check_move_completed(
    stack: &Stack,
    pair: &MovePair,
    accepted: &HttpReply,
) -> anyhow::Result<()> {
    eventually("the destination credited", SETTLE, || async {
        Ok((stack.quantity(&pair.destination, "P").await? != 0.0).then_some(()))
    })
    .await?;
    wait_drained(stack).await?;
    let destination = stack.quantity(&pair.destination, "P").await?;
    ensure!(
        destination == 10.0,
        "destination {destination}, expected 10.0"
    );
    let source = stack.quantity(&pair.source, "P").await?;
    ensure!(source == 90.0, "source {source}, expected 90.0");
    let body = movement("move-1", &pair.destination, 10.0);
    let replay = move_stock(stack, &pair.source, "P", &body).await?;
    expect_status(&replay, 201, "the move replayed once credited")?;
    ensure!(replay.body == accepted.body, "replay body {}", replay.body);
    Ok(())
}

/// The source's owner is killed after its commit; its successor re-sends the credit from the
/// outbox. With `lose_credit` the credit never reached the destination stream (deleted there);
/// without, it is there too and the destination sees it twice.
async fn a_move_survives_the_death_of_its_source_worker(test: &str, lose_credit: bool) {
    let _serial = SERIAL.lock().await;
    let pair = move_pair(StackConfig::default().shards);
    assert_ne!(pair.source_shard, pair.destination_shard);
    let stack = Stack::start(test, move_config(&pair, "stream"))
        .await
        .unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            let accepted = move_into_a_fenced_shard(stack, &pair).await?;
            let in_transit = move_stock(
                stack,
                &pair.source,
                "P",
                &movement("move-1", &pair.destination, 10.0),
            )
            .await?;
            expect_status(&in_transit, 202, "the move replayed while in transit")?;

            stack.kill_worker(0).await?;
            let credits = credit_entries(stack, pair.destination_shard).await?;
            ensure!(!credits.is_empty(), "no credit in the destination stream");
            if lose_credit {
                let deleted = delete_entries(stack, pair.destination_shard, &credits).await?;
                ensure!(
                    deleted == credits.len(),
                    "deleted {deleted} of {}",
                    credits.len()
                );
            }
            free_lease(stack, pair.destination_shard).await?;
            stack.start_worker("w2").await?;
            stack.wait_all_owned_by(&["w2"], SETTLE).await?;
            check_move_completed(stack, &pair, &accepted).await
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_lost_with_its_source_worker_is_resent_from_the_outbox_and_lands_once() {
    a_move_survives_the_death_of_its_source_worker("move-credit-lost", true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credit_sent_twice_after_the_source_worker_dies_lands_once() {
    a_move_survives_the_death_of_its_source_worker("move-credit-twice", false).await;
}

// ---------------------------------------------------------------- 5. reply channels

async fn round_trips_over(reply_channel: &str) {
    let _serial = SERIAL.lock().await;
    let pair = move_pair(StackConfig::default().shards);
    let test = format!("reply-channel-{reply_channel}");
    let stack = Stack::start(&test, move_config(&pair, reply_channel))
        .await
        .unwrap();
    stack
        .run(async |stack| {
            stack.wait_all_owned_by(&["w1"], SETTLE).await?;
            let first = delivery("first", &[("Q", 20.0)]);
            let delivered = stack.deliver(&pair.source, &first).await?;
            expect_status(&delivered, 201, "a delivery")?;
            ensure!(stack.quantity(&pair.source, "Q").await? == 20.0);
            let replay = stack.deliver(&pair.source, &first).await?;
            expect_status(&replay, 201, "a delivery replayed")?;
            ensure!(replay.body == delivered.body, "replay body {}", replay.body);

            // A cross-shard move confirmed in time: one provisional and one final reply.
            let direct = movement("move-0", &pair.destination, 5.0);
            let moved = move_stock(stack, &pair.source, "Q", &direct).await?;
            expect_status(&moved, 201, "a cross-shard move")?;
            ensure!(stack.quantity(&pair.destination, "Q").await? == 5.0);

            // 202 while the destination is fenced off, 201 once it is free again.
            let accepted = move_into_a_fenced_shard(stack, &pair).await?;
            free_lease(stack, pair.destination_shard).await?;
            check_move_completed(stack, &pair, &accepted).await
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reads_and_moves_round_trip_over_the_reply_stream() {
    round_trips_over("stream").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_reads_and_moves_round_trip_over_per_request_reply_keys() {
    round_trips_over("key").await;
}
