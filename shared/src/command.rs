//! The wire contract of commands: what the HTTP tier sends to the owner of a shard.

use serde::{Deserialize, Serialize};

use crate::domain::{Fingerprint, LocalDateTime};
use crate::reply::JsonObject;

/// A command with its routing and deadline, as appended to a shard's stream.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CommandEnvelope {
    /// Unique id of this command (also the move id of a cross-shard move).
    pub id: String,
    /// How long after its stream entry's time (store time) the command may still be applied;
    /// `None` for internal commands that must always be applied.
    pub timeout_ms: Option<u64>,
    /// Wall-clock time (ms since the Unix epoch) after which the command must never be applied,
    /// whenever it reached the stream: set by the sender from its own clock, so that a command
    /// whose append was delayed (a store frozen while the request was in flight) cannot outlive
    /// the sender's wait. `None`: bounded by `timeout_ms` alone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_after_ms: Option<u64>,
    /// W3C `traceparent` of the request that caused the command.
    pub traceparent: Option<String>,
    /// Where to send replies; `None` when nobody waits.
    pub reply_to: Option<String>,
    pub command: Command,
}

/// Everything a shard owner can be asked to do.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Command {
    RecordSale(RecordSale),
    RecordDelivery(RecordDelivery),
    RecordCount(RecordCount),
    MoveStock(MoveStock),
    /// Internal: credit the destination of a cross-shard move (sent by the source's owner).
    CreditMove(CreditMove),
    /// Internal: the destination applied a credit (sent back to the source's owner).
    AcknowledgeMove(AcknowledgeMove),
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordSale {
    pub location: String,
    pub product: String,
    pub request_id: String,
    pub quantity: f64,
    pub sold_at: LocalDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeliveryLine {
    pub product: String,
    pub quantity: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordDelivery {
    pub location: String,
    pub request_id: String,
    pub supplier_id: String,
    pub supplier_ref: String,
    pub delivered_at: LocalDateTime,
    pub lines: Vec<DeliveryLine>,
}

/// A count; the only reason is `AdminOverride`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecordCount {
    pub location: String,
    pub product: String,
    pub request_id: String,
    pub quantity: f64,
    pub counted_at: LocalDateTime,
}

/// A move; the only reason is `replenishment`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MoveStock {
    pub source: String,
    pub destination: String,
    pub product: String,
    pub request_id: String,
    pub quantity: f64,
    pub moved_at: LocalDateTime,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreditMove {
    pub move_id: String,
    pub source: String,
    pub destination: String,
    pub product: String,
    pub request_id: String,
    pub quantity: f64,
    pub moved_at: LocalDateTime,
    /// The 201 body to send to the client once the credit is applied.
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AcknowledgeMove {
    pub move_id: String,
    pub source: String,
    pub request_id: String,
}

impl CommandEnvelope {
    /// Store time (ms since the Unix epoch) after which the command must never be applied, given
    /// the store time at which it was appended (its stream id's `ms`): the earlier of the append
    /// time plus `timeout_ms` and `not_after_ms`.
    pub fn deadline_ms(&self, appended_ms: u64) -> u64 {
        let by_timeout = self
            .timeout_ms
            .map_or(u64::MAX, |t| appended_ms.saturating_add(t));
        by_timeout.min(self.not_after_ms.unwrap_or(u64::MAX))
    }
}

impl Command {
    /// The location whose shard executes the command.
    pub fn location(&self) -> &str {
        match self {
            Command::RecordSale(c) => &c.location,
            Command::RecordDelivery(c) => &c.location,
            Command::RecordCount(c) => &c.location,
            Command::MoveStock(c) => &c.source,
            Command::CreditMove(c) => &c.destination,
            Command::AcknowledgeMove(c) => &c.source,
        }
    }

    /// `(location, requestId)` of a client write: the idempotency key.
    pub fn idempotency_key(&self) -> Option<(&str, &str)> {
        match self {
            Command::RecordSale(c) => Some((&c.location, &c.request_id)),
            Command::RecordDelivery(c) => Some((&c.location, &c.request_id)),
            Command::RecordCount(c) => Some((&c.location, &c.request_id)),
            Command::MoveStock(c) => Some((&c.source, &c.request_id)),
            Command::CreditMove(_) | Command::AcknowledgeMove(_) => None,
        }
    }

    /// The content compared when a `requestId` is reused (docs/api.md §14.8).
    pub fn fingerprint(&self) -> Option<Fingerprint> {
        let q = |v: f64| format!("{:016x}", normalized(v).to_bits());
        let t = |v: &LocalDateTime| format!("{}.{}", v.epoch_seconds(), v.nanos());
        let parts: Vec<String> = match self {
            Command::RecordSale(c) => vec![
                "sale".into(),
                c.product.clone(),
                q(c.quantity),
                t(&c.sold_at),
            ],
            Command::RecordCount(c) => vec![
                "count".into(),
                c.product.clone(),
                q(c.quantity),
                "AdminOverride".into(),
                t(&c.counted_at),
            ],
            Command::RecordDelivery(c) => {
                let mut p = vec![
                    "delivery".into(),
                    c.supplier_id.clone(),
                    c.supplier_ref.clone(),
                    t(&c.delivered_at),
                ];
                for line in &c.lines {
                    p.push(line.product.clone());
                    p.push(q(line.quantity));
                }
                p
            }
            Command::MoveStock(c) => vec![
                "move".into(),
                c.product.clone(),
                c.destination.clone(),
                q(c.quantity),
                "replenishment".into(),
                t(&c.moved_at),
            ],
            Command::CreditMove(_) | Command::AcknowledgeMove(_) => return None,
        };
        let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
        Some(Fingerprint::of(&refs))
    }

    /// The success body of a client write (docs/api.md §5–§8), exactly as sent on 201.
    pub fn echo_body(&self) -> Option<String> {
        let mut o = JsonObject::new();
        match self {
            Command::RecordSale(c) => {
                o.string("requestId", &c.request_id)
                    .string("locationId", &c.location)
                    .string("productId", &c.product)
                    .quantity("quantitySold", c.quantity)
                    .time("soldAt", &c.sold_at);
            }
            Command::RecordDelivery(c) => {
                let lines: Vec<String> = c
                    .lines
                    .iter()
                    .map(|l| {
                        JsonObject::new()
                            .string("productId", &l.product)
                            .quantity("quantity", l.quantity)
                            .finish()
                    })
                    .collect();
                o.string("requestId", &c.request_id)
                    .string("locationId", &c.location)
                    .string("supplierId", &c.supplier_id)
                    .string("supplierRef", &c.supplier_ref)
                    .time("deliveredAt", &c.delivered_at)
                    .raw("products", &format!("[{}]", lines.join(",")));
            }
            Command::RecordCount(c) => {
                o.string("requestId", &c.request_id)
                    .string("location", &c.location)
                    .string("productId", &c.product)
                    .quantity("quantity", c.quantity)
                    .string("reason", "AdminOverride")
                    .time("countedAt", &c.counted_at);
            }
            Command::MoveStock(c) => {
                o.string("requestId", &c.request_id)
                    .string("sourceLocationId", &c.source)
                    .string("destinationLocationId", &c.destination)
                    .string("productId", &c.product)
                    .quantity("quantity", c.quantity)
                    .string("reason", "replenishment")
                    .time("movedAt", &c.moved_at);
            }
            Command::CreditMove(_) | Command::AcknowledgeMove(_) => return None,
        }
        Some(o.finish())
    }
}

/// `-0.0` and `0.0` are the same quantity for idempotency purposes.
fn normalized(v: f64) -> f64 {
    if v == 0.0 { 0.0 } else { v }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envelope(timeout_ms: Option<u64>, not_after_ms: Option<u64>) -> CommandEnvelope {
        CommandEnvelope {
            id: "c".to_owned(),
            timeout_ms,
            not_after_ms,
            traceparent: None,
            reply_to: None,
            command: Command::AcknowledgeMove(AcknowledgeMove {
                move_id: "m".to_owned(),
                source: "S".to_owned(),
                request_id: "r".to_owned(),
            }),
        }
    }

    #[test]
    fn the_deadline_is_the_earlier_of_append_time_plus_timeout_and_the_wall_clock_bound() {
        assert_eq!(envelope(None, None).deadline_ms(1_000), u64::MAX);
        assert_eq!(envelope(Some(500), None).deadline_ms(1_000), 1_500);
        assert_eq!(envelope(Some(500), Some(2_000)).deadline_ms(1_000), 1_500);
        // Appended late (the store was frozen while the append was in flight): the sender's
        // bound wins, so the command cannot outlive the sender's wait.
        assert_eq!(envelope(Some(500), Some(2_000)).deadline_ms(1_800), 2_000);
        // Append outcome unknown: the bound alone.
        assert_eq!(
            envelope(Some(500), Some(2_000)).deadline_ms(u64::MAX),
            2_000
        );
    }
}
