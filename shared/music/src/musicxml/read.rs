//! The MusicXML reader: bytes in, [`Score`] plus repair warnings out.
//!
//! # How it reads
//! quick-xml streams events; only the subtrees the model needs (header
//! elements and one measure at a time) are built into a small element tree,
//! so memory follows the largest measure, not the file. `score-timewise`
//! files are regrouped by part id into the same model.
//!
//! # Robustness (each repair adds a warning)
//! - A UTF-8 byte-order mark is skipped; a UTF-16 BOM decodes UTF-16.
//! - The encoding declaration is not trusted: bytes are read as UTF-8 and, if
//!   not valid UTF-8, as Windows-1252 (Latin-1 with the printable 0x80..0x9F
//!   characters browsers give the "latin1" label). A declaration that
//!   disagrees with what the bytes were read as is reported.
//! - A DOCTYPE is ignored (nothing is ever fetched).
//! - An unknown entity reference in text or an attribute is kept verbatim.
//! - No `divisions` before the first duration: 1 per quarter is assumed.
//! - `staves` 0 is read as 1; an unparsable staff, voice or tuplet is dropped.
//! - A non-integral alter (a microtone) is rounded to the nearest semitone.
//! - A chord member without a duration takes the previous note's.
//! - A missing measure number becomes its 1-based position; a part without
//!   an id gets `"P<n>"`; a key beyond 7 sharps or flats is dropped.
//! - Characters XML 1.0 forbids (controls other than tab, newline and carriage
//!   return; U+FFFE, U+FFFF), which quick-xml passes through, are dropped from
//!   text and attribute values, as the writer drops them.
//! - At most [`ReadLimits::max_warnings`] warnings are kept, then a count.
//!
//! # Hardening (each refusal a distinct [`ScoreError`] code)
//! - `SCORE_TOO_LARGE`: input over [`ReadLimits::max_bytes`] (64 MiB) or more
//!   than [`ReadLimits::max_elements`] (2,000,000) elements, or more than
//!   [`ReadLimits::max_measure_elements`] (100,000) in one measure (or other
//!   captured subtree), which bounds the memory the element tree takes.
//! - `SCORE_TOO_DEEP`: nesting deeper than [`ReadLimits::max_depth`] (64);
//!   real MusicXML nests under 10 levels.
//! - `SCORE_ENTITY`: a DOCTYPE that declares `<!ENTITY` (the billion-laughs
//!   family). Entities are never expanded; the five predefined entities and
//!   character references are resolved by quick-xml as usual.
//! - `INVALID_SCORE` (as for absurd values): malformed or truncated XML, with line and column.
//! - `INVALID_SCORE` (with part, measure, line and column): divisions not a
//!   positive integer; a negative duration or one over [`MAX_QUARTERS`]
//!   quarter lengths (10^6, about 70 hours at 240 bpm); an octave outside
//!   0..=9; an alter outside -3..=3; a step not A..G; a note without pitch,
//!   unpitched or rest; a missing duration; a duplicate part id; a root
//!   other than score-partwise/score-timewise.
//! - `SCORE_UNSUPPORTED`: `opus` documents, and compressed `.mxl` (a ZIP),
//!   which [`read_mxl`](super::mxl::read_mxl) and [`read_score`](crate::read_score) read.
//!
//! No input can make the reader panic: untrusted values are parsed with
//! checked conversions and looked up with `get`, never indexed or unwrapped.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use quick_xml::events::{BytesStart, Event};

use crate::error::{Location, ScoreError};
use crate::model::{
    Attributes, Barline, BarlineLocation, Clef, Direction, DirectionKind, Ending, EndingKind,
    Harmony, Instrument, Item, Key, Lyric, Measure, Note, Part, Pitch, RepeatDirection, Score,
    Sound, Step, Syllabic, TieType, TimeModification, TimeSig, Transpose, Unpitched, WedgeType,
};
use crate::rational::Rational;

/// The longest duration (and largest offset) accepted, in quarter lengths.
pub const MAX_QUARTERS: i64 = 1_000_000;

/// Bounds on what the reader accepts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReadLimits {
    /// Largest input in bytes.
    pub max_bytes: usize,
    /// Deepest element nesting.
    pub max_depth: usize,
    /// Most elements in the document.
    pub max_elements: u64,
    /// Most elements in one measure (the unit held in memory at once).
    pub max_measure_elements: u64,
    /// Most warnings kept (one more says how many were dropped).
    pub max_warnings: usize,
}

impl Default for ReadLimits {
    fn default() -> Self {
        ReadLimits {
            max_bytes: 64 * 1024 * 1024,
            max_depth: 64,
            max_elements: 2_000_000,
            max_measure_elements: 100_000,
            max_warnings: 200,
        }
    }
}

/// A score read from a file, with every repair the reader made.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Parsed {
    /// The score.
    pub score: Score,
    /// Human-readable notes on what was repaired or ignored.
    pub warnings: Vec<String>,
}

/// Reads a MusicXML (uncompressed, partwise or timewise) document with the default limits.
pub fn read_musicxml(bytes: &[u8]) -> Result<Parsed, ScoreError> {
    read_musicxml_with_limits(bytes, &ReadLimits::default())
}

/// Reads a MusicXML document under the given limits.
pub fn read_musicxml_with_limits(bytes: &[u8], limits: &ReadLimits) -> Result<Parsed, ScoreError> {
    if bytes.len() > limits.max_bytes {
        return Err(ScoreError::TooLarge {
            what: "bytes",
            limit: limits.max_bytes as u64,
        });
    }
    if bytes.starts_with(b"PK\x03\x04") {
        return Err(ScoreError::Unsupported {
            message:
                "this is compressed MusicXML (.mxl, a ZIP): read it with read_mxl or read_score"
                    .into(),
        });
    }
    let mut warnings = Warnings::new(limits.max_warnings);
    let (src, decoded_as) = decode(bytes, &mut warnings);
    let mut doc = Doc::new(&src, limits, decoded_as, warnings);
    doc.run()?;
    doc.finish()
}

// ---------------------------------------------------------------------------
// Decoding

/// What the bytes were decoded as, to compare with the declaration.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decoded {
    Utf8,
    Utf16,
    Windows1252,
}

/// The characters Windows-1252 puts at 0x80..=0x9F (undefined ones map to the C1 control).
const CP1252_HIGH: [char; 32] = [
    '€', '\u{81}', '‚', 'ƒ', '„', '…', '†', '‡', 'ˆ', '‰', 'Š', '‹', 'Œ', '\u{8d}', 'Ž', '\u{8f}',
    '\u{90}', '‘', '’', '“', '”', '•', '–', '—', '˜', '™', 'š', '›', 'œ', '\u{9d}', 'ž', 'Ÿ',
];

fn decode<'b>(bytes: &'b [u8], warnings: &mut Warnings) -> (Cow<'b, str>, Decoded) {
    if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        return decode_8bit(rest, warnings);
    }
    let utf16 = match bytes {
        [0xFF, 0xFE, rest @ ..] => Some((rest, false)),
        [0xFE, 0xFF, rest @ ..] => Some((rest, true)),
        _ => None,
    };
    if let Some((rest, big_endian)) = utf16 {
        let units = rest.chunks_exact(2).map(|c| match (c.first(), c.get(1)) {
            (Some(&a), Some(&b)) if big_endian => u16::from_be_bytes([a, b]),
            (Some(&a), Some(&b)) => u16::from_le_bytes([a, b]),
            _ => 0xFFFD,
        });
        let mut bad = rest.len() % 2 != 0;
        let text: String = char::decode_utf16(units)
            .map(|r| {
                r.unwrap_or_else(|_| {
                    bad = true;
                    char::REPLACEMENT_CHARACTER
                })
            })
            .collect();
        if bad {
            warnings.push("invalid UTF-16 sequences were replaced with U+FFFD".into());
        }
        return (Cow::Owned(text), Decoded::Utf16);
    }
    decode_8bit(bytes, warnings)
}

fn decode_8bit<'b>(bytes: &'b [u8], warnings: &mut Warnings) -> (Cow<'b, str>, Decoded) {
    match std::str::from_utf8(bytes) {
        // Valid UTF-8, the usual case, is read in place.
        Ok(s) => (Cow::Borrowed(s), Decoded::Utf8),
        Err(e) => {
            warnings.push(format!(
                "the bytes are not valid UTF-8 (first bad byte at offset {}); read as Latin-1 (Windows-1252)",
                e.valid_up_to()
            ));
            let text = bytes
                .iter()
                .map(|&b| match b {
                    0x80..=0x9F => CP1252_HIGH
                        .get(usize::from(b - 0x80))
                        .copied()
                        .unwrap_or('\u{FFFD}'),
                    _ => char::from(b),
                })
                .collect();
            (Cow::Owned(text), Decoded::Windows1252)
        }
    }
}

fn declared_matches(label: &str, decoded: Decoded) -> bool {
    let l = label.trim().to_ascii_lowercase();
    match decoded {
        Decoded::Utf8 => matches!(l.as_str(), "utf-8" | "utf8"),
        Decoded::Utf16 => l.starts_with("utf-16") || l == "utf16",
        Decoded::Windows1252 => matches!(
            l.as_str(),
            "iso-8859-1"
                | "iso8859-1"
                | "latin1"
                | "latin-1"
                | "l1"
                | "windows-1252"
                | "cp1252"
                | "us-ascii"
                | "ascii"
        ),
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(src: &str, pos: u64) -> (u64, u64) {
    let bytes = src.as_bytes();
    let end = usize::try_from(pos).unwrap_or(usize::MAX).min(bytes.len());
    let before = bytes.get(..end).unwrap_or(bytes);
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |i| i + 1);
    let column = before
        .get(line_start..)
        .unwrap_or(&[])
        .iter()
        .filter(|&&b| (b & 0xC0) != 0x80)
        .count() as u64
        + 1;
    (line, column)
}

// ---------------------------------------------------------------------------
// Warnings and the element tree

struct Warnings {
    list: Vec<String>,
    max: usize,
    dropped: usize,
}

impl Warnings {
    fn new(max: usize) -> Self {
        Warnings {
            list: Vec::new(),
            max,
            dropped: 0,
        }
    }

    fn push(&mut self, w: String) {
        if self.list.len() < self.max {
            self.list.push(w);
        } else {
            self.dropped += 1;
        }
    }

    fn into_vec(mut self) -> Vec<String> {
        if self.dropped > 0 {
            self.list
                .push(format!("{} more warnings were left out", self.dropped));
        }
        self.list
    }
}

/// One captured element: name, attributes, direct text and children.
#[derive(Debug, Default)]
struct Element<'s> {
    name: Cow<'static, str>,
    attrs: Vec<(Cow<'static, str>, String)>,
    /// Borrowed from the source when it is one chunk with nothing to unescape (most leaves).
    text: Cow<'s, str>,
    children: Vec<Element<'s>>,
    pos: u64,
}

impl<'s> Element<'s> {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    fn child(&self, name: &str) -> Option<&Element<'s>> {
        self.children.iter().find(|c| c.name == name)
    }

    fn children_named<'e>(&'e self, name: &'e str) -> impl Iterator<Item = &'e Element<'s>> + 'e {
        self.children.iter().filter(move |c| c.name == name)
    }

    fn has(&self, name: &str) -> bool {
        self.child(name).is_some()
    }

    /// A child's trimmed text, `None` when absent or blank.
    fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name)
            .map(|c| c.text.trim())
            .filter(|t| !t.is_empty())
    }
}

// ---------------------------------------------------------------------------
// The document reader

#[derive(Clone, Copy, PartialEq, Eq)]
enum Root {
    Partwise,
    Timewise,
}

/// A part-list entry.
#[derive(Default)]
struct ListedPart {
    name: Option<String>,
    instruments: Vec<Instrument>,
}

/// A part being read, with the state that carries across measures.
struct PartState {
    id: String,
    divisions: Option<Rational>,
    staves: u8,
    measures: Vec<Measure>,
}

/// The time-wise measure being read (its parts come as children).
struct TimewiseMeasure {
    number: Option<String>,
    implicit: bool,
    seen: HashSet<String>,
}

struct Doc<'s> {
    src: &'s str,
    limits: &'s ReadLimits,
    decoded_as: Decoded,
    warnings: Warnings,
    warned_elements: HashSet<String>,
    /// Names of the open elements (depth = len).
    stack: Vec<Cow<'static, str>>,
    elements: u64,
    /// Elements in the subtree being built.
    subtree_elements: u64,
    /// The subtree under construction, outermost first.
    building: Vec<Element<'s>>,
    root: Option<Root>,
    root_done: bool,
    work_title: Option<String>,
    movement_title: Option<String>,
    composer: Option<String>,
    credit_title: Option<String>,
    credit_composer: Option<String>,
    part_list: Vec<(String, ListedPart)>,
    parts: Vec<PartState>,
    part_index: HashMap<String, usize>,
    current_part: Option<usize>,
    timewise_measure: Option<TimewiseMeasure>,
    /// Where errors and warnings say they are.
    at_part: Option<String>,
    at_measure: Option<String>,
}

impl<'s> Doc<'s> {
    fn new(src: &'s str, limits: &'s ReadLimits, decoded_as: Decoded, warnings: Warnings) -> Self {
        Doc {
            src,
            limits,
            decoded_as,
            warnings,
            warned_elements: HashSet::new(),
            stack: Vec::new(),
            elements: 0,
            subtree_elements: 0,
            building: Vec::new(),
            root: None,
            root_done: false,
            work_title: None,
            movement_title: None,
            composer: None,
            credit_title: None,
            credit_composer: None,
            part_list: Vec::new(),
            parts: Vec::new(),
            part_index: HashMap::new(),
            current_part: None,
            timewise_measure: None,
            at_part: None,
            at_measure: None,
        }
    }

    // --- errors and warnings ---

    fn location(&self, pos: Option<u64>) -> Location {
        let (line, column) = match pos {
            Some(p) => {
                let (l, c) = line_col(self.src, p);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        Location {
            part: self.at_part.clone(),
            measure: self.at_measure.clone(),
            line,
            column,
        }
    }

    fn invalid(&self, el: &Element, message: impl Into<String>) -> ScoreError {
        ScoreError::Invalid {
            message: message.into(),
            at: self.location(Some(el.pos)),
        }
    }

    fn xml_error(&self, message: impl Into<String>, pos: u64) -> ScoreError {
        let (line, column) = line_col(self.src, pos);
        ScoreError::Xml {
            message: message.into(),
            line,
            column,
        }
    }

    fn warn(&mut self, message: impl Into<String>) {
        let message = message.into();
        let w = match (&self.at_part, &self.at_measure) {
            (Some(p), Some(m)) => format!("part {p:?} measure {m:?}: {message}"),
            (Some(p), None) => format!("part {p:?}: {message}"),
            _ => message,
        };
        self.warnings.push(w);
    }

    // --- the event loop ---

    fn run(&mut self) -> Result<(), ScoreError> {
        let mut reader = quick_xml::Reader::from_str(self.src);
        reader.config_mut().trim_text(false);
        loop {
            let before = reader.buffer_position();
            let event = match reader.read_event() {
                Ok(e) => e,
                Err(e) => return Err(self.xml_error(e.to_string(), reader.error_position())),
            };
            match event {
                Event::Start(e) => self.open(&e, before, false)?,
                Event::Empty(e) => self.open(&e, before, true)?,
                Event::End(_) => {
                    let depth = self.stack.len();
                    self.stack.pop();
                    self.close(depth)?;
                }
                Event::Text(t) => {
                    if self.building.is_empty() {
                        continue;
                    }
                    // The text as a slice of the source when it needs no unescaping (most
                    // leaves, and all indentation): no copy.
                    let plain = match &t.clone().into_inner() {
                        Cow::Borrowed(raw) if !raw.contains(&b'&') => {
                            std::str::from_utf8(raw).ok().filter(|s| all_xml_chars(s))
                        }
                        _ => None,
                    };
                    let text: Cow<'s, str> = match plain {
                        Some(s) => Cow::Borrowed(s),
                        None => match t.unescape() {
                            Ok(s) => Cow::Owned(self.xml_chars_owned(s.into_owned())),
                            Err(e) => {
                                self.warn(format!("{e}; the reference is kept as written"));
                                let raw = unescape_lenient(&String::from_utf8_lossy(&t));
                                Cow::Owned(self.xml_chars_owned(raw))
                            }
                        },
                    };
                    self.push_text(text);
                }
                Event::CData(c) => {
                    if !self.building.is_empty() {
                        let text = String::from_utf8_lossy(&c.into_inner()).into_owned();
                        let text = self.xml_chars_owned(text);
                        self.push_text(Cow::Owned(text));
                    }
                }
                Event::DocType(d) => {
                    let body = String::from_utf8_lossy(&d.into_inner()).to_ascii_lowercase();
                    if body.contains("<!entity") {
                        let (line, column) = line_col(self.src, before);
                        return Err(ScoreError::Entity { line, column });
                    }
                }
                Event::Decl(d) => {
                    if let Some(Ok(label)) = d.encoding() {
                        let label = String::from_utf8_lossy(&label).into_owned();
                        if !declared_matches(&label, self.decoded_as) {
                            let read_as = match self.decoded_as {
                                Decoded::Utf8 => "UTF-8",
                                Decoded::Utf16 => "UTF-16",
                                Decoded::Windows1252 => "Latin-1 (Windows-1252)",
                            };
                            self.warn(format!("the declared encoding {label:?} was ignored; the bytes were read as {read_as}"));
                        }
                    }
                }
                Event::Eof => {
                    if let Some(open) = self.stack.last() {
                        let message = format!("the input ends inside <{open}> (truncated?)");
                        return Err(self.xml_error(message, self.src.len() as u64));
                    }
                    if self.root.is_none() {
                        return Err(ScoreError::Invalid {
                            message: "no root element: this is not a MusicXML document".into(),
                            at: Location::default(),
                        });
                    }
                    return Ok(());
                }
                Event::Comment(_) | Event::PI(_) => {}
            }
        }
    }

    /// Appends text (already free of characters XML forbids) to the element being built.
    fn push_text(&mut self, text: Cow<'s, str>) {
        if let Some(top) = self.building.last_mut() {
            // Indentation between children is not content; leaf text is kept as written.
            let blank = || text.bytes().all(|b| b.is_ascii_whitespace()) || text.trim().is_empty();
            if top.children.is_empty() || !blank() {
                if top.text.is_empty() {
                    top.text = text;
                } else {
                    top.text.to_mut().push_str(&text);
                }
            }
        }
    }

    fn attributes(
        &mut self,
        e: &BytesStart<'_>,
        pos: u64,
    ) -> Result<Vec<(Cow<'static, str>, String)>, ScoreError> {
        let mut out = Vec::new();
        for attr in e.attributes() {
            let attr = attr.map_err(|err| self.xml_error(err.to_string(), pos))?;
            let key = name_of(attr.key.local_name().as_ref());
            // Layout attributes (default-x, width, font-size, ...) are most of a notation
            // program's output and nothing the model keeps: they are checked, not copied.
            if !USED_ATTRIBUTES.contains(&key.as_ref()) {
                continue;
            }
            let value = match attr.unescape_value() {
                Ok(v) => v.into_owned(),
                Err(err) => {
                    self.warn(format!(
                        "attribute {key}: {err}; the reference is kept as written"
                    ));
                    unescape_lenient(&String::from_utf8_lossy(&attr.value))
                }
            };
            let value = self.xml_chars_owned(value);
            out.push((key, value));
        }
        Ok(out)
    }

    /// The text without the characters XML 1.0 forbids (quick-xml passes them, the writer
    /// cannot write them), warned, so what is read writes back the same.
    /// [`Self::xml_chars`] for a string already owned: no copy when nothing is dropped.
    fn xml_chars_owned(&mut self, text: String) -> String {
        if all_xml_chars(&text) {
            return text;
        }
        self.xml_chars(&text).into_owned()
    }

    fn xml_chars<'t>(&mut self, text: &'t str) -> std::borrow::Cow<'t, str> {
        if all_xml_chars(text) {
            return text.into();
        }
        self.warn("characters XML 1.0 forbids (controls, U+FFFE, U+FFFF) were dropped");
        text.chars()
            .filter(|&c| is_xml_char(c))
            .collect::<String>()
            .into()
    }

    fn open(&mut self, e: &BytesStart<'_>, pos: u64, empty: bool) -> Result<(), ScoreError> {
        let depth = self.stack.len() + 1;
        if depth > self.limits.max_depth {
            let (line, column) = line_col(self.src, pos);
            return Err(ScoreError::TooDeep {
                limit: self.limits.max_depth,
                line,
                column,
            });
        }
        self.elements += 1;
        if self.elements > self.limits.max_elements {
            return Err(ScoreError::TooLarge {
                what: "elements",
                limit: self.limits.max_elements,
            });
        }
        let name = name_of(e.local_name().as_ref());
        // A known name without a prefix is an XML name already.
        let known = matches!(name, Cow::Borrowed(_)) && e.name().prefix().is_none();
        if !known && !is_qname(e.name().as_ref()) {
            let message = format!(
                "the element name {:?} is not an XML name",
                String::from_utf8_lossy(e.name().as_ref())
            );
            return Err(self.xml_error(message, pos));
        }
        if self.root_done {
            return Err(self.xml_error(format!("<{name}> after the root element ended"), pos));
        }
        let parent = self.stack.last().map(|n| n.as_ref());
        let capture = !self.building.is_empty()
            || match (depth, self.root) {
                (2, _) => matches!(
                    name.as_ref(),
                    "work" | "movement-title" | "identification" | "part-list" | "credit"
                ),
                (3, Some(Root::Partwise)) => parent == Some("part") && name == "measure",
                (3, Some(Root::Timewise)) => parent == Some("measure") && name == "part",
                _ => false,
            };
        if depth == 1 {
            self.root = Some(match name.as_ref() {
                "score-partwise" => Root::Partwise,
                "score-timewise" => Root::Timewise,
                "opus" => {
                    return Err(ScoreError::Unsupported {
                        message: "a MusicXML opus (a list of scores) is not read yet".into(),
                    })
                }
                other => {
                    return Err(ScoreError::Invalid {
                        message: format!(
                        "the root element is <{other}>, not <score-partwise> or <score-timewise>"
                    ),
                        at: self.location(Some(pos)),
                    })
                }
            });
        } else if capture {
            if self.building.is_empty() {
                self.subtree_elements = 0;
            }
            self.subtree_elements += 1;
            if self.subtree_elements > self.limits.max_measure_elements {
                return Err(ScoreError::TooLarge {
                    what: "elements in one measure",
                    limit: self.limits.max_measure_elements,
                });
            }
            let attrs = self.attributes(e, pos)?;
            self.building.push(Element {
                name: name.clone(),
                attrs,
                pos,
                ..Element::default()
            });
        } else if depth == 2 && self.root == Some(Root::Partwise) && name == "part" {
            let attrs = self.attributes(e, pos)?;
            let id = attrs
                .iter()
                .find(|(k, _)| k == "id")
                .map(|(_, v)| v.clone());
            self.begin_part(id, pos, true)?;
        } else if depth == 2 && self.root == Some(Root::Timewise) && name == "measure" {
            let attrs = self.attributes(e, pos)?;
            let get = |k: &str| attrs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
            self.timewise_measure = Some(TimewiseMeasure {
                number: get("number"),
                implicit: get("implicit").as_deref() == Some("yes"),
                seen: HashSet::new(),
            });
        }
        if empty {
            self.close(depth)
        } else {
            self.stack.push(name);
            Ok(())
        }
    }

    fn close(&mut self, depth: usize) -> Result<(), ScoreError> {
        if let Some(el) = self.building.pop() {
            match self.building.last_mut() {
                Some(parent) => parent.children.push(el),
                None => self.complete(el, depth)?,
            }
        } else if depth == 2 {
            self.current_part = None;
            self.timewise_measure = None;
            self.at_part = None;
        } else if depth == 1 {
            self.root_done = true;
        }
        Ok(())
    }

    /// Finds or (partwise: always) creates the state of a part.
    fn begin_part(
        &mut self,
        id: Option<String>,
        pos: u64,
        partwise: bool,
    ) -> Result<usize, ScoreError> {
        let id = match id.filter(|s| !s.trim().is_empty()) {
            Some(id) => id,
            None => {
                let id = format!("P{}", self.parts.len() + 1);
                self.warn(format!("a part has no id; it is called {id:?}"));
                id
            }
        };
        self.at_part = Some(id.clone());
        self.at_measure = None;
        if let Some(&i) = self.part_index.get(&id) {
            if partwise {
                return Err(ScoreError::Invalid {
                    message: "the part id appears twice".into(),
                    at: self.location(Some(pos)),
                });
            }
            self.current_part = Some(i);
            return Ok(i);
        }
        let i = self.parts.len();
        self.parts.push(PartState {
            id: id.clone(),
            divisions: None,
            staves: 1,
            measures: Vec::new(),
        });
        self.part_index.insert(id, i);
        self.current_part = Some(i);
        Ok(i)
    }

    /// Handles a captured subtree once its end tag is read.
    fn complete(&mut self, el: Element, depth: usize) -> Result<(), ScoreError> {
        match (depth, el.name.as_ref()) {
            (2, "work") => self.work_title = el.child_text("work-title").map(str::to_owned),
            (2, "movement-title") => {
                self.movement_title = Some(el.text.trim().to_owned()).filter(|t| !t.is_empty())
            }
            (2, "identification") => {
                let composer = el
                    .children_named("creator")
                    .find(|c| c.attr("type") == Some("composer"));
                self.composer = composer
                    .map(|c| c.text.trim().to_owned())
                    .filter(|t| !t.is_empty());
            }
            (2, "credit") => self.read_credit(&el),
            (2, "part-list") => self.read_part_list(&el),
            (3, "measure") => {
                if let Some(i) = self.current_part {
                    let number = el.attr("number").map(str::to_owned);
                    let implicit = el.attr("implicit") == Some("yes");
                    self.read_measure(i, number, implicit, &el)?;
                }
            }
            (3, "part") => {
                let Some(tw) = self.timewise_measure.as_ref() else {
                    return Ok(());
                };
                let (number, implicit) = (tw.number.clone(), tw.implicit);
                let i = self.begin_part(el.attr("id").map(str::to_owned), el.pos, false)?;
                let id = self.parts.get(i).map(|p| p.id.clone()).unwrap_or_default();
                let first = self
                    .timewise_measure
                    .as_mut()
                    .is_some_and(|tw| tw.seen.insert(id));
                if !first {
                    return Err(self.invalid(&el, "the part appears twice in one measure"));
                }
                self.read_measure(i, number, implicit, &el)?;
                self.at_part = None;
            }
            _ => {}
        }
        Ok(())
    }

    fn read_credit(&mut self, el: &Element) {
        let kind = el.child_text("credit-type");
        let words: Vec<&str> = el
            .children_named("credit-words")
            .map(|w| w.text.trim())
            .filter(|t| !t.is_empty())
            .collect();
        if words.is_empty() {
            return;
        }
        let text = words.join(" ");
        match kind {
            Some("title") if self.credit_title.is_none() => self.credit_title = Some(text),
            Some("composer") if self.credit_composer.is_none() => self.credit_composer = Some(text),
            _ => {}
        }
    }

    fn read_part_list(&mut self, el: &Element) {
        for sp in el.children_named("score-part") {
            let Some(id) = sp.attr("id") else {
                self.warn("a score-part has no id and was ignored");
                continue;
            };
            let mut listed = ListedPart {
                name: sp.child_text("part-name").map(str::to_owned),
                instruments: Vec::new(),
            };
            for si in sp.children_named("score-instrument") {
                if let Some(iid) = si.attr("id") {
                    listed.instruments.push(Instrument {
                        id: iid.to_owned(),
                        name: si.child_text("instrument-name").map(str::to_owned),
                        midi_channel: None,
                        midi_program: None,
                        midi_unpitched: None,
                    });
                }
            }
            for mi in sp.children_named("midi-instrument") {
                let target = mi.attr("id");
                let channel = self.midi_number(mi, "midi-channel", 16);
                let program = self.midi_number(mi, "midi-program", 128);
                let unpitched = self.midi_number(mi, "midi-unpitched", 128);
                let inst = match target {
                    Some(t) => listed.instruments.iter_mut().find(|i| i.id == t),
                    None => listed.instruments.first_mut(),
                };
                if let Some(inst) = inst {
                    inst.midi_channel = channel;
                    inst.midi_program = program;
                    inst.midi_unpitched = unpitched;
                }
            }
            self.part_list.push((id.to_owned(), listed));
        }
    }

    fn midi_number(&mut self, el: &Element, name: &str, max: u8) -> Option<u8> {
        let text = el.child_text(name)?;
        match text.parse::<u8>() {
            Ok(n) if (1..=max).contains(&n) => Some(n),
            _ => {
                self.warn(format!(
                    "{name} {text:?} is outside 1..={max} and was ignored"
                ));
                None
            }
        }
    }

    // --- measures ---

    fn read_measure(
        &mut self,
        part: usize,
        number: Option<String>,
        implicit: bool,
        content: &Element,
    ) -> Result<(), ScoreError> {
        let count = self.parts.get(part).map_or(0, |p| p.measures.len());
        let number = match number.filter(|n| !n.trim().is_empty()) {
            Some(n) => n,
            None => {
                let n = (count + 1).to_string();
                self.at_measure = Some(n.clone());
                self.warn(format!("a measure has no number; it is numbered {n:?}"));
                n
            }
        };
        self.at_measure = Some(number.clone());
        let mut measure = Measure {
            number,
            implicit,
            attributes: None,
            items: Vec::new(),
            barlines: Vec::new(),
        };
        let mut timed = false;
        let mut last_duration: Option<Rational> = None;
        for child in &content.children {
            match child.name.as_ref() {
                "attributes" => {
                    let attrs = self.read_attributes(part, child)?;
                    if timed {
                        measure.items.push(Item::Attributes(attrs));
                    } else {
                        let merged = measure.attributes.get_or_insert_with(Attributes::default);
                        merge_attributes(merged, attrs);
                    }
                }
                "note" => {
                    timed = true;
                    let note = self.read_note(part, child, last_duration)?;
                    last_duration = Some(note.duration);
                    measure.items.push(Item::Note(note));
                }
                "backup" | "forward" => {
                    timed = true;
                    let Some(d) = child.child("duration") else {
                        return Err(
                            self.invalid(child, format!("<{}> has no duration", child.name))
                        );
                    };
                    let duration = self.quarters(part, d, false)?;
                    measure.items.push(if child.name == "backup" {
                        Item::Backup { duration }
                    } else {
                        Item::Forward {
                            duration,
                            voice: child.child_text("voice").map(str::to_owned),
                            staff: self.staff(child),
                        }
                    });
                }
                "direction" => {
                    let d = self.read_direction(part, child)?;
                    measure.items.push(Item::Direction(d));
                }
                "sound" => {
                    let sound = self.read_sound(child);
                    measure.items.push(Item::Direction(Direction {
                        sound: Some(sound),
                        ..Direction::default()
                    }));
                }
                "harmony" => {
                    let h = self.read_harmony(part, child)?;
                    measure.items.push(Item::Harmony(h));
                }
                "barline" => {
                    let b = self.read_barline(child);
                    measure.barlines.push(b);
                }
                // Layout and analysis elements the model does not hold.
                "print" | "bookmark" | "link" | "grouping" | "listening" => {}
                other => {
                    if self.warned_elements.insert(other.to_owned()) {
                        self.warn(format!("<{other}> is not read yet and was skipped"));
                    }
                }
            }
        }
        if let Some(p) = self.parts.get_mut(part) {
            p.measures.push(measure);
        }
        self.at_measure = None;
        Ok(())
    }

    /// Converts a `<duration>`-like element (in divisions) to quarter lengths.
    fn quarters(
        &mut self,
        part: usize,
        el: &Element,
        signed: bool,
    ) -> Result<Rational, ScoreError> {
        let text = el.text.trim();
        let value = Rational::parse_decimal(text)
            .map_err(|_| self.invalid(el, format!("<{}> {text:?} is not a number", el.name)))?;
        if value.is_negative() && !signed {
            return Err(self.invalid(el, format!("<{}> {text:?} is negative", el.name)));
        }
        let divisions = match self.parts.get(part).and_then(|p| p.divisions) {
            Some(d) => d,
            None => {
                self.warn("no <divisions> before the first duration; 1 per quarter assumed");
                if let Some(p) = self.parts.get_mut(part) {
                    p.divisions = Some(Rational::ONE);
                }
                Rational::ONE
            }
        };
        let q = value
            .checked_div(divisions)
            .ok_or_else(|| self.invalid(el, format!("<{}> {text:?} overflows", el.name)))?;
        let limit = Rational::from_int(MAX_QUARTERS);
        let magnitude = if q.is_negative() {
            Rational::ZERO.checked_sub(q).unwrap_or(limit)
        } else {
            q
        };
        if magnitude > limit {
            return Err(self.invalid(
                el,
                format!(
                    "<{}> {text:?} is {q} quarter lengths, over the limit of {MAX_QUARTERS}",
                    el.name
                ),
            ));
        }
        Ok(q)
    }

    fn staff(&mut self, el: &Element) -> Option<u8> {
        let text = el.child_text("staff")?;
        match text.parse::<u8>() {
            Ok(n) if n >= 1 => Some(n),
            _ => {
                self.warn(format!(
                    "staff {text:?} is not a staff number and was dropped"
                ));
                None
            }
        }
    }

    fn read_attributes(&mut self, part: usize, el: &Element) -> Result<Attributes, ScoreError> {
        let mut a = Attributes::default();
        if let Some(d) = el.child("divisions") {
            let text = d.text.trim();
            let value = Rational::parse_decimal(text)
                .ok()
                .filter(|v| v.den() == 1 && v.num() > 0);
            let Some(n) = value.and_then(|v| u32::try_from(v.num()).ok()) else {
                return Err(
                    self.invalid(d, format!("divisions {text:?} is not a positive integer"))
                );
            };
            a.divisions = Some(n);
            if let Some(p) = self.parts.get_mut(part) {
                p.divisions = Some(Rational::from_int(i64::from(n)));
            }
        }
        if let Some(k) = el.child("key") {
            a.key = self.read_key(k)?;
        }
        if let Some(t) = el.child("time") {
            a.time = self.read_time(t);
        }
        if let Some(text) = el.child_text("staves") {
            let staves = match text.parse::<u8>() {
                Ok(0) => {
                    self.warn("staves 0 read as 1");
                    Some(1)
                }
                Ok(n) => Some(n),
                Err(_) => {
                    self.warn(format!("staves {text:?} is not a number and was ignored"));
                    None
                }
            };
            if let (Some(n), Some(p)) = (staves, self.parts.get_mut(part)) {
                p.staves = p.staves.max(n);
            }
            a.staves = staves;
        }
        for c in el.children_named("clef") {
            let Some(sign) = c.child_text("sign") else {
                self.warn("a clef has no sign and was ignored");
                continue;
            };
            let clef = Clef {
                sign: sign.to_owned(),
                line: self.small_int(c, "line"),
                staff: match c.attr("number") {
                    Some(n) => match n.trim().parse::<u8>() {
                        Ok(s) if s >= 1 => Some(s),
                        _ => {
                            self.warn(format!("clef number {n:?} is not a staff and was dropped"));
                            None
                        }
                    },
                    None => None,
                },
                octave_change: self.small_int(c, "clef-octave-change"),
            };
            a.clefs.push(clef);
        }
        if let Some(t) = el.child("transpose") {
            a.transpose = Some(Transpose {
                diatonic: self.small_int(t, "diatonic").unwrap_or(0),
                chromatic: self.small_int(t, "chromatic").unwrap_or(0),
                octave_change: self.small_int(t, "octave-change").unwrap_or(0),
            });
        }
        Ok(a)
    }

    /// A small signed integer child; unparsable values are dropped with a warning.
    fn small_int(&mut self, el: &Element, name: &str) -> Option<i8> {
        let text = el.child_text(name)?;
        match text.parse::<i8>() {
            Ok(n) => Some(n),
            Err(_) => {
                self.warn(format!(
                    "<{name}> {text:?} is not a small integer and was ignored"
                ));
                None
            }
        }
    }

    fn read_key(&mut self, k: &Element) -> Result<Option<Key>, ScoreError> {
        let Some(text) = k.child_text("fifths") else {
            self.warn("a key without <fifths> (non-traditional) is not read yet");
            return Ok(None);
        };
        let Ok(fifths) = text.parse::<i8>() else {
            return Err(self.invalid(k, format!("key fifths {text:?} is not an integer")));
        };
        if !(-7..=7).contains(&fifths) {
            self.warn(format!(
                "key fifths {fifths} is beyond 7 sharps or flats and was dropped"
            ));
            return Ok(None);
        }
        Ok(Some(Key {
            fifths,
            mode: k.child_text("mode").map(str::to_owned),
        }))
    }

    fn read_time(&mut self, t: &Element) -> Option<TimeSig> {
        let beats = t.child_text("beats");
        let beat_type = t.child_text("beat-type");
        let (Some(beats), Some(beat_type)) = (beats, beat_type) else {
            if !t.has("senza-misura") {
                self.warn("a time signature without beats or beat-type was ignored");
            }
            return None;
        };
        if t.children_named("beats").nth(1).is_some() {
            self.warn("only the first part of a composite time signature is kept");
        }
        Some(TimeSig {
            beats: beats.to_owned(),
            beat_type: beat_type.to_owned(),
            symbol: t.attr("symbol").map(str::to_owned),
        })
    }

    // --- notes ---

    fn step(&mut self, el: &Element, name: &str) -> Result<Step, ScoreError> {
        let Some(text) = el.child_text(name) else {
            return Err(self.invalid(el, format!("<{}> has no <{name}>", el.name)));
        };
        if let Some(s) = Step::from_letter(text) {
            return Ok(s);
        }
        match Step::from_letter(&text.to_ascii_uppercase()) {
            Some(s) => {
                self.warn(format!("step {text:?} read as upper case"));
                Ok(s)
            }
            None => Err(self.invalid(el, format!("step {text:?} is not A..G"))),
        }
    }

    fn octave(&mut self, el: &Element, name: &str) -> Result<i8, ScoreError> {
        let Some(text) = el.child_text(name) else {
            return Err(self.invalid(el, format!("<{}> has no <{name}>", el.name)));
        };
        match text.parse::<i8>() {
            Ok(o) if (0..=9).contains(&o) => Ok(o),
            _ => Err(self.invalid(el, format!("octave {text:?} is outside 0..=9"))),
        }
    }

    /// A semitone alter (-3..=3); microtones are rounded to the nearest semitone.
    fn alter(&mut self, el: &Element, name: &str) -> Result<i8, ScoreError> {
        let Some(text) = el.child_text(name) else {
            return Ok(0);
        };
        let Ok(value) = Rational::parse_decimal(text) else {
            return Err(self.invalid(el, format!("alter {text:?} is not a number")));
        };
        if value < Rational::from_int(-3) || value > Rational::from_int(3) {
            return Err(self.invalid(el, format!("alter {text:?} is outside -3..=3")));
        }
        let rounded = value.to_f64().round() as i8;
        if value.den() != 1 {
            self.warn(format!("microtonal alter {text} rounded to {rounded}"));
        }
        Ok(rounded)
    }

    fn read_note(
        &mut self,
        part: usize,
        el: &Element,
        previous: Option<Rational>,
    ) -> Result<Note, ScoreError> {
        let mut note = Note {
            chord: el.has("chord"),
            grace: el.has("grace"),
            cue: el.has("cue"),
            ..Note::default()
        };
        if let Some(p) = el.child("pitch") {
            note.pitch = Some(Pitch {
                step: self.step(p, "step")?,
                alter: self.alter(p, "alter")?,
                octave: self.octave(p, "octave")?,
            });
        } else if let Some(u) = el.child("unpitched") {
            let display_step = match u.child_text("display-step") {
                Some(_) => Some(self.step(u, "display-step")?),
                None => None,
            };
            let display_octave = match u.child_text("display-octave") {
                Some(_) => Some(self.octave(u, "display-octave")?),
                None => None,
            };
            note.unpitched = Some(Unpitched {
                display_step,
                display_octave,
                instrument: el
                    .child("instrument")
                    .and_then(|i| i.attr("id"))
                    .map(str::to_owned),
            });
        } else if let Some(r) = el.child("rest") {
            note.rest = true;
            note.measure_rest = r.attr("measure") == Some("yes");
        } else {
            return Err(self.invalid(el, "a note has no pitch, unpitched or rest"));
        }
        let duration = el.child("duration");
        note.duration = match (note.grace, duration, previous) {
            (true, Some(_), _) => {
                self.warn("a grace note's duration was ignored (grace notes take no time)");
                Rational::ZERO
            }
            (true, None, _) => Rational::ZERO,
            (false, Some(d), _) => self.quarters(part, d, false)?,
            (false, None, Some(prev)) if note.chord => {
                self.warn("a chord note without a duration takes the previous note's");
                prev
            }
            (false, None, _) => return Err(self.invalid(el, "a note has no duration")),
        };
        note.voice = el.child_text("voice").map(str::to_owned);
        note.staff = self.staff(el);
        note.note_type = el.child_text("type").map(str::to_owned);
        note.dots = u8::try_from(el.children_named("dot").count()).unwrap_or(u8::MAX);
        note.ties = tie_types(el.children_named("tie"));
        if note.ties.is_empty() {
            // Some exporters write only the notated <tied>, not the sounding <tie>.
            let tied = el
                .children_named("notations")
                .flat_map(|n| n.children_named("tied"));
            note.ties = tie_types(tied);
        }
        if let Some(tm) = el.child("time-modification") {
            let actual = tm
                .child_text("actual-notes")
                .and_then(|t| t.parse::<u32>().ok());
            let normal = tm
                .child_text("normal-notes")
                .and_then(|t| t.parse::<u32>().ok());
            match (actual, normal) {
                (Some(actual), Some(normal)) if actual > 0 && normal > 0 => {
                    note.tuplet = Some(TimeModification { actual, normal });
                }
                _ => self.warn(
                    "a time-modification without positive actual and normal notes was dropped",
                ),
            }
        }
        for l in el.children_named("lyric") {
            let texts: Vec<&str> = l.children_named("text").map(|t| t.text.as_ref()).collect();
            let syllabic = match l.child_text("syllabic") {
                Some("single") => Some(Syllabic::Single),
                Some("begin") => Some(Syllabic::Begin),
                Some("middle") => Some(Syllabic::Middle),
                Some("end") => Some(Syllabic::End),
                Some(other) => {
                    self.warn(format!(
                        "syllabic {other:?} is not single/begin/middle/end and was dropped"
                    ));
                    None
                }
                None => None,
            };
            note.lyrics.push(Lyric {
                verse: l.attr("number").unwrap_or("1").to_owned(),
                text: texts.join("‿"),
                syllabic,
                extend: l
                    .children_named("extend")
                    .any(|e| e.attr("type") != Some("stop")),
            });
        }
        for n in el.children_named("notations") {
            for a in n.children_named("articulations") {
                note.articulations
                    .extend(a.children.iter().map(|c| c.name.to_string()));
            }
            note.fermata |= n.has("fermata");
            for d in n.children_named("dynamics") {
                note.dynamics.extend(dynamic_marks(d));
            }
        }
        Ok(note)
    }

    // --- directions, harmony, barlines ---

    fn read_direction(&mut self, part: usize, el: &Element) -> Result<Direction, ScoreError> {
        let mut d = Direction {
            placement: el.attr("placement").map(str::to_owned),
            voice: el.child_text("voice").map(str::to_owned),
            staff: self.staff(el),
            ..Direction::default()
        };
        for dt in el.children_named("direction-type") {
            let mut metronome_done = false;
            for c in &dt.children {
                let kind = match c.name.as_ref() {
                    "dynamics" => DirectionKind::Dynamics {
                        marks: dynamic_marks(c),
                    },
                    "wedge" => {
                        let wedge = match c.attr("type") {
                            Some("crescendo") => WedgeType::Crescendo,
                            Some("diminuendo") => WedgeType::Diminuendo,
                            Some("stop") => WedgeType::Stop,
                            Some("continue") => WedgeType::Continue,
                            other => {
                                self.warn(format!(
                                    "wedge type {other:?} is not known and was dropped"
                                ));
                                continue;
                            }
                        };
                        DirectionKind::Wedge { wedge }
                    }
                    "words" => DirectionKind::Words {
                        text: c.text.to_string(),
                    },
                    "rehearsal" => DirectionKind::Rehearsal {
                        text: c.text.to_string(),
                    },
                    "metronome" if !metronome_done => {
                        metronome_done = true;
                        let Some(unit) = c.child_text("beat-unit") else {
                            self.warn("a metronome mark without a beat unit is not read yet");
                            continue;
                        };
                        // Dots belong to the first beat unit until a second one starts.
                        let dots = c
                            .children
                            .iter()
                            .skip_while(|x| x.name != "beat-unit")
                            .skip(1)
                            .take_while(|x| x.name == "beat-unit-dot")
                            .count();
                        DirectionKind::Metronome {
                            beat_unit: unit.to_owned(),
                            dots: u8::try_from(dots).unwrap_or(u8::MAX),
                            per_minute: c.child_text("per-minute").map(str::to_owned),
                        }
                    }
                    "segno" => DirectionKind::Segno,
                    "coda" => DirectionKind::Coda,
                    other => DirectionKind::Other {
                        name: other.to_owned(),
                    },
                };
                d.kinds.push(kind);
            }
        }
        if let Some(o) = el.child("offset") {
            d.offset = Some(self.quarters(part, o, true)?);
        }
        if let Some(s) = el.child("sound") {
            d.sound = Some(self.read_sound(s));
        }
        Ok(d)
    }

    fn read_sound(&mut self, el: &Element) -> Sound {
        let mut number = |name: &str| -> Option<Rational> {
            let text = el.attr(name)?;
            match Rational::parse_decimal(text) {
                Ok(v) if !v.is_negative() => Some(v),
                _ => {
                    self.warn(format!(
                        "sound {name} {text:?} is not a non-negative number and was ignored"
                    ));
                    None
                }
            }
        };
        let tempo = number("tempo");
        let dynamics = number("dynamics");
        let name = |n: &str| el.attr(n).map(str::to_owned);
        Sound {
            tempo,
            dynamics,
            dacapo: el.attr("dacapo") == Some("yes"),
            fine: el.attr("fine").is_some_and(|v| v != "no"),
            segno: name("segno"),
            dalsegno: name("dalsegno"),
            coda: name("coda"),
            tocoda: name("tocoda"),
        }
    }

    fn read_harmony(&mut self, part: usize, el: &Element) -> Result<Harmony, ScoreError> {
        let mut h = Harmony {
            staff: self.staff(el),
            ..Harmony::default()
        };
        if let Some(r) = el.child("root") {
            h.root_step = Some(self.step(r, "root-step")?);
            h.root_alter = self.alter(r, "root-alter")?;
        }
        if let Some(b) = el.child("bass") {
            h.bass_step = Some(self.step(b, "bass-step")?);
            h.bass_alter = self.alter(b, "bass-alter")?;
        }
        match el.child("kind") {
            Some(k) => {
                h.kind = Some(k.text.trim())
                    .filter(|t| !t.is_empty())
                    .unwrap_or("none")
                    .to_owned();
                h.text = k.attr("text").map(str::to_owned);
            }
            None => {
                self.warn("a harmony without <kind> read as kind \"none\"");
                h.kind = "none".into();
            }
        }
        if let Some(o) = el.child("offset") {
            h.offset = Some(self.quarters(part, o, true)?);
        }
        Ok(h)
    }

    fn read_barline(&mut self, el: &Element) -> Barline {
        let location = match el.attr("location") {
            None | Some("right") => BarlineLocation::Right,
            Some("left") => BarlineLocation::Left,
            Some("middle") => BarlineLocation::Middle,
            Some(other) => {
                self.warn(format!("barline location {other:?} read as right"));
                BarlineLocation::Right
            }
        };
        let mut b = Barline {
            location,
            style: el.child_text("bar-style").map(str::to_owned),
            ..Barline::default()
        };
        if let Some(r) = el.child("repeat") {
            b.repeat = match r.attr("direction") {
                Some("forward") => Some(RepeatDirection::Forward),
                Some("backward") => Some(RepeatDirection::Backward),
                other => {
                    self.warn(format!(
                        "repeat direction {other:?} is not known and was dropped"
                    ));
                    None
                }
            };
            if let Some(t) = r.attr("times") {
                b.times = t.trim().parse::<u32>().ok();
                if b.times.is_none() {
                    self.warn(format!(
                        "repeat times {t:?} is not a number and was dropped"
                    ));
                }
            }
        }
        if let Some(e) = el.child("ending") {
            let kind = match e.attr("type") {
                Some("start") => Some(EndingKind::Start),
                Some("stop") => Some(EndingKind::Stop),
                Some("discontinue") => Some(EndingKind::Discontinue),
                other => {
                    self.warn(format!(
                        "ending type {other:?} is not known and was dropped"
                    ));
                    None
                }
            };
            b.ending = kind.map(|kind| Ending {
                number: e.attr("number").unwrap_or("").to_owned(),
                kind,
                text: Some(e.text.trim().to_owned()).filter(|t| !t.is_empty()),
            });
        }
        b
    }

    // --- assembly ---

    fn finish(mut self) -> Result<Parsed, ScoreError> {
        let mut listed: HashMap<String, ListedPart> = HashMap::new();
        for (id, entry) in std::mem::take(&mut self.part_list) {
            listed.entry(id).or_insert(entry);
        }
        let mut parts = Vec::with_capacity(self.parts.len());
        for state in std::mem::take(&mut self.parts) {
            let entry = listed.remove(&state.id);
            if entry.is_none() {
                self.warnings
                    .push(format!("part {:?} is not in the part-list", state.id));
            }
            let entry = entry.unwrap_or_default();
            parts.push(Part {
                instrument: entry.instruments.first().and_then(|i| i.name.clone()),
                id: state.id,
                name: entry.name,
                instruments: entry.instruments,
                staves: state.staves.max(1),
                measures: state.measures,
            });
        }
        let mut unused: Vec<String> = listed.into_keys().collect();
        unused.sort();
        for id in unused {
            self.warnings
                .push(format!("part {id:?} is in the part-list but has no music"));
        }
        let score = Score {
            title: self
                .work_title
                .or(self.movement_title)
                .or(self.credit_title),
            composer: self.composer.or(self.credit_composer),
            parts,
        };
        Ok(Parsed {
            score,
            warnings: self.warnings.into_vec(),
        })
    }
}

use super::write::is_xml_char;

/// Whether the bytes are an element name XML with namespaces allows: one name, or prefix:name
/// (quick-xml ends a name at whitespace only, so `<a=b>` or `<a\0>` would pass it).
fn is_qname(raw: &[u8]) -> bool {
    use super::write::is_xml_name as ncname;
    let Ok(name) = std::str::from_utf8(raw) else {
        return false;
    };
    match name.split_once(':') {
        Some((prefix, local)) => ncname(prefix) && ncname(local),
        None => ncname(name),
    }
}

/// Resolves the predefined entities and character references, keeping any other
/// `&name;` verbatim (only used when quick-xml refused the text).
fn unescape_lenient(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(rest.get(..amp).unwrap_or(""));
        let after = rest.get(amp + 1..).unwrap_or("");
        let resolved = after.find(';').and_then(|semi| {
            let name = after.get(..semi)?;
            let c = match name {
                "lt" => '<',
                "gt" => '>',
                "amp" => '&',
                "apos" => '\'',
                "quot" => '"',
                _ => {
                    let code = match name.strip_prefix("#x") {
                        Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                        None => name.strip_prefix('#')?.parse::<u32>().ok()?,
                    };
                    char::from_u32(code)?
                }
            };
            Some((c, semi + 1))
        });
        match resolved {
            Some((c, used)) => {
                out.push(c);
                rest = after.get(used..).unwrap_or("");
            }
            None => {
                out.push('&');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Merges a later `<attributes>` at the same instant into the earlier one.
fn merge_attributes(into: &mut Attributes, from: Attributes) {
    into.divisions = from.divisions.or(into.divisions);
    into.key = from.key.or(into.key.take());
    into.time = from.time.or(into.time.take());
    into.staves = from.staves.or(into.staves);
    into.transpose = from.transpose.or(into.transpose.take());
    into.clefs.extend(from.clefs);
}

fn tie_types<'e, 's: 'e>(ties: impl Iterator<Item = &'e Element<'s>>) -> Vec<TieType> {
    let mut out = Vec::new();
    for t in ties {
        let kind = match t.attr("type") {
            Some("start") => TieType::Start,
            Some("stop") => TieType::Stop,
            _ => continue,
        };
        if !out.contains(&kind) {
            out.push(kind);
        }
    }
    out
}

fn dynamic_marks(d: &Element) -> Vec<String> {
    d.children
        .iter()
        .map(|m| match m.name.as_ref() {
            "other-dynamics" => m.text.trim().to_owned(),
            name => name.to_owned(),
        })
        .collect()
}

/// The attributes the reader looks at (`Element::attr`); the others are not kept.
const USED_ATTRIBUTES: &[&str] = &[
    "coda",
    "dacapo",
    "dalsegno",
    "direction",
    "dynamics",
    "fine",
    "id",
    "implicit",
    "location",
    "measure",
    "number",
    "placement",
    "segno",
    "symbol",
    "tempo",
    "text",
    "times",
    "tocoda",
    "type",
];

/// Whether XML 1.0 allows every character of `text`. Fast path by bytes: no C0 control but
/// tab, newline and return, and no 0xEF lead byte (U+FFFE and U+FFFF are EF BF BE / EF BF BF);
/// else the exact test by characters.
fn all_xml_chars(text: &str) -> bool {
    text.bytes()
        .all(|b| (b >= 0x20 && b != 0xEF) || matches!(b, b'\t' | b'\n' | b'\r'))
        || text.chars().all(is_xml_char)
}

/// An element or attribute name, without an allocation for the 118 most common ones.
fn name_of(raw: &[u8]) -> Cow<'static, str> {
    let known: &'static str = match raw {
        b"type" => "type",
        b"duration" => "duration",
        b"note" => "note",
        b"pitch" => "pitch",
        b"step" => "step",
        b"octave" => "octave",
        b"stem" => "stem",
        b"default-x" => "default-x",
        b"default-y" => "default-y",
        b"number" => "number",
        b"beam" => "beam",
        b"voice" => "voice",
        b"measure" => "measure",
        b"width" => "width",
        b"alter" => "alter",
        b"lyric" => "lyric",
        b"syllabic" => "syllabic",
        b"text" => "text",
        b"name" => "name",
        b"notations" => "notations",
        b"fermata" => "fermata",
        b"accidental" => "accidental",
        b"staff" => "staff",
        b"print" => "print",
        b"dot" => "dot",
        b"id" => "id",
        b"rest" => "rest",
        b"attributes" => "attributes",
        b"staff-layout" => "staff-layout",
        b"staff-distance" => "staff-distance",
        b"tie" => "tie",
        b"tied" => "tied",
        b"print-object" => "print-object",
        b"staff-details" => "staff-details",
        b"barline" => "barline",
        b"location" => "location",
        b"new-system" => "new-system",
        b"clef" => "clef",
        b"sign" => "sign",
        b"line" => "line",
        b"score-part" => "score-part",
        b"part-name" => "part-name",
        b"part" => "part",
        b"divisions" => "divisions",
        b"key" => "key",
        b"fifths" => "fifths",
        b"time" => "time",
        b"beats" => "beats",
        b"beat-type" => "beat-type",
        b"bar-style" => "bar-style",
        b"part-abbreviation" => "part-abbreviation",
        b"mode" => "mode",
        b"new-page" => "new-page",
        b"font-family" => "font-family",
        b"font-size" => "font-size",
        b"symbol" => "symbol",
        b"left-margin" => "left-margin",
        b"right-margin" => "right-margin",
        b"chord" => "chord",
        b"system-layout" => "system-layout",
        b"credit-words" => "credit-words",
        b"system-margins" => "system-margins",
        b"direction" => "direction",
        b"encoding" => "encoding",
        b"part-group" => "part-group",
        b"software" => "software",
        b"version" => "version",
        b"credit" => "credit",
        b"valign" => "valign",
        b"backup" => "backup",
        b"forward" => "forward",
        b"direction-type" => "direction-type",
        b"dynamics" => "dynamics",
        b"sound" => "sound",
        b"tempo" => "tempo",
        b"words" => "words",
        b"metronome" => "metronome",
        b"beat-unit" => "beat-unit",
        b"per-minute" => "per-minute",
        b"wedge" => "wedge",
        b"harmony" => "harmony",
        b"root" => "root",
        b"root-step" => "root-step",
        b"kind" => "kind",
        b"grace" => "grace",
        b"extend" => "extend",
        b"placement" => "placement",
        b"implicit" => "implicit",
        b"repeat" => "repeat",
        b"ending" => "ending",
        b"segno" => "segno",
        b"coda" => "coda",
        b"fine" => "fine",
        b"transpose" => "transpose",
        b"chromatic" => "chromatic",
        b"diatonic" => "diatonic",
        b"unpitched" => "unpitched",
        b"display-step" => "display-step",
        b"display-octave" => "display-octave",
        b"time-modification" => "time-modification",
        b"actual-notes" => "actual-notes",
        b"normal-notes" => "normal-notes",
        b"tuplet" => "tuplet",
        b"articulations" => "articulations",
        b"staccato" => "staccato",
        b"accent" => "accent",
        b"slur" => "slur",
        b"halign" => "halign",
        b"relative-x" => "relative-x",
        b"relative-y" => "relative-y",
        b"color" => "color",
        b"justify" => "justify",
        b"instrument" => "instrument",
        b"midi-instrument" => "midi-instrument",
        b"midi-channel" => "midi-channel",
        b"midi-program" => "midi-program",
        b"score-instrument" => "score-instrument",
        b"instrument-name" => "instrument-name",
        _ => {
            return match std::str::from_utf8(raw) {
                Ok(s) => Cow::Owned(s.to_owned()),
                Err(_) => Cow::Owned(String::from_utf8_lossy(raw).into_owned()),
            }
        }
    };
    Cow::Borrowed(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_col_counts_characters() {
        let src = "ab\ncé\nx";
        assert_eq!(line_col(src, 0), (1, 1));
        assert_eq!(line_col(src, 3), (2, 1));
        // 'é' is two bytes but one column.
        assert_eq!(line_col(src, 6), (2, 3));
        assert_eq!(line_col(src, 999), (3, 2));
    }

    #[test]
    fn latin1_fallback_uses_cp1252() {
        let mut w = Warnings::new(10);
        let (text, how) = decode(b"caf\xe9 \x93q\x94", &mut w);
        assert_eq!(text, "café “q”");
        assert_eq!(how, Decoded::Windows1252);
        assert_eq!(w.list.len(), 1);
    }

    #[test]
    fn utf16_is_decoded() {
        let mut w = Warnings::new(10);
        let mut bytes = vec![0xFF, 0xFE];
        for u in "<a/>".encode_utf16() {
            bytes.extend(u.to_le_bytes());
        }
        assert_eq!(decode(&bytes, &mut w), (Cow::from("<a/>"), Decoded::Utf16));
        assert!(w.list.is_empty());
    }

    /// Fuzzing found both (coda-fuzz `musicxml_read`): what the writer cannot write is not read.
    #[test]
    fn forbidden_characters_and_bad_element_names() {
        let doc = "<score-partwise><work><work-title>T\u{14}i&#x1;t</work-title></work>\
            <part-list><score-part id=\"P&#xFFFE;1\"/></part-list><part id=\"P1\"/></score-partwise>";
        let p = read_musicxml(doc.as_bytes()).unwrap();
        assert_eq!(p.score.title.as_deref(), Some("Tit"));
        assert_eq!(p.score.parts[0].id, "P1");
        assert_eq!(p.warnings.len(), 2, "{:?}", p.warnings);
        for bad in [
            "<a\u{0}b/>",
            "<wedge\u{FF}type=\"crescendo\"/>",
            "<a:b:c/>",
            "<1a/>",
        ] {
            let doc = format!(
                "<score-partwise><part-list/><part id=\"P1\">{bad}</part></score-partwise>"
            );
            let e = read_musicxml(doc.as_bytes()).unwrap_err();
            assert!(e.to_string().contains("is not an XML name"), "{bad}: {e}");
        }
        assert!(is_qname(b"x:accent") && is_qname("caf\u{E9}".as_bytes()));
    }

    #[test]
    fn lenient_unescape_keeps_unknown_entities() {
        assert_eq!(
            unescape_lenient("a&nbsp;b &#233;&#x41;&lt;&amp;x &bad"),
            "a&nbsp;b éA<&x &bad"
        );
        assert_eq!(unescape_lenient("&#xD800;&;"), "&#xD800;&;");
    }

    #[test]
    fn warnings_are_capped() {
        let mut w = Warnings::new(2);
        for i in 0..5 {
            w.push(i.to_string());
        }
        assert_eq!(
            w.into_vec(),
            vec!["0", "1", "3 more warnings were left out"]
        );
    }
}
