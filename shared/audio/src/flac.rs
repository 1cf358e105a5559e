//! FLAC encoding of float PCM, via the pure-Rust `flacenc` crate.
//!
//! Stems and other results are handed back as FLAC rather than WAV: lossless at the chosen bit
//! depth, and usually well under WAV's size.
//!
//! The frame loop is ours rather than `flacenc::encode_with_fixed_block_size`, for two reasons.
//! flacenc 0.5's Rice-parameter search keeps its bit counts in saturating u32 lanes that wrap
//! for loud, noisy blocks (seen with 24-bit audio carrying noise at -30 dBFS), and then picks a
//! parameter that makes the frame hundreds of times larger than raw PCM; each frame is checked
//! and re-encoded verbatim when it comes out larger than that. And its threaded mode takes
//! every core; here a few scoped threads each encode a contiguous run of blocks, which keeps
//! the output deterministic too.
//!
//! flacenc has no 5-bit Rice parameters either, so loud 24-bit material with a high noise floor
//! compresses little: expect 60-100% of WAV at 24 bits against 40-75% at 16.

use std::num::NonZeroUsize;

use flacenc::bitsink::ByteSink;
use flacenc::component::{BitRepr, Stream};
use flacenc::config;
use flacenc::error::{Verified, Verify};
use flacenc::source::{Context, Fill, FrameBuf};

use crate::AudioError;

/// Highest sample rate accepted: FLAC itself allows more, but `flacenc` 0.5 rejects anything
/// above 96 kHz in its STREAMINFO check.
pub const MAX_SAMPLE_RATE: u32 = 96_000;

/// Most channels a FLAC stream can hold.
pub const MAX_CHANNELS: u16 = 8;

/// Frames per FLAC block: the reference encoder's default, and flacenc's.
const BLOCK_SIZE: usize = 4096;

/// Most encoder threads per call: a worker also runs other jobs, and a stem encodes in well
/// under a second with this many.
const MAX_THREADS: usize = 4;

/// Blocks per thread below which starting one costs more than it saves (about 3 s at 44.1 kHz).
const MIN_BLOCKS_PER_THREAD: usize = 32;

/// Most bits a FLAC frame header (with its CRC-8) and footer CRC-16 take.
const FRAME_OVERHEAD_BITS: usize = 16 * 8 + 16;

fn invalid(msg: impl Into<String>) -> AudioError {
    AudioError::Invalid(msg.into())
}

/// Encodes interleaved float samples as FLAC with `bits_per_sample` (16 or 24); samples outside [-1, 1] are clipped.
pub fn flac_bytes(
    samples: &[f32],
    sample_rate: u32,
    channels: u16,
    bits_per_sample: u8,
) -> Result<Vec<u8>, AudioError> {
    if channels == 0 || channels > MAX_CHANNELS {
        return Err(invalid(format!(
            "FLAC holds 1 to {MAX_CHANNELS} channels, not {channels}"
        )));
    }
    if sample_rate == 0 || sample_rate > MAX_SAMPLE_RATE {
        return Err(invalid(format!(
            "FLAC encoding supports sample rates of 1 to {MAX_SAMPLE_RATE} Hz, not {sample_rate} Hz"
        )));
    }
    if bits_per_sample != 16 && bits_per_sample != 24 {
        return Err(invalid(format!(
            "FLAC encoding supports 16 or 24 bits per sample, not {bits_per_sample}"
        )));
    }
    let ch = usize::from(channels);
    if !samples.len().is_multiple_of(ch) {
        return Err(invalid(format!(
            "{} interleaved samples do not divide into whole frames of {channels} channels",
            samples.len()
        )));
    }
    if let Some(i) = samples.iter().position(|s| !s.is_finite()) {
        return Err(invalid(format!(
            "sample {i} (frame {}, channel {}) is {}, not a finite number",
            i / ch,
            i % ch,
            samples[i]
        )));
    }
    let frames = samples.len() / ch;
    let bits = usize::from(bits_per_sample);
    let encoder_error = |e: &dyn std::fmt::Display| invalid(format!("FLAC encoding failed: {e}"));

    let mut stream = Stream::new(sample_rate as usize, ch, bits).map_err(|e| encoder_error(&e))?;
    let job = Job {
        samples,
        channels: ch,
        bits_per_sample,
        stream_info: stream.stream_info().clone(),
        best: verified(config::Encoder::default())?,
        verbatim: verified(verbatim_config())?,
    };

    let blocks = frames.div_ceil(BLOCK_SIZE);
    let threads = std::thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS)
        .min(blocks / MIN_BLOCKS_PER_THREAD)
        .max(1);
    let per_thread = blocks.div_ceil(threads).max(1);
    let (md5, parts) = std::thread::scope(|scope| {
        // The checksum covers the samples in order, so it runs beside the encoders, not in them.
        let md5 = scope.spawn(|| job.md5());
        let workers: Vec<_> = (0..blocks)
            .step_by(per_thread)
            .map(|first| {
                let job = &job;
                let last = (first + per_thread).min(blocks);
                scope.spawn(move || job.encode_blocks(first..last))
            })
            .collect();
        let parts: Vec<_> = workers
            .into_iter()
            .map(|w| {
                w.join()
                    .unwrap_or_else(|_| Err(invalid("FLAC encoder thread panicked")))
            })
            .collect();
        let md5 = md5
            .join()
            .unwrap_or_else(|_| Err(invalid("FLAC checksum thread panicked")));
        (md5, parts)
    });
    let md5 = md5?;
    let parts = parts.into_iter().collect::<Result<Vec<_>, _>>()?;

    let info = stream.stream_info_mut();
    // The reference encoder's convention for a fixed-size stream: both bounds are the nominal
    // block size, whatever the last block's length; symphonia treats min != max as a
    // variable-size stream and then rejects our numbered frames.
    info.set_block_sizes(BLOCK_SIZE, BLOCK_SIZE)
        .map_err(|e| encoder_error(&e))?;
    let sizes = parts.iter().flat_map(|p| p.frame_sizes.iter().copied());
    let (min_frame, max_frame) = sizes.fold((usize::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
    // 0 means "unknown", which is the truth for a stream without frames.
    let min_frame = if min_frame == usize::MAX {
        0
    } else {
        min_frame
    };
    info.set_frame_sizes(min_frame, max_frame)
        .map_err(|e| encoder_error(&e))?;
    info.set_total_samples(frames);
    info.set_md5_digest(&md5);

    let mut header = ByteSink::new();
    stream.write(&mut header).map_err(|e| encoder_error(&e))?;
    let body: usize = parts.iter().map(|p| p.bytes.len()).sum();
    let mut out = Vec::with_capacity(header.as_slice().len() + body);
    out.extend_from_slice(header.as_slice());
    for part in &parts {
        out.extend_from_slice(&part.bytes);
    }
    Ok(out)
}

fn verified(c: config::Encoder) -> Result<Verified<config::Encoder>, AudioError> {
    c.into_verified()
        .map_err(|(_, e)| invalid(format!("FLAC encoder configuration rejected: {e}")))
}

/// Verbatim (or constant) subframes only: the fallback that is never larger than raw PCM.
fn verbatim_config() -> config::Encoder {
    let mut c = config::Encoder::default();
    c.subframe_coding.use_fixed = false;
    c.subframe_coding.use_lpc = false;
    c.stereo_coding.use_leftside = false;
    c.stereo_coding.use_rightside = false;
    c.stereo_coding.use_midside = false;
    c
}

/// What every encoder thread shares.
struct Job<'a> {
    samples: &'a [f32],
    channels: usize,
    bits_per_sample: u8,
    stream_info: flacenc::component::StreamInfo,
    best: Verified<config::Encoder>,
    verbatim: Verified<config::Encoder>,
}

/// Encoded frames for a run of blocks.
struct Part {
    bytes: Vec<u8>,
    frame_sizes: Vec<usize>,
}

impl Job<'_> {
    /// Interleaved samples of block `i`, quantised into `out`.
    fn quantise_block(&self, i: usize, out: &mut Vec<i32>) {
        let start = i * BLOCK_SIZE * self.channels;
        let end = (start + BLOCK_SIZE * self.channels).min(self.samples.len());
        out.clear();
        out.extend(
            self.samples[start..end]
                .iter()
                .map(|&s| quantise(s, self.bits_per_sample)),
        );
    }

    fn encode_blocks(&self, blocks: std::ops::Range<usize>) -> Result<Part, AudioError> {
        let encoder_error =
            |e: &dyn std::fmt::Display| invalid(format!("FLAC encoding failed: {e}"));
        let mut framebuf =
            FrameBuf::with_size(self.channels, BLOCK_SIZE).map_err(|e| encoder_error(&e))?;
        let mut pcm = Vec::with_capacity(BLOCK_SIZE * self.channels);
        let mut part = Part {
            bytes: Vec::new(),
            frame_sizes: Vec::with_capacity(blocks.len()),
        };
        let mut sink = ByteSink::new();
        for i in blocks {
            self.quantise_block(i, &mut pcm);
            framebuf
                .fill_interleaved(&pcm)
                .map_err(|e| encoder_error(&e))?;
            let mut frame =
                flacenc::encode_fixed_size_frame(&self.best, &framebuf, i, &self.stream_info)
                    .map_err(|e| encoder_error(&e))?;
            let raw_bits = self.channels
                * (8 + usize::from(self.bits_per_sample) * pcm.len() / self.channels)
                + FRAME_OVERHEAD_BITS;
            if frame.count_bits() > raw_bits {
                frame = flacenc::encode_fixed_size_frame(
                    &self.verbatim,
                    &framebuf,
                    i,
                    &self.stream_info,
                )
                .map_err(|e| encoder_error(&e))?;
            }
            sink.clear();
            frame.write(&mut sink).map_err(|e| encoder_error(&e))?;
            part.bytes.extend_from_slice(sink.as_slice());
            part.frame_sizes.push(sink.as_slice().len());
        }
        Ok(part)
    }

    /// MD5 of the quantised samples as FLAC defines it (little-endian, interleaved).
    fn md5(&self) -> Result<[u8; 16], AudioError> {
        let mut context = Context::new(usize::from(self.bits_per_sample), self.channels);
        let mut pcm = Vec::with_capacity(BLOCK_SIZE * self.channels);
        let blocks = (self.samples.len() / self.channels).div_ceil(BLOCK_SIZE);
        for i in 0..blocks {
            self.quantise_block(i, &mut pcm);
            context
                .fill_interleaved(&pcm)
                .map_err(|e| invalid(format!("FLAC checksum failed: {e}")))?;
        }
        Ok(context.md5_digest())
    }
}

/// Float to integer PCM at `bits`, scaled by 2^(bits-1) as decoders divide by that, so a
/// round trip keeps the level (stems must still sum to the mixture); only +1.0 itself, which
/// has no integer, is pulled down by a step.
fn quantise(s: f32, bits: u8) -> i32 {
    let full = (1i64 << (bits - 1)) as f32;
    // Exact in f32 for 24 bits and below: the scale is a power of two.
    let v = (s.clamp(-1.0, 1.0) * full).round();
    (v as i32).min((1i32 << (bits - 1)) - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode;

    /// A music-like test signal: a few detuned partials under a slow tremolo, plus white noise
    /// from a deterministic LCG, slightly different per channel.
    fn music_like(seconds: f64, sample_rate: u32, channels: u16, peak: f32) -> Vec<f32> {
        noisy_music(seconds, sample_rate, channels, peak, 0.1)
    }

    /// `music_like` with noise of `noise` peak-to-peak relative to the tones.
    fn noisy_music(
        seconds: f64,
        sample_rate: u32,
        channels: u16,
        peak: f32,
        noise: f64,
    ) -> Vec<f32> {
        let frames = (seconds * f64::from(sample_rate)).round() as usize;
        let ch = usize::from(channels);
        let mut out = Vec::with_capacity(frames * ch);
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let tau = 2.0 * std::f64::consts::PI;
        for i in 0..frames {
            let t = i as f64 / f64::from(sample_rate);
            let env = 0.6 + 0.4 * (tau * 0.5 * t).sin();
            for c in 0..ch {
                let detune = 1.0 + 0.003 * c as f64;
                let tone = 0.5 * (tau * 220.0 * detune * t).sin()
                    + 0.25 * (tau * 331.0 * detune * t).sin()
                    + 0.12 * (tau * 1187.0 * t + c as f64).sin();
                x = x
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                let noise = ((x >> 40) as f64 / (1u64 << 24) as f64 - 0.5) * noise;
                out.push((f64::from(peak) * (env * tone + noise) / 0.97) as f32);
            }
        }
        out
    }

    fn invalid_message(result: Result<Vec<u8>, AudioError>) -> String {
        match result {
            Err(AudioError::Invalid(msg)) => msg,
            Err(other) => panic!("expected Invalid, got {other:?}"),
            Ok(bytes) => panic!("expected an error, got {} bytes of FLAC", bytes.len()),
        }
    }

    fn assert_round_trip(samples: &[f32], rate: u32, channels: u16, bits: u8) {
        let bytes = flac_bytes(samples, rate, channels, bits).unwrap();
        assert_eq!(&bytes[..4], b"fLaC");
        let audio = decode(&bytes, Some("flac")).unwrap();
        assert_eq!(audio.codec, "flac");
        assert_eq!(audio.sample_rate, rate);
        assert_eq!(audio.channels, channels);
        assert_eq!(audio.samples.len(), samples.len());
        let step = 1.0 / (1u32 << (bits - 1)) as f32;
        let worst = samples
            .iter()
            .zip(&audio.samples)
            .map(|(&a, &b)| (a.clamp(-1.0, 1.0) - b).abs())
            .fold(0.0f32, f32::max);
        // The margin covers f32 rounding in the decoder's integer-to-float conversion.
        assert!(
            worst <= step * 1.001,
            "{channels} ch {rate} Hz {bits} bit: error {worst} exceeds one step {step}"
        );
    }

    #[test]
    fn round_trips_through_decode_at_common_formats() {
        for rate in [44_100, 48_000] {
            for channels in [1, 2] {
                for bits in [16, 24] {
                    // 1.3 s: several 4096-frame blocks and a short last one.
                    let signal = music_like(1.3, rate, channels, 0.9);
                    assert_round_trip(&signal, rate, channels, bits);
                }
            }
        }
    }

    #[test]
    fn round_trips_odd_lengths_and_layouts() {
        for frames in [1usize, 15, 4095, 4096, 4097] {
            let signal = music_like(frames as f64 / 8000.0, 8000, 3, 0.5);
            assert_eq!(signal.len(), frames * 3);
            assert_round_trip(&signal, 8000, 3, 16);
        }
        let eight = music_like(0.2, 22_050, 8, 0.5);
        assert_round_trip(&eight, 22_050, 8, 24);
        // A rate no FLAC frame header can name, so it falls back to the STREAMINFO one.
        let odd_rate = music_like(0.2, 77_777, 1, 0.5);
        assert_round_trip(&odd_rate, 77_777, 1, 16);
    }

    #[test]
    fn long_input_takes_the_threaded_path() {
        let frames = BLOCK_SIZE * MIN_BLOCKS_PER_THREAD * 2 + 1234;
        let signal = music_like(frames as f64 / 48_000.0, 48_000, 2, 0.8);
        assert_round_trip(&signal, 48_000, 2, 16);
    }

    #[test]
    fn noisy_24_bit_audio_is_never_much_larger_than_pcm() {
        // Unpatched flacenc turned 10 s of this into over 600 times its PCM size.
        let frames = 44_100 * 4;
        let signal = music_like(frames as f64 / 44_100.0, 44_100, 2, 0.9);
        let bytes = flac_bytes(&signal, 44_100, 2, 24).unwrap();
        let pcm = frames * 2 * 3;
        assert!(
            bytes.len() < pcm + pcm / 50,
            "{} bytes for {pcm} of PCM",
            bytes.len()
        );
        assert_round_trip(&signal, 44_100, 2, 24);
    }

    #[test]
    fn stream_info_describes_the_stream() {
        let frames = BLOCK_SIZE * MIN_BLOCKS_PER_THREAD * 2 + 77;
        let signal = music_like(frames as f64 / 48_000.0, 48_000, 2, 0.5);
        let bytes = flac_bytes(&signal, 48_000, 2, 24).unwrap();
        let info = &bytes[8..8 + 34];
        let u16_at = |o: usize| usize::from(u16::from_be_bytes([info[o], info[o + 1]]));
        assert_eq!((u16_at(0), u16_at(2)), (BLOCK_SIZE, BLOCK_SIZE));
        let packed = u64::from_be_bytes(info[10..18].try_into().unwrap());
        assert_eq!(packed & ((1 << 36) - 1), frames as u64);
        // The MD5 must be that of the samples a decoder gets back.
        let audio = decode(&bytes, None).unwrap();
        let mut context = Context::new(24, 2);
        let pcm: Vec<i32> = audio.samples.iter().map(|&s| quantise(s, 24)).collect();
        context.fill_interleaved(&pcm).unwrap();
        assert_eq!(&info[18..34], &context.md5_digest());
    }

    #[test]
    fn full_scale_and_beyond_is_clipped() {
        let signal = [1.5f32, -1.5, 1.0, -1.0, 0.0, 0.25, 2e30, -2e30];
        for bits in [16, 24] {
            let audio = decode(&flac_bytes(&signal, 44_100, 2, bits).unwrap(), None).unwrap();
            assert_eq!(audio.samples.len(), signal.len());
            assert!(audio.samples.iter().all(|s| (-1.0..=1.0).contains(s)));
            let step = 1.0 / (1u32 << (bits - 1)) as f32;
            assert!(audio.samples[0] <= 1.0 && audio.samples[0] >= 1.0 - step * 1.001);
            assert_eq!(audio.samples[1], -1.0);
            assert_eq!(audio.samples[3], -1.0);
            assert_eq!(audio.samples[4], 0.0);
            assert_eq!(audio.samples[5], 0.25);
        }
    }

    #[test]
    fn quantises_symmetrically_around_zero() {
        assert_eq!(quantise(0.5, 16), 16384);
        assert_eq!(quantise(-0.5, 16), -16384);
        assert_eq!(quantise(1.0, 16), 32767);
        assert_eq!(quantise(-1.0, 16), -32768);
        assert_eq!(quantise(1.0, 24), 8_388_607);
        assert_eq!(quantise(-1.0, 24), -8_388_608);
        assert_eq!(quantise(0.4 / 32768.0, 16), 0);
    }

    #[test]
    fn empty_input_is_a_valid_stream_of_no_samples() {
        let bytes = flac_bytes(&[], 48_000, 2, 24).unwrap();
        assert_eq!(&bytes[..4], b"fLaC");
        // STREAMINFO: last-block flag and type 0, length 34, then packed rate/channels/bits/total.
        assert_eq!(bytes[4] & 0x7F, 0);
        assert_eq!(&bytes[5..8], &[0, 0, 34]);
        assert_eq!(bytes.len(), 8 + 34, "no frames follow");
        let packed = u64::from_be_bytes(bytes[18..26].try_into().unwrap());
        assert_eq!(packed >> 44, 48_000);
        assert_eq!((packed >> 41) & 0x7, 2 - 1);
        assert_eq!((packed >> 36) & 0x1F, 24 - 1);
        assert_eq!(packed & ((1 << 36) - 1), 0);
        // Our decoder treats a file with no audio as an error, not as zero frames.
        assert!(decode(&bytes, Some("flac")).is_err());
    }

    #[test]
    fn bad_arguments_are_rejected_with_reasons() {
        let stereo = [0.0f32; 8];
        assert!(invalid_message(flac_bytes(&stereo, 44_100, 0, 16)).contains("channels"));
        assert!(invalid_message(flac_bytes(&[0.0; 9], 44_100, 9, 16)).contains("channels"));
        assert!(invalid_message(flac_bytes(&stereo, 0, 2, 16)).contains("Hz"));
        assert!(invalid_message(flac_bytes(&stereo, 192_000, 2, 16)).contains("96000 Hz"));
        for bits in [0, 8, 20, 32] {
            assert!(invalid_message(flac_bytes(&stereo, 44_100, 2, bits)).contains("bits"));
        }
        assert!(invalid_message(flac_bytes(&[0.0; 7], 44_100, 2, 16)).contains("whole frames"));
        let mut hostile = vec![0.1f32; 10];
        hostile[5] = f32::NAN;
        let msg = invalid_message(flac_bytes(&hostile, 44_100, 2, 16));
        assert!(
            msg.contains("frame 2, channel 1") && msg.contains("NaN"),
            "{msg}"
        );
        hostile[5] = f32::NEG_INFINITY;
        assert!(invalid_message(flac_bytes(&hostile, 44_100, 2, 16)).contains("inf"));
        // The limits themselves are fine.
        assert!(flac_bytes(&[0.0; 8], MAX_SAMPLE_RATE, MAX_CHANNELS, 16).is_ok());
        assert!(flac_bytes(&[0.0; 1], 1, 1, 24).is_ok());
    }

    #[test]
    fn encoding_is_deterministic() {
        let signal = music_like(0.5, 44_100, 2, 0.7);
        let a = flac_bytes(&signal, 44_100, 2, 16).unwrap();
        assert_eq!(a, flac_bytes(&signal, 44_100, 2, 16).unwrap());
        let long = music_like(7.0, 44_100, 2, 0.7);
        assert_eq!(
            flac_bytes(&long, 44_100, 2, 16).unwrap(),
            flac_bytes(&long, 44_100, 2, 16).unwrap()
        );
    }

    /// Timing for 180 s of 44.1 kHz stereo; run with
    /// `cargo test --release -p coda-audio flac_speed -- --ignored --nocapture`.
    #[test]
    #[ignore = "timing report, not a check"]
    fn flac_speed_report() {
        // Noise at about -30 dBFS and at about -70 dBFS under the same tones.
        for noise in [0.1, 0.001] {
            let signal = noisy_music(180.0, 44_100, 2, 0.8, noise);
            for bits in [16u8, 24] {
                let start = std::time::Instant::now();
                let flac = flac_bytes(&signal, 44_100, 2, bits).unwrap();
                let secs = start.elapsed().as_secs_f64();
                let wav = 44 + signal.len() * usize::from(bits) / 8;
                eprintln!(
                    "noise {noise}, {bits}-bit: {secs:.2} s to encode 180 s; FLAC {} bytes, \
                     WAV {wav} bytes ({:.1}%)",
                    flac.len(),
                    100.0 * flac.len() as f64 / wav as f64
                );
            }
        }
    }
}
