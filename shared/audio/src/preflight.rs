//! Size checks on untrusted containers, before symphonia sees them.
//!
//! symphonia 0.5 allocates from declared sizes before it reads: an MP4 box of
//! 0xFFFFFFFF bytes becomes a 4 GB `vec![0; n]`, a FLAC picture length of
//! 3.7 GB the same. Under a memory limit (every Lambda and ECS task has one)
//! that allocation fails and Rust aborts the whole process, which
//! `catch_unwind` cannot stop. A sample rate of 0 makes it panic building a
//! time base.
//!
//! So every size field a demuxer allocates from is checked here against the
//! bytes that are really there, and the rates and channel counts it divides by
//! are checked to be non-zero. Chosen over a child process with a memory limit
//! (a process and a PCM copy per decode, and an abort that still has to be
//! told from other failures) and over a patched decoder (a fork to keep):
//! the checks are cheap, need nothing at run time, and a file that fails them
//! is corrupt by the format's own rules, so no valid file is refused.
//!
//! Covered: MP4/M4A/MOV (every box size, and the entry counts of the sample
//! tables), FLAC (metadata blocks, and the lengths inside Vorbis comments and
//! pictures), WAV, AIFF and CAF (chunk sizes, sample rate and channels).
//! MP3, Ogg and Matroska read as they go and are left to the decoder.

use crate::AudioError;

/// Checks `bytes` by its magic; unknown formats pass.
///
/// symphonia's probe scans up to 1 MiB for a format marker, so a container
/// behind leading junk is read too: it is checked where the probe will find it.
pub(crate) fn check(bytes: &[u8]) -> Result<(), AudioError> {
    check_at(&bytes[container_offset(bytes)..])
}

/// How far symphonia's probe scans for a marker.
const PROBE_SEARCH_LIMIT: usize = 1 << 20;

/// Whether a container this module checks starts at the beginning of `b`.
fn container_here(b: &[u8]) -> bool {
    let at = |offset: usize, magic: &[u8]| b.get(offset..offset + magic.len()) == Some(magic);
    (at(0, b"RIFF") && at(8, b"WAVE"))
        || (at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")))
        || at(0, b"caff")
        || at(0, b"fLaC")
        || at(4, b"ftyp")
}

/// Where the probe will find the container: 0 unless leading junk (or an ID3 tag) hides one.
///
/// This follows symphonia 0.5's probe: it scans byte by byte, up to 1 MiB, for
/// a registered marker; an ID3v2 tag it reads as metadata, skipping its declared
/// size, then scans on with a fresh 1 MiB. The scan stops at the formats read as
/// they go (MPEG audio and ADTS frame syncs, Ogg, Matroska), left to the decoder.
fn container_offset(bytes: &[u8]) -> usize {
    let mut o = 0;
    let mut end = bytes.len().min(PROBE_SEARCH_LIMIT);
    while o < end {
        let b = &bytes[o..];
        if b.starts_with(b"ID3") {
            let Some(tag) = id3_len(b) else { return 0 };
            o += tag;
            end = bytes.len().min(o.saturating_add(PROBE_SEARCH_LIMIT));
            continue;
        }
        if container_here(b) {
            return o;
        }
        if read_as_it_goes(b) {
            return 0;
        }
        o += 1;
    }
    0
}

/// The length of the ID3v2 tag `b` starts with, as the probe skips it: the 10-byte header and
/// its syncsafe 28-bit size.
pub(crate) fn id3_len(b: &[u8]) -> Option<usize> {
    if !b.starts_with(b"ID3") {
        return None;
    }
    let size = b
        .get(6..10)?
        .iter()
        .fold(0usize, |acc, &x| (acc << 7) | usize::from(x & 0x7f));
    Some(10 + size)
}

/// The probe's markers of formats this module leaves to the decoder.
fn read_as_it_goes(b: &[u8]) -> bool {
    let sync = b[0] == 0xFF
        && b.get(1)
            .is_some_and(|&x| matches!(x, 0xE2..=0xE7 | 0xF1..=0xF7 | 0xFA..=0xFF));
    sync || b.starts_with(b"OggS") || b.starts_with(&[0x1A, 0x45, 0xDF, 0xA3])
}

fn check_at(bytes: &[u8]) -> Result<(), AudioError> {
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WAVE" {
        return check_riff(bytes);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"FORM" && matches!(&bytes[8..12], b"AIFF" | b"AIFC") {
        return check_aiff(bytes);
    }
    if bytes.len() >= 8 && &bytes[0..4] == b"caff" {
        return check_caf(bytes);
    }
    if let Some(flac) = flac_start(bytes) {
        return check_flac(&bytes[flac..]);
    }
    if bytes.len() >= 8 && &bytes[4..8] == b"ftyp" {
        return check_boxes(bytes, 0, "file", true);
    }
    Ok(())
}

fn corrupt(format: &str, what: impl std::fmt::Display) -> AudioError {
    AudioError::Invalid(format!("corrupt {format}: {what}"))
}

/// A size that runs past the end of the file: the file was cut (or lies about its length).
fn truncated(format: &str, what: impl std::fmt::Display) -> AudioError {
    AudioError::Invalid(format!("truncated {format}: {what}"))
}

fn be_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn be_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn be_u64(b: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(at..at + 8)?.try_into().ok()?))
}

fn le_u16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_le_bytes(b.get(at..at + 2)?.try_into().ok()?))
}

fn le_u32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_le_bytes(b.get(at..at + 4)?.try_into().ok()?))
}

fn name(tag: &[u8]) -> String {
    String::from_utf8_lossy(tag).into_owned()
}

/// The chunks of a RIFF or IFF file from byte 12: every chunk before the sample data (`streamed`)
/// must fit, since symphonia reads them whole; `look` sees each one's tag and body offset.
fn check_chunks(
    b: &[u8],
    format: &str,
    size_at: fn(&[u8], usize) -> Option<u32>,
    streamed: &[u8; 4],
    mut look: impl FnMut(&[u8], usize) -> Result<(), AudioError>,
) -> Result<(), AudioError> {
    let mut at = 12;
    while at + 8 <= b.len() {
        let (tag, size) = (&b[at..at + 4], size_at(b, at + 4).unwrap_or(0) as usize);
        let body = at + 8;
        let left = b.len() - body;
        if tag == streamed {
            // Streamed, not allocated: a short data chunk is a truncated file, which the decoder reports.
            return Ok(());
        }
        if size > left {
            return Err(truncated(
                format,
                format!(
                    "chunk '{}' declares {size} bytes but {left} remain",
                    name(tag)
                ),
            ));
        }
        look(tag, body)?;
        at = body + size + (size & 1);
    }
    Ok(())
}

/// RIFF/WAVE: the chunks must fit; `fmt ` must give a rate and channels.
fn check_riff(b: &[u8]) -> Result<(), AudioError> {
    check_chunks(b, "WAV", le_u32, b"data", |tag, body| {
        if tag != b"fmt " {
            return Ok(());
        }
        let channels = le_u16(b, body + 2).unwrap_or(0);
        let rate = le_u32(b, body + 4).unwrap_or(0);
        check_rate_channels("WAV", rate > 0, channels > 0)
    })
}

fn check_rate_channels(format: &str, rate_ok: bool, channels_ok: bool) -> Result<(), AudioError> {
    if !rate_ok {
        return Err(corrupt(format, "the sample rate is 0"));
    }
    if !channels_ok {
        return Err(corrupt(format, "the channel count is 0"));
    }
    Ok(())
}

/// AIFF/AIFC: chunk sizes (big-endian) must fit; `COMM` must give channels and a positive rate.
fn check_aiff(b: &[u8]) -> Result<(), AudioError> {
    check_chunks(b, "AIFF", be_u32, b"SSND", |tag, body| {
        if tag != b"COMM" {
            return Ok(());
        }
        let channels = be_u16(b, body).unwrap_or(0);
        // An 80-bit extended float: sign and exponent, then a 64-bit mantissa with an explicit
        // integer bit. Its value, as symphonia takes it (`as u32`), must be at least 1 Hz.
        let exponent = be_u16(b, body + 8).unwrap_or(0);
        let mantissa = be_u64(b, body + 10).unwrap_or(0);
        let magnitude = i32::from(exponent & 0x7fff);
        let rate = mantissa as f64 * 2f64.powi(magnitude - 16383 - 63);
        let positive =
            exponent & 0x8000 == 0 && magnitude != 0x7fff && rate.is_finite() && rate >= 1.0;
        check_rate_channels("AIFF", positive, channels > 0)
    })
}

/// CAF: chunk sizes (signed 64-bit; -1 only for `data`) must fit; `desc` must give a positive rate and channels.
fn check_caf(b: &[u8]) -> Result<(), AudioError> {
    let mut at = 8;
    while at + 12 <= b.len() {
        let tag = &b[at..at + 4];
        let size = be_u64(b, at + 4).unwrap_or(0);
        let body = at + 12;
        let left = (b.len() - body) as u64;
        if tag == b"data" {
            return Ok(());
        }
        if size > left {
            return Err(truncated(
                "CAF",
                format!(
                    "chunk '{}' declares {size} bytes but {left} remain",
                    name(tag)
                ),
            ));
        }
        if tag == b"desc" {
            let rate = f64::from_bits(be_u64(b, body).unwrap_or(0));
            let channels = be_u32(b, body + 24).unwrap_or(0);
            let rate_ok = rate.is_finite() && rate >= 1.0;
            check_rate_channels("CAF", rate_ok, channels > 0)?;
        }
        at = body + size as usize;
    }
    Ok(())
}

/// Where `fLaC` starts: at 0, or after an ID3v2 tag that fits.
fn flac_start(b: &[u8]) -> Option<usize> {
    if b.starts_with(b"fLaC") {
        return Some(0);
    }
    if b.len() >= 10 && &b[0..3] == b"ID3" {
        // A syncsafe 28-bit size.
        let size = b[6..10]
            .iter()
            .fold(0usize, |acc, &x| (acc << 7) | usize::from(x & 0x7f));
        let start = 10 + size;
        if b.get(start..start + 4) == Some(b"fLaC") {
            return Some(start);
        }
    }
    None
}

/// FLAC metadata: each block must fit, and so must the lengths inside comments and pictures.
fn check_flac(b: &[u8]) -> Result<(), AudioError> {
    let mut at = 4;
    loop {
        let Some(&header) = b.get(at) else {
            return Ok(());
        };
        let Some(len) = b.get(at + 1..at + 4) else {
            return Ok(());
        };
        let len = usize::from(len[0]) << 16 | usize::from(len[1]) << 8 | usize::from(len[2]);
        let body = at + 4;
        let left = b.len() - body.min(b.len());
        if len > left {
            return Err(truncated(
                "FLAC",
                format!(
                    "metadata block {} declares {len} bytes but {left} remain",
                    header & 0x7f
                ),
            ));
        }
        let block = &b[body..body + len];
        match header & 0x7f {
            4 => check_vorbis_comment(block)?,
            6 => check_picture(block)?,
            _ => {}
        }
        if header & 0x80 != 0 {
            return Ok(());
        }
        at = body + len;
    }
}

fn check_vorbis_comment(block: &[u8]) -> Result<(), AudioError> {
    let fail = || corrupt("FLAC", "a Vorbis comment length runs past its block");
    let vendor = le_u32(block, 0).ok_or_else(fail)? as usize;
    let mut at = 4usize
        .checked_add(vendor)
        .filter(|&e| e <= block.len())
        .ok_or_else(fail)?;
    let count = le_u32(block, at).ok_or_else(fail)? as usize;
    at += 4;
    // Each comment takes at least its 4-byte length.
    if count > (block.len() - at) / 4 {
        return Err(fail());
    }
    for _ in 0..count {
        let len = le_u32(block, at).ok_or_else(fail)? as usize;
        at = (at + 4)
            .checked_add(len)
            .filter(|&e| e <= block.len())
            .ok_or_else(fail)?;
    }
    Ok(())
}

fn check_picture(block: &[u8]) -> Result<(), AudioError> {
    let fail = || corrupt("FLAC", "a picture length runs past its block");
    let mut at = 4;
    // The MIME type and the description, each a length and its bytes.
    for _ in 0..2 {
        let len = be_u32(block, at).ok_or_else(fail)? as usize;
        at = (at + 4)
            .checked_add(len)
            .filter(|&e| e <= block.len())
            .ok_or_else(fail)?;
    }
    // Width, height, depth, colours, then the data's length.
    at += 16;
    let len = be_u32(block, at).ok_or_else(fail)? as usize;
    (at + 4)
        .checked_add(len)
        .filter(|&e| e <= block.len())
        .ok_or_else(fail)?;
    Ok(())
}

/// Boxes that hold boxes, and how many bytes of their own fields come first.
fn container_skip(tag: &[u8]) -> Option<usize> {
    match tag {
        b"moov" | b"trak" | b"mdia" | b"minf" | b"stbl" | b"dinf" | b"edts" | b"udta" | b"mvex"
        | b"moof" | b"traf" | b"mfra" | b"sinf" | b"schi" | b"ilst" => Some(0),
        // Full boxes: version and flags first.
        b"meta" => Some(4),
        // Version, flags and an entry count, then the sample entries as boxes.
        b"stsd" | b"dref" => Some(8),
        _ => None,
    }
}

/// The fewest payload bytes a box may have: symphonia subtracts these from the payload length,
/// and a shorter box would underflow into a huge allocation.
fn min_payload(tag: &[u8]) -> usize {
    match tag {
        b"hdlr" => 24,
        b"ftyp" | b"data" => 8,
        b"alac" | b"esds" | b"mean" | b"name" => 4,
        _ => 0,
    }
}

/// For a sample table: (bytes before the entries, the entry count's offset, bytes per entry).
fn table_layout(tag: &[u8], payload: &[u8]) -> Option<(usize, usize, usize)> {
    let version = *payload.first()?;
    match tag {
        b"stts" | b"ctts" => Some((8, 4, 8)),
        b"stss" | b"stco" => Some((8, 4, 4)),
        b"co64" => Some((8, 4, 8)),
        b"stsc" => Some((8, 4, 12)),
        b"elst" => Some((8, 4, if version == 1 { 20 } else { 12 })),
        // A zero sample size means one 4-byte size per sample follows.
        b"stsz" => (be_u32(payload, 4)? == 0).then_some((12, 8, 4)),
        b"trun" => {
            let flags = be_u32(payload, 0)? & 0x00ff_ffff;
            let mut head = 8;
            head += if flags & 0x1 != 0 { 4 } else { 0 };
            head += if flags & 0x4 != 0 { 4 } else { 0 };
            let per = [0x100, 0x200, 0x400, 0x800]
                .iter()
                .filter(|&&f| flags & f != 0)
                .count()
                * 4;
            Some((head, 4, per))
        }
        _ => None,
    }
}

/// Walks the boxes in `b` (one parent's payload, which `ends_file` when it reaches the end of
/// the file): every size must fit, every table's entries too.
fn check_boxes(b: &[u8], depth: usize, parent: &str, ends_file: bool) -> Result<(), AudioError> {
    // Real files nest a dozen deep; a deeper tree is a crafted one.
    if depth > 32 {
        return Err(corrupt("MP4", "boxes nest more than 32 deep"));
    }
    let mut at = 0;
    while at + 8 <= b.len() {
        let tag = &b[at + 4..at + 8];
        let left = (b.len() - at) as u64;
        let (size, header) = match be_u32(b, at).unwrap_or(0) {
            // "To the end of the file": symphonia reads it as an empty box and subtracts from
            // that, so only a last top-level `mdat` (a stream written in one pass) may do it.
            0 if depth == 0 && tag == b"mdat" => (left, 8),
            0 => {
                return Err(corrupt(
                    "MP4",
                    format!("box '{}' in '{parent}' has size 0", name(tag)),
                ))
            }
            1 => (be_u64(b, at + 8).unwrap_or(0), 16),
            n => (u64::from(n), 8),
        };
        if size < header as u64 || size > left {
            let past_the_end = size > left && ends_file;
            let error = if past_the_end { truncated } else { corrupt };
            return Err(error(
                "MP4",
                format!(
                    "box '{}' in '{parent}' declares {size} bytes but {left} remain",
                    name(tag)
                ),
            ));
        }
        let payload = &b[at + header..at + size as usize];
        if payload.len() < min_payload(tag) {
            return Err(corrupt(
                "MP4",
                format!(
                    "box '{}' has {} bytes, fewer than its {} fixed ones",
                    name(tag),
                    payload.len(),
                    min_payload(tag)
                ),
            ));
        }
        // The items of an `ilst` hold `data`, `mean` and `name` boxes.
        let skip = if parent == "ilst" {
            Some(0)
        } else {
            container_skip(tag)
        };
        if let Some(skip) = skip {
            if let Some(children) = payload.get(skip..) {
                let last = ends_file && at + size as usize == b.len();
                check_boxes(children, depth + 1, &name(tag), last)?;
            }
        } else if let Some((head, count_at, per)) = table_layout(tag, payload) {
            let count = u64::from(be_u32(payload, count_at).unwrap_or(0));
            let room = payload.len().saturating_sub(head) as u64;
            if per > 0 && count > room / per as u64 {
                return Err(corrupt(
                    "MP4",
                    format!(
                        "box '{}' lists {count} entries of {per} bytes in {room} bytes",
                        name(tag)
                    ),
                ));
            }
        }
        at += size as usize;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn boxed(tag: &[u8; 4], payload: &[u8]) -> Vec<u8> {
        let mut b = ((8 + payload.len()) as u32).to_be_bytes().to_vec();
        b.extend(tag);
        b.extend(payload);
        b
    }

    #[test]
    fn a_box_larger_than_the_file_is_refused() {
        let mut b = Vec::new();
        b.extend(boxed(b"ftyp", b"M4A \0\0\0\0"));
        let mut moov = boxed(b"moov", &boxed(b"hdlr", &[0; 24]));
        // hdlr claims 0xFFFFFFFF bytes.
        moov[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        b.extend(moov);
        let err = check(&b).unwrap_err().to_string();
        assert!(
            err.contains("box 'hdlr' in 'moov' declares 4294967295 bytes"),
            "{err}"
        );
    }

    #[test]
    fn a_table_with_more_entries_than_bytes_is_refused() {
        let mut stco = vec![0, 0, 0, 0];
        stco.extend(u32::MAX.to_be_bytes());
        let stbl = boxed(b"stbl", &boxed(b"stco", &stco));
        let mut b = boxed(b"ftyp", b"M4A \0\0\0\0");
        b.extend(boxed(
            b"moov",
            &boxed(b"trak", &boxed(b"mdia", &boxed(b"minf", &stbl))),
        ));
        let err = check(&b).unwrap_err().to_string();
        assert!(err.contains("box 'stco' lists 4294967295 entries"), "{err}");
    }

    #[test]
    fn well_formed_boxes_pass() {
        let mut stco = vec![0, 0, 0, 0];
        stco.extend(2u32.to_be_bytes());
        stco.extend([0; 8]);
        let mut b = boxed(b"ftyp", b"M4A \0\0\0\0");
        b.extend(boxed(b"moov", &boxed(b"trak", &boxed(b"stco", &stco))));
        b.extend(boxed(b"mdat", &[0; 100]));
        check(&b).unwrap();
    }

    #[test]
    fn flac_picture_lengths_must_fit_their_block() {
        let mut picture = vec![0, 0, 0, 3];
        picture.extend(9u32.to_be_bytes());
        picture.extend(b"image/png");
        picture.extend(0u32.to_be_bytes());
        picture.extend([0; 16]);
        picture.extend(0xE000_0000u32.to_be_bytes());
        let mut b = b"fLaC".to_vec();
        b.push(0x80 | 6);
        b.extend(&(picture.len() as u32).to_be_bytes()[1..]);
        b.extend(&picture);
        let err = check(&b).unwrap_err().to_string();
        assert!(err.contains("picture length runs past its block"), "{err}");
    }

    #[test]
    fn a_container_behind_junk_is_checked_where_the_probe_finds_it() {
        // An AIFF whose COMM chunk declares 0 channels, behind four bytes of junk.
        let mut aiff = b"FORM\0\0\0\x2eAIFFCOMM\0\0\0\x12".to_vec();
        aiff.extend_from_slice(&[
            0, 0, 0, 0, 0, 1, 0, 16, 0x40, 0x0e, 0xac, 0x44, 0, 0, 0, 0, 0, 0,
        ]);
        aiff.extend_from_slice(b"SSND\0\0\0\x08\0\0\0\0\0\0\0\0");
        assert!(check(&aiff).is_err());
        let mut hidden = b"mdia".to_vec();
        hidden.extend_from_slice(&aiff);
        assert_eq!(container_offset(&hidden), 4);
        assert!(check(&hidden).is_err(), "the junk hid the bad header");
        // MPEG audio first: left to the decoder, as the probe takes it for MP3.
        let mut mp3 = vec![0xFF, 0xFB, 0x90, 0x00];
        mp3.extend_from_slice(&aiff);
        assert_eq!(container_offset(&mp3), 0);
        // 0xFF 0xEA is no marker of the probe's: it scans on, and so does the check.
        let mut not_mpeg = vec![0xFF, 0xEA, 0x00, 0x00];
        not_mpeg.extend_from_slice(&aiff);
        assert_eq!(container_offset(&not_mpeg), 4);
        assert!(check(&not_mpeg).is_err());
        // An ID3 tag is skipped by its size (with a JPEG's FF E2 inside it), as the probe does.
        let mut tagged = b"ID3\x04\x00\x00\x00\x00\x00\x06".to_vec();
        tagged.extend_from_slice(&[0xFF, 0xE2, 1, 2, 3, 4]);
        tagged.extend_from_slice(&aiff);
        assert_eq!(container_offset(&tagged), 16);
        assert!(check(&tagged).is_err());
    }

    #[test]
    fn a_zero_sample_rate_is_refused() {
        let mut b = b"RIFF\0\0\0\0WAVEfmt ".to_vec();
        b.extend(16u32.to_le_bytes());
        b.extend([1, 0, 2, 0]);
        b.extend(0u32.to_le_bytes());
        b.extend([0; 8]);
        let err = check(&b).unwrap_err().to_string();
        assert!(err.contains("corrupt WAV: the sample rate is 0"), "{err}");
    }
}
