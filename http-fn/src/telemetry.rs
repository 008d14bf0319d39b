//! Tracing and logging of the HTTP tier: the process-wide setup lives in `shared::telemetry`, the
//! server span per request in `actor_worker::admin` (both tiers use them); the HTTP tier's own
//! "request served" line is logged here, under this crate's target.

use axum::extract::Request;
use axum::middleware::Next;
use axum::response::Response;

pub use shared::telemetry::{Telemetry, clip, current_traceparent, init, method_label};

/// Middleware: serves each request in its server span (joining an inbound `traceparent`, never
/// echoing it) and logs a DEBUG "request served" line inside that trace.
pub async fn trace_request(request: Request, next: Next) -> Response {
    let (response, served) = actor_worker::admin::serve_in_trace(request, next).await;
    served.span.in_scope(|| {
        tracing::debug!(method = %served.method, route = %served.route, status = served.status,
            duration_ms = served.duration_ms, "request served");
    });
    response
}
