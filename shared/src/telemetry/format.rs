//! The log line layouts (JSON and text), each line carrying the trace ids of the span it was logged in.

use std::fmt::{self, Write as _};
use std::sync::OnceLock;
use std::time::SystemTime;

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::span::Id;
use tracing::{Dispatch, Event, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

/// The OpenTelemetry ids of a span, lower-case hex, cached in the span's extensions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct TraceIds {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
}

/// Caches each span's [`TraceIds`] when it is first entered, after its parent is settled (see
/// `shared::trace::join`), so the formatter reads them without touching OpenTelemetry per line.
#[derive(Default)]
pub(crate) struct TraceIdLayer {
    dispatch: OnceLock<WeakDispatch>,
}

impl<S> Layer<S> for TraceIdLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        // The formatter cannot reach the dispatcher while an event is being dispatched; keep it.
        let _ = self.dispatch.set(subscriber.downgrade());
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span) = ctx.span(id) else { return };
        if span.extensions().get::<TraceIds>().is_some() {
            return;
        }
        let Some(dispatch) = self.dispatch.get().and_then(WeakDispatch::upgrade) else {
            return;
        };
        let Some(otel) = tracing_opentelemetry::get_otel_context(id, &dispatch) else {
            return;
        };
        let otel_span = otel.span();
        let context = otel_span.span_context();
        if context.is_valid() {
            span.extensions_mut().insert(TraceIds {
                trace_id: context.trace_id().to_string(),
                span_id: context.span_id().to_string(),
            });
        }
    }
}

/// The layout of a log line: `json` (one object per line) or human-readable text.
pub(crate) struct LineFormat {
    pub(crate) json: bool,
}

impl<S, N> FormatEvent<S, N> for LineFormat
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let ids = ctx.event_scope().and_then(|scope| {
            scope
                .into_iter()
                .find_map(|span| span.extensions().get::<TraceIds>().cloned())
        });
        let line = Line::of(event, ids);
        let text = if self.json { line.json() } else { line.text() };
        writeln!(writer, "{text}")
    }
}

/// One log line, in the order its fields are written.
#[derive(Debug)]
pub(crate) struct Line {
    timestamp: String,
    level: &'static str,
    target: String,
    message: String,
    fields: Vec<(&'static str, Value)>,
    ids: Option<TraceIds>,
}

impl Line {
    fn of(event: &Event<'_>, ids: Option<TraceIds>) -> Line {
        let mut visitor = FieldVisitor::default();
        event.record(&mut visitor);
        let metadata = event.metadata();
        Line {
            timestamp: humantime::format_rfc3339_micros(SystemTime::now()).to_string(),
            level: metadata.level().as_str(),
            target: metadata.target().to_owned(),
            message: visitor.message.unwrap_or_default(),
            fields: visitor.fields,
            ids,
        }
    }

    /// The JSON object: the fixed fields first, then the event's own, then the trace ids. An
    /// event field never replaces a fixed one.
    pub(crate) fn json(&self) -> String {
        let mut object = Map::new();
        object.insert("timestamp".into(), self.timestamp.clone().into());
        object.insert("level".into(), self.level.into());
        object.insert("target".into(), self.target.clone().into());
        object.insert("message".into(), self.message.clone().into());
        for (name, value) in &self.fields {
            let reserved = matches!(*name, "trace_id" | "span_id");
            if !reserved && !object.contains_key(*name) {
                object.insert((*name).to_owned(), value.clone());
            }
        }
        if let Some(ids) = &self.ids {
            object.insert("trace_id".into(), ids.trace_id.clone().into());
            object.insert("span_id".into(), ids.span_id.clone().into());
        }
        Value::Object(object).to_string()
    }

    /// `<timestamp> <LEVEL> <target>: <message> key=value … trace_id=… span_id=…`
    pub(crate) fn text(&self) -> String {
        let mut text = format!(
            "{} {:>5} {}: {}",
            self.timestamp, self.level, self.target, self.message
        );
        for (name, value) in &self.fields {
            if !matches!(*name, "trace_id" | "span_id") {
                let _ = match value {
                    Value::String(s) => write!(text, " {name}={s:?}"),
                    other => write!(text, " {name}={other}"),
                };
            }
        }
        if let Some(ids) = &self.ids {
            let _ = write!(text, " trace_id={} span_id={}", ids.trace_id, ids.span_id);
        }
        text
    }
}

/// Collects an event's message and fields as JSON values.
#[derive(Default)]
struct FieldVisitor {
    message: Option<String>,
    fields: Vec<(&'static str, Value)>,
}

impl FieldVisitor {
    fn put(&mut self, field: &Field, value: Value) {
        if field.name() == "message" {
            self.message = Some(match value {
                Value::String(s) => s,
                other => other.to_string(),
            });
        } else {
            self.fields.push((field.name(), value));
        }
    }
}

impl Visit for FieldVisitor {
    fn record_f64(&mut self, field: &Field, value: f64) {
        let value = serde_json::Number::from_f64(value)
            .map_or_else(|| Value::String(value.to_string()), Value::Number);
        self.put(field, value);
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.put(field, value.to_string().into());
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(fields: Vec<(&'static str, Value)>, ids: Option<TraceIds>) -> Line {
        Line {
            timestamp: "2024-05-01T10:00:00.000000Z".to_owned(),
            level: "INFO",
            target: "http_fn::app".to_owned(),
            message: "listening".to_owned(),
            fields,
            ids,
        }
    }

    fn ids() -> TraceIds {
        TraceIds {
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736".to_owned(),
            span_id: "00f067aa0ba902b7".to_owned(),
        }
    }

    #[test]
    fn a_json_line_has_the_fixed_fields_then_the_event_fields_then_the_trace_ids() {
        let line = line(vec![("http_addr", "127.0.0.1:8080".into())], Some(ids()));
        assert_eq!(
            line.json(),
            concat!(
                r#"{"timestamp":"2024-05-01T10:00:00.000000Z","level":"INFO","#,
                r#""target":"http_fn::app","message":"listening","http_addr":"127.0.0.1:8080","#,
                r#""trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","span_id":"00f067aa0ba902b7"}"#
            )
        );
    }

    #[test]
    fn a_json_line_outside_any_request_has_no_trace_ids() {
        let json: Value = serde_json::from_str(&line(vec![], None).json()).unwrap_or_default();
        assert_eq!(json.get("trace_id"), None);
        assert_eq!(json.get("span_id"), None);
    }

    #[test]
    fn event_fields_never_replace_fixed_fields_or_trace_ids() {
        let fields = vec![
            ("level", "forged".into()),
            ("trace_id", "forged".into()),
            ("count", 3.into()),
        ];
        let json: Value = serde_json::from_str(&line(fields, None).json()).unwrap_or_default();
        assert_eq!(json.get("level"), Some(&Value::from("INFO")));
        assert_eq!(json.get("trace_id"), None);
        assert_eq!(json.get("count"), Some(&Value::from(3)));
    }

    #[test]
    fn a_text_line_carries_the_same_information() {
        let line = line(
            vec![("http_addr", "127.0.0.1:8080".into()), ("count", 3.into())],
            Some(ids()),
        );
        assert_eq!(
            line.text(),
            "2024-05-01T10:00:00.000000Z  INFO http_fn::app: listening \
             http_addr=\"127.0.0.1:8080\" count=3 \
             trace_id=4bf92f3577b34da6a3ce929d0e0e4736 span_id=00f067aa0ba902b7"
        );
    }
}
