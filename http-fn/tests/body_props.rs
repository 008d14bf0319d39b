//! Properties of the POST body parsers: no input makes them panic, and valid bodies read back.
#![allow(clippy::unwrap_used)]

use http_fn::body::{parse_count, parse_delivery, parse_move, parse_sale};
use http_fn::error::ApiError;
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Runs all four parsers; a panic fails the property, and any error must be a 400 shape.
fn parse_all(bytes: &[u8]) {
    let results = [
        parse_sale(bytes).err(),
        parse_delivery(bytes).err(),
        parse_move(bytes).err(),
        parse_count(bytes).err(),
    ];
    for error in results.into_iter().flatten() {
        assert!(
            matches!(
                error,
                ApiError::BadRequest | ApiError::MissingFields(_) | ApiError::InvalidValues(_)
            ),
            "unexpected error {error:?}"
        );
    }
}

/// Keys the parsers know, plus a few they do not.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "requestId",
            "quantity",
            "soldAt",
            "supplierId",
            "supplierRef",
            "deliveredAt",
            "products",
            "productId",
            "destinationLocationId",
            "reason",
            "movedAt",
            "countedAt",
            "RequestId",
            "",
        ])
        .prop_map(str::to_owned),
        "[a-zA-Z]{0,8}",
    ]
}

/// Strings that come close to every accepted form: numbers, date-times, enum values.
fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "replenishment",
            "REPLENISHMENT",
            "AdminOverride",
            "adminoverride",
            "NaN",
            "inf",
            "-infinity",
            "1e999",
            " 5",
            "5",
            "2024-12-07T12:00:00Z",
            "2024-02-30T10:00",
            "2024-12-13T12:00:00+01:00[Europe/London]",
            "+12024-01-01T00:00",
            "-999999999-01-01T00:00:00",
            "+999999999-12-31T23:59:59.999999999",
        ])
        .prop_map(str::to_owned),
        "[-+0-9.eE]{0,12}",
        "[-+0-9:.TtZz\\[\\]/A-Za-z]{0,40}",
        any::<String>(),
    ]
}

/// JSON documents biased towards the shapes the parsers expect.
fn document() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

/// Finite quantities as a client would send them: numbers or strings holding numbers.
fn finite() -> impl Strategy<Value = f64> {
    prop_oneof![
        any::<i32>().prop_map(f64::from),
        -1e12f64..1e12f64,
        any::<f64>()
    ]
    .prop_filter("finite", |f| f.is_finite())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        parse_all(&bytes);
    }

    #[test]
    fn arbitrary_json_documents_never_panic(doc in document()) {
        parse_all(doc.to_string().as_bytes());
    }

    #[test]
    fn truncated_or_spliced_documents_never_panic(
        doc in document(),
        cut in any::<prop::sample::Index>(),
        noise in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let mut bytes = doc.to_string().into_bytes();
        let at = cut.index(bytes.len() + 1);
        bytes.truncate(at);
        bytes.extend_from_slice(&noise);
        parse_all(&bytes);
    }

    #[test]
    fn deeply_nested_values_never_panic(depth in 0usize..2000, open in prop::sample::select(vec!['[', '{'])) {
        let close = if open == '[' { ']' } else { '}' };
        let nested = format!("{}{}", open.to_string().repeat(depth), close.to_string().repeat(depth));
        parse_all(format!(r#"{{"products":{nested}}}"#).as_bytes());
        parse_all(format!(r#"{{"quantity":{nested}}}"#).as_bytes());
        parse_all(nested.as_bytes());
    }

    #[test]
    fn a_sale_reads_back_any_finite_quantity_as_number_or_string(q in finite(), as_text in any::<bool>()) {
        let quantity = if as_text { Value::String(q.to_string()) } else { json!(q) };
        let body = json!({"requestId": "r", "quantity": quantity, "soldAt": "2024-12-07T12:00:00"});
        let sale = parse_sale(body.to_string().as_bytes()).unwrap();
        prop_assert_eq!(sale.quantity, q);
    }

    #[test]
    fn a_delivery_keeps_every_line_in_order(
        lines in prop::collection::vec(("[a-zA-Z0-9 %-]{1,12}", finite()), 0..20)
    ) {
        let products: Vec<Value> =
            lines.iter().map(|(id, q)| json!({"quantity": q, "productId": id})).collect();
        let body = json!({
            "products": products, "deliveredAt": "2024-12-26T15:35:00", "supplierRef": "po",
            "supplierId": "s", "requestId": "d",
        });
        let delivery = parse_delivery(body.to_string().as_bytes()).unwrap();
        let read: Vec<(String, f64)> =
            delivery.products.into_iter().map(|l| (l.product_id, l.quantity)).collect();
        prop_assert_eq!(read, lines);
    }
}
