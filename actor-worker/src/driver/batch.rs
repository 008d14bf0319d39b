//! One batch: step the commands read (loading what the core asks for), commit once, then
//! perform the effects.

use std::collections::VecDeque;

use shared::command::CommandEnvelope;
use shared::store::{CommitError, StoreError, StreamEntry, StreamId};
use tokio::time::Instant;
use tracing::Instrument;

use super::{ShardDriver, Stop};
use crate::core::{Batch, CoreError, Effect, Need};
use crate::stock_pot;

/// What became of one command.
enum Handled {
    /// Stepped into the pending batch.
    Stepped,
    /// The pending batch must be committed before this command can be stepped.
    CommitFirst,
    /// The core cannot step it (the core and the store disagree about it: a bug). It alone is
    /// skipped; the rest of the batch goes on.
    Refused(CoreError),
}

/// A run of commands stepped into one batch.
struct Segment {
    /// How many entries (stepped, or dropped as expired) the batch covers.
    consumed: usize,
    applied: StreamId,
}

impl ShardDriver {
    /// Applies the entries read, in as many commits as needed (usually one).
    pub(super) async fn run_batch(
        &mut self,
        mut rest: VecDeque<(StreamId, StreamEntry)>,
    ) -> Result<(), Stop> {
        while !rest.is_empty() {
            if !self.lease.is_valid() {
                return Err(Stop::Lease);
            }
            let store_now = match self.store.now_ms().await {
                Ok(now) => now,
                Err(error) => {
                    self.store_trouble("read store time", &error).await?;
                    continue;
                }
            };
            if let Some((oldest, _)) = rest.front() {
                self.lag
                    .set(store_now.saturating_sub(oldest.ms) as f64 / 1000.0);
            }
            let segment = match self.step_segment(&rest, store_now).await {
                Ok(segment) => segment,
                Err(error) => {
                    self.core.discard();
                    self.store_trouble("load pot state", &error).await?;
                    continue;
                }
            };
            let batch = self.core.take_batch(segment.applied);
            if self.commit(batch).await? {
                self.applied = segment.applied;
                rest.drain(..segment.consumed);
            }
        }
        Ok(())
    }

    /// Steps commands from the front of `rest` until the end, or until the batch must be
    /// committed before the next command can be loaded (it needs history of a pot the batch
    /// changed, or the batch is full: see [`crate::core::MAX_BATCH_POT_WRITES`]).
    async fn step_segment(
        &mut self,
        rest: &VecDeque<(StreamId, StreamEntry)>,
        store_now: u64,
    ) -> Result<Segment, StoreError> {
        let mut segment = Segment {
            consumed: 0,
            applied: self.applied,
        };
        for (id, entry) in rest {
            let envelope = match entry {
                StreamEntry::Command(envelope) => envelope,
                StreamEntry::Undecodable(bad) => {
                    self.core.set_aside(*id, bad.clone());
                    segment.consumed += 1;
                    segment.applied = *id;
                    continue;
                }
            };
            let span = stock_pot::command_span(self.shard(), *id, envelope);
            // Past its deadline the HTTP tier has answered (or will answer) 503: never apply it.
            if envelope.deadline_ms(id.ms) < store_now {
                span.in_scope(|| stock_pot::log_expired(envelope));
            } else {
                let handled = self.handle(*id, envelope).instrument(span.clone()).await?;
                let refused = match handled {
                    Handled::Stepped => None,
                    Handled::CommitFirst if self.core.has_pending() => break,
                    Handled::CommitFirst => Some(CoreError::NotReady(Need::CommitFirst)),
                    Handled::Refused(error) => Some(error),
                };
                if let Some(error) = refused {
                    // Never applied and never retried: its client is answered 503 at its
                    // deadline, and nothing else of the shard waits on it.
                    let shard = self.shard();
                    span.in_scope(|| {
                        tracing::error!(shard, entry = %id, %error, "shard core refused a command; it is skipped");
                    });
                }
            }
            segment.consumed += 1;
            segment.applied = *id;
        }
        Ok(segment)
    }

    /// Loads what one command needs and steps it. The loads are bounded by the command's own
    /// size ([`crate::core::ShardCore::load_budget`]); the pots it names are loaded together.
    async fn handle(
        &mut self,
        id: StreamId,
        envelope: &CommandEnvelope,
    ) -> Result<Handled, StoreError> {
        for _ in 0..self.core.load_budget(envelope) {
            match self.core.next_need(envelope) {
                None => {
                    return Ok(match self.core.step(id, envelope, self.local_ms()) {
                        Ok(outcome) => {
                            stock_pot::log_handled(envelope, outcome);
                            Handled::Stepped
                        }
                        Err(error) => Handled::Refused(error),
                    });
                }
                Some(Need::CommitFirst) => return Ok(Handled::CommitFirst),
                Some(Need::Pot(_)) => self.load_pots(envelope).await?,
                Some(need) => self.load(need).await?,
            }
        }
        let need = self.core.next_need(envelope).unwrap_or(Need::CommitFirst);
        Ok(Handled::Refused(CoreError::NotReady(need)))
    }

    /// Loads every pot of `envelope` not yet in memory, in as few store round trips as the
    /// backend allows.
    async fn load_pots(&mut self, envelope: &CommandEnvelope) -> Result<(), StoreError> {
        let pots = self.core.missing_pots(envelope);
        let stored = self.store.load_pots(self.shard(), &pots).await?;
        let now = self.local_ms();
        for (pot, stored) in pots.into_iter().zip(stored) {
            self.core.provide_pot(pot, stored, now);
        }
        Ok(())
    }

    async fn load(&mut self, need: Need) -> Result<(), StoreError> {
        let shard = self.shard();
        match need {
            Need::Record {
                location,
                request_id,
            } => {
                let record = self
                    .store
                    .load_record(shard, &location, &request_id)
                    .await?;
                self.core.provide_record(&location, &request_id, record);
            }
            Need::Credit { move_id } => {
                let credited = self.store.credit_applied(shard, &move_id).await?;
                self.core.provide_credit(&move_id, credited);
            }
            Need::Pot(pot) => {
                let stored = self.store.load_pot(shard, &pot).await?;
                self.core.provide_pot(pot, stored, self.local_ms());
            }
            Need::History(pot, request) => {
                let history = self.store.load_history(shard, &pot, &request).await?;
                self.core.provide_history(&pot, history);
            }
            Need::CommitFirst => {}
        }
        Ok(())
    }

    /// Commits a batch. `Ok(true)`: committed and its effects performed; `Ok(false)`: not
    /// committed, step the commands again.
    async fn commit(&mut self, batch: Batch) -> Result<bool, Stop> {
        let started = Instant::now();
        let retention = self.settings.idempotency_retention;
        let result = self
            .store
            .commit(self.lease.token(), &batch.commit, retention)
            .await;
        match result {
            Ok(()) => {
                self.stats
                    .commit_duration
                    .record(started.elapsed().as_secs_f64());
                self.stats.commit_batch_size.record(batch.commands as f64);
                self.core.confirm();
                self.store_ok();
                self.after_commit(batch).await;
                Ok(true)
            }
            Err(CommitError::Expired) => {
                // Redone with fresh store time: the expired commands are then dropped.
                self.core.discard();
                tracing::debug!(
                    shard = self.shard(),
                    "batch past a deadline: redoing without it"
                );
                Ok(false)
            }
            Err(CommitError::Stale) => {
                self.core.discard();
                self.stats.fenced_rejections.increment(1);
                self.lease.mark_lost();
                tracing::warn!(
                    shard = self.shard(),
                    "commit fenced off: the lease is held by another worker"
                );
                Err(Stop::Lease)
            }
            Err(CommitError::Store(error)) => {
                self.core.discard();
                self.store_trouble("commit", &error).await?;
                Ok(false)
            }
        }
    }

    /// After a commit: count, then replies and cross-shard messages, in order.
    async fn after_commit(&mut self, batch: Batch) {
        for dead in &batch.commit.dead_letters {
            self.stats.dead_letters.increment(1);
            tracing::error!(
                shard = self.shard(),
                entry = %dead.id,
                error = %dead.entry.error,
                "stream entry is not a command: moved to the dead-letter stream"
            );
        }
        self.stats.idempotency_hits.increment(batch.hits);
        self.stats.idempotency_misses.increment(batch.misses);
        for move_id in &batch.commit.outbox_remove {
            self.outbox.acknowledged(move_id);
        }
        for effect in batch.effects {
            match effect {
                Effect::Reply { address, reply } => {
                    if let Err(error) = self.store.send(&address, &reply).await {
                        self.health.failed("send a reply", &error);
                        tracing::debug!(shard = self.shard(), %error, "reply not sent: sent again later");
                        self.late_replies.push(address, reply);
                    }
                }
                Effect::Send { shard, envelope } => {
                    self.outbox.sent((*envelope).clone(), Instant::now());
                    self.send(shard, &envelope).await;
                }
            }
        }
        self.sync_gauges();
    }
}
