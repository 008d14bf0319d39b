//! Bounded values of what a client sent, for log fields, span attributes and metric labels.

use std::borrow::Cow;

use http::Method;

/// Longest client-supplied text written into a log line or a span attribute, in bytes.
pub const MAX_FIELD_BYTES: usize = 256;

/// Marks a value cut at [`MAX_FIELD_BYTES`].
const CLIPPED: &str = "…(clipped)";

/// The method as a label: one of the methods of RFC 9110 and PATCH, or `other`. A client picks
/// any token as a method, so the raw value would give it an unbounded number of series.
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::CONNECT => "CONNECT",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::PATCH => "PATCH",
        _ => "other",
    }
}

/// `text` cut to at most [`MAX_FIELD_BYTES`] (on a character boundary), with a marker when cut.
pub fn clip(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_FIELD_BYTES {
        return Cow::Borrowed(text);
    }
    let mut end = MAX_FIELD_BYTES;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    Cow::Owned(format!("{}{CLIPPED}", &text[..end]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_known_methods_are_labels_of_their_own() {
        assert_eq!(method_label(&Method::GET), "GET");
        assert_eq!(method_label(&Method::PATCH), "PATCH");
        let invented = Method::from_bytes("X".repeat(1024).as_bytes()).unwrap_or(Method::GET);
        assert_eq!(method_label(&invented), "other");
        let lower = Method::from_bytes(b"get").unwrap_or(Method::GET);
        assert_eq!(method_label(&lower), "other");
    }

    #[test]
    fn long_text_is_clipped_with_a_marker_on_a_character_boundary() {
        assert_eq!(clip("/metrics"), "/metrics");
        let long = "é".repeat(1000);
        let clipped = clip(&long);
        assert!(clipped.len() <= MAX_FIELD_BYTES + CLIPPED.len());
        assert!(clipped.ends_with(CLIPPED));
        assert!(clipped.starts_with("éé"));
    }
}
