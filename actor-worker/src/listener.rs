//! The admin listener of an actor node: health probes and `/metrics` on `STOCK_ADMIN_ADDR`.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::Response;
use axum::routing::get;
use shared::http::{live, metrics_response, probe_response, started, store_answers, trace_request};
use shared::metrics::Metrics;
use shared::store::Store;

/// What the admin endpoints of an actor node look at.
#[derive(Clone)]
pub(crate) struct AdminState {
    pub(crate) store: Arc<dyn Store>,
    pub(crate) metrics: Metrics,
}

/// `/health/live`, `/health/started`, `/health/ready` and `/metrics` of an actor node.
pub(crate) fn admin_router(state: AdminState) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/started", get(started))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(middleware::from_fn(trace_request))
        .with_state(state)
}

/// An actor node calls no Location API; `locationApi` is reported UP all the same, because the
/// three check names are the probe's contract on every node role (docs/OPERATIONS.md). The
/// store checks are real.
async fn ready(State(state): State<AdminState>) -> Response {
    let store = store_answers(state.store.as_ref()).await;
    let down: &[&str] = if store {
        &[]
    } else {
        &["eventRepository", "snapshotRepository"]
    };
    tracing::info!(probe = "ready", ?down, "health probe");
    probe_response(&[
        ("locationApi", true),
        ("eventRepository", store),
        ("snapshotRepository", store),
    ])
}

async fn metrics(State(state): State<AdminState>) -> Response {
    metrics_response(&state.metrics)
}
