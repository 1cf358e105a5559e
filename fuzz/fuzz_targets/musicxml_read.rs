//! libFuzzer entry of `coda_fuzz::musicxml_read` (see shared/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coda_fuzz::musicxml_read(data));
