//! Stock API worker tier: shard leases, the shard drivers and the stock pots they host.
//!
//! `core` is pure (commands and time in, commits and effects out); `driver` is the only loop that
//! awaits; `worker` claims shards and runs one driver per owned shard.

pub mod core;
mod driver;
mod late_replies;
mod lease;
mod listener;
mod membership;
mod outage;
mod outbox;
mod stats;
mod stock_pot;
mod worker;

pub use worker::{Worker, WorkerHandle, WorkerSettings};

use std::sync::Arc;

use anyhow::Context;
use shared::config::Config;
use shared::metrics::Metrics;
use shared::store::redis::{RedisOptions, RedisStore};
use tokio::net::TcpListener;

/// Runs an actor node (`NODE_ROLE=actor`) until SIGINT or SIGTERM: the worker over Redis and the
/// admin listener (`STOCK_ADMIN_ADDR`) with the health probes and `/metrics`. On the signal the
/// admin listener stops, in-flight batches are committed and leases released.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let _telemetry = shared::telemetry::init(config.log_format);
    tracing::info!(version = env!("CARGO_PKG_VERSION"), role = %config.role, worker = %config.worker_id, "starting");
    // From here on a signal stops the worker gracefully.
    let shutdown = shutdown_signal();
    let url = config
        .redis_url
        .as_deref()
        .context("STOCK_REDIS_URL: required for NODE_ROLE=actor")?;
    let options = RedisOptions::for_config(&config);
    let store = RedisStore::connect_with(url, config.shards, config.reply_channel, options)
        .await
        .context("STOCK_REDIS_URL")?;
    let store: Arc<dyn shared::store::Store> = Arc::new(store);
    let metrics = Metrics::new();
    let listener = TcpListener::bind(config.admin_addr)
        .await
        .with_context(|| format!("STOCK_ADMIN_ADDR: cannot listen on {}", config.admin_addr))?;
    let addr = listener
        .local_addr()
        .context("STOCK_ADMIN_ADDR: no local address")?;
    let worker = Worker::start(
        store.clone(),
        WorkerSettings::from_config(&config),
        metrics.clone(),
    );
    tracing::info!(admin_addr = %addr, "listening");
    let router = listener::admin_router(listener::AdminState { store, metrics });
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await;
    worker.shutdown().await;
    served.context("serving the admin listener")
}

/// Listens for SIGINT and SIGTERM from this call on ([`shared::http::signal_received`]); the
/// future completes on the first, logged under this crate's target.
pub fn shutdown_signal() -> impl Future<Output = ()> + Send + 'static {
    let received = shared::http::signal_received();
    async move {
        received.await;
        tracing::info!("shutdown signal received");
    }
}
