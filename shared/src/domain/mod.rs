//! The pure domain core: time, quantities, events and stock pots. No I/O, no clock.

pub mod event;
pub mod fingerprint;
pub mod pot;
pub mod quantity;
pub mod time;

pub use event::{Event, EventKind};
pub use fingerprint::Fingerprint;
pub use pot::{
    Checkpoint, HistoryRequest, NonFinite, Pot, PotChange, PotHistory, PotState, StoredPot, fold,
};
pub use quantity::{Quantity, Total};
pub use time::LocalDateTime;
