//! The public router: every endpoint of docs/api.md, one file per endpoint family.

mod cluster;
mod health;
mod path;
mod stock;
mod writes;

use std::any::Any;
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
    observed(stock_routes().merge(probe_routes()), state)
}

/// The five stock endpoints. A path with an empty segment matches none of them.
fn stock_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/locations/{location}/products/{product}",
            // A move of the product named `products` has the shape of a read's path.
            get(stock::get_stock_level)
                .post(writes::move_product_named_products)
                .fallback(writes::read_path_other_method),
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
        .route_layer(middleware::from_fn(path::reject_empty_segments))
}

/// The unauthenticated probes and `/metrics`.
fn probe_routes() -> Router<AppState> {
    Router::new()
        .route("/health/live", get(health::live))
        .route("/health/started", get(health::started))
        .route("/health/ready", get(health::ready))
        .route("/health/cluster", get(cluster::get_cluster))
        .route("/metrics", get(health::metrics))
}

/// `routes` with the 404 fallback, panic recovery, latency metrics and the server span, outermost
/// last. The latency is recorded outside the panic recovery so that a panic counts as a 500.
fn observed(routes: Router<AppState>, state: AppState) -> Router {
    routes
        .fallback(not_found)
        .layer(CatchPanicLayer::custom(internal_error))
        .layer(middleware::from_fn_with_state(
            state.clone(),
            record_latency,
        ))
        .layer(middleware::from_fn(telemetry::trace_request))
        .with_state(state)
}

/// The percent-decoding of one raw path segment, for the fuzz targets: `None` when the decoded
/// bytes are not UTF-8 (such a segment names nothing).
#[doc(hidden)]
pub fn decode_path_param(raw: &str) -> Option<String> {
    match path::decode_segment(raw) {
        path::PathId::Named(id) => Some(id),
        path::PathId::NotUtf8 => None,
    }
}

async fn not_found() -> StatusCode {
    StatusCode::NOT_FOUND
}

/// A handler that panicked answers 500 with an empty body; the panic is logged once, at ERROR,
/// with its message, inside the request's span (so with its trace id). Nothing was applied: a
/// write is only ever applied by the worker's commit.
fn internal_error(panic: Box<dyn Any + Send + 'static>) -> Response {
    let message = panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("(no message)");
    tracing::error!(panic = %telemetry::clip(message), "request handler panicked");
    telemetry::failed_because(format!(
        "request handler panicked: {}",
        telemetry::clip(message)
    ));
    StatusCode::INTERNAL_SERVER_ERROR.into_response()
}

/// Request latency per route and status (`stock_http_request_duration_seconds`). Every label is
/// bounded: the method is a known one or `other`, the route a template of this router or
/// `unmatched`, never the path the client sent.
async fn record_latency(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = telemetry::method_label(request.method()).to_owned();
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
                crate::telemetry::failed_because(format!("Location API unavailable ({cause})"));
                crate::error::ApiError::UpstreamServiceUnavailable
            }
        }
    }
}

#[cfg(test)]
mod tests;
