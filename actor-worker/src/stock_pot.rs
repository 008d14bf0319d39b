//! The log of commands handled by stock pots: one DEBUG line per command, in the request's
//! trace (spec/OBSERVABILITY.md §2.2).

use shared::command::{Command, CommandEnvelope};
use shared::shard::ShardId;
use shared::store::StreamId;
use tracing::Span;

use crate::core::StepOutcome;

/// The span the work for one command runs in, carrying the request's trace context.
pub(crate) fn command_span(shard: ShardId, id: StreamId, envelope: &CommandEnvelope) -> Span {
    let (trace_id, span_id) = trace_ids(envelope.traceparent.as_deref()).unzip();
    tracing::info_span!(
        target: "actor_worker::stock_pot",
        "command",
        shard,
        stream_id = %id,
        command_id = %envelope.id,
        trace_id,
        span_id,
    )
}

/// The line for one command handled by a stock pot.
pub(crate) fn log_handled(envelope: &CommandEnvelope, outcome: StepOutcome) {
    let (trace_id, span_id) = trace_ids(envelope.traceparent.as_deref()).unzip();
    let command = &envelope.command;
    let (location, request_id) = match command {
        Command::CreditMove(c) => (c.destination.as_str(), c.request_id.as_str()),
        Command::AcknowledgeMove(c) => (c.source.as_str(), c.request_id.as_str()),
        other => other.idempotency_key().unwrap_or(("", "")),
    };
    tracing::debug!(
        target: "actor_worker::stock_pot",
        trace_id,
        span_id,
        command = kind(command),
        location,
        request_id,
        outcome = ?outcome,
        "stock pot handled command"
    );
}

/// A command left unapplied because its deadline had passed.
pub(crate) fn log_expired(envelope: &CommandEnvelope) {
    let (trace_id, span_id) = trace_ids(envelope.traceparent.as_deref()).unzip();
    tracing::debug!(
        target: "actor_worker::stock_pot",
        trace_id,
        span_id,
        command = kind(&envelope.command),
        location = envelope.command.location(),
        "command past its deadline: not applied"
    );
}

fn kind(command: &Command) -> &'static str {
    match command {
        Command::RecordSale(_) => "RecordSale",
        Command::RecordDelivery(_) => "RecordDelivery",
        Command::RecordCount(_) => "RecordCount",
        Command::MoveStock(_) => "MoveStock",
        Command::CreditMove(_) => "CreditMove",
        Command::AcknowledgeMove(_) => "AcknowledgeMove",
    }
}

/// `(trace_id, span_id)` of a valid W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`).
fn trace_ids(traceparent: Option<&str>) -> Option<(&str, &str)> {
    let mut parts = traceparent?.split('-');
    let (version, trace, span, flags) =
        (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let valid = parts.next().is_none()
        && hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && trace.bytes().any(|b| b != b'0')
        && hex(span, 16)
        && span.bytes().any(|b| b != b'0')
        && hex(flags, 2);
    valid.then_some((trace, span))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_valid_traceparent_yields_its_trace_and_span_ids() {
        let tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        assert_eq!(
            trace_ids(Some(tp)),
            Some(("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"))
        );
    }

    #[test]
    fn an_invalid_traceparent_yields_nothing() {
        for tp in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(trace_ids(Some(tp)), None, "{tp}");
        }
        assert_eq!(trace_ids(None), None);
    }
}
