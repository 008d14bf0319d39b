//! Table-driven tests of the shard core, over a small in-test store.
#![allow(clippy::unwrap_used)]

use std::collections::{HashMap, HashSet};

use shared::command::{
    Command, CommandEnvelope, CreditMove, DeliveryLine, MoveStock, RecordCount, RecordDelivery,
    RecordSale,
};
use shared::domain::{
    Checkpoint, Event, EventKind, LocalDateTime, PotHistory, PotState, StoredPot,
};
use shared::reply::{IdempotencyRecord, Reply};
use shared::shard::{ShardId, shard_of};
use shared::store::{PotRef, StreamId};

use super::*;

pub(super) const SHARDS: u32 = 4;
const UNLOAD_AFTER_MS: u64 = 1_000;
const CHECK_EVERY_MS: u64 = 100;

/// The `n`-th location id (in a fixed order) that maps to `shard`.
pub(super) fn location(shard: ShardId, n: usize) -> String {
    (0..)
        .map(|i| format!("loc-{i}"))
        .filter(|l| shard_of(l, SHARDS) == shard)
        .nth(n)
        .unwrap()
}

pub(super) fn at(minute: i64) -> LocalDateTime {
    LocalDateTime::from_epoch(1_700_000_000 + minute * 60, 0).unwrap()
}

pub(super) fn client(request_id: &str, command: Command) -> CommandEnvelope {
    CommandEnvelope {
        id: format!("cmd-{request_id}"),
        timeout_ms: Some(5_000),
        not_after_ms: None,
        traceparent: Some("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01".to_owned()),
        reply_to: Some(format!("reply-{request_id}")),
        command,
    }
}

pub(super) fn sale(
    loc: &str,
    product: &str,
    request_id: &str,
    n: f64,
    minute: i64,
) -> CommandEnvelope {
    let c = RecordSale {
        location: loc.to_owned(),
        product: product.to_owned(),
        request_id: request_id.to_owned(),
        quantity: n,
        sold_at: at(minute),
    };
    client(request_id, Command::RecordSale(c))
}

pub(super) fn count(
    loc: &str,
    product: &str,
    request_id: &str,
    n: f64,
    minute: i64,
) -> CommandEnvelope {
    let c = RecordCount {
        location: loc.to_owned(),
        product: product.to_owned(),
        request_id: request_id.to_owned(),
        quantity: n,
        counted_at: at(minute),
    };
    client(request_id, Command::RecordCount(c))
}

pub(super) fn delivery(
    loc: &str,
    request_id: &str,
    lines: &[(&str, f64)],
    minute: i64,
) -> CommandEnvelope {
    let c = RecordDelivery {
        location: loc.to_owned(),
        request_id: request_id.to_owned(),
        supplier_id: "sup".to_owned(),
        supplier_ref: "ref".to_owned(),
        delivered_at: at(minute),
        lines: lines
            .iter()
            .map(|(p, q)| DeliveryLine {
                product: (*p).to_owned(),
                quantity: *q,
            })
            .collect(),
    };
    client(request_id, Command::RecordDelivery(c))
}

pub(super) fn moving(
    from: &str,
    to: &str,
    product: &str,
    request_id: &str,
    n: f64,
) -> CommandEnvelope {
    let c = MoveStock {
        source: from.to_owned(),
        destination: to.to_owned(),
        product: product.to_owned(),
        request_id: request_id.to_owned(),
        quantity: n,
        moved_at: at(30),
    };
    client(request_id, Command::MoveStock(c))
}

fn body(envelope: &CommandEnvelope) -> String {
    envelope.command.echo_body().unwrap()
}

pub(super) fn created(envelope: &CommandEnvelope) -> Reply {
    Reply::Created {
        body: body(envelope),
    }
}

/// One stored pot: state, every event, the valid checkpoint stack.
#[derive(Default)]
pub(super) struct StoredData {
    state: Option<PotState>,
    events: Vec<Event>,
    checkpoints: Vec<Checkpoint>,
}

impl StoredData {
    pub(super) fn events(&self) -> &[Event] {
        &self.events
    }

    pub(super) fn state(&self) -> Option<PotState> {
        self.state
    }
}

/// One shard's core over a minimal committed state, resolving needs synchronously.
pub(super) struct Harness {
    pub(super) core: ShardCore,
    pub(super) pots: HashMap<PotRef, StoredData>,
    pub(super) records: HashMap<(String, String), IdempotencyRecord>,
    pub(super) credits: HashSet<String>,
    pub(super) outbox: HashMap<String, CreditMove>,
    pub(super) committed: Vec<Batch>,
    pub(super) now_ms: u64,
    seq: u64,
}

impl Harness {
    pub(super) fn new(shard: ShardId) -> Harness {
        Harness {
            core: ShardCore::new(CoreSettings {
                shard,
                shards: SHARDS,
                unload_after_ms: UNLOAD_AFTER_MS,
                unload_check_every_ms: CHECK_EVERY_MS,
            }),
            pots: HashMap::new(),
            records: HashMap::new(),
            credits: HashSet::new(),
            outbox: HashMap::new(),
            committed: Vec::new(),
            now_ms: 0,
            seq: 0,
        }
    }

    /// Steps the commands as one batch (committing early when the core asks to) and commits.
    pub(super) fn batch(&mut self, envelopes: &[CommandEnvelope]) -> Vec<StepOutcome> {
        let outcomes = self.step_all(envelopes);
        self.commit();
        outcomes
    }

    /// Steps the commands without the final commit.
    pub(super) fn step_all(&mut self, envelopes: &[CommandEnvelope]) -> Vec<StepOutcome> {
        let mut outcomes = Vec::new();
        for envelope in envelopes {
            self.seq += 1;
            let id = StreamId {
                ms: 1_000,
                seq: self.seq,
            };
            while let Some(need) = self.core.next_need(envelope) {
                if let Need::Pot(_) = need {
                    // As the driver does: every missing pot of the command at once.
                    for pot in self.core.missing_pots(envelope) {
                        self.provide(Need::Pot(pot));
                    }
                } else {
                    self.provide(need);
                }
            }
            outcomes.push(self.core.step(id, envelope, self.now_ms).unwrap());
        }
        outcomes
    }

    fn provide(&mut self, need: Need) {
        match need {
            Need::Record {
                location,
                request_id,
            } => {
                let key = (location.clone(), request_id.clone());
                let record = self.records.get(&key).cloned();
                self.core.provide_record(&location, &request_id, record);
            }
            Need::Credit { move_id } => {
                let credited = self.credits.contains(&move_id);
                self.core.provide_credit(&move_id, credited);
            }
            Need::Pot(pot) => {
                let stored = self.pots.get(&pot).map_or_else(
                    || StoredPot::from_full(PotState::INITIAL, &[], &[]),
                    |d| StoredPot::from_full(d.state.unwrap(), &d.events, &d.checkpoints),
                );
                self.core.provide_pot(pot, stored, self.now_ms);
            }
            Need::History(pot, request) => {
                let data = self.pots.get(&pot).unwrap();
                let history = PotHistory::from_full(&data.events, &data.checkpoints, &request);
                self.core.provide_history(&pot, history);
            }
            Need::CommitFirst => self.commit(),
        }
    }

    /// Commits the pending batch into the harness's state.
    pub(super) fn commit(&mut self) {
        self.seq += 1;
        let batch = self.core.take_batch(StreamId {
            ms: 1_000,
            seq: self.seq,
        });
        let commit = &batch.commit;
        for write in &commit.pots {
            let pot = PotRef {
                location: write.location.clone(),
                product: write.product.clone(),
            };
            let data = self.pots.entry(pot).or_default();
            assert_eq!(write.change.event.position, data.events.len() as u64 + 1);
            write
                .change
                .apply_to(&mut data.events, &mut data.checkpoints);
            data.state = Some(write.change.state);
        }
        for write in &commit.records {
            let key = (write.location.clone(), write.request_id.clone());
            self.records.insert(key, write.record.clone());
        }
        for credit in &commit.outbox_put {
            self.outbox.insert(credit.move_id.clone(), credit.clone());
        }
        for move_id in &commit.outbox_remove {
            self.outbox.remove(move_id);
        }
        self.credits.extend(commit.credits_applied.iter().cloned());
        self.core.confirm();
        self.committed.push(batch);
    }

    pub(super) fn last(&self) -> &Batch {
        self.committed.last().unwrap()
    }

    pub(super) fn quantity(&self, loc: &str, product: &str) -> f64 {
        let pot = PotRef {
            location: loc.to_owned(),
            product: product.to_owned(),
        };
        self.pots
            .get(&pot)
            .and_then(|d| d.state)
            .map_or(0.0, |s| s.quantity)
    }

    pub(super) fn state(&self, loc: &str, product: &str) -> PotState {
        let pot = PotRef {
            location: loc.to_owned(),
            product: product.to_owned(),
        };
        self.pots
            .get(&pot)
            .and_then(|d| d.state)
            .unwrap_or(PotState::INITIAL)
    }

    pub(super) fn record(&self, loc: &str, request_id: &str) -> Option<&IdempotencyRecord> {
        self.records.get(&(loc.to_owned(), request_id.to_owned()))
    }
}

pub(super) fn replies(batch: &Batch) -> Vec<Reply> {
    batch
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Reply { reply, .. } => Some(reply.clone()),
            Effect::Send { .. } => None,
        })
        .collect()
}

pub(super) fn sends(batch: &Batch) -> Vec<(ShardId, CommandEnvelope)> {
    batch
        .effects
        .iter()
        .filter_map(|e| match e {
            Effect::Send { shard, envelope } => Some((*shard, (**envelope).clone())),
            Effect::Reply { .. } => None,
        })
        .collect()
}

/// One idempotency scenario: `earlier` batches are committed first, then `batch` is checked.
struct Case {
    name: &'static str,
    earlier: Vec<CommandEnvelope>,
    batch: Vec<CommandEnvelope>,
    outcomes: Vec<StepOutcome>,
    replies: Vec<Reply>,
    hits: u64,
    misses: u64,
    pot_writes: usize,
    record_writes: usize,
}

#[test]
fn client_writes_follow_the_idempotency_rules() {
    use StepOutcome::{Applied, ContentMismatch, Replayed};
    let l = location(0, 0);
    let s1 = sale(&l, "P", "r1", 2.0, 1);
    let s1_other = sale(&l, "P", "r1", 3.0, 1);
    let s1_other_product = sale(&l, "Q", "r1", 2.0, 1);
    let c1 = count(&l, "P", "r1", 2.0, 1);
    let d1 = delivery(&l, "d1", &[("P", 1.0), ("Q", 2.0), ("P", 3.0)], 0);
    let d1_other = delivery(&l, "d1", &[("P", 1.0), ("Q", 2.0)], 0);
    let empty = delivery(&l, "e1", &[], 0);
    let sale_elsewhere = sale(&location(0, 1), "P", "r1", 2.0, 1);
    let cases = vec![
        Case {
            name: "a new sale is applied and recorded",
            earlier: vec![],
            batch: vec![s1.clone()],
            outcomes: vec![Applied],
            replies: vec![created(&s1)],
            hits: 0,
            misses: 1,
            pot_writes: 1,
            record_writes: 1,
        },
        Case {
            name: "a replay in a later batch changes nothing",
            earlier: vec![s1.clone()],
            batch: vec![s1.clone()],
            outcomes: vec![Replayed],
            replies: vec![created(&s1)],
            hits: 1,
            misses: 0,
            pot_writes: 0,
            record_writes: 0,
        },
        Case {
            name: "a replay inside the same batch sees the record made earlier in it",
            earlier: vec![],
            batch: vec![s1.clone(), s1.clone()],
            outcomes: vec![Applied, Replayed],
            replies: vec![created(&s1), created(&s1)],
            hits: 1,
            misses: 1,
            pot_writes: 1,
            record_writes: 1,
        },
        Case {
            name: "a reuse with another quantity is a mismatch and counts nothing",
            earlier: vec![s1.clone()],
            batch: vec![s1_other],
            outcomes: vec![ContentMismatch],
            replies: vec![Reply::ContentMismatch],
            hits: 0,
            misses: 0,
            pot_writes: 0,
            record_writes: 0,
        },
        Case {
            name: "a reuse for another product is a mismatch",
            earlier: vec![],
            batch: vec![s1.clone(), s1_other_product],
            outcomes: vec![Applied, ContentMismatch],
            replies: vec![created(&s1), Reply::ContentMismatch],
            hits: 0,
            misses: 1,
            pot_writes: 1,
            record_writes: 1,
        },
        Case {
            name: "a reuse by another operation is a mismatch",
            earlier: vec![s1.clone()],
            batch: vec![c1],
            outcomes: vec![ContentMismatch],
            replies: vec![Reply::ContentMismatch],
            hits: 0,
            misses: 0,
            pot_writes: 0,
            record_writes: 0,
        },
        Case {
            name: "the same request id at another location is another request",
            earlier: vec![s1.clone()],
            batch: vec![sale_elsewhere.clone()],
            outcomes: vec![Applied],
            replies: vec![created(&sale_elsewhere)],
            hits: 0,
            misses: 1,
            pot_writes: 1,
            record_writes: 1,
        },
        Case {
            name: "a delivery writes one event per line and is counted once",
            earlier: vec![],
            batch: vec![d1.clone()],
            outcomes: vec![Applied],
            replies: vec![created(&d1)],
            hits: 0,
            misses: 1,
            pot_writes: 3,
            record_writes: 1,
        },
        Case {
            name: "a delivery replay is counted once and writes nothing",
            earlier: vec![d1.clone()],
            batch: vec![d1.clone()],
            outcomes: vec![Replayed],
            replies: vec![created(&d1)],
            hits: 1,
            misses: 0,
            pot_writes: 0,
            record_writes: 0,
        },
        Case {
            name: "a delivery with other lines is a mismatch",
            earlier: vec![d1.clone()],
            batch: vec![d1_other],
            outcomes: vec![ContentMismatch],
            replies: vec![Reply::ContentMismatch],
            hits: 0,
            misses: 0,
            pot_writes: 0,
            record_writes: 0,
        },
        Case {
            name: "an empty delivery records only the request",
            earlier: vec![],
            batch: vec![empty.clone()],
            outcomes: vec![Applied],
            replies: vec![created(&empty)],
            hits: 0,
            misses: 1,
            pot_writes: 0,
            record_writes: 1,
        },
    ];
    for case in cases {
        let mut h = Harness::new(0);
        if !case.earlier.is_empty() {
            h.batch(&case.earlier);
        }
        let outcomes = h.batch(&case.batch);
        let batch = h.last();
        assert_eq!(outcomes, case.outcomes, "{}", case.name);
        assert_eq!(replies(batch), case.replies, "{}", case.name);
        assert_eq!(
            (batch.hits, batch.misses),
            (case.hits, case.misses),
            "{}",
            case.name
        );
        assert_eq!(batch.commit.pots.len(), case.pot_writes, "{}", case.name);
        assert_eq!(
            batch.commit.records.len(),
            case.record_writes,
            "{}",
            case.name
        );
        assert_eq!(batch.commands, case.batch.len(), "{}", case.name);
    }
}

#[test]
fn events_carry_their_kind_and_id() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[
        delivery(&l, "d1", &[("P", 5.0), ("Q", 1.0)], 0),
        sale(&l, "P", "s1", 1.0, 1),
        count(&l, "Q", "c1", 7.0, 2),
    ]);
    let events: Vec<(EventKind, String)> = h
        .last()
        .commit
        .pots
        .iter()
        .map(|w| (w.change.event.kind, w.change.event.id.clone()))
        .collect();
    assert_eq!(
        events,
        vec![
            (EventKind::Delivery, "d1-0".to_owned()),
            (EventKind::Delivery, "d1-1".to_owned()),
            (EventKind::Sale, "s1".to_owned()),
            (EventKind::Count, "c1".to_owned()),
        ]
    );
    assert_eq!((h.quantity(&l, "P"), h.quantity(&l, "Q")), (4.0, 7.0));
}

#[test]
fn a_record_holds_the_fingerprint_and_the_echo_body() {
    let l = location(0, 0);
    let s1 = sale(&l, "P", "r1", 2.0, 1);
    let mut h = Harness::new(0);
    h.batch(std::slice::from_ref(&s1));
    let record = h.record(&l, "r1").unwrap();
    assert_eq!(record.fingerprint, s1.command.fingerprint().unwrap());
    assert_eq!(record.body, body(&s1));
    assert!(!record.in_transit);
}

#[test]
fn the_batch_deadline_is_the_earliest_among_its_client_commands() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    let mut late = sale(&l, "P", "r1", 1.0, 1);
    late.timeout_ms = Some(9_000);
    let early = sale(&l, "P", "r2", 1.0, 1);
    h.batch(&[late, early]);
    // Both were read at ms 1000; the early one has a 5 s timeout.
    assert_eq!(h.last().commit.min_deadline_ms, Some(6_000));
}

#[test]
fn a_same_shard_move_commits_both_sides_at_once() {
    let (s, d) = (location(0, 0), location(0, 1));
    let mut h = Harness::new(0);
    h.batch(&[delivery(&s, "d1", &[("P", 10.0)], 0)]);
    let m = moving(&s, &d, "P", "m1", 4.0);
    assert_eq!(
        h.batch(std::slice::from_ref(&m)),
        vec![StepOutcome::Applied]
    );
    let batch = h.last();
    let kinds: Vec<EventKind> = batch
        .commit
        .pots
        .iter()
        .map(|w| w.change.event.kind)
        .collect();
    assert_eq!(kinds, vec![EventKind::MoveOut, EventKind::MoveIn]);
    assert_eq!(replies(batch), vec![created(&m)]);
    assert!(batch.commit.outbox_put.is_empty() && sends(batch).is_empty());
    assert_eq!((h.quantity(&s, "P"), h.quantity(&d, "P")), (6.0, 4.0));
    assert!(!h.record(&s, "m1").unwrap().in_transit);
}

#[test]
fn a_move_beyond_the_source_stock_records_nothing_but_counts_a_miss() {
    let (s, d) = (location(0, 0), location(0, 1));
    let mut h = Harness::new(0);
    h.batch(&[delivery(&s, "d1", &[("P", 3.0)], 0)]);
    let m = moving(&s, &d, "P", "m1", 4.0);
    assert_eq!(
        h.batch(std::slice::from_ref(&m)),
        vec![StepOutcome::InsufficientStock]
    );
    let batch = h.last();
    assert_eq!(replies(batch), vec![Reply::InsufficientStock]);
    assert_eq!(
        (
            batch.misses,
            batch.commit.pots.len(),
            batch.commit.records.len()
        ),
        (1, 0, 0)
    );
    assert!(h.record(&s, "m1").is_none());
    // Not recorded, so a retry after a delivery is processed as new.
    h.batch(&[delivery(&s, "d2", &[("P", 1.0)], 1)]);
    assert_eq!(h.batch(&[m]), vec![StepOutcome::Applied]);
    assert_eq!(h.quantity(&s, "P"), 0.0);
}

#[test]
fn a_move_from_an_empty_pot_is_insufficient_and_pending_adjustments_do_not_count() {
    let (s, d) = (location(0, 0), location(0, 1));
    let mut h = Harness::new(0);
    h.batch(&[sale(&s, "P", "s1", 5.0, 0)]);
    let m = moving(&s, &d, "P", "m1", 1.0);
    assert_eq!(h.batch(&[m]), vec![StepOutcome::InsufficientStock]);
}

#[test]
fn a_cross_shard_move_debits_the_source_and_sends_the_credit() {
    let (s, d) = (location(0, 0), location(1, 0));
    let mut h = Harness::new(0);
    h.batch(&[delivery(&s, "d1", &[("P", 10.0)], 0)]);
    let m = moving(&s, &d, "P", "m1", 4.0);
    assert_eq!(
        h.batch(std::slice::from_ref(&m)),
        vec![StepOutcome::MovedOut]
    );
    let batch = h.last().clone();
    assert_eq!(replies(&batch), vec![Reply::InTransit { body: body(&m) }]);
    assert_eq!(batch.commit.outbox_put.len(), 1);
    let credit = &batch.commit.outbox_put[0];
    assert_eq!(
        (credit.move_id.as_str(), credit.body.clone()),
        (m.id.as_str(), body(&m))
    );
    let sent = sends(&batch);
    assert_eq!(sent.len(), 1);
    let (shard, envelope) = &sent[0];
    assert_eq!(*shard, 1);
    assert_eq!(envelope.command, Command::CreditMove(credit.clone()));
    assert_eq!(
        (envelope.timeout_ms, &envelope.reply_to),
        (None, &m.reply_to)
    );
    assert_eq!(envelope.traceparent, m.traceparent);
    assert!(h.record(&s, "m1").unwrap().in_transit);
    assert_eq!(h.quantity(&s, "P"), 6.0);
    // A replay while the credit is in transit answers 202 again.
    h.batch(std::slice::from_ref(&m));
    assert_eq!(replies(h.last()), vec![Reply::Accepted { body: body(&m) }]);
    assert_eq!(h.last().hits, 1);
}

#[test]
fn a_credit_is_applied_once_and_always_answered_and_acknowledged() {
    let (s, d) = (location(0, 0), location(1, 0));
    let mut source = Harness::new(0);
    source.batch(&[delivery(&s, "d1", &[("P", 10.0)], 0)]);
    let m = moving(&s, &d, "P", "m1", 4.0);
    source.batch(std::slice::from_ref(&m));
    let (_, credit) = sends(source.last()).remove(0);
    let mut dest = Harness::new(1);
    // Duplicated inside one batch, then again in a later one (as a re-send would).
    let outcomes = dest.batch(&[credit.clone(), credit.clone()]);
    assert_eq!(
        outcomes,
        vec![StepOutcome::Credited, StepOutcome::AlreadyCredited]
    );
    assert_eq!(dest.last().commit.pots.len(), 1);
    assert_eq!(dest.last().commit.credits_applied, vec![m.id.clone()]);
    assert_eq!(
        dest.batch(std::slice::from_ref(&credit)),
        vec![StepOutcome::AlreadyCredited]
    );
    assert_eq!(dest.quantity(&d, "P"), 4.0);
    assert_eq!(replies(dest.last()), vec![created(&m)]);
    let acks = sends(dest.last());
    assert_eq!(acks.len(), 1);
    assert_eq!(acks[0].0, 0);
    assert!(matches!(&acks[0].1.command, Command::AcknowledgeMove(a) if a.move_id == m.id));
    assert_eq!(acks[0].1.reply_to, None);
}

#[test]
fn an_acknowledgement_completes_the_move_at_its_source() {
    let (s, d) = (location(0, 0), location(1, 0));
    let mut source = Harness::new(0);
    source.batch(&[delivery(&s, "d1", &[("P", 10.0)], 0)]);
    let m = moving(&s, &d, "P", "m1", 4.0);
    source.batch(std::slice::from_ref(&m));
    let (_, credit) = sends(source.last()).remove(0);
    let mut dest = Harness::new(1);
    dest.batch(&[credit]);
    let (_, ack) = sends(dest.last()).remove(0);
    assert_eq!(
        source.batch(&[ack.clone(), ack]),
        vec![StepOutcome::Acknowledged; 2]
    );
    assert_eq!(source.last().commit.records.len(), 1);
    assert!(source.outbox.is_empty());
    assert!(!source.record(&s, "m1").unwrap().in_transit);
    source.batch(std::slice::from_ref(&m));
    assert_eq!(replies(source.last()), vec![created(&m)]);
    assert_eq!(
        (source.quantity(&s, "P"), dest.quantity(&d, "P")),
        (6.0, 4.0)
    );
}

#[test]
fn a_discarded_batch_leaves_nothing_behind_and_can_be_redone() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[delivery(&l, "d1", &[("P", 10.0)], 0)]);
    let s1 = sale(&l, "P", "s1", 3.0, 1);
    h.step_all(std::slice::from_ref(&s1));
    h.core.discard();
    assert_eq!(h.core.pots_loaded(), 0, "the changed pot is evicted");
    assert!(!h.core.has_pending());
    assert_eq!(
        h.batch(std::slice::from_ref(&s1)),
        vec![StepOutcome::Applied]
    );
    assert_eq!(h.quantity(&l, "P"), 7.0);
    assert_eq!(h.last().misses, 1);
}

#[test]
fn idle_pots_are_evicted_and_reload_transparently() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[delivery(&l, "d1", &[("P", 20.0)], 0)]);
    assert_eq!(h.core.pots_loaded(), 1);
    assert_eq!(h.core.tick(UNLOAD_AFTER_MS - 1), 0, "not idle long enough");
    assert_eq!(h.core.tick(UNLOAD_AFTER_MS + 50), 0, "no check due yet");
    assert_eq!(h.core.tick(UNLOAD_AFTER_MS - 1 + CHECK_EVERY_MS), 1);
    assert_eq!(h.core.pots_loaded(), 0);
    h.now_ms = 5_000;
    h.batch(&[delivery(&l, "d2", &[("P", 10.0)], 1)]);
    assert_eq!(h.quantity(&l, "P"), 30.0);
    assert_eq!(h.core.pots_loaded(), 1);
}

#[test]
fn history_for_a_changed_pot_is_loaded_only_after_the_batch_so_far_is_committed() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    let deliveries: Vec<CommandEnvelope> = (0..70)
        .map(|i| delivery(&l, &format!("d{i}"), &[("P", 1.0)], 10 + i))
        .collect();
    h.batch(&deliveries);
    h.core.clear();
    // In order (changes the pot), then older than every checkpoint: needs the stored stack.
    let batch = [
        sale(&l, "P", "late", 1.0, 200),
        count(&l, "P", "early", 5.0, 0),
    ];
    let before = h.committed.len();
    assert_eq!(h.batch(&batch), vec![StepOutcome::Applied; 2]);
    assert_eq!(
        h.committed.len(),
        before + 2,
        "committed before loading history"
    );
    // Count 5 first, then 70 deliveries, then the sale.
    assert_eq!(h.state(&l, "P").quantity, 74.0);
    assert_eq!(h.state(&l, "P").last_updated, at(200));
}

/// A delivery naming one product twice, earlier than the pot's state, whose first line lands on
/// a checkpoint position: both lines are recorded in one step, in business-time order.
#[test]
fn an_early_delivery_naming_a_product_twice_across_a_checkpoint_is_applied_in_order() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    h.batch(&[count(&l, "P", "c", 10.0, 10)]);
    let later: Vec<CommandEnvelope> = (0..62)
        .map(|i| delivery(&l, &format!("d{i}"), &[("P", 1.0)], 100 + i))
        .collect();
    h.batch(&later);
    let early = delivery(&l, "early", &[("P", 2.0), ("P", 3.0)], 5);
    assert_eq!(h.batch(&[early]), vec![StepOutcome::Applied]);
    // The count at minute 10 overrides both lines at minute 5; the 62 deliveries follow.
    assert_eq!(h.state(&l, "P").quantity, 72.0);
    let pot = PotRef {
        location: l.clone(),
        product: "P".to_owned(),
    };
    assert_eq!(h.pots[&pot].events().len(), 65);
}

#[test]
fn replies_go_only_to_commands_with_a_reply_address() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    let mut quiet = sale(&l, "P", "r1", 1.0, 1);
    quiet.reply_to = None;
    h.batch(&[quiet]);
    assert!(h.last().effects.is_empty());
}

#[test]
fn stepping_before_the_needs_are_met_is_refused() {
    let l = location(0, 0);
    let mut h = Harness::new(0);
    let result = h.core.step(StreamId::ZERO, &sale(&l, "P", "r1", 1.0, 1), 0);
    assert!(matches!(
        result,
        Err(CoreError::NotReady(Need::Record { .. }))
    ));
}

// ---------------------------------------------------------------- large commands

fn new_products(prefix: &str, n: usize) -> Vec<String> {
    (0..n).map(|i| format!("{prefix}{i}")).collect()
}

fn lines(products: &[String]) -> Vec<(&str, f64)> {
    products.iter().map(|p| (p.as_str(), 1.0)).collect()
}

#[test]
fn every_missing_pot_of_a_delivery_is_named_at_once_and_each_only_once() {
    let mut h = Harness::new(0);
    let l = location(0, 0);
    let d = delivery(&l, "d1", &[("A", 1.0), ("B", 2.0), ("A", 3.0)], 0);
    while let Some(need @ Need::Record { .. }) = h.core.next_need(&d) {
        h.provide(need);
    }
    let names: Vec<String> = h
        .core
        .missing_pots(&d)
        .into_iter()
        .map(|p| p.product)
        .collect();
    assert_eq!(names, ["A", "B"]);
    assert!(h.core.load_budget(&d) > 3 * 3);
    assert_eq!(h.batch(&[d]), [StepOutcome::Applied]);
    assert!(
        h.core
            .missing_pots(&delivery(&l, "d2", &[("A", 1.0)], 1))
            .is_empty()
    );
}

#[test]
fn a_batch_full_of_pot_writes_is_committed_before_the_next_large_delivery() {
    let mut h = Harness::new(0);
    let l = location(0, 0);
    let first = new_products("a", MAX_BATCH_POT_WRITES - 5);
    let second = new_products("b", 10);
    let small = new_products("c", 5);
    let outcomes = h.batch(&[
        delivery(&l, "d1", &lines(&first), 0),
        delivery(&l, "d2", &lines(&small), 0),
        delivery(&l, "d3", &lines(&second), 0),
    ]);
    assert_eq!(outcomes, [StepOutcome::Applied; 3]);
    let sizes: Vec<usize> = h.committed.iter().map(|b| b.commit.pots.len()).collect();
    assert_eq!(sizes, [MAX_BATCH_POT_WRITES, 10]);
}

#[test]
fn a_single_delivery_larger_than_a_batch_is_still_committed_whole() {
    let mut h = Harness::new(0);
    let l = location(0, 0);
    let huge = new_products("h", MAX_BATCH_POT_WRITES + 1);
    assert_eq!(
        h.batch(&[delivery(&l, "d1", &lines(&huge), 0)]),
        [StepOutcome::Applied]
    );
    assert_eq!(h.committed.len(), 1);
    assert_eq!(h.committed[0].commit.pots.len(), MAX_BATCH_POT_WRITES + 1);
}

#[test]
fn an_entry_set_aside_is_carried_by_the_next_commit() {
    let mut h = Harness::new(0);
    let bad = shared::store::Undecodable {
        error: "unknown variant `Teleport`".to_owned(),
        fields: vec![("c".to_owned(), b"{}".to_vec())],
    };
    let id = StreamId { ms: 7, seq: 1 };
    h.core.set_aside(id, bad.clone());
    h.commit();
    let dead = &h.committed[0].commit.dead_letters;
    assert_eq!(dead, &[shared::store::DeadLetter { id, entry: bad }]);
}
