//! Tracing and logging of the HTTP tier: the process-wide setup lives in `shared::telemetry`, the
//! server span per request in `shared::http` (both tiers use them); the HTTP tier's own
//! "request served" and "request failed" lines are logged here, under this crate's target.

use std::cell::RefCell;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;

pub use shared::telemetry::{Telemetry, clip, current_traceparent, init, method_label};

/// The response header that gives the client of a 5xx the trace id to quote (never the
/// `traceparent` itself, which is not echoed).
pub const TRACE_ID_HEADER: &str = "x-trace-id";

tokio::task_local! {
    /// Why the request being served failed, as noted by the code that found out.
    static CAUSE: RefCell<Option<String>>;
}

/// Notes why the current request fails: the "request failed" line of its 5xx carries it, the
/// outermost note first. Outside a request it is logged at WARN on its own.
pub fn failed_because(cause: impl Into<String>) {
    let cause = cause.into();
    let noted = CAUSE.try_with(|slot| {
        let mut slot = slot.borrow_mut();
        let joined = match slot.take() {
            Some(inner) => format!("{cause}: {inner}"),
            None => cause.clone(),
        };
        *slot = Some(joined);
    });
    if noted.is_err() {
        tracing::warn!(%cause, "request failed");
    }
}

/// Middleware: serves each request in its server span (joining an inbound `traceparent`, never
/// echoing it) and logs a DEBUG "request served" line inside that trace; a 5xx is logged at
/// ERROR with its route and cause, and answered with its trace id in `x-trace-id`. Probes
/// (`/health/*`) answering 503 report a state, not a failed request: their own lines say why.
pub async fn trace_request(request: Request, next: Next) -> Response {
    let serving = async {
        let served = shared::http::serve_in_trace(request, next).await;
        let cause = CAUSE.with(|slot| slot.borrow_mut().take());
        (served, cause)
    };
    let ((mut response, served), cause) = CAUSE.scope(RefCell::new(None), serving).await;
    let failed = response.status().is_server_error() && !served.route.starts_with("/health/");
    served.span.in_scope(|| {
        tracing::debug!(method = %served.method, route = %served.route, status = served.status,
            duration_ms = served.duration_ms, "request served");
        if failed {
            let cause = cause.as_deref().unwrap_or("not noted");
            tracing::error!(method = %served.method, route = %served.route, status = served.status,
                cause, "request failed");
        }
    });
    if failed {
        let trace_id = shared::trace::traceparent_of(&served.span)
            .and_then(|tp| tp.split('-').nth(1).map(str::to_owned))
            .and_then(|id| HeaderValue::from_str(&id).ok());
        if let Some(id) = trace_id {
            response.headers_mut().insert(TRACE_ID_HEADER, id);
        }
    }
    response
}
