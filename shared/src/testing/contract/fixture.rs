//! Values the contract tests write: commands, pot changes, records and credits at pot (L, P).

use std::time::Duration;

use crate::command::{AcknowledgeMove, Command, CommandEnvelope, CreditMove};
use crate::domain::{
    Checkpoint, Event, EventKind, Fingerprint, LocalDateTime, PotChange, PotState,
};
use crate::reply::IdempotencyRecord;
use crate::store::{LeaseToken, PotRef, PotWrite, RecordWrite, Store};

/// A lease long enough never to expire during a test.
pub const TTL: Duration = Duration::from_secs(3);
/// A retention long enough never to expire during a test.
pub const DAY: Duration = Duration::from_secs(86_400);

/// A command with id `id` (its kind does not matter to the store).
pub fn envelope(id: &str) -> CommandEnvelope {
    CommandEnvelope {
        id: id.to_owned(),
        timeout_ms: None,
        not_after_ms: None,
        traceparent: None,
        reply_to: None,
        command: Command::AcknowledgeMove(AcknowledgeMove {
            move_id: id.to_owned(),
            source: "S".to_owned(),
            request_id: id.to_owned(),
        }),
    }
}

/// Pot (L, P), at shard 0 of a one-shard store.
pub fn pot() -> PotRef {
    pot_at("L", "P")
}

/// Pot (`location`, `product`).
pub fn pot_at(location: &str, product: &str) -> PotRef {
    PotRef {
        location: location.to_owned(),
        product: product.to_owned(),
    }
}

/// `secs` after the epoch.
///
/// # Panics
/// If `secs` is out of range.
pub fn at(secs: i64) -> LocalDateTime {
    LocalDateTime::from_epoch(secs, 0).unwrap()
}

/// A delivery of `n` at `position` to pot (L, P), with a checkpoint pushed if asked.
pub fn write(position: u64, n: f64, checkpoint: bool) -> PotWrite {
    write_to(&pot(), position, n, checkpoint)
}

/// A delivery of `n` at `position` to `pot`, with a checkpoint pushed if asked.
pub fn write_to(pot: &PotRef, position: u64, n: f64, checkpoint: bool) -> PotWrite {
    let state = PotState {
        quantity: n * position as f64,
        pending_adjustment: 0.0,
        last_updated: at(0),
    };
    PotWrite {
        location: pot.location.clone(),
        product: pot.product.clone(),
        change: PotChange {
            event: Event {
                kind: EventKind::Delivery,
                quantity: n,
                at: at(0),
                id: format!("r{position}"),
                position,
            },
            state,
            truncate_checkpoints_to: None,
            push_checkpoint: checkpoint.then_some(Checkpoint { position, state }),
        },
    }
}

/// The record of request r1 at location L.
pub fn record(body: &str) -> RecordWrite {
    record_at("L", "r1", body)
}

/// The record of `request_id` at `location`.
pub fn record_at(location: &str, request_id: &str, body: &str) -> RecordWrite {
    RecordWrite {
        location: location.to_owned(),
        request_id: request_id.to_owned(),
        record: IdempotencyRecord {
            fingerprint: Fingerprint([7; 32]),
            in_transit: false,
            body: body.to_owned(),
        },
    }
}

/// A credit of 1.5 P from S to D for move `move_id`.
pub fn credit(move_id: &str) -> CreditMove {
    CreditMove {
        move_id: move_id.to_owned(),
        source: "S".to_owned(),
        destination: "D".to_owned(),
        product: "P".to_owned(),
        request_id: "r1".to_owned(),
        quantity: 1.5,
        moved_at: at(0),
        body: "{}".to_owned(),
    }
}

/// The lease of shard 0 for worker w1, for [`TTL`].
///
/// # Panics
/// If the store fails or the lease is taken.
pub async fn leased(store: &dyn Store) -> LeaseToken {
    store.acquire(0, "w1", TTL).await.unwrap().unwrap()
}

/// The positions of `events`, in order.
pub fn positions(events: &[Event]) -> Vec<u64> {
    events.iter().map(|e| e.position).collect()
}
