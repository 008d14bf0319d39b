//! Percent-encoding of identifiers as path segments and as Redis key components.

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Every byte outside `A–Z a–z 0–9 - . _ ~` is encoded (spec/API.md §9, spec/LOCATIONS.md §2).
const PATH_SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Every byte outside `A–Z a–z 0–9 . _ -` is encoded (ARCHITECTURE.md §3): no raw `{`, `}`, `:`.
const KEY_COMPONENT: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_');

/// Encodes an id as one URL path segment, upper-case hex.
pub fn path_segment(id: &str) -> String {
    utf8_percent_encode(id, PATH_SEGMENT).to_string()
}

/// Encodes an id as one component of a store key.
pub fn key_component(id: &str) -> String {
    utf8_percent_encode(id, KEY_COMPONENT).to_string()
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
