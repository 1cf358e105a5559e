//! libFuzzer entry of `coda_fuzz::midi_read` (see shared/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coda_fuzz::midi_read(data));
