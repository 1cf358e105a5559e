//! The MIDI reader: Standard MIDI File bytes in, [`Score`] plus warnings out.
//!
//! # What is read
//! - Formats 0 and 1. Format 0: one part per MIDI channel that plays notes, in
//!   channel order; the track name becomes the title. Format 1: one part per
//!   track that plays notes, in track order; the first track's name becomes
//!   the title when that track plays nothing (the conductor track), other
//!   track names become part names (else the instrument name, else the
//!   General MIDI program name, else "Track N").
//! - Tempo (from any track) → a direction in the first part with a quarter
//!   metronome mark (rounded for display) and the exact `sound tempo`
//!   (60,000,000 / µs per quarter). No tempo event: no direction (MIDI's
//!   default is 120 BPM).
//! - Time signatures → measure attributes; barlines follow them from tick 0
//!   (4/4 when the file has none, MIDI's default). A time signature that falls
//!   inside a measure cuts that measure short there (warned).
//! - Key signatures → measure attributes; one inside a measure applies from the
//!   next barline (warned). The key spells pitches: a key's own notes as the
//!   key writes them (F♯ in D major, C♭ in G♭ major), other naturals natural,
//!   other black keys as sharps in C and sharp keys and as flats in flat keys.
//! - Notes: note-on with velocity 0 is a note-off. A note-on on a key that is
//!   still sounding (same channel) ends the sounding note there; a note-off
//!   at the very tick of its note's onset, right after such a retrigger, is
//!   taken to belong to the note it ended (writers that put a repeated note's
//!   on before the previous off) and ignored; an unmatched note-off is
//!   ignored; a zero-length note is dropped; a note still sounding at the end
//!   of its track ends at the track's last event. Each is counted in a warning.
//! - Durations are exact: ticks / PPQ quarter lengths. Notes with the same
//!   onset and end form a chord; overlapping notes go to further voices
//!   (lowest free voice first). Gaps are rests (voice 1 always fills its
//!   measures; other voices fill only measures they play in); notes that
//!   cross a barline are split into tied notes. Plain, dotted, double-dotted
//!   and triplet values get a note type; other lengths have none.
//! - Channel 10 (index 9) plays percussion: unpitched notes, one part
//!   instrument per key (General MIDI name, `midi_unpitched` = key + 1).
//!   Other parts get one instrument with the channel and the program in force
//!   at the first note (later program changes are warned and ignored).
//! - Velocities → a dynamics direction whenever the nearest mark changes (see
//!   the table in [`crate::midi`]), with the exact `sound dynamics`.
//! - A clef per part: treble, bass (when the average key is below middle C)
//!   or percussion.
//!
//! Not read: controllers, pitch bend, aftertouch, sysex, lyrics, markers and
//! text events (skipped silently). SMPTE time division and format 2 are
//! refused with `MIDI_UNSUPPORTED` (converting SMPTE needs a tempo the file
//! does not give; format 2 holds independent sequences, not one score).
//!
//! # Hardening
//! - `MIDI_TOO_LARGE`: over [`MidiOptions::max_bytes`], more tracks (declared
//!   or present) than [`MidiOptions::max_tracks`], more events than
//!   [`MidiOptions::max_events`], a score longer than
//!   [`MAX_QUARTERS`](crate::MAX_QUARTERS) quarter lengths, or more measures
//!   or items than [`MidiOptions::max_measures`] / [`MidiOptions::max_items`].
//! - `INVALID_MIDI` (with the byte offset): no `MThd`, a header shorter than 6
//!   bytes, a chunk or event length beyond the bytes left (truncation), fewer
//!   track chunks than the header declares, a variable-length number over 4
//!   bytes, a data byte with no running status, a status byte where a data
//!   byte belongs, a system common/real-time status inside a track, PPQ 0.
//! - Running status that continues across a meta or sysex event (the spec
//!   cancels it there; some writers rely on it) is accepted with a warning.
//!
//! No declared length is used before it is checked against the bytes left,
//! nothing is allocated from one, and no input can make the reader panic.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap};

use super::{
    percussion_name, velocity_mark, MidiError, MidiOptions, Warnings, DEFAULT_VELOCITY, GM_PROGRAMS,
};
use crate::model::{
    Attributes, Clef, Direction, DirectionKind, Instrument, Item, Key, Measure, Note, Part, Pitch,
    Score, Sound, Step, TieType, TimeModification, TimeSig, Unpitched,
};
use crate::musicxml::{Parsed, MAX_QUARTERS};
use crate::rational::Rational;

/// Reads a Standard MIDI File (format 0 or 1) with the default limits.
pub fn read_midi(bytes: &[u8]) -> Result<Parsed, MidiError> {
    read_midi_with_options(bytes, &MidiOptions::default())
}

/// Reads a Standard MIDI File (format 0 or 1) under the given limits.
pub fn read_midi_with_options(bytes: &[u8], options: &MidiOptions) -> Result<Parsed, MidiError> {
    let mut warnings = Warnings::new(options.max_warnings);
    let smf = parse_smf(bytes, options, &mut warnings)?;
    let score = build_score(&smf, options, &mut warnings)?;
    Ok(Parsed {
        score,
        warnings: warnings.into_vec(),
    })
}

// ---------------------------------------------------------------------------
// The byte format

/// The events the reader uses (others are parsed, counted and skipped).
#[derive(Clone, Debug, PartialEq, Eq)]
enum Ev {
    On { ch: u8, key: u8, vel: u8 },
    Off { ch: u8, key: u8 },
    Program { ch: u8, program: u8 },
    Tempo(u32),
    Time { num: u8, den_pow: u8 },
    Key { fifths: i8, minor: bool },
    Name(String),
    Instrument(String),
}

#[derive(Clone, Debug)]
struct Timed {
    tick: u64,
    ev: Ev,
}

#[derive(Debug)]
struct Track {
    events: Vec<Timed>,
    /// The tick of the track's last event (end of track included).
    end: u64,
}

#[derive(Debug)]
struct Smf {
    format: u16,
    ppq: u16,
    tracks: Vec<Track>,
}

/// A bounds-checked reader over the input.
struct Bytes<'a> {
    data: &'a [u8],
    pos: usize,
}

fn invalid(message: impl Into<String>, offset: usize) -> MidiError {
    MidiError::Invalid {
        message: message.into(),
        offset,
    }
}

impl<'a> Bytes<'a> {
    fn left(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    fn peek(&self) -> Option<u8> {
        self.data.get(self.pos).copied()
    }

    fn u8(&mut self, what: &str) -> Result<u8, MidiError> {
        let b = self
            .peek()
            .ok_or_else(|| invalid(format!("truncated: {what} expected"), self.pos))?;
        self.pos += 1;
        Ok(b)
    }

    /// Takes `n` bytes, checking `n` against the bytes left first.
    fn take(&mut self, n: usize, what: &str) -> Result<&'a [u8], MidiError> {
        if n > self.left() {
            return Err(invalid(
                format!(
                    "{what} declares {n} bytes but only {} are left (truncated or corrupt)",
                    self.left()
                ),
                self.pos,
            ));
        }
        let s = self
            .data
            .get(self.pos..self.pos + n)
            .ok_or_else(|| invalid(format!("{what} is out of bounds"), self.pos))?;
        self.pos += n;
        Ok(s)
    }

    fn u16(&mut self, what: &str) -> Result<u16, MidiError> {
        let s = self.take(2, what)?;
        Ok(s.iter().fold(0u16, |a, &b| (a << 8) | u16::from(b)))
    }

    fn u32(&mut self, what: &str) -> Result<u32, MidiError> {
        let s = self.take(4, what)?;
        Ok(s.iter().fold(0u32, |a, &b| (a << 8) | u32::from(b)))
    }

    /// A variable-length quantity: at most 4 bytes, so at most 0x0FFF_FFFF.
    fn vlq(&mut self, what: &str) -> Result<u32, MidiError> {
        let start = self.pos;
        let mut v: u32 = 0;
        for _ in 0..4 {
            let b = self.u8(what)?;
            v = (v << 7) | u32::from(b & 0x7F);
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(invalid(
            format!("{what} is a variable-length number longer than 4 bytes"),
            start,
        ))
    }
}

/// Decodes MIDI text: UTF-8 when valid, else Latin-1 (most old files).
fn text(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(s) => s.trim().to_owned(),
        Err(_) => bytes
            .iter()
            .map(|&b| char::from(b))
            .collect::<String>()
            .trim()
            .to_owned(),
    }
}

fn parse_smf(
    bytes: &[u8],
    options: &MidiOptions,
    warnings: &mut Warnings,
) -> Result<Smf, MidiError> {
    if bytes.len() > options.max_bytes {
        return Err(MidiError::TooLarge {
            what: "bytes",
            limit: options.max_bytes as u64,
        });
    }
    let mut b = Bytes {
        data: bytes,
        pos: 0,
    };
    if bytes.get(0..4) != Some(b"MThd".as_slice()) {
        return Err(invalid("not a Standard MIDI File (no MThd header)", 0));
    }
    b.pos = 4;
    let header_len = b.u32("the header length")?;
    if header_len < 6 {
        return Err(invalid(
            format!("the header is {header_len} bytes; at least 6 are needed"),
            4,
        ));
    }
    let header_len = usize::try_from(header_len).unwrap_or(usize::MAX);
    let header = b.take(header_len, "the header chunk")?;
    let mut h = Bytes {
        data: header,
        pos: 0,
    };
    let format = h.u16("the format")?;
    let declared = h.u16("the track count")?;
    let division = h.u16("the time division")?;
    if header_len > 6 {
        warnings.push(format!(
            "the header has {} extra bytes; they were ignored",
            header_len - 6
        ));
    }
    match format {
        0 | 1 => {}
        2 => {
            return Err(MidiError::Unsupported {
                message: "format 2 (independent sequences) is not read".into(),
            })
        }
        other => return Err(invalid(format!("format {other} is not 0, 1 or 2"), 8)),
    }
    if division & 0x8000 != 0 {
        return Err(MidiError::Unsupported {
            message: "SMPTE time division is not read (it needs a tempo the file does not give); \
                      re-export with ticks per quarter note"
                .into(),
        });
    }
    if division == 0 {
        return Err(invalid("the time division is 0 ticks per quarter", 12));
    }
    if usize::from(declared) > options.max_tracks {
        return Err(MidiError::TooLarge {
            what: "tracks",
            limit: options.max_tracks as u64,
        });
    }
    let mut tracks = Vec::new();
    let mut events_seen: u64 = 0;
    let mut running_across_meta = false;
    while b.left() >= 8 {
        let tag_at = b.pos;
        let tag = b.take(4, "a chunk type")?;
        let len = b.u32("a chunk length")?;
        let len = usize::try_from(len).unwrap_or(usize::MAX);
        let data = b.take(len, "a chunk")?;
        if tag != b"MTrk" {
            warnings.push(format!(
                "an unknown chunk {:?} at byte {tag_at} was skipped",
                text(tag)
            ));
            continue;
        }
        if tracks.len() >= options.max_tracks {
            return Err(MidiError::TooLarge {
                what: "tracks",
                limit: options.max_tracks as u64,
            });
        }
        let base = b.pos - len;
        let track = parse_track(
            data,
            base,
            options,
            &mut events_seen,
            &mut running_across_meta,
            warnings,
        )?;
        tracks.push(track);
    }
    if tracks.len() < usize::from(declared) {
        return Err(invalid(
            format!(
                "the header declares {declared} tracks but the file holds {} (truncated?)",
                tracks.len()
            ),
            b.pos,
        ));
    }
    if b.left() > 0 {
        warnings.push(format!(
            "{} bytes after the last chunk were ignored",
            b.left()
        ));
    }
    if tracks.len() > usize::from(declared) {
        warnings.push(format!(
            "the header declares {declared} tracks but the file holds {}; all were read",
            tracks.len()
        ));
    }
    if running_across_meta {
        warnings.push("running status continued across a meta or sysex event (accepted)");
    }
    let format = if format == 0 && tracks.len() > 1 {
        warnings.push(format!(
            "a format 0 file holds {} tracks; read as format 1",
            tracks.len()
        ));
        1
    } else {
        format
    };
    Ok(Smf {
        format,
        ppq: division,
        tracks,
    })
}

fn parse_track(
    data: &[u8],
    base: usize,
    options: &MidiOptions,
    events_seen: &mut u64,
    running_across_meta: &mut bool,
    warnings: &mut Warnings,
) -> Result<Track, MidiError> {
    let mut b = Bytes { data, pos: 0 };
    let at = |b: &Bytes<'_>| base + b.pos;
    let mut events = Vec::new();
    let mut tick: u64 = 0;
    let mut running: Option<u8> = None;
    let mut after_meta = false;
    let mut ended = false;
    while b.left() > 0 {
        let delta = b.vlq("a delta time").map_err(|e| relocate(e, base))?;
        tick += u64::from(delta);
        *events_seen += 1;
        if *events_seen > options.max_events {
            return Err(MidiError::TooLarge {
                what: "events",
                limit: options.max_events,
            });
        }
        let status_at = at(&b);
        let first = b.u8("an event").map_err(|e| relocate(e, base))?;
        let (status, first_data) = if first >= 0x80 {
            (first, None)
        } else {
            match running {
                Some(s) => {
                    if after_meta {
                        *running_across_meta = true;
                    }
                    (s, Some(first))
                }
                None => {
                    return Err(invalid(
                        format!("data byte 0x{first:02X} with no running status in effect"),
                        status_at,
                    ))
                }
            }
        };
        match status {
            0x80..=0xEF => {
                running = Some(status);
                after_meta = false;
                let needs = if matches!(status & 0xF0, 0xC0 | 0xD0) {
                    1
                } else {
                    2
                };
                let mut d = [0u8; 2];
                for (i, slot) in d.iter_mut().enumerate().take(needs) {
                    let v = match (i, first_data) {
                        (0, Some(v)) => v,
                        _ => {
                            let p = at(&b);
                            let v = b.u8("a data byte").map_err(|e| relocate(e, base))?;
                            if v >= 0x80 {
                                return Err(invalid(
                                    format!("status byte 0x{v:02X} where a data byte belongs"),
                                    p,
                                ));
                            }
                            v
                        }
                    };
                    *slot = v;
                }
                let ch = status & 0x0F;
                let [d0, d1] = d;
                match status & 0xF0 {
                    0x90 if d1 > 0 => events.push(Timed {
                        tick,
                        ev: Ev::On {
                            ch,
                            key: d0,
                            vel: d1,
                        },
                    }),
                    0x80 | 0x90 => events.push(Timed {
                        tick,
                        ev: Ev::Off { ch, key: d0 },
                    }),
                    0xC0 => events.push(Timed {
                        tick,
                        ev: Ev::Program { ch, program: d0 },
                    }),
                    _ => {}
                }
            }
            0xF0 | 0xF7 => {
                if first_data.is_some() {
                    // Unreachable: running status is only ever a channel status.
                    return Err(invalid("sysex under running status", status_at));
                }
                after_meta = true;
                let len = b.vlq("a sysex length").map_err(|e| relocate(e, base))?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                b.take(len, "a sysex event")
                    .map_err(|e| relocate(e, base))?;
            }
            0xFF => {
                after_meta = true;
                let kind = b.u8("a meta event type").map_err(|e| relocate(e, base))?;
                let len = b
                    .vlq("a meta event length")
                    .map_err(|e| relocate(e, base))?;
                let len = usize::try_from(len).unwrap_or(usize::MAX);
                let body = b.take(len, "a meta event").map_err(|e| relocate(e, base))?;
                if kind == 0x2F {
                    ended = true;
                    if b.left() > 0 {
                        warnings.push(format!(
                            "{} bytes after a track's end-of-track event were ignored",
                            b.left()
                        ));
                    }
                    break;
                }
                if let Some(ev) = meta(kind, body, status_at, warnings) {
                    events.push(Timed { tick, ev });
                }
            }
            other => {
                return Err(invalid(
                    format!("system message 0x{other:02X} is not allowed in a MIDI file"),
                    status_at,
                ))
            }
        }
    }
    if !ended {
        warnings.push("a track has no end-of-track event");
    }
    Ok(Track { events, end: tick })
}

/// Moves a track-relative error offset to a file offset.
fn relocate(e: MidiError, base: usize) -> MidiError {
    match e {
        MidiError::Invalid { message, offset } => MidiError::Invalid {
            message,
            offset: offset + base,
        },
        other => other,
    }
}

fn meta(kind: u8, body: &[u8], at: usize, warnings: &mut Warnings) -> Option<Ev> {
    match (kind, body) {
        (0x03, _) => Some(Ev::Name(text(body))),
        (0x04, _) => Some(Ev::Instrument(text(body))),
        (0x51, &[a, b, c]) => {
            let us = (u32::from(a) << 16) | (u32::from(b) << 8) | u32::from(c);
            if us == 0 {
                warnings.push(format!(
                    "a tempo of 0 µs per quarter at byte {at} was ignored"
                ));
                None
            } else {
                Some(Ev::Tempo(us))
            }
        }
        (0x58, &[num, den_pow, ..]) if body.len() == 4 => {
            if num == 0 || den_pow > 10 {
                warnings.push(format!(
                    "a time signature {num}/2^{den_pow} at byte {at} was ignored"
                ));
                None
            } else {
                Some(Ev::Time { num, den_pow })
            }
        }
        (0x59, &[sf, mi]) => {
            let fifths = i8::from_ne_bytes([sf]);
            if !(-7..=7).contains(&fifths) || mi > 1 {
                warnings.push(format!(
                    "a key signature ({fifths} fifths, mode {mi}) at byte {at} was ignored"
                ));
                None
            } else {
                Some(Ev::Key {
                    fifths,
                    minor: mi == 1,
                })
            }
        }
        (0x51 | 0x58 | 0x59, _) => {
            warnings.push(format!(
                "a meta event 0x{kind:02X} of the wrong length ({}) at byte {at} was ignored",
                body.len()
            ));
            None
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// From events to a score

fn q(tick: u64, ppq: u16) -> Result<Rational, MidiError> {
    let t = i64::try_from(tick).map_err(|_| too_long())?;
    Rational::new(t, i64::from(ppq)).map_err(|_| too_long())
}

fn too_long() -> MidiError {
    MidiError::TooLarge {
        what: "quarter lengths",
        limit: MAX_QUARTERS as u64,
    }
}

fn add(a: Rational, b: Rational) -> Result<Rational, MidiError> {
    a.checked_add(b).ok_or_else(too_long)
}

fn sub(a: Rational, b: Rational) -> Result<Rational, MidiError> {
    a.checked_sub(b).ok_or_else(too_long)
}

/// One sounding note, in ticks.
#[derive(Clone, Copy, Debug)]
struct RawNote {
    on: u64,
    off: u64,
    ch: u8,
    key: u8,
    vel: u8,
}

/// Counts of repaired note events, reported once per file.
#[derive(Default)]
struct PairStats {
    unmatched_offs: usize,
    retriggers: usize,
    zero_length: usize,
    hanging: usize,
}

/// Pairs note-ons with note-offs per channel and key (see the module docs).
fn pair_notes(events: &[Timed], end: u64, stats: &mut PairStats) -> Vec<RawNote> {
    #[derive(Clone, Copy)]
    struct Open {
        on: u64,
        vel: u8,
        /// The tick at which a retrigger ended the previous note on this key.
        retriggered_at: Option<u64>,
    }
    let mut open: Vec<Option<Open>> = vec![None; 16 * 128];
    let mut notes = Vec::new();
    fn close(
        notes: &mut Vec<RawNote>,
        stats: &mut PairStats,
        (ch, key): (u8, u8),
        on: u64,
        off: u64,
        vel: u8,
    ) {
        if off > on {
            notes.push(RawNote {
                on,
                off,
                ch,
                key,
                vel,
            });
        } else {
            stats.zero_length += 1;
        }
    }
    for e in events {
        match e.ev {
            Ev::On { ch, key, vel } => {
                let Some(slot) = open.get_mut(usize::from(ch) * 128 + usize::from(key)) else {
                    continue;
                };
                let mut retriggered_at = None;
                if let Some(prev) = slot.take() {
                    stats.retriggers += 1;
                    close(&mut notes, stats, (ch, key), prev.on, e.tick, prev.vel);
                    retriggered_at = Some(e.tick);
                }
                *slot = Some(Open {
                    on: e.tick,
                    vel,
                    retriggered_at,
                });
            }
            Ev::Off { ch, key } => {
                let Some(slot) = open.get_mut(usize::from(ch) * 128 + usize::from(key)) else {
                    continue;
                };
                match *slot {
                    Some(o) if o.on == e.tick && o.retriggered_at == Some(e.tick) => {
                        // This off belongs to the note the retrigger already ended.
                        *slot = Some(Open {
                            retriggered_at: None,
                            ..o
                        });
                        stats.retriggers = stats.retriggers.saturating_sub(1);
                    }
                    Some(o) => {
                        close(&mut notes, stats, (ch, key), o.on, e.tick, o.vel);
                        *slot = None;
                    }
                    None => stats.unmatched_offs += 1,
                }
            }
            _ => {}
        }
    }
    for (i, slot) in open.iter().enumerate() {
        if let Some(o) = slot {
            stats.hanging += 1;
            let ch = u8::try_from(i / 128).unwrap_or(0);
            let key = u8::try_from(i % 128).unwrap_or(0);
            close(&mut notes, stats, (ch, key), o.on, end, o.vel);
        }
    }
    notes.sort_by_key(|n| (n.on, n.off, n.key));
    notes
}

/// What one part is built from.
struct PartSource {
    name: Option<String>,
    instrument_name: Option<String>,
    channel: u8,
    program: Option<u8>,
    notes: Vec<RawNote>,
}

/// The channel and program of a part: the first note's channel and the
/// program in force there at its first note (else the first program change).
fn channel_program(
    events: &[Timed],
    notes: &[RawNote],
    label: &str,
    warnings: &mut Warnings,
) -> (u8, Option<u8>) {
    let Some(first) = notes.first() else {
        return (0, None);
    };
    let ch = first.ch;
    if notes.iter().any(|n| n.ch != ch) {
        warnings.push(format!(
            "{label} plays on several channels; read as one part on channel {}",
            ch + 1
        ));
    }
    let mut program = None;
    let mut changes_after = 0usize;
    for e in events {
        if let Ev::Program { ch: c, program: p } = e.ev {
            if c != ch {
                continue;
            }
            if e.tick <= first.on || program.is_none() {
                program = Some(p);
            } else {
                changes_after += 1;
            }
        }
    }
    if changes_after > 0 {
        warnings.push(format!(
            "{label}: {changes_after} program changes after the first note were ignored"
        ));
    }
    (ch, program)
}

/// A measure's place in time and the attributes that start there.
struct Bar {
    start: Rational,
    len: Rational,
    time: Option<TimeSig>,
    key: Option<Key>,
    fifths: i8,
}

fn build_bars(
    smf: &Smf,
    end: Rational,
    options: &MidiOptions,
    warnings: &mut Warnings,
) -> Result<Vec<Bar>, MidiError> {
    // Later events at the same tick win (BTreeMap insert replaces).
    let mut times: BTreeMap<u64, (u8, u8)> = BTreeMap::new();
    let mut keys: BTreeMap<u64, (i8, bool)> = BTreeMap::new();
    for t in &smf.tracks {
        for e in &t.events {
            match e.ev {
                Ev::Time { num, den_pow } => {
                    times.insert(e.tick, (num, den_pow));
                }
                Ev::Key { fifths, minor } => {
                    keys.insert(e.tick, (fifths, minor));
                }
                _ => {}
            }
        }
    }
    let mut time_changes = Vec::new();
    for (&tick, &(num, den_pow)) in &times {
        let len = Rational::new(i64::from(num) * 4, 1i64 << den_pow).map_err(|_| too_long())?;
        let sig = TimeSig {
            beats: num.to_string(),
            beat_type: (1u32 << den_pow).to_string(),
            symbol: None,
        };
        time_changes.push((q(tick, smf.ppq)?, len, sig));
    }
    let mut key_changes = Vec::new();
    for (&tick, &(fifths, minor)) in &keys {
        key_changes.push((q(tick, smf.ppq)?, fifths, minor));
    }
    let has_keys = !key_changes.is_empty();

    let mut bars: Vec<Bar> = Vec::new();
    let mut pos = Rational::ZERO;
    let mut len = Rational::from_int(4);
    let mut sig = TimeSig {
        beats: "4".into(),
        beat_type: "4".into(),
        symbol: None,
    };
    let mut next_time = 0usize;
    let mut next_key = 0usize;
    let mut fifths: i8 = 0;
    let mut mode_minor = false;
    let mut cut_short = 0usize;
    let mut key_moved = 0usize;
    while pos < end || bars.is_empty() {
        if bars.len() >= options.max_measures {
            return Err(MidiError::TooLarge {
                what: "measures",
                limit: options.max_measures as u64,
            });
        }
        let mut time_changed = bars.is_empty();
        while let Some((at, l, s)) = time_changes.get(next_time) {
            if *at > pos {
                break;
            }
            if *l != len || *s != sig {
                time_changed = true;
            }
            len = *l;
            sig = s.clone();
            next_time += 1;
        }
        let mut key_changed = bars.is_empty() && has_keys;
        while let Some(&(at, f, minor)) = key_changes.get(next_key) {
            if at > pos {
                break;
            }
            if at < pos {
                key_moved += 1;
            }
            if f != fifths || minor != mode_minor || bars.is_empty() {
                key_changed = true;
            }
            fifths = f;
            mode_minor = minor;
            next_key += 1;
        }
        let mut this_len = len;
        if let Some((at, _, _)) = time_changes.get(next_time) {
            let until = sub(*at, pos)?;
            if until < this_len {
                this_len = until;
                cut_short += 1;
            }
        }
        bars.push(Bar {
            start: pos,
            len: this_len,
            time: time_changed.then(|| sig.clone()),
            key: key_changed.then(|| Key {
                fifths,
                mode: Some(if mode_minor { "minor" } else { "major" }.to_owned()),
            }),
            fifths,
        });
        pos = add(pos, this_len)?;
    }
    if cut_short > 0 {
        warnings.push(format!(
            "{cut_short} time signature changes fell inside a measure; those measures were cut short"
        ));
    }
    if key_moved > 0 {
        warnings.push(format!(
            "{key_moved} key signature changes fell inside a measure; each applies from the next barline"
        ));
    }
    Ok(bars)
}

/// Notes with the same onset and end, sorted by key.
struct Chord {
    on: Rational,
    end: Rational,
    keys: Vec<u8>,
    vel: u8,
}

/// A note value's type, dots and tuplet when it is a plain, dotted or triplet value.
fn notation(d: Rational) -> (Option<String>, u8, Option<TimeModification>) {
    let find = |v: Rational| -> Option<(&'static str, u8)> {
        for &(name, n, den) in &crate::model::NOTE_TYPES {
            let base = Rational::new(n, den).ok()?;
            for (dots, factor) in [(0u8, (1, 1)), (1, (3, 2)), (2, (7, 4))] {
                let f = Rational::new(factor.0, factor.1).ok()?;
                if base.checked_mul(f) == Some(v) {
                    return Some((name, dots));
                }
            }
        }
        None
    };
    if let Some((name, dots)) = find(d) {
        return (Some(name.to_owned()), dots, None);
    }
    // A triplet value: 3 in the time of 2.
    if let Some(v) = Rational::new(3, 2).ok().and_then(|f| d.checked_mul(f)) {
        if let Some((name, dots)) = find(v) {
            return (
                Some(name.to_owned()),
                dots,
                Some(TimeModification {
                    actual: 3,
                    normal: 2,
                }),
            );
        }
    }
    (None, 0, None)
}

/// Spells a MIDI key in a key signature (see the module docs).
fn spell(key: u8, fifths: i8) -> Pitch {
    const SHARPS: [Step; 7] = [
        Step::F,
        Step::C,
        Step::G,
        Step::D,
        Step::A,
        Step::E,
        Step::B,
    ];
    const FLATS: [Step; 7] = [
        Step::B,
        Step::E,
        Step::A,
        Step::D,
        Step::G,
        Step::C,
        Step::F,
    ];
    let n = usize::from(fifths.unsigned_abs());
    let key_alter = |s: Step| -> i8 {
        if fifths > 0 && SHARPS.iter().take(n).any(|&x| x == s) {
            1
        } else if fifths < 0 && FLATS.iter().take(n).any(|&x| x == s) {
            -1
        } else {
            0
        }
    };
    let midi = i32::from(key);
    let pc = midi.rem_euclid(12);
    let pick = |want: &dyn Fn(Step) -> Option<i8>| {
        Step::ALL.iter().find_map(|&s| {
            let a = want(s)?;
            ((s.semitone() + i32::from(a)).rem_euclid(12) == pc).then_some((s, a))
        })
    };
    let (step, alter) = pick(&|s| Some(key_alter(s)))
        .or_else(|| pick(&|_| Some(0)))
        .or_else(|| pick(&|_| Some(if fifths >= 0 { 1 } else { -1 })))
        .unwrap_or((Step::C, 0));
    let octave = (midi - step.semitone() - i32::from(alter)).div_euclid(12) - 1;
    Pitch {
        step,
        alter,
        octave: i8::try_from(octave).unwrap_or(0),
    }
}

/// Counts items against [`MidiOptions::max_items`].
struct Budget {
    used: u64,
    max: u64,
}

impl Budget {
    fn take(&mut self, n: u64) -> Result<(), MidiError> {
        self.used = self.used.saturating_add(n);
        if self.used > self.max {
            return Err(MidiError::TooLarge {
                what: "score items",
                limit: self.max,
            });
        }
        Ok(())
    }
}

fn build_score(
    smf: &Smf,
    options: &MidiOptions,
    warnings: &mut Warnings,
) -> Result<Score, MidiError> {
    let mut stats = PairStats::default();
    let mut sources: Vec<PartSource> = Vec::new();
    let mut title = None;
    let track_name = |t: &Track| {
        t.events.iter().find_map(|e| match &e.ev {
            Ev::Name(n) if !n.is_empty() => Some(n.clone()),
            _ => None,
        })
    };
    let instrument_name = |t: &Track| {
        t.events.iter().find_map(|e| match &e.ev {
            Ev::Instrument(n) if !n.is_empty() => Some(n.clone()),
            _ => None,
        })
    };
    if smf.format == 0 {
        if let Some(t) = smf.tracks.first() {
            title = track_name(t);
            let notes = pair_notes(&t.events, t.end, &mut stats);
            let mut channels: BTreeMap<u8, Vec<RawNote>> = BTreeMap::new();
            for n in notes {
                channels.entry(n.ch).or_default().push(n);
            }
            let single = channels.len() == 1;
            for (ch, notes) in channels {
                let label = format!("channel {}", ch + 1);
                let (channel, program) = channel_program(&t.events, &notes, &label, warnings);
                sources.push(PartSource {
                    name: None,
                    instrument_name: if single { instrument_name(t) } else { None },
                    channel,
                    program,
                    notes,
                });
            }
        }
    } else {
        for (i, t) in smf.tracks.iter().enumerate() {
            let notes = pair_notes(&t.events, t.end, &mut stats);
            if notes.is_empty() {
                if i == 0 {
                    title = track_name(t);
                }
                continue;
            }
            let label = format!("track {}", i + 1);
            let (channel, program) = channel_program(&t.events, &notes, &label, warnings);
            sources.push(PartSource {
                name: track_name(t).or_else(|| Some(format!("Track {}", i + 1))),
                instrument_name: instrument_name(t),
                channel,
                program,
                notes,
            });
        }
    }
    if stats.unmatched_offs > 0 {
        warnings.push(format!(
            "{} note-offs had no sounding note and were ignored",
            stats.unmatched_offs
        ));
    }
    if stats.retriggers > 0 {
        warnings.push(format!(
            "{} note-ons came on a key still sounding; each ended the sounding note",
            stats.retriggers
        ));
    }
    if stats.zero_length > 0 {
        warnings.push(format!(
            "{} zero-length notes were dropped",
            stats.zero_length
        ));
    }
    if stats.hanging > 0 {
        warnings.push(format!(
            "{} notes had no note-off; each ends at its track's last event",
            stats.hanging
        ));
    }
    if sources.is_empty() {
        warnings.push("the file plays no notes; the score has no parts");
        return Ok(Score {
            title,
            composer: None,
            parts: Vec::new(),
        });
    }

    let ppq = smf.ppq;
    let last_tick = sources
        .iter()
        .flat_map(|s| s.notes.iter().map(|n| n.off))
        .max()
        .unwrap_or(0);
    let end = q(last_tick, ppq)?;
    if end > Rational::from_int(MAX_QUARTERS) {
        return Err(too_long());
    }
    let bars = build_bars(smf, end, options, warnings)?;
    let mut budget = Budget {
        used: 0,
        max: options.max_items,
    };
    // Every part holds at least one item per measure: refuse before building.
    let cells = (bars.len() as u64).saturating_mul(sources.len() as u64);
    budget.take(cells)?;
    budget.used = 0;

    // The tempo map, for the first part.
    let mut tempos: BTreeMap<u64, u32> = BTreeMap::new();
    for t in &smf.tracks {
        for e in &t.events {
            if let Ev::Tempo(us) = e.ev {
                tempos.insert(e.tick, us);
            }
        }
    }
    let mut tempo_directions = Vec::new();
    for (&tick, &us) in &tempos {
        let at = q(tick, ppq)?;
        if at >= end {
            continue;
        }
        let bpm = Rational::new(60_000_000, i64::from(us)).map_err(|_| too_long())?;
        let shown = (60_000_000u64 + u64::from(us) / 2) / u64::from(us);
        tempo_directions.push((
            at,
            Direction {
                kinds: vec![DirectionKind::Metronome {
                    beat_unit: "quarter".into(),
                    dots: 0,
                    per_minute: Some(shown.to_string()),
                }],
                placement: Some("above".into()),
                sound: Some(Sound {
                    tempo: Some(bpm),
                    ..Sound::default()
                }),
                ..Direction::default()
            },
        ));
    }

    let mut parts = Vec::new();
    let mut low_octave = 0usize;
    for (index, source) in sources.iter().enumerate() {
        let directions = if index == 0 {
            tempo_directions.clone()
        } else {
            Vec::new()
        };
        let part = build_part(
            index,
            source,
            ppq,
            &bars,
            directions,
            &mut budget,
            &mut low_octave,
        )?;
        parts.push(part);
    }
    if low_octave > 0 {
        warnings.push(format!(
            "{low_octave} notes below C0 (MIDI key 12) have octave -1, outside MusicXML's 0..=9"
        ));
    }
    Ok(Score {
        title,
        composer: None,
        parts,
    })
}

/// A piece of a chord inside one measure.
struct Segment<'c> {
    from: Rational,
    to: Rational,
    chord: &'c Chord,
}

/// How a part's notes are written: unpitched with instruments, or spelled pitches.
struct Render<'a> {
    percussion: bool,
    key_instrument: &'a BTreeMap<u8, String>,
}

/// One voice in one measure, with the counters its items go to.
struct Span<'a> {
    voice: usize,
    bar: &'a Bar,
    end: Rational,
    budget: &'a mut Budget,
    low_octave: &'a mut usize,
}

/// A voice's chords cut at the barlines, grouped by measure index (only measures it plays in).
fn segments_by_bar<'c>(
    voice: &[&'c Chord],
    bars: &[Bar],
    ends: &[Rational],
    budget: &mut Budget,
) -> Result<Vec<(usize, Vec<Segment<'c>>)>, MidiError> {
    let mut out: Vec<(usize, Vec<Segment<'c>>)> = Vec::new();
    for &c in voice {
        let mut bi = ends.partition_point(|e| *e <= c.on);
        while let (Some(bar), Some(&end)) = (bars.get(bi), ends.get(bi)) {
            if bar.start >= c.end {
                break;
            }
            // Counted here, before it is stored: a long note in tiny measures is many notes.
            budget.take(c.keys.len() as u64)?;
            let seg = Segment {
                from: c.on.max(bar.start),
                to: c.end.min(end),
                chord: c,
            };
            match out.last_mut() {
                Some((last, segs)) if *last == bi => segs.push(seg),
                _ => out.push((bi, vec![seg])),
            }
            bi += 1;
        }
    }
    Ok(out)
}

/// Writes one voice's notes and rests in one measure; the first voice also carries the directions.
fn render_voice(
    items: &mut Vec<Item>,
    span: &mut Span<'_>,
    segs: &[Segment<'_>],
    mut directions: Option<(&[(Rational, Direction)], &mut usize)>,
    render: &Render<'_>,
) -> Result<(), MidiError> {
    let voice_name = (span.voice + 1).to_string();
    let whole_rest = segs.is_empty();
    let mut pieces: Vec<(Rational, Rational, Option<&Chord>)> = Vec::new();
    let mut pos = span.bar.start;
    for seg in segs {
        if seg.from > pos {
            pieces.push((pos, seg.from, None));
        }
        pieces.push((seg.from, seg.to, Some(seg.chord)));
        pos = seg.to;
    }
    if pos < span.end {
        pieces.push((pos, span.end, None));
    }
    for (from, to, chord) in pieces {
        if let Some((list, next)) = directions.as_mut() {
            while let Some((at, d)) = list.get(**next) {
                if *at >= to {
                    break;
                }
                let mut d = d.clone();
                let offset = sub(*at, from)?;
                if offset > Rational::ZERO {
                    d.offset = Some(offset);
                }
                span.budget.take(1)?;
                items.push(Item::Direction(d));
                **next += 1;
            }
        }
        let duration = sub(to, from)?;
        let Some(c) = chord else {
            span.budget.take(1)?;
            let measure_rest = whole_rest && span.voice == 0;
            let (note_type, dots, tuplet) = if measure_rest {
                (None, 0, None)
            } else {
                notation(duration)
            };
            items.push(Item::Note(Note {
                rest: true,
                measure_rest,
                duration,
                voice: Some(voice_name.clone()),
                note_type,
                dots,
                tuplet,
                ..Note::default()
            }));
            continue;
        };
        let mut ties = Vec::new();
        if c.on < from {
            ties.push(TieType::Stop);
        }
        if c.end > to {
            ties.push(TieType::Start);
        }
        let (note_type, dots, tuplet) = notation(duration);
        for (j, &key) in c.keys.iter().enumerate() {
            let mut note = Note {
                duration,
                chord: j > 0,
                voice: Some(voice_name.clone()),
                note_type: note_type.clone(),
                dots,
                ties: ties.clone(),
                tuplet,
                ..Note::default()
            };
            if render.percussion {
                note.unpitched = Some(Unpitched {
                    display_step: None,
                    display_octave: None,
                    instrument: render.key_instrument.get(&key).cloned(),
                });
            } else {
                let p = spell(key, span.bar.fifths);
                if p.octave < 0 {
                    *span.low_octave += 1;
                }
                note.pitch = Some(p);
            }
            items.push(Item::Note(note));
        }
    }
    Ok(())
}

fn build_part(
    index: usize,
    source: &PartSource,
    ppq: u16,
    bars: &[Bar],
    mut directions: Vec<(Rational, Direction)>,
    budget: &mut Budget,
    low_octave: &mut usize,
) -> Result<Part, MidiError> {
    let id = format!("P{}", index + 1);
    let percussion = source.channel == 9;

    // Chords: same onset and same end.
    let mut chords: Vec<Chord> = Vec::new();
    for n in &source.notes {
        let on = q(n.on, ppq)?;
        let end = q(n.off, ppq)?;
        match chords.last_mut() {
            Some(c) if c.on == on && c.end == end => {
                if !c.keys.contains(&n.key) {
                    c.keys.push(n.key);
                }
            }
            _ => chords.push(Chord {
                on,
                end,
                keys: vec![n.key],
                vel: n.vel,
            }),
        }
    }
    for c in &mut chords {
        c.keys.sort_unstable();
    }

    // Dynamics: a direction where the nearest mark changes.
    let mut mark = velocity_mark(DEFAULT_VELOCITY);
    let mut last_at: Option<Rational> = None;
    for c in &chords {
        let m = velocity_mark(c.vel);
        if m != mark && last_at != Some(c.on) {
            mark = m;
            last_at = Some(c.on);
            directions.push((
                c.on,
                Direction {
                    kinds: vec![DirectionKind::Dynamics {
                        marks: vec![m.to_owned()],
                    }],
                    placement: Some("below".into()),
                    sound: Some(Sound {
                        dynamics: Rational::new(i64::from(c.vel) * 10, 9).ok(),
                        ..Sound::default()
                    }),
                    ..Direction::default()
                },
            ));
        }
    }
    directions.sort_by_key(|d| d.0);

    // Voices: each chord to the lowest voice free at its onset. A heap of
    // busy voices keeps this O(n log v) even with thousands of voices.
    let mut voices: Vec<Vec<&Chord>> = Vec::new();
    let mut busy: BinaryHeap<Reverse<(Rational, usize)>> = BinaryHeap::new();
    let mut free: BTreeSet<usize> = BTreeSet::new();
    for c in &chords {
        while let Some(Reverse((end, v))) = busy.peek().copied() {
            if end > c.on {
                break;
            }
            busy.pop();
            free.insert(v);
        }
        let v = match free.pop_first() {
            Some(v) => v,
            None => {
                voices.push(Vec::new());
                voices.len() - 1
            }
        };
        if let Some(list) = voices.get_mut(v) {
            list.push(c);
        }
        busy.push(Reverse((c.end, v)));
    }

    // Instruments.
    let mut instruments = Vec::new();
    let mut key_instrument: BTreeMap<u8, String> = BTreeMap::new();
    if percussion {
        let mut keys: Vec<u8> = source.notes.iter().map(|n| n.key).collect();
        keys.sort_unstable();
        keys.dedup();
        for k in keys {
            let iid = format!("{id}-I{}", u16::from(k) + 1);
            instruments.push(Instrument {
                id: iid.clone(),
                name: Some(percussion_name(k)),
                midi_channel: Some(10),
                midi_program: source.program.map(|p| p.saturating_add(1)),
                midi_unpitched: Some(k.saturating_add(1)),
            });
            key_instrument.insert(k, iid);
        }
    } else {
        let gm = source
            .program
            .and_then(|p| GM_PROGRAMS.get(usize::from(p)))
            .map(|s| (*s).to_owned());
        instruments.push(Instrument {
            id: format!("{id}-I1"),
            name: source.instrument_name.clone().or(gm),
            midi_channel: Some(source.channel.saturating_add(1)),
            midi_program: source.program.map(|p| p.saturating_add(1)),
            midi_unpitched: None,
        });
    }
    let instrument = if percussion {
        Some("Percussion".to_owned())
    } else {
        instruments.first().and_then(|i| i.name.clone())
    };

    let clef = if percussion {
        Clef {
            sign: "percussion".into(),
            line: None,
            staff: None,
            octave_change: None,
        }
    } else {
        let count = source.notes.len().max(1) as u64;
        let sum: u64 = source.notes.iter().map(|n| u64::from(n.key)).sum();
        if sum / count < 60 {
            Clef {
                sign: "F".into(),
                line: Some(4),
                staff: None,
                octave_change: None,
            }
        } else {
            Clef {
                sign: "G".into(),
                line: Some(2),
                staff: None,
                octave_change: None,
            }
        }
    };

    let ends = bars
        .iter()
        .map(|b| add(b.start, b.len))
        .collect::<Result<Vec<_>, _>>()?;
    let render = Render {
        percussion,
        key_instrument: &key_instrument,
    };
    // Voices after the first, per measure: a backup and their items. Each
    // voice walks only the measures it plays in, so the work follows the items.
    let mut extra: Vec<Vec<Item>> = (0..bars.len()).map(|_| Vec::new()).collect();
    let mut first_voice = Vec::new();
    for (vi, voice) in voices.iter().enumerate() {
        let sparse = segments_by_bar(voice, bars, &ends, budget)?;
        if vi == 0 {
            first_voice = sparse;
            continue;
        }
        for (bi, segs) in sparse {
            let (Some(bar), Some(&me), Some(block)) =
                (bars.get(bi), ends.get(bi), extra.get_mut(bi))
            else {
                continue;
            };
            budget.take(1)?;
            block.push(Item::Backup { duration: bar.len });
            let mut span = Span {
                voice: vi,
                bar,
                end: me,
                budget: &mut *budget,
                low_octave: &mut *low_octave,
            };
            render_voice(block, &mut span, &segs, None, &render)?;
        }
    }
    let mut first_voice = first_voice.into_iter().peekable();
    let mut measures = Vec::with_capacity(bars.len());
    let mut next_direction = 0usize;
    for (mi, bar) in bars.iter().enumerate() {
        let me = ends.get(mi).copied().unwrap_or(bar.start);
        let segs = match first_voice.peek() {
            Some((bi, _)) if *bi == mi => first_voice.next().map(|x| x.1).unwrap_or_default(),
            _ => Vec::new(),
        };
        let mut items: Vec<Item> = Vec::new();
        let mut span = Span {
            voice: 0,
            bar,
            end: me,
            budget: &mut *budget,
            low_octave: &mut *low_octave,
        };
        render_voice(
            &mut items,
            &mut span,
            &segs,
            Some((&directions, &mut next_direction)),
            &render,
        )?;
        if let Some(block) = extra.get_mut(mi) {
            items.append(block);
        }
        let mut attributes = None;
        if mi == 0 || bar.time.is_some() || bar.key.is_some() {
            attributes = Some(Attributes {
                divisions: None,
                key: bar.key.clone(),
                time: bar.time.clone(),
                clefs: if mi == 0 {
                    vec![clef.clone()]
                } else {
                    Vec::new()
                },
                staves: None,
                transpose: None,
            });
        }
        measures.push(Measure {
            number: (mi + 1).to_string(),
            implicit: false,
            attributes,
            items,
            barlines: Vec::new(),
        });
    }
    Ok(Part {
        id,
        name: source.name.clone().or_else(|| {
            if percussion {
                Some("Percussion".into())
            } else {
                instrument
                    .clone()
                    .or_else(|| Some(format!("Channel {}", source.channel + 1)))
            }
        }),
        instrument,
        instruments,
        staves: 1,
        measures,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(n: i64, d: i64) -> Rational {
        Rational::new(n, d).unwrap()
    }

    /// A track chunk around raw event bytes.
    fn track(events: &[u8]) -> Vec<u8> {
        let mut t = b"MTrk".to_vec();
        t.extend_from_slice(&(events.len() as u32).to_be_bytes());
        t.extend_from_slice(events);
        t
    }

    fn header(format: u16, tracks: u16, division: u16) -> Vec<u8> {
        let mut h = b"MThd\0\0\0\x06".to_vec();
        h.extend_from_slice(&format.to_be_bytes());
        h.extend_from_slice(&tracks.to_be_bytes());
        h.extend_from_slice(&division.to_be_bytes());
        h
    }

    fn notes_of(m: &Measure) -> Vec<&Note> {
        m.items
            .iter()
            .filter_map(|i| match i {
                Item::Note(n) => Some(n),
                _ => None,
            })
            .collect()
    }

    fn code(bytes: &[u8]) -> &'static str {
        match read_midi(bytes) {
            Ok(p) => panic!("expected an error, got {:?}", p.score),
            Err(e) => e.code(),
        }
    }

    #[test]
    fn type_0_splits_channels_and_reads_velocity_zero_as_off() {
        // PPQ 96. Channel 1 (program 41, violin): C5 quarter then D5 quarter
        // (the second ended by note-on velocity 0). Channel 2: C3 half.
        let events = [
            0x00, 0xFF, 0x03, 0x04, b'S', b'o', b'n', b'g', // title
            0x00, 0xC0, 40, // program: violin
            0x00, 0x90, 72, 100, // C5 on
            0x00, 0x91, 48, 64, // C3 on (channel 2)
            0x60, 0x80, 72, 0, // C5 off at 96
            0x00, 0x90, 74, 100, // D5 on
            0x60, 74, 0, // running status: D5 velocity 0 = off at 192
            0x00, 0x81, 48, 0, // C3 off at 192
            0x00, 0xFF, 0x2F, 0x00,
        ];
        let mut file = header(0, 1, 96);
        file.extend(track(&events));
        let p = read_midi(&file).unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let s = &p.score;
        assert_eq!(s.title.as_deref(), Some("Song"));
        assert_eq!(s.parts.len(), 2);
        let violin = &s.parts[0];
        assert_eq!(violin.instruments[0].midi_channel, Some(1));
        assert_eq!(violin.instruments[0].midi_program, Some(41));
        assert_eq!(violin.name.as_deref(), Some("Violin"));
        let m = &violin.measures[0];
        let n = notes_of(m);
        // The first note has velocity 100 → "f" (96 is nearest) after the default mf.
        assert!(matches!(&m.items[0], Item::Direction(d)
            if d.sound.as_ref().and_then(|s| s.dynamics) == Some(r(1000, 9))));
        assert_eq!(n[0].pitch.unwrap().midi(), 72);
        assert_eq!(n[0].duration, Rational::ONE);
        assert_eq!(n[0].note_type.as_deref(), Some("quarter"));
        assert_eq!(n[1].pitch.unwrap().midi(), 74);
        assert_eq!(n[1].duration, Rational::ONE);
        assert!(n[2].rest);
        assert_eq!(n[2].duration, r(2, 1));
        let cello = &s.parts[1];
        assert_eq!(cello.instruments[0].midi_channel, Some(2));
        let n = notes_of(&cello.measures[0]);
        assert_eq!(n[0].pitch.unwrap().midi(), 48);
        assert_eq!(n[0].duration, r(2, 1));
        assert_eq!(
            cello.measures[0].attributes.as_ref().unwrap().clefs[0].sign,
            "F"
        );
    }

    #[test]
    fn overlapping_same_pitch_and_early_note_on() {
        // PPQ 1. A4 on at 0, A4 on again at 1 (retrigger), off at 2, off at 3
        // (the second off has nothing left: ignored). Then a repeated note
        // written on-before-off at tick 4: on 4, on 5, off 5, off 6.
        let events = [
            0x00, 0x90, 69, 80, //
            0x01, 0x90, 69, 80, //
            0x01, 0x80, 69, 0, //
            0x01, 0x80, 69, 0, //
            0x01, 0x90, 69, 80, // tick 4
            0x01, 0x90, 69, 80, // tick 5: retrigger
            0x00, 0x80, 69, 0, // tick 5: the off of the first note
            0x01, 0x80, 69, 0, // tick 6
            0x00, 0xFF, 0x2F, 0x00,
        ];
        let mut file = header(1, 1, 1);
        file.extend(track(&events));
        let p = read_midi(&file).unwrap();
        let m = &p.score.parts[0].measures;
        let flat: Vec<(Rational, bool)> = m
            .iter()
            .flat_map(|m| notes_of(m).into_iter().map(|n| (n.duration, n.rest)))
            .collect();
        // [0,1) [1,2) rest [2,4)... measure 1 is 4 quarters: A A rest(2) | A A rest(2)
        assert_eq!(
            flat,
            vec![
                (r(1, 1), false),
                (r(1, 1), false),
                (r(2, 1), true),
                (r(1, 1), false),
                (r(1, 1), false),
                (r(2, 1), true),
            ]
        );
        assert!(
            p.warnings.iter().any(|w| w.contains("1 note-offs had no")),
            "{:?}",
            p.warnings
        );
        assert!(p.warnings.iter().any(|w| w.contains("1 note-ons came")));
    }

    #[test]
    fn spelling_follows_the_key() {
        let name = |k, f| {
            let p = spell(k, f);
            (p.step, p.alter, p.octave)
        };
        assert_eq!(name(60, 0), (Step::C, 0, 4));
        assert_eq!(name(61, 0), (Step::C, 1, 4));
        assert_eq!(name(70, 0), (Step::A, 1, 4));
        // D major: F♯ is the key's, F natural stays natural.
        assert_eq!(name(66, 2), (Step::F, 1, 4));
        assert_eq!(name(65, 2), (Step::F, 0, 4));
        // E♭ major: E♭, A♭, B♭; G♭ by the flat rule.
        assert_eq!(name(63, -3), (Step::E, -1, 4));
        assert_eq!(name(66, -3), (Step::G, -1, 4));
        assert_eq!(name(71, -3), (Step::B, 0, 4));
        // C♯ major has B♯; G♭ major has C♭ (octaves follow the letter).
        assert_eq!(name(60, 7), (Step::B, 1, 3));
        assert_eq!(name(59, -6), (Step::C, -1, 4));
        for f in -7..=7 {
            for k in 0..=127u8 {
                assert_eq!(spell(k, f).midi(), i32::from(k), "key {k} in {f}");
            }
        }
    }

    #[test]
    fn notation_values() {
        assert_eq!(notation(r(3, 2)), (Some("quarter".into()), 1, None));
        assert_eq!(notation(r(4, 1)), (Some("whole".into()), 0, None));
        assert_eq!(
            notation(r(1, 3)),
            (
                Some("eighth".into()),
                0,
                Some(TimeModification {
                    actual: 3,
                    normal: 2
                })
            )
        );
        assert_eq!(notation(r(5, 4)), (None, 0, None));
    }

    #[test]
    fn key_time_and_tempo_are_read() {
        // PPQ 2: tempo 150 (400000 µs), 3/4, E♭ major (-3), then at tick 6
        // (the second barline) 2/4 and a tempo of 100.
        let events = [
            0x00, 0xFF, 0x51, 0x03, 0x06, 0x1A, 0x80, // 400000
            0x00, 0xFF, 0x58, 0x04, 3, 2, 24, 8, //
            0x00, 0xFF, 0x59, 0x02, 0xFD, 0, //
            0x00, 0x90, 70, 80, // B♭4 (dotted half, whole measure)
            0x06, 0x80, 70, 0, //
            0x00, 0xFF, 0x58, 0x04, 2, 2, 24, 8, //
            0x00, 0xFF, 0x51, 0x03, 0x09, 0x27, 0xC0, // 600000
            0x00, 0x90, 66, 80, // G♭4 half
            0x04, 0x80, 66, 0, //
            0x00, 0xFF, 0x2F, 0x00,
        ];
        let mut file = header(1, 1, 2);
        file.extend(track(&events));
        let p = read_midi(&file).unwrap();
        assert!(p.warnings.is_empty(), "{:?}", p.warnings);
        let m = &p.score.parts[0].measures;
        assert_eq!(m.len(), 2);
        let a0 = m[0].attributes.as_ref().unwrap();
        assert_eq!(a0.time.as_ref().unwrap().beats, "3");
        assert_eq!(a0.key.as_ref().unwrap().fifths, -3);
        let a1 = m[1].attributes.as_ref().unwrap();
        assert_eq!(a1.time.as_ref().unwrap().beats, "2");
        assert!(a1.key.is_none());
        let n0 = notes_of(&m[0]);
        assert_eq!(n0[0].pitch.unwrap().step, Step::B);
        assert_eq!(n0[0].pitch.unwrap().alter, -1);
        assert_eq!(n0[0].dots, 1);
        let n1 = notes_of(&m[1]);
        assert_eq!(
            (n1[0].pitch.unwrap().step, n1[0].pitch.unwrap().alter),
            (Step::G, -1)
        );
        let tempo = |m: &Measure| {
            m.items.iter().find_map(|i| match i {
                Item::Direction(d) => d.sound.as_ref().and_then(|s| s.tempo),
                _ => None,
            })
        };
        assert_eq!(tempo(&m[0]), Some(r(150, 1)));
        assert_eq!(tempo(&m[1]), Some(r(100, 1)));
    }

    #[test]
    fn hostile_structure_is_refused() {
        // Not MIDI at all, and every prefix of a header.
        assert_eq!(code(b""), "INVALID_MIDI");
        assert_eq!(code(b"RIFF\0\0\0\0"), "INVALID_MIDI");
        let h = header(1, 1, 96);
        for cut in 0..h.len() {
            assert_eq!(code(&h[..cut]), "INVALID_MIDI", "cut {cut}");
        }
        // Declared one track, none present.
        assert_eq!(code(&h), "INVALID_MIDI");
        // A track length beyond the file.
        let mut f = h.clone();
        f.extend_from_slice(b"MTrk\xFF\xFF\xFF\xF0\x00\xFF\x2F\x00");
        assert_eq!(code(&f), "INVALID_MIDI");
        // A meta length beyond its track.
        let mut f = h.clone();
        f.extend(track(&[0x00, 0xFF, 0x03, 0x8F, 0xFF, 0xFF, 0x7F, b'x']));
        assert_eq!(code(&f), "INVALID_MIDI");
        // A data byte with no running status.
        let mut f = h.clone();
        f.extend(track(&[0x00, 60, 100, 0x00, 0xFF, 0x2F, 0x00]));
        assert_eq!(code(&f), "INVALID_MIDI");
        // A status byte where a data byte belongs.
        let mut f = h.clone();
        f.extend(track(&[0x00, 0x90, 60, 0x90, 0x00, 0xFF, 0x2F, 0x00]));
        assert_eq!(code(&f), "INVALID_MIDI");
        // A five-byte delta time.
        let mut f = h.clone();
        f.extend(track(&[0x81, 0x81, 0x81, 0x81, 0x01, 0xFF, 0x2F, 0x00]));
        assert_eq!(code(&f), "INVALID_MIDI");
        // A system real-time byte inside a track.
        let mut f = h.clone();
        f.extend(track(&[0x00, 0xF8, 0x00, 0xFF, 0x2F, 0x00]));
        assert_eq!(code(&f), "INVALID_MIDI");
        // PPQ 0, SMPTE, format 2, format 3.
        assert_eq!(code(&header(1, 0, 0)), "INVALID_MIDI");
        assert_eq!(code(&header(1, 0, 0xE728)), "MIDI_UNSUPPORTED");
        assert_eq!(code(&header(2, 0, 96)), "MIDI_UNSUPPORTED");
        assert_eq!(code(&header(3, 0, 96)), "INVALID_MIDI");
    }

    #[test]
    fn limits_are_enforced() {
        // 10,000 tracks declared (and present) → refused before reading them.
        let mut f = header(1, 10_000, 96);
        let empty = track(&[0x00, 0xFF, 0x2F, 0x00]);
        for _ in 0..10_000 {
            f.extend_from_slice(&empty);
        }
        assert_eq!(code(&f), "MIDI_TOO_LARGE");
        // 10,000 present while the header declares 1: refused at track 257.
        let mut f = header(1, 1, 96);
        for _ in 0..10_000 {
            f.extend_from_slice(&empty);
        }
        assert_eq!(code(&f), "MIDI_TOO_LARGE");
        // Too many bytes.
        let small = MidiOptions {
            max_bytes: 10,
            ..MidiOptions::default()
        };
        let e = read_midi_with_options(&f, &small).unwrap_err();
        assert_eq!(e.code(), "MIDI_TOO_LARGE");
        // Too many events.
        let mut f = header(1, 1, 96);
        let mut ev = Vec::new();
        for _ in 0..100 {
            ev.extend_from_slice(&[0x00, 0xFF, 0x01, 0x00]);
        }
        f.extend(track(&ev));
        let few = MidiOptions {
            max_events: 50,
            ..MidiOptions::default()
        };
        assert_eq!(
            read_midi_with_options(&f, &few).unwrap_err(),
            MidiError::TooLarge {
                what: "events",
                limit: 50
            }
        );
        // A note of 0x0FFFFFFF ticks at PPQ 1 is longer than MAX_QUARTERS.
        let mut f = header(1, 1, 1);
        f.extend(track(&[
            0x00, 0x90, 60, 80, 0xFF, 0xFF, 0xFF, 0x7F, 0x80, 60, 0, 0x00, 0xFF, 0x2F, 0x00,
        ]));
        assert_eq!(code(&f), "MIDI_TOO_LARGE");
        // A tiny time signature makes too many measures.
        let mut f = header(1, 1, 1);
        f.extend(track(&[
            0x00, 0xFF, 0x58, 0x04, 1, 10, 24, 8, // 1/1024
            0x00, 0x90, 60, 80, 0x83, 0xE8, 0x00, 0x80, 60, 0, // 64000 quarters
            0x00, 0xFF, 0x2F, 0x00,
        ]));
        assert_eq!(code(&f), "MIDI_TOO_LARGE");
    }

    #[test]
    fn thousands_of_voices_stay_cheap() {
        // Every key on all 16 channels starts at tick 0 and each ends one tick
        // later than the one before: 2,048 voices, about 130,000 notes in
        // 128 measures. Work follows the items, not voices × measures.
        let mut ev = Vec::new();
        for ch in 0..16u8 {
            for key in 0..128u8 {
                ev.extend_from_slice(&[0x00, 0x90 | ch, key, 64]);
            }
        }
        for ch in 0..16u8 {
            for key in 0..128u8 {
                ev.extend_from_slice(&[0x01, 0x80 | ch, key, 0]);
            }
        }
        ev.extend_from_slice(&[0x00, 0xFF, 0x2F, 0x00]);
        let mut f = header(1, 1, 4);
        f.extend(track(&ev));
        let p = read_midi(&f).unwrap();
        let part = &p.score.parts[0];
        assert_eq!(part.measures.len(), 128);
        let voices: std::collections::HashSet<&str> = part
            .measures
            .iter()
            .flat_map(|m| notes_of(m))
            .filter_map(|n| n.voice.as_deref())
            .collect();
        assert_eq!(voices.len(), 2048);
        // The same file under a small item budget is refused, not built.
        let few = MidiOptions {
            max_items: 10_000,
            ..MidiOptions::default()
        };
        assert_eq!(
            read_midi_with_options(&f, &few).unwrap_err().code(),
            "MIDI_TOO_LARGE"
        );
    }

    #[test]
    fn repairs_are_warned() {
        // Running status across a meta event, an unknown chunk, a missing end of track,
        // trailing bytes, a hanging note.
        let mut f = header(1, 1, 1);
        f.extend_from_slice(b"XFIH\0\0\0\x02ab");
        f.extend(track(&[
            0x00, 0x90, 60, 80, 0x00, 0xFF, 0x01, 0x01, b'x', 0x01, 62, 80, 0x01, 0x80, 60, 0,
        ]));
        f.extend_from_slice(b"\0\0");
        let p = read_midi(&f).unwrap();
        let w = p.warnings.join("\n");
        for needle in [
            "running status",
            "unknown chunk",
            "no end-of-track",
            "2 bytes after",
            "no note-off",
        ] {
            assert!(w.contains(needle), "{needle}: {w}");
        }
        // No notes at all: an empty score.
        let mut f = header(1, 1, 96);
        f.extend(track(&[
            0x00, 0xFF, 0x03, 0x01, b'T', 0x00, 0xFF, 0x2F, 0x00,
        ]));
        let p = read_midi(&f).unwrap();
        assert!(p.score.parts.is_empty());
        assert_eq!(p.score.title.as_deref(), Some("T"));
    }

    #[test]
    fn percussion_is_unpitched() {
        let events = [
            0x00, 0x99, 36, 100, 0x01, 0x89, 36, 0, //
            0x00, 0x99, 38, 100, 0x01, 0x89, 38, 0, //
            0x00, 0xFF, 0x2F, 0x00,
        ];
        let mut f = header(1, 1, 1);
        f.extend(track(&events));
        let p = read_midi(&f).unwrap();
        let part = &p.score.parts[0];
        assert_eq!(part.instruments.len(), 2);
        assert_eq!(part.instruments[0].name.as_deref(), Some("Bass Drum 1"));
        assert_eq!(part.instruments[0].midi_unpitched, Some(37));
        assert_eq!(part.instruments[0].midi_channel, Some(10));
        let n = notes_of(&part.measures[0]);
        assert_eq!(
            n[0].unpitched.as_ref().unwrap().instrument.as_deref(),
            Some("P1-I37")
        );
        assert!(n[0].pitch.is_none());
    }
}
