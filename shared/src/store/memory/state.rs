//! The embedded backend's state: streams, leases, pots, records and outboxes, and how a commit
//! is checked and applied to them.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::{Notify, mpsc};

use crate::command::{CommandEnvelope, CreditMove};
use crate::domain::{Checkpoint, Event, HistoryRequest, PotHistory, PotState, StoredPot};
use crate::reply::{IdempotencyRecord, Reply};
use crate::shard::ShardId;
use crate::store::{DEAD_LETTER_MAX_LEN, DeadLetter, ShardCommit, StoreError, StreamId};

/// Expired idempotency records and credit markers are purged at most this often (store time).
const PURGE_INTERVAL_MS: u64 = 60_000;

/// Everything the store holds, guarded by one mutex.
#[derive(Default)]
pub(super) struct State {
    /// Last value handed out by the clock: store time never goes backwards.
    pub(super) clock_ms: u64,
    /// Added to the system clock (test aid: lets time pass without sleeping).
    pub(super) clock_offset_ms: u64,
    pub(super) shards: HashMap<ShardId, ShardData>,
    pub(super) pots: HashMap<(String, String), PotData>,
    pub(super) replies: HashMap<String, mpsc::Sender<Reply>>,
    pub(super) opens: u64,
    /// Worker id → store time of its last heartbeat.
    pub(super) heartbeats: HashMap<String, u64>,
    pub(super) next_purge_ms: u64,
}

/// One shard: its stream, lease, fencing epoch, `applied`, records, credits and outbox.
#[derive(Default)]
pub(super) struct ShardData {
    pub(super) stream: VecDeque<(StreamId, CommandEnvelope)>,
    /// Entries set aside by commits; none arise here (nothing is encoded), but a commit that
    /// carries some keeps them as the Redis backend does.
    pub(super) dead_letters: Vec<DeadLetter>,
    pub(super) last_id: StreamId,
    pub(super) notify: Arc<Notify>,
    /// Token value and expiry (store ms).
    pub(super) lease: Option<(String, u64)>,
    pub(super) epoch: u64,
    pub(super) applied: StreamId,
    /// Keyed by (location, request id); with expiry (store ms).
    pub(super) records: HashMap<(String, String), (IdempotencyRecord, u64)>,
    /// Move ids credited here, with expiry (store ms).
    pub(super) credits: HashMap<String, u64>,
    pub(super) outbox: BTreeMap<String, CreditMove>,
}

/// One pot: every event in storage order (event `i` has position `i + 1`) and the valid
/// checkpoint stack.
#[derive(Default)]
pub(super) struct PotData {
    pub(super) state: Option<PotState>,
    pub(super) events: Vec<Event>,
    pub(super) checkpoints: Vec<Checkpoint>,
}

impl PotData {
    pub(super) fn version(&self) -> u64 {
        self.events.len() as u64
    }

    pub(super) fn stored(&self) -> StoredPot {
        let state = self.state.unwrap_or(PotState::INITIAL);
        StoredPot::from_full(state, &self.events, &self.checkpoints)
    }

    pub(super) fn history(&self, request: &HistoryRequest) -> PotHistory {
        PotHistory::from_full(&self.events, &self.checkpoints, request)
    }
}

impl State {
    pub(super) fn now_ms(&mut self) -> u64 {
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let wall = millis(wall);
        self.clock_ms = self.clock_ms.max(wall.saturating_add(self.clock_offset_ms));
        self.clock_ms
    }

    pub(super) fn shard(&mut self, shard: ShardId) -> &mut ShardData {
        self.shards.entry(shard).or_default()
    }

    pub(super) fn live_lease(&mut self, shard: ShardId) -> Option<String> {
        let now = self.now_ms();
        let data = self.shard(shard);
        match &data.lease {
            Some((value, expires)) if *expires > now => Some(value.clone()),
            _ => None,
        }
    }

    pub(super) fn record(
        &mut self,
        shard: ShardId,
        location: &str,
        request_id: &str,
    ) -> Option<IdempotencyRecord> {
        let now = self.now_ms();
        let key = (location.to_owned(), request_id.to_owned());
        match self.shard(shard).records.get(&key) {
            Some((record, expires)) if *expires > now => Some(record.clone()),
            _ => None,
        }
    }

    pub(super) fn purge_expired(&mut self, now: u64) {
        if now < self.next_purge_ms {
            return;
        }
        self.next_purge_ms = now.saturating_add(PURGE_INTERVAL_MS);
        for data in self.shards.values_mut() {
            data.records.retain(|_, (_, expires)| *expires > now);
            data.credits.retain(|_, expires| *expires > now);
        }
    }

    /// Checks that every pot change lands right after the pot's stored version, so that a
    /// commit is either applied whole or refused before anything is written.
    pub(super) fn check_positions(&self, commit: &ShardCommit) -> Result<(), StoreError> {
        let mut versions: HashMap<(&str, &str), u64> = HashMap::new();
        for write in &commit.pots {
            let key = (write.location.as_str(), write.product.as_str());
            let version = versions.entry(key).or_insert_with(|| {
                let stored = self.pots.get(&(key.0.to_owned(), key.1.to_owned()));
                stored.map_or(0, PotData::version)
            });
            if write.change.event.position != *version + 1 {
                return Err(StoreError::Corrupt(format!(
                    "pot ({:?}, {:?}): event position {} after version {}",
                    key.0, key.1, write.change.event.position, version
                )));
            }
            *version += 1;
        }
        Ok(())
    }

    pub(super) fn apply(&mut self, commit: &ShardCommit, now: u64, retention: Duration) {
        for write in &commit.pots {
            let pot = self
                .pots
                .entry((write.location.clone(), write.product.clone()))
                .or_default();
            write.change.apply_to(&mut pot.events, &mut pot.checkpoints);
            pot.state = Some(write.change.state);
        }
        let retention = millis(retention);
        let expires = now.saturating_add(retention);
        let data = self.shard(commit.shard);
        for write in &commit.records {
            let key = (write.location.clone(), write.request_id.clone());
            data.records.insert(key, (write.record.clone(), expires));
        }
        for credit in &commit.outbox_put {
            data.outbox.insert(credit.move_id.clone(), credit.clone());
        }
        for move_id in &commit.outbox_remove {
            data.outbox.remove(move_id);
        }
        for move_id in &commit.credits_applied {
            data.credits.insert(move_id.clone(), expires);
        }
        data.dead_letters
            .extend(commit.dead_letters.iter().cloned());
        let excess = data.dead_letters.len().saturating_sub(DEAD_LETTER_MAX_LEN);
        data.dead_letters.drain(..excess);
        data.applied = data.applied.max(commit.applied);
        while data
            .stream
            .front()
            .is_some_and(|(id, _)| *id <= data.applied)
        {
            data.stream.pop_front();
        }
    }
}

pub(super) use crate::domain::time::millis;
