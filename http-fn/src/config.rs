//! Configuration of the HTTP tier: the one typed configuration shared by both binaries.

pub use shared::config::*;
