//! The public router: every endpoint of spec/API.md, one file per endpoint family.

mod cluster;
mod health;
mod path;
mod stock;
mod writes;

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use tower_http::catch_panic::CatchPanicLayer;

use crate::state::AppState;
use crate::telemetry;

/// The one router served by the plain server and by Lambda.
pub fn router(state: AppState) -> Router {
    Router::new()
        .route(
            "/locations/{location}/products/{product}",
            get(stock::get_stock_level),
        )
        .route(
            "/locations/{location}/products/{product}/sales",
            post(writes::record_sale),
        )
        .route(
            "/locations/{location}/deliveries",
            post(writes::record_delivery),
        )
        .route(
            "/locations/{location}/{product}/movements",
            post(writes::move_stock),
        )
        .route(
            "/locations/{location}/products/{product}/counts",
            post(writes::record_count),
        )
        .route("/health/live", get(health::live))
        .route("/health/started", get(health::started))
        .route("/health/ready", get(health::ready))
        .route("/health/cluster", get(cluster::get_cluster))
        .route("/metrics", get(health::metrics))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_latency,
        ))
        .layer(CatchPanicLayer::custom(|_| internal_error()))
        .layer(middleware::from_fn(telemetry::trace_request))
        .with_state(state)
}

/// The percent-decoding of one raw path parameter, for the fuzz targets.
#[doc(hidden)]
pub fn decode_path_param(raw: &str) -> String {
    path::decode(raw)
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// A handler that panicked answers 500 with an empty body; the panic is logged once. Nothing was
/// applied: a write is only ever applied by the worker's commit.
fn internal_error() -> Response {
    tracing::error!("request handler panicked");
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Request latency per route and status (`stock_http_request_duration_seconds`).
async fn record_latency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await.into_response();
    let status = response.status().as_u16().to_string();
    state
        .metrics()
        .histogram(
            "stock_http_request_duration_seconds",
            &[("method", method), ("route", route), ("status", status)],
        )
        .record(started.elapsed().as_secs_f64());
    response
}

impl From<crate::locations::LocationError> for crate::error::ApiError {
    fn from(error: crate::locations::LocationError) -> Self {
        match error {
            crate::locations::LocationError::NotFound => crate::error::ApiError::LocationNotFound,
            crate::locations::LocationError::Unavailable(cause) => {
                tracing::warn!(%cause, "Location API unavailable");
                crate::error::ApiError::UpstreamServiceUnavailable
            }
        }
    }
}
