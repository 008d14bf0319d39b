//! Encodings: identifiers percent-encoded as path segments and as Redis key components, and DER
//! keys in PEM armour.

use base64::Engine;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Every byte outside `A–Z a–z 0–9 - . _ ~` is encoded (docs/api.md §9, docs/api.md §15.2).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Every byte outside `A–Z a–z 0–9 . _ -` is encoded (docs/architecture.md §13.1): no raw `{`, `}`, `:`.
const KEY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// Encodes an id as one URL path segment, upper-case hex.
pub fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, PATH_SEGMENT).to_string()
}

/// Encodes an id as one component of a store key.
pub fn key_component(id: &str) -> String {
    utf8_percent_encode(id, KEY_COMPONENT).to_string()
}

/// Wraps DER bytes in PEM armour with 64-character base64 lines.
pub fn pem(label: &str, der: &[u8]) -> String {
    let body = base64::engine::general_purpose::STANDARD.encode(der);
    let mut text = format!("-----BEGIN {label}-----\n");
    for line in body.as_bytes().chunks(64) {
        text.push_str(&String::from_utf8_lossy(line));
        text.push('\n');
    }
    text.push_str(&format!("-----END {label}-----\n"));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_encode_spaces_and_reserved_bytes() {
        assert_eq!(path_segment("Central Store"), "Central%20Store");
        assert_eq!(path_segment("a-b.c_d~e"), "a-b.c_d~e");
        assert_eq!(path_segment("x/y"), "x%2Fy");
        assert_eq!(path_segment("é"), "%C3%A9");
    }

    #[test]
    fn key_components_never_contain_braces_or_colons() {
        let k = key_component("{s1}:a~b");
        assert!(!k.contains('{') && !k.contains('}') && !k.contains(':') && !k.contains('~'));
    }
}
