//! Fuzz target: `shared::fuzzing::stored_value`, which states the properties it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::stored_value(data));
