//! The worker: heartbeats, claims its share of the shards and hands off the others gradually
//! (docs/architecture.md §10), renews their leases, runs one driver task per owned shard, and shuts
//! down gracefully (in-flight batches committed, membership left, leases released, announced).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use shared::metrics::Metrics;
use shared::shard::ShardId;
use shared::store::{ClusterView, MembershipCursor, Store};
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::Instant;

use crate::driver::{Halt, ShardDriver};
use crate::late_replies::LateReplies;
use crate::lease::{Lapse, Lease};
use crate::membership::{self, Plan, View};
use crate::outage::Health;
use crate::stats::Stats;

/// Settings of the worker tier (docs/configuration.md §2).
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
        let health = Health::new(&metrics, settings.lease_ttl);
        tokio::spawn(health.clone().watch_pauses(stopping.clone()));
        let supervisor = Supervisor {
            late_replies: LateReplies::start(store.clone(), &metrics),
            store,
            settings: Arc::new(settings),
            stats: Stats::new(&metrics),
            health,
            stopping,
            owned: HashMap::new(),
            cursor: MembershipCursor::default(),
            joined: false,
            free_before: BTreeSet::new(),
            handed_off: BTreeMap::new(),
            handoffs: JoinSet::new(),
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

/// A shard this worker owns: its lease, its driver task and the driver's own stop signal.
struct Owned {
    lease: Arc<Lease>,
    stop: watch::Sender<Halt>,
    task: JoinHandle<()>,
}

struct Supervisor {
    store: Arc<dyn Store>,
    /// Sends again the replies the drivers could not send.
    late_replies: LateReplies,
    settings: Arc<WorkerSettings>,
    stats: Stats,
    health: Health,
    stopping: watch::Receiver<bool>,
    owned: HashMap<ShardId, Owned>,
    /// Position in the membership announcements.
    cursor: MembershipCursor,
    /// Whether the join has been announced.
    joined: bool,
    /// Shards free on the previous tick (the liveness fallback of [`membership::plan`]).
    free_before: BTreeSet<ShardId>,
    /// Shards handed off and not yet seen taken, with when.
    handed_off: BTreeMap<ShardId, Instant>,
    /// Hand-offs under way: drivers finishing their batch, then releases.
    handoffs: JoinSet<()>,
}

impl Supervisor {
    async fn run(mut self) {
        tracing::info!(
            worker = %self.settings.worker_id,
            shards = self.settings.shards,
            "worker started"
        );
        let ttl = self.settings.lease_ttl;
        let renew_every = (ttl / 3).max(Duration::from_millis(1));
        // A dead worker's leases expire within one TTL; looking this often bounds take-over.
        let tick_every = (ttl / 6).max(Duration::from_millis(1));
        if let Ok(cursor) = self
            .store
            .await_membership_change(&self.cursor, Duration::ZERO)
            .await
        {
            self.cursor = cursor;
        }
        let (mut next_renew, mut next_tick) = (Instant::now(), Instant::now());
        let mut woken = false;
        while !self.is_stopping() {
            if Instant::now() >= next_renew {
                next_renew = Instant::now() + renew_every;
                self.renew().await;
            }
            if woken || Instant::now() >= next_tick {
                next_tick = Instant::now() + tick_every;
                self.tick().await;
            }
            self.stats.leases_held.set(self.owned.len() as f64);
            woken = self.wait_until(next_renew.min(next_tick)).await;
        }
        self.stop_all().await;
        tracing::info!(worker = %self.settings.worker_id, "worker stopped");
    }

    fn is_stopping(&self) -> bool {
        *self.stopping.borrow() || self.stopping.has_changed().is_err()
    }

    /// Waits until `deadline`, a membership announcement or the stop signal; true when woken by
    /// an announcement.
    async fn wait_until(&mut self, deadline: Instant) -> bool {
        let wait = deadline.saturating_duration_since(Instant::now());
        let store = self.store.clone();
        let change = store.await_membership_change(&self.cursor, wait);
        let answer = tokio::select! {
            answer = change => answer,
            _ = self.stopping.changed() => return false,
        };
        match answer {
            Ok(cursor) if cursor != self.cursor => {
                self.cursor = cursor;
                true
            }
            Ok(_) => false,
            Err(error) => {
                tracing::debug!(%error, "membership announcements unavailable");
                tokio::select! {
                    () = tokio::time::sleep_until(deadline) => {}
                    _ = self.stopping.changed() => {}
                }
                false
            }
        }
    }

    /// Renews the leases of every running driver in one store round: it must end well inside
    /// the leases' validity window however many shards this worker holds.
    async fn renew(&self) {
        let leases: Vec<&Lease> = self
            .owned
            .values()
            .filter(|o| !o.task.is_finished())
            .map(|o| o.lease.as_ref())
            .collect();
        let store = self.store.as_ref();
        Lease::renew_each(store, &self.health, self.settings.lease_ttl, &leases).await;
    }

    /// Heartbeat, then one step towards this worker's share: reaps stopped drivers, claims free
    /// shards and hands off a few shards preferred by others.
    async fn tick(&mut self) {
        let me = self.settings.worker_id.clone();
        match self.store.heartbeat(&me).await {
            Ok(()) if !self.joined => {
                self.health.answered();
                self.joined = true;
                self.announce().await;
            }
            Ok(()) => self.health.answered(),
            Err(error) => self.health.failed("membership heartbeat", &error),
        }
        self.reap().await;
        while self.handoffs.try_join_next().is_some() {}
        let view = match self
            .store
            .cluster(self.settings.shards, self.settings.lease_ttl)
            .await
        {
            Ok(view) => view,
            Err(error) => {
                self.health.failed("cluster view", &error);
                return;
            }
        };
        let plan = self.plan(&view);
        self.free_before = (0..self.settings.shards)
            .filter(|s| view.holders.get(*s as usize).is_some_and(Option::is_none))
            .collect();
        if !plan.hand_off.is_empty() {
            self.hand_off(&plan.hand_off);
        }
        self.claim(&plan.claim).await;
    }

    /// The plan of this tick from the store's view; forgets hand-offs now settled.
    fn plan(&mut self, view: &ClusterView) -> Plan {
        let me = self.settings.worker_id.as_str();
        let ttl = self.settings.lease_ttl;
        self.handed_off.retain(|shard, at| {
            let holder = view.holders.get(*shard as usize).cloned().flatten();
            let taken = holder.is_some_and(|h| h != me);
            !taken && at.elapsed() < ttl
        });
        let live: Vec<String> = view.workers.iter().map(|w| w.id.clone()).collect();
        let owned: BTreeSet<ShardId> = self.owned.keys().copied().collect();
        let handed_off: BTreeSet<ShardId> = self.handed_off.keys().copied().collect();
        membership::plan(&View {
            me,
            live: &live,
            holders: &view.holders,
            owned: &owned,
            free_before: &self.free_before,
            handed_off: &handed_off,
            handoff_settled: self.handed_off.is_empty(),
        })
    }

    async fn announce(&self) {
        if let Err(error) = self.store.announce(&self.settings.worker_id).await {
            tracing::debug!(%error, "membership announcement not sent");
        }
    }

    /// Forgets shards whose driver stopped (lease lost, or a fault) and gives their leases back.
    /// Shards stopped because their lease was no longer surely held are counted and logged by
    /// why: the trace an operator reads to tell a paused worker from a crashed one.
    async fn reap(&mut self) {
        let finished: Vec<ShardId> = self
            .owned
            .iter()
            .filter(|(_, o)| o.task.is_finished())
            .map(|(s, _)| *s)
            .collect();
        let ended: Vec<Owned> = finished
            .iter()
            .filter_map(|shard| self.owned.remove(shard))
            .collect();
        self.count_self_stops(&ended);
        let store = self.store.as_ref();
        let released = futures::future::join_all(ended.into_iter().map(|o| end(store, o))).await;
        if released.contains(&true) {
            self.announce().await;
        }
    }

    /// Counts and logs, by why, the shards of `ended` whose lease is no longer surely held:
    /// their drivers stopped, or are stopping, on their own. During a store outage the line is
    /// at DEBUG: the outage's own warning says why.
    fn count_self_stops(&self, ended: &[Owned]) {
        for lapse in [Lapse::RenewalsMissed, Lapse::Taken] {
            let shards: Vec<ShardId> = ended
                .iter()
                .filter(|o| o.lease.lapse() == Some(lapse))
                .map(|o| o.lease.shard())
                .collect();
            if shards.is_empty() {
                continue;
            }
            self.stats.lease_self_stops(lapse, shards.len());
            let count = shards.len();
            let message = match lapse {
                Lapse::RenewalsMissed => "stopped its shards: lease renewals missed",
                Lapse::Taken => "stopped its shards: leases taken by another worker",
            };
            if self.health.in_outage() {
                tracing::debug!(count, ?shards, "{message}");
            } else {
                tracing::warn!(count, ?shards, "{message}");
            }
        }
    }

    /// Stops the drivers of `shards`; once each has committed its in-flight batch its lease is
    /// released, and the release announced, without holding up this loop. A shard whose lease
    /// already lapsed counts as stopped on its own, not handed off.
    fn hand_off(&mut self, shards: &[ShardId]) {
        let mut ending = Vec::new();
        for shard in shards {
            if let Some(owned) = self.owned.remove(shard) {
                tracing::info!(shard, "handing the shard off");
                self.stats.shard_handoffs.increment(1);
                // An error means the driver already ended.
                let _ = owned.stop.send(Halt::HandOff);
                self.handed_off.insert(*shard, Instant::now());
                ending.push(owned);
            }
        }
        self.count_self_stops(&ending);
        let store = self.store.clone();
        let me = self.settings.worker_id.clone();
        self.handoffs.spawn(async move {
            let ends = ending.into_iter().map(|owned| end(store.as_ref(), owned));
            futures::future::join_all(ends).await;
            if let Err(error) = store.announce(&me).await {
                tracing::debug!(%error, "membership announcement not sent");
            }
        });
    }

    /// Acquires the free `shards`; announces when any was taken, so that a worker waiting for
    /// its hand-off to be taken goes on at once.
    async fn claim(&mut self, shards: &[ShardId]) {
        let before = self.owned.len();
        self.acquire(shards).await;
        if self.owned.len() > before {
            self.announce().await;
        }
    }

    async fn acquire(&mut self, shards: &[ShardId]) {
        if shards.is_empty() {
            return;
        }
        let (leases, failure) = Lease::acquire_each(
            self.store.as_ref(),
            shards,
            &self.settings.worker_id,
            self.settings.lease_ttl,
        )
        .await;
        if let Some(error) = failure {
            self.health.failed("claim shards", &error);
        }
        for lease in leases {
            let lease = Arc::new(lease);
            let shard = lease.shard();
            tracing::info!(shard, epoch = lease.token().epoch, "lease acquired");
            let (stop, stopping) = watch::channel(Halt::Run);
            let driver = ShardDriver::new(
                self.store.clone(),
                lease.clone(),
                self.settings.clone(),
                self.stats.clone(),
                stopping,
                self.health.clone(),
                self.late_replies.clone(),
            );
            let task = tokio::spawn(driver.run());
            self.owned.insert(shard, Owned { lease, stop, task });
        }
    }

    /// Stops every driver at once and waits for their in-flight batches, leaves membership,
    /// releases the leases and announces it, so that successors claim at once. Waits at most
    /// one lease TTL for the drivers: by then an unreleased lease expires by itself.
    async fn stop_all(&mut self) {
        let mut owned: Vec<Owned> = std::mem::take(&mut self.owned).into_values().collect();
        for o in &owned {
            let _ = o.stop.send(Halt::Shutdown);
        }
        let grace = self.settings.lease_ttl.max(Duration::from_millis(100));
        let drivers = futures::future::join_all(owned.iter_mut().map(|o| &mut o.task));
        if tokio::time::timeout(grace, drivers).await.is_err() {
            tracing::warn!("shutdown: not every shard ended in time; its lease will expire");
        }
        if let Err(error) = self.store.leave(&self.settings.worker_id).await {
            tracing::warn!(%error, "shutdown: membership not left; the heartbeat will go stale");
        }
        let store = self.store.as_ref();
        let releases = owned
            .iter()
            .filter(|o| o.task.is_finished())
            .map(|o| o.lease.release(store));
        let _ = tokio::time::timeout(grace, futures::future::join_all(releases)).await;
        self.announce().await;
        let handoffs = async { while self.handoffs.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(grace, handoffs).await;
        self.stats.leases_held.set(0.0);
    }
}

/// Waits for a driver to finish (its in-flight batch committed), then releases its lease; true
/// when the lease was still held and is now free.
async fn end(store: &dyn Store, owned: Owned) -> bool {
    if let Err(error) = owned.task.await {
        tracing::error!(shard = owned.lease.shard(), %error, "shard driver ended abnormally");
    }
    owned.lease.release(store).await
}
