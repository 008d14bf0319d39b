//! Health probes and `/metrics` (docs/api.md §10–§11), served without authentication.

use std::time::Duration;

use axum::extract::{RawQuery, State};
use axum::response::Response;
pub(super) use shared::http::{live, started};
use shared::http::{metrics_response, probe_body, store_answers};

use crate::state::AppState;

/// The name of the informative check of the worker tier, shown on request.
const WORKER_TIER: &str = "workerTier";

/// How long each check of `/health/ready` may take. The checks run side by side and end well
/// within the bound of a probe (`http-fn probe` and the compose healthcheck give up after 2 s), so a
/// store that does not answer (a partition from Redis) reads DOWN instead of the probe timing out
/// (docs/OPERATIONS.md, "Containers").
const READY_CHECK_TIMEOUT: Duration = Duration::from_secs(1);

/// GET `/health/ready`: `locationApi`, `eventRepository`, `snapshotRepository`, in that order,
/// decide. With `?include=workerTier` a fourth check, `workerTier` (every shard owned, as the
/// background view last saw it), follows; it never makes the node unready, so that writes still
/// reach a worker tier scaled to zero, and it costs no store call.
pub(super) async fn ready(State(state): State<AppState>, RawQuery(query): RawQuery) -> Response {
    let (location_api, store) = tokio::join!(
        tokio::time::timeout(READY_CHECK_TIMEOUT, state.locations().healthy()),
        tokio::time::timeout(READY_CHECK_TIMEOUT, store_answers(state.store())),
    );
    let (location_api, store) = (location_api.unwrap_or(false), store.unwrap_or(false));
    let checks = [
        ("locationApi", location_api),
        ("eventRepository", store),
        ("snapshotRepository", store),
    ];
    let wanted = query
        .as_deref()
        .is_some_and(|q| q.split('&').any(|p| p == "include=workerTier"));
    let worker_tier = state.cluster_watch().map(|w| w.worker_tier_up());
    let informative = match (wanted, worker_tier) {
        (true, Some(up)) => vec![(WORKER_TIER, up)],
        _ => Vec::new(),
    };
    let down: Vec<&str> = checks
        .iter()
        .chain(&informative)
        .filter(|(_, up)| !up)
        .map(|(name, _)| *name)
        .collect();
    tracing::info!(probe = "ready", ?down, "health probe");
    probe_body(&checks, &informative)
}

/// GET `/metrics`: Prometheus text exposition format.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    metrics_response(state.metrics())
}
