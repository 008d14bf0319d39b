//! The backend traits of the engine (streams, leases, fenced commits, replies, the read model)
//! and their embedded in-memory implementation. The Redis implementation lives beside it.

pub mod memory;
pub mod redis;

use std::time::Duration;

use async_trait::async_trait;

use crate::command::{CommandEnvelope, CreditMove};
use crate::domain::{HistoryRequest, PotChange, PotHistory, PotState, StoredPot};
use crate::reply::{IdempotencyRecord, Reply};
use crate::shard::ShardId;

/// The exit code of a start-up failure: 2 for a configuration the store refuses (a
/// `STOCK_SHARDS` or schema other than the dataset's), like any configuration error; 1 otherwise.
/// Both binaries exit with it.
pub fn exit_code(error: &(dyn std::error::Error + 'static)) -> i32 {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if matches!(
            error.downcast_ref::<StoreError>(),
            Some(StoreError::Corrupt(_))
        ) {
            return 2;
        }
        cause = error.source();
    }
    1
}

/// A failure of the store itself (unreachable, timed out, corrupt data).
#[derive(Clone, Debug, thiserror::Error)]
pub enum StoreError {
    #[error("store unavailable: {0}")]
    Unavailable(String),
    #[error("store data invalid: {0}")]
    Corrupt(String),
    /// The store could not be reached at all (connection refused, no connection to be had):
    /// the request was never sent, so it had no effect.
    #[error("store unreachable: {0}")]
    Unreachable(String),
}

/// Why a commit wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum CommitError {
    /// The lease no longer holds the committing worker's token (fencing).
    #[error("lease lost: commit fenced off")]
    Stale,
    /// A command of the batch is past its deadline in store time.
    #[error("a command of the batch is past its deadline")]
    Expired,
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Position of a command in its shard's stream. Ordered; `StreamId::ZERO` is before every entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct StreamId {
    /// Store time in ms when the entry was appended.
    pub ms: u64,
    pub seq: u64,
}

impl StreamId {
    pub const ZERO: StreamId = StreamId { ms: 0, seq: 0 };
}

impl std::fmt::Display for StreamId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.ms, self.seq)
    }
}

impl std::str::FromStr for StreamId {
    type Err = StoreError;
    fn from_str(s: &str) -> Result<StreamId, StoreError> {
        let bad = || StoreError::Corrupt(format!("stream id {s:?}"));
        let (ms, seq) = s.split_once('-').ok_or_else(bad)?;
        Ok(StreamId {
            ms: ms.parse().map_err(|_| bad())?,
            seq: seq.parse().map_err(|_| bad())?,
        })
    }
}

/// Proof of shard ownership: `worker-id/epoch/nonce`. Every commit is fenced by it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LeaseToken {
    pub shard: ShardId,
    pub worker: String,
    pub epoch: u64,
    pub nonce: String,
}

impl LeaseToken {
    /// The value stored in the lease key.
    pub fn value(&self) -> String {
        format!("{}/{}/{}", self.worker, self.epoch, self.nonce)
    }
}

/// One pot's change inside a commit.
#[derive(Clone, Debug, PartialEq)]
pub struct PotWrite {
    pub location: String,
    pub product: String,
    pub change: PotChange,
}

/// One idempotency record written by a commit (created, or updated when a move's credit lands).
#[derive(Clone, Debug, PartialEq)]
pub struct RecordWrite {
    pub location: String,
    pub request_id: String,
    pub record: IdempotencyRecord,
}

/// Everything one batch of one shard changes, committed atomically and fenced by the lease.
#[derive(Clone, Debug, PartialEq)]
pub struct ShardCommit {
    pub shard: ShardId,
    /// Stream position of the last command of the batch.
    pub applied: StreamId,
    /// The earliest deadline among the batch's client commands: the commit is refused with
    /// [`CommitError::Expired`] if store time is past it.
    pub min_deadline_ms: Option<u64>,
    /// Pot changes in the order they were made (several per pot are possible).
    pub pots: Vec<PotWrite>,
    pub records: Vec<RecordWrite>,
    /// Cross-shard credits to deliver (transactional outbox).
    pub outbox_put: Vec<CreditMove>,
    /// Move ids whose credit has been acknowledged.
    pub outbox_remove: Vec<String>,
    /// Move ids credited at this (destination) shard, for de-duplication.
    pub credits_applied: Vec<String>,
    /// Stream entries that do not decode as commands, moved to the shard's dead-letter stream.
    pub dead_letters: Vec<DeadLetter>,
}

/// Dead letters kept per shard, about: the oldest go first.
pub const DEAD_LETTER_MAX_LEN: usize = 10_000;

/// Most fields of an undecodable entry kept in its dead letter.
pub const DEAD_LETTER_MAX_FIELDS: usize = 16;

/// A stream entry that does not decode as a command: garbage, or a command of a newer version
/// this worker does not know.
#[derive(Clone, Debug, PartialEq)]
pub struct Undecodable {
    /// Why it does not decode.
    pub error: String,
    /// The entry's fields as stored (at most [`DEAD_LETTER_MAX_FIELDS`]).
    pub fields: Vec<(String, Vec<u8>)>,
}

/// One entry of a shard stream.
// Nearly every entry is a command: boxing it would cost an allocation for the common case.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum StreamEntry {
    Command(CommandEnvelope),
    Undecodable(Undecodable),
}

/// An undecodable entry set aside by a commit, with its stream id.
#[derive(Clone, Debug, PartialEq)]
pub struct DeadLetter {
    pub id: StreamId,
    pub entry: Undecodable,
}

impl ShardCommit {
    /// An empty commit that only advances `applied`.
    pub fn new(shard: ShardId, applied: StreamId) -> ShardCommit {
        ShardCommit {
            shard,
            applied,
            min_deadline_ms: None,
            pots: Vec::new(),
            records: Vec::new(),
            outbox_put: Vec::new(),
            outbox_remove: Vec::new(),
            credits_applied: Vec::new(),
            dead_letters: Vec::new(),
        }
    }
}

/// Identifies one pot for the read model.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PotRef {
    pub location: String,
    pub product: String,
}

/// What the HTTP tier learns about a write it stopped waiting for.
#[derive(Clone, Debug, PartialEq)]
pub enum Settled {
    /// The deadline is past in store time and the write was not applied: it never will be.
    NotApplied,
    /// A record exists for the request: answer as a replay of it.
    Recorded(IdempotencyRecord),
    /// Store time has not yet passed the deadline; ask again shortly.
    Pending,
}

/// Command streams, one per shard.
#[async_trait]
pub trait CommandLog: Send + Sync {
    /// Appends a command to the shard's stream. The returned id's `ms` is store time.
    async fn append(
        &self,
        shard: ShardId,
        command: &CommandEnvelope,
    ) -> Result<StreamId, StoreError>;
    /// Store time now, in ms since the Unix epoch.
    async fn now_ms(&self) -> Result<u64, StoreError>;
    /// Up to `max` entries after `after`, waiting up to `block` for the first. An entry that
    /// does not decode fails the whole read.
    async fn read(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, CommandEnvelope)>, StoreError>;
    /// [`CommandLog::read`], except that an entry that does not decode is handed back as
    /// [`StreamEntry::Undecodable`] rather than failing the read: the shard owner sets it aside
    /// and goes on. A backend without an encoding has no such entries.
    async fn read_entries(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, StreamEntry)>, StoreError> {
        let entries = self.read(shard, after, max, block).await?;
        Ok(entries
            .into_iter()
            .map(|(id, command)| (id, StreamEntry::Command(command)))
            .collect())
    }
}

/// Shard leases with fencing epochs.
#[async_trait]
pub trait Leases: Send + Sync {
    /// Takes the lease if it is free: increments the epoch and returns the new token.
    async fn acquire(
        &self,
        shard: ShardId,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError>;
    /// Extends the lease if the token still holds it.
    async fn renew(&self, token: &LeaseToken, ttl: Duration) -> Result<bool, StoreError>;
    /// [`Leases::acquire`] of each of `shards`, in as few round trips as the backend allows (a
    /// worker claims many shards at once): one answer per shard, in order, each its own — a
    /// failure for one shard leaves the answers for the others standing.
    async fn acquire_each(
        &self,
        shards: &[ShardId],
        worker: &str,
        ttl: Duration,
    ) -> Vec<Result<Option<LeaseToken>, StoreError>> {
        let mut answers = Vec::with_capacity(shards.len());
        for &shard in shards {
            answers.push(self.acquire(shard, worker, ttl).await);
        }
        answers
    }
    /// [`Leases::renew`] of each token, in as few round trips as the backend allows (a worker
    /// renews every lease it holds at once, and must be done well inside the lease's validity):
    /// one answer per token, in order, each its own.
    async fn renew_each(
        &self,
        tokens: &[LeaseToken],
        ttl: Duration,
    ) -> Vec<Result<bool, StoreError>> {
        let mut answers = Vec::with_capacity(tokens.len());
        for token in tokens {
            answers.push(self.renew(token, ttl).await);
        }
        answers
    }
    /// Deletes the lease if the token still holds it.
    async fn release(&self, token: &LeaseToken) -> Result<bool, StoreError>;
    /// Records that `worker` is alive now (membership: `stock:workers`).
    async fn heartbeat(&self, worker: &str) -> Result<(), StoreError>;
    /// The workers whose last heartbeat is at most `max_age` old, with the number of shards whose
    /// lease each holds, and the holder of each of the `shards`' leases.
    async fn cluster(&self, shards: u32, max_age: Duration) -> Result<ClusterView, StoreError>;
    /// Removes `worker` from the live workers at once (graceful exit).
    async fn leave(&self, worker: &str) -> Result<(), StoreError>;
    /// Tells every worker waiting in [`Leases::await_membership_change`] that membership or
    /// lease ownership changed (a join, a release, a leave), so it re-evaluates at once.
    async fn announce(&self, worker: &str) -> Result<(), StoreError>;
    /// Waits up to `timeout` for an announcement after `after`; returns the cursor of the latest
    /// one seen, equal to `after` when none came. From [`MembershipCursor::default`] it returns
    /// the current cursor at once.
    async fn await_membership_change(
        &self,
        after: &MembershipCursor,
        timeout: Duration,
    ) -> Result<MembershipCursor, StoreError>;
}

/// A position in the membership announcements; opaque outside the backend that made it. The
/// default is "unknown": waiting from it returns the current position at once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MembershipCursor(pub String);

impl MembershipCursor {
    /// Whether this is the "unknown" position.
    pub fn is_unknown(&self) -> bool {
        self.0.is_empty()
    }
}

/// The worker tier as seen from the store (`GET /health/cluster`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterView {
    /// Live workers, ordered by id.
    pub workers: Vec<WorkerView>,
    /// Shards whose lease is held by someone.
    pub owned: u32,
    /// The worker id in each shard's lease (index = shard), `None` where the lease is free.
    pub holders: Vec<Option<String>>,
}

/// One live worker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerView {
    pub id: String,
    /// Shards whose lease it holds.
    pub shards: u32,
    pub heartbeat_age_ms: u64,
}

impl ClusterView {
    /// Builds the view from live heartbeats (`worker → age`) and the holder of each shard's lease
    /// (the worker id part of its value; `None` where free), in shard order.
    pub fn from_parts(heartbeats: Vec<(String, u64)>, holders: Vec<Option<String>>) -> ClusterView {
        let mut workers: Vec<WorkerView> = heartbeats
            .into_iter()
            .map(|(id, heartbeat_age_ms)| WorkerView {
                id,
                shards: 0,
                heartbeat_age_ms,
            })
            .collect();
        workers.sort_by(|a, b| a.id.cmp(&b.id));
        for holder in holders.iter().flatten() {
            if let Some(w) = workers.iter_mut().find(|w| &w.id == holder) {
                w.shards += 1;
            }
        }
        let owned = holders.iter().flatten().count();
        ClusterView {
            workers,
            owned: u32::try_from(owned).unwrap_or(u32::MAX),
            holders,
        }
    }
}

/// The worker id inside a lease value `worker-id/epoch/nonce` (the id may itself contain `/`).
pub fn lease_holder(value: &str) -> &str {
    let mut parts = value.rsplitn(3, '/');
    let _nonce = parts.next();
    let _epoch = parts.next();
    parts.next().unwrap_or(value)
}

/// The committed state of each shard: pots, events, checkpoints, idempotency records, outbox.
#[async_trait]
pub trait ShardState: Send + Sync {
    /// The id of the last command whose effects are committed.
    async fn applied(&self, shard: ShardId) -> Result<StreamId, StoreError>;
    async fn load_pot(&self, shard: ShardId, pot: &PotRef) -> Result<StoredPot, StoreError>;
    /// Loads several pots of the shard, in order: what [`ShardState::load_pot`] gives for each,
    /// in as few store round trips as the backend can (a delivery may name thousands).
    async fn load_pots(
        &self,
        shard: ShardId,
        pots: &[PotRef],
    ) -> Result<Vec<StoredPot>, StoreError> {
        let mut stored = Vec::with_capacity(pots.len());
        for pot in pots {
            stored.push(self.load_pot(shard, pot).await?);
        }
        Ok(stored)
    }
    async fn load_history(
        &self,
        shard: ShardId,
        pot: &PotRef,
        request: &HistoryRequest,
    ) -> Result<PotHistory, StoreError>;
    async fn load_record(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    async fn credit_applied(&self, shard: ShardId, move_id: &str) -> Result<bool, StoreError>;
    /// Credits committed at this shard as a move's source but not yet acknowledged.
    async fn outbox(&self, shard: ShardId) -> Result<Vec<CreditMove>, StoreError>;
    /// Commits atomically, fenced by `token`; records expire after `retention`.
    async fn commit(
        &self,
        token: &LeaseToken,
        commit: &ShardCommit,
        retention: Duration,
    ) -> Result<(), CommitError>;
    /// For a write the HTTP tier stopped waiting for (see [`Settled`]).
    async fn settle(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<Settled, StoreError>;
}

/// The read model: current pot states, read without a worker round trip.
#[async_trait]
pub trait ReadModel: Send + Sync {
    /// States of the given pots, in order; a pot without events reads [`PotState::INITIAL`].
    async fn read_pots(&self, pots: &[PotRef]) -> Result<Vec<PotState>, StoreError>;
    /// Whether the store answers (readiness).
    async fn ping(&self) -> Result<(), StoreError>;
}

/// A reply address and the replies sent to it.
pub struct ReplyWaiter {
    pub address: String,
    pub replies: tokio::sync::mpsc::Receiver<Reply>,
    /// Changes when replies to this address may have been lost: the channel they come by was
    /// cut off from the store and is read again. A write's owner may also have committed it
    /// and lost its reply with the store (a commit whose answer never came). The waiter should
    /// then look for the write's idempotency record. `None` where no such loss is noticed.
    pub gaps: Option<tokio::sync::watch::Receiver<u64>>,
}

/// Reply channels between shard owners and the HTTP tier.
#[async_trait]
pub trait Replies: Send + Sync {
    /// A fresh address; replies sent to it arrive on the waiter until it is dropped.
    async fn open(&self) -> Result<ReplyWaiter, StoreError>;
    /// Sends a reply; a reply to an address nobody waits on is dropped.
    async fn send(&self, address: &str, reply: &Reply) -> Result<(), StoreError>;
}

/// Everything the engine needs from a backend.
pub trait Store: CommandLog + Leases + ShardState + ReadModel + Replies {}
impl<T: CommandLog + Leases + ShardState + ReadModel + Replies> Store for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lease_holder_is_everything_before_epoch_and_nonce() {
        assert_eq!(lease_holder("w1/3/abc"), "w1");
        assert_eq!(lease_holder("host/with/slash/12/ff"), "host/with/slash");
        assert_eq!(lease_holder("odd"), "odd");
    }

    #[test]
    fn the_cluster_view_counts_shards_per_live_worker() {
        let view = ClusterView::from_parts(
            vec![("w2".into(), 5), ("w1".into(), 10)],
            vec![
                Some("w1".into()),
                None,
                Some("w2".into()),
                Some("w1".into()),
                Some("gone".into()),
            ],
        );
        assert_eq!(view.owned, 4);
        assert_eq!(view.holders.len(), 5);
        assert_eq!(view.holders[1], None);
        assert_eq!(
            view.workers[0],
            WorkerView {
                id: "w1".into(),
                shards: 2,
                heartbeat_age_ms: 10
            }
        );
        assert_eq!(
            view.workers[1],
            WorkerView {
                id: "w2".into(),
                shards: 1,
                heartbeat_age_ms: 5
            }
        );
    }
}
