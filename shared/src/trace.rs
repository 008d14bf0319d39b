//! W3C trace context across the tiers: `traceparent` parsing and formatting, and spans joining it.
//!
//! The spans live in the `tracing` world; their OpenTelemetry identity (trace id, span id) comes from
//! the `tracing-opentelemetry` layer when the process installed one. Without it (tests building an
//! application in-process) every function here is a harmless no-op.

use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// The target of the spans that carry a request's trace (the HTTP server span, the worker's
/// command spans). Logging set-up keeps this target enabled whatever `RUST_LOG` says, so every line
/// logged while serving a request has a span to take its trace ids from.
pub const SPAN_TARGET: &str = "stock_api::trace";

/// The span context of a valid W3C `traceparent` (`<version>-<32 hex>-<16 hex>-<2 hex>`, lower
/// case, ids not all zero, version not `ff`), marked remote.
pub fn parse_traceparent(value: &str) -> Option<SpanContext> {
    let value = value.trim();
    let bytes = value.as_bytes();
    // Version 00 is exactly 55 characters; later versions may append fields after a '-'.
    if bytes.len() < 55 || bytes.get(2) != Some(&b'-') || bytes.get(35) != Some(&b'-') {
        return None;
    }
    let version = value.get(..2)?;
    let tail_ok = match version {
        "00" => bytes.len() == 55,
        _ => bytes.len() == 55 || bytes.get(55) == Some(&b'-'),
    };
    if !tail_ok || version == "ff" || !lower_hex(version) {
        return None;
    }
    let (trace, span, flags) = (value.get(3..35)?, value.get(36..52)?, value.get(53..55)?);
    if bytes.get(52) != Some(&b'-') || !lower_hex(trace) || !lower_hex(span) || !lower_hex(flags) {
        return None;
    }
    let trace_id = TraceId::from_hex(trace).ok()?;
    let span_id = SpanId::from_hex(span).ok()?;
    let flags = u8::from_str_radix(flags, 16).ok()?;
    let context = SpanContext::new(
        trace_id,
        span_id,
        // Only the sampled bit is defined; the others are not propagated.
        TraceFlags::new(flags) & TraceFlags::SAMPLED,
        true,
        TraceState::default(),
    );
    context.is_valid().then_some(context)
}

/// `00-<trace id>-<span id>-<flags>` of a valid span context; `None` for an invalid one.
pub fn format_traceparent(context: &SpanContext) -> Option<String> {
    context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            context.trace_id(),
            context.span_id(),
            context.trace_flags().to_u8()
        )
    })
}

/// Makes a freshly created `span` join the trace of `traceparent` (same trace id, new span id) or,
/// when there is none or it is invalid, start a new trace rather than inherit from an enclosing
/// span. Call before the span is first entered: its parent is fixed from then on.
pub fn join(span: &Span, traceparent: Option<&str>) {
    let parent = match traceparent.and_then(parse_traceparent) {
        Some(remote) => Context::new().with_remote_span_context(remote),
        None => Context::new(),
    };
    // Fails only without an OpenTelemetry layer (nothing to join then) or on a span already
    // started, which callers rule out by joining right after creating the span.
    let _ = span.set_parent(parent);
}

/// The `traceparent` of `span`'s OpenTelemetry context; `None` without one.
pub fn traceparent_of(span: &Span) -> Option<String> {
    format_traceparent(span.context().span().span_context())
}

fn lower_hex(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    const VALID: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_traceparent_yields_a_remote_sampled_context_with_its_ids() {
        let context = parse_traceparent(VALID);
        let context = context.as_ref();
        assert_eq!(
            context.map(|c| c.trace_id().to_string()),
            Some("4bf92f3577b34da6a3ce929d0e0e4736".to_owned())
        );
        assert_eq!(
            context.map(|c| c.span_id().to_string()),
            Some("00f067aa0ba902b7".to_owned())
        );
        assert_eq!(context.map(SpanContext::is_sampled), Some(true));
        assert_eq!(context.map(SpanContext::is_remote), Some(true));
    }

    #[test]
    fn formatting_a_parsed_traceparent_gives_it_back() {
        let context = parse_traceparent(VALID);
        assert_eq!(
            context.as_ref().and_then(format_traceparent).as_deref(),
            Some(VALID)
        );
        let unsampled = VALID.replace("-01", "-00");
        let context = parse_traceparent(&unsampled);
        assert_eq!(
            context.as_ref().and_then(format_traceparent),
            Some(unsampled)
        );
    }

    #[test]
    fn a_later_version_may_carry_more_fields() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra";
        assert!(parse_traceparent(later).is_some());
    }

    #[test]
    fn an_invalid_traceparent_yields_nothing() {
        for value in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-+bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse_traceparent(value), None, "{value}");
        }
    }

    #[test]
    fn an_invalid_context_has_no_traceparent() {
        assert_eq!(format_traceparent(&SpanContext::empty_context()), None);
    }

    /// Runs `f` under a subscriber with an OpenTelemetry layer over an SDK provider that exports
    /// nothing, as the service installs it.
    fn with_opentelemetry(f: impl FnOnce()) {
        use opentelemetry::trace::TracerProvider as _;
        use tracing_subscriber::layer::SubscriberExt;

        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let layer = tracing_opentelemetry::layer().with_tracer(provider.tracer("test"));
        let subscriber = tracing_subscriber::registry().with(layer);
        tracing::subscriber::with_default(subscriber, f);
    }

    fn ids(traceparent: Option<String>) -> Option<(String, String)> {
        let context = parse_traceparent(&traceparent?)?;
        Some((
            context.trace_id().to_string(),
            context.span_id().to_string(),
        ))
    }

    #[test]
    fn a_joined_span_keeps_the_trace_id_and_gets_a_span_id_of_its_own() {
        with_opentelemetry(|| {
            let span = tracing::info_span!(target: SPAN_TARGET, "command");
            join(&span, Some(VALID));
            let (trace, span_id) = ids(traceparent_of(&span)).unwrap_or_default();
            assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_eq!(span_id.len(), 16);
            assert_ne!(span_id, "00f067aa0ba902b7");
        });
    }

    #[test]
    fn an_unsampled_caller_still_gives_the_span_real_ids() {
        with_opentelemetry(|| {
            let span = tracing::info_span!(target: SPAN_TARGET, "command");
            join(&span, Some(&VALID.replace("-01", "-00")));
            let (trace, span_id) = ids(traceparent_of(&span)).unwrap_or_default();
            assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
            assert_ne!(span_id, "00f067aa0ba902b7");
        });
    }

    #[test]
    fn a_span_without_a_valid_traceparent_starts_a_new_trace_even_inside_another() {
        with_opentelemetry(|| {
            let outer = tracing::info_span!(target: SPAN_TARGET, "request");
            join(&outer, Some(VALID));
            let _entered = outer.enter();
            let inner = tracing::info_span!(target: SPAN_TARGET, "command");
            join(&inner, Some("not a traceparent"));
            let (trace, _) = ids(traceparent_of(&inner)).unwrap_or_default();
            assert_eq!(trace.len(), 32);
            assert_ne!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        });
    }

    #[test]
    fn a_child_span_shares_its_parents_trace() {
        with_opentelemetry(|| {
            let outer = tracing::info_span!(target: SPAN_TARGET, "request");
            join(&outer, Some(VALID));
            let child = outer.in_scope(|| tracing::info_span!("inner"));
            let (trace, _) = ids(traceparent_of(&child)).unwrap_or_default();
            assert_eq!(trace, "4bf92f3577b34da6a3ce929d0e0e4736");
        });
    }

    #[test]
    fn without_an_opentelemetry_layer_spans_have_no_traceparent() {
        let span = tracing::info_span!(target: SPAN_TARGET, "request");
        join(&span, Some(VALID));
        assert_eq!(traceparent_of(&span), None);
    }
}
