//! Stock API acceptance suite support: the service under test, tokens, estates and body checks.
//!
//! The cucumber scenarios and their steps live in `tests/acceptance/`; this library holds what
//! they share and what can be unit-tested on its own.

pub mod chaos;
pub mod compose;
pub mod engine;
pub mod estate;
pub mod json;
pub mod lambda;
pub mod location_api;
pub mod prometheus;
pub mod service;
pub mod stack;
pub mod token;
