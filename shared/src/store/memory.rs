//! Embedded in-memory backend: the whole [`Store`](super::Store) inside the process, for
//! single-node mode and tests. State is lost on exit.

mod state;

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::{Notify, mpsc, watch};

use super::{
    ClusterView, CommandLog, CommitError, DeadLetter, LeaseToken, Leases, MembershipCursor, PotRef,
    ReadModel, Replies, ReplyWaiter, Settled, ShardCommit, ShardState, StoreError, StreamId,
};
use crate::command::{CommandEnvelope, CreditMove};
use crate::domain::{HistoryRequest, PotHistory, PotState, StoredPot};
use crate::reply::{IdempotencyRecord, Reply};
use crate::shard::ShardId;
use state::{PotData, State, millis};

/// Replies buffered per address; a write gets at most a provisional and a final reply.
const REPLY_BUFFER: usize = 16;
/// Closed reply senders are purged once every this many `open` calls.
const REPLY_PURGE_EVERY: u64 = 256;

/// The embedded backend. One mutex guards all state (never held across an `.await`); one
/// [`Notify`] per shard wakes blocked readers of its stream; a counter of membership
/// announcements wakes waiting workers.
pub struct MemoryStore {
    state: Mutex<State>,
    announcements: watch::Sender<u64>,
}

impl MemoryStore {
    /// An empty store. Logs once that its state lives in memory only.
    pub fn new() -> MemoryStore {
        tracing::info!(
            "store backend: embedded in-memory; state is kept in memory only and lost on exit"
        );
        MemoryStore {
            state: Mutex::new(State::default()),
            announcements: watch::Sender::new(0),
        }
    }

    /// Moves store time forward by `by` (test aid: expires leases, deadlines and records
    /// without waiting).
    pub fn advance_time(&self, by: Duration) {
        let by = millis(by);
        let mut state = self.lock();
        state.clock_offset_ms = state.clock_offset_ms.saturating_add(by);
    }

    /// Fault injection for tests: takes the shard's lease for `worker` whoever holds it, as if the
    /// holder had been paused past its lease and another worker had acquired it.
    pub fn steal_lease(&self, shard: ShardId, worker: &str, ttl: Duration) -> LeaseToken {
        let mut state = self.lock();
        let expires = state.now_ms().saturating_add(millis(ttl));
        let data = state.shard(shard);
        data.epoch += 1;
        let token = LeaseToken {
            shard,
            worker: worker.to_owned(),
            epoch: data.epoch,
            nonce: format!("{:016x}", rand::random::<u64>()),
        };
        data.lease = Some((token.value(), expires));
        token
    }

    /// The entries set aside from the shard's stream, oldest first.
    pub fn dead_letters(&self, shard: ShardId) -> Vec<DeadLetter> {
        self.lock().shard(shard).dead_letters.clone()
    }

    /// Number of entries still held in the shard's stream (not yet trimmed).
    pub fn stream_len(&self, shard: ShardId) -> usize {
        self.lock().shard(shard).stream.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave a half-applied commit (commits validate
        // before writing), so the state stays usable.
        self.state
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn notify(&self, shard: ShardId) -> Arc<Notify> {
        self.lock().shard(shard).notify.clone()
    }

    fn entries_after(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
    ) -> Vec<(StreamId, CommandEnvelope)> {
        let mut state = self.lock();
        let stream = &state.shard(shard).stream;
        stream
            .iter()
            .filter(|(id, _)| *id > after)
            .take(max)
            .cloned()
            .collect()
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

#[async_trait]
impl CommandLog for MemoryStore {
    async fn append(
        &self,
        shard: ShardId,
        command: &CommandEnvelope,
    ) -> Result<StreamId, StoreError> {
        let (id, notify) = {
            let mut state = self.lock();
            let now = state.now_ms();
            let data = state.shard(shard);
            let id = if now > data.last_id.ms {
                StreamId { ms: now, seq: 0 }
            } else {
                StreamId {
                    ms: data.last_id.ms,
                    seq: data.last_id.seq + 1,
                }
            };
            data.last_id = id;
            data.stream.push_back((id, command.clone()));
            (id, data.notify.clone())
        };
        notify.notify_waiters();
        Ok(id)
    }

    async fn now_ms(&self) -> Result<u64, StoreError> {
        Ok(self.lock().now_ms())
    }

    async fn read(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, CommandEnvelope)>, StoreError> {
        let until = tokio::time::Instant::now() + block;
        let notify = self.notify(shard);
        loop {
            // Registered before looking, so an append between the look and the wait still wakes us.
            let notified = notify.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            let entries = self.entries_after(shard, after, max.max(1));
            if !entries.is_empty() || tokio::time::Instant::now() >= until {
                return Ok(entries);
            }
            if tokio::time::timeout_at(until, notified).await.is_err() {
                return Ok(self.entries_after(shard, after, max.max(1)));
            }
        }
    }
}

#[async_trait]
impl Leases for MemoryStore {
    async fn acquire(
        &self,
        shard: ShardId,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        let mut state = self.lock();
        if state.live_lease(shard).is_some() {
            return Ok(None);
        }
        let expires = state.now_ms().saturating_add(millis(ttl));
        let data = state.shard(shard);
        data.epoch += 1;
        let token = LeaseToken {
            shard,
            worker: worker.to_owned(),
            epoch: data.epoch,
            nonce: format!("{:016x}", rand::random::<u64>()),
        };
        data.lease = Some((token.value(), expires));
        Ok(Some(token))
    }

    async fn renew(&self, token: &LeaseToken, ttl: Duration) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.live_lease(token.shard) != Some(token.value()) {
            return Ok(false);
        }
        let expires = state.now_ms().saturating_add(millis(ttl));
        state.shard(token.shard).lease = Some((token.value(), expires));
        Ok(true)
    }

    async fn release(&self, token: &LeaseToken) -> Result<bool, StoreError> {
        let mut state = self.lock();
        if state.live_lease(token.shard) != Some(token.value()) {
            return Ok(false);
        }
        state.shard(token.shard).lease = None;
        Ok(true)
    }

    async fn heartbeat(&self, worker: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let now = state.now_ms();
        state.heartbeats.insert(worker.to_owned(), now);
        Ok(())
    }

    async fn cluster(&self, shards: u32, max_age: Duration) -> Result<ClusterView, StoreError> {
        let mut state = self.lock();
        let now = state.now_ms();
        let max_age = millis(max_age);
        let heartbeats = state
            .heartbeats
            .iter()
            .map(|(id, at)| (id.clone(), now.saturating_sub(*at)))
            .filter(|(_, age)| *age <= max_age)
            .collect();
        let holders = (0..shards)
            .map(|shard| {
                state
                    .live_lease(shard)
                    .map(|value| super::lease_holder(&value).to_owned())
            })
            .collect();
        Ok(ClusterView::from_parts(heartbeats, holders))
    }

    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        self.lock().heartbeats.remove(worker);
        Ok(())
    }

    async fn announce(&self, _worker: &str) -> Result<(), StoreError> {
        self.announcements.send_modify(|n| *n += 1);
        Ok(())
    }

    async fn await_membership_change(
        &self,
        after: &MembershipCursor,
        timeout: Duration,
    ) -> Result<MembershipCursor, StoreError> {
        let mut announcements = self.announcements.subscribe();
        let current = |n: u64| MembershipCursor(n.to_string());
        let seen = *announcements.borrow_and_update();
        if after.is_unknown() || current(seen) != *after {
            return Ok(current(seen));
        }
        // The sender lives as long as the store, so `changed` only ends with a new value.
        let _ = tokio::time::timeout(timeout, announcements.changed()).await;
        let latest = *announcements.borrow();
        Ok(current(latest))
    }
}

#[async_trait]
impl ShardState for MemoryStore {
    async fn applied(&self, shard: ShardId) -> Result<StreamId, StoreError> {
        Ok(self.lock().shard(shard).applied)
    }

    async fn load_pot(&self, _shard: ShardId, pot: &PotRef) -> Result<StoredPot, StoreError> {
        let state = self.lock();
        let key = (pot.location.clone(), pot.product.clone());
        Ok(state
            .pots
            .get(&key)
            .map_or_else(|| PotData::default().stored(), PotData::stored))
    }

    async fn load_history(
        &self,
        _shard: ShardId,
        pot: &PotRef,
        request: &HistoryRequest,
    ) -> Result<PotHistory, StoreError> {
        let state = self.lock();
        let key = (pot.location.clone(), pot.product.clone());
        Ok(state
            .pots
            .get(&key)
            .map_or_else(PotHistory::default, |d| d.history(request)))
    }

    async fn load_record(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        Ok(self.lock().record(shard, location, request_id))
    }

    async fn credit_applied(&self, shard: ShardId, move_id: &str) -> Result<bool, StoreError> {
        let mut state = self.lock();
        let now = state.now_ms();
        Ok(state
            .shard(shard)
            .credits
            .get(move_id)
            .is_some_and(|expires| *expires > now))
    }

    async fn outbox(&self, shard: ShardId) -> Result<Vec<CreditMove>, StoreError> {
        Ok(self.lock().shard(shard).outbox.values().cloned().collect())
    }

    async fn commit(
        &self,
        token: &LeaseToken,
        commit: &ShardCommit,
        retention: Duration,
    ) -> Result<(), CommitError> {
        let mut state = self.lock();
        if state.live_lease(commit.shard) != Some(token.value()) || token.shard != commit.shard {
            return Err(CommitError::Stale);
        }
        let now = state.now_ms();
        if commit
            .min_deadline_ms
            .is_some_and(|deadline| now > deadline)
        {
            return Err(CommitError::Expired);
        }
        state.check_positions(commit)?;
        state.purge_expired(now);
        state.apply(commit, now, retention);
        Ok(())
    }

    async fn settle(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<Settled, StoreError> {
        let mut state = self.lock();
        if state.now_ms() <= deadline_ms {
            return Ok(Settled::Pending);
        }
        Ok(match state.record(shard, location, request_id) {
            Some(record) => Settled::Recorded(record),
            None => Settled::NotApplied,
        })
    }
}

#[async_trait]
impl ReadModel for MemoryStore {
    async fn read_pots(&self, pots: &[PotRef]) -> Result<Vec<PotState>, StoreError> {
        let state = self.lock();
        Ok(pots
            .iter()
            .map(|p| {
                let key = (p.location.clone(), p.product.clone());
                state
                    .pots
                    .get(&key)
                    .and_then(|d| d.state)
                    .unwrap_or(PotState::INITIAL)
            })
            .collect())
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

#[async_trait]
impl Replies for MemoryStore {
    async fn open(&self) -> Result<ReplyWaiter, StoreError> {
        let (sender, replies) = mpsc::channel(REPLY_BUFFER);
        let address = format!("{:032x}", rand::random::<u128>());
        let mut state = self.lock();
        state.opens += 1;
        if state.opens >= REPLY_PURGE_EVERY {
            state.opens = 0;
            state.replies.retain(|_, s| !s.is_closed());
        }
        state.replies.insert(address.clone(), sender);
        Ok(ReplyWaiter {
            address,
            replies,
            gaps: None,
        })
    }

    async fn send(&self, address: &str, reply: &Reply) -> Result<(), StoreError> {
        let mut state = self.lock();
        let Some(sender) = state.replies.get(address) else {
            return Ok(());
        };
        if sender.is_closed() {
            state.replies.remove(address);
        } else if sender.try_send(reply.clone()).is_err() {
            tracing::debug!(address, "reply dropped: the waiter's buffer is full");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
