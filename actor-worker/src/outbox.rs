//! Cross-shard credits sent by this shard as a move's source and not yet acknowledged: sent
//! after the source commit, re-sent on takeover and when an acknowledgement is overdue.

use std::collections::BTreeMap;
use std::time::Duration;

use shared::command::{Command, CommandEnvelope, CreditMove};
use tokio::time::Instant;

use crate::core::credit_envelope;

/// The unacknowledged credits of one shard and when each was last sent.
#[derive(Default)]
pub(crate) struct OutboxTracker {
    entries: BTreeMap<String, (CommandEnvelope, Instant)>,
}

impl OutboxTracker {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Notes that a credit envelope was sent (or attempted) at `at`.
    pub(crate) fn sent(&mut self, envelope: CommandEnvelope, at: Instant) {
        if let Command::CreditMove(credit) = &envelope.command {
            self.entries.insert(credit.move_id.clone(), (envelope, at));
        }
    }

    /// A credit found in the store's outbox on takeover: nobody waits for its reply any more.
    pub(crate) fn adopt(&mut self, credit: CreditMove, at: Instant) -> CommandEnvelope {
        let envelope = credit_envelope(credit, None, None);
        self.sent(envelope.clone(), at);
        envelope
    }

    pub(crate) fn acknowledged(&mut self, move_id: &str) {
        self.entries.remove(move_id);
    }

    /// Credits sent at least `after` ago, marked as sent again now.
    pub(crate) fn overdue(&mut self, after: Duration, now: Instant) -> Vec<CommandEnvelope> {
        let mut due = Vec::new();
        for (envelope, sent_at) in self.entries.values_mut() {
            if now.saturating_duration_since(*sent_at) >= after {
                *sent_at = now;
                due.push(envelope.clone());
            }
        }
        due
    }
}
