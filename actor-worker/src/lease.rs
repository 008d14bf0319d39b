//! Shard leases as held by this worker: acquisition, renewal, local validity and release
//! (ARCHITECTURE.md §4).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use shared::shard::ShardId;
use shared::store::{LeaseToken, Store, StoreError};
use tokio::time::Instant;

/// A lease this worker acquired. Shared by the supervisor, which renews it, and the shard's
/// driver, which stops on its own once the lease is no longer surely held.
pub(crate) struct Lease {
    token: LeaseToken,
    ttl: Duration,
    state: Mutex<LeaseState>,
}

struct LeaseState {
    /// When the last successful acquire or renew was *sent*: the store's expiry is later.
    renewed_at: Instant,
    lost: bool,
}

impl Lease {
    /// Takes the shard's lease if it is free.
    pub(crate) async fn acquire(
        store: &dyn Store,
        shard: ShardId,
        worker: &str,
        ttl: Duration,
    ) -> Result<Option<Lease>, StoreError> {
        let sent = Instant::now();
        let token = store.acquire(shard, worker, ttl).await?;
        Ok(token.map(|token| Lease {
            token,
            ttl,
            state: Mutex::new(LeaseState {
                renewed_at: sent,
                lost: false,
            }),
        }))
    }

    pub(crate) fn token(&self) -> &LeaseToken {
        &self.token
    }

    pub(crate) fn shard(&self) -> ShardId {
        self.token.shard
    }

    /// Held for sure: not lost, and renewed within two thirds of the TTL, which leaves a third
    /// of it as margin before anyone else can acquire the shard.
    pub(crate) fn is_valid(&self) -> bool {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        !state.lost && state.renewed_at.elapsed() < self.ttl * 2 / 3
    }

    /// Marks the lease as lost (a commit was fenced off).
    pub(crate) fn mark_lost(&self) {
        self.state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .lost = true;
    }

    /// Extends the lease. A lease found taken is marked lost; a store error leaves it to expire
    /// locally if it persists.
    pub(crate) async fn renew(&self, store: &dyn Store) {
        let sent = Instant::now();
        match store.renew(&self.token, self.ttl).await {
            Ok(true) => {
                let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
                state.renewed_at = state.renewed_at.max(sent);
            }
            Ok(false) => {
                tracing::warn!(
                    shard = self.shard(),
                    "lease lost: held by another worker or expired"
                );
                self.mark_lost();
            }
            Err(error) => {
                tracing::warn!(shard = self.shard(), %error, "lease renewal failed");
            }
        }
    }

    /// Gives the lease back so that a successor need not wait for it to expire; true when it
    /// was still held and is now free.
    pub(crate) async fn release(&self, store: &dyn Store) -> bool {
        match store.release(&self.token).await {
            Ok(true) => {
                tracing::info!(shard = self.shard(), "lease released");
                true
            }
            Ok(false) => false,
            Err(error) => {
                tracing::warn!(shard = self.shard(), %error, "lease release failed");
                false
            }
        }
    }
}
