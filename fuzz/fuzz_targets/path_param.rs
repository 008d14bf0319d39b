//! Fuzz target: `http_fn::fuzzing::path_param`, which states the properties it checks.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| http_fn::fuzzing::path_param(data));
