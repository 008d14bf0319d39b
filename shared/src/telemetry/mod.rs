//! Process-wide tracing and logging: OpenTelemetry spans in W3C trace context, JSON (default) or text
//! log lines carrying the trace ids of the request they were logged for, filtered by `RUST_LOG`.

mod format;
mod request;

pub use self::request::{MAX_FIELD_BYTES, clip, method_label};

use crate::trace::{self, SPAN_TARGET};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Key, Value};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;

use self::format::{LineFormat, TraceIdLayer};

/// The OpenTelemetry service name unless `OTEL_SERVICE_NAME` (or `service.name` in
/// `OTEL_RESOURCE_ATTRIBUTES`) says otherwise.
const SERVICE_NAME: &str = "stock-api";

/// The process's tracer provider; dropping it flushes the spans not yet exported.
#[must_use = "dropping the guard flushes and stops span export"]
pub struct Telemetry {
    provider: SdkTracerProvider,
}

impl Drop for Telemetry {
    fn drop(&mut self) {
        // Fails only when already shut down or when the exporter cannot deliver in time: nothing
        // more can be done on the way out.
        let _ = self.provider.shutdown();
    }
}

/// Installs the global subscriber and tracer provider; call once, from `run`. Keep the returned
/// guard alive until the end: dropping it flushes the spans still buffered for export.
pub fn init(format: LogFormat) -> Telemetry {
    let (provider, export_error) = tracer_provider(&|name| std::env::var(name).ok());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    subscriber(format, filter, &provider, std::io::stdout).init();
    if let Some(problem) = export_error {
        tracing::warn!(%problem, "OpenTelemetry span export");
    }
    Telemetry { provider }
}

/// The subscriber [`init`] installs, at `filter` and writing to `writer`, without installing it,
/// and the guard of its tracer provider: for tests that read the lines some code logs while it
/// is the thread's default (`tracing::subscriber::set_default`).
pub fn subscriber_writing_to<W>(
    format: LogFormat,
    filter: &str,
    writer: W,
) -> (impl Subscriber + Send + Sync + 'static + use<W>, Telemetry)
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let (provider, _) = tracer_provider(&|_| None);
    let subscriber = subscriber(format, EnvFilter::new(filter), &provider, writer);
    (subscriber, Telemetry { provider })
}

/// The filter, the OpenTelemetry layer, the trace id cache and the line layout, writing to
/// `writer`.
fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    provider: &SdkTracerProvider,
    writer: W,
) -> impl Subscriber + Send + Sync + 'static + use<W>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let otel = tracing_opentelemetry::layer()
        .with_tracer(provider.tracer(SERVICE_NAME))
        .with_tracked_inactivity(false)
        .with_threads(false);
    let lines = tracing_subscriber::fmt::layer()
        .event_format(LineFormat {
            json: format == LogFormat::Json,
        })
        .with_writer(writer);
    tracing_subscriber::registry()
        .with(always_on_spans(filter))
        .with(otel)
        .with(TraceIdLayer::default())
        .with(lines)
}

/// The spans that carry a request's trace stay enabled at any `RUST_LOG` level, so every line
/// logged while serving a request finds its trace ids.
fn always_on_spans(filter: EnvFilter) -> EnvFilter {
    match format!("{SPAN_TARGET}=info").parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    }
}

/// An SDK provider, so spans have real ids even when nothing is exported, with an OTLP/HTTP
/// exporter when the standard variables ask for one; and a problem with that exporter, if any.
fn tracer_provider(var: &dyn Fn(&str) -> Option<String>) -> (SdkTracerProvider, Option<String>) {
    let builder = SdkTracerProvider::builder().with_resource(resource());
    if !export_wanted(var) {
        return (builder.build(), None);
    }
    match opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .build()
    {
        Ok(exporter) => (
            builder.with_batch_exporter(exporter).build(),
            unsupported_protocol(var),
        ),
        Err(error) => (
            builder.build(),
            Some(format!(
                "exporter not built, spans are not exported: {error}"
            )),
        ),
    }
}

/// Only OTLP over HTTP with protobuf bodies is built in: any other requested protocol is
/// reported, and `http/protobuf` used anyway.
fn unsupported_protocol(var: &dyn Fn(&str) -> Option<String>) -> Option<String> {
    let requested = var("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        .or_else(|| var("OTEL_EXPORTER_OTLP_PROTOCOL"))
        .filter(|p| !p.trim().is_empty())?;
    (requested.trim() != "http/protobuf").then(|| {
        format!("protocol {requested:?} is not supported; exporting with \"http/protobuf\"")
    })
}

/// Export only when an OTLP endpoint is set, span export is not turned off
/// (`OTEL_TRACES_EXPORTER=none`) and the SDK is not disabled (`OTEL_SDK_DISABLED=true`).
fn export_wanted(var: &dyn Fn(&str) -> Option<String>) -> bool {
    let set = |name: &str| var(name).is_some_and(|v| !v.trim().is_empty());
    let disabled = var("OTEL_SDK_DISABLED").is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    let exporters = var("OTEL_TRACES_EXPORTER").unwrap_or_default();
    let turned_off = exporters.trim().eq_ignore_ascii_case("none");
    !disabled
        && !turned_off
        && (set("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") || set("OTEL_EXPORTER_OTLP_ENDPOINT"))
}

/// The resource from the standard variables, named `stock-api` when they give no name.
fn resource() -> Resource {
    let detected = Resource::builder().build();
    let named = detected
        .get(&Key::from_static_str("service.name"))
        .is_some_and(|name| !is_unknown_service(&name));
    if named {
        detected
    } else {
        Resource::builder().with_service_name(SERVICE_NAME).build()
    }
}

/// The SDK's fallback name, `unknown_service` or `unknown_service:<executable>`.
fn is_unknown_service(name: &Value) -> bool {
    name.as_str().starts_with("unknown_service")
}

/// The W3C `traceparent` of the current span's trace, for outbound calls and commands; `None`
/// outside any trace (or when no tracing was installed, as in tests).
pub fn current_traceparent() -> Option<String> {
    trace::traceparent_of(&tracing::Span::current())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use std::collections::HashMap;
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |name| map.get(name).cloned()
    }

    /// A writer collecting what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Captured {
        fn lines(&self) -> Vec<serde_json::Value> {
            let bytes = self.0.lock().unwrap().clone();
            String::from_utf8(bytes)
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).unwrap())
                .collect()
        }
    }

    /// Runs `f` under the service's subscriber at `RUST_LOG=level`, and returns the lines logged.
    fn logged(level: &str, f: impl FnOnce()) -> Vec<serde_json::Value> {
        let provider = SdkTracerProvider::builder().build();
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(
            LogFormat::Json,
            EnvFilter::new(level),
            &provider,
            move || writer.clone(),
        );
        tracing::subscriber::with_default(subscriber, f);
        captured.lines()
    }

    #[test]
    fn nothing_is_exported_without_an_endpoint() {
        assert!(!export_wanted(&vars(&[])));
        assert!(!export_wanted(&vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            " "
        )])));
        assert!(!export_wanted(&vars(&[("OTEL_SERVICE_NAME", "stock")])));
    }

    #[test]
    fn either_standard_endpoint_variable_turns_export_on() {
        let url = "http://127.0.0.1:4318";
        assert!(export_wanted(&vars(&[(
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            url
        )])));
        assert!(export_wanted(&vars(&[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            url
        )])));
    }

    #[test]
    fn export_stays_off_when_turned_off_or_the_sdk_is_disabled() {
        let url = ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318");
        assert!(!export_wanted(&vars(&[
            url,
            ("OTEL_TRACES_EXPORTER", "none")
        ])));
        assert!(!export_wanted(&vars(&[url, ("OTEL_SDK_DISABLED", "true")])));
        assert!(export_wanted(&vars(&[
            url,
            ("OTEL_TRACES_EXPORTER", "otlp")
        ])));
    }

    #[test]
    fn a_protocol_other_than_http_protobuf_is_reported() {
        assert_eq!(unsupported_protocol(&vars(&[])), None);
        let protobuf = ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf");
        assert_eq!(unsupported_protocol(&vars(&[protobuf])), None);
        let grpc = ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "grpc");
        assert!(unsupported_protocol(&vars(&[protobuf, grpc])).is_some());
    }

    #[test]
    fn the_sdk_fallback_service_name_is_recognised() {
        assert!(is_unknown_service(&Value::from("unknown_service")));
        assert!(is_unknown_service(&Value::from("unknown_service:http-fn")));
        assert!(!is_unknown_service(&Value::from("stock-api")));
    }

    #[test]
    fn lines_logged_inside_a_request_span_carry_its_trace_ids_and_others_none() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let mut seen = None;
        let lines = logged("info", || {
            tracing::info!("before");
            let span = tracing::info_span!(target: SPAN_TARGET, "request");
            trace::join(&span, Some(tp));
            span.in_scope(|| {
                seen = current_traceparent();
                tracing::info!(probe = "live", "health probe");
            });
            tracing::info!("after");
        });
        let field = |i: usize, name: &str| lines[i].get(name).cloned();
        assert_eq!(lines.len(), 3);
        assert_eq!(field(0, "trace_id"), None);
        assert_eq!(
            field(1, "trace_id"),
            Some("4bf92f3577b34da6a3ce929d0e0e4736".into())
        );
        assert_eq!(field(1, "probe"), Some("live".into()));
        let span_id = field(1, "span_id").unwrap_or_default();
        assert_eq!(span_id.as_str().map(str::len), Some(16));
        assert_ne!(span_id, "00f067aa0ba902b7");
        assert_eq!(
            seen,
            Some(format!(
                "00-4bf92f3577b34da6a3ce929d0e0e4736-{}-01",
                span_id.as_str().unwrap_or_default()
            ))
        );
        assert_eq!(field(2, "span_id"), None);
    }

    #[test]
    fn request_spans_stay_on_whatever_rust_log_says() {
        let lines = logged("warn", || {
            let span = tracing::info_span!(target: SPAN_TARGET, "request");
            trace::join(&span, None);
            span.in_scope(|| {
                tracing::info!("filtered out");
                tracing::warn!("kept");
            });
        });
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0]["message"], "kept");
        assert_eq!(lines[0]["trace_id"].as_str().map(str::len), Some(32));
    }

    #[test]
    fn without_installed_tracing_there_is_no_current_traceparent() {
        assert_eq!(current_traceparent(), None);
    }
}
