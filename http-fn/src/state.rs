//! The shared state of the HTTP tier: authenticator, location source, dispatcher, read model, metrics.

use std::sync::Arc;

use shared::metrics::Metrics;
use shared::store::Store;

use crate::auth::Authenticator;
use crate::cluster_watch::ClusterWatch;
use crate::dispatch::Dispatcher;
use crate::locations::LocationSource;

/// Everything a request handler needs. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    auth: Authenticator,
    locations: Arc<dyn LocationSource>,
    dispatcher: Dispatcher,
    store: Arc<dyn Store>,
    metrics: Metrics,
    shards: u32,
    lease_ttl: std::time::Duration,
    cluster: Option<ClusterWatch>,
}

impl AppState {
    pub fn new(
        auth: Authenticator,
        locations: Arc<dyn LocationSource>,
        dispatcher: Dispatcher,
        store: Arc<dyn Store>,
        metrics: Metrics,
        worker_tier: (u32, std::time::Duration),
    ) -> AppState {
        AppState {
            inner: Arc::new(Inner {
                auth,
                locations,
                dispatcher,
                store,
                metrics,
                shards: worker_tier.0,
                lease_ttl: worker_tier.1,
                cluster: None,
            }),
        }
    }

    /// The same state with the worker tier watched in the background ([`ClusterWatch`]);
    /// call before the state is cloned.
    pub fn watching_the_cluster(mut self) -> AppState {
        let (shards, ttl) = self.worker_tier();
        let watch = ClusterWatch::start(self.inner.store.clone(), shards, ttl, &self.inner.metrics);
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.cluster = Some(watch);
        }
        self
    }

    /// The background view of the worker tier, when watched.
    pub fn cluster_watch(&self) -> Option<&ClusterWatch> {
        self.inner.cluster.as_ref()
    }

    /// `STOCK_SHARDS`, and how old a worker's last heartbeat may be for it to count as live (the
    /// lease TTL: a live worker heartbeats every third of it).
    pub fn worker_tier(&self) -> (u32, std::time::Duration) {
        (self.inner.shards, self.inner.lease_ttl)
    }

    pub fn auth(&self) -> &Authenticator {
        &self.inner.auth
    }

    pub fn locations(&self) -> &dyn LocationSource {
        self.inner.locations.as_ref()
    }

    pub fn dispatcher(&self) -> &Dispatcher {
        &self.inner.dispatcher
    }

    /// The store, for reads of the pot read model and readiness.
    pub fn store(&self) -> &dyn Store {
        self.inner.store.as_ref()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }
}
