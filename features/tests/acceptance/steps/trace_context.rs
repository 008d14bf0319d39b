//! W3C trace context: the caller's `traceparent`, the one on the service's Location API calls,
//! and the spans exported over OTLP (`docs/architecture.md` §16.1).

use std::collections::BTreeSet;

use anyhow::{Context, bail, ensure};
use cucumber::{given, then};
use features::location_api::Call;
use features::location_api::Reply;

use super::location_api::api;
use crate::world::{DEADLINE, POLL_EVERY, StockWorld};

/// The ids of a well-formed `traceparent`: `00-<32 hex>-<16 hex>-<2 hex>`, lower case.
pub(crate) struct TraceParent {
    pub(crate) trace_id: String,
    pub(crate) span_id: String,
}

/// Lower-case hex of exactly `len` digits.
pub(crate) fn is_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn parse(value: &str) -> anyhow::Result<TraceParent> {
    let parts: Vec<&str> = value.split('-').collect();
    let [version, trace_id, span_id, flags] = parts.as_slice() else {
        bail!("traceparent {value:?} does not have four parts");
    };
    ensure!(
        *version == "00"
            && is_hex(trace_id, 32)
            && is_hex(span_id, 16)
            && is_hex(flags, 2)
            && trace_id.bytes().any(|b| b != b'0')
            && span_id.bytes().any(|b| b != b'0'),
        "malformed traceparent {value:?}"
    );
    Ok(TraceParent {
        trace_id: (*trace_id).to_owned(),
        span_id: (*span_id).to_owned(),
    })
}

/// The one `traceparent` of a call.
fn traceparent(call: &Call) -> anyhow::Result<TraceParent> {
    let values = call.header_values("traceparent");
    let [value] = values.as_slice() else {
        bail!("{} carried traceparent {values:?}", call.target());
    };
    parse(value)
}

#[given(regex = r#"^my requests carry the traceparent "([^"]*)"$"#)]
fn carry_traceparent(world: &mut StockWorld, value: String) {
    world
        .extra_headers
        .retain(|(name, _)| !name.eq_ignore_ascii_case("traceparent"));
    world.extra_headers.push(("traceparent".to_owned(), value));
}

fn inbound_span(world: &StockWorld) -> Option<String> {
    world
        .extra_headers
        .iter()
        .find(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
        .and_then(|(_, value)| value.split('-').nth(2).map(str::to_owned))
}

#[then(regex = r#"^every call to the Location API carried a traceparent in the trace "(\w+)"$"#)]
fn calls_in_trace(world: &mut StockWorld, trace_id: String) -> anyhow::Result<()> {
    let calls = api(world)?.calls();
    ensure!(!calls.is_empty(), "the Location API received no calls");
    let inbound = inbound_span(world);
    for call in &calls {
        let parent = traceparent(call)?;
        ensure!(
            parent.trace_id == trace_id,
            "{} carried trace {}, expected {trace_id}",
            call.target(),
            parent.trace_id
        );
        ensure!(
            inbound.as_deref() != Some(parent.span_id.as_str()),
            "{} carried the caller's own span id {}: no span of the service's",
            call.target(),
            parent.span_id
        );
    }
    Ok(())
}

#[then("every call to the Location API carried a traceparent of one new trace")]
fn calls_in_new_trace(world: &mut StockWorld) -> anyhow::Result<()> {
    let api = api(world)?;
    let calls = api.calls();
    ensure!(!calls.is_empty(), "the Location API received no calls");
    let traces: BTreeSet<String> = calls
        .iter()
        .map(|call| traceparent(call).map(|p| p.trace_id))
        .collect::<Result<_, _>>()?;
    ensure!(
        traces.len() == 1,
        "the calls of one request carried several traces: {traces:?}"
    );
    let trace = traces.first().context("no trace")?;
    let earlier: BTreeSet<String> = api
        .earlier_calls()
        .iter()
        .filter_map(|call| traceparent(call).ok().map(|p| p.trace_id))
        .collect();
    ensure!(
        !earlier.contains(trace),
        "trace {trace} was used by an earlier request"
    );
    let inbound: Vec<&str> = world
        .extra_headers
        .iter()
        .filter(|(name, _)| name.eq_ignore_ascii_case("traceparent"))
        .map(|(_, value)| value.as_str())
        .collect();
    ensure!(
        !inbound.iter().any(|value| value.contains(trace.as_str())),
        "trace {trace} is the caller's, not a new one"
    );
    Ok(())
}

/// Where the OTLP/HTTP exporter posts spans, under its endpoint.
const OTLP_TRACES: &str = "/v1/traces";

/// The fake Location API doubles as the OTLP collector: it answers the exporter's posts with an
/// empty success and records them like any call.
#[given("the service exports its spans over OTLP to the fake Location API")]
fn export_spans(world: &mut StockWorld) -> anyhow::Result<()> {
    let api = api(world)?;
    api.answer_always(OTLP_TRACES, |reply| {
        *reply = Reply {
            status: Some(200),
            body: Some(String::new()),
            ..Reply::default()
        };
    });
    let endpoint = api.base_url();
    for (name, value) in [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint),
        // Exported within a tenth of a second instead of the default five.
        ("OTEL_BSP_SCHEDULE_DELAY", "100".to_owned()),
    ] {
        world.settings.insert(name.to_owned(), Some(value));
    }
    Ok(())
}

/// Bytes of a hex string.
fn bytes(hex: &str) -> anyhow::Result<Vec<u8>> {
    ensure!(hex.len().is_multiple_of(2), "odd hex {hex:?}");
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).with_context(|| format!("bad hex {hex:?}")))
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[then(regex = r#"^spans of the trace "(\w+)" are exported for the service "([^"]*)"$"#)]
async fn spans_exported(
    world: &mut StockWorld,
    trace_id: String,
    service: String,
) -> anyhow::Result<()> {
    let trace = bytes(&trace_id)?;
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        // Protobuf carries the trace id as 16 raw bytes and `service.name` as UTF-8 text.
        let exported = api(world)?.calls().iter().any(|call| {
            call.method == "POST"
                && call.path == OTLP_TRACES
                && contains(&call.body, &trace)
                && contains(&call.body, service.as_bytes())
        });
        if exported {
            return Ok(());
        }
        if tokio::time::Instant::now() > deadline {
            bail!("no spans of the trace {trace_id} for {service:?} exported within {DEADLINE:?}");
        }
        tokio::time::sleep(POLL_EVERY).await;
    }
}
