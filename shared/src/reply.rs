//! The wire contract of replies, idempotency records, and the JSON rendering of response bodies.

use serde::{Deserialize, Serialize};

use crate::domain::quantity::format_quantity;
use crate::domain::{Fingerprint, LocalDateTime};

/// What a shard owner answers to a client write.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum Reply {
    /// 201 with this body: committed (or an identical replay).
    Created { body: String },
    /// 202 with this body: a cross-shard move whose source side is committed; the credit follows.
    /// Provisional: a `Created` for the same request may still arrive.
    InTransit { body: String },
    /// 202 with this body, final: a replay of a move whose credit is still in transit.
    Accepted { body: String },
    /// 409 `IdempotencyContentMismatch`.
    ContentMismatch,
    /// 400 `InsufficientStock`.
    InsufficientStock,
    /// 400 `BadRequest`: the write would leave a quantity that is not a finite double; nothing
    /// was recorded.
    NonFinite,
}

/// The stored outcome of a client write, kept for the retention period.
#[derive(Clone, Debug, PartialEq)]
pub struct IdempotencyRecord {
    pub fingerprint: Fingerprint,
    /// `true` while a cross-shard move's credit is in transit (answers 202), else 201.
    pub in_transit: bool,
    /// The original success body, byte for byte.
    pub body: String,
}

impl IdempotencyRecord {
    /// The reply a replay of the same content gets.
    pub fn replay(&self) -> Reply {
        if self.in_transit {
            Reply::Accepted {
                body: self.body.clone(),
            }
        } else {
            Reply::Created {
                body: self.body.clone(),
            }
        }
    }
}

/// A JSON object written key by key, in order, with quantities always carrying a fraction.
#[derive(Debug, Default)]
pub struct JsonObject {
    out: String,
}

impl JsonObject {
    pub fn new() -> JsonObject {
        JsonObject {
            out: String::from("{"),
        }
    }

    /// Adds `"key": <raw JSON>`.
    pub fn raw(&mut self, key: &str, json: &str) -> &mut JsonObject {
        if self.out.len() > 1 {
            self.out.push(',');
        }
        self.out.push_str(&json_string(key));
        self.out.push(':');
        self.out.push_str(json);
        self
    }

    pub fn string(&mut self, key: &str, value: &str) -> &mut JsonObject {
        self.raw(key, &json_string(value))
    }

    pub fn quantity(&mut self, key: &str, value: f64) -> &mut JsonObject {
        self.raw(key, &format_quantity(value))
    }

    pub fn time(&mut self, key: &str, value: &LocalDateTime) -> &mut JsonObject {
        self.raw(key, &json_string(&value.to_string()))
    }

    /// The finished object text.
    pub fn finish(&mut self) -> String {
        let mut out = std::mem::take(&mut self.out);
        if out.is_empty() {
            out.push('{');
        }
        out.push('}');
        out
    }
}

/// A JSON string literal.
pub fn json_string(s: &str) -> String {
    serde_json::Value::String(s.to_owned()).to_string()
}
