//! `churn`: how many shards change hands when a fourth worker joins three, and when one of four
//! leaves (docs/architecture.md §10: only the shards whose preferred owner changed move).

use std::time::Duration;

use features::stack::Stack;
use shared::shard::ShardId;
use tokio::time::Instant;

use crate::flags::Flags;
use crate::measure::{secs, verdict};
use crate::tier::{Ownership, Roster, Settled, stack_config, wait_stable};

pub(crate) const NAMES: &[&str] = &["workers", "shards", "ttl", "stable", "settle"];

/// How far the shards moved may be from the ideal, as a fraction of it.
const TOLERANCE: f64 = 0.10;

struct Settings {
    workers: usize,
    shards: u32,
    ttl: Duration,
    stable: Duration,
    settle: Duration,
}

/// What one membership change did.
struct Change {
    name: &'static str,
    ideal: f64,
    moved: usize,
    /// Moved shards that did not go to the joining worker, or did not come from the leaving one.
    collateral: usize,
    handovers: u64,
    converged: Duration,
    counts: String,
}

impl Change {
    fn within(&self, value: f64) -> bool {
        (value - self.ideal).abs() <= self.ideal * TOLERANCE
    }

    fn pass(&self) -> bool {
        self.within(self.moved as f64) && self.within(self.handovers as f64)
    }
}

pub(crate) async fn run(flags: &Flags) -> anyhow::Result<()> {
    let ttl = flags.duration("ttl", Duration::from_secs(3))?;
    let s = Settings {
        workers: flags.number("workers", 3)?,
        shards: flags.number("shards", 256)?,
        ttl,
        stable: flags.duration("stable", ttl * 2)?,
        settle: flags.duration("settle", Duration::from_secs(120))?,
    };
    let config = stack_config(
        s.shards,
        s.workers,
        s.ttl,
        Duration::from_secs(5),
        Vec::new(),
    );
    println!(
        "churn: {} workers, {} shards, lease TTL {:?}, stable = no lease moved for {:?}",
        s.workers, s.shards, s.ttl, s.stable
    );
    let stack = Stack::start("reliability-churn", config).await?;
    let mut roster = Roster::started(s.workers);
    let before = wait_stable(&stack, &roster.ids(), s.stable, s.settle).await?;
    println!("settled with {}: {}", s.workers, before.ownership.counts());
    let joiner = format!("w{}", s.workers + 1);
    let joined_at = Instant::now();
    roster.start(&stack, &joiner).await?;
    let after = wait_stable(&stack, &roster.ids(), s.stable, s.settle).await?;
    let ideal = f64::from(s.shards) / (s.workers + 1) as f64;
    let gained = after.ownership.shards_of(&joiner);
    let join = change("join", ideal, &before, &after, joined_at, &gained);
    print_change(&join);
    // The worker holding most shards leaves: the figure then shows what its departure moves.
    let leaver = most_loaded(&after.ownership, &roster.ids());
    let held = after.ownership.shards_of(&leaver);
    let left_at = Instant::now();
    roster.stop(&stack, &leaver).await?;
    let end = wait_stable(&stack, &roster.ids(), s.stable, s.settle).await?;
    let leave = change("leave", ideal, &after, &end, left_at, &held);
    println!(
        "{leaver} (holding {} shards) stopped with SIGTERM",
        held.len()
    );
    print_change(&leave);
    print_table(&s, &[join, leave]);
    stack.finish().await
}

/// The running worker holding the most shards (the first by id on a tie).
fn most_loaded(ownership: &Ownership, ids: &[String]) -> String {
    let mut best = (0, String::new());
    for id in ids {
        let held = ownership.shards_of(id).len();
        if held > best.0 || best.1.is_empty() {
            best = (held, id.clone());
        }
    }
    best.1
}

fn change(
    name: &'static str,
    ideal: f64,
    before: &Settled,
    after: &Settled,
    at: Instant,
    expected: &[ShardId],
) -> Change {
    let moved = after.ownership.moved_since(&before.ownership);
    let collateral = moved.iter().filter(|s| !expected.contains(s)).count();
    Change {
        name,
        ideal,
        moved: moved.len(),
        collateral,
        handovers: after.ownership.handovers_since(&before.ownership),
        converged: after.last_change.saturating_duration_since(at),
        counts: after.ownership.counts(),
    }
}

fn print_change(c: &Change) {
    println!(
        "{}: {} shards changed owner ({} of them between other workers), {} lease hand-overs, \
         ideal {:.0} ± {:.0}%, last move {} after the change; now {} -> {}",
        c.name,
        c.moved,
        c.collateral,
        c.handovers,
        c.ideal,
        TOLERANCE * 100.0,
        secs(c.converged),
        c.counts,
        verdict(c.pass())
    );
}

fn print_table(s: &Settings, changes: &[Change]) {
    println!();
    println!(
        "| change | shards moved | of them between other workers | lease hand-overs | ideal | \
         last move after | owners after | result |"
    );
    println!("|---|---:|---:|---:|---:|---:|---|---|");
    for c in changes {
        let label = match c.name {
            "join" => format!("{} → {} workers", s.workers, s.workers + 1),
            _ => format!("{} → {} workers (SIGTERM)", s.workers + 1, s.workers),
        };
        println!(
            "| {label} | {} | {} | {} | {:.0} ± {:.0} % | {} | {} | {} |",
            c.moved,
            c.collateral,
            c.handovers,
            c.ideal,
            TOLERANCE * 100.0,
            secs(c.converged),
            c.counts,
            verdict(c.pass())
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(moved: usize, handovers: u64) -> Change {
        Change {
            name: "join",
            ideal: 64.0,
            moved,
            collateral: 0,
            handovers,
            converged: Duration::ZERO,
            counts: String::new(),
        }
    }

    #[test]
    fn a_change_passes_within_ten_percent_of_the_ideal() {
        assert!(change(64, 64).pass());
        assert!(change(58, 70).pass());
        assert!(!change(57, 64).pass());
        assert!(!change(64, 71).pass());
        assert!(!change(0, 0).pass());
    }

    #[test]
    fn the_most_loaded_worker_leaves_first_by_id_on_a_tie() {
        let ownership = Ownership {
            owners: ["w2", "w1", "w2", "w1"]
                .iter()
                .map(|o| Some((*o).to_owned()))
                .collect(),
            epochs: vec![1; 4],
        };
        let ids = ["w1".to_owned(), "w2".to_owned(), "w3".to_owned()];
        assert_eq!(most_loaded(&ownership, &ids), "w1");
    }
}
