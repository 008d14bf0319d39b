//! Health probes and `/metrics` (spec/API.md §10–§11), served without authentication.

use actor_worker::admin::{CHECK_TIMEOUT, metrics_response, probe_response, store_answers};
use axum::extract::State;
use axum::response::Response;

use crate::state::AppState;

/// GET `/health/live`
pub(super) async fn live() -> Response {
    tracing::info!(probe = "live", "health probe");
    probe_response(&[])
}

/// GET `/health/started`
pub(super) async fn started() -> Response {
    tracing::info!(probe = "started", "health probe");
    probe_response(&[])
}

/// GET `/health/ready`: `locationApi`, `eventRepository`, `snapshotRepository`, in that order.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let location_api = tokio::time::timeout(CHECK_TIMEOUT, state.locations().healthy())
        .await
        .unwrap_or(false);
    let store = store_answers(state.store()).await;
    tracing::info!(probe = "ready", "health probe");
    probe_response(&[
        ("locationApi", location_api),
        ("eventRepository", store),
        ("snapshotRepository", store),
    ])
}

/// GET `/metrics`: Prometheus text exposition format.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    metrics_response(state.metrics())
}
