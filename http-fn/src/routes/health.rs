//! Health probes and `/metrics` (spec/API.md §10–§11), served without authentication.

use std::time::Duration;

use actor_worker::admin::{metrics_response, probe_response, store_answers};
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

/// How long each check of `/health/ready` may take. The checks run side by side and end well
/// within the bound of a probe (`http-fn probe` and the compose healthcheck give up after 2 s), so a
/// store that does not answer (a partition from Redis) reads DOWN instead of the probe timing out
/// (docs/OPERATIONS.md, "Containers").
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// GET `/health/ready`: `locationApi`, `eventRepository`, `snapshotRepository`, in that order.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let (location_api, store) = tokio::join!(
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.locations().healthy()),
        tokio::time::timeout(READY_CHECK_TIMEOUT, store_answers(state.store())),
    );
    let (location_api, store) = (location_api.unwrap_or(false), store.unwrap_or(false));
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
