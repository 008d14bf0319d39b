//! Fuzzing entry point over the decoders of what the Redis backend reads back: stream entries
//! and the stored values of `codec`. Not used by the service; `fuzz/` and its seed replay call it.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{codec, entries};
use crate::domain::PotState;
use crate::store::{StreamEntry, StreamId};

/// Decodes `data` as something read back from Redis, chosen by its first byte: an `XREAD`
/// reply in RESP, the fields of a pot hash, a stored count, event, checkpoint, outbox entry,
/// idempotency record or stream id. No input may panic, and whatever decodes must encode and
/// decode again to the same value.
pub fn stored_value(data: &[u8]) {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    match selector % 8 {
        0 => stream_reply(rest),
        1 => pot_hash(&text),
        2 => {
            if let Ok(count) = codec::count(Some(&text)) {
                assert_eq!(codec::count(Some(&count.to_string())).ok(), Some(count));
            }
        }
        3 => json_round_trip(&text, codec::event),
        4 => json_round_trip(&text, codec::checkpoint),
        5 => json_round_trip(&text, codec::credit),
        6 => {
            if let Ok(record) = codec::decode_record(&text) {
                let encoded = codec::encode_record(&record);
                let again = encoded.and_then(|json| codec::decode_record(&json));
                assert_eq!(again.ok(), Some(record), "record {text:?}");
            }
        }
        _ => stream_id(&text),
    }
}

/// RESP bytes parsed the way an `XREAD` answer is, then decoded into commands or entries set
/// aside as undecodable.
fn stream_reply(bytes: &[u8]) {
    let Ok(value) = redis::parse_redis_value(bytes) else {
        return;
    };
    let Ok(entries) = entries::stream_entries(value) else {
        return;
    };
    for (id, entry) in entries {
        assert_eq!(id.to_string().parse::<StreamId>().ok(), Some(id));
        let StreamEntry::Command(command) = entry else {
            continue;
        };
        let json = serde_json::to_string(&command).ok();
        let again = json.and_then(|json| serde_json::from_str(&json).ok());
        assert_eq!(again, Some(command), "stream entry {id}");
    }
}

/// Up to three lines, the fields of `HMGET quantity pendingAdjustment lastUpdated`; a line
/// starting with `!` is a missing field.
fn pot_hash(text: &str) {
    let fields: Vec<Option<String>> = text
        .splitn(3, '\n')
        .map(|line| (!line.starts_with('!')).then(|| line.to_owned()))
        .collect();
    let Ok(state) = codec::pot_state(&fields) else {
        return;
    };
    let encoded = [
        Some(codec::number(state.quantity)),
        Some(codec::number(state.pending_adjustment)),
        Some(state.last_updated.to_string()),
    ];
    let again = codec::pot_state(&encoded);
    assert!(
        again.as_ref().is_ok_and(|again| same_state(again, &state)),
        "pot hash {fields:?} reads as {state:?}, which reads back as {again:?}"
    );
}

/// Equal, with numbers compared bit for bit except that every NaN is the same value: the
/// stored text of a NaN does not keep its sign or payload.
fn same_state(a: &PotState, b: &PotState) -> bool {
    let same = |x: f64, y: f64| x.to_bits() == y.to_bits() || (x.is_nan() && y.is_nan());
    same(a.quantity, b.quantity)
        && same(a.pending_adjustment, b.pending_adjustment)
        && a.last_updated == b.last_updated
}

fn json_round_trip<T, E>(text: &str, decode: fn(&str) -> Result<T, E>)
where
    T: Serialize + DeserializeOwned + PartialEq + std::fmt::Debug,
{
    if let Ok(value) = decode(text) {
        let json = serde_json::to_string(&value).ok();
        let again = json.and_then(|json| decode(&json).ok());
        assert_eq!(again, Some(value), "stored JSON {text:?}");
    }
}

fn stream_id(text: &str) {
    if let Ok(id) = text.parse::<StreamId>() {
        assert_eq!(
            id.to_string().parse::<StreamId>().ok(),
            Some(id),
            "{text:?}"
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_committed_xread_seed_decodes_to_one_command() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../fuzz/seeds/stored_value/xread_reply.resp"
        );
        let data = std::fs::read(path).unwrap();
        let value = redis::parse_redis_value(&data[1..]).unwrap();
        let entries = entries::stream_entries(value).unwrap();
        assert_eq!(entries.len(), 1);
        let StreamEntry::Command(command) = &entries[0].1 else {
            panic!("the seed's entry is not a command: {:?}", entries[0].1);
        };
        assert_eq!(command.id, "c1");
    }

    #[test]
    fn a_stream_entry_without_its_command_field_is_set_aside_not_a_panic() {
        let reply = b"*1\r\n*2\r\n$1\r\nk\r\n*1\r\n*2\r\n$3\r\n1-0\r\n*2\r\n$1\r\nx\r\n$1\r\ny\r\n";
        let value = redis::parse_redis_value(reply).unwrap();
        let entries = entries::stream_entries(value).unwrap();
        assert!(matches!(entries[..], [(_, StreamEntry::Undecodable(_))]));
    }
}
