//! The step function: what each command does to the pending batch (docs/api.md §14.5–§14.8,
//! docs/architecture.md §7).

use std::collections::HashMap;

use shared::command::{
    AcknowledgeMove, Command, CommandEnvelope, CreditMove, MoveStock, RecordDelivery,
};
use shared::domain::{EventKind, LocalDateTime};
use shared::reply::{IdempotencyRecord, Reply};
use shared::shard::shard_of;
use shared::store::{PotRef, PotWrite, RecordWrite, ShardCommit, StreamId};

use super::{CoreError, Effect, Need, ShardCore, StepOutcome};

/// One event to record: pot, kind, quantity, business time, event id.
type Change = (PotRef, EventKind, f64, LocalDateTime, String);

impl ShardCore {
    /// Steps one command (read at stream position `id`) into the pending batch. Every
    /// [`ShardCore::next_need`] must have been met. `now_ms` is the time used for pot eviction.
    pub fn step(
        &mut self,
        id: StreamId,
        envelope: &CommandEnvelope,
        now_ms: u64,
    ) -> Result<StepOutcome, CoreError> {
        if let Some(need) = self.next_need(envelope) {
            return Err(CoreError::NotReady(need));
        }
        let outcome = match &envelope.command {
            Command::RecordSale(c) => {
                let pot = pot_ref(&c.location, &c.product);
                let change = (
                    pot,
                    EventKind::Sale,
                    c.quantity,
                    c.sold_at,
                    c.request_id.clone(),
                );
                self.client_write(envelope, vec![change], now_ms)?
            }
            Command::RecordCount(c) => {
                let pot = pot_ref(&c.location, &c.product);
                let change = (
                    pot,
                    EventKind::Count,
                    c.quantity,
                    c.counted_at,
                    c.request_id.clone(),
                );
                self.client_write(envelope, vec![change], now_ms)?
            }
            Command::RecordDelivery(c) => {
                self.client_write(envelope, delivery_changes(c), now_ms)?
            }
            Command::MoveStock(c) => self.move_stock(envelope, c, now_ms)?,
            Command::CreditMove(c) => self.credit_move(envelope, c, now_ms)?,
            Command::AcknowledgeMove(c) => self.acknowledge_move(c),
        };
        self.pending.commands += 1;
        if envelope.timeout_ms.is_some() {
            let deadline = envelope.deadline_ms(id.ms);
            let commit = self.commit_mut();
            commit.min_deadline_ms =
                Some(commit.min_deadline_ms.map_or(deadline, |d| d.min(deadline)));
        }
        Ok(outcome)
    }

    /// A sale, count or delivery: idempotency, then the events and the record.
    fn client_write(
        &mut self,
        envelope: &CommandEnvelope,
        changes: Vec<Change>,
        now_ms: u64,
    ) -> Result<StepOutcome, CoreError> {
        if let Some(outcome) = self.check_record(envelope) {
            return Ok(outcome);
        }
        if !self.record_events(changes, now_ms)? {
            return Ok(self.refuse_non_finite(envelope));
        }
        let body = self.write_record(envelope, false);
        self.reply(envelope, Reply::Created { body });
        Ok(StepOutcome::Applied)
    }

    fn move_stock(
        &mut self,
        envelope: &CommandEnvelope,
        m: &MoveStock,
        now_ms: u64,
    ) -> Result<StepOutcome, CoreError> {
        if let Some(outcome) = self.check_record(envelope) {
            return Ok(outcome);
        }
        let source = pot_ref(&m.source, &m.product);
        let on_hand = self
            .pots
            .get(&source)
            .map(|p| p.state().quantity)
            .ok_or_else(|| CoreError::NotReady(Need::Pot(source.clone())))?;
        if m.quantity > on_hand {
            self.reply(envelope, Reply::InsufficientStock);
            return Ok(StepOutcome::InsufficientStock);
        }
        let out = (
            source,
            EventKind::MoveOut,
            m.quantity,
            m.moved_at,
            m.request_id.clone(),
        );
        if self.is_local(&m.destination) {
            let destination = pot_ref(&m.destination, &m.product);
            let into = (
                destination,
                EventKind::MoveIn,
                m.quantity,
                m.moved_at,
                m.request_id.clone(),
            );
            if !self.record_events(vec![out, into], now_ms)? {
                return Ok(self.refuse_non_finite(envelope));
            }
            let body = self.write_record(envelope, false);
            self.reply(envelope, Reply::Created { body });
            return Ok(StepOutcome::Applied);
        }
        if !self.record_events(vec![out], now_ms)? {
            return Ok(self.refuse_non_finite(envelope));
        }
        let body = self.write_record(envelope, true);
        let credit = CreditMove {
            move_id: envelope.id.clone(),
            source: m.source.clone(),
            destination: m.destination.clone(),
            product: m.product.clone(),
            request_id: m.request_id.clone(),
            quantity: m.quantity,
            moved_at: m.moved_at,
            body: body.clone(),
        };
        self.commit_mut().outbox_put.push(credit.clone());
        self.reply(envelope, Reply::InTransit { body });
        let shard = shard_of(&m.destination, self.settings.shards);
        let envelope = credit_envelope(
            credit,
            envelope.traceparent.clone(),
            envelope.reply_to.clone(),
        );
        self.pending.effects.push(Effect::Send {
            shard,
            envelope: Box::new(envelope),
        });
        Ok(StepOutcome::MovedOut)
    }

    fn credit_move(
        &mut self,
        envelope: &CommandEnvelope,
        c: &CreditMove,
        now_ms: u64,
    ) -> Result<StepOutcome, CoreError> {
        let credited = self
            .pending
            .credits
            .get(&c.move_id)
            .copied()
            .unwrap_or(false);
        if !credited {
            let pot = pot_ref(&c.destination, &c.product);
            let change = (
                pot,
                EventKind::MoveIn,
                c.quantity,
                c.moved_at,
                c.request_id.clone(),
            );
            if !self.record_events(vec![change], now_ms)? {
                // The source side is committed and the client was told the credit will land:
                // it is held (not applied, not acknowledged) and lands on a later re-send, once
                // the destination's quantity leaves room for it.
                return Ok(StepOutcome::CreditHeld);
            }
            self.commit_mut().credits_applied.push(c.move_id.clone());
            self.pending.credits.insert(c.move_id.clone(), true);
        }
        self.reply(
            envelope,
            Reply::Created {
                body: c.body.clone(),
            },
        );
        let acknowledge = CommandEnvelope {
            id: format!("{}/ack", c.move_id),
            timeout_ms: None,
            not_after_ms: None,
            traceparent: envelope.traceparent.clone(),
            reply_to: None,
            command: Command::AcknowledgeMove(AcknowledgeMove {
                move_id: c.move_id.clone(),
                source: c.source.clone(),
                request_id: c.request_id.clone(),
            }),
        };
        let shard = shard_of(&c.source, self.settings.shards);
        self.pending.effects.push(Effect::Send {
            shard,
            envelope: Box::new(acknowledge),
        });
        Ok(if credited {
            StepOutcome::AlreadyCredited
        } else {
            StepOutcome::Credited
        })
    }

    fn acknowledge_move(&mut self, c: &AcknowledgeMove) -> StepOutcome {
        let key = (c.source.clone(), c.request_id.clone());
        let in_transit = match self.pending.records.get(&key) {
            Some(Some(record)) if record.in_transit => Some(record.clone()),
            _ => None,
        };
        if let Some(record) = in_transit {
            self.put_record(
                key,
                IdempotencyRecord {
                    in_transit: false,
                    ..record
                },
            );
        }
        self.commit_mut().outbox_remove.push(c.move_id.clone());
        StepOutcome::Acknowledged
    }

    /// Idempotency check of a client write (docs/api.md §14.8): `Some` when answered from the
    /// record (hit or mismatch), `None` for a new request (a miss, counted).
    fn check_record(&mut self, envelope: &CommandEnvelope) -> Option<StepOutcome> {
        let (location, request_id) = envelope.command.idempotency_key()?;
        let key = (location.to_owned(), request_id.to_owned());
        let Some(Some(record)) = self.pending.records.get(&key) else {
            self.pending.misses += 1;
            return None;
        };
        if Some(record.fingerprint) == envelope.command.fingerprint() {
            let reply = record.replay();
            self.pending.hits += 1;
            self.reply(envelope, reply);
            Some(StepOutcome::Replayed)
        } else {
            self.reply(envelope, Reply::ContentMismatch);
            Some(StepOutcome::ContentMismatch)
        }
    }

    /// A write refused because a quantity it leaves would not be finite: 400, nothing recorded,
    /// no idempotency record (a retry is processed as new).
    fn refuse_non_finite(&mut self, envelope: &CommandEnvelope) -> StepOutcome {
        self.reply(envelope, Reply::NonFinite);
        StepOutcome::NonFinite
    }

    /// Records events on loaded pots, all or none: `false` when a pot refuses one of them (a
    /// quantity would not be finite), and then nothing is recorded.
    fn record_events(&mut self, changes: Vec<Change>, now_ms: u64) -> Result<bool, CoreError> {
        for (pot, _, _, at, _) in &changes {
            if let Some(need) = self.pot_need(pot.clone(), *at) {
                return Err(CoreError::NotReady(need));
            }
        }
        if !self.admitted(&changes)? {
            return Ok(false);
        }
        for (pot, kind, quantity, at, id) in changes {
            let Some(loaded) = self.pots.change(&pot, now_ms) else {
                return Err(CoreError::NotReady(Need::Pot(pot)));
            };
            let change = loaded
                .record(kind, quantity, at, id)
                .map_err(|_| CoreError::Inconsistent)?;
            let write = PotWrite {
                location: pot.location,
                product: pot.product,
                change,
            };
            self.commit_mut().pots.push(write);
        }
        Ok(true)
    }

    /// Whether every pot accepts its share of `changes` (a delivery may hold several lines for
    /// one pot), asked before anything is recorded so that a refusal leaves every pot as it was.
    fn admitted(&self, changes: &[Change]) -> Result<bool, CoreError> {
        let mut per_pot: HashMap<&PotRef, Vec<(EventKind, f64, LocalDateTime)>> = HashMap::new();
        for (pot, kind, quantity, at, _) in changes {
            per_pot
                .entry(pot)
                .or_default()
                .push((*kind, *quantity, *at));
        }
        for (pot, events) in per_pot {
            let Some(loaded) = self.pots.get(pot) else {
                return Err(CoreError::NotReady(Need::Pot(pot.clone())));
            };
            if loaded.admits(&events).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Writes the record of a client write and returns its body.
    fn write_record(&mut self, envelope: &CommandEnvelope, in_transit: bool) -> String {
        let command = &envelope.command;
        let body = command.echo_body().unwrap_or_default();
        if let (Some((location, request_id)), Some(fingerprint)) =
            (command.idempotency_key(), command.fingerprint())
        {
            let key = (location.to_owned(), request_id.to_owned());
            let record = IdempotencyRecord {
                fingerprint,
                in_transit,
                body: body.clone(),
            };
            self.put_record(key, record);
        }
        body
    }

    fn put_record(&mut self, key: (String, String), record: IdempotencyRecord) {
        let write = RecordWrite {
            location: key.0.clone(),
            request_id: key.1.clone(),
            record: record.clone(),
        };
        self.commit_mut().records.push(write);
        self.pending.records.insert(key, Some(record));
    }

    fn reply(&mut self, envelope: &CommandEnvelope, reply: Reply) {
        if let Some(address) = &envelope.reply_to {
            self.pending.effects.push(Effect::Reply {
                address: address.clone(),
                reply,
            });
        }
    }

    pub(super) fn commit_mut(&mut self) -> &mut ShardCommit {
        let shard = self.settings.shard;
        self.pending
            .commit
            .get_or_insert_with(|| ShardCommit::new(shard, StreamId::ZERO))
    }
}

/// The envelope that carries a credit to the destination's stream. Internal commands have no
/// deadline: once the source side is committed the credit must always land.
pub(crate) fn credit_envelope(
    credit: CreditMove,
    traceparent: Option<String>,
    reply_to: Option<String>,
) -> CommandEnvelope {
    CommandEnvelope {
        id: format!("{}/credit", credit.move_id),
        timeout_ms: None,
        not_after_ms: None,
        traceparent,
        reply_to,
        command: Command::CreditMove(credit),
    }
}

fn delivery_changes(c: &RecordDelivery) -> Vec<Change> {
    c.lines
        .iter()
        .enumerate()
        .map(|(index, line)| {
            let pot = pot_ref(&c.location, &line.product);
            let id = format!("{}-{index}", c.request_id);
            (pot, EventKind::Delivery, line.quantity, c.delivered_at, id)
        })
        .collect()
}

fn pot_ref(location: &str, product: &str) -> PotRef {
    PotRef {
        location: location.to_owned(),
        product: product.to_owned(),
    }
}
