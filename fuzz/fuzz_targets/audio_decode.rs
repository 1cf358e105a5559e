//! libFuzzer entry of `coda_fuzz::audio_decode` (see shared/fuzz).
//!
//! symphonia 0.5's codecs can panic on a corrupt bitstream (an AAC section
//! index past its table, for one); `coda_audio` catches those inside its
//! decode and answers INVALID_AUDIO, so the process and other jobs live on.
//! This target reports each such place once and goes on, so that a long run
//! looks past them. What it still stops on: a panic that escapes the decoder,
//! an abort, an allocation over `-malloc_limit_mb`, a timeout.
#![no_main]

use std::collections::HashSet;
use std::sync::Mutex;

static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);

libfuzzer_sys::fuzz_target!(
    init: {
        // Replaces libfuzzer-sys's abort-on-panic hook: an escaping panic still aborts, in
        // its catch_unwind around the target.
        std::panic::set_hook(Box::new(|info| {
            let at = info
                .location()
                .map(|l| format!("{}:{}", l.file(), l.line()))
                .unwrap_or_default();
            let mut seen = SEEN.lock().unwrap_or_else(|e| e.into_inner());
            if seen.get_or_insert_with(HashSet::new).insert(at.clone()) {
                eprintln!("contained panic #{} at {at}: {info}", seen.as_ref().map_or(0, |s| s.len()));
            }
        }));
    },
    |data: &[u8]| coda_fuzz::audio_decode(data)
);
