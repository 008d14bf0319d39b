//! A deterministic simulation of several shard cores exchanging cross-shard messages over a
//! network that drops, duplicates and reorders them, with restarts and discarded batches.
//! Invariants: stock is conserved, and every acknowledged write is present exactly once.
#![allow(clippy::unwrap_used)]

use std::collections::HashMap;

use shared::command::{Command, CommandEnvelope};
use shared::domain::EventKind;
use shared::domain::pot::{CHECKPOINT_EVERY, fold};
use shared::reply::Reply;
use shared::shard::{ShardId, shard_of};

use super::Effect;
use super::tests::{Harness, SHARDS, delivery, location, moving};

/// xorshift64*: small, seeded, reproducible.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

struct Sim {
    rng: Rng,
    shards: Vec<Harness>,
    locations: Vec<String>,
    network: Vec<(ShardId, CommandEnvelope)>,
    /// Client writes sent so far (for replays).
    sent: Vec<CommandEnvelope>,
    /// Reply address → the last reply committed for it.
    answered: HashMap<String, Reply>,
    next_request: u64,
}

impl Sim {
    fn new(seed: u64) -> Sim {
        let locations = (0..SHARDS)
            .flat_map(|s| [location(s, 0), location(s, 1)])
            .collect();
        Sim {
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            shards: (0..SHARDS).map(Harness::new).collect(),
            locations,
            network: Vec::new(),
            sent: Vec::new(),
            answered: HashMap::new(),
            next_request: 0,
        }
    }

    fn pick_location(&mut self) -> String {
        let i = self.rng.below(self.locations.len() as u64) as usize;
        self.locations[i].clone()
    }

    fn new_write(&mut self) -> CommandEnvelope {
        self.next_request += 1;
        let request_id = format!("r{}", self.next_request);
        let source = self.pick_location();
        if self.rng.chance(40) {
            let minute = self.rng.below(100) as i64;
            let n = (1 + self.rng.below(9)) as f64;
            // One delivery in four names the product twice: two events on one pot in one step.
            if self.rng.chance(25) {
                let again = (1 + self.rng.below(9)) as f64;
                return delivery(&source, &request_id, &[("P", n), ("P", again)], minute);
            }
            return delivery(&source, &request_id, &[("P", n)], minute);
        }
        let mut destination = self.pick_location();
        while destination == source {
            destination = self.pick_location();
        }
        let n = (1 + self.rng.below(5)) as f64;
        moving(&source, &destination, "P", &request_id, n)
    }

    fn step(&mut self) {
        match self.rng.below(100) {
            0..=39 => self.client_batch(),
            40..=74 => self.deliver_message(),
            75..=79 => self.drop_message(),
            80..=86 => self.resend_outbox(),
            87..=92 => self.restart_shard(),
            _ => self.discarded_batch(),
        }
    }

    fn client_batch(&mut self) {
        let mut by_shard: HashMap<ShardId, Vec<CommandEnvelope>> = HashMap::new();
        for _ in 0..1 + self.rng.below(4) {
            let envelope = if !self.sent.is_empty() && self.rng.chance(20) {
                self.sent[self.rng.below(self.sent.len() as u64) as usize].clone()
            } else {
                self.new_write()
            };
            self.sent.push(envelope.clone());
            by_shard
                .entry(shard_of(envelope.command.location(), SHARDS))
                .or_default()
                .push(envelope);
        }
        let mut shards: Vec<_> = by_shard.into_iter().collect();
        shards.sort_by_key(|(s, _)| *s);
        for (shard, batch) in shards {
            self.run(shard, &batch);
        }
    }

    /// Commits a batch on one shard and performs its effects.
    fn run(&mut self, shard: ShardId, batch: &[CommandEnvelope]) {
        let h = &mut self.shards[shard as usize];
        let before = h.committed.len();
        h.batch(batch);
        let effects: Vec<Effect> = h.committed[before..]
            .iter()
            .flat_map(|b| b.effects.clone())
            .collect();
        for effect in effects {
            match effect {
                Effect::Reply { address, reply } => {
                    let keep = matches!(self.answered.get(&address), Some(Reply::Created { .. }));
                    if !keep {
                        self.answered.insert(address, reply);
                    }
                }
                Effect::Send { shard, envelope } => self.network.push((shard, *envelope)),
            }
        }
    }

    fn take_message(&mut self) -> Option<(ShardId, CommandEnvelope)> {
        if self.network.is_empty() {
            return None;
        }
        let i = self.rng.below(self.network.len() as u64) as usize;
        Some(self.network.swap_remove(i))
    }

    fn deliver_message(&mut self) {
        if let Some((shard, envelope)) = self.take_message() {
            if self.rng.chance(20) {
                self.network.push((shard, envelope.clone()));
            }
            self.run(shard, &[envelope]);
        }
    }

    fn drop_message(&mut self) {
        self.take_message();
    }

    /// What a new owner (or an overdue check) does: re-send every unacknowledged credit.
    fn resend_outbox(&mut self) {
        let shard = self.rng.below(u64::from(SHARDS)) as usize;
        let mut credits: Vec<_> = self.shards[shard].outbox.values().cloned().collect();
        credits.sort_by(|a, b| a.move_id.cmp(&b.move_id));
        for credit in credits {
            let destination = shard_of(&credit.destination, SHARDS);
            let envelope = super::credit_envelope(credit, None, None);
            self.network.push((destination, envelope));
        }
    }

    /// A crash: the in-memory pots are gone; the committed state stays.
    fn restart_shard(&mut self) {
        let shard = self.rng.below(u64::from(SHARDS)) as usize;
        self.shards[shard].core.clear();
        self.shards[shard].now_ms += 1;
    }

    /// A batch stepped and then not committed (store failure, expired deadline, lost lease).
    fn discarded_batch(&mut self) {
        let envelope = self.new_write();
        let shard = shard_of(envelope.command.location(), SHARDS) as usize;
        self.shards[shard].step_all(&[envelope]);
        self.shards[shard].core.discard();
    }

    /// Lets every message arrive and every credit complete.
    fn drain(&mut self) {
        for _ in 0..100 {
            while let Some((shard, envelope)) = self.take_message() {
                self.run(shard, &[envelope]);
            }
            if self.shards.iter().all(|h| h.outbox.is_empty()) {
                return;
            }
            for shard in 0..SHARDS as usize {
                let credits: Vec<_> = self.shards[shard].outbox.values().cloned().collect();
                for credit in credits {
                    let destination = shard_of(&credit.destination, SHARDS);
                    self.network
                        .push((destination, super::credit_envelope(credit, None, None)));
                }
            }
        }
        panic!("credits never completed");
    }

    fn total_quantity(&self) -> f64 {
        self.shards
            .iter()
            .flat_map(|h| {
                h.pots
                    .keys()
                    .map(move |p| h.quantity(&p.location, &p.product))
            })
            .sum()
    }

    /// Stock on its way: credits committed at a source and not yet applied at the destination.
    fn in_transit(&self) -> f64 {
        let mut total = 0.0;
        for h in &self.shards {
            for credit in h.outbox.values() {
                let destination = &self.shards[shard_of(&credit.destination, SHARDS) as usize];
                if !destination.credits.contains(&credit.move_id) {
                    total += credit.quantity;
                }
            }
        }
        total
    }

    /// Events with this id and kind, across every pot.
    fn events(&self, id: &str, kind: EventKind) -> usize {
        self.shards
            .iter()
            .flat_map(|h| h.pots.keys().map(move |p| (h, p)))
            .map(|(h, p)| {
                let pot = h.pots.get(p).unwrap();
                pot.events()
                    .iter()
                    .filter(|e| e.id == id && e.kind == kind)
                    .count()
            })
            .sum()
    }

    fn delivered(&self) -> f64 {
        self.shards
            .iter()
            .flat_map(|h| h.pots.values())
            .flat_map(|p| p.events().iter())
            .filter(|e| e.kind == EventKind::Delivery)
            .map(|e| e.quantity)
            .sum()
    }

    fn check(&self) {
        let conserved = self.total_quantity() + self.in_transit();
        assert!(
            (conserved - self.delivered()).abs() < 1e-9,
            "stock not conserved"
        );
        for h in &self.shards {
            for pot in h.pots.values() {
                assert_eq!(
                    Some(fold(pot.events())),
                    pot.state(),
                    "state is the fold of the events"
                );
            }
        }
    }

    fn check_acknowledged_writes(&self) {
        let mut unique: HashMap<String, &CommandEnvelope> = HashMap::new();
        for envelope in &self.sent {
            unique
                .entry(envelope.reply_to.clone().unwrap())
                .or_insert(envelope);
        }
        for (address, envelope) in unique {
            let Some(reply) = self.answered.get(&address) else {
                continue;
            };
            match (&envelope.command, reply) {
                (Command::RecordDelivery(c), Reply::Created { .. }) => {
                    assert_eq!(
                        self.events(&format!("{}-0", c.request_id), EventKind::Delivery),
                        1
                    );
                }
                (
                    Command::MoveStock(c),
                    Reply::Created { .. } | Reply::InTransit { .. } | Reply::Accepted { .. },
                ) => {
                    assert_eq!(self.events(&c.request_id, EventKind::MoveOut), 1);
                    assert_eq!(self.events(&c.request_id, EventKind::MoveIn), 1);
                    let h = &self.shards[shard_of(&c.source, SHARDS) as usize];
                    let record = h
                        .records
                        .get(&(c.source.clone(), c.request_id.clone()))
                        .unwrap();
                    assert!(!record.in_transit, "the move is complete at its source");
                }
                (Command::MoveStock(c), Reply::InsufficientStock) => {
                    assert_eq!(self.events(&c.request_id, EventKind::MoveOut), 0);
                }
                (command, reply) => panic!("unexpected reply {reply:?} to {command:?}"),
            }
        }
    }
}

/// Runs `steps` random steps of `seed` (checking the invariants after each one when
/// `check_each`), delivers every message, then checks every invariant.
fn simulate(seed: u64, steps: usize, check_each: bool) -> Sim {
    let mut sim = Sim::new(seed);
    for _ in 0..steps {
        sim.step();
        if check_each {
            sim.check();
        }
    }
    sim.drain();
    sim.check();
    assert_eq!(sim.in_transit(), 0.0);
    sim.check_acknowledged_writes();
    sim
}

#[test]
fn stock_is_conserved_and_acknowledged_writes_are_present_once() {
    for seed in 1..=24 {
        simulate(seed, 400, true);
    }
}

#[test]
fn the_simulation_exercises_every_path() {
    let mut sim = Sim::new(7);
    for _ in 0..400 {
        sim.step();
    }
    sim.drain();
    let kinds: Vec<&Reply> = sim.answered.values().collect();
    assert!(kinds.iter().any(|r| matches!(r, Reply::InsufficientStock)));
    assert!(kinds.iter().any(|r| matches!(r, Reply::Created { .. })));
    let credited: usize = sim.shards.iter().map(|h| h.credits.len()).sum();
    assert!(credited > 0, "cross-shard moves happened");
    let replays: u64 = sim
        .shards
        .iter()
        .flat_map(|h| &h.committed)
        .map(|b| b.hits)
        .sum();
    assert!(replays > 0, "replays happened");
}

/// Long histories: every pot passes several checkpoints, so early events (the minutes are random)
/// and deliveries naming the product twice land on checkpoint positions.
#[test]
fn long_histories_keep_the_invariants_across_checkpoints() {
    for seed in 1..=8 {
        let sim = simulate(seed, 2_000, false);
        let longest = sim
            .shards
            .iter()
            .flat_map(|h| h.pots.values())
            .map(|p| p.events().len() as u64)
            .max()
            .unwrap_or(0);
        assert!(longest > 3 * CHECKPOINT_EVERY, "{longest} events at most");
    }
}
