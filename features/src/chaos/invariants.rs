//! The checks at the end of a chaos run, and the resolution phase they need: every request's
//! effect made known, then compared with what the API reads.

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{Context, bail};
use futures::StreamExt;
use futures::stream;
use tokio::time::Instant;

use super::load::{self, Record, Tally};
use crate::stack::{Api, segment};

/// Bound on the wait for the answers of the requests left unanswered by the load.
const RESOLVE_WITHIN: Duration = Duration::from_secs(60);
/// Bound on the wait for the credit of a move answered 202.
const LAND_WITHIN: Duration = Duration::from_secs(30);
const LAND_POLL: Duration = Duration::from_millis(200);
/// Bound on the retries of one stock-level read.
const READ_WITHIN: Duration = Duration::from_secs(15);
/// Requests (or reads) in flight at once in the checking phases.
const PARALLEL: usize = 8;
/// Details printed per invariant; the rest is counted.
const SHOWN: usize = 20;

/// The invariants, by number.
pub const NAMES: [&str; 7] = [
    "no 5xx but 503, every 503 with Retry-After",
    "every request resolved to a final answer",
    "exactly once, nothing half-applied",
    "conservation across moves",
    "every location writable after the faults",
    "every 201 of the run replays unchanged",
    "every fault step went as the failure contract says",
];

/// Broken invariants: `(number, detail)`.
#[derive(Debug, Default)]
pub struct Findings {
    pub items: Vec<(usize, String)>,
}

impl Findings {
    pub fn add(&mut self, invariant: usize, detail: String) {
        self.items.push((invariant, detail));
    }

    /// One line per broken invariant detail (at most [`SHOWN`] each), each naming the seed.
    pub fn render(&self, seed: u64) -> String {
        let mut lines = Vec::new();
        for (n, name) in NAMES.iter().enumerate().map(|(i, name)| (i + 1, name)) {
            let details: Vec<&String> = self
                .items
                .iter()
                .filter(|(i, _)| *i == n)
                .map(|(_, d)| d)
                .collect();
            for detail in details.iter().take(SHOWN) {
                lines.push(format!("[seed {seed}] invariant {n} ({name}): {detail}"));
            }
            if details.len() > SHOWN {
                let more = details.len() - SHOWN;
                lines.push(format!("[seed {seed}] invariant {n}: … and {more} more"));
            }
        }
        lines.join("\n")
    }
}

/// A pot as read through the API.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Pot {
    pub quantity: f64,
    pub pending: f64,
}

impl Pot {
    /// What every sale, delivery and move adds to, whatever the order (`docs/api.md` §14.2: a sale
    /// beyond stock moves the shortfall to `pendingAdjustment`).
    pub fn net(&self) -> f64 {
        self.quantity + self.pending
    }
}

/// Pots keyed by `(location, product)`.
pub type Pots = BTreeMap<(String, String), Pot>;

/// Invariant 1: no answer was a 5xx other than 503, and no 503 lacked `Retry-After`.
pub fn no_server_errors(tallies: &[&Tally], findings: &mut Findings) {
    for bad in tallies.iter().flat_map(|t| &t.bad_answers) {
        findings.add(1, bad.clone());
    }
}

/// Invariant 2: sends every unanswered request again until it is answered, then follows every
/// 202 until its replay answers 201 (the credit landed).
pub async fn resolve(stack: &impl Api, records: &mut [Record], findings: &mut Findings) {
    let until = Instant::now() + RESOLVE_WITHIN;
    let pending = records.iter_mut().filter(|r| r.answer.is_none());
    stream::iter(pending)
        .for_each_concurrent(PARALLEL, |record| async move {
            let answer = load::send(stack, &record.request, until, &mut record.tally).await;
            record.answer = answer;
        })
        .await;
    for record in records.iter().filter(|r| r.answer.is_none()) {
        let (id, path, t) = (&record.request.id, &record.request.path, &record.tally);
        findings.add(
            2,
            format!(
                "{id} ({path}): no final answer within {RESOLVE_WITHIN:?} ({} attempts: {} 503, \
                 {} time-outs, {} connection errors)",
                t.attempts, t.unavailable, t.timeouts, t.connection_errors
            ),
        );
    }
    let in_transit = records
        .iter_mut()
        .filter(|r| r.answer.as_ref().is_some_and(|a| a.status == 202));
    stream::iter(in_transit)
        .for_each_concurrent(PARALLEL, |record| async move {
            record.landed = follow(stack, record).await;
        })
        .await;
    for record in records.iter().filter(|r| is_202(r) && r.landed.is_none()) {
        let id = &record.request.id;
        findings.add(
            2,
            format!("{id}: 202, no 201 replay within {LAND_WITHIN:?}"),
        );
    }
}

fn is_202(record: &Record) -> bool {
    record.answer.as_ref().is_some_and(|a| a.status == 202)
}

/// Replays a 202 move until it answers 201; `None` if it never does in time or answers
/// anything but 201 or 202.
async fn follow(stack: &impl Api, record: &mut Record) -> Option<crate::stack::HttpReply> {
    let until = Instant::now() + LAND_WITHIN;
    while Instant::now() < until {
        let reply = load::send(stack, &record.request, until, &mut record.tally).await?;
        match reply.status {
            201 => return Some(reply),
            202 => tokio::time::sleep(LAND_POLL).await,
            _ => return None,
        }
    }
    None
}

/// The expected net quantity of every pot touched by an applied request.
pub fn model(records: &[Record]) -> BTreeMap<(String, String), f64> {
    let mut model = BTreeMap::new();
    for record in records.iter().filter(|r| r.applied()) {
        for (pot, change) in record.request.op.effects() {
            *model.entry(pot).or_insert(0.0) += change;
        }
    }
    model
}

/// Reads every `(location, product)` pot through the API.
pub async fn read_pots(
    stack: &impl Api,
    locations: &[String],
    products: &[String],
) -> anyhow::Result<Pots> {
    let keys: Vec<(String, String)> = locations
        .iter()
        .flat_map(|l| products.iter().map(move |p| (l.clone(), p.clone())))
        .collect();
    let reads = stream::iter(keys)
        .map(|key| async move {
            let pot = read_pot(stack, &key.0, &key.1).await?;
            anyhow::Ok((key, pot))
        })
        .buffer_unordered(PARALLEL)
        .collect::<Vec<_>>()
        .await;
    reads.into_iter().collect()
}

/// One pot, read again on a failed read (a store still coming back) within [`READ_WITHIN`].
async fn read_pot(stack: &impl Api, location: &str, product: &str) -> anyhow::Result<Pot> {
    let path = format!(
        "/locations/{}/products/{}?includeChildren=false",
        segment(location),
        segment(product)
    );
    let until = Instant::now() + READ_WITHIN;
    loop {
        let failure = match stack.get(&path).await {
            Ok(reply) if reply.status == 200 => {
                let body = reply.json();
                let quantity = body["quantity"]
                    .as_f64()
                    .with_context(|| format!("GET {path}: no quantity in {}", reply.body))?;
                let pending = body["pendingAdjustment"].as_f64().unwrap_or(0.0);
                return Ok(Pot { quantity, pending });
            }
            Ok(reply) => format!("{} {}", reply.status, reply.body),
            Err(error) => format!("{error:#}"),
        };
        if Instant::now() >= until {
            bail!("GET {path}: {failure}");
        }
        tokio::time::sleep(LAND_POLL).await;
    }
}

/// Invariant 3: every pot's net quantity is what the final outcomes add up to.
pub fn exactly_once(model: &BTreeMap<(String, String), f64>, pots: &Pots, findings: &mut Findings) {
    for (key, pot) in pots {
        let expected = model.get(key).copied().unwrap_or(0.0);
        if pot.net() != expected {
            let (location, product) = key;
            let (q, p) = (pot.quantity, pot.pending);
            findings.add(
                3,
                format!(
                    "{location}/{product}: quantity {q} + pending {p} = {}, expected {expected}",
                    pot.net()
                ),
            );
        }
    }
}

/// Invariant 4: per product, the sum over all locations is what was delivered less what was
/// sold.
pub fn conservation(records: &[Record], pots: &Pots, findings: &mut Findings) {
    let mut expected: BTreeMap<String, f64> = BTreeMap::new();
    for record in records.iter().filter(|r| r.applied()) {
        if let load::Op::Move { .. } = record.request.op {
            continue;
        }
        for ((_, product), change) in record.request.op.effects() {
            *expected.entry(product).or_insert(0.0) += change;
        }
    }
    let mut actual: BTreeMap<String, f64> = BTreeMap::new();
    for ((_, product), pot) in pots {
        *actual.entry(product.clone()).or_insert(0.0) += pot.net();
    }
    for (product, total) in &actual {
        let want = expected.get(product).copied().unwrap_or(0.0);
        if *total != want {
            findings.add(
                4,
                format!("{product}: {total} over all locations, delivered − sold = {want}"),
            );
        }
    }
}

/// Invariant 6: every request answered 201 during the run answers 201 again, with the same
/// body, and changes nothing: it was committed, not lost. Returns the number replayed.
pub async fn replays(stack: &impl Api, records: &[Record], findings: &mut Findings) -> usize {
    let until = Instant::now() + RESOLVE_WITHIN;
    let created = records
        .iter()
        .filter(|r| r.during_run.as_ref().is_some_and(|a| a.status == 201));
    let outcomes: Vec<(String, Option<String>, Tally)> = stream::iter(created)
        .map(|record| async move {
            let mut tally = Tally::default();
            let reply = load::send(stack, &record.request, until, &mut tally).await;
            let first = record.during_run.as_ref();
            let broken = match (&reply, first) {
                (Some(again), Some(first)) if again.status == 201 && again.body == first.body => {
                    None
                }
                (Some(again), _) => {
                    Some(format!("replay answered {} {}", again.status, again.body))
                }
                (None, _) => Some("replay got no final answer".to_owned()),
            };
            (record.request.id.clone(), broken, tally)
        })
        .buffer_unordered(PARALLEL)
        .collect()
        .await;
    let tallies: Vec<&Tally> = outcomes.iter().map(|(_, _, t)| t).collect();
    no_server_errors(&tallies, findings);
    for (id, broken) in outcomes
        .iter()
        .filter_map(|(id, b, _)| Some((id, b.as_ref()?)))
    {
        findings.add(6, format!("{id}: {broken}"));
    }
    outcomes.len()
}

/// Invariant 6, continued: the replays changed no pot.
pub fn unchanged(before: &Pots, after: &Pots, findings: &mut Findings) {
    for (key, pot) in after {
        if before.get(key) != Some(pot) {
            let (location, product) = key;
            findings.add(
                6,
                format!(
                    "{location}/{product}: {:?} before the replays, {pot:?} after",
                    before.get(key)
                ),
            );
        }
    }
}
