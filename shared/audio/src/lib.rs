//! Audio decoding, WAV writing and level measurement for Coda.
//!
//! Everything works on whole files held in memory: uploads and generated clips are small enough
//! that streaming would only add complexity.

#![warn(missing_docs)]

pub mod flac;

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use symphonia::core::audio::{SampleBuffer, SignalSpec};
use symphonia::core::codecs::{
    CodecType, DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_PCM_ALAW, CODEC_TYPE_PCM_F32BE,
    CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_F64BE, CODEC_TYPE_PCM_F64LE, CODEC_TYPE_PCM_MULAW,
    CODEC_TYPE_PCM_S16BE, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24BE, CODEC_TYPE_PCM_S24LE,
    CODEC_TYPE_PCM_S32BE, CODEC_TYPE_PCM_S32LE, CODEC_TYPE_PCM_S8, CODEC_TYPE_PCM_U16BE,
    CODEC_TYPE_PCM_U16LE, CODEC_TYPE_PCM_U24BE, CODEC_TYPE_PCM_U24LE, CODEC_TYPE_PCM_U32BE,
    CODEC_TYPE_PCM_U32LE, CODEC_TYPE_PCM_U8,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatOptions;
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;

/// Longest audio `decode` accepts; beyond this a file is treated as hostile or a mistake.
pub const MAX_DURATION_S: u64 = 4 * 60 * 60;

/// Memory cap alongside the duration cap (4 hours of 48 kHz stereo, 5.5 GB of f32): a tiny FLAC
/// of 32-channel 192 kHz silence would otherwise expand past any server's memory, and running
/// out of memory aborts the process rather than unwinding.
const MAX_SAMPLES: usize = MAX_DURATION_S as usize * 48_000 * 2;

/// Floor reported by `measure` instead of -inf so levels stay JSON friendly.
pub const SILENCE_FLOOR_DBFS: f64 = -200.0;

/// Decoded PCM, interleaved f32 nominally in [-1, 1] (float sources may exceed it).
#[derive(Debug, Clone, PartialEq)]
pub struct DecodedAudio {
    /// Frames per second.
    pub sample_rate: u32,
    /// Interleaved channel count (at least 1).
    pub channels: u16,
    /// Short lowercase codec name, e.g. "pcm_s16le", "flac", "mp3", "vorbis", "aac".
    pub codec: String,
    /// Interleaved samples, `frames() * channels` long.
    pub samples: Vec<f32>,
}

impl DecodedAudio {
    /// Number of frames (samples per channel).
    pub fn frames(&self) -> u64 {
        if self.channels == 0 {
            return 0;
        }
        (self.samples.len() / usize::from(self.channels)) as u64
    }

    /// Duration in seconds.
    pub fn duration_s(&self) -> f64 {
        if self.sample_rate == 0 {
            return 0.0;
        }
        self.frames() as f64 / f64::from(self.sample_rate)
    }
}

/// Errors from decoding or writing audio.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// Not audio, corrupt, truncated or empty; the message says what was wrong in plain words
    #[error("{0}")]
    Invalid(String),
    /// I/O problem writing output
    #[error("audio i/o: {0}")]
    Io(String),
}

impl From<std::io::Error> for AudioError {
    fn from(e: std::io::Error) -> Self {
        AudioError::Io(e.to_string())
    }
}

fn invalid(msg: impl Into<String>) -> AudioError {
    AudioError::Invalid(msg.into())
}

/// Decodes a whole file from memory (WAV, AIFF, FLAC, MP3, OGG/Vorbis, AAC/M4A, ALAC, CAF, MKV/WebM); `ext_hint` like Some("mp3").
pub fn decode(bytes: &[u8], ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(invalid("file is empty"));
    }
    // symphonia's MediaSource must be 'static, so a borrowed slice cannot be handed over.
    let owned = bytes.to_vec();
    // symphonia 0.5 panics on some malformed input (e.g. an MP3 LAME tag whose delay exceeds the
    // declared length underflows a subtraction); a bad upload must never take a worker down.
    // This relies on the default panic = "unwind".
    match catch_unwind(AssertUnwindSafe(|| decode_owned(owned, ext_hint))) {
        Ok(result) => result,
        Err(_) => Err(invalid("decoder failed on malformed data")),
    }
}

/// Codecs whose declared length is exact, so any shortfall means the file was cut.
fn is_pcm(codec: CodecType) -> bool {
    [
        CODEC_TYPE_PCM_S8,
        CODEC_TYPE_PCM_U8,
        CODEC_TYPE_PCM_S16LE,
        CODEC_TYPE_PCM_S16BE,
        CODEC_TYPE_PCM_U16LE,
        CODEC_TYPE_PCM_U16BE,
        CODEC_TYPE_PCM_S24LE,
        CODEC_TYPE_PCM_S24BE,
        CODEC_TYPE_PCM_U24LE,
        CODEC_TYPE_PCM_U24BE,
        CODEC_TYPE_PCM_S32LE,
        CODEC_TYPE_PCM_S32BE,
        CODEC_TYPE_PCM_U32LE,
        CODEC_TYPE_PCM_U32BE,
        CODEC_TYPE_PCM_F32LE,
        CODEC_TYPE_PCM_F32BE,
        CODEC_TYPE_PCM_F64LE,
        CODEC_TYPE_PCM_F64BE,
        CODEC_TYPE_PCM_ALAW,
        CODEC_TYPE_PCM_MULAW,
    ]
    .contains(&codec)
}

/// Seconds for a timestamp, computed by hand because `TimeBase::calc_time` asserts on a zero
/// numerator or denominator, which a hostile header can supply.
fn ts_seconds(ts: u64, tb: Option<(u32, u32)>, sample_rate: u32) -> Option<f64> {
    match tb {
        Some((numer, denom)) if numer > 0 && denom > 0 => {
            Some(ts as f64 * f64::from(numer) / f64::from(denom))
        }
        _ if sample_rate > 0 => Some(ts as f64 / f64::from(sample_rate)),
        _ => None,
    }
}

/// Names the container from its magic bytes, so a file that probes as truncated can be told
/// apart from arbitrary bytes that merely contained something resembling a sync word.
fn sniff_container(b: &[u8]) -> Option<&'static str> {
    let at = |offset: usize, magic: &[u8]| b.get(offset..offset + magic.len()) == Some(magic);
    if at(0, b"RIFF") || at(0, b"RIFX") || at(0, b"RF64") {
        Some("WAV")
    } else if at(0, b"FORM") {
        Some("AIFF")
    } else if at(0, b"fLaC") {
        Some("FLAC")
    } else if at(0, b"OggS") {
        Some("Ogg")
    } else if at(4, b"ftyp") || at(4, b"moov") {
        Some("MP4")
    } else if at(0, b"ID3") {
        Some("MP3")
    } else if at(0, &[0x1A, 0x45, 0xDF, 0xA3]) {
        Some("Matroska/WebM")
    } else if at(0, b"caff") {
        Some("CAF")
    } else {
        None
    }
}

/// Frame count from an AIFF COMM chunk. symphonia 0.5 derives AIFF length from the SSND chunk
/// size without subtracting its 8-byte offset/block-size prefix, overstating it by a frame or
/// more, and then reads those 8 bytes past the sound data as audio.
fn aiff_declared_frames(b: &[u8]) -> Option<u64> {
    let form = b.get(8..12)?;
    if b.get(0..4)? != b"FORM" || (form != b"AIFF" && form != b"AIFC") {
        return None;
    }
    let mut pos = 12usize;
    while let Some(header) = b.get(pos..pos + 8) {
        let len = u32::from_be_bytes([header[4], header[5], header[6], header[7]]) as usize;
        if &header[0..4] == b"COMM" {
            let body = b.get(pos + 8..pos + 14)?;
            return Some(u64::from(u32::from_be_bytes([
                body[2], body[3], body[4], body[5],
            ])));
        }
        pos = pos.checked_add(8)?.checked_add(len)?.checked_add(len & 1)?;
    }
    None
}

/// Where a decode problem happened, in seconds, for error messages.
fn packet_time(ts: u64, tb: Option<(u32, u32)>, rate: u32, frames_out: u64) -> f64 {
    ts_seconds(ts, tb, rate).unwrap_or(frames_out as f64 / f64::from(rate.max(1)))
}

fn decode_owned(bytes: Vec<u8>, ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    let n_bytes = bytes.len();
    let container = sniff_container(&bytes);
    let aiff_frames = aiff_declared_frames(&bytes);
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());

    let mut hint = Hint::new();
    if let Some(ext) = ext_hint {
        let ext = ext.trim().trim_start_matches('.').to_ascii_lowercase();
        if !ext.is_empty() {
            hint.with_extension(&ext);
        }
    }

    // Gapless trimming makes MP3 lengths match what was encoded, not the padded frames.
    let format_opts = FormatOptions {
        enable_gapless: true,
        ..Default::default()
    };
    let probed = symphonia::default::get_probe()
        .format(&hint, mss, &format_opts, &MetadataOptions::default())
        .map_err(|e| match (e, container) {
            // The probe reports an EOF both for a cut-off header and for random bytes in which it
            // spotted something like a sync word, so only blame truncation on a real container.
            (SymError::IoError(_), Some(kind)) => {
                invalid(format!("truncated: the {kind} file ends unexpectedly"))
            }
            (SymError::IoError(_) | SymError::Unsupported(_), _) => {
                invalid("not a recognised audio format")
            }
            (other, _) => invalid(format!("corrupt or unreadable file: {other}")),
        })?;
    let mut format = probed.format;

    let track = format
        .tracks()
        .iter()
        .find(|t| t.codec_params.codec != CODEC_TYPE_NULL)
        .ok_or_else(|| invalid("no audio track found"))?;
    let track_id = track.id;
    let params = track.codec_params.clone();

    let codec_type = params.codec;
    let codecs = symphonia::default::get_codecs();
    let codec = codecs
        .get_codec(codec_type)
        .map(|d| d.short_name.to_string())
        .ok_or_else(|| {
            invalid(format!(
                "unsupported codec in {} file (e.g. Opus is not decodable)",
                container.unwrap_or("this")
            ))
        })?;

    let declared_rate = params.sample_rate.unwrap_or(0);
    let time_base = params.time_base.map(|tb| (tb.numer, tb.denom));
    let lossless = is_pcm(codec_type) || codec == "flac" || codec == "alac";

    // Declared length in seconds, since e.g. MP4 counts in its own media timescale rather than
    // in samples. None where the header's figure cannot be trusted as a length.
    let declared_secs = if let (Some(frames), true) = (aiff_frames, declared_rate > 0) {
        Some(frames as f64 / f64::from(declared_rate))
    } else {
        let mut n = params.n_frames.filter(|&n| n > 0);
        // Without a LAME tag symphonia guesses an MP3's length from the first frames' bitrate,
        // which for VBR can be far off; only the Xing/LAME figure is a real declaration.
        if matches!(codec.as_str(), "mp1" | "mp2" | "mp3") && params.delay.is_none() {
            n = None;
        }
        // A RIFF data size of 0xFFFFFFFF is what streaming writers such as
        // `ffmpeg ... -f wav pipe:` emit; it means "unknown", not "truncated".
        if let (Some(frames), Some(bits), Some(ch), true) = (
            n,
            params.bits_per_coded_sample,
            params.channels.map(|c| c.count() as u64),
            is_pcm(codec_type),
        ) {
            let frame_bytes = (u64::from(bits) / 8).max(1) * ch.max(1);
            if frames.saturating_mul(frame_bytes) >= u64::from(u32::MAX) - frame_bytes {
                n = None;
            }
        }
        n.and_then(|n| ts_seconds(n, time_base, declared_rate))
    };
    if let Some(secs) = declared_secs {
        if secs > MAX_DURATION_S as f64 {
            return Err(invalid(format!(
                "too long: header declares {secs:.0} s of audio, the limit is {} hours",
                MAX_DURATION_S / 3600
            )));
        }
    }

    let mut decoder = codecs
        .make(&params, &DecoderOptions::default())
        .map_err(|e| match e {
            SymError::Unsupported(what) => invalid(format!("unsupported {codec} stream: {what}")),
            other => invalid(format!("cannot decode {codec} stream: {other}")),
        })?;

    let mut samples: Vec<f32> = Vec::new();
    if let (Some(secs), true) = (declared_secs, declared_rate > 0) {
        // Trust the header only as far as the file size could back it up, so a lying header
        // cannot force a huge allocation before a single packet has decoded.
        let ch = params.channels.map(|c| c.count() as f64).unwrap_or(1.0);
        let wanted = secs * f64::from(declared_rate) * ch;
        samples.reserve(wanted.min(n_bytes as f64 * 8.0).min(MAX_SAMPLES as f64) as usize);
    }
    let mut spec: Option<SignalSpec> = None;
    let mut sample_buf: Option<SampleBuffer<f32>> = None;
    let mut frames_out: u64 = 0;
    let mut good_packets: u64 = 0;
    let mut bad_packets: u64 = 0;
    let mut first_bad: Option<(f64, String)> = None;
    // Where the last good packet's audio ends, in seconds: tells "data missing mid-stream" from
    // "cut short". Uses the decoded length because a packet's own duration comes from the header.
    let mut last_end_s: f64 = 0.0;

    loop {
        let packet = match format.next_packet() {
            Ok(p) => p,
            // symphonia reports end of stream as an UnexpectedEof I/O error, including for a file
            // cut short; the declared-length check below is what catches truncation.
            Err(SymError::IoError(_)) => break,
            // Only chained OGG streams do this; the first logical stream is what we want.
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                let at = frames_out as f64 / f64::from(declared_rate.max(1));
                return Err(if frames_out == 0 {
                    invalid(format!("could not read audio data: {e}"))
                } else {
                    invalid(format!("decode error at {at:.2} s: {e}"))
                });
            }
        };
        if packet.track_id() != track_id {
            continue;
        }
        match decoder.decode(&packet) {
            Ok(buf) => {
                let buf_spec = *buf.spec();
                match spec {
                    None => {
                        let ch = buf_spec.channels.count();
                        if buf_spec.rate == 0 || ch == 0 || ch > usize::from(u16::MAX) {
                            return Err(invalid(format!(
                                "stream declares an impossible layout: {} Hz, {ch} channels",
                                buf_spec.rate
                            )));
                        }
                        spec = Some(buf_spec);
                    }
                    Some(s) if s != buf_spec => {
                        let at = frames_out as f64 / f64::from(s.rate);
                        return Err(invalid(format!(
                            "audio format changes mid-stream at {at:.2} s \
                             ({} Hz/{} ch to {} Hz/{} ch), which is not supported",
                            s.rate,
                            s.channels.count(),
                            buf_spec.rate,
                            buf_spec.channels.count()
                        )));
                    }
                    Some(_) => {}
                }
                good_packets += 1;
                let n_frames = buf.frames();
                last_end_s = packet_time(packet.ts(), time_base, buf_spec.rate, frames_out)
                    + n_frames as f64 / f64::from(buf_spec.rate);
                if n_frames == 0 {
                    continue;
                }
                let needed = n_frames * buf_spec.channels.count();
                let sb = match &mut sample_buf {
                    Some(sb) if sb.capacity() >= needed => sb,
                    slot => slot.insert(SampleBuffer::new(buf.capacity() as u64, buf_spec)),
                };
                sb.copy_interleaved_ref(buf);
                // NaN/inf can only come from float PCM; they would poison every level downstream.
                samples.extend(
                    sb.samples()
                        .iter()
                        .map(|&s| if s.is_finite() { s } else { 0.0 }),
                );
                frames_out += n_frames as u64;
                if frames_out / u64::from(buf_spec.rate) > MAX_DURATION_S {
                    return Err(invalid(format!(
                        "too long: more than {} hours of audio",
                        MAX_DURATION_S / 3600
                    )));
                }
                if samples.len() > MAX_SAMPLES {
                    return Err(invalid(format!(
                        "too long: {} channels at {} Hz exceed the decoded size limit after {:.0} s",
                        buf_spec.channels.count(),
                        buf_spec.rate,
                        frames_out as f64 / f64::from(buf_spec.rate)
                    )));
                }
            }
            // A damaged packet is skipped as symphonia's own tools do; too many fail the file.
            Err(SymError::DecodeError(e)) => {
                bad_packets += 1;
                let rate = spec.map_or(declared_rate, |s| s.rate);
                let at = packet_time(packet.ts(), time_base, rate, frames_out);
                first_bad.get_or_insert((at, e.to_string()));
            }
            Err(SymError::IoError(e)) => {
                bad_packets += 1;
                let rate = spec.map_or(declared_rate, |s| s.rate);
                let at = packet_time(packet.ts(), time_base, rate, frames_out);
                first_bad.get_or_insert((at, format!("packet ends early ({e})")));
            }
            Err(SymError::Unsupported(what)) => {
                return Err(invalid(format!("unsupported {codec} feature: {what}")));
            }
            Err(SymError::ResetRequired) => break,
            Err(e) => {
                let at = frames_out as f64 / f64::from(declared_rate.max(1));
                return Err(invalid(format!("decode error at {at:.2} s: {e}")));
            }
        }
    }

    let Some(spec) = spec else {
        return Err(match (first_bad, declared_secs) {
            (Some((at, e)), _) => invalid(format!(
                "no audio could be decoded: {bad_packets} packet(s) failed, first at {at:.2} s: {e}"
            )),
            (None, Some(secs)) => invalid(format!(
                "truncated: header declares {} frames but only 0 could be decoded",
                (secs * f64::from(declared_rate)).round() as u64
            )),
            (None, None) => invalid("file contains no audio"),
        });
    };
    let channels = spec.channels.count();

    // Arbitrary bytes can contain MPEG sync words; garbage "decodes" into a few frames surrounded
    // by failures, while a genuine file with a scratch fails only occasionally.
    if bad_packets > good_packets {
        let (at, e) = first_bad.unwrap_or_default();
        return Err(invalid(format!(
            "corrupt: {bad_packets} of {} packets failed to decode, first at {at:.2} s: {e}",
            bad_packets + good_packets
        )));
    }

    if let Some(secs) = declared_secs {
        let declared = (secs * f64::from(spec.rate)).round() as u64;
        // Lossy decoders emit whole blocks, so the last one runs into encoder padding beyond the
        // declared end (symphonia 0.5 does not trim it for Vorbis or AAC).
        if frames_out > declared {
            samples.truncate(declared as usize * channels);
            frames_out = declared;
        }
        // Lossy codecs may legitimately differ by encoder delay/padding; lossless is exact.
        let short = if lossless {
            frames_out < declared
        } else {
            (frames_out as f64) < 0.9 * declared as f64
        };
        if short {
            let reached_end = last_end_s + 0.5 / f64::from(spec.rate) >= secs;
            return Err(if reached_end {
                invalid(format!(
                    "corrupt: header declares {declared} frames but only {frames_out} could be \
                     decoded; damaged data in the middle of the stream was skipped"
                ))
            } else {
                invalid(format!(
                    "truncated: header declares {declared} frames but only {frames_out} could be decoded"
                ))
            });
        }
    }

    Ok(DecodedAudio {
        sample_rate: spec.rate,
        channels: channels as u16,
        codec,
        samples,
    })
}

/// Levels of decoded audio.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Levels {
    /// Sample peak over all channels, dBFS, floored at -200.
    pub peak_dbfs: f64,
    /// RMS over all samples of all channels, dBFS, floored at -200.
    pub rms_dbfs: f64,
    /// ITU-R BS.1770 integrated loudness; None when too short or silent to gate.
    pub loudness_lufs: Option<f64>,
}

fn to_dbfs(linear: f64) -> f64 {
    if linear > 0.0 {
        (20.0 * linear.log10()).max(SILENCE_FLOOR_DBFS)
    } else {
        SILENCE_FLOOR_DBFS
    }
}

/// Measures sample peak, RMS and BS.1770 integrated loudness (via the `ebur128` crate).
pub fn measure(audio: &DecodedAudio) -> Levels {
    let mut peak = 0.0f64;
    let mut sum_sq = 0.0f64;
    for &s in &audio.samples {
        let s = f64::from(s);
        peak = peak.max(s.abs());
        sum_sq += s * s;
    }
    let rms = if audio.samples.is_empty() {
        0.0
    } else {
        (sum_sq / audio.samples.len() as f64).sqrt()
    };
    Levels {
        peak_dbfs: to_dbfs(peak),
        rms_dbfs: to_dbfs(rms),
        loudness_lufs: integrated_loudness(audio),
    }
}

fn integrated_loudness(audio: &DecodedAudio) -> Option<f64> {
    use ebur128::{EbuR128, Mode};
    let channels = u32::from(audio.channels);
    if channels == 0 || audio.frames() == 0 {
        return None;
    }
    let mut meter = EbuR128::new(channels, audio.sample_rate, Mode::I | Mode::SAMPLE_PEAK).ok()?;
    // Whole frames only: ebur128 rejects a trailing partial frame.
    let whole = audio.frames() as usize * usize::from(audio.channels);
    meter.add_frames_f32(&audio.samples[..whole]).ok()?;
    // ebur128 reports -inf (or gates everything) for silence and for clips under one 400 ms block.
    meter.loudness_global().ok().filter(|l| l.is_finite())
}

/// Writes the RIFF/WAVE header; sizes saturate at u32::MAX, the conventional "unknown length",
/// rather than wrapping when the data exceeds what RIFF can describe.
fn wav_header(
    out: &mut Vec<u8>,
    format_tag: u16,
    bits: u16,
    sample_rate: u32,
    channels: u16,
    frames: u64,
) {
    let block_align = channels.saturating_mul(bits / 8);
    let data_len = frames.saturating_mul(u64::from(block_align));
    let data_len32 = u32::try_from(data_len).unwrap_or(u32::MAX);
    let is_float = format_tag == 3;
    // Non-PCM formats need the cbSize field and a fact chunk per the RIFF spec.
    let fmt_len: u32 = if is_float { 18 } else { 16 };
    let fact_len: u32 = if is_float { 12 } else { 0 };
    let riff_len = (4 + 8 + fmt_len + fact_len)
        .saturating_add(8)
        .saturating_add(data_len32);

    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&riff_len.to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&fmt_len.to_le_bytes());
    out.extend_from_slice(&format_tag.to_le_bytes());
    out.extend_from_slice(&channels.to_le_bytes());
    out.extend_from_slice(&sample_rate.to_le_bytes());
    let byte_rate = sample_rate.saturating_mul(u32::from(block_align));
    out.extend_from_slice(&byte_rate.to_le_bytes());
    out.extend_from_slice(&block_align.to_le_bytes());
    out.extend_from_slice(&bits.to_le_bytes());
    if is_float {
        out.extend_from_slice(&0u16.to_le_bytes());
        out.extend_from_slice(b"fact");
        out.extend_from_slice(&4u32.to_le_bytes());
        let frames32 = u32::try_from(frames).unwrap_or(u32::MAX);
        out.extend_from_slice(&frames32.to_le_bytes());
    }
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len32.to_le_bytes());
}

/// Encodes interleaved samples as 16-bit PCM WAV bytes (clamped to [-1, 1]; channels 0 acts as 1).
pub fn wav_bytes_i16(samples: &[f32], sample_rate: u32, channels: u16) -> Vec<u8> {
    let channels = channels.max(1);
    let frames = samples.len() / usize::from(channels);
    let whole = &samples[..frames * usize::from(channels)];
    let mut out = Vec::with_capacity(44 + whole.len() * 2);
    wav_header(&mut out, 1, 16, sample_rate, channels, frames as u64);
    for &s in whole {
        let s = if s.is_finite() {
            s.clamp(-1.0, 1.0)
        } else {
            0.0
        };
        // Symmetric scaling keeps +1.0 representable; decoders divide by 32768, a 0.0003 dB loss.
        let v = (s * 32767.0).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

/// Encodes interleaved samples as 32-bit IEEE float WAV bytes (unclamped; channels 0 acts as 1).
pub fn wav_bytes_f32(samples: &[f32], sample_rate: u32, channels: u16) -> Vec<u8> {
    let channels = channels.max(1);
    let frames = samples.len() / usize::from(channels);
    let whole = &samples[..frames * usize::from(channels)];
    let mut out = Vec::with_capacity(58 + whole.len() * 4);
    wav_header(&mut out, 3, 32, sample_rate, channels, frames as u64);
    for &s in whole {
        let s = if s.is_finite() { s } else { 0.0 };
        out.extend_from_slice(&s.to_le_bytes());
    }
    out
}

/// Generates an interleaved sine tone with linear `amplitude`, identical on every channel.
pub fn sine(
    freq_hz: f64,
    amplitude: f32,
    seconds: f64,
    sample_rate: u32,
    channels: u16,
) -> Vec<f32> {
    let frames = if seconds.is_finite() && seconds > 0.0 {
        (seconds * f64::from(sample_rate)).round() as usize
    } else {
        0
    };
    let channels = usize::from(channels);
    let step = 2.0 * std::f64::consts::PI * freq_hz / f64::from(sample_rate.max(1));
    let mut out = Vec::with_capacity(frames * channels);
    for i in 0..frames {
        // Phase from the index, not an accumulator, so long tones do not drift.
        let v = (f64::from(amplitude) * (step * i as f64).sin()) as f32;
        out.extend(std::iter::repeat_n(v, channels));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dbfs_floor_replaces_minus_infinity() {
        assert_eq!(to_dbfs(0.0), SILENCE_FLOOR_DBFS);
        assert_eq!(to_dbfs(1e-30), SILENCE_FLOOR_DBFS);
        assert!((to_dbfs(0.5) - -6.0206).abs() < 1e-4);
    }

    #[test]
    fn zero_time_base_does_not_divide_by_zero() {
        assert_eq!(ts_seconds(44100, Some((0, 0)), 44100), Some(1.0));
        assert_eq!(ts_seconds(1000, Some((1, 1000)), 0), Some(1.0));
        assert_eq!(ts_seconds(5, None, 0), None);
    }

    #[test]
    fn sniffs_containers_by_magic() {
        assert_eq!(sniff_container(b"RIFF\0\0\0\0WAVE"), Some("WAV"));
        assert_eq!(sniff_container(b"\0\0\0\x20ftypM4A "), Some("MP4"));
        assert_eq!(sniff_container(b"OggS"), Some("Ogg"));
        assert_eq!(sniff_container(b"Ogg"), None);
        assert_eq!(sniff_container(b"hello world"), None);
    }

    #[test]
    fn reads_aiff_comm_frame_count() {
        let mut b = b"FORM\0\0\0\0AIFF".to_vec();
        // An odd-sized chunk first, to exercise the pad byte.
        b.extend_from_slice(b"NAME\0\0\0\x03abc\0");
        b.extend_from_slice(b"COMM\0\0\0\x12\0\x02\0\0\x22\x74");
        assert_eq!(aiff_declared_frames(&b), Some(0x2274));
        assert_eq!(aiff_declared_frames(&b[..30]), None);
        assert_eq!(aiff_declared_frames(b"RIFF\0\0\0\0WAVE"), None);
    }

    #[test]
    fn wav_header_sizes_are_consistent() {
        let wav = wav_bytes_f32(&[0.0; 6], 48000, 2);
        let u32_at = |o: usize| u32::from_le_bytes([wav[o], wav[o + 1], wav[o + 2], wav[o + 3]]);
        assert_eq!(u32_at(4) as usize, wav.len() - 8);
        assert_eq!(&wav[wav.len() - 24 - 8..wav.len() - 24 - 4], b"data");
        assert_eq!(u32_at(wav.len() - 24 - 4), 24);
        // A stray half frame is dropped rather than written as a torn frame.
        assert_eq!(wav_bytes_i16(&[0.0; 5], 8000, 2).len(), 44 + 8);
    }
}
