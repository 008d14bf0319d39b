//! The worker tier as this HTTP node last saw it: a bounded periodic refresh of the
//! `/health/cluster` view that feeds `stock_shards`, `stock_shards_unowned`, `stock_workers_live`
//! and `stock_cluster_view_up`, and the `workerTier` check of readiness. The HTTP tier keeps it
//! because it runs while no worker does (docs/OPERATIONS.md, "Alerts").

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use shared::metrics::Metrics;
use shared::store::Store;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Longest wait for one view of the cluster.
const REFRESH_TIMEOUT: Duration = Duration::from_secs(2);

/// The last view, shared with the refresh task, which ends when the last clone is dropped.
#[derive(Clone)]
pub struct ClusterWatch {
    seen: Arc<Mutex<Option<Seen>>>,
    every: Duration,
    _task: Arc<AbortOnDrop>,
}

/// One successful view.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seen {
    pub unowned: u32,
    pub workers: usize,
    pub at: Instant,
}

struct AbortOnDrop(JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

struct Gauges {
    shards: metrics::Gauge,
    unowned: metrics::Gauge,
    workers: metrics::Gauge,
    up: metrics::Gauge,
}

impl ClusterWatch {
    /// Starts refreshing the view of `shards` shards (workers live within `ttl`) every TTL,
    /// at least every second and at most every fifteen.
    pub fn start(store: Arc<dyn Store>, shards: u32, ttl: Duration, metrics: &Metrics) -> Self {
        let every = ttl.clamp(Duration::from_secs(1), Duration::from_secs(15));
        let gauges = Gauges {
            shards: metrics.gauge("stock_shards", &[]),
            unowned: metrics.gauge("stock_shards_unowned", &[]),
            workers: metrics.gauge("stock_workers_live", &[]),
            up: metrics.gauge("stock_cluster_view_up", &[]),
        };
        gauges.shards.set(f64::from(shards));
        let seen = Arc::new(Mutex::new(None));
        let task = tokio::spawn(refresh(store, shards, ttl, every, gauges, seen.clone()));
        ClusterWatch {
            seen,
            every,
            _task: Arc::new(AbortOnDrop(task)),
        }
    }

    /// The last view, if it is recent (three refresh periods).
    pub fn recent(&self) -> Option<Seen> {
        let seen = *self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.filter(|s| s.at.elapsed() <= self.every * 3)
    }

    /// The `workerTier` check: every shard owned, as last seen recently. Never makes the node
    /// unready (writes wake the workers up when scaled from zero).
    pub fn worker_tier_up(&self) -> bool {
        self.recent().is_some_and(|seen| seen.unowned == 0)
    }
}

async fn refresh(
    store: Arc<dyn Store>,
    shards: u32,
    ttl: Duration,
    every: Duration,
    gauges: Gauges,
    seen: Arc<Mutex<Option<Seen>>>,
) {
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let view = match tokio::time::timeout(REFRESH_TIMEOUT, store.cluster(shards, ttl)).await {
            Ok(Ok(view)) => view,
            Ok(Err(error)) => {
                tracing::debug!(%error, "cluster view not refreshed");
                gauges.up.set(0.0);
                continue;
            }
            Err(_) => {
                tracing::debug!("cluster view not refreshed: no answer in time");
                gauges.up.set(0.0);
                continue;
            }
        };
        let unowned = shards.saturating_sub(view.owned);
        gauges.unowned.set(f64::from(unowned));
        gauges.workers.set(view.workers.len() as f64);
        gauges.up.set(1.0);
        let now = Seen {
            unowned,
            workers: view.workers.len(),
            at: Instant::now(),
        };
        *seen.lock().unwrap_or_else(PoisonError::into_inner) = Some(now);
    }
}
