//! `tab.musicxml`: the tab as a MusicXML 4.0 TAB staff, with the tuning and capo in
//! `<staff-details>` and each note's `<technical><string><fret>`.
//!
//! The tab's seconds are put on a sixteenth-note grid at `tempo_bpm`. A tab shows where
//! notes start, so a note lasts until the next onset or the bar line, whichever is first,
//! and is written as the longest plain or dotted value that fits, rests filling the rest;
//! no note is tied over a bar. Onsets that fall on one sixteenth are kept apart by one
//! sixteenth (so no note is lost), and chords are written with `<chord/>`, lowest pitch first.

use std::fmt::Write as _;

use crate::fingering::Tab;

/// How the tab is put in bars.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Meter {
    /// Quarter notes per minute.
    pub tempo_bpm: f64,
    /// Quarter-note beats per bar.
    pub beats: u8,
}

impl Default for Meter {
    fn default() -> Self {
        Meter {
            tempo_bpm: 120.0,
            beats: 4,
        }
    }
}

/// Sixteenths per quarter (MusicXML `divisions`).
const DIVISIONS: u64 = 4;
/// Plain and dotted values in sixteenths, longest first: (length, type, dots).
const VALUES: [(u64, &str, u8); 8] = [
    (16, "whole", 0),
    (12, "half", 1),
    (8, "half", 0),
    (6, "quarter", 1),
    (4, "quarter", 0),
    (3, "eighth", 1),
    (2, "eighth", 0),
    (1, "16th", 0),
];

pub(crate) fn value_of(len: u64) -> (u64, &'static str, u8) {
    VALUES
        .into_iter()
        .find(|v| v.0 <= len)
        .unwrap_or(VALUES[VALUES.len() - 1])
}

const STEPS: [(&str, i8); 12] = [
    ("C", 0),
    ("C", 1),
    ("D", 0),
    ("D", 1),
    ("E", 0),
    ("F", 0),
    ("F", 1),
    ("G", 0),
    ("G", 1),
    ("A", 0),
    ("A", 1),
    ("B", 0),
];

fn pitch_xml(key: u8) -> String {
    let (step, alter) = STEPS[usize::from(key % 12)];
    let octave = i32::from(key) / 12 - 1;
    if alter == 0 {
        format!("<pitch><step>{step}</step><octave>{octave}</octave></pitch>")
    } else {
        format!("<pitch><step>{step}</step><alter>{alter}</alter><octave>{octave}</octave></pitch>")
    }
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The tab on the sixteenth grid, bar by bar.
pub(crate) struct Layout {
    /// Quarter notes per minute, as used.
    pub bpm: f64,
    /// The notes of each event (indices into the tab's notes), by onset.
    pub events: Vec<Vec<usize>>,
    /// Each bar's contents in order: (length in sixteenths, Some(event) or a rest).
    pub bars: Vec<Vec<(u64, Option<usize>)>>,
}

/// Puts `tab` on the grid of `meter` (see the module docs).
pub(crate) fn layout(tab: &Tab, meter: Meter) -> Layout {
    let bpm = if meter.tempo_bpm.is_finite() && meter.tempo_bpm > 0.0 {
        meter.tempo_bpm.clamp(10.0, 400.0)
    } else {
        120.0
    };
    let bar = u64::from(meter.beats.max(1)) * DIVISIONS;
    let grid = |s: f64| -> u64 { (s.max(0.0) * bpm / 60.0 * DIVISIONS as f64).round() as u64 };

    // Events: (onset in sixteenths, the notes' indices), onsets strictly increasing.
    let mut events: Vec<(u64, Vec<usize>)> = Vec::new();
    let mut i = 0;
    while i < tab.notes.len() {
        let start = tab.notes[i].start_s;
        let mut members = vec![];
        while i < tab.notes.len() && tab.notes[i].start_s - start <= 0.02 {
            members.push(i);
            i += 1;
        }
        let mut at = grid(start);
        if let Some((last, _)) = events.last() {
            at = at.max(last + 1);
        }
        events.push((at, members));
    }
    let end = events.last().map_or(0, |(at, members)| {
        let written_end = members
            .iter()
            .map(|&m| grid(tab.notes[m].end_s))
            .max()
            .unwrap_or(0);
        written_end.max(at + 1)
    });
    let bars = end.div_ceil(bar).max(1);

    // What each bar holds: (length, Some(event) or a rest).
    let mut content: Vec<Vec<(u64, Option<usize>)>> = vec![vec![]; bars as usize];
    let mut pos = 0u64;
    for (e, (at, _)) in events.iter().enumerate() {
        rests(&mut content, pos, *at, bar);
        let next = events.get(e + 1).map_or(end, |n| n.0);
        let bar_end = (at / bar + 1) * bar;
        let len = value_of(next.min(bar_end) - at).0;
        content[(at / bar) as usize].push((len, Some(e)));
        pos = at + len;
    }
    rests(&mut content, pos, bars * bar, bar);
    Layout {
        bpm,
        events: events.into_iter().map(|(_, m)| m).collect(),
        bars: content,
    }
}

/// The tab as a MusicXML document, its part named `part_name`.
pub fn tab_musicxml(tab: &Tab, meter: Meter, part_name: &str) -> String {
    let Layout {
        bpm,
        events,
        bars: content,
    } = layout(tab, meter);
    let inst = &tab.instrument;
    let mut out = String::new();
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    out.push_str("<!DOCTYPE score-partwise PUBLIC \"-//Recordare//DTD MusicXML 4.0 Partwise//EN\" \"http://www.musicxml.org/dtds/partwise.dtd\">\n");
    out.push_str("<score-partwise version=\"4.0\">\n");
    let _ = writeln!(
        out,
        "  <part-list><score-part id=\"P1\"><part-name>{}</part-name></score-part></part-list>",
        escape(part_name)
    );
    out.push_str("  <part id=\"P1\">\n");

    for (b, items) in content.iter().enumerate() {
        let _ = writeln!(out, "    <measure number=\"{}\">", b + 1);
        if b == 0 {
            let _ = write!(
                out,
                "      <attributes><divisions>{DIVISIONS}</divisions><time><beats>{}</beats><beat-type>4</beat-type></time><clef><sign>TAB</sign><line>5</line></clef><staff-details><staff-lines>{}</staff-lines>",
                meter.beats.max(1),
                inst.strings.len()
            );
            // Line 1 is the bottom line: the lowest-pitched string.
            for (line, &key) in inst.strings.iter().rev().enumerate() {
                let (step, alter) = STEPS[usize::from(key % 12)];
                let alter = if alter != 0 {
                    format!("<tuning-alter>{alter}</tuning-alter>")
                } else {
                    String::new()
                };
                let _ = write!(
                    out,
                    "<staff-tuning line=\"{}\"><tuning-step>{step}</tuning-step>{alter}<tuning-octave>{}</tuning-octave></staff-tuning>",
                    line + 1,
                    i32::from(key) / 12 - 1
                );
            }
            if inst.capo > 0 {
                let _ = write!(out, "<capo>{}</capo>", inst.capo);
            }
            out.push_str("</staff-details></attributes>\n");
            let _ = writeln!(
                out,
                "      <direction placement=\"above\"><direction-type><metronome><beat-unit>quarter</beat-unit><per-minute>{}</per-minute></metronome></direction-type><sound tempo=\"{}\"/></direction>",
                bpm.round(),
                bpm.round()
            );
        }
        for &(len, event) in items {
            let (_, kind, dots) = value_of(len);
            let dot = "<dot/>".repeat(usize::from(dots));
            match event {
                None => {
                    let _ = writeln!(
                        out,
                        "      <note><rest/><duration>{len}</duration><voice>1</voice><type>{kind}</type>{dot}</note>"
                    );
                }
                Some(e) => {
                    // Lowest pitch first: music21 reads a chord's pitches low to high and
                    // pairs them with the strings and frets in the order written.
                    let mut members = events[e].clone();
                    members.sort_by_key(|&n| tab.notes[n].pitch_midi);
                    for (k, &n) in members.iter().enumerate() {
                        let note = &tab.notes[n];
                        let _ = writeln!(
                            out,
                            "      <note>{}{}<duration>{len}</duration><voice>1</voice><type>{kind}</type>{dot}<notations><technical><string>{}</string><fret>{}</fret></technical></notations></note>",
                            if k > 0 { "<chord/>" } else { "" },
                            pitch_xml(note.pitch_midi),
                            note.string,
                            note.fret
                        );
                    }
                }
            }
        }
        out.push_str("    </measure>\n");
    }
    out.push_str("  </part>\n</score-partwise>\n");
    out
}

/// Rests from `from` to `to` (sixteenths), split at bar lines into plain and dotted values.
fn rests(content: &mut [Vec<(u64, Option<usize>)>], mut from: u64, to: u64, bar: u64) {
    while from < to {
        let b = (from / bar) as usize;
        if b >= content.len() {
            break;
        }
        let bar_end = (from / bar + 1) * bar;
        let len = value_of(to.min(bar_end) - from).0;
        content[b].push((len, None));
        from += len;
    }
}
