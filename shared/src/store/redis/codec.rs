//! Value encodings of the Redis backend: pot hash fields, idempotency records, the commit batch.
//!
//! Numbers in pot hashes are written as Rust's shortest round-trip decimal (`f64` `Display`,
//! e.g. `5`, `0.1`, `-0`), which parses back to the same bits; `lastUpdated` is the canonical
//! ISO text of [`LocalDateTime`], which parses back to the same value. Events and checkpoints are
//! stored as their serde JSON. The commit batch handed to `commit.lua` has only string leaves, so
//! Lua's `cjson` (which rounds numbers to 14 digits) never re-encodes a number.

use serde::{Deserialize, Serialize};

use crate::command::CreditMove;
use crate::domain::{Checkpoint, Event, Fingerprint, LocalDateTime, PotState};
use crate::reply::IdempotencyRecord;
use crate::store::{ShardCommit, StoreError};

/// Fields of a pot hash that make up its [`PotState`], in the order `HMGET` asks for them.
pub(super) const STATE_FIELDS: [&str; 3] = ["quantity", "pendingAdjustment", "lastUpdated"];

/// A number as stored in a pot hash.
pub(super) fn number(value: f64) -> String {
    value.to_string()
}

fn parse_number(text: &str) -> Result<f64, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Corrupt(format!("pot number {text:?}")))
}

fn parse_time(text: &str) -> Result<LocalDateTime, StoreError> {
    LocalDateTime::parse(text).ok_or_else(|| StoreError::Corrupt(format!("pot time {text:?}")))
}

/// The state read back from the [`STATE_FIELDS`] of a pot hash; a missing hash is the initial
/// state.
pub(super) fn pot_state(fields: &[Option<String>]) -> Result<PotState, StoreError> {
    match fields {
        [None, None, None] => Ok(PotState::INITIAL),
        [Some(q), Some(p), Some(t)] => Ok(PotState {
            quantity: parse_number(q)?,
            pending_adjustment: parse_number(p)?,
            last_updated: parse_time(t)?,
        }),
        _ => Err(StoreError::Corrupt(format!("pot hash fields {fields:?}"))),
    }
}

/// An integer field of a pot hash (`version`, `checkpoints`); missing is 0.
pub(super) fn count(field: Option<&str>) -> Result<u64, StoreError> {
    field.map_or(Ok(0), |text| {
        text.parse()
            .map_err(|_| StoreError::Corrupt(format!("pot count {text:?}")))
    })
}

pub(super) fn event(json: &str) -> Result<Event, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("event: {e}")))
}

pub(super) fn checkpoint(json: &str) -> Result<Checkpoint, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("checkpoint: {e}")))
}

pub(super) fn credit(json: &str) -> Result<CreditMove, StoreError> {
    serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("outbox entry: {e}")))
}

/// The stored form of an [`IdempotencyRecord`].
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RecordJson {
    fingerprint: String,
    in_transit: bool,
    body: String,
}

pub(super) fn encode_record(record: &IdempotencyRecord) -> Result<String, StoreError> {
    to_json(&RecordJson {
        fingerprint: record.fingerprint.to_hex(),
        in_transit: record.in_transit,
        body: record.body.clone(),
    })
}

pub(super) fn decode_record(json: &str) -> Result<IdempotencyRecord, StoreError> {
    let stored: RecordJson =
        serde_json::from_str(json).map_err(|e| StoreError::Corrupt(format!("record: {e}")))?;
    let fingerprint = Fingerprint::from_hex(&stored.fingerprint)
        .ok_or_else(|| StoreError::Corrupt(format!("fingerprint {:?}", stored.fingerprint)))?;
    Ok(IdempotencyRecord {
        fingerprint,
        in_transit: stored.in_transit,
        body: stored.body,
    })
}

/// One pot write of the batch (see `lua/commit.lua`).
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PotJson {
    position: String,
    event: String,
    quantity: String,
    pending_adjustment: String,
    last_updated: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    truncate: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    checkpoint: Option<String>,
}

/// The batch argument of `lua/commit.lua`.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct BatchJson<'a> {
    pots: Vec<PotJson>,
    records: Vec<String>,
    outbox_put: Vec<(&'a str, String)>,
    outbox_remove: &'a [String],
}

/// The JSON batch of a commit, in the order of its keys (pots, then records).
pub(super) fn encode_batch(commit: &ShardCommit) -> Result<String, StoreError> {
    let mut pots = Vec::with_capacity(commit.pots.len());
    for write in &commit.pots {
        let change = &write.change;
        pots.push(PotJson {
            position: change.event.position.to_string(),
            event: to_json(&change.event)?,
            quantity: number(change.state.quantity),
            pending_adjustment: number(change.state.pending_adjustment),
            last_updated: change.state.last_updated.to_string(),
            truncate: change.truncate_checkpoints_to.map(|n| n.to_string()),
            checkpoint: change.push_checkpoint.as_ref().map(to_json).transpose()?,
        });
    }
    let records = commit
        .records
        .iter()
        .map(|w| encode_record(&w.record))
        .collect::<Result<_, _>>()?;
    let outbox_put = commit
        .outbox_put
        .iter()
        .map(|c| Ok((c.move_id.as_str(), to_json(c)?)))
        .collect::<Result<_, StoreError>>()?;
    to_json(&BatchJson {
        pots,
        records,
        outbox_put,
        outbox_remove: &commit.outbox_remove,
    })
}

fn to_json<T: Serialize>(value: &T) -> Result<String, StoreError> {
    serde_json::to_string(value).map_err(|e| StoreError::Corrupt(format!("encoding: {e}")))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_back_bit_exact() {
        for value in [0.0, -0.0, 0.1, 1.0 / 3.0, -2.5e-12, 1e300, f64::MAX, 5.0] {
            let back = parse_number(&number(value)).unwrap();
            assert_eq!(back.to_bits(), value.to_bits(), "{value}");
        }
        assert_eq!(number(5.0), "5");
    }

    #[test]
    fn pot_states_read_back_exactly_and_a_missing_hash_is_initial() {
        let state = PotState {
            quantity: 0.1 + 0.2,
            pending_adjustment: -7.25,
            last_updated: LocalDateTime::parse("2024-12-07T10:00:00.000000001").unwrap(),
        };
        let fields = [
            Some(number(state.quantity)),
            Some(number(state.pending_adjustment)),
            Some(state.last_updated.to_string()),
        ];
        assert_eq!(pot_state(&fields).unwrap(), state);
        assert_eq!(pot_state(&[None, None, None]).unwrap(), PotState::INITIAL);
        for edge in [LocalDateTime::MIN, LocalDateTime::MAX] {
            assert_eq!(parse_time(&edge.to_string()).unwrap(), edge);
        }
        assert!(pot_state(&[Some("1".into()), None, None]).is_err());
        assert!(pot_state(&[Some("x".into()), Some("0".into()), Some("y".into())]).is_err());
    }

    #[test]
    fn records_round_trip_and_bad_fingerprints_are_corrupt() {
        let record = IdempotencyRecord {
            fingerprint: Fingerprint([9; 32]),
            in_transit: true,
            body: "{\"a\":1.0}".to_owned(),
        };
        let json = encode_record(&record).unwrap();
        assert!(json.contains("\"inTransit\":true"));
        assert_eq!(decode_record(&json).unwrap(), record);
        let bad = json.replace(&"09".repeat(32), "zz");
        assert!(matches!(decode_record(&bad), Err(StoreError::Corrupt(_))));
    }

    #[test]
    fn an_empty_batch_has_every_list_and_no_number() {
        let json = encode_batch(&ShardCommit::new(0, crate::store::StreamId::ZERO)).unwrap();
        assert_eq!(
            json,
            r#"{"pots":[],"records":[],"outboxPut":[],"outboxRemove":[]}"#
        );
    }
}
