//! Health probes and `/metrics` (docs/api.md §10–§11), served without authentication.

use axum::extract::State;
use axum::response::Response;
use shared::http::{CHECK_TIMEOUT, metrics_response, probe_response, store_answers};
pub(super) use shared::http::{live, started};

use crate::state::AppState;

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
