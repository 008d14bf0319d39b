//! GET `/health/cluster`: the worker tier as the store sees it (docs/api.md §10). Not a readiness
//! concern: the HTTP tier stays ready while workers are scaled to zero.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::state::AppState;

/// Live workers with the shards each owns, and the shard totals; 503 when the store cannot say.
pub(super) async fn get_cluster(State(state): State<AppState>) -> Response {
    let (shards, ttl) = state.worker_tier();
    match state.store().cluster(shards, ttl).await {
        Ok(view) => {
            let workers: Vec<serde_json::Value> = view
                .workers
                .iter()
                .map(|w| json!({"id": w.id, "shards": w.shards, "heartbeatAgeMs": w.heartbeat_age_ms}))
                .collect();
            let body = json!({
                "workers": workers,
                "shards": {"total": shards, "owned": view.owned, "unowned": shards.saturating_sub(view.owned)},
            });
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                body.to_string(),
            )
                .into_response()
        }
        Err(error) => {
            crate::telemetry::failed_because(format!("cluster view unavailable ({error})"));
            crate::error::ApiError::ServiceUnavailable.into_response()
        }
    }
}
