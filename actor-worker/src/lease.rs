//! Shard leases as held by this worker: acquisition and renewal of many at a time, local
//! validity, why a lease stopped being held, and release (docs/architecture.md §10).

use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use shared::shard::ShardId;
use shared::store::{LeaseToken, Store, StoreError};
use tokio::time::Instant;

use crate::outage::Health;

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
    /// Set when the lease was found held by someone else, with why.
    lost: Option<Lapse>,
}

/// Why a lease is no longer surely held.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lapse {
    /// Not renewed within its validity window: the renewals were missed (the process was
    /// paused, or the store answered too late). Whatever came next, the lease may have expired.
    RenewalsMissed,
    /// Found held by another worker while renewed in time (a renewal or a commit was refused).
    Taken,
}

impl Lapse {
    /// The `reason` label of `stock_lease_self_stops_total`.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Lapse::RenewalsMissed => "renewals_missed",
            Lapse::Taken => "taken",
        }
    }
}

impl Lease {
    fn new(token: LeaseToken, ttl: Duration, sent: Instant) -> Lease {
        Lease {
            token,
            ttl,
            state: Mutex::new(LeaseState {
                renewed_at: sent,
                lost: None,
            }),
        }
    }

    /// Takes the leases of those of `shards` that are free, in one store round: the leases
    /// taken, and the first store failure, if any (the shards it concerns stay free for now).
    pub(crate) async fn acquire_each(
        store: &dyn Store,
        shards: &[ShardId],
        worker: &str,
        ttl: Duration,
    ) -> (Vec<Lease>, Option<StoreError>) {
        let sent = Instant::now();
        let mut leases = Vec::new();
        let mut failure = None;
        for answer in store.acquire_each(shards, worker, ttl).await {
            match answer {
                Ok(Some(token)) => leases.push(Lease::new(token, ttl, sent)),
                Ok(None) => {}
                Err(error) => {
                    failure.get_or_insert(error);
                }
            }
        }
        (leases, failure)
    }

    /// Extends every lease of `leases` in one store round (they share one TTL). A lease found
    /// taken is marked lost (one line for all of them); a store error, reported to `health`,
    /// leaves it to expire locally if it persists.
    pub(crate) async fn renew_each(
        store: &dyn Store,
        health: &Health,
        ttl: Duration,
        leases: &[&Lease],
    ) {
        if leases.is_empty() {
            return;
        }
        let tokens: Vec<LeaseToken> = leases.iter().map(|l| l.token.clone()).collect();
        let sent = Instant::now();
        let answers = store.renew_each(&tokens, ttl).await;
        if answers.len() != leases.len() {
            tracing::warn!(
                leases = leases.len(),
                answers = answers.len(),
                "lease renewal answered for some leases only; the others expire unless renewed"
            );
        }
        let mut lost = Vec::new();
        let mut first_error = None;
        for (lease, answer) in leases.iter().zip(answers) {
            match answer {
                Ok(true) => lease.renewed(sent),
                Ok(false) => {
                    lost.push(lease.shard());
                    lease.mark_lost();
                }
                Err(error) => {
                    first_error.get_or_insert(error);
                }
            }
        }
        match first_error {
            Some(error) => health.failed("lease renewal", &error),
            None => health.answered(),
        }
        if !lost.is_empty() {
            let count = lost.len();
            tracing::info!(count, shards = ?lost, "leases lost: held by another worker or expired");
        }
    }

    pub(crate) fn token(&self) -> &LeaseToken {
        &self.token
    }

    pub(crate) fn shard(&self) -> ShardId {
        self.token.shard
    }

    /// Held for sure: not lost, and renewed within the validity window.
    pub(crate) fn is_valid(&self) -> bool {
        self.lapse().is_none()
    }

    /// Why the lease is no longer surely held; `None` while it is.
    pub(crate) fn lapse(&self) -> Option<Lapse> {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.lost.or_else(|| {
            let missed = state.renewed_at.elapsed() >= self.validity();
            missed.then_some(Lapse::RenewalsMissed)
        })
    }

    /// Two thirds of the TTL from the last renewal sent, which leaves a third of it as margin
    /// before anyone else can acquire the shard.
    fn validity(&self) -> Duration {
        self.ttl * 2 / 3
    }

    /// Marks the lease as lost (a renewal or a commit was refused): taken from under a worker
    /// that renewed it in time, or the consequence of renewals missed.
    pub(crate) fn mark_lost(&self) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.lost.is_none() {
            let missed = state.renewed_at.elapsed() >= self.validity();
            state.lost = Some(if missed {
                Lapse::RenewalsMissed
            } else {
                Lapse::Taken
            });
        }
    }

    fn renewed(&self, sent: Instant) {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        state.renewed_at = state.renewed_at.max(sent);
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
                tracing::debug!(shard = self.shard(), %error, "lease release failed");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TTL: Duration = Duration::from_secs(3);

    fn lease(renewed_ago: Duration) -> Lease {
        let token = LeaseToken {
            shard: 3,
            worker: "w1".to_owned(),
            epoch: 1,
            nonce: "n".to_owned(),
        };
        Lease::new(token, TTL, Instant::now() - renewed_ago)
    }

    #[test]
    fn a_lease_renewed_in_time_is_held() {
        let held = lease(Duration::ZERO);
        assert!(held.is_valid());
        assert_eq!(held.lapse(), None);
    }

    #[test]
    fn a_lease_not_renewed_within_two_thirds_of_its_ttl_has_missed_its_renewals() {
        let late = lease(TTL * 2 / 3);
        assert!(!late.is_valid());
        assert_eq!(late.lapse(), Some(Lapse::RenewalsMissed));
    }

    #[test]
    fn a_lease_refused_while_renewed_in_time_was_taken() {
        let taken = lease(Duration::ZERO);
        taken.mark_lost();
        assert_eq!(taken.lapse(), Some(Lapse::Taken));
        taken.renewed(Instant::now());
        assert!(!taken.is_valid(), "a lost lease came back");
    }

    #[test]
    fn a_lease_refused_after_its_renewals_were_missed_counts_as_missed() {
        let paused = lease(TTL);
        paused.mark_lost();
        assert_eq!(paused.lapse(), Some(Lapse::RenewalsMissed));
    }
}
