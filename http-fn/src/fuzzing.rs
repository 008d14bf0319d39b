//! Fuzzing entry points over the request parsers, each checking its properties by panicking.
//! Not used by the service: the fuzz targets in `fuzz/` and the replay of their seeds call them.

use serde_json::{Value, json};
use shared::encoding::{key_component, path_segment};

use crate::body::{parse_count, parse_delivery, parse_move, parse_sale};
use crate::error::ApiError;
use crate::routes::decode_path_param;

const SALE: &[&str] = &["requestId", "quantity", "soldAt"];
const DELIVERY: &[&str] = &[
    "requestId",
    "supplierId",
    "supplierRef",
    "deliveredAt",
    "products",
];
const LINE: &[&str] = &["productId", "quantity"];
const MOVE: &[&str] = &[
    "requestId",
    "destinationLocationId",
    "quantity",
    "reason",
    "movedAt",
];
const COUNT: &[&str] = &["requestId", "reason", "quantity", "countedAt"];

/// Runs the four POST body parsers over `data`. No input may panic; every refusal is one of the
/// 400 bodies and names only fields of the body's table, in table order; whatever parses is
/// written back as a canonical body that parses to the same value.
pub fn bodies(data: &[u8]) {
    match parse_sale(data) {
        Ok(sale) => {
            let again = parse_sale(&to_bytes(&json!({
                "requestId": sale.request_id,
                "quantity": sale.quantity,
                "soldAt": sale.sold_at.to_string(),
            })));
            assert_eq!(again.as_ref(), Ok(&sale));
        }
        Err(error) => check_refusal(&error, &[SALE]),
    }
    match parse_delivery(data) {
        Ok(delivery) => {
            let products: Vec<Value> = delivery
                .products
                .iter()
                .map(|line| json!({"productId": line.product_id, "quantity": line.quantity}))
                .collect();
            let again = parse_delivery(&to_bytes(&json!({
                "requestId": delivery.request_id,
                "supplierId": delivery.supplier_id,
                "supplierRef": delivery.supplier_ref,
                "deliveredAt": delivery.delivered_at.to_string(),
                "products": products,
            })));
            assert_eq!(again.as_ref(), Ok(&delivery));
        }
        Err(error) => check_refusal(&error, &[DELIVERY, LINE]),
    }
    match parse_move(data) {
        Ok(movement) => {
            let again = parse_move(&to_bytes(&json!({
                "requestId": movement.request_id,
                "destinationLocationId": movement.destination_location_id,
                "quantity": movement.quantity,
                "reason": "replenishment",
                "movedAt": movement.moved_at.to_string(),
            })));
            assert_eq!(again.as_ref(), Ok(&movement));
        }
        Err(error) => check_refusal(&error, &[MOVE]),
    }
    match parse_count(data) {
        Ok(count) => {
            let again = parse_count(&to_bytes(&json!({
                "requestId": count.request_id,
                "reason": "AdminOverride",
                "quantity": count.quantity,
                "countedAt": count.counted_at.to_string(),
            })));
            assert_eq!(again.as_ref(), Ok(&count));
        }
        Err(error) => check_refusal(&error, &[COUNT]),
    }
}

fn to_bytes(value: &Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

/// A refusal is a 400 whose field names come from one of the body's objects, in its order.
fn check_refusal(error: &ApiError, objects: &[&[&str]]) {
    match error {
        ApiError::BadRequest => {}
        ApiError::MissingFields(names) => {
            assert!(!names.is_empty(), "an empty list of missing fields");
            let in_order = |table: &&[&str]| {
                let mut rest = table.iter();
                names.iter().all(|name| rest.any(|field| field == name))
            };
            assert!(objects.iter().any(in_order), "missing fields {names:?}");
        }
        ApiError::InvalidValues(name) => {
            let date_time = name.ends_with("At");
            let known = objects.iter().any(|table| table.contains(name));
            assert!(date_time && known, "invalid value named {name:?}");
        }
        other => panic!("a body answered {other:?}"),
    }
}

/// Decodes `data` as a raw path parameter. No input may panic, and decoding happens once: the
/// decoded id, encoded as a path segment, decodes back to itself (so does the raw text taken as
/// an id), an id without escapes is itself, and its store key component decodes back to it.
pub fn path_param(data: &[u8]) {
    let Ok(raw) = std::str::from_utf8(data) else {
        return;
    };
    let Some(id) = decode_path_param(raw) else {
        // Only an escape can produce bytes that are not UTF-8.
        assert!(raw.contains('%'), "raw {raw:?}");
        return;
    };
    let segment = path_segment(&id);
    assert!(!segment.contains(['/', '?', '#']), "segment {segment:?}");
    assert_eq!(
        decode_path_param(&segment).as_deref(),
        Some(id.as_str()),
        "raw {raw:?}"
    );
    assert_eq!(decode_path_param(&path_segment(raw)).as_deref(), Some(raw));
    if !raw.contains('%') {
        assert_eq!(id, raw);
    }
    let key = key_component(&id);
    assert!(!key.contains(['{', '}', ':']), "key component {key:?}");
    assert_eq!(
        percent_encoding::percent_decode_str(&key).decode_utf8_lossy(),
        id
    );
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    use shared::fuzzing::replay_seeds;

    #[test]
    fn every_seed_of_the_bodies_target_holds_its_properties() {
        let replayed = replay_seeds("bodies", bodies);
        assert!(replayed.is_ok(), "{replayed:?}");
    }

    #[test]
    fn every_seed_of_the_path_param_target_holds_its_properties() {
        let replayed = replay_seeds("path_param", path_param);
        assert!(replayed.is_ok(), "{replayed:?}");
    }

    #[test]
    fn an_escaped_percent_sign_is_decoded_once() {
        assert_eq!(decode_path_param("%2541").as_deref(), Some("%41"));
        path_param(b"%2541");
    }
}
