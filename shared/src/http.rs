//! HTTP plumbing both tiers serve: the health probe handlers and bodies, the `/metrics` response,
//! the per-request server span and the shutdown signal.

use std::time::{Duration, Instant};

use crate::metrics::Metrics;
use crate::store::Store;
use crate::telemetry::{clip, method_label};
use crate::trace::{self, SPAN_TARGET};
use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;
use tracing::field::Empty;

/// How long a readiness check may take before it counts as DOWN.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

const TRACEPARENT: &str = "traceparent";
const TRACESTATE: &str = "tracestate";

/// GET `/health/live`: the process serves requests (docs/api.md §10).
pub async fn live() -> Response {
    tracing::info!(probe = "live", "health probe");
    probe_response(&[])
}

/// GET `/health/started`: start-up has completed (docs/api.md §10).
pub async fn started() -> Response {
    tracing::info!(probe = "started", "health probe");
    probe_response(&[])
}

/// Whether the store answers a ping within [`CHECK_TIMEOUT`].
pub async fn store_answers(store: &dyn Store) -> bool {
    matches!(
        tokio::time::timeout(CHECK_TIMEOUT, store.ping()).await,
        Ok(Ok(()))
    )
}

/// `/metrics`: the Prometheus text exposition format.
pub fn metrics_response(metrics: &Metrics) -> Response {
    let headers = [(header::CONTENT_TYPE, "text/plain; version=0.0.4")];
    (StatusCode::OK, headers, metrics.render()).into_response()
}

/// A probe answer: UP and 200 when every check is UP, else DOWN and 503. The caller logs the
/// checks reported DOWN on its probe line.
pub fn probe_response(checks: &[(&str, bool)]) -> Response {
    probe_body(checks, &[])
}

/// [`probe_response`] of `checks`, followed in the body by `informative` checks that do not
/// count towards the status.
pub fn probe_body(checks: &[(&str, bool)], informative: &[(&str, bool)]) -> Response {
    let word = |up: bool| if up { "UP" } else { "DOWN" };
    let up = checks.iter().all(|(_, up)| *up);
    let checks: Vec<String> = checks
        .iter()
        .chain(informative)
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

/// What a traced request came to, for the tier's own "request served" line.
pub struct Served {
    /// The request's server span (its trace ids are on every line logged inside it).
    pub span: tracing::Span,
    /// The method label: a known method or `other`.
    pub method: &'static str,
    pub route: String,
    pub status: u16,
    pub duration_ms: f64,
}

/// Serves `request` inside a server span that joins the caller's trace when a valid
/// `traceparent` came with it, and starts a new trace otherwise. The trace context is never
/// echoed in the response.
pub async fn serve_in_trace(request: Request, next: Next) -> (Response, Served) {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|path| path.as_str().to_owned());
    // Both come from the client: a known method or `other`, and the path clipped.
    let method = method_label(request.method());
    let started = Instant::now();
    let span = tracing::info_span!(
        target: SPAN_TARGET,
        "request",
        otel.name = %format!("{method} {}", route.as_deref().unwrap_or("unmatched")),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = route.as_deref(),
        url.path = %clip(request.uri().path()),
        http.response.status_code = Empty,
    );
    trace::join(&span, inbound_traceparent(request.headers()));
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status();
    span.record("http.response.status_code", status.as_u16());
    if status.is_server_error() {
        span.record("otel.status_code", "error");
    }
    response.headers_mut().remove(TRACEPARENT);
    response.headers_mut().remove(TRACESTATE);
    let served = Served {
        span,
        method,
        route: route.unwrap_or_else(|| "unmatched".to_owned()),
        status: status.as_u16(),
        duration_ms: started.elapsed().as_secs_f64() * 1000.0,
    };
    (response, served)
}

/// Middleware of both tiers' listeners: serves each request in its server span (joining an inbound
/// `traceparent`, never echoing it) and logs a DEBUG "request served" line inside that trace.
pub async fn trace_request(request: Request, next: Next) -> Response {
    let (response, served) = serve_in_trace(request, next).await;
    served.span.in_scope(|| {
        tracing::debug!(method = %served.method, route = %served.route, status = served.status,
            duration_ms = served.duration_ms, "request served");
    });
    response
}

/// The request's `traceparent`; several of them make none (W3C Trace Context §4.2).
fn inbound_traceparent(headers: &HeaderMap) -> Option<&str> {
    let mut values = headers.get_all(TRACEPARENT).iter();
    let first = values.next()?;
    match values.next() {
        Some(_) => None,
        None => first.to_str().ok(),
    }
}

/// Listens for SIGINT and SIGTERM from this call on, and completes on the first of them,
/// silently: each tier logs it under its own target. The handlers are installed by the call,
/// not by the first poll of the returned future: call it before the process reports it is
/// listening, since until then either signal ends the process at once, without draining the
/// requests in flight or flushing the spans. Must be called within a Tokio runtime.
pub fn signal_received() -> impl Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{Signal, SignalKind, signal};
        let terminate = signal(SignalKind::terminate()).ok();
        let interrupt = signal(SignalKind::interrupt()).ok();
        // A handler that could not be installed leaves its signal to the default action.
        async fn first(signal: Option<Signal>) {
            match signal {
                Some(mut signal) => {
                    signal.recv().await;
                }
                None => std::future::pending().await,
            }
        }
        async move {
            tokio::select! {
                () = first(terminate) => {},
                () = first(interrupt) => {},
            }
        }
    }
    #[cfg(not(unix))]
    {
        async {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    #[test]
    fn only_a_single_traceparent_header_is_taken() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut headers = HeaderMap::new();
        assert_eq!(inbound_traceparent(&headers), None);
        headers.append(TRACEPARENT, HeaderValue::from_static(tp));
        assert_eq!(inbound_traceparent(&headers), Some(tp));
        headers.append(TRACEPARENT, HeaderValue::from_static(tp));
        assert_eq!(inbound_traceparent(&headers), None);
    }
}
