//! Stock pot events: immutable facts with a business timestamp and a storage position.

use serde::{Deserialize, Serialize};

use super::time::LocalDateTime;

/// The five kinds of event (docs/api.md §14.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventKind {
    /// `q ← q + n`
    Delivery,
    /// `r ← q − n`; shortfall goes to pendingAdjustment
    Sale,
    /// `q ← q − n` on the source
    MoveOut,
    /// `q ← q + n` on the destination
    MoveIn,
    /// `q ← n`, pendingAdjustment unchanged
    Count,
}

/// One stored event of one pot.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Event {
    /// What happened.
    pub kind: EventKind,
    /// The request's quantity `n` (docs/api.md §14.2).
    pub quantity: f64,
    /// Business timestamp (offset discarded).
    pub at: LocalDateTime,
    /// The request id, or a derived id (`"{requestId}-{index}"` for delivery lines).
    pub id: String,
    /// Storage position within the pot, starting at 1.
    pub position: u64,
}
