//! Building and running the HTTP tier (and, with `NODE_ROLE=both`, the embedded worker tier).

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use actor_worker::{Worker, WorkerHandle, WorkerSettings};
use anyhow::Context;
use shared::metrics::Metrics;
use shared::store::Store;
use shared::store::memory::MemoryStore;
use shared::store::redis::{RedisOptions, RedisStore};
use tokio::net::TcpListener;

use crate::auth::Authenticator;
use crate::backlog;
use crate::config::{Config, LocationSourceConfig, NodeRole, ServerSettings};
use crate::dispatch::Dispatcher;
use crate::locations::file::FileLocations;
use crate::locations::{LocationApiClient, LocationSource};
use crate::routes::router;
use crate::state::AppState;

/// A built service: listener bound, backends connected, workers started, ready to serve.
pub struct Application {
    listener: TcpListener,
    addr: SocketAddr,
    state: AppState,
    worker: Option<WorkerHandle>,
    server: ServerSettings,
    /// The Redis backend, whose backlog the node counts while it serves.
    redis: Option<Arc<RedisStore>>,
    backlog_interval: Duration,
}

impl Application {
    /// Binds the listener and wires the backends described by `config`.
    pub async fn build(config: Config) -> anyhow::Result<Application> {
        let redis = redis_store(&config).await?;
        let store: Arc<dyn Store> = match &redis {
            Some(redis) => redis.clone(),
            None => Arc::new(MemoryStore::new()),
        };
        let (state, worker) = wire_store(&config, store)?;
        let listener = TcpListener::bind(config.http_addr)
            .await
            .with_context(|| format!("STOCK_HTTP_ADDR: cannot listen on {}", config.http_addr))?;
        let addr = listener
            .local_addr()
            .context("STOCK_HTTP_ADDR: no local address")?;
        Ok(Application {
            listener,
            addr,
            state,
            worker,
            server: ServerSettings::default(),
            redis,
            backlog_interval: backlog::DEFAULT_INTERVAL,
        })
    }

    /// Counts the commands waiting every `interval` (`STOCK_BACKLOG_SCAN_INTERVAL`) instead of
    /// the default.
    pub fn with_backlog_interval(mut self, interval: Duration) -> Application {
        self.backlog_interval = interval;
        self
    }

    /// Serves with these connection limits instead of the defaults.
    pub fn with_server_settings(mut self, server: ServerSettings) -> Application {
        self.server = server;
        self
    }

    /// The bound public address.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Serves until `shutdown` completes, then stops accepting, drains in-flight requests and
    /// stops the worker tier (its in-flight batch is committed first).
    pub async fn run_until_stopped(
        mut self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        tracing::info!(http_addr = %self.addr, "listening");
        let _backlog = self
            .redis
            .take()
            .map(|redis| backlog::start(redis, self.state.metrics(), self.backlog_interval));
        let router = router(self.state.clone());
        crate::server::serve(self.listener, router, self.server, shutdown).await;
        if let Some(worker) = self.worker.take() {
            worker.shutdown().await;
        }
        Ok(())
    }
}

/// The request handlers' state and, for `NODE_ROLE=both`, the worker tier in the same process.
pub(crate) async fn wire(config: &Config) -> anyhow::Result<(AppState, Option<WorkerHandle>)> {
    wire_store(config, store(config).await?)
}

/// [`wire`] over an opened store.
fn wire_store(
    config: &Config,
    store: Arc<dyn Store>,
) -> anyhow::Result<(AppState, Option<WorkerHandle>)> {
    if config.role == NodeRole::Actor {
        anyhow::bail!("NODE_ROLE: actor nodes run the actor-worker binary");
    }
    let metrics = Metrics::new();
    let locations = location_source(config, &metrics)?;
    let auth = authenticator(config)?;
    let dispatcher = Dispatcher::new(store.clone(), config.shards, config.command_timeout)
        .limited(config.writes, &metrics);
    let worker = (config.role == NodeRole::Both).then(|| {
        Worker::start(
            store.clone(),
            WorkerSettings::from_config(config),
            metrics.clone(),
        )
    });
    let worker_tier = (config.shards, config.lease_ttl);
    let state = AppState::new(auth, locations, dispatcher, store, metrics, worker_tier)
        .watching_the_cluster();
    Ok((state, worker))
}

/// Redis when `STOCK_REDIS_URL` is set, else the embedded in-memory store (`both` only).
pub async fn store(config: &Config) -> anyhow::Result<Arc<dyn Store>> {
    match redis_store(config).await? {
        Some(redis) => Ok(redis),
        None => Ok(Arc::new(MemoryStore::new())),
    }
}

/// The Redis backend when `STOCK_REDIS_URL` is set.
async fn redis_store(config: &Config) -> anyhow::Result<Option<Arc<RedisStore>>> {
    let Some(url) = &config.redis_url else {
        return Ok(None);
    };
    let options = RedisOptions::for_config(config);
    let store = RedisStore::connect_with(url, config.shards, config.reply_channel, options)
        .await
        .context("STOCK_REDIS_URL")?;
    Ok(Some(Arc::new(store)))
}

/// The process's one location source: the Location API client (shared by every request, so its
/// retries, circuit breaker and cache are per process) or the file-backed estate.
fn location_source(config: &Config, metrics: &Metrics) -> anyhow::Result<Arc<dyn LocationSource>> {
    match &config.locations {
        LocationSourceConfig::File { path } => {
            tracing::info!(locations_file = %path.display(), "location source: a file");
            let source = FileLocations::open(path)
                .with_context(|| format!("STOCK_LOCATIONS_FILE: cannot load {}", path.display()))?
                .with_check_interval(Duration::ZERO);
            Ok(Arc::new(source))
        }
        LocationSourceConfig::Embedded { json } => Ok(Arc::new(
            FileLocations::from_json(json).context("the built-in demo estate")?,
        )),
        LocationSourceConfig::Unused => {
            anyhow::bail!("STOCK_LOCATION_API_URL: required (or STOCK_LOCATIONS_FILE)")
        }
        LocationSourceConfig::Api { base_url } => {
            tracing::info!(
                location_api_url = %without_credentials(base_url),
                "location source: the Location API"
            );
            let client = LocationApiClient::new(base_url, &config.location_api, metrics.clone())
                .context("STOCK_LOCATION_API_URL")?;
            Ok(Arc::new(client))
        }
    }
}

/// `url` without a user name or password, for the logs.
fn without_credentials(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut parsed) => {
            // Fails only for URLs that cannot have credentials anyway.
            let _ = parsed.set_username("");
            let _ = parsed.set_password(None);
            parsed.to_string()
        }
        Err(_) => "(not a URL)".to_owned(),
    }
}

fn authenticator(config: &Config) -> anyhow::Result<Authenticator> {
    let jwt = config
        .jwt
        .as_ref()
        .context("STOCK_JWT_PUBLIC_KEY_FILE: required (or start with --demo)")?;
    Authenticator::from_public_key_pem(
        &jwt.public_key_pem,
        jwt.issuer.clone(),
        jwt.audience.clone(),
    )
    .context("STOCK_JWT_PUBLIC_KEY_FILE: not an RSA public key")
}
