//! The figures of a chaos run: printed, and written to `target/chaos-summary.json`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{Value, json};

use super::faults::FaultReport;
use super::invariants::{Findings, NAMES};
use super::load::Record;
use super::{CLIENTS, COMMAND_TIMEOUT, ChaosConfig, LEASE_TTL, SHARDS, WORKERS};
use crate::service::target_dir;

/// Everything a run found out.
#[derive(Debug)]
pub(super) struct Report {
    pub(super) wall: Duration,
    pub(super) unanswered_after_load: usize,
    pub(super) pots_verified: usize,
    pub(super) products_conserved: usize,
    pub(super) locations_live: usize,
    pub(super) replays: usize,
    pub(super) records: Vec<Record>,
    pub(super) faults: FaultReport,
    pub(super) findings: Findings,
}

impl Report {
    /// The summary as JSON.
    pub(super) fn summary(&self, config: &ChaosConfig) -> Value {
        let records = &self.records;
        let count = |f: &dyn Fn(&Record) -> bool| records.iter().filter(|r| f(r)).count();
        let mut by_kind: BTreeMap<&str, usize> = BTreeMap::new();
        let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
        let mut during_run: BTreeMap<String, usize> = BTreeMap::new();
        for record in records {
            *by_kind.entry(record.request.op.kind()).or_default() += 1;
            *by_status
                .entry(status_key(record.answer.as_ref()))
                .or_default() += 1;
            let first = status_key(record.during_run.as_ref());
            *during_run.entry(first).or_default() += 1;
        }
        let sum = |f: &dyn Fn(&Record) -> u64| records.iter().map(f).sum::<u64>();
        let violations: Vec<Value> = self
            .findings
            .items
            .iter()
            .map(|(n, detail)| json!({"invariant": n, "detail": detail}))
            .collect();
        json!({
            "seed": config.seed,
            "loadSeconds": config.load.as_secs(),
            "wallSeconds": self.wall.as_secs_f64().round(),
            "stack": {
                "clients": CLIENTS, "workers": WORKERS, "shards": SHARDS,
                "leaseTtlMs": LEASE_TTL.as_millis(),
                "commandTimeoutMs": COMMAND_TIMEOUT.as_millis(),
                "redis": "--appendonly yes --appendfsync always",
            },
            "requests": {
                "total": records.len(),
                "byKind": by_kind,
                "byFinalStatus": by_status,
                "byStatusAtEndOfLoad": during_run,
                "unansweredAfterLoad": self.unanswered_after_load,
                "movesAnswered202": count(&|r| r.landed.is_some() || is_status(r, 202)),
                "movesLandedAfter202": count(&|r| r.landed.is_some()),
            },
            "attempts": {
                "total": sum(&|r| r.tally.attempts),
                "retries": sum(&|r| r.tally.retries()),
                "retriedRequests": count(&|r| r.tally.attempts > 1),
                "answered503": sum(&|r| r.tally.unavailable),
                "clientTimeouts": sum(&|r| r.tally.timeouts),
                "connectionErrors": sum(&|r| r.tally.connection_errors),
            },
            "faults": {
                "total": self.faults.log.len(),
                "byKind": self.faults.by_kind,
                "schedule": self.faults.log,
                "anomalies": self.faults.anomalies,
            },
            "invariants": {
                "checked": NAMES,
                "potsVerified": self.pots_verified,
                "productsConserved": self.products_conserved,
                "locationsLive": self.locations_live,
                "replaysChecked": self.replays,
                "violations": violations,
            },
            "passed": self.findings.items.is_empty(),
        })
    }
}

fn is_status(record: &Record, status: u16) -> bool {
    record.answer.as_ref().is_some_and(|a| a.status == status)
}

/// `201`, `202`, `400 InsufficientStock`, …, or `unanswered`.
fn status_key(reply: Option<&crate::stack::HttpReply>) -> String {
    match reply {
        None => "unanswered".to_owned(),
        Some(reply) if reply.status >= 400 => match reply.json()["status"].as_str() {
            Some(text) => format!("{} {text}", reply.status),
            None => reply.status.to_string(),
        },
        Some(reply) => reply.status.to_string(),
    }
}

/// Prints the summary and writes it to `target/chaos-summary.json`.
pub(super) fn write(summary: &Value) {
    let text = serde_json::to_string_pretty(summary).unwrap_or_default();
    eprintln!("chaos summary:\n{text}");
    let path = target_dir().join("chaos-summary.json");
    if let Err(error) = std::fs::write(&path, text + "\n") {
        eprintln!("chaos: could not write {}: {error}", path.display());
    }
}
