//! libFuzzer entry of `coda_fuzz::range_header` (see shared/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coda_fuzz::range_header(data));
