//! Fuzz target: `http_fn::fuzzing::bodies`, which states the properties it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_fn::fuzzing::bodies(data));
