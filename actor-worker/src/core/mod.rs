//! The pure shard core: pot cache and step function. No I/O, no clock: what a command needs is
//! asked for ([`Need`]) and handed in, time is an input, and effects come out held until commit.

mod cache;
#[cfg(test)]
mod finite_tests;
mod rules;
#[cfg(test)]
mod simulation;
#[cfg(test)]
mod tests;

use std::collections::HashMap;

use shared::command::{Command, CommandEnvelope};
use shared::domain::{HistoryRequest, LocalDateTime, PotHistory, StoredPot};
use shared::reply::{IdempotencyRecord, Reply};
use shared::shard::{ShardId, shard_of};
use shared::store::{DeadLetter, PotRef, ShardCommit, StreamId, Undecodable};

use cache::PotCache;
pub(crate) use rules::credit_envelope;

/// Pot writes one batch may hold before it is committed and a new one started: keeps one commit
/// (its store script, its memory) bounded however many large commands arrive together. A single
/// command larger than this (a delivery at the body-size limit has about 28 000 lines) is still
/// committed whole, alone in its batch.
pub const MAX_BATCH_POT_WRITES: usize = 32_768;

/// Pots one shard keeps in memory after a commit, at most (see [`ShardCore::confirm`]).
pub const MAX_CACHED_POTS: usize = 100_000;

/// What the core must be given before it can step a command.
#[derive(Clone, Debug, PartialEq)]
pub enum Need {
    /// The idempotency record of `(location, request_id)`, if any.
    Record {
        location: String,
        request_id: String,
    },
    /// Whether the move id has been credited at this shard.
    Credit { move_id: String },
    /// The pot as stored.
    Pot(PotRef),
    /// More of the pot's stored history.
    History(PotRef, HistoryRequest),
    /// A pot changed by the pending batch needs history: commit the batch so far first (the
    /// store's history must match the pot before it is extended).
    CommitFirst,
}

/// Something to do once the batch is committed, in order.
#[derive(Clone, Debug, PartialEq)]
pub enum Effect {
    /// Send a reply to the HTTP tier.
    Reply { address: String, reply: Reply },
    /// Append a command to a shard's stream.
    Send {
        shard: ShardId,
        envelope: Box<CommandEnvelope>,
    },
}

/// What stepping one command did (for logs and tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StepOutcome {
    /// A new write was applied (a move: both sides).
    Applied,
    /// A cross-shard move's source side was applied; the credit follows.
    MovedOut,
    /// The same request again: answered from its record, nothing changed.
    Replayed,
    /// The request id was reused with other content: nothing changed.
    ContentMismatch,
    /// A move beyond the source's quantity: nothing changed.
    InsufficientStock,
    /// A write that would leave a quantity that is not finite: nothing changed.
    NonFinite,
    /// A cross-shard credit that would leave the destination's quantity not finite: not applied
    /// and not acknowledged, so that a later re-send tries again.
    CreditHeld,
    /// A cross-shard credit was applied at its destination.
    Credited,
    /// A cross-shard credit arrived again: answered, not applied twice.
    AlreadyCredited,
    /// The destination confirmed a credit: the move is complete at its source.
    Acknowledged,
}

/// The core was asked to step a command whose needs were not all met (a driver bug).
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    #[error("stepped before its needs were met: {0:?}")]
    NotReady(Need),
    /// A pot refused an event after admitting it (a bug): nothing of the batch may be committed.
    #[error("a pot refused an event it had admitted")]
    Inconsistent,
}

/// A batch ready to commit: the commit itself, the effects to perform after it succeeds, and the
/// idempotency counts to add then.
#[derive(Clone, Debug, PartialEq)]
pub struct Batch {
    pub commit: ShardCommit,
    pub effects: Vec<Effect>,
    pub commands: usize,
    pub hits: u64,
    pub misses: u64,
}

/// Fixed parameters of a shard core.
#[derive(Clone, Debug)]
pub struct CoreSettings {
    pub shard: ShardId,
    pub shards: u32,
    /// A pot idle this long (in the time given as input) is evicted.
    pub unload_after_ms: u64,
    /// How often idle pots are looked for.
    pub unload_check_every_ms: u64,
}

/// The batch being built.
#[derive(Default)]
struct Pending {
    commit: Option<ShardCommit>,
    effects: Vec<Effect>,
    commands: usize,
    hits: u64,
    misses: u64,
    /// Records known in this batch: loaded from the store, or written by the batch itself.
    records: HashMap<(String, String), Option<IdempotencyRecord>>,
    /// Credits known in this batch: loaded, or applied by the batch itself.
    credits: HashMap<String, bool>,
}

/// The pure state machine of one shard owner.
pub struct ShardCore {
    settings: CoreSettings,
    pots: PotCache,
    pending: Pending,
}

impl ShardCore {
    pub fn new(settings: CoreSettings) -> ShardCore {
        let pots = PotCache::new(settings.unload_after_ms, settings.unload_check_every_ms);
        ShardCore {
            settings,
            pots,
            pending: Pending::default(),
        }
    }

    /// Number of pots held in memory.
    pub fn pots_loaded(&self) -> usize {
        self.pots.len()
    }

    /// Whether commands were stepped since the last [`ShardCore::take_batch`].
    pub fn has_pending(&self) -> bool {
        self.pending.commands > 0
    }

    /// The next thing to load before `envelope` can be stepped, or `None` when it is ready.
    pub fn next_need(&self, envelope: &CommandEnvelope) -> Option<Need> {
        let command = &envelope.command;
        if let Some(key) = record_key(command) {
            match self.pending.records.get(&key) {
                None => {
                    return Some(Need::Record {
                        location: key.0,
                        request_id: key.1,
                    });
                }
                // A replay or a mismatch reads no pot; an acknowledgement touches none.
                Some(Some(_)) => return None,
                Some(None) if matches!(command, Command::AcknowledgeMove(_)) => return None,
                Some(None) => {}
            }
        }
        if let Command::CreditMove(credit) = command {
            match self.pending.credits.get(&credit.move_id) {
                None => {
                    return Some(Need::Credit {
                        move_id: credit.move_id.clone(),
                    });
                }
                Some(true) => return None,
                Some(false) => {}
            }
        }
        let uses = self.pot_uses(command);
        let pending_writes = self.pending_pot_writes();
        if pending_writes > 0 && pending_writes + uses.len() > MAX_BATCH_POT_WRITES {
            return Some(Need::CommitFirst);
        }
        uses.into_iter()
            .find_map(|(pot, at)| self.pot_need(pot, at))
    }

    /// Every pot `envelope` changes that is not in memory yet, each once, in order: the driver
    /// loads them together rather than one [`Need::Pot`] at a time.
    pub fn missing_pots(&self, envelope: &CommandEnvelope) -> Vec<PotRef> {
        let mut missing: Vec<PotRef> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for (pot, _) in self.pot_uses(&envelope.command) {
            if self.pots.get(&pot).is_none() && seen.insert(pot.clone()) {
                missing.push(pot);
            }
        }
        missing
    }

    /// How many loads `envelope` can take at most with a correct store: its record and credit,
    /// then per pot the pot and up to two history loads. More means the core and the store
    /// disagree about that command.
    pub fn load_budget(&self, envelope: &CommandEnvelope) -> usize {
        3 + 3 * self.pot_uses(&envelope.command).len()
    }

    fn pending_pot_writes(&self) -> usize {
        self.pending.commit.as_ref().map_or(0, |c| c.pots.len())
    }

    fn pot_need(&self, pot: PotRef, at: LocalDateTime) -> Option<Need> {
        let Some(loaded) = self.pots.get(&pot) else {
            return Some(Need::Pot(pot));
        };
        let request = loaded.history_needed(at)?;
        if self.pots.is_dirty(&pot) {
            Some(Need::CommitFirst)
        } else {
            Some(Need::History(pot, request))
        }
    }

    /// The pots a command changes at this shard, with the business time of the change.
    fn pot_uses(&self, command: &Command) -> Vec<(PotRef, LocalDateTime)> {
        let pot = |location: &str, product: &str| PotRef {
            location: location.to_owned(),
            product: product.to_owned(),
        };
        match command {
            Command::RecordSale(c) => vec![(pot(&c.location, &c.product), c.sold_at)],
            Command::RecordCount(c) => vec![(pot(&c.location, &c.product), c.counted_at)],
            Command::RecordDelivery(c) => c
                .lines
                .iter()
                .map(|line| (pot(&c.location, &line.product), c.delivered_at))
                .collect(),
            Command::MoveStock(c) => {
                let mut uses = vec![(pot(&c.source, &c.product), c.moved_at)];
                if self.is_local(&c.destination) {
                    uses.push((pot(&c.destination, &c.product), c.moved_at));
                }
                uses
            }
            Command::CreditMove(c) => vec![(pot(&c.destination, &c.product), c.moved_at)],
            Command::AcknowledgeMove(_) => Vec::new(),
        }
    }

    fn is_local(&self, location: &str) -> bool {
        shard_of(location, self.settings.shards) == self.settings.shard
    }

    /// Sets aside the stream entry at `id`, which does not decode as a command: the batch moves
    /// it to the shard's dead-letter stream, and its position counts as handled.
    pub fn set_aside(&mut self, id: StreamId, entry: Undecodable) {
        self.commit_mut()
            .dead_letters
            .push(DeadLetter { id, entry });
    }

    /// Hands in an idempotency record asked for by [`Need::Record`].
    pub fn provide_record(
        &mut self,
        location: &str,
        request_id: &str,
        record: Option<IdempotencyRecord>,
    ) {
        let key = (location.to_owned(), request_id.to_owned());
        self.pending.records.entry(key).or_insert(record);
    }

    /// Hands in whether a move was credited, asked for by [`Need::Credit`].
    pub fn provide_credit(&mut self, move_id: &str, credited: bool) {
        self.pending
            .credits
            .entry(move_id.to_owned())
            .or_insert(credited);
    }

    /// Hands in a stored pot asked for by [`Need::Pot`].
    pub fn provide_pot(&mut self, pot: PotRef, stored: StoredPot, now_ms: u64) {
        if self.pots.get(&pot).is_none() {
            self.pots.load(pot, stored, now_ms);
        }
    }

    /// Hands in history asked for by [`Need::History`].
    pub fn provide_history(&mut self, pot: &PotRef, history: PotHistory) {
        self.pots.extend(pot, history);
    }

    /// Takes the batch built so far, to be committed with `applied` as its stream position.
    /// Follow with [`ShardCore::confirm`] or [`ShardCore::discard`].
    pub fn take_batch(&mut self, applied: StreamId) -> Batch {
        let pending = std::mem::take(&mut self.pending);
        let mut commit = pending
            .commit
            .unwrap_or_else(|| ShardCommit::new(self.settings.shard, applied));
        commit.applied = applied;
        Batch {
            commit,
            effects: pending.effects,
            commands: pending.commands,
            hits: pending.hits,
            misses: pending.misses,
        }
    }

    /// The taken batch is committed. Beyond [`MAX_CACHED_POTS`] the least recently used pots are
    /// evicted (they reload from the store when next needed), so that a run of large deliveries
    /// to new products cannot grow memory without bound between idle checks.
    pub fn confirm(&mut self) {
        self.pots.confirm();
        self.pots.shrink_to(MAX_CACHED_POTS);
    }

    /// The taken batch (or the one being built) will not be committed: forget its effects and
    /// evict the pots it changed, so that they reload from the store.
    pub fn discard(&mut self) {
        self.pending = Pending::default();
        self.pots.discard();
    }

    /// Time passes: evicts idle pots when a check is due. Returns how many were evicted.
    pub fn tick(&mut self, now_ms: u64) -> usize {
        self.pots.evict_idle(now_ms)
    }

    /// Drops every pot (the shard is no longer owned).
    pub fn clear(&mut self) {
        self.pending = Pending::default();
        self.pots.clear();
    }
}

/// The record a command reads: its idempotency key, or for an acknowledgement the record of the
/// move it completes.
fn record_key(command: &Command) -> Option<(String, String)> {
    match command {
        Command::AcknowledgeMove(c) => Some((c.source.clone(), c.request_id.clone())),
        other => other
            .idempotency_key()
            .map(|(l, r)| (l.to_owned(), r.to_owned())),
    }
}
