//! Stock API HTTP tier: one axum router, served by a plain server or by AWS Lambda.

pub mod app;
pub mod auth;
pub mod backlog;
pub mod body;
pub mod cluster_watch;
pub mod config;
pub mod demo;
pub mod dispatch;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
pub mod lambda;
pub mod locations;
pub mod routes;
pub mod server;
pub mod state;
pub mod telemetry;

use anyhow::Context;

use crate::app::Application;
use crate::config::{Config, JwtSettings, ServerSettings};
use crate::demo::{DEMO_AUDIENCE, DEMO_ISSUER, DemoKeys};

/// Runs the service described by `config` until SIGINT or SIGTERM, its listener bounded by
/// `server`, counting the commands waiting every `backlog_interval` (under AWS Lambda,
/// [`lambda::run`] serves instead, and nothing runs between invocations to count them).
pub async fn run(
    mut config: Config,
    server: ServerSettings,
    backlog_interval: std::time::Duration,
) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(config.log_format);
    // From here on a signal stops the service gracefully.
    let shutdown = shutdown_signal();
    let demo = if config.demo {
        Some(DemoKeys::generate().context("--demo: key generation")?)
    } else {
        None
    };
    if let Some(keys) = &demo {
        config.jwt = Some(JwtSettings {
            public_key_file: "(generated for --demo)".into(),
            public_key_pem: keys.public_key_pem.clone(),
            issuer: DEMO_ISSUER.to_owned(),
            audience: DEMO_AUDIENCE.to_owned(),
        });
    }
    tracing::info!(version = env!("CARGO_PKG_VERSION"), role = ?config.role, "starting");
    let app = Application::build(config)
        .await?
        .with_server_settings(server)
        .with_backlog_interval(backlog_interval);
    if let Some(keys) = &demo {
        eprintln!("{}", demo::banner(&demo::base_url(app.local_addr()), keys)?);
    }
    app.run_until_stopped(shutdown).await
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
