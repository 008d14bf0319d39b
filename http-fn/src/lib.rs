//! Stock API HTTP tier: one axum router, served by a plain server or by AWS Lambda.

pub mod app;
pub mod auth;
pub mod body;
pub mod config;
pub mod demo;
pub mod dispatch;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod keys;
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
/// `server`; with `lambda`, serves the router through the AWS Lambda runtime instead.
pub async fn run(mut config: Config, server: ServerSettings, lambda: bool) -> anyhow::Result<()> {
    let _telemetry = telemetry::init(config.log_format);
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
    if lambda {
        return app::run_lambda(config).await;
    }
    let app = Application::build(config)
        .await?
        .with_server_settings(server);
    if let Some(keys) = &demo {
        eprintln!("{}", demo::banner(&demo::base_url(app.local_addr()), keys)?);
    }
    app.run_until_stopped(shutdown_signal()).await
}

pub use shared::http::shutdown_signal;
