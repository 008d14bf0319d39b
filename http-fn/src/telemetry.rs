//! Tracing and logging of the HTTP tier: the process-wide setup lives in `shared::telemetry` and the
//! server span per request in `shared::http` (both tiers use them).

pub use shared::http::trace_request;
pub use shared::telemetry::{Telemetry, clip, current_traceparent, init, method_label};
