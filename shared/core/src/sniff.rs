//! Content sniffing: the declared content type is never trusted.

/// Whether a recorded content type (a [`Sniffed::mime`]) is a score's.
pub fn is_score_type(content_type: &str) -> bool {
    [Sniffed::Midi, Sniffed::Xml, Sniffed::Zip]
        .iter()
        .any(|s| s.mime() == content_type)
}

/// A recognised file type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    /// RIFF/WAVE.
    Wav,
    /// FLAC.
    Flac,
    /// MPEG audio (ID3 tag or frame sync).
    Mp3,
    /// Ogg container.
    Ogg,
    /// ISO-BMFF (M4A/MP4).
    Mp4,
    /// AIFF/AIFC.
    Aiff,
    /// Standard MIDI file.
    Midi,
    /// XML text (MusicXML).
    Xml,
    /// ZIP (compressed MusicXML, `.mxl`).
    Zip,
    /// A JSON document: a score in Coda's JSON, or notes.json from a transcription.
    Json,
}

impl Sniffed {
    /// The MIME type recorded for the blob.
    pub fn mime(self) -> &'static str {
        match self {
            Sniffed::Wav => "audio/wav",
            Sniffed::Flac => "audio/flac",
            Sniffed::Mp3 => "audio/mpeg",
            Sniffed::Ogg => "audio/ogg",
            Sniffed::Mp4 => "audio/mp4",
            Sniffed::Aiff => "audio/aiff",
            Sniffed::Midi => "audio/midi",
            Sniffed::Xml => "application/vnd.recordare.musicxml+xml",
            Sniffed::Zip => "application/vnd.recordare.musicxml",
            Sniffed::Json => "application/json",
        }
    }

    /// Whether the type carries audio samples.
    pub fn is_audio(self) -> bool {
        matches!(
            self,
            Sniffed::Wav
                | Sniffed::Flac
                | Sniffed::Mp3
                | Sniffed::Ogg
                | Sniffed::Mp4
                | Sniffed::Aiff
        )
    }

    /// Whether the type is a score (MusicXML, MXL or MIDI), read by `coda_music`.
    pub fn is_score(self) -> bool {
        matches!(self, Sniffed::Midi | Sniffed::Xml | Sniffed::Zip)
    }

    /// A file-extension hint for decoders.
    pub fn extension(self) -> &'static str {
        match self {
            Sniffed::Wav => "wav",
            Sniffed::Flac => "flac",
            Sniffed::Mp3 => "mp3",
            Sniffed::Ogg => "ogg",
            Sniffed::Mp4 => "m4a",
            Sniffed::Aiff => "aiff",
            Sniffed::Midi => "mid",
            Sniffed::Xml => "musicxml",
            Sniffed::Zip => "mxl",
            Sniffed::Json => "json",
        }
    }
}

/// Recognises a file by its leading bytes.
pub fn sniff(b: &[u8]) -> Option<Sniffed> {
    let at = |off: usize, magic: &[u8]| {
        b.len() >= off + magic.len() && &b[off..off + magic.len()] == magic
    };
    if at(0, b"RIFF") && at(8, b"WAVE") || at(0, b"RF64") && at(8, b"WAVE") {
        return Some(Sniffed::Wav);
    }
    if at(0, b"fLaC") {
        return Some(Sniffed::Flac);
    }
    if at(0, b"OggS") {
        return Some(Sniffed::Ogg);
    }
    if at(4, b"ftyp") {
        return Some(Sniffed::Mp4);
    }
    if at(0, b"FORM") && (at(8, b"AIFF") || at(8, b"AIFC")) {
        return Some(Sniffed::Aiff);
    }
    if at(0, b"MThd") {
        return Some(Sniffed::Midi);
    }
    if at(0, b"PK\x03\x04") {
        return Some(Sniffed::Zip);
    }
    if at(0, b"ID3") {
        return Some(Sniffed::Mp3);
    }
    // MPEG audio frame sync: 11 set bits, a valid layer and a bitrate index that is not "bad".
    if b.len() >= 4
        && b[0] == 0xFF
        && b[1] & 0xE0 == 0xE0
        && b[1] & 0x06 != 0
        && b[2] & 0xF0 != 0xF0
    {
        return Some(Sniffed::Mp3);
    }
    let text = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    let start = text
        .iter()
        .position(|c| !c.is_ascii_whitespace())
        .unwrap_or(text.len());
    let text = &text[start..];
    if text.starts_with(b"<?xml")
        || text.starts_with(b"<score-partwise")
        || text.starts_with(b"<score-timewise")
    {
        return Some(Sniffed::Xml);
    }
    // JSON only when the whole of it parses: an object or a list, never a bare value.
    if (text.starts_with(b"{") || text.starts_with(b"["))
        && serde_json::from_slice::<serde::de::IgnoredAny>(text).is_ok()
    {
        return Some(Sniffed::Json);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recognises_magic_numbers() {
        assert_eq!(sniff(b"RIFF\0\0\0\0WAVEfmt "), Some(Sniffed::Wav));
        assert_eq!(sniff(b"fLaC\0\0\0\x22"), Some(Sniffed::Flac));
        assert_eq!(sniff(b"OggS\0\x02"), Some(Sniffed::Ogg));
        assert_eq!(sniff(b"\0\0\0\x20ftypM4A "), Some(Sniffed::Mp4));
        assert_eq!(sniff(b"ID3\x04\0"), Some(Sniffed::Mp3));
        assert_eq!(sniff(&[0xFF, 0xFB, 0x90, 0x64]), Some(Sniffed::Mp3));
        assert_eq!(sniff(b"MThd\0\0\0\x06"), Some(Sniffed::Midi));
        assert_eq!(sniff(b"\xEF\xBB\xBF  <?xml version"), Some(Sniffed::Xml));
        assert_eq!(sniff(b"PK\x03\x04"), Some(Sniffed::Zip));
        assert_eq!(
            sniff(b"\n<score-timewise version=\"4.0\">"),
            Some(Sniffed::Xml)
        );
        assert_eq!(sniff(b" [{\"start_s\": 0}]\n"), Some(Sniffed::Json));
        assert_eq!(sniff(b"{\"parts\": []}"), Some(Sniffed::Json));
    }

    #[test]
    fn rejects_other_bytes() {
        assert_eq!(sniff(b""), None);
        assert_eq!(sniff(b"RIFF"), None);
        assert_eq!(sniff(b"hello world"), None);
        assert_eq!(sniff(&[0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
        // Only whole JSON documents, and only objects or lists.
        assert_eq!(sniff(b"[{\"start_s\": 0"), None);
        assert_eq!(sniff(b"{} trailing"), None);
        assert_eq!(sniff(b"42"), None);
    }
}
