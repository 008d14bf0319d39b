//! The worker: claims shards, renews their leases, runs one driver task per owned shard, and
//! shuts down gracefully (in-flight batches committed, leases released).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use shared::metrics::Metrics;
use shared::shard::ShardId;
use shared::store::Store;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::driver::ShardDriver;
use crate::lease::Lease;
use crate::membership::shards_to_claim;
use crate::stats::Stats;

/// Settings of the worker tier (spec/CONFIG.md, "Stock pots and the worker tier").
#[derive(Clone, Debug)]
pub struct WorkerSettings {
    /// Identity in leases and logs.
    pub worker_id: String,
    /// `STOCK_SHARDS`.
    pub shards: u32,
    pub lease_ttl: Duration,
    pub pot_unload_after: Duration,
    pub pot_unload_check_interval: Duration,
    pub idempotency_retention: Duration,
    /// Most commands read and committed as one batch (e.g. 256).
    pub batch_max: usize,
}

impl WorkerSettings {
    /// The settings of `config` (`STOCK_WORKER_ID`, `STOCK_SHARDS`, `STOCK_LEASE_TTL`, …).
    pub fn from_config(config: &shared::config::Config) -> WorkerSettings {
        WorkerSettings {
            worker_id: config.worker_id.clone(),
            shards: config.shards,
            lease_ttl: config.lease_ttl,
            pot_unload_after: config.pot_unload_after,
            pot_unload_check_interval: config.pot_unload_check_interval,
            idempotency_retention: config.idempotency_retention,
            batch_max: 256,
        }
    }
}

/// The worker tier of one process.
pub struct Worker;

/// A running worker; [`WorkerHandle::shutdown`] stops it gracefully. Dropping the handle also
/// stops it, without waiting.
pub struct WorkerHandle {
    shutdown: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Worker {
    /// Starts the worker on the current tokio runtime.
    pub fn start(
        store: Arc<dyn Store>,
        settings: WorkerSettings,
        metrics: Metrics,
    ) -> WorkerHandle {
        let (shutdown, stopping) = watch::channel(false);
        let supervisor = Supervisor {
            store,
            settings: Arc::new(settings),
            stats: Stats::new(&metrics),
            stopping,
            owned: HashMap::new(),
        };
        WorkerHandle {
            shutdown,
            task: tokio::spawn(supervisor.run()),
        }
    }
}

impl WorkerHandle {
    /// Stops claiming, lets every shard finish and commit its in-flight batch, then releases the
    /// leases so that successors take over at once.
    pub async fn shutdown(self) {
        // An error means the worker already ended.
        let _ = self.shutdown.send(true);
        if let Err(error) = self.task.await {
            tracing::error!(%error, "worker supervisor ended abnormally");
        }
    }
}

/// A shard this worker owns: its lease and its driver task.
struct Owned {
    lease: Arc<Lease>,
    task: JoinHandle<()>,
}

struct Supervisor {
    store: Arc<dyn Store>,
    settings: Arc<WorkerSettings>,
    stats: Stats,
    stopping: watch::Receiver<bool>,
    owned: HashMap<ShardId, Owned>,
}

impl Supervisor {
    async fn run(mut self) {
        tracing::info!(
            worker = %self.settings.worker_id,
            shards = self.settings.shards,
            "worker started"
        );
        let period = (self.settings.lease_ttl / 3).max(Duration::from_millis(1));
        while !self.is_stopping() {
            if let Err(error) = self.store.heartbeat(&self.settings.worker_id).await {
                tracing::debug!(%error, "membership heartbeat not recorded");
            }
            self.renew().await;
            self.reap().await;
            self.claim().await;
            self.stats.leases_held.set(self.owned.len() as f64);
            tokio::select! {
                () = tokio::time::sleep(period) => {}
                _ = self.stopping.changed() => {}
            }
        }
        self.stop_all().await;
        tracing::info!(worker = %self.settings.worker_id, "worker stopped");
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow() || self.stopping.has_changed().is_err()
    }

    async fn renew(&self) {
        for owned in self.owned.values() {
            if !owned.task.is_finished() {
                owned.lease.renew(self.store.as_ref()).await;
            }
        }
    }

    /// Forgets shards whose driver stopped (lease lost, or a fault) and gives their leases back.
    async fn reap(&mut self) {
        let finished: Vec<ShardId> = self
            .owned
            .iter()
            .filter(|(_, o)| o.task.is_finished())
            .map(|(s, _)| *s)
            .collect();
        for shard in finished {
            if let Some(owned) = self.owned.remove(&shard) {
                self.end(owned).await;
            }
        }
    }

    async fn claim(&mut self) {
        for shard in shards_to_claim(&self.owned, self.settings.shards) {
            let lease = match Lease::acquire(
                self.store.as_ref(),
                shard,
                &self.settings.worker_id,
                self.settings.lease_ttl,
            )
            .await
            {
                Ok(Some(lease)) => Arc::new(lease),
                Ok(None) => continue,
                Err(error) => {
                    tracing::warn!(%error, "claiming shards failed; retrying later");
                    return;
                }
            };
            tracing::info!(shard, epoch = lease.token().epoch, "lease acquired");
            let driver = ShardDriver::new(
                self.store.clone(),
                lease.clone(),
                self.settings.clone(),
                self.stats.clone(),
                self.stopping.clone(),
            );
            let task = tokio::spawn(driver.run());
            self.owned.insert(shard, Owned { lease, task });
        }
    }

    /// Ends every shard at once, within one lease TTL: by then an unreleased lease (the store is
    /// unreachable, say) expires by itself, so waiting longer would only delay the exit.
    async fn stop_all(&mut self) {
        let ends = std::mem::take(&mut self.owned)
            .into_values()
            .map(|owned| self.end(owned));
        let grace = self.settings.lease_ttl.max(Duration::from_millis(100));
        if tokio::time::timeout(grace, futures::future::join_all(ends))
            .await
            .is_err()
        {
            tracing::warn!("shutdown: not every shard ended in time; its lease will expire");
        }
        self.stats.leases_held.set(0.0);
    }

    /// Waits for a driver to finish (its in-flight batch committed), then releases its lease.
    async fn end(&self, owned: Owned) {
        if let Err(error) = owned.task.await {
            tracing::error!(shard = owned.lease.shard(), %error, "shard driver ended abnormally");
        }
        owned.lease.release(self.store.as_ref()).await;
    }
}
