//! JSON body comparison: exact text (key order and number spelling) or parsed values.

use anyhow::{Context, bail};
use serde_json::Value;

/// Removes the whitespace between JSON tokens, keeping string contents untouched, so two
/// documents that differ only in layout compare equal as text while key order and number
/// spelling (`100` vs `100.0`) still count.
pub fn compact(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_whitespace() {
            out.push(c);
        }
    }
    out
}

/// Checks that `actual` is the same JSON text as `expected`, up to insignificant whitespace.
pub fn assert_same_text(expected: &str, actual: &str) -> anyhow::Result<()> {
    let (want, got) = (compact(expected), compact(actual));
    if want != got {
        bail!("body differs\n  expected: {want}\n  actual:   {got}");
    }
    Ok(())
}

/// Checks that `actual` parses to the same JSON value as `expected`: object key order is free,
/// but an integer and a float never compare equal (`100` ≠ `100.0`).
pub fn assert_same_value(expected: &str, actual: &str) -> anyhow::Result<()> {
    let want: Value = serde_json::from_str(expected).context("the expected body is not JSON")?;
    let got: Value = serde_json::from_str(actual)
        .with_context(|| format!("the response body is not JSON: {actual:?}"))?;
    if want != got {
        bail!(
            "body differs\n  expected: {}\n  actual:   {}",
            compact(expected),
            compact(actual)
        );
    }
    Ok(())
}

/// The number literals of a JSON text, as written.
pub fn number_literals(text: &str) -> Vec<&str> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    let mut in_string = false;
    while i < bytes.len() {
        let b = bytes[i];
        if in_string {
            match b {
                b'\\' => i += 1,
                b'"' => in_string = false,
                _ => {}
            }
            i += 1;
        } else if b == b'"' {
            in_string = true;
            i += 1;
        } else if b == b'-' || b.is_ascii_digit() {
            let start = i;
            while i < bytes.len()
                && matches!(bytes[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
            {
                i += 1;
            }
            found.push(&text[start..i]);
        } else {
            i += 1;
        }
    }
    found
}

/// The spelling the contract requires for a quantity (`docs/api.md` §3.5): the shortest decimal that
/// reads back as the same double, always with a fractional part.
pub fn quantity_spelling(value: f64) -> String {
    let text = format!("{value}");
    if text.contains('.') {
        text
    } else {
        format!("{text}.0")
    }
}

/// Checks every number of a stock-endpoint body against the quantity format of `docs/api.md` §3.5.
pub fn assert_quantity_format(text: &str) -> anyhow::Result<()> {
    for literal in number_literals(text) {
        let value: f64 = literal
            .parse()
            .with_context(|| format!("bad number {literal:?}"))?;
        let wanted = quantity_spelling(value);
        if literal != wanted {
            bail!(
                "number {literal} is not written as {wanted} in {}",
                compact(text)
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_keeps_spaces_inside_strings() {
        assert_eq!(
            compact("{ \"a b\" : [ 1.0 , \"x \\\" y\" ] }"),
            "{\"a b\":[1.0,\"x \\\" y\"]}"
        );
    }

    #[test]
    fn same_text_is_sensitive_to_key_order_and_number_spelling() {
        assert!(assert_same_text(r#"{"a":1.0,"b":2.0}"#, r#"{ "a": 1.0, "b": 2.0 }"#).is_ok());
        assert!(assert_same_text(r#"{"a":1.0,"b":2.0}"#, r#"{"b":2.0,"a":1.0}"#).is_err());
        assert!(assert_same_text(r#"{"a":100.0}"#, r#"{"a":100}"#).is_err());
    }

    #[test]
    fn same_value_ignores_key_order_but_not_integer_versus_float() {
        assert!(assert_same_value(r#"{"a":1.0,"b":2.0}"#, r#"{"b":2.0,"a":1.0}"#).is_ok());
        assert!(assert_same_value(r#"{"a":100.0}"#, r#"{"a":100}"#).is_err());
    }

    #[test]
    fn number_literals_skip_digits_inside_strings() {
        let text = r#"{"id":"r1-2","q":-5.0,"t":"2024-01-01T00:00:00","n":[1.25,0.0]}"#;
        assert_eq!(number_literals(text), vec!["-5.0", "1.25", "0.0"]);
    }

    #[test]
    fn quantities_need_a_fraction_and_the_shortest_spelling() {
        assert!(assert_quantity_format(r#"{"q":100.0,"p":-5.0,"r":0.30000000000000004}"#).is_ok());
        assert!(assert_quantity_format(r#"{"q":100}"#).is_err());
        assert!(assert_quantity_format(r#"{"q":1.50}"#).is_err());
        assert!(assert_quantity_format(r#"{"q":1e2}"#).is_err());
    }
}
