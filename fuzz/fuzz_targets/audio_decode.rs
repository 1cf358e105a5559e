//! libFuzzer entry of `coda_fuzz::audio_decode` (see shared/fuzz).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| coda_fuzz::audio_decode(data));
