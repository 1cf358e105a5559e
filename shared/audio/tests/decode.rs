//! Decoding, level and failure-mode tests for coda-audio.
//!
//! Kept in one integration test file so the crate links a single test binary.

use coda_audio::{decode, measure, sine, wav_bytes_f32, wav_bytes_i16, AudioError, DecodedAudio};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data");

fn fixture(name: &str) -> Vec<u8> {
    std::fs::read(format!("{DATA}/{name}")).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

fn invalid_message(result: Result<DecodedAudio, AudioError>) -> String {
    match result {
        Err(AudioError::Invalid(msg)) => msg,
        Err(other) => panic!("expected Invalid, got {other:?}"),
        Ok(a) => panic!(
            "expected Invalid, decoded {} frames of {} audio",
            a.frames(),
            a.codec
        ),
    }
}

/// Deterministic bytes without pulling in a rand crate (Knuth's MMIX LCG, top byte).
fn lcg_bytes(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed;
    (0..len)
        .map(|_| {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (x >> 56) as u8
        })
        .collect()
}

// -6.0206 dBFS is 20*log10(0.5); the RMS of a sine is a further -3.0103 dB.
const HALF_SCALE_DBFS: f64 = -6.0206;
const HALF_SCALE_SINE_RMS_DBFS: f64 = -9.0309;

#[test]
fn i16_wav_round_trip_keeps_format_and_levels() {
    let tone = sine(1000.0, 0.5, 1.0, 44100, 2);
    assert_eq!(tone.len(), 88200);
    let audio = decode(&wav_bytes_i16(&tone, 44100, 2), Some("wav")).unwrap();
    assert_eq!(audio.sample_rate, 44100);
    assert_eq!(audio.channels, 2);
    assert_eq!(audio.codec, "pcm_s16le");
    assert_eq!(audio.frames(), 44100);
    assert!((audio.duration_s() - 1.0).abs() < 1e-12);
    let levels = measure(&audio);
    assert!(
        (levels.peak_dbfs - HALF_SCALE_DBFS).abs() < 0.1,
        "{levels:?}"
    );
    assert!(
        (levels.rms_dbfs - HALF_SCALE_SINE_RMS_DBFS).abs() < 0.1,
        "{levels:?}"
    );
}

#[test]
fn f32_wav_round_trip_is_bit_exact() {
    let tone = sine(440.0, 0.25, 0.5, 48000, 3);
    let audio = decode(&wav_bytes_f32(&tone, 48000, 3), None).unwrap();
    assert_eq!(audio.codec, "pcm_f32le");
    assert_eq!((audio.sample_rate, audio.channels), (48000, 3));
    assert_eq!(audio.samples, tone);
}

#[test]
fn wav_writers_are_readable_by_hound() {
    let tone = sine(1000.0, 0.5, 0.1, 22050, 2);
    let mut r =
        hound::WavReader::new(std::io::Cursor::new(wav_bytes_i16(&tone, 22050, 2))).unwrap();
    let spec = r.spec();
    assert_eq!(
        (spec.channels, spec.sample_rate, spec.bits_per_sample),
        (2, 22050, 16)
    );
    assert_eq!(spec.sample_format, hound::SampleFormat::Int);
    let ints: Vec<i16> = r.samples::<i16>().map(Result::unwrap).collect();
    assert_eq!(ints.len(), tone.len());
    // 1 kHz at 22.05 kHz never samples the crest exactly, so the peak lands just under 0.5.
    let peak = ints.iter().map(|v| v.unsigned_abs()).max().unwrap();
    assert!((16370..=16384).contains(&peak), "{peak}");

    let mut r =
        hound::WavReader::new(std::io::Cursor::new(wav_bytes_f32(&tone, 22050, 2))).unwrap();
    assert_eq!(r.spec().sample_format, hound::SampleFormat::Float);
    let floats: Vec<f32> = r.samples::<f32>().map(Result::unwrap).collect();
    assert_eq!(floats, tone);
}

#[test]
fn i16_writer_clamps_and_zeroes_non_finite() {
    let audio = decode(
        &wav_bytes_i16(&[2.0, -2.0, f32::NAN, f32::INFINITY], 8000, 1),
        None,
    )
    .unwrap();
    assert_eq!(audio.samples[0], 32767.0 / 32768.0);
    assert_eq!(audio.samples[1], -32767.0 / 32768.0);
    assert_eq!(&audio.samples[2..], &[0.0, 0.0]);
}

#[test]
fn sine_is_identical_on_every_channel() {
    let s = sine(100.0, 0.3, 0.01, 8000, 4);
    assert_eq!(s.len(), 80 * 4);
    for frame in s.chunks(4) {
        assert!(frame.iter().all(|&v| v == frame[0]));
    }
    let peak = s.iter().fold(0.0f32, |m, v| m.max(v.abs()));
    assert!(peak <= 0.3 && peak > 0.29);
    assert!(sine(100.0, 0.3, -1.0, 8000, 2).is_empty());
    assert!(sine(100.0, 0.3, f64::NAN, 8000, 2).is_empty());
}

/// Decodes a committed ffmpeg fixture (see tests/data/README.md) and checks it against what the
/// ffmpeg command generated: a 440 Hz stereo tone at amplitude 0.5 (-6.02 dBFS).
fn check_fixture(name: &str, codec: &str, seconds: f64, peak_tolerance_db: f64) {
    let bytes = fixture(name);
    let ext = name.rsplit('.').next();
    let audio = decode(&bytes, ext).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(audio.codec, codec, "{name}");
    assert_eq!(audio.sample_rate, 44100, "{name}");
    assert_eq!(audio.channels, 2, "{name}");
    assert!(
        (audio.duration_s() - seconds).abs() < 0.05,
        "{name}: duration {}",
        audio.duration_s()
    );
    let levels = measure(&audio);
    assert!(
        (levels.peak_dbfs - HALF_SCALE_DBFS).abs() < peak_tolerance_db,
        "{name}: {levels:?}"
    );
    // A lossy codec moves the peak but hardly the energy of a pure tone.
    assert!(
        (levels.rms_dbfs - HALF_SCALE_SINE_RMS_DBFS).abs() < 0.5,
        "{name}: {levels:?}"
    );
    // The hint is only a hint: probing by content must give the same result.
    let unhinted = decode(&bytes, None).unwrap();
    assert_eq!(unhinted.frames(), audio.frames(), "{name}");
}

#[test]
fn decodes_flac_fixture() {
    check_fixture("tone440.flac", "flac", 1.0, 0.01);
    // Lossless: every frame must be present.
    assert_eq!(
        decode(&fixture("tone440.flac"), None).unwrap().frames(),
        44100
    );
}

#[test]
fn decodes_mp3_fixture() {
    check_fixture("tone440.mp3", "mp3", 1.0, 1.0);
}

#[test]
fn decodes_vorbis_fixture() {
    check_fixture("tone440.ogg", "vorbis", 1.0, 1.0);
}

#[test]
fn decodes_aac_m4a_fixture() {
    check_fixture("tone440.m4a", "aac", 1.0, 1.0);
}

#[test]
fn decodes_aiff_fixture() {
    check_fixture("tone440.aiff", "pcm_s16be", 0.2, 0.01);
    // COMM says 8820 frames; symphonia alone would claim 8822 and decode 8 stray bytes.
    assert_eq!(
        decode(&fixture("tone440.aiff"), None).unwrap().frames(),
        8820
    );
}

#[test]
fn loudness_of_1khz_mono_tone_matches_bs1770() {
    // BS.1770: L = -0.691 + 10*log10(sum G_i * z_i), z_i the mean square of the K-weighted
    // channel. A mono (G = 1) sine of amplitude 0.1 has mean square 0.1^2/2 = -23.0103 dB; the
    // K-weighting filter gains +0.6977 dB at 1 kHz (from the standard's 48 kHz coefficients),
    // so L = -0.691 - 23.0103 + 0.6977 = -23.0036 LUFS. ebur128 measures -23.00.
    let tone = sine(1000.0, 0.1, 5.0, 48000, 1);
    let audio = DecodedAudio {
        sample_rate: 48000,
        channels: 1,
        codec: "pcm_f32le".into(),
        samples: tone,
    };
    let levels = measure(&audio);
    let lufs = levels.loudness_lufs.expect("5 s tone must gate");
    assert!((lufs - -23.0036).abs() < 0.1, "{lufs}");
    assert!((levels.peak_dbfs - -20.0).abs() < 0.01, "{levels:?}");
    assert!((levels.rms_dbfs - -23.0103).abs() < 0.01, "{levels:?}");
}

#[test]
fn loudness_reference_sines_match_bs1770() {
    // The standard's calibration statement: a 0 dBFS 997 Hz sine in ONE front channel reads
    // -3.01 LKFS (K gain at 997 Hz is +0.69 dB, cancelling the -0.691 constant). The same tone
    // in both stereo channels doubles the power, so it reads 0.0 LKFS, not -3.01.
    let rate = 48000;
    let mono = sine(997.0, 1.0, 5.0, rate, 1);
    let left_only: Vec<f32> = mono.iter().flat_map(|&v| [v, 0.0]).collect();
    let both: Vec<f32> = mono.iter().flat_map(|&v| [v, v]).collect();
    let lufs = |samples: Vec<f32>| {
        measure(&DecodedAudio {
            sample_rate: rate,
            channels: 2,
            codec: "pcm_f32le".into(),
            samples,
        })
        .loudness_lufs
        .unwrap()
    };
    let one = lufs(left_only);
    let two = lufs(both);
    assert!((one - -3.01).abs() < 0.1, "{one}");
    assert!(two.abs() < 0.1, "{two}");
}

#[test]
fn silence_is_floored_and_has_no_loudness() {
    let audio = DecodedAudio {
        sample_rate: 44100,
        channels: 2,
        codec: "pcm_s16le".into(),
        samples: vec![0.0; 44100 * 2 * 3],
    };
    let levels = measure(&audio);
    assert_eq!(levels.peak_dbfs, -200.0);
    assert_eq!(levels.rms_dbfs, -200.0);
    assert_eq!(levels.loudness_lufs, None);

    // Through the decoder too, and an empty buffer.
    let decoded = decode(&wav_bytes_i16(&vec![0.0; 4410], 44100, 1), None).unwrap();
    assert_eq!(measure(&decoded).peak_dbfs, -200.0);
    let empty = DecodedAudio {
        samples: Vec::new(),
        ..audio
    };
    let levels = measure(&empty);
    assert_eq!((levels.peak_dbfs, levels.rms_dbfs), (-200.0, -200.0));
    assert_eq!(levels.loudness_lufs, None);
}

#[test]
fn too_short_for_bs1770_has_no_loudness() {
    let tone = sine(1000.0, 0.5, 0.2, 48000, 2);
    let audio = decode(&wav_bytes_i16(&tone, 48000, 2), None).unwrap();
    let levels = measure(&audio);
    assert_eq!(levels.loudness_lufs, None);
    assert!((levels.peak_dbfs - HALF_SCALE_DBFS).abs() < 0.1);
}

#[test]
fn empty_input_is_invalid() {
    assert_eq!(invalid_message(decode(&[], None)), "file is empty");
    assert_eq!(invalid_message(decode(&[], Some("wav"))), "file is empty");
}

#[test]
fn random_bytes_are_invalid() {
    for seed in 0..40u64 {
        let len = 1 + (seed as usize * 7919) % 70_000;
        let bytes = lcg_bytes(seed, len);
        for hint in [None, Some("wav"), Some("mp3"), Some("m4a"), Some("ogg")] {
            let msg = invalid_message(decode(&bytes, hint));
            assert!(!msg.is_empty());
        }
    }
    let msg = invalid_message(decode(&lcg_bytes(7, 4096), None));
    assert_eq!(msg, "not a recognised audio format");
}

#[test]
fn wav_cut_in_half_is_truncated() {
    let wav = wav_bytes_i16(&sine(1000.0, 0.5, 1.0, 44100, 2), 44100, 2);
    let msg = invalid_message(decode(&wav[..wav.len() / 2], Some("wav")));
    assert!(msg.starts_with("truncated"), "{msg}");
    assert!(msg.contains("44100 frames"), "{msg}");
    // Even one missing frame counts for PCM.
    let msg = invalid_message(decode(&wav[..wav.len() - 4], Some("wav")));
    assert!(msg.starts_with("truncated"), "{msg}");
}

#[test]
fn wav_header_only_is_invalid() {
    let wav = wav_bytes_i16(&sine(1000.0, 0.5, 1.0, 44100, 2), 44100, 2);
    let msg = invalid_message(decode(&wav[..44], Some("wav")));
    assert!(msg.starts_with("truncated"), "{msg}");
    // A header that honestly declares no data is still not usable audio.
    let msg = invalid_message(decode(&wav_bytes_i16(&[], 44100, 2), Some("wav")));
    assert_eq!(msg, "file contains no audio");
    // Cut inside the header itself.
    let msg = invalid_message(decode(&wav[..20], None));
    assert!(msg.starts_with("truncated"), "{msg}");
}

#[test]
fn streaming_wav_with_unknown_length_decodes() {
    // `ffmpeg -f wav pipe:` writes 0xFFFFFFFF sizes because it cannot seek back.
    let mut wav = wav_bytes_i16(&sine(1000.0, 0.5, 0.5, 44100, 1), 44100, 1);
    wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    wav[40..44].copy_from_slice(&u32::MAX.to_le_bytes());
    let audio = decode(&wav, None).unwrap();
    assert_eq!(audio.frames(), 22050);
    // Float samples too, whose width symphonia leaves implicit.
    let mut wav = wav_bytes_f32(&sine(1000.0, 0.5, 0.5, 44100, 2), 44100, 2);
    wav[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
    assert_eq!(&wav[50..54], b"data");
    wav[54..58].copy_from_slice(&u32::MAX.to_le_bytes());
    let audio = decode(&wav, None).unwrap();
    assert_eq!((audio.frames(), audio.codec.as_str()), (22050, "pcm_f32le"));
}

#[test]
fn absurdly_long_header_is_rejected() {
    // 8 kHz mono 16-bit with a data chunk claiming 4.5 hours.
    let mut wav = wav_bytes_i16(&sine(100.0, 0.5, 0.1, 8000, 1), 8000, 1);
    let data_len: u32 = 2 * 8000 * 3600 * 9 / 2;
    wav[40..44].copy_from_slice(&data_len.to_le_bytes());
    wav[4..8].copy_from_slice(&(data_len + 36).to_le_bytes());
    let msg = invalid_message(decode(&wav, None));
    assert!(msg.starts_with("too long"), "{msg}");
}

#[test]
fn truncated_compressed_files_are_invalid() {
    for (name, frac) in [
        ("tone440.flac", 0.5),
        ("tone440.mp3", 0.5),
        ("tone440.ogg", 0.5),
        ("tone440.m4a", 0.9),
        ("tone440.aiff", 0.5),
    ] {
        let bytes = fixture(name);
        let cut = &bytes[..(bytes.len() as f64 * frac) as usize];
        let msg = invalid_message(decode(cut, name.rsplit('.').next()));
        assert!(msg.starts_with("truncated"), "{name}: {msg}");
    }
}

#[test]
fn damaged_files_never_panic() {
    // Overwrite short runs and cut at many points; any outcome but a panic is acceptable, and a
    // success must still be self-consistent.
    for name in [
        "tone440.flac",
        "tone440.mp3",
        "tone440.ogg",
        "tone440.m4a",
        "tone440.aiff",
    ] {
        let original = fixture(name);
        for seed in 0..12u64 {
            let mut bytes = original.clone();
            let noise = lcg_bytes(seed, 64);
            let at = (seed as usize * 2654435761) % bytes.len();
            let end = (at + noise.len()).min(bytes.len());
            bytes[at..end].copy_from_slice(&noise[..end - at]);
            if let Ok(audio) = decode(&bytes, None) {
                assert_eq!(
                    audio.samples.len() as u64,
                    audio.frames() * u64::from(audio.channels)
                );
                assert!(audio.duration_s() < 2.0, "{name}: {}", audio.duration_s());
            }
            let cut = &original[..(seed as usize * 997) % original.len()];
            let _ = decode(cut, None);
        }
    }
}

#[test]
fn hostile_mp3_length_tag_is_contained() {
    // symphonia computes `frames - delay - padding` from the Xing/Info and LAME tags unchecked:
    // with 1 MPEG frame declared it underflows (a panic where overflow checks are on, as in
    // test builds, a wrapped huge length otherwise). The numbers are read first, untrimmed.
    let mut mp3 = fixture("tone440.mp3");
    let info = mp3.windows(4).position(|w| w == b"Info").unwrap();
    assert_eq!(mp3[info + 7] & 1, 1, "frames field present");
    mp3[info + 8..info + 12].copy_from_slice(&1u32.to_be_bytes());
    let msg = invalid_message(decode(&mp3, Some("mp3")));
    assert_eq!(
        msg,
        "corrupt: the encoder delay and padding (1105 + 875 samples) exceed the 1152 samples the header declares"
    );
}

#[test]
fn audio_error_displays_plain_message() {
    assert_eq!(
        AudioError::Invalid("file is empty".into()).to_string(),
        "file is empty"
    );
    assert_eq!(
        AudioError::Io("disk full".into()).to_string(),
        "audio i/o: disk full"
    );
}

/// The mutation fuzz's finds (`tests/data/hostile-audio/README.md`): each one is a clean
/// `Invalid`, without a panic (caught or not) and without asking for gigabytes.
#[test]
fn hostile_files_are_invalid_without_a_panic() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static PANICS: AtomicUsize = AtomicUsize::new(0);
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/hostile-audio");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.starts_with("probe_"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 19, "{names:?}");
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {
        PANICS.fetch_add(1, Ordering::SeqCst);
    }));
    let mut messages = vec![];
    for name in &names {
        let bytes = std::fs::read(format!("{dir}/{name}")).unwrap();
        let before = PANICS.load(Ordering::SeqCst);
        let result = decode(&bytes, name.rsplit('.').next());
        let panicked = PANICS.load(Ordering::SeqCst) - before;
        messages.push((name.clone(), panicked, result.map(|a| a.frames())));
    }
    std::panic::set_hook(previous);
    for (name, panicked, result) in messages {
        assert_eq!(panicked, 0, "{name} panicked inside the decoder");
        match result {
            Err(AudioError::Invalid(msg)) => assert!(!msg.is_empty(), "{name}"),
            other => panic!("{name}: {other:?}"),
        }
    }
}
