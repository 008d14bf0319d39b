//! Parsing of the four POST bodies, with the validation precedence of docs/api.md §3.3.
//!
//! Bodies are read as a stream, in document order, so that the first invalid date-time, unknown
//! key, `null`, wrong type or bad enum value answers as soon as it is met, exactly as the spec
//! orders it; missing fields are reported once their object has been read. For a delivery's
//! `products[]`, each element is its own object: its missing fields are reported at the end of
//! that element, before anything that follows it in the document.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use shared::domain::LocalDateTime;

use crate::error::ApiError;

/// Accepts `application/json` in any letter case, with or without parameters; anything else,
/// or no `Content-Type` at all, is 415.
pub fn check_content_type(headers: &http::HeaderMap) -> Result<(), ApiError> {
    let value = headers
        .get(http::header::CONTENT_TYPE)
        .ok_or(ApiError::UnsupportedMediaType)?;
    let essence = value
        .as_bytes()
        .split(|b| *b == b';')
        .next()
        .unwrap_or_default();
    if essence
        .trim_ascii()
        .eq_ignore_ascii_case(b"application/json")
    {
        Ok(())
    } else {
        Err(ApiError::UnsupportedMediaType)
    }
}

/// The body of POST `…/sales` (docs/api.md §5).
#[derive(Debug, Clone, PartialEq)]
pub struct SaleBody {
    /// Idempotency key.
    pub request_id: String,
    /// Any finite value.
    pub quantity: f64,
    /// Business time of the sale, offset discarded.
    pub sold_at: LocalDateTime,
}

/// One `products[]` element of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryLineBody {
    /// Opaque product id.
    pub product_id: String,
    /// Any finite value here; the endpoint requires it to be positive.
    pub quantity: f64,
}

/// The body of POST `…/deliveries` (docs/api.md §6).
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryBody {
    /// Idempotency key of the whole delivery.
    pub request_id: String,
    /// Not validated against anything.
    pub supplier_id: String,
    /// The supplier's reference.
    pub supplier_ref: String,
    /// Business time of the delivery, offset discarded.
    pub delivered_at: LocalDateTime,
    /// The lines, in document order; may be empty.
    pub products: Vec<DeliveryLineBody>,
}

/// The body of POST `…/movements` (docs/api.md §7); its `reason` can only be `replenishment`.
#[derive(Debug, Clone, PartialEq)]
pub struct MoveBody {
    /// Idempotency key, scoped on the source.
    pub request_id: String,
    /// Where the stock goes.
    pub destination_location_id: String,
    /// Any finite value.
    pub quantity: f64,
    /// Business time of the move, offset discarded.
    pub moved_at: LocalDateTime,
}

/// The body of POST `…/counts` (docs/api.md §8); its `reason` can only be `AdminOverride`.
#[derive(Debug, Clone, PartialEq)]
pub struct CountBody {
    /// Idempotency key.
    pub request_id: String,
    /// The absolute counted quantity, any finite value.
    pub quantity: f64,
    /// Business time of the count, offset discarded.
    pub counted_at: LocalDateTime,
}

/// Parses a sale body (fields `requestId`, `quantity`, `soldAt`).
pub fn parse_sale(bytes: &[u8]) -> Result<SaleBody, ApiError> {
    let mut fields = read_document(bytes, SALE)?;
    Ok(SaleBody {
        request_id: fields.text("requestId")?,
        quantity: fields.number("quantity")?,
        sold_at: fields.time("soldAt")?,
    })
}

/// Parses a delivery body (fields `requestId`, `supplierId`, `supplierRef`, `deliveredAt`,
/// `products`).
pub fn parse_delivery(bytes: &[u8]) -> Result<DeliveryBody, ApiError> {
    let mut fields = read_document(bytes, DELIVERY)?;
    Ok(DeliveryBody {
        request_id: fields.text("requestId")?,
        supplier_id: fields.text("supplierId")?,
        supplier_ref: fields.text("supplierRef")?,
        delivered_at: fields.time("deliveredAt")?,
        products: fields.lines("products")?,
    })
}

/// Parses a move body (fields `requestId`, `destinationLocationId`, `quantity`, `reason`,
/// `movedAt`).
pub fn parse_move(bytes: &[u8]) -> Result<MoveBody, ApiError> {
    let mut fields = read_document(bytes, MOVE)?;
    Ok(MoveBody {
        request_id: fields.text("requestId")?,
        destination_location_id: fields.text("destinationLocationId")?,
        quantity: fields.number("quantity")?,
        moved_at: fields.time("movedAt")?,
    })
}

/// Parses a count body (fields `requestId`, `reason`, `quantity`, `countedAt`).
pub fn parse_count(bytes: &[u8]) -> Result<CountBody, ApiError> {
    let mut fields = read_document(bytes, COUNT)?;
    Ok(CountBody {
        request_id: fields.text("requestId")?,
        quantity: fields.number("quantity")?,
        counted_at: fields.time("countedAt")?,
    })
}

/// What a field holds on the wire.
#[derive(Clone, Copy)]
enum Kind {
    /// A JSON string.
    Text,
    /// A JSON number, or a JSON string holding one; finite.
    Quantity,
    /// A JSON string in a date-time form of docs/api.md §3.4.
    DateTime,
    /// A JSON string equal to this one, ignoring ASCII case.
    Reason(&'static str),
    /// An array of delivery line objects.
    Lines,
}

/// A field of an object, in the endpoint's table order.
#[derive(Clone, Copy)]
struct Field {
    name: &'static str,
    kind: Kind,
}

const fn field(name: &'static str, kind: Kind) -> Field {
    Field { name, kind }
}

const SALE: &[Field] = &[
    field("requestId", Kind::Text),
    field("quantity", Kind::Quantity),
    field("soldAt", Kind::DateTime),
];
const DELIVERY: &[Field] = &[
    field("requestId", Kind::Text),
    field("supplierId", Kind::Text),
    field("supplierRef", Kind::Text),
    field("deliveredAt", Kind::DateTime),
    field("products", Kind::Lines),
];
const LINE: &[Field] = &[
    field("productId", Kind::Text),
    field("quantity", Kind::Quantity),
];
const MOVE: &[Field] = &[
    field("requestId", Kind::Text),
    field("destinationLocationId", Kind::Text),
    field("quantity", Kind::Quantity),
    field("reason", Kind::Reason("replenishment")),
    field("movedAt", Kind::DateTime),
];
const COUNT: &[Field] = &[
    field("requestId", Kind::Text),
    field("reason", Kind::Reason("AdminOverride")),
    field("quantity", Kind::Quantity),
    field("countedAt", Kind::DateTime),
];

/// A field's parsed value.
enum Value {
    Text(String),
    Number(f64),
    Time(LocalDateTime),
    Reason,
    Lines(Vec<DeliveryLineBody>),
}

/// Every field of one object, all present (missing ones were reported while reading).
struct Fields {
    schema: &'static [Field],
    values: Vec<Option<Value>>,
}

impl Fields {
    fn take(&mut self, name: &str) -> Option<Value> {
        let index = self.schema.iter().position(|f| f.name == name)?;
        self.values.get_mut(index)?.take()
    }

    // A mismatch below would mean a schema and its builder disagree: a defect, not bad input.
    fn text(&mut self, name: &str) -> Result<String, ApiError> {
        match self.take(name) {
            Some(Value::Text(text)) => Ok(text),
            _ => Err(ApiError::Internal),
        }
    }

    fn number(&mut self, name: &str) -> Result<f64, ApiError> {
        match self.take(name) {
            Some(Value::Number(number)) => Ok(number),
            _ => Err(ApiError::Internal),
        }
    }

    fn time(&mut self, name: &str) -> Result<LocalDateTime, ApiError> {
        match self.take(name) {
            Some(Value::Time(time)) => Ok(time),
            _ => Err(ApiError::Internal),
        }
    }

    fn lines(&mut self, name: &str) -> Result<Vec<DeliveryLineBody>, ApiError> {
        match self.take(name) {
            Some(Value::Lines(lines)) => Ok(lines),
            _ => Err(ApiError::Internal),
        }
    }
}

/// Where a visitor leaves the `ApiError` that made it stop: serde errors carry no payload, so
/// the visitor records the reason here and aborts with a blank serde error.
type Failure = Option<ApiError>;

fn fail<E: de::Error>(failure: &mut Failure, error: ApiError) -> E {
    *failure = Some(error);
    E::custom("body rejected")
}

/// Reads a whole document that must be one object of `schema`. Any failure serde reports
/// without a recorded reason (malformed JSON, wrong type, `null`, trailing data) is `BadRequest`.
fn read_document(bytes: &[u8], schema: &'static [Field]) -> Result<Fields, ApiError> {
    let mut failure = None;
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let result = ObjectSeed {
        schema,
        failure: &mut failure,
    }
    .deserialize(&mut deserializer)
    .and_then(|fields| deserializer.end().map(|()| fields));
    result.map_err(|_| failure.unwrap_or(ApiError::BadRequest))
}

/// Reads one JSON object of `schema`, key by key in document order.
struct ObjectSeed<'a> {
    schema: &'static [Field],
    failure: &'a mut Failure,
}

impl<'de> DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = Fields;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Fields, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for ObjectSeed<'_> {
    type Value = Fields;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a JSON object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Fields, A::Error> {
        let ObjectSeed { schema, failure } = self;
        let mut values: Vec<Option<Value>> = schema.iter().map(|_| None).collect();
        while let Some(key) = map.next_key::<String>()? {
            let Some(index) = schema.iter().position(|f| f.name == key) else {
                return Err(fail(failure, ApiError::BadRequest));
            };
            let seed = ValueSeed {
                field: schema[index],
                failure: &mut *failure,
            };
            values[index] = Some(map.next_value_seed(seed)?);
        }
        let missing: Vec<&'static str> = schema
            .iter()
            .zip(&values)
            .filter(|(_, value)| value.is_none())
            .map(|(field, _)| field.name)
            .collect();
        if !missing.is_empty() {
            return Err(fail(failure, ApiError::MissingFields(missing)));
        }
        Ok(Fields { schema, values })
    }
}

/// Reads the value of one field. Types a visitor does not accept (including `null`) fall to
/// serde's default rejection, which `read_document` turns into `BadRequest`.
struct ValueSeed<'a> {
    field: Field,
    failure: &'a mut Failure,
}

impl<'de> DeserializeSeed<'de> for ValueSeed<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        match self.field.kind {
            Kind::Lines => deserializer.deserialize_seq(LinesVisitor {
                failure: self.failure,
            }),
            _ => deserializer.deserialize_any(self),
        }
    }
}

impl<'de> Visitor<'de> for ValueSeed<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(formatter, "the value of {}", self.field.name)
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<Value, E> {
        match self.field.kind {
            Kind::Text => Ok(Value::Text(text.to_owned())),
            Kind::Quantity => match text.parse::<f64>() {
                Ok(number) if number.is_finite() => Ok(Value::Number(number)),
                _ => Err(fail(self.failure, ApiError::BadRequest)),
            },
            Kind::DateTime => match LocalDateTime::parse(text) {
                Some(time) => Ok(Value::Time(time)),
                None => Err(fail(self.failure, ApiError::InvalidValues(self.field.name))),
            },
            Kind::Reason(canonical) if text.eq_ignore_ascii_case(canonical) => Ok(Value::Reason),
            Kind::Reason(_) | Kind::Lines => Err(fail(self.failure, ApiError::BadRequest)),
        }
    }

    fn visit_u64<E: de::Error>(self, number: u64) -> Result<Value, E> {
        self.number(number as f64)
    }

    fn visit_i64<E: de::Error>(self, number: i64) -> Result<Value, E> {
        self.number(number as f64)
    }

    fn visit_f64<E: de::Error>(self, number: f64) -> Result<Value, E> {
        self.number(number)
    }
}

impl ValueSeed<'_> {
    /// A JSON number: only a quantity takes one, and only a finite one.
    fn number<E: de::Error>(self, number: f64) -> Result<Value, E> {
        match self.field.kind {
            Kind::Quantity if number.is_finite() => Ok(Value::Number(number)),
            _ => Err(fail(self.failure, ApiError::BadRequest)),
        }
    }
}

/// Reads a delivery's `products` array, each element an object of `LINE`.
struct LinesVisitor<'a> {
    failure: &'a mut Failure,
}

impl<'de> Visitor<'de> for LinesVisitor<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("an array of delivery lines")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let failure = self.failure;
        let mut lines = Vec::new();
        while let Some(mut fields) = seq.next_element_seed(ObjectSeed {
            schema: LINE,
            failure: &mut *failure,
        })? {
            let line = fields.text("productId").and_then(|product_id| {
                Ok(DeliveryLineBody {
                    product_id,
                    quantity: fields.number("quantity")?,
                })
            });
            lines.push(line.map_err(|error| fail(failure, error))?);
        }
        Ok(Value::Lines(lines))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use http::{HeaderMap, HeaderValue, header};

    fn at(text: &str) -> LocalDateTime {
        LocalDateTime::parse(text).unwrap()
    }

    fn with_content_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_content_types_are_accepted_with_parameters_and_in_any_case() {
        for value in [
            "application/json",
            "application/json; charset=utf-8",
            "application/json;charset=UTF-8",
            "Application/JSON",
            " application/json ; charset=utf-8",
        ] {
            assert_eq!(
                check_content_type(&with_content_type(value)),
                Ok(()),
                "{value}"
            );
        }
    }

    #[test]
    fn other_or_missing_content_types_are_unsupported() {
        for value in [
            "text/plain",
            "application/jsonx",
            "application/problem+json",
            "",
            "json",
        ] {
            assert_eq!(
                check_content_type(&with_content_type(value)),
                Err(ApiError::UnsupportedMediaType),
                "{value}"
            );
        }
        assert_eq!(
            check_content_type(&HeaderMap::new()),
            Err(ApiError::UnsupportedMediaType)
        );
    }

    #[test]
    fn a_complete_sale_parses_with_its_offset_discarded() {
        let body = br#"{"requestId":"r1","quantity":5,"soldAt":"2024-12-07T12:00:00+05:00"}"#;
        assert_eq!(
            parse_sale(body),
            Ok(SaleBody {
                request_id: "r1".into(),
                quantity: 5.0,
                sold_at: at("2024-12-07T12:00:00"),
            })
        );
    }

    #[test]
    fn quantities_accept_numbers_and_strings_holding_finite_numbers() {
        let cases: &[(&str, f64)] = &[
            ("5", 5.0),
            ("5.0", 5.0),
            ("1.25", 1.25),
            ("-3", -3.0),
            ("0", 0.0),
            ("1e3", 1000.0),
            ("18446744073709551616", 18446744073709551616.0),
            (r#""5""#, 5.0),
            (r#""17.75""#, 17.75),
            (r#""-0.5""#, -0.5),
            (r#""1e2""#, 100.0),
        ];
        for (quantity, expected) in cases {
            let body =
                format!(r#"{{"requestId":"r","quantity":{quantity},"soldAt":"2024-01-01T00:00"}}"#);
            assert_eq!(
                parse_sale(body.as_bytes()).map(|s| s.quantity),
                Ok(*expected),
                "{quantity}"
            );
        }
    }

    #[test]
    fn quantities_reject_everything_else_as_a_bad_request() {
        for quantity in [
            r#"" 5""#,
            r#""5 ""#,
            r#""abc""#,
            r#""""#,
            r#""NaN""#,
            r#""inf""#,
            r#""-infinity""#,
            r#""1e999""#,
            "1e400",
            "-1e400",
            "null",
            "true",
            "{}",
            "[]",
            "[5]",
        ] {
            let body =
                format!(r#"{{"requestId":"r","quantity":{quantity},"soldAt":"2024-01-01T00:00"}}"#);
            assert_eq!(
                parse_sale(body.as_bytes()),
                Err(ApiError::BadRequest),
                "{quantity}"
            );
        }
    }

    #[test]
    fn string_and_date_time_fields_reject_other_json_types() {
        for body in [
            r#"{"requestId":5,"quantity":1,"soldAt":"2024-01-01T00:00"}"#,
            r#"{"requestId":null,"quantity":1,"soldAt":"2024-01-01T00:00"}"#,
            r#"{"requestId":["r"],"quantity":1,"soldAt":"2024-01-01T00:00"}"#,
            r#"{"requestId":"r","quantity":1,"soldAt":20240101}"#,
            r#"{"requestId":"r","quantity":1,"soldAt":null}"#,
            r#"{"requestId":"r","quantity":1,"soldAt":{}}"#,
        ] {
            assert_eq!(
                parse_sale(body.as_bytes()),
                Err(ApiError::BadRequest),
                "{body}"
            );
        }
    }

    #[test]
    fn unusable_documents_are_bad_requests() {
        for body in [
            "",
            " ",
            "null",
            "[]",
            r#""x""#,
            "5",
            "{",
            r#"{"requestId":"r""#,
            r#"{"requestId"}"#,
            r#"{"requestId":"r","quantity":1,"soldAt":"2024-01-01T00:00"} {}"#,
            "\u{feff}{}",
        ] {
            assert_eq!(
                parse_sale(body.as_bytes()),
                Err(ApiError::BadRequest),
                "{body:?}"
            );
        }
        assert_eq!(
            parse_sale(b"{\"requestId\":\"\xff\"}"),
            Err(ApiError::BadRequest)
        );
    }

    #[test]
    fn an_empty_object_lists_every_missing_field_in_table_order() {
        assert_eq!(
            parse_sale(b"{}"),
            Err(ApiError::MissingFields(vec![
                "requestId",
                "quantity",
                "soldAt"
            ]))
        );
        assert_eq!(
            parse_delivery(b"{}"),
            Err(ApiError::MissingFields(vec![
                "requestId",
                "supplierId",
                "supplierRef",
                "deliveredAt",
                "products"
            ]))
        );
        assert_eq!(
            parse_move(b"{}"),
            Err(ApiError::MissingFields(vec![
                "requestId",
                "destinationLocationId",
                "quantity",
                "reason",
                "movedAt"
            ]))
        );
        assert_eq!(
            parse_count(b" { } "),
            Err(ApiError::MissingFields(vec![
                "requestId",
                "reason",
                "quantity",
                "countedAt"
            ]))
        );
    }

    #[test]
    fn missing_fields_keep_table_order_whatever_the_document_order() {
        assert_eq!(
            parse_move(br#"{"movedAt":"2024-01-01T00:00","quantity":1}"#),
            Err(ApiError::MissingFields(vec![
                "requestId",
                "destinationLocationId",
                "reason"
            ]))
        );
    }

    #[test]
    fn an_invalid_date_time_wins_over_missing_fields() {
        assert_eq!(
            parse_move(br#"{"movedAt":"x"}"#),
            Err(ApiError::InvalidValues("movedAt"))
        );
        assert_eq!(
            parse_delivery(br#"{"deliveredAt":"2024-12-07"}"#),
            Err(ApiError::InvalidValues("deliveredAt"))
        );
    }

    #[test]
    fn the_first_problem_in_document_order_answers() {
        let cases: &[(&str, ApiError)] = &[
            (
                r#"{"soldAt":"x","unknown":1}"#,
                ApiError::InvalidValues("soldAt"),
            ),
            (r#"{"unknown":1,"soldAt":"x"}"#, ApiError::BadRequest),
            (
                r#"{"soldAt":"x","quantity":null}"#,
                ApiError::InvalidValues("soldAt"),
            ),
            (r#"{"quantity":null,"soldAt":"x"}"#, ApiError::BadRequest),
            (r#"{"requestId":1,"soldAt":"x"}"#, ApiError::BadRequest),
            // Parsing stops at the invalid date-time, before the malformed rest is read.
            (
                r#"{"soldAt":"x", garbage"#,
                ApiError::InvalidValues("soldAt"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_sale(body.as_bytes()).as_ref(),
                Err(expected),
                "{body}"
            );
        }
    }

    #[test]
    fn missing_fields_are_met_at_the_closing_brace_before_trailing_data() {
        assert_eq!(
            parse_count(b"{} x"),
            Err(ApiError::MissingFields(vec![
                "requestId",
                "reason",
                "quantity",
                "countedAt"
            ]))
        );
    }

    #[test]
    fn an_unknown_key_is_rejected_even_when_all_fields_are_present() {
        let body = br#"{"requestId":"r","quantity":1,"soldAt":"2024-01-01T00:00","note":"x"}"#;
        assert_eq!(parse_sale(body), Err(ApiError::BadRequest));
        assert_eq!(
            parse_sale(br#"{"RequestId":"r"}"#),
            Err(ApiError::BadRequest)
        );
    }

    #[test]
    fn unparseable_date_times_name_their_field() {
        for text in [
            "invalid-timestamp",
            "12-07-2024",
            "2024-12-07",
            "2024-12-07 10:00:00",
            "",
        ] {
            let body = format!(r#"{{"requestId":"r","quantity":1,"soldAt":"{text}"}}"#);
            assert_eq!(
                parse_sale(body.as_bytes()),
                Err(ApiError::InvalidValues("soldAt")),
                "{text}"
            );
            let body = format!(r#"{{"countedAt":"{text}"}}"#);
            assert_eq!(
                parse_count(body.as_bytes()),
                Err(ApiError::InvalidValues("countedAt"))
            );
        }
    }

    #[test]
    fn a_move_accepts_replenishment_in_any_case_and_nothing_else() {
        let body = |reason: &str| {
            format!(
                r#"{{"requestId":"m1","destinationLocationId":"store3","quantity":50.5,"reason":{reason},"movedAt":"2024-12-26T15:35:00Z"}}"#
            )
        };
        let expected = MoveBody {
            request_id: "m1".into(),
            destination_location_id: "store3".into(),
            quantity: 50.5,
            moved_at: at("2024-12-26T15:35:00"),
        };
        for reason in [
            r#""replenishment""#,
            r#""Replenishment""#,
            r#""REPLENISHMENT""#,
        ] {
            assert_eq!(
                parse_move(body(reason).as_bytes()),
                Ok(expected.clone()),
                "{reason}"
            );
        }
        for reason in [
            r#""redistribution""#,
            r#""""#,
            r#""replenishment ""#,
            "null",
            "1",
            "[]",
        ] {
            assert_eq!(
                parse_move(body(reason).as_bytes()),
                Err(ApiError::BadRequest),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_count_accepts_admin_override_in_any_case_and_nothing_else() {
        let body = |reason: &str| {
            format!(
                r#"{{"requestId":"c1","reason":{reason},"quantity":"100","countedAt":"2024-12-11T09:16:29.577617"}}"#
            )
        };
        let expected = CountBody {
            request_id: "c1".into(),
            quantity: 100.0,
            counted_at: at("2024-12-11T09:16:29.577617"),
        };
        for reason in [
            r#""AdminOverride""#,
            r#""adminoverride""#,
            r#""ADMINOVERRIDE""#,
        ] {
            assert_eq!(
                parse_count(body(reason).as_bytes()),
                Ok(expected.clone()),
                "{reason}"
            );
        }
        for reason in [r#""replenishment""#, r#""Admin Override""#, "null", "true"] {
            assert_eq!(
                parse_count(body(reason).as_bytes()),
                Err(ApiError::BadRequest),
                "{reason}"
            );
        }
    }

    #[test]
    fn a_delivery_parses_its_lines_in_order() {
        let body = br#"{"requestId":"d1","supplierId":"s1","supplierRef":"po-9",
            "deliveredAt":"2024-12-26T15:35:00","products":[
            {"productId":"p1","quantity":100},{"quantity":"2.5","productId":"p2"},
            {"productId":"p3","quantity":-1}]}"#;
        let line = |id: &str, quantity| DeliveryLineBody {
            product_id: id.into(),
            quantity,
        };
        assert_eq!(
            parse_delivery(body),
            Ok(DeliveryBody {
                request_id: "d1".into(),
                supplier_id: "s1".into(),
                supplier_ref: "po-9".into(),
                delivered_at: at("2024-12-26T15:35:00"),
                products: vec![line("p1", 100.0), line("p2", 2.5), line("p3", -1.0)],
            })
        );
    }

    #[test]
    fn a_delivery_may_have_no_lines() {
        let body = br#"{"requestId":"d","supplierId":"s","supplierRef":"r","deliveredAt":"2024-01-01T00:00","products":[]}"#;
        assert_eq!(parse_delivery(body).map(|d| d.products), Ok(vec![]));
    }

    #[test]
    fn a_line_reports_only_its_own_missing_fields_when_it_ends() {
        let cases: &[(&str, ApiError)] = &[
            (
                r#"{"products":[{}]}"#,
                ApiError::MissingFields(vec!["productId", "quantity"]),
            ),
            (
                r#"{"products":[{"productId":"p"}]}"#,
                ApiError::MissingFields(vec!["quantity"]),
            ),
            (
                r#"{"products":[{"quantity":1}]}"#,
                ApiError::MissingFields(vec!["productId"]),
            ),
            (
                r#"{"products":[{"productId":"p","quantity":1},{"quantity":1}],"deliveredAt":"x"}"#,
                ApiError::MissingFields(vec!["productId"]),
            ),
            (
                r#"{"deliveredAt":"x","products":[{}]}"#,
                ApiError::InvalidValues("deliveredAt"),
            ),
        ];
        for (body, expected) in cases {
            assert_eq!(
                parse_delivery(body.as_bytes()).as_ref(),
                Err(expected),
                "{body}"
            );
        }
    }

    #[test]
    fn malformed_lines_are_bad_requests() {
        for products in [
            "null",
            "{}",
            r#""p1""#,
            "[null]",
            r#"["p1"]"#,
            "[[]]",
            r#"[{"productId":"p","quantity":1,"extra":1}]"#,
            r#"[{"productId":null,"quantity":1}]"#,
            r#"[{"productId":"p","quantity":"many"}]"#,
            r#"[{"productId":7,"quantity":1}]"#,
        ] {
            let body = format!(r#"{{"products":{products}}}"#);
            assert_eq!(
                parse_delivery(body.as_bytes()),
                Err(ApiError::BadRequest),
                "{products}"
            );
        }
    }
}
