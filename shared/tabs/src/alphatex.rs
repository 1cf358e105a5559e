//! `tab.alphatex`: the tab in alphaTex, the text format of alphaTab-based viewers, on the
//! same bars as `tab.musicxml` ([`crate::musicxml`]): `\tuning` from string 1 (the
//! highest-pitched) down, `\capo`, `\ts`, `\tempo`; beats as `fret.string.duration` or
//! `(fret.string ...).duration`, `{d}` for a dot, `r` for a rest, `|` between bars.

use std::fmt::Write as _;

use crate::fingering::Tab;
use crate::instrument::pitch_name;
use crate::musicxml::{layout, value_of, Meter};

/// The alphaTex duration number of a grid value's type ("quarter" → 4).
fn duration(kind: &str) -> u8 {
    match kind {
        "whole" => 1,
        "half" => 2,
        "quarter" => 4,
        "eighth" => 8,
        _ => 16,
    }
}

/// The tab as alphaTex, its track named `track`.
pub fn tab_alphatex(tab: &Tab, meter: Meter, track: &str) -> String {
    let l = layout(tab, meter);
    let inst = &tab.instrument;
    let mut out = String::new();
    let quoted = track.replace('\\', "\\\\").replace('"', "\\\"");
    let _ = writeln!(out, "\\title \"{quoted}\"");
    let _ = writeln!(out, "\\tempo {}", l.bpm.round());
    let _ = writeln!(out, "\\track \"{quoted}\"");
    out.push_str("\\staff {tabs}\n");
    let tuning: Vec<String> = inst.strings.iter().map(|&k| pitch_name(k)).collect();
    let _ = writeln!(out, "\\tuning ({})", tuning.join(" "));
    if inst.capo > 0 {
        let _ = writeln!(out, "\\capo {}", inst.capo);
    }
    let _ = writeln!(out, "\\ts {} 4", meter.beats.max(1));
    for (b, items) in l.bars.iter().enumerate() {
        let beats: Vec<String> = items
            .iter()
            .map(|&(len, event)| {
                let (_, kind, dots) = value_of(len);
                let dot = if dots > 0 { " {d}" } else { "" };
                let d = duration(kind);
                match event {
                    None => format!("r.{d}{dot}"),
                    Some(e) => {
                        let notes: Vec<String> = l.events[e]
                            .iter()
                            .map(|&n| format!("{}.{}", tab.notes[n].fret, tab.notes[n].string))
                            .collect();
                        if notes.len() == 1 {
                            format!("{}.{d}{dot}", notes[0])
                        } else {
                            format!("({}).{d}{dot}", notes.join(" "))
                        }
                    }
                }
            })
            .collect();
        out.push_str(&beats.join(" "));
        out.push_str(if b + 1 < l.bars.len() { " |\n" } else { "\n" });
    }
    out
}
