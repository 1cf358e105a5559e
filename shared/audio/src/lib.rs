//! Audio decoding, WAV writing and level measurement for Coda.
//!
//! Everything works on whole files held in memory: uploads and generated clips are small enough
//! that streaming would only add complexity.

#![warn(missing_docs)]

pub mod flac;
mod preflight;

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};

use symphonia::core::audio::{SampleBuffer, SignalSpec};
use symphonia::core::codecs::{
    CodecParameters, CodecType, DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_PCM_ALAW,
    CODEC_TYPE_PCM_F32BE, CODEC_TYPE_PCM_F32LE, CODEC_TYPE_PCM_F64BE, CODEC_TYPE_PCM_F64LE,
    CODEC_TYPE_PCM_MULAW, CODEC_TYPE_PCM_S16BE, CODEC_TYPE_PCM_S16LE, CODEC_TYPE_PCM_S24BE,
    CODEC_TYPE_PCM_S24LE, CODEC_TYPE_PCM_S32BE, CODEC_TYPE_PCM_S32LE, CODEC_TYPE_PCM_S8,
    CODEC_TYPE_PCM_U16BE, CODEC_TYPE_PCM_U16LE, CODEC_TYPE_PCM_U24BE, CODEC_TYPE_PCM_U24LE,
    CODEC_TYPE_PCM_U32BE, CODEC_TYPE_PCM_U32LE, CODEC_TYPE_PCM_U8,
};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader};
use symphonia::core::io::{MediaSourceStream, ReadBytes};
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
    decode_as(bytes, ext_hint, false)
}

/// Like [`decode`], with each frame's channels averaged into one (summed in channel order as
/// f32, then divided by the channel count), so `channels` is 1. For a multichannel WAV this
/// saves building the interleaved samples at all.
///
/// Float samples near `f32::MAX` can be finite and yet sum past it; such a file is
/// [`AudioError::Invalid`] rather than a mean of infinity.
pub fn decode_mono(bytes: &[u8], ext_hint: Option<&str>) -> Result<DecodedAudio, AudioError> {
    decode_as(bytes, ext_hint, true)
}

fn decode_as(bytes: &[u8], ext_hint: Option<&str>, mono: bool) -> Result<DecodedAudio, AudioError> {
    if bytes.is_empty() {
        return Err(invalid("file is empty"));
    }
    // Sizes a demuxer would allocate from, checked against the bytes that are there.
    preflight::check(bytes)?;
    // A well-formed PCM WAV has symphonia read only its header; the samples are then converted
    // in bulk here rather than packet by packet. Anything unusual, including every error, goes
    // the ordinary way, which says what is wrong.
    if let Some(layout) = wav_layout(bytes) {
        let header = bytes[..layout.data_start].to_vec();
        let raw = RawWav {
            layout: &layout,
            data: &bytes[layout.data_start..layout.data_start + layout.data_len],
            mono,
        };
        let fast = catch_unwind(AssertUnwindSafe(|| {
            decode_owned(header, ext_hint, Some(raw))
        }));
        if let Ok(Ok(Some(audio))) = fast {
            return Ok(audio);
        }
    }
    // symphonia's MediaSource must be 'static, so a borrowed slice cannot be handed over.
    let owned = bytes.to_vec();
    // symphonia 0.5 panics on some malformed input (e.g. an MP3 LAME tag whose delay exceeds the
    // declared length underflows a subtraction); a bad upload must never take a worker down.
    // This relies on the default panic = "unwind".
    let mut audio = match catch_unwind(AssertUnwindSafe(|| decode_owned(owned, ext_hint, None))) {
        // Without `raw` there is always a result.
        Ok(Ok(audio)) => audio.ok_or_else(|| invalid("decoder produced no result"))?,
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(invalid("decoder failed on malformed data")),
    };
    if mono && audio.channels > 1 {
        let ch = usize::from(audio.channels);
        let frames = audio.samples.len() / ch;
        let mut finite = true;
        // Frame i is read from i * ch onwards before sample i is written.
        for i in 0..frames {
            let start = i * ch;
            let mean = channel_mean(&audio.samples[start..start + ch]);
            finite &= mean.is_finite();
            audio.samples[i] = mean;
        }
        audio.samples.truncate(frames);
        if !finite {
            return Err(mean_overflow(&audio.samples));
        }
        audio.samples.shrink_to_fit();
        audio.channels = 1;
    }
    Ok(audio)
}

/// The mean of one frame's samples, as [`decode_mono`] documents it.
fn channel_mean(frame: &[f32]) -> f32 {
    frame.iter().sum::<f32>() / frame.len() as f32
}

/// Whether every sample is finite, as a branch-free fold that vectorizes.
fn all_finite(samples: &[f32]) -> bool {
    samples.iter().fold(true, |ok, s| ok & s.is_finite())
}

/// The error for channel means (`means`, one a frame) of which one is not finite: finite float
/// samples near `f32::MAX` can sum past it.
fn mean_overflow(means: &[f32]) -> AudioError {
    let frame = means.iter().position(|m| !m.is_finite()).unwrap_or(0);
    invalid(format!(
        "float samples too large to mix: the channel mean of frame {frame} is not finite \
         (corrupt float data?)"
    ))
}

/// A WAV file's sample data for the shortcut in [`decode_owned`].
#[derive(Clone, Copy)]
struct RawWav<'a> {
    layout: &'a WavLayout,
    data: &'a [u8],
    /// Average the channels into one.
    mono: bool,
}

/// Where a RIFF WAVE file's samples are, from walking its chunks as symphonia does.
#[derive(Debug, Clone, PartialEq)]
struct WavLayout {
    /// The format tag of the only `fmt ` chunk (1 PCM, 3 float, 0xFFFE extensible).
    format: u16,
    channels: u16,
    sample_rate: u32,
    block_align: u16,
    bits: u16,
    /// Offset of the first byte of sample data.
    data_start: usize,
    /// Declared length of the data chunk, all of it present in the file.
    data_len: usize,
}

/// The layout of a WAV file simple enough to convert without symphonia's packet loop: one `fmt `
/// chunk of 16-, 24- or 32-bit samples with a consistent frame size, then a data chunk that is
/// all there. `None` for anything else, including streaming headers with unknown sizes.
fn wav_layout(b: &[u8]) -> Option<WavLayout> {
    let u16_at = |at: usize| b.get(at..at + 2).map(|x| u16::from_le_bytes([x[0], x[1]]));
    let u32_at = |at: usize| {
        b.get(at..at + 4)
            .map(|x| u32::from_le_bytes([x[0], x[1], x[2], x[3]]))
    };
    if b.get(0..4)? != b"RIFF" || b.get(8..12)? != b"WAVE" {
        return None;
    }
    // symphonia counts chunk bytes against the RIFF length from just after "WAVE".
    let riff_len = u64::from(u32_at(4)?);
    let mut consumed: u64 = 0;
    let mut pos: usize = 12;
    let mut fmt: Option<WavLayout> = None;
    loop {
        if consumed & 1 == 1 {
            consumed += 1;
            pos += 1;
        }
        if consumed + 8 > riff_len {
            return None;
        }
        let tag = b.get(pos..pos + 4)?;
        let len = u32_at(pos + 4)?;
        pos += 8;
        consumed += 8;
        if riff_len - consumed < u64::from(len) || len == u32::MAX {
            return None;
        }
        consumed += u64::from(len);
        let len = len as usize;
        match tag {
            b"fmt " => {
                if fmt.is_some() || len < 16 {
                    return None;
                }
                fmt = Some(WavLayout {
                    format: u16_at(pos)?,
                    channels: u16_at(pos + 2)?,
                    sample_rate: u32_at(pos + 4)?,
                    block_align: u16_at(pos + 12)?,
                    bits: u16_at(pos + 14)?,
                    data_start: 0,
                    data_len: 0,
                });
            }
            b"data" => {
                let fmt = fmt?;
                let complete = pos.checked_add(len)? <= b.len();
                let sane = matches!(fmt.format, 1 | 3 | 0xFFFE)
                    && matches!(fmt.bits, 16 | 24 | 32)
                    && fmt.channels > 0
                    && fmt.sample_rate > 0
                    && usize::from(fmt.block_align)
                        == usize::from(fmt.channels) * usize::from(fmt.bits / 8);
                return (complete && sane && len >= usize::from(fmt.block_align)).then_some(
                    WavLayout {
                        data_start: pos,
                        data_len: len,
                        ..fmt
                    },
                );
            }
            _ => {}
        }
        pos = pos.checked_add(len)?;
    }
}

/// Sample encodings [`convert_pcm`] handles, exactly as symphonia's PCM decoder converts them.
#[derive(Debug, Clone, Copy, PartialEq)]
enum RawFormat {
    S16,
    S24,
    S32,
    F32,
}

impl RawFormat {
    fn width(self) -> usize {
        match self {
            RawFormat::S16 => 2,
            RawFormat::S24 => 3,
            RawFormat::S32 | RawFormat::F32 => 4,
        }
    }

    fn convert(self, src: &[u8], dst: &mut [f32]) {
        match self {
            RawFormat::S16 => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(2)) {
                    *d = f32::from(i16::from_le_bytes([s[0], s[1]])) / 32_768.0;
                }
            }
            RawFormat::S24 => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(3)) {
                    let v = i32::from_le_bytes([0, s[0], s[1], s[2]]) >> 8;
                    *d = v as f32 / 8_388_608.0;
                }
            }
            RawFormat::S32 => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                    let v = i32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                    *d = (f64::from(v) / 2_147_483_648.0) as f32;
                }
            }
            RawFormat::F32 => {
                for (d, s) in dst.iter_mut().zip(src.chunks_exact(4)) {
                    let v = f32::from_le_bytes([s[0], s[1], s[2], s[3]]);
                    // As in the packet loop: NaN/inf would poison every level downstream.
                    *d = if v.is_finite() { v } else { 0.0 };
                }
            }
        }
    }
}

/// Converts little-endian frames of `channels` samples to f32, interleaved or with the channels
/// averaged (`mono`), on a few threads: it is memory-bound, and the fresh output pages are
/// faulted in by the thread that writes them. `None` if a channel mean is not finite.
fn convert_pcm(format: RawFormat, data: &[u8], channels: usize, mono: bool) -> Option<Vec<f32>> {
    let frames = data.len() / (format.width() * channels);
    // A second thread pays for itself from a few MB on.
    let threads = std::thread::available_parallelism()
        .map_or(1, |t| t.get())
        .min(frames * channels / (1 << 20) + 1)
        .min(4);
    convert_pcm_on(format, data, channels, mono, threads)
}

/// [`convert_pcm`] on up to `threads` threads; every frame comes out the same however the
/// frames are split.
fn convert_pcm_on(
    format: RawFormat,
    data: &[u8],
    channels: usize,
    mono: bool,
    threads: usize,
) -> Option<Vec<f32>> {
    let frame_bytes = format.width() * channels;
    let frames = data.len() / frame_bytes;
    let out_channels = if mono { 1 } else { channels };
    let mut out = vec![0.0f32; frames * out_channels];
    let threads = threads.max(1);
    let per = frames.div_ceil(threads).max(1);
    // Threads take parts from a shared list and this one works too, so a thread that cannot be
    // started only leaves more to the others.
    let parts: Vec<(&[u8], &mut [f32])> = out
        .chunks_mut(per * out_channels)
        .enumerate()
        .map(|(i, dst)| {
            let start = i * per * frame_bytes;
            (
                &data[start..start + dst.len() / out_channels * frame_bytes],
                dst,
            )
        })
        .collect();
    let queue = std::sync::Mutex::new(parts);
    // Only the mean of float samples can overflow: integers convert to [-1, 1].
    let check = format == RawFormat::F32;
    let overflow = std::sync::atomic::AtomicBool::new(false);
    let work = || loop {
        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).pop();
        let Some((src, dst)) = next else { break };
        if out_channels == channels {
            format.convert(src, dst);
            continue;
        }
        // A few thousand frames at a time through a buffer that stays in cache.
        const FRAMES: usize = 4096;
        let mut buf = vec![0.0f32; FRAMES * channels];
        for (src, dst) in src.chunks(FRAMES * frame_bytes).zip(dst.chunks_mut(FRAMES)) {
            let buf = &mut buf[..dst.len() * channels];
            format.convert(src, buf);
            if channels == 2 {
                for (d, f) in dst.iter_mut().zip(buf.chunks_exact(2)) {
                    *d = (f[0] + f[1]) / 2.0;
                }
            } else {
                for (d, f) in dst.iter_mut().zip(buf.chunks_exact(channels)) {
                    *d = channel_mean(f);
                }
            }
            // While the means are still in cache.
            if check && !all_finite(dst) {
                overflow.store(true, std::sync::atomic::Ordering::Relaxed);
            }
        }
    };
    std::thread::scope(|scope| {
        for _ in 1..threads {
            // Failing to start a thread is not an error here (see above).
            let _ = std::thread::Builder::new()
                .name("coda-pcm".into())
                .spawn_scoped(scope, work);
        }
        work();
    });
    (!overflow.into_inner()).then_some(out)
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

/// Refuses a stream whose encoder delay and padding exceed the length its header declares.
///
/// symphonia 0.5's MP3 demuxer subtracts the LAME tag's delay and padding from
/// the Xing tag's length without a check when gapless trimming is on: a crafted
/// tag overflows it (a panic in debug builds, a length near 2^64 in release).
/// A probe of the file's start without trimming reads the three numbers first.
fn check_gapless_lengths(bytes: &[u8], hint: &Hint) -> Result<(), AudioError> {
    // The first frame follows any ID3 tag (cover art can make it megabytes).
    let tag = preflight::id3_len(bytes).unwrap_or(0);
    let head = bytes[..bytes.len().min(tag.saturating_add(1 << 20))].to_vec();
    let mss = MediaSourceStream::new(Box::new(Cursor::new(head)), Default::default());
    let untrimmed = FormatOptions {
        enable_gapless: false,
        ..Default::default()
    };
    // What does not probe here is reported by the real probe, with its own message.
    let Ok(probed) =
        symphonia::default::get_probe().format(hint, mss, &untrimmed, &MetadataOptions::default())
    else {
        return Ok(());
    };
    for track in probed.format.tracks() {
        let p = &track.codec_params;
        if let (Some(frames), Some(delay), Some(padding)) = (p.n_frames, p.delay, p.padding) {
            if frames < u64::from(delay) + u64::from(padding) {
                return Err(invalid(format!(
                    "corrupt: the encoder delay and padding ({delay} + {padding} samples) exceed the {frames} samples the header declares"
                )));
            }
        }
    }
    Ok(())
}

/// Where a decode problem happened, in seconds, for error messages.
fn packet_time(ts: u64, tb: Option<(u32, u32)>, rate: u32, frames_out: u64) -> f64 {
    ts_seconds(ts, tb, rate).unwrap_or(frames_out as f64 / f64::from(rate.max(1)))
}

/// Decodes `bytes`; with `raw`, `bytes` is only a WAV file's header, the samples are `raw`'s data,
/// and `Ok(None)` means the file needs the ordinary decode after all.
fn decode_owned(
    bytes: Vec<u8>,
    ext_hint: Option<&str>,
    raw: Option<RawWav>,
) -> Result<Option<DecodedAudio>, AudioError> {
    let n_bytes = bytes.len();
    let container = sniff_container(&bytes);
    let aiff_frames = aiff_declared_frames(&bytes);

    let mut hint = Hint::new();
    if let Some(ext) = ext_hint {
        let ext = ext.trim().trim_start_matches('.').to_ascii_lowercase();
        if !ext.is_empty() {
            hint.with_extension(&ext);
        }
    }
    // MPEG audio is sniffed by its ID3 tag, or not at all (bare frames).
    if matches!(container, None | Some("MP3")) {
        check_gapless_lengths(&bytes, &hint)?;
    }
    let mss = MediaSourceStream::new(Box::new(Cursor::new(bytes)), Default::default());

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
        // symphonia gives no sample width for float and companded PCM: it is implicit.
        let bits = params.bits_per_coded_sample.or(match codec_type {
            CODEC_TYPE_PCM_F32LE | CODEC_TYPE_PCM_F32BE => Some(32),
            CODEC_TYPE_PCM_F64LE | CODEC_TYPE_PCM_F64BE => Some(64),
            CODEC_TYPE_PCM_ALAW | CODEC_TYPE_PCM_MULAW => Some(8),
            _ => None,
        });
        // A RIFF data size of 0xFFFFFFFF is what streaming writers such as
        // `ffmpeg ... -f wav pipe:` emit; it means "unknown", not "truncated".
        if let (Some(frames), Some(bits), Some(ch), true) = (
            n,
            bits,
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

    // The shortcut converts the samples itself: no packet decoder needed.
    if let Some(raw) = raw {
        return Ok(
            wav_samples(format, &params, raw, declared_secs).map(|(samples, rate)| DecodedAudio {
                sample_rate: rate,
                channels: if raw.mono { 1 } else { raw.layout.channels },
                codec,
                samples,
            }),
        );
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

    Ok(Some(DecodedAudio {
        sample_rate: spec.rate,
        channels: channels as u16,
        codec,
        samples,
    }))
}

/// The samples and rate of a WAV file whose header symphonia has read, where the packet loop
/// would have decoded every frame of the data chunk with no error and a mono decode has finite
/// channel means: `None` otherwise.
fn wav_samples(
    reader: Box<dyn FormatReader>,
    params: &CodecParameters,
    raw: RawWav,
    declared_secs: Option<f64>,
) -> Option<(Vec<f32>, u32)> {
    let layout = raw.layout;
    // symphonia stopped right after the header of the data chunk: the same chunk as ours.
    if reader.into_inner().pos() != layout.data_start as u64 {
        return None;
    }
    let format = match (params.codec, params.bits_per_coded_sample) {
        (CODEC_TYPE_PCM_S16LE, Some(16)) => RawFormat::S16,
        (CODEC_TYPE_PCM_S24LE, Some(24)) => RawFormat::S24,
        (CODEC_TYPE_PCM_S32LE, Some(32)) => RawFormat::S32,
        (CODEC_TYPE_PCM_F32LE, _) => RawFormat::F32,
        _ => return None,
    };
    let channels = params.channels?.count();
    let rate = params.sample_rate?;
    let block = usize::from(layout.block_align);
    let frames = layout.data_len / block;
    // symphonia read the same format as ours. Then the limits and the declared length are
    // checked as the packet loop would; whatever it would complain about goes that way.
    let usable = usize::from(layout.bits / 8) == format.width()
        && channels == usize::from(layout.channels)
        && rate == layout.sample_rate
        && params.n_frames == Some(frames as u64)
        && frames > 0
        && frames as u64 / u64::from(rate) <= MAX_DURATION_S
        && frames
            .checked_mul(channels)
            .is_some_and(|n| n <= MAX_SAMPLES)
        && declared_secs
            .is_none_or(|secs| (secs * f64::from(rate)).round() as u64 == frames as u64);
    if !usable {
        return None;
    }
    // A channel mean that overflows goes the ordinary way too, which reports it.
    let samples = convert_pcm(format, &raw.data[..frames * block], channels, raw.mono)?;
    Some((samples, rate))
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

    /// A RIFF WAVE file: `chunks` go between `fmt ` and `data`, `tail` after the data chunk.
    fn wav_file(fmt: &[u8], chunks: &[(&[u8; 4], &[u8])], data: &[u8], tail: &[u8]) -> Vec<u8> {
        let mut body = b"WAVE".to_vec();
        let mut chunk = |tag: &[u8; 4], payload: &[u8]| {
            body.extend_from_slice(tag);
            body.extend_from_slice(&(payload.len() as u32).to_le_bytes());
            body.extend_from_slice(payload);
            if payload.len() % 2 == 1 {
                body.push(0);
            }
        };
        chunk(b"fmt ", fmt);
        for (tag, payload) in chunks {
            chunk(tag, payload);
        }
        chunk(b"data", data);
        body.extend_from_slice(tail);
        let mut file = b"RIFF".to_vec();
        file.extend_from_slice(&(body.len() as u32).to_le_bytes());
        file.extend_from_slice(&body);
        file
    }

    /// A `fmt ` chunk; `extensible` gives the WAVE_FORMAT_EXTENSIBLE form with that sub-format.
    fn fmt_chunk(tag: u16, channels: u16, rate: u32, bits: u16, extensible: bool) -> Vec<u8> {
        let align = channels * bits / 8;
        let mut f = Vec::new();
        f.extend_from_slice(&(if extensible { 0xFFFE } else { tag }).to_le_bytes());
        f.extend_from_slice(&channels.to_le_bytes());
        f.extend_from_slice(&rate.to_le_bytes());
        f.extend_from_slice(&(rate * u32::from(align)).to_le_bytes());
        f.extend_from_slice(&align.to_le_bytes());
        f.extend_from_slice(&bits.to_le_bytes());
        if extensible {
            f.extend_from_slice(&22u16.to_le_bytes());
            f.extend_from_slice(&bits.to_le_bytes());
            f.extend_from_slice(&((1u32 << channels) - 1).to_le_bytes());
            f.extend_from_slice(&[tag as u8, 0, 0, 0, 0, 0, 0x10, 0]);
            f.extend_from_slice(&[0x80, 0, 0, 0xaa, 0, 0x38, 0x9b, 0x71]);
        }
        f
    }

    /// Bytes covering every value pattern, with NaN and infinities among float samples.
    fn sample_bytes(n: usize, seed: u64) -> Vec<u8> {
        let mut x = seed | 1;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect()
    }

    /// The packet-by-packet decode, without the WAV shortcut.
    fn ordinary(bytes: &[u8]) -> DecodedAudio {
        decode_owned(bytes.to_vec(), None, None).unwrap().unwrap()
    }

    fn shortcut_taken(bytes: &[u8], mono: bool) -> Option<DecodedAudio> {
        let layout = wav_layout(bytes)?;
        let raw = RawWav {
            layout: &layout,
            data: &bytes[layout.data_start..layout.data_start + layout.data_len],
            mono,
        };
        decode_owned(bytes[..layout.data_start].to_vec(), None, Some(raw)).unwrap()
    }

    fn same(a: &DecodedAudio, b: &DecodedAudio) -> bool {
        let bits = |d: &DecodedAudio| d.samples.iter().map(|s| s.to_bits()).collect::<Vec<_>>();
        (a.sample_rate, a.channels, &a.codec) == (b.sample_rate, b.channels, &b.codec)
            && bits(a) == bits(b)
    }

    #[test]
    fn wav_shortcut_decodes_exactly_as_symphonia() {
        let info = [
            b'I', b'N', b'F', b'O', b'I', b'S', b'F', b'T', 3, 0, 0, 0, b'a', b'b', b'c', 0,
        ];
        for (tag, bits, codec) in [
            (1, 16, "pcm_s16le"),
            (1, 24, "pcm_s24le"),
            (1, 32, "pcm_s32le"),
            (3, 32, "pcm_f32le"),
        ] {
            for channels in [1u16, 2, 5] {
                for extensible in [false, true] {
                    let align = usize::from(channels * bits / 8);
                    // Many packets' worth, and a stray partial frame at the end.
                    let data = sample_bytes(align * 5_000 + align / 2, u64::from(bits + channels));
                    let fmt = fmt_chunk(tag, channels, 44_100, bits, extensible);
                    let files = [
                        wav_file(&fmt, &[], &data, &[]),
                        // Metadata before the data (odd-sized: padded) and after it.
                        wav_file(
                            &fmt,
                            &[(b"LIST", &info), (b"junk", b"odd")],
                            &data,
                            b"id3 \0\0\0\0",
                        ),
                    ];
                    for file in files {
                        let what = format!("{codec} {channels} ch, extensible {extensible}");
                        let expected = ordinary(&file);
                        assert_eq!(expected.codec, codec, "{what}");
                        assert_eq!(expected.frames(), 5_000, "{what}");
                        let fast = shortcut_taken(&file, false).expect(&what);
                        assert!(same(&fast, &expected), "{what}");
                        assert!(
                            same(&decode(&file, Some("wav")).unwrap(), &expected),
                            "{what}"
                        );
                        // The mono decode is the channel mean of the same samples.
                        let mean: Vec<f32> = expected
                            .samples
                            .chunks_exact(usize::from(channels))
                            .map(channel_mean)
                            .collect();
                        if !all_finite(&mean) {
                            // Random float bits can be too large to mix.
                            assert!(shortcut_taken(&file, true).is_none(), "{what}");
                            let err = decode_mono(&file, None).unwrap_err().to_string();
                            assert!(err.contains("too large to mix"), "{what}: {err}");
                            continue;
                        }
                        for mono in [
                            shortcut_taken(&file, true).unwrap(),
                            decode_mono(&file, None).unwrap(),
                        ] {
                            assert_eq!(mono.channels, 1, "{what}");
                            assert_eq!(mono.samples, mean, "{what}");
                            assert_eq!(mono.duration_s(), expected.duration_s(), "{what}");
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn wav_shortcut_leaves_unusual_files_to_symphonia() {
        let data = sample_bytes(4 * 1000, 7);
        let fmt = fmt_chunk(1, 2, 48_000, 16, false);
        let file = wav_file(&fmt, &[], &data, &[]);
        assert!(wav_layout(&file).is_some());
        // Cut short, streaming sizes, no data, 8-bit, a frame size that does not add up.
        assert!(wav_layout(&file[..file.len() - 1]).is_none());
        let mut streaming = file.clone();
        streaming[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
        let at = streaming.len() - data.len() - 4;
        streaming[at..at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(wav_layout(&streaming).is_none());
        assert!(wav_layout(&wav_file(&fmt, &[], &[], &[])).is_none());
        assert!(wav_layout(&wav_file(
            &fmt_chunk(1, 2, 48_000, 8, false),
            &[],
            &data,
            &[]
        ))
        .is_none());
        let mut odd_align = fmt.clone();
        odd_align[12] = 6;
        assert!(wav_layout(&wav_file(&odd_align, &[], &data, &[])).is_none());
        // A chunk longer than the RIFF chunk around it.
        let mut overlong = file.clone();
        overlong[4..8].copy_from_slice(&20u32.to_le_bytes());
        assert!(wav_layout(&overlong).is_none());
        // Where symphonia's header check fails, the shortcut declines and the error is symphonia's.
        let mut bad_fmt = fmt_chunk(1, 2, 48_000, 16, false);
        bad_fmt.extend_from_slice(&[0, 0, 0, 0]);
        let file = wav_file(&bad_fmt, &[], &data, &[]);
        assert!(wav_layout(&file).is_some());
        let err = decode(&file, None).unwrap_err().to_string();
        assert!(err.contains("malformed fmt_pcm"), "{err}");
        // A non-WAV file is decoded and then averaged.
        let flac = flac::flac_bytes(&[0.5, -0.25, 0.125, 0.0, 0.75, 0.5], 44_100, 3, 16).unwrap();
        let full = decode(&flac, None).unwrap();
        let mono = decode_mono(&flac, None).unwrap();
        assert_eq!((mono.channels, mono.sample_rate), (1, full.sample_rate));
        let mean: Vec<f32> = full.samples.chunks_exact(3).map(channel_mean).collect();
        assert_eq!(mono.samples, mean);
        assert!((mono.samples[0] - 0.125).abs() < 1e-4, "{:?}", mono.samples);
    }

    #[test]
    fn mono_of_float_samples_too_large_to_mix_is_an_error() {
        for channels in [2usize, 3] {
            // Finite samples whose sum is not, in frame 4321.
            let mut samples = vec![0.25f32; channels * 5_000];
            let at = channels * 4_321;
            samples[at..at + channels].copy_from_slice(&[3e38, 3e38, -3e38][..channels]);
            let data: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
            let file = wav_file(
                &fmt_chunk(3, channels as u16, 44_100, 32, false),
                &[],
                &data,
                &[],
            );
            // The same with streaming sizes, which only the ordinary decode reads.
            let mut streaming = file.clone();
            streaming[4..8].copy_from_slice(&u32::MAX.to_le_bytes());
            let len_at = streaming.len() - data.len() - 4;
            streaming[len_at..len_at + 4].copy_from_slice(&u32::MAX.to_le_bytes());
            assert!(wav_layout(&file).is_some() && wav_layout(&streaming).is_none());
            for file in [&file, &streaming] {
                assert_eq!(decode(file, None).unwrap().samples, samples);
                let err = decode_mono(file, Some("wav")).unwrap_err();
                assert!(matches!(err, AudioError::Invalid(_)), "{err:?}");
                assert_eq!(
                    err.to_string(),
                    "float samples too large to mix: the channel mean of frame 4321 is not \
                     finite (corrupt float data?)"
                );
            }
            // The shortcut finds the overflow and leaves the file to the ordinary decode.
            assert!(shortcut_taken(&file, true).is_none());
            assert!(shortcut_taken(&file, false).is_some());
        }
    }

    #[test]
    fn converting_on_more_threads_gives_the_same_samples() {
        let bits = |v: &Option<Vec<f32>>| {
            v.as_ref()
                .map(|v| v.iter().map(|s| s.to_bits()).collect::<Vec<_>>())
        };
        for format in [
            RawFormat::S16,
            RawFormat::S24,
            RawFormat::S32,
            RawFormat::F32,
        ] {
            for channels in 1..=3 {
                // None of these split evenly in two or three, and some span several buffers.
                for frames in [1, 2, 5, 4_097, 10_007] {
                    // A stray partial frame at the end, as a data chunk may have.
                    let n = frames * channels * format.width() + 1;
                    let data = sample_bytes(n, (frames * channels) as u64);
                    let mut all = vec![0.0f32; frames * channels];
                    format.convert(&data, &mut all);
                    for mono in [false, true] {
                        let what =
                            format!("{format:?}, {channels} ch, {frames} frames, mono {mono}");
                        let one = convert_pcm_on(format, &data, channels, mono, 1);
                        let expected: Vec<f32> = if mono {
                            all.chunks_exact(channels).map(channel_mean).collect()
                        } else {
                            all.clone()
                        };
                        if mono && channels > 1 && !all_finite(&expected) {
                            // Random float bits can be large enough to overflow a mean.
                            assert!(one.is_none(), "{what}");
                        } else {
                            assert_eq!(one.as_ref(), Some(&expected), "{what}");
                        }
                        for threads in [2, 3] {
                            let split = convert_pcm_on(format, &data, channels, mono, threads);
                            assert_eq!(bits(&split), bits(&one), "{what} on {threads} threads");
                        }
                    }
                }
            }
        }
    }

    /// A decode's result, comparable whether it succeeded or not.
    fn outcome(
        r: Result<DecodedAudio, AudioError>,
    ) -> Result<(u32, u16, String, Vec<u32>), String> {
        r.map(|a| {
            let bits = a.samples.iter().map(|s| s.to_bits()).collect();
            (a.sample_rate, a.channels, a.codec, bits)
        })
        .map_err(|e| e.to_string())
    }

    /// Checks that the shortcut declines `file` and that it decodes as the ordinary way does.
    fn decodes_the_ordinary_way(file: &[u8], what: &str) {
        assert!(wav_layout(file).is_some(), "{what}: no shortcut to decline");
        let expected = decode_owned(file.to_vec(), None, None).map(Option::unwrap);
        let mean = expected.as_ref().map_err(|e| e.to_string()).map(|a| {
            let ch = usize::from(a.channels);
            a.samples
                .chunks_exact(ch)
                .map(channel_mean)
                .collect::<Vec<_>>()
        });
        assert_eq!(outcome(decode(file, None)), outcome(expected), "{what}");
        let mono = decode_mono(file, None).map(|a| a.samples);
        assert_eq!(mono.map_err(|e| e.to_string()), mean, "{what}");
        for mono in [false, true] {
            assert!(shortcut_taken(file, mono).is_none(), "{what}, mono {mono}");
        }
    }

    /// Each case reaches one guard in `wav_samples`; without that guard the shortcut would
    /// decode it differently from the ordinary decode, except where noted.
    #[test]
    fn wav_shortcut_declines_what_symphonia_reads_differently() {
        let data = sample_bytes(2 * 1_000, 11);
        // symphonia reads 40 bytes of a longer WAVE_FORMAT_EXTENSIBLE `fmt ` chunk and the next
        // chunk header from where it stopped, here a data chunk inside the `fmt ` chunk: the
        // samples it reads start 8 bytes before ours (the `pos()` guard).
        let mut fmt = fmt_chunk(1, 1, 44_100, 16, true);
        fmt.extend_from_slice(b"data");
        fmt.extend_from_slice(&(data.len() as u32).to_le_bytes());
        decodes_the_ordinary_way(&wav_file(&fmt, &[], &data, &[]), "data chunk in fmt");

        // An A-law sub-format with 16-bit frames: a codec the shortcut does not convert.
        let fmt = fmt_chunk(6, 1, 44_100, 16, true);
        decodes_the_ordinary_way(&wav_file(&fmt, &[], &data, &[]), "A-law");

        // A second `fmt ` chunk hidden in a long extensible one, which symphonia reads after it
        // and in its place; it ends where ours does, so symphonia finds our data chunk. symphonia
        // counts the hidden chunk against the RIFF length as well, which must leave room for it.
        let hidden = |ours: Vec<u8>, theirs: Vec<u8>, data: &[u8], what: &str| {
            let mut fmt = ours;
            fmt.extend_from_slice(b"fmt ");
            fmt.extend_from_slice(&(theirs.len() as u32).to_le_bytes());
            fmt.extend_from_slice(&theirs);
            let mut file = wav_file(&fmt, &[], data, &[]);
            let riff = u32::from_le_bytes([file[4], file[5], file[6], file[7]]);
            let riff = riff + 8 + theirs.len() as u32;
            file[4..8].copy_from_slice(&riff.to_le_bytes());
            decodes_the_ordinary_way(&file, what);
        };
        // symphonia's frame size, which it does not check against its channels and width.
        let with_align = |mut f: Vec<u8>, align: u16| {
            f[12..14].copy_from_slice(&align.to_le_bytes());
            f
        };
        let mono16 = || fmt_chunk(1, 1, 44_100, 16, true);
        // The sample width guard.
        hidden(
            fmt_chunk(1, 1, 44_100, 32, true),
            with_align(fmt_chunk(1, 1, 44_100, 16, false), 4),
            &data,
            "another sample width",
        );
        // The channel count guard.
        hidden(
            fmt_chunk(1, 2, 44_100, 16, true),
            with_align(fmt_chunk(1, 1, 44_100, 16, false), 4),
            &data,
            "another channel count",
        );
        // The rate guard. The shortcut takes symphonia's rate, so without the guard it would
        // still decode this file correctly; only the declining is checked.
        hidden(
            mono16(),
            fmt_chunk(1, 1, 22_050, 16, false),
            &data,
            "another rate",
        );
        // The frame count and declared length guards, either of which declines this.
        hidden(
            mono16(),
            with_align(fmt_chunk(1, 1, 44_100, 16, false), 4),
            &data,
            "another frame size",
        );
        // The frame count guard alone: symphonia counts no frames, so declares no length.
        hidden(
            mono16(),
            with_align(fmt_chunk(1, 1, 44_100, 16, false), 4),
            &data[..2],
            "a frame size beyond the data",
        );
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
