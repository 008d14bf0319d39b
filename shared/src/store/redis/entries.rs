//! Decoding shard-stream entries from an `XREAD` answer, one by one: an entry that is not a
//! command (garbage, or a command of a newer version) is handed back as such, never failing the
//! others.

use redis::Value;

use crate::command::CommandEnvelope;
use crate::store::{DEAD_LETTER_MAX_FIELDS, StoreError, StreamEntry, StreamId, Undecodable};

/// The field of a stream entry that holds the JSON envelope.
pub(super) const COMMAND_FIELD: &str = "c";

/// Longest decoding error kept with an undecodable entry, in bytes.
const MAX_ERROR_LEN: usize = 256;

/// The entries of an `XREAD` answer for one stream (RESP2 array or RESP3 map; nil when none).
pub(super) fn stream_entries(reply: Value) -> Result<Vec<(StreamId, StreamEntry)>, StoreError> {
    let streams: Vec<Value> = match reply {
        Value::Nil => return Ok(Vec::new()),
        Value::Array(streams) => streams
            .into_iter()
            .filter_map(|stream| match stream {
                Value::Array(mut pair) if pair.len() == 2 => pair.pop(),
                _ => None,
            })
            .collect(),
        Value::Map(streams) => streams.into_iter().map(|(_, entries)| entries).collect(),
        other => return Err(bad_shape(&other)),
    };
    let mut decoded = Vec::new();
    for entries in streams {
        let Value::Array(entries) = entries else {
            return Err(bad_shape(&entries));
        };
        for entry in entries {
            decoded.push(stream_entry(entry)?);
        }
    }
    Ok(decoded)
}

/// One `[id, [field, value, …]]` entry. Only a malformed id is an error: it would leave no way
/// to step past the entry.
fn stream_entry(entry: Value) -> Result<(StreamId, StreamEntry), StoreError> {
    let Value::Array(parts) = entry else {
        return Err(bad_shape(&entry));
    };
    let mut parts = parts.into_iter();
    let (Some(id), fields) = (parts.next(), parts.next()) else {
        return Err(StoreError::Corrupt("stream entry without an id".into()));
    };
    let id = bytes(&id)
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(|| StoreError::Corrupt("stream entry id".into()))?
        .parse::<StreamId>()?;
    let fields: Vec<(Vec<u8>, Vec<u8>)> = match fields {
        Some(Value::Array(values)) => values
            .chunks(2)
            .map(|pair| {
                let name = pair.first().and_then(bytes).unwrap_or_default();
                let value = pair.get(1).and_then(bytes).unwrap_or_default();
                (name, value)
            })
            .collect(),
        Some(Value::Map(pairs)) => pairs
            .iter()
            .map(|(k, v)| (bytes(k).unwrap_or_default(), bytes(v).unwrap_or_default()))
            .collect(),
        _ => Vec::new(),
    };
    Ok((id, decode(fields)))
}

/// The command in the entry's fields, or why there is none.
fn decode(fields: Vec<(Vec<u8>, Vec<u8>)>) -> StreamEntry {
    let command = fields
        .iter()
        .find(|(name, _)| name == COMMAND_FIELD.as_bytes())
        .map(|(_, json)| serde_json::from_slice::<CommandEnvelope>(json));
    let error = match command {
        Some(Ok(command)) => return StreamEntry::Command(command),
        Some(Err(e)) => e.to_string(),
        None => format!("no field {COMMAND_FIELD:?}"),
    };
    let fields = fields
        .into_iter()
        .take(DEAD_LETTER_MAX_FIELDS)
        .map(|(name, value)| (String::from_utf8_lossy(&name).into_owned(), value))
        .collect();
    StreamEntry::Undecodable(Undecodable {
        error: bounded(error),
        fields,
    })
}

fn bytes(value: &Value) -> Option<Vec<u8>> {
    match value {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(n) => Some(n.to_string().into_bytes()),
        _ => None,
    }
}

/// `text` cut to at most [`MAX_ERROR_LEN`] bytes, on a character boundary.
fn bounded(mut text: String) -> String {
    if text.len() > MAX_ERROR_LEN {
        let mut end = MAX_ERROR_LEN;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

fn bad_shape(value: &Value) -> StoreError {
    let mut shape = format!("{value:?}");
    shape = bounded(shape);
    StoreError::Corrupt(format!("XREAD answer: {shape}"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn bulk(text: &[u8]) -> Value {
        Value::BulkString(text.to_vec())
    }

    /// An entry's fields as (name, value) pairs.
    type Fields<'a> = Vec<(&'a [u8], &'a [u8])>;

    fn reply(entries: Vec<(&str, Fields<'_>)>) -> Value {
        let entries = entries
            .into_iter()
            .map(|(id, fields)| {
                let fields = fields
                    .into_iter()
                    .flat_map(|(k, v)| [bulk(k), bulk(v)])
                    .collect();
                Value::Array(vec![bulk(id.as_bytes()), Value::Array(fields)])
            })
            .collect();
        Value::Array(vec![Value::Array(vec![
            bulk(b"stock:{s0}:cmd"),
            Value::Array(entries),
        ])])
    }

    #[test]
    fn a_bad_entry_is_handed_back_beside_the_good_ones() {
        let good = r#"{"id":"x","timeout_ms":null,"traceparent":null,"reply_to":null,"command":{"type":"AcknowledgeMove","move_id":"m","source":"S","request_id":"r"}}"#;
        let entries = stream_entries(reply(vec![
            ("1-0", vec![(b"c", b"{not json")]),
            ("2-0", vec![(b"c", good.as_bytes())]),
            ("3-0", vec![(b"\xff", b"\xfe")]),
        ]))
        .unwrap();
        assert_eq!(entries.len(), 3);
        assert!(matches!(entries[0].1, StreamEntry::Undecodable(_)));
        assert!(matches!(entries[1].1, StreamEntry::Command(_)));
        let StreamEntry::Undecodable(third) = &entries[2].1 else {
            panic!("a field other than c is not a command");
        };
        assert_eq!(
            third.fields,
            vec![("\u{fffd}".to_owned(), b"\xfe".to_vec())]
        );
        assert_eq!(entries[2].0, StreamId { ms: 3, seq: 0 });
    }

    #[test]
    fn a_command_of_an_unknown_kind_is_undecodable_and_unknown_fields_are_not() {
        let newer = r#"{"id":"x","timeout_ms":null,"traceparent":null,"reply_to":null,"command":{"type":"Teleport","to":"Mars"}}"#;
        let extra = r#"{"id":"x","timeout_ms":null,"traceparent":null,"reply_to":null,"priority":9,"command":{"type":"AcknowledgeMove","move_id":"m","source":"S","request_id":"r","why":"later"}}"#;
        let entries = stream_entries(reply(vec![
            ("1-0", vec![(b"c", newer.as_bytes())]),
            ("1-1", vec![(b"c", extra.as_bytes())]),
        ]))
        .unwrap();
        let StreamEntry::Undecodable(newer) = &entries[0].1 else {
            panic!("an unknown command kind does not decode");
        };
        assert!(newer.error.contains("Teleport"), "{}", newer.error);
        assert!(matches!(entries[1].1, StreamEntry::Command(_)));
    }

    #[test]
    fn an_empty_answer_has_no_entries_and_errors_are_bounded() {
        assert!(stream_entries(Value::Nil).unwrap().is_empty());
        assert_eq!(bounded("é".repeat(200)).len(), 256);
    }
}
