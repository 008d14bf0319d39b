//! The spans and log lines of commands handled by stock pots: one DEBUG line per command, in the
//! request's trace (docs/architecture.md §16.2.2).

use shared::command::{Command, CommandEnvelope};
use shared::shard::ShardId;
use shared::store::StreamId;
use shared::trace;
use tracing::Span;

use crate::core::StepOutcome;

/// The span the work for one command runs in: a child of the request's trace context carried by
/// the command, so every line logged inside it carries that `trace_id` and its own `span_id`.
pub(crate) fn command_span(shard: ShardId, id: StreamId, envelope: &CommandEnvelope) -> Span {
    let span = tracing::info_span!(
        target: trace::SPAN_TARGET,
        "command",
        otel.name = kind(&envelope.command),
        otel.kind = "consumer",
        shard,
        stream_id = %id,
        command_id = %envelope.id,
    );
    trace::join(&span, envelope.traceparent.as_deref());
    span
}

/// The span a cross-shard message is sent in, from the shard `from`, in the trace of its command.
pub(crate) fn send_span(from: ShardId, envelope: &CommandEnvelope) -> Span {
    let span = tracing::info_span!(
        target: trace::SPAN_TARGET,
        "send",
        otel.name = kind(&envelope.command),
        otel.kind = "producer",
        shard = from,
        command_id = %envelope.id,
    );
    trace::join(&span, envelope.traceparent.as_deref());
    span
}

/// The line for one command handled by a stock pot; logged inside its [`command_span`].
pub(crate) fn log_handled(envelope: &CommandEnvelope, outcome: StepOutcome) {
    let command = &envelope.command;
    let (location, request_id) = match command {
        Command::CreditMove(c) => (c.destination.as_str(), c.request_id.as_str()),
        Command::AcknowledgeMove(c) => (c.source.as_str(), c.request_id.as_str()),
        other => other.idempotency_key().unwrap_or(("", "")),
    };
    if outcome == StepOutcome::CreditHeld {
        tracing::warn!(
            target: "actor_worker::stock_pot",
            location,
            request_id,
            "credit held: it would leave a quantity that is not finite; retried on re-send"
        );
        return;
    }
    tracing::debug!(
        target: "actor_worker::stock_pot",
        command = kind(command),
        location,
        request_id,
        outcome = ?outcome,
        "stock pot handled command"
    );
}

/// A command left unapplied because its deadline had passed; logged inside its
/// [`command_span`].
pub(crate) fn log_expired(envelope: &CommandEnvelope) {
    tracing::debug!(
        target: "actor_worker::stock_pot",
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
