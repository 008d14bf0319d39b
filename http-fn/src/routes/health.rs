//! Health probes and `/metrics` (spec/API.md §10–§11), served without authentication.

use std::time::Duration;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::state::AppState;

/// How long a readiness check may take before it counts as DOWN.
const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

/// GET `/health/live`
pub(super) async fn live() -> Response {
    tracing::info!(probe = "live", "health probe");
    probe_body(true, &[])
}

/// GET `/health/started`
pub(super) async fn started() -> Response {
    tracing::info!(probe = "started", "health probe");
    probe_body(true, &[])
}

/// GET `/health/ready`: `locationApi`, `eventRepository`, `snapshotRepository`, in that order.
pub(super) async fn ready(State(state): State<AppState>) -> Response {
    let location_api = tokio::time::timeout(CHECK_TIMEOUT, state.locations().healthy())
        .await
        .unwrap_or(false);
    let store = matches!(
        tokio::time::timeout(CHECK_TIMEOUT, state.store().ping()).await,
        Ok(Ok(()))
    );
    let checks = [
        ("locationApi", location_api),
        ("eventRepository", store),
        ("snapshotRepository", store),
    ];
    for (name, up) in checks {
        if !up {
            tracing::warn!(check = name, "readiness check DOWN");
        }
    }
    tracing::info!(probe = "ready", "health probe");
    probe_body(checks.iter().all(|(_, up)| *up), &checks)
}

/// GET `/metrics`: Prometheus text exposition format.
pub(super) async fn metrics(State(state): State<AppState>) -> Response {
    let body = state.metrics().render();
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        body,
    )
        .into_response()
}

fn probe_body(up: bool, checks: &[(&str, bool)]) -> Response {
    let word = |up: bool| if up { "UP" } else { "DOWN" };
    let checks: Vec<String> = checks
        .iter()
        .map(|(name, up)| format!(r#"{{"name":"{name}","status":"{}"}}"#, word(*up)))
        .collect();
    let body = format!(
        r#"{{"status":"{}","checks":[{}]}}"#,
        word(up),
        checks.join(",")
    );
    let status = if up {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CONTENT_TYPE, "application/json")], body).into_response()
}
