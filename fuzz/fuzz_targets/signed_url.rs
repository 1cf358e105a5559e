//! libFuzzer entry of `coda_fuzz::signed_url` (see shared/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coda_fuzz::signed_url(data));
