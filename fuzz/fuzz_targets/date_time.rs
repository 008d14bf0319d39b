//! Fuzz target: `shared::fuzzing::date_time`, which states the properties it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| shared::fuzzing::date_time(data));
