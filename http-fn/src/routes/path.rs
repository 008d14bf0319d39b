//! Path parameters (percent-decoded) and the `Location` header of a 303 redirect.

use axum::extract::RawPathParams;
use percent_encoding::percent_decode_str;

/// Percent-decodes a raw path parameter. Ids are opaque UTF-8 strings; bytes that are not UTF-8
/// become U+FFFD, so such an id simply names no location (404 after authentication).
pub(super) fn decode(raw: &str) -> String {
    percent_decode_str(raw).decode_utf8_lossy().into_owned()
}

/// The decoded value of the named raw path parameter (empty if the route has no such parameter).
pub(super) fn param(params: &RawPathParams, name: &str) -> String {
    params
        .iter()
        .find(|(key, _)| *key == name)
        .map(|(_, value)| decode(value))
        .unwrap_or_default()
}

/// The request path with only its second segment replaced by `location`, percent-encoded; the
/// query is dropped and every other segment is kept exactly as received (spec/API.md §9).
pub(super) fn redirect_target(request_path: &str, location: &str) -> String {
    let mut segments: Vec<&str> = request_path.split('/').collect();
    let encoded = shared::encoding::path_segment(location);
    if segments.len() > 2 {
        segments[2] = &encoded;
    }
    segments.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirects_replace_only_the_location_segment() {
        assert_eq!(
            redirect_target(
                "/locations/Till%201/products/Olive%20Oil/sales",
                "Central Store"
            ),
            "/locations/Central%20Store/products/Olive%20Oil/sales"
        );
        assert_eq!(
            redirect_target("/locations/untracked1/product123/movements", "warehouse1"),
            "/locations/warehouse1/product123/movements"
        );
        assert_eq!(
            redirect_target("/locations/warehouse1-untracked/deliveries", "WH01"),
            "/locations/WH01/deliveries"
        );
    }

    #[test]
    fn decoding_replaces_invalid_utf8() {
        assert_eq!(decode("Central%20Store"), "Central Store");
        assert_eq!(decode("%FF"), "\u{FFFD}");
    }
}
