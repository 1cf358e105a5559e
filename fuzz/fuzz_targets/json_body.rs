//! libFuzzer entry of `coda_fuzz::json_body` (see shared/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coda_fuzz::json_body(data));
