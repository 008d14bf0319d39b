//! Tracing and logging of the HTTP tier: the process-wide setup lives in `shared::telemetry`, the
//! per-request server span in `actor_worker::admin` (both tiers use them).

pub use actor_worker::admin::trace_request;
pub use shared::telemetry::{Telemetry, current_traceparent, init};
