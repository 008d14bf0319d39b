//! A real store made distant: [`Distant`] waits a fixed delay before every call it passes on, as
//! a store one network round trip away would (a managed Redis in another zone, say).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use async_trait::async_trait;

use crate::command::CommandEnvelope;
use crate::domain::{HistoryRequest, PotHistory, PotState, StoredPot};
use crate::reply::{IdempotencyRecord, Reply};
use crate::shard::ShardId;
use crate::store::{
    ClusterView, CommandLog, CommitError, LeaseToken, Leases, MembershipCursor, PotRef, ReadModel,
    Replies, ReplyWaiter, Settled, ShardCommit, ShardState, StoreError, StreamId,
};

/// `inner` with `delay` added before each call: one call, one round trip. Counts the lease
/// renewals asked for (one per lease, however many a call carries), so that a test can wait for
/// rounds of them.
pub struct Distant<S> {
    inner: S,
    delay: Duration,
    renewals: AtomicU64,
}

impl<S> Distant<S> {
    /// `inner`, `delay` away.
    pub fn new(inner: S, delay: Duration) -> Distant<S> {
        Distant {
            inner,
            delay,
            renewals: AtomicU64::new(0),
        }
    }

    /// Leases renewed so far by [`Leases::renew`] and [`Leases::renew_each`], one per lease.
    pub fn renewals(&self) -> u64 {
        self.renewals.load(Ordering::Relaxed)
    }

    /// The store behind the delay.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    async fn travel(&self) {
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
    }
}

#[async_trait]
impl<S: CommandLog> CommandLog for Distant<S> {
    async fn append(
        &self,
        shard: ShardId,
        command: &CommandEnvelope,
    ) -> Result<StreamId, StoreError> {
        self.travel().await;
        self.inner.append(shard, command).await
    }

    async fn now_ms(&self) -> Result<u64, StoreError> {
        self.travel().await;
        self.inner.now_ms().await
    }

    async fn read(
        &self,
        shard: ShardId,
        after: StreamId,
        max: usize,
        block: Duration,
    ) -> Result<Vec<(StreamId, CommandEnvelope)>, StoreError> {
        self.travel().await;
        self.inner.read(shard, after, max, block).await
    }
}

#[async_trait]
impl<S: Leases> Leases for Distant<S> {
    async fn acquire(
        &self,
        shard: ShardId,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<LeaseToken>, StoreError> {
        self.travel().await;
        self.inner.acquire(shard, worker, ttl).await
    }

    async fn renew(&self, token: &LeaseToken, ttl: Duration) -> Result<bool, StoreError> {
        self.renewals.fetch_add(1, Ordering::Relaxed);
        self.travel().await;
        self.inner.renew(token, ttl).await
    }

    async fn acquire_each(
        &self,
        shards: &[ShardId],
        worker: &str,
        ttl: Duration,
    ) -> Vec<Result<Option<LeaseToken>, StoreError>> {
        self.travel().await;
        self.inner.acquire_each(shards, worker, ttl).await
    }

    async fn renew_each(
        &self,
        tokens: &[LeaseToken],
        ttl: Duration,
    ) -> Vec<Result<bool, StoreError>> {
        let leases = u64::try_from(tokens.len()).unwrap_or(u64::MAX);
        self.renewals.fetch_add(leases, Ordering::Relaxed);
        self.travel().await;
        self.inner.renew_each(tokens, ttl).await
    }

    async fn release(&self, token: &LeaseToken) -> Result<bool, StoreError> {
        self.travel().await;
        self.inner.release(token).await
    }

    async fn heartbeat(&self, worker: &str) -> Result<(), StoreError> {
        self.travel().await;
        self.inner.heartbeat(worker).await
    }

    async fn cluster(&self, shards: u32, max_age: Duration) -> Result<ClusterView, StoreError> {
        self.travel().await;
        self.inner.cluster(shards, max_age).await
    }

    async fn leave(&self, worker: &str) -> Result<(), StoreError> {
        self.travel().await;
        self.inner.leave(worker).await
    }

    async fn announce(&self, worker: &str) -> Result<(), StoreError> {
        self.travel().await;
        self.inner.announce(worker).await
    }

    async fn await_membership_change(
        &self,
        after: &MembershipCursor,
        timeout: Duration,
    ) -> Result<MembershipCursor, StoreError> {
        self.travel().await;
        self.inner.await_membership_change(after, timeout).await
    }
}

#[async_trait]
impl<S: ShardState> ShardState for Distant<S> {
    async fn applied(&self, shard: ShardId) -> Result<StreamId, StoreError> {
        self.travel().await;
        self.inner.applied(shard).await
    }

    async fn load_pot(&self, shard: ShardId, pot: &PotRef) -> Result<StoredPot, StoreError> {
        self.travel().await;
        self.inner.load_pot(shard, pot).await
    }

    async fn load_history(
        &self,
        shard: ShardId,
        pot: &PotRef,
        request: &HistoryRequest,
    ) -> Result<PotHistory, StoreError> {
        self.travel().await;
        self.inner.load_history(shard, pot, request).await
    }

    async fn load_record(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        self.travel().await;
        self.inner.load_record(shard, location, request_id).await
    }

    async fn credit_applied(&self, shard: ShardId, move_id: &str) -> Result<bool, StoreError> {
        self.travel().await;
        self.inner.credit_applied(shard, move_id).await
    }

    async fn outbox(&self, shard: ShardId) -> Result<Vec<crate::command::CreditMove>, StoreError> {
        self.travel().await;
        self.inner.outbox(shard).await
    }

    async fn commit(
        &self,
        token: &LeaseToken,
        commit: &ShardCommit,
        retention: Duration,
    ) -> Result<(), CommitError> {
        self.travel().await;
        self.inner.commit(token, commit, retention).await
    }

    async fn settle(
        &self,
        shard: ShardId,
        location: &str,
        request_id: &str,
        deadline_ms: u64,
    ) -> Result<Settled, StoreError> {
        self.travel().await;
        self.inner
            .settle(shard, location, request_id, deadline_ms)
            .await
    }
}

#[async_trait]
impl<S: ReadModel> ReadModel for Distant<S> {
    async fn read_pots(&self, pots: &[PotRef]) -> Result<Vec<PotState>, StoreError> {
        self.travel().await;
        self.inner.read_pots(pots).await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.travel().await;
        self.inner.ping().await
    }
}

#[async_trait]
impl<S: Replies> Replies for Distant<S> {
    async fn open(&self) -> Result<ReplyWaiter, StoreError> {
        self.travel().await;
        self.inner.open().await
    }

    async fn send(&self, address: &str, reply: &Reply) -> Result<(), StoreError> {
        self.travel().await;
        self.inner.send(address, reply).await
    }
}
