//! Compressed MusicXML (`.mxl`): a ZIP archive holding the score.
//!
//! # Reading
//! The archive's `META-INF/container.xml` names the score in its first
//! `<rootfile full-path="...">`; without a container, the first `.xml` or
//! `.musicxml` entry outside `META-INF/` is read, with a warning. The score
//! entry is then read by [`read_musicxml_with_limits`] under the same limits.
//!
//! # Hardening (checked on the central directory, before anything is inflated)
//! - `MXL_TOO_LARGE`: more than [`MAX_MXL_ENTRIES`] (1,000) entries, or a
//!   total declared uncompressed size over [`ReadLimits::max_bytes`]
//!   (64 MiB), a ZIP64 size field included. While inflating, an entry is stopped one byte past its
//!   declared size, so a size that lied (a zip bomb) is refused too.
//! - `INVALID_MXL`: a corrupt or truncated archive (no end of central
//!   directory, bad signatures, offsets out of bounds, a CRC mismatch, bad
//!   deflate data), ZIP64 or multi-disk archives, encrypted entries,
//!   compression other than stored (0) and deflate (8), entry names or a
//!   rootfile path that are absolute or climb with `..`, and a container
//!   without a rootfile or naming an entry that is not there.
//!
//! No input can make the reader panic: every offset is checked and every
//! slice is taken with `get`.
//!
//! # Writing
//! [`write_mxl`] writes `mimetype` first (stored), then
//! `META-INF/container.xml` naming `score.musicxml`, then the score
//! (deflated), so `read_mxl(write_mxl(s))` reads as `read_musicxml(write_musicxml(s))`.

use quick_xml::events::Event;

use crate::error::ScoreError;
use crate::model::Score;
use crate::musicxml::read::{read_musicxml_with_limits, Parsed, ReadLimits};
use crate::musicxml::write::{write_musicxml, WriteError};

/// The most entries an `.mxl` archive may hold.
pub const MAX_MXL_ENTRIES: usize = 1_000;

/// The media type in an `.mxl`'s `mimetype` entry.
pub const MXL_MIMETYPE: &str = "application/vnd.recordare.musicxml";

/// The name the writer gives the score inside the archive.
pub const MXL_SCORE_NAME: &str = "score.musicxml";

const CONTAINER: &str = "META-INF/container.xml";
const SIG_LOCAL: u32 = 0x0403_4b50;
const SIG_CENTRAL: u32 = 0x0201_4b50;
const SIG_EOCD: u32 = 0x0605_4b50;
const EOCD_LEN: usize = 22;
const CENTRAL_LEN: usize = 46;
const LOCAL_LEN: usize = 30;

/// Reads a compressed MusicXML (`.mxl`) archive with the default limits.
pub fn read_mxl(bytes: &[u8]) -> Result<Parsed, ScoreError> {
    read_mxl_with_limits(bytes, &ReadLimits::default())
}

/// Reads a compressed MusicXML (`.mxl`) archive under the given limits.
pub fn read_mxl_with_limits(bytes: &[u8], limits: &ReadLimits) -> Result<Parsed, ScoreError> {
    let entries = central_directory(bytes, limits)?;
    let mut warnings = Vec::new();
    let score_entry = match entries.iter().find(|e| e.name == CONTAINER) {
        Some(container) => {
            let xml = inflate(bytes, container)?;
            let path = rootfile(&xml)?;
            check_name(&path, "rootfile full-path")?;
            entries
                .iter()
                .find(|e| e.name == path)
                .ok_or_else(|| invalid(format!("the rootfile {path:?} is not in the archive")))?
        }
        None => {
            let found = entries
                .iter()
                .find(|e| {
                    let lower = e.name.to_ascii_lowercase();
                    !lower.starts_with("meta-inf/")
                        && (lower.ends_with(".xml") || lower.ends_with(".musicxml"))
                })
                .ok_or_else(|| {
                    invalid("no META-INF/container.xml and no .xml or .musicxml entry".into())
                })?;
            warnings.push(format!(
                "the .mxl has no META-INF/container.xml; read {:?}",
                found.name
            ));
            found
        }
    };
    let data = inflate(bytes, score_entry)?;
    let mut parsed = read_musicxml_with_limits(&data, limits)?;
    if !warnings.is_empty() {
        warnings.append(&mut parsed.warnings);
        parsed.warnings = warnings;
    }
    Ok(parsed)
}

/// Writes a score as a compressed MusicXML (`.mxl`) archive.
pub fn write_mxl(score: &Score) -> Result<Vec<u8>, WriteError> {
    let xml = write_musicxml(score)?;
    let container = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<container>\n  <rootfiles>\n    \
         <rootfile full-path=\"{MXL_SCORE_NAME}\" \
         media-type=\"application/vnd.recordare.musicxml+xml\"/>\n  </rootfiles>\n</container>\n"
    );
    let mut zip = ZipWriter::default();
    zip.add("mimetype", MXL_MIMETYPE.as_bytes(), false)?;
    zip.add(CONTAINER, container.as_bytes(), true)?;
    zip.add(MXL_SCORE_NAME, xml.as_bytes(), true)?;
    zip.finish()
}

// ---------------------------------------------------------------------------
// Reading the archive

/// One central directory entry, as declared.
#[derive(Debug)]
struct Entry {
    name: String,
    method: u16,
    crc: u32,
    compressed: u64,
    uncompressed: u64,
    local_offset: u64,
}

fn invalid(message: String) -> ScoreError {
    ScoreError::InvalidMxl { message }
}

fn too_large(message: String) -> ScoreError {
    ScoreError::MxlTooLarge { message }
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_le_bytes([*s.first()?, *s.get(1)?]))
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at.checked_add(4)?)?;
    Some(u32::from_le_bytes([
        *s.first()?,
        *s.get(1)?,
        *s.get(2)?,
        *s.get(3)?,
    ]))
}

fn truncated() -> ScoreError {
    invalid("the archive is truncated or corrupt".into())
}

/// Finds the end-of-central-directory record (searching back over a comment).
fn find_eocd(bytes: &[u8]) -> Result<usize, ScoreError> {
    let last = bytes.len().checked_sub(EOCD_LEN).ok_or_else(|| {
        invalid("too short to be a ZIP archive (no end of central directory)".into())
    })?;
    let first = last.saturating_sub(u16::MAX as usize);
    (first..=last)
        .rev()
        .find(|&at| {
            u32_at(bytes, at) == Some(SIG_EOCD)
                && u16_at(bytes, at + 20).is_some_and(|c| at + EOCD_LEN + c as usize <= bytes.len())
        })
        .ok_or_else(|| invalid("no end of central directory record (truncated archive?)".into()))
}

/// Reads and checks the central directory, inflating nothing.
fn central_directory(bytes: &[u8], limits: &ReadLimits) -> Result<Vec<Entry>, ScoreError> {
    let eocd = find_eocd(bytes)?;
    let field = |off: usize| u16_at(bytes, eocd + off).ok_or_else(truncated);
    let (disk, cd_disk, on_disk, total) = (field(4)?, field(6)?, field(8)?, field(10)?);
    let cd_size = u32_at(bytes, eocd + 12).ok_or_else(truncated)?;
    let cd_offset = u32_at(bytes, eocd + 16).ok_or_else(truncated)?;
    if total == u16::MAX || cd_size == u32::MAX || cd_offset == u32::MAX {
        return Err(invalid("ZIP64 archives are not supported".into()));
    }
    if disk != 0 || cd_disk != 0 || on_disk != total {
        return Err(invalid("multi-disk archives are not supported".into()));
    }
    if usize::from(total) > MAX_MXL_ENTRIES {
        return Err(too_large(format!(
            "{total} entries (the limit is {MAX_MXL_ENTRIES})"
        )));
    }
    let start = cd_offset as usize;
    let end = start
        .checked_add(cd_size as usize)
        .filter(|&e| e <= eocd)
        .ok_or_else(|| invalid("the central directory lies outside the archive".into()))?;
    let cd = bytes.get(start..end).ok_or_else(truncated)?;
    let mut entries = Vec::with_capacity(usize::from(total));
    let mut declared_total: u64 = 0;
    let mut at = 0usize;
    for _ in 0..total {
        if u32_at(cd, at) != Some(SIG_CENTRAL) {
            return Err(invalid("bad central directory entry signature".into()));
        }
        let f16 = |off: usize| u16_at(cd, at + off).ok_or_else(truncated);
        let f32 = |off: usize| u32_at(cd, at + off).ok_or_else(truncated);
        let flags = f16(8)?;
        let method = f16(10)?;
        let crc = f32(16)?;
        let compressed = f32(20)?;
        let uncompressed = f32(24)?;
        let name_len = usize::from(f16(28)?);
        let extra_len = usize::from(f16(30)?);
        let comment_len = usize::from(f16(32)?);
        let local_offset = f32(42)?;
        let name_start = at + CENTRAL_LEN;
        let raw_name = cd
            .get(name_start..name_start + name_len)
            .ok_or_else(truncated)?;
        let name = std::str::from_utf8(raw_name)
            .map_err(|_| invalid("an entry name is not UTF-8".into()))?
            .to_owned();
        check_name(&name, "entry name")?;
        if flags & 0x0001 != 0 || flags & 0x0040 != 0 {
            return Err(invalid(format!("the entry {name:?} is encrypted")));
        }
        if method != 0 && method != 8 {
            return Err(invalid(format!(
                "the entry {name:?} uses compression method {method} (only stored and deflate are read)"
            )));
        }
        if compressed == u32::MAX || uncompressed == u32::MAX || local_offset == u32::MAX {
            // ZIP64 is not read, but a ZIP64 size over the limit is reported as such.
            let extra_start = name_start + name_len;
            let extra = cd
                .get(extra_start..extra_start + extra_len)
                .ok_or_else(truncated)?;
            if uncompressed == u32::MAX {
                if let Some(size) = zip64_uncompressed(extra) {
                    if size.saturating_add(declared_total) > limits.max_bytes as u64 {
                        return Err(too_large(format!(
                            "the entry {name:?} declares {size} uncompressed bytes (the limit is {})",
                            limits.max_bytes
                        )));
                    }
                }
            }
            return Err(invalid("ZIP64 archives are not supported".into()));
        }
        if method == 0 && compressed != uncompressed {
            return Err(invalid(format!(
                "the stored entry {name:?} declares different sizes"
            )));
        }
        declared_total += u64::from(uncompressed);
        if declared_total > limits.max_bytes as u64 {
            return Err(too_large(format!(
                "the entries declare more than {} uncompressed bytes",
                limits.max_bytes
            )));
        }
        entries.push(Entry {
            name,
            method,
            crc,
            compressed: u64::from(compressed),
            uncompressed: u64::from(uncompressed),
            local_offset: u64::from(local_offset),
        });
        at = name_start + name_len + extra_len + comment_len;
    }
    Ok(entries)
}

/// The uncompressed size in a ZIP64 extended-information extra field, if any.
fn zip64_uncompressed(extra: &[u8]) -> Option<u64> {
    let mut at = 0usize;
    while at + 4 <= extra.len() {
        let id = u16_at(extra, at)?;
        let len = usize::from(u16_at(extra, at + 2)?);
        if id == 0x0001 {
            let s = extra.get(at + 4..at + 12)?;
            return Some(u64::from_le_bytes(s.try_into().ok()?));
        }
        at += 4 + len;
    }
    None
}

/// Refuses absolute names, drive letters, backslashes, NULs and `..` components.
fn check_name(name: &str, what: &str) -> Result<(), ScoreError> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.contains('\0')
        || name.contains(':')
        || name.split('/').any(|c| c == "..");
    if bad {
        return Err(invalid(format!("unsafe {what} {name:?}")));
    }
    Ok(())
}

/// Inflates one entry, stopping one byte past its declared size.
fn inflate(bytes: &[u8], entry: &Entry) -> Result<Vec<u8>, ScoreError> {
    let local = usize::try_from(entry.local_offset).map_err(|_| truncated())?;
    if u32_at(bytes, local) != Some(SIG_LOCAL) {
        return Err(invalid(format!(
            "bad local header for the entry {:?}",
            entry.name
        )));
    }
    let f16 = |off: usize| u16_at(bytes, local + off).ok_or_else(truncated);
    let flags = f16(6)?;
    let method = f16(8)?;
    if flags & 0x0041 != 0 || method != entry.method {
        return Err(invalid(format!(
            "the local header of {:?} disagrees with the central directory",
            entry.name
        )));
    }
    let data_start = local + LOCAL_LEN + usize::from(f16(26)?) + usize::from(f16(28)?);
    let compressed = usize::try_from(entry.compressed).map_err(|_| truncated())?;
    let declared = usize::try_from(entry.uncompressed).map_err(|_| truncated())?;
    let data = data_start
        .checked_add(compressed)
        .and_then(|end| bytes.get(data_start..end))
        .ok_or_else(truncated)?;
    let out = if entry.method == 0 {
        data.to_vec()
    } else {
        match miniz_oxide::inflate::decompress_to_vec_with_limit(data, declared.saturating_add(1)) {
            Ok(out) => out,
            Err(e) if e.status == miniz_oxide::inflate::TINFLStatus::HasMoreOutput => {
                return Err(too_large(format!(
                    "the entry {:?} inflates past its declared {declared} bytes",
                    entry.name
                )))
            }
            Err(_) => {
                return Err(invalid(format!(
                    "the entry {:?} has corrupt deflate data",
                    entry.name
                )))
            }
        }
    };
    if out.len() > declared {
        return Err(too_large(format!(
            "the entry {:?} inflates past its declared {declared} bytes",
            entry.name
        )));
    }
    if out.len() != declared {
        return Err(invalid(format!(
            "the entry {:?} is shorter than its declared size",
            entry.name
        )));
    }
    if crc32(&out) != entry.crc {
        return Err(invalid(format!(
            "CRC mismatch in the entry {:?}",
            entry.name
        )));
    }
    Ok(out)
}

/// The `full-path` of the container's first `<rootfile>`.
fn rootfile(xml: &[u8]) -> Result<String, ScoreError> {
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    loop {
        let event = reader
            .read_event_into(&mut buf)
            .map_err(|e| invalid(format!("malformed META-INF/container.xml: {e}")))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) if e.local_name().as_ref() == b"rootfile" => {
                for attr in e.attributes().flatten() {
                    if attr.key.local_name().as_ref() == b"full-path" {
                        let value = attr
                            .unescape_value()
                            .map_err(|e| invalid(format!("malformed rootfile full-path: {e}")))?;
                        return Ok(value.trim().to_owned());
                    }
                }
                return Err(invalid("the first rootfile has no full-path".into()));
            }
            Event::Eof => return Err(invalid("META-INF/container.xml names no rootfile".into())),
            _ => {}
        }
        buf.clear();
    }
}

/// CRC-32 (IEEE, as ZIP uses), bitwise; the inputs are small.
fn crc32(data: &[u8]) -> u32 {
    crc32fast::hash(data)
}

// ---------------------------------------------------------------------------
// Writing the archive

#[derive(Default)]
struct ZipWriter {
    out: Vec<u8>,
    central: Vec<u8>,
    count: u16,
}

fn too_big_to_write() -> WriteError {
    WriteError::Invalid {
        message: "the score is too large for an .mxl without ZIP64 (4 GiB)".into(),
        at: Default::default(),
    }
}

impl ZipWriter {
    fn add(&mut self, name: &str, data: &[u8], deflate: bool) -> Result<(), WriteError> {
        let (method, body) = if deflate {
            (8u16, miniz_oxide::deflate::compress_to_vec(data, 6))
        } else {
            (0u16, data.to_vec())
        };
        let crc = crc32(data);
        let size = u32::try_from(data.len()).map_err(|_| too_big_to_write())?;
        let csize = u32::try_from(body.len()).map_err(|_| too_big_to_write())?;
        let offset = u32::try_from(self.out.len()).map_err(|_| too_big_to_write())?;
        let name_len = u16::try_from(name.len()).map_err(|_| too_big_to_write())?;
        // Fixed timestamp 1980-01-01 00:00, so the output is deterministic.
        let (time, date) = (0u16, 0x0021u16);
        let o = &mut self.out;
        o.extend_from_slice(&SIG_LOCAL.to_le_bytes());
        for v in [20u16, 0, method, time, date] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, csize, size] {
            o.extend_from_slice(&v.to_le_bytes());
        }
        o.extend_from_slice(&name_len.to_le_bytes());
        o.extend_from_slice(&0u16.to_le_bytes());
        o.extend_from_slice(name.as_bytes());
        o.extend_from_slice(&body);
        let c = &mut self.central;
        c.extend_from_slice(&SIG_CENTRAL.to_le_bytes());
        for v in [20u16, 20, 0, method, time, date] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        for v in [crc, csize, size] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        for v in [name_len, 0, 0, 0, 0] {
            c.extend_from_slice(&v.to_le_bytes());
        }
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&offset.to_le_bytes());
        c.extend_from_slice(name.as_bytes());
        self.count += 1;
        Ok(())
    }

    fn finish(mut self) -> Result<Vec<u8>, WriteError> {
        let cd_offset = u32::try_from(self.out.len()).map_err(|_| too_big_to_write())?;
        let cd_size = u32::try_from(self.central.len()).map_err(|_| too_big_to_write())?;
        self.out.extend_from_slice(&self.central);
        self.out.extend_from_slice(&SIG_EOCD.to_le_bytes());
        for v in [0u16, 0, self.count, self.count] {
            self.out.extend_from_slice(&v.to_le_bytes());
        }
        self.out.extend_from_slice(&cd_size.to_le_bytes());
        self.out.extend_from_slice(&cd_offset.to_le_bytes());
        self.out.extend_from_slice(&0u16.to_le_bytes());
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn names() {
        assert!(check_name("score.musicxml", "n").is_ok());
        assert!(check_name("a/b.xml", "n").is_ok());
        for bad in ["../evil.xml", "/etc/x", "a/../../b", "c:\\x", "a\\b", ""] {
            assert!(check_name(bad, "n").is_err(), "{bad}");
        }
    }
}
