//! The shard driver: the one loop that awaits. Reads a batch, loads what the core asks for, steps
//! every command, commits once (fenced), and only then sends replies and cross-shard messages
//! (docs/architecture.md §5).

mod batch;

use std::sync::Arc;
use std::time::Duration;

use shared::backoff::Backoff;
use shared::command::{Command, CommandEnvelope};
use shared::domain::time::millis;
use shared::shard::{ShardId, shard_of};
use shared::store::{Store, StoreError, StreamId};
use tokio::sync::watch;
use tokio::time::Instant;

use crate::WorkerSettings;
use crate::core::{CoreSettings, ShardCore};
use crate::late_replies::LateReplies;
use crate::lease::Lease;
use crate::outage::Health;
use crate::outbox::OutboxTracker;
use crate::stats::{GaugeShare, Stats};
use crate::stock_pot;

/// First wait after a store failure; doubled on each further failure.
const MIN_BACKOFF: Duration = Duration::from_millis(50);
/// Longest wait between two attempts while the store keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// Why a driver stops.
#[derive(Debug)]
pub(crate) enum Stop {
    /// The lease is lost or no longer surely held.
    Lease,
}

/// What the supervisor asks of a driver.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Halt {
    /// Serve the shard.
    Run,
    /// Commit the batch in hand and stop: the shard goes to its preferred owner.
    HandOff,
    /// Commit the batch in hand and stop: the worker shuts down.
    Shutdown,
}

/// The owner of one shard for as long as its lease holds.
pub(crate) struct ShardDriver {
    store: Arc<dyn Store>,
    lease: Arc<Lease>,
    settings: Arc<WorkerSettings>,
    stats: Stats,
    shutdown: watch::Receiver<Halt>,
    health: Health,
    late_replies: LateReplies,
    core: ShardCore,
    outbox: OutboxTracker,
    applied: StreamId,
    started: Instant,
    next_resend: Instant,
    backoff: Backoff,
    pots_share: GaugeShare,
    transit_share: GaugeShare,
    lag: metrics::Gauge,
}

impl ShardDriver {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        lease: Arc<Lease>,
        settings: Arc<WorkerSettings>,
        stats: Stats,
        shutdown: watch::Receiver<Halt>,
        health: Health,
        late_replies: LateReplies,
    ) -> ShardDriver {
        let core = ShardCore::new(CoreSettings {
            shard: lease.shard(),
            shards: settings.shards,
            unload_after_ms: millis(settings.pot_unload_after),
            unload_check_every_ms: millis(settings.pot_unload_check_interval),
        });
        let now = Instant::now();
        let lag = stats.stream_lag(lease.shard());
        // A third of the TTL at most, so that a lapsed lease is noticed in time.
        let backoff = Backoff::doubling(MIN_BACKOFF, MAX_BACKOFF).capped(settings.lease_ttl / 3);
        ShardDriver {
            store,
            lease,
            settings,
            stats,
            shutdown,
            health,
            late_replies,
            core,
            outbox: OutboxTracker::default(),
            applied: StreamId::ZERO,
            started: now,
            next_resend: now,
            backoff,
            pots_share: GaugeShare::default(),
            transit_share: GaugeShare::default(),
            lag,
        }
    }

    fn shard(&self) -> ShardId {
        self.lease.shard()
    }

    /// Serves the shard until the lease is lost, the worker shuts down, or a fault.
    pub(crate) async fn run(mut self) {
        let shard = self.shard();
        tracing::info!(shard, epoch = self.lease.token().epoch, "shard taken over");
        let mut result = self.take_over().await;
        while result.is_ok() && self.active() {
            result = self.cycle().await;
        }
        self.core.clear();
        self.sync_gauges();
        self.transit_share.set(&self.stats.moves_in_transit, 0);
        // The shard's lag is its owner's to report: a shard no longer owned here reads 0.
        self.lag.set(0.0);
        let halt = *self.shutdown.borrow();
        match result {
            Ok(()) if halt == Halt::HandOff => tracing::info!(shard, "shard stopped: handed off"),
            Ok(()) if self.stopping() => tracing::info!(shard, "shard stopped: shutting down"),
            // The supervisor logs one line for all the shards stopped this way.
            Ok(()) | Err(Stop::Lease) => tracing::debug!(shard, "shard stopped: lease not held"),
        }
    }

    fn stopping(&self) -> bool {
        *self.shutdown.borrow() != Halt::Run || self.shutdown.has_changed().is_err()
    }

    fn active(&self) -> bool {
        !self.stopping() && self.lease.is_valid()
    }

    /// On acquiring the lease: resume after the last committed command and re-send the credits
    /// the previous owner may not have delivered (the destination ignores duplicates).
    async fn take_over(&mut self) -> Result<(), Stop> {
        let shard = self.shard();
        let store = self.store.clone();
        self.applied = self.retry("read applied", || store.applied(shard)).await?;
        let credits = self.retry("read outbox", || store.outbox(shard)).await?;
        for credit in credits {
            let destination = shard_of(&credit.destination, self.settings.shards);
            let envelope = self.outbox.adopt(credit, Instant::now());
            self.send(destination, &envelope).await;
        }
        self.sync_gauges();
        Ok(())
    }

    /// One read, the batch it returns, and the periodic chores.
    async fn cycle(&mut self) -> Result<(), Stop> {
        let block = (self.settings.lease_ttl / 6).max(Duration::from_millis(5));
        let max = self.settings.batch_max.max(1);
        // A stop (hand-off, shutdown) ends the wait at once: the successor takes the shard over
        // without waiting out the block time. Entries read but dropped here are not committed;
        // whoever owns the shard next reads them again from `applied`.
        let read = self
            .store
            .read_entries(self.lease.shard(), self.applied, max, block);
        let read = tokio::select! {
            read = read => read,
            _ = self.shutdown.wait_for(|halt| *halt != Halt::Run) => return Ok(()),
        };
        match read {
            Ok(entries) if entries.is_empty() => {
                self.store_ok();
                self.lag.set(0.0);
            }
            Ok(entries) => {
                self.store_ok();
                self.run_batch(entries.into()).await?;
            }
            Err(error) => self.store_trouble("read commands", &error).await?,
        }
        self.tick().await;
        Ok(())
    }

    /// Appends to another shard's stream. A failure is only logged: an undelivered credit stays
    /// in the outbox and is re-sent; an undelivered acknowledgement is answered again then.
    async fn send(&self, shard: ShardId, envelope: &CommandEnvelope) {
        if let Err(error) = self.store.append(shard, envelope).await {
            self.health.failed("append to another shard", &error);
            let what = match envelope.command {
                Command::CreditMove(_) => "credit not sent; it will be re-sent",
                _ => "cross-shard message not sent",
            };
            let _span = stock_pot::send_span(self.shard(), envelope).entered();
            tracing::debug!(from = self.shard(), to = shard, %error, "{what}");
        }
    }

    /// Periodic work between batches: idle pot eviction and overdue credits.
    async fn tick(&mut self) {
        self.core.tick(self.local_ms());
        let now = Instant::now();
        if now >= self.next_resend {
            self.next_resend = now + self.settings.lease_ttl / 3;
            let overdue_after = self.settings.lease_ttl.max(Duration::from_secs(1));
            for envelope in self.outbox.overdue(overdue_after, now) {
                if let Command::CreditMove(credit) = &envelope.command {
                    let destination = shard_of(&credit.destination, self.settings.shards);
                    self.send(destination, &envelope).await;
                }
            }
        }
        self.sync_gauges();
    }

    fn sync_gauges(&mut self) {
        self.pots_share
            .set(&self.stats.pots_loaded, self.core.pots_loaded());
        self.transit_share
            .set(&self.stats.moves_in_transit, self.outbox.len());
    }

    /// Time for pot eviction: this driver's own monotonic clock.
    fn local_ms(&self) -> u64 {
        millis(self.started.elapsed())
    }

    /// Reports a store failure (the worker logs one warning per outage) and backs off; stops
    /// once the lease is no longer surely held.
    async fn store_trouble(&mut self, what: &str, error: &StoreError) -> Result<(), Stop> {
        self.health.failed(what, error);
        self.backoff.wait().await;
        if self.lease.is_valid() {
            Ok(())
        } else {
            Err(Stop::Lease)
        }
    }

    /// A store call succeeded: the back-off starts over.
    fn store_ok(&mut self) {
        self.backoff.reset();
        self.health.answered();
    }

    async fn retry<T, F, Fut>(&mut self, what: &str, mut call: F) -> Result<T, Stop>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T, StoreError>>,
    {
        loop {
            match call().await {
                Ok(value) => {
                    self.store_ok();
                    return Ok(value);
                }
                Err(error) => self.store_trouble(what, &error).await?,
            }
        }
    }
}
