//! Step definitions, one module per domain concept.

mod auth;
mod burst;
mod estate;
mod health;
mod location_api;
mod logs;
mod metrics;
mod requests;
mod series;
mod service;
mod stock;
mod trace_context;
mod writes;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Everything but `A–Z a–z 0–9 - . _ ~` is escaped in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// An id as a percent-encoded path segment.
pub(crate) fn segment(id: &str) -> String {
    utf8_percent_encode(id, SEGMENT).to_string()
}

/// A JSON string literal.
pub(crate) fn quoted(text: &str) -> String {
    serde_json::Value::String(text.to_owned()).to_string()
}
