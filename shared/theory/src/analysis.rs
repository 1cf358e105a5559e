//! `analysis.json`: key, keys over time, chords, tempo, beats, downbeats and time signature,
//! and how a score gives them (the audio path is coda-analysis').

use coda_music::model::{Item, Part, Score};
use coda_music::rational::Rational;
use coda_music::MidiError;
use serde::{Deserialize, Serialize};

use crate::chords::{decode_chords, score_chord_frames, ChordOptions, ChordSpan, Spelling};
use crate::key::{estimate_key, key_segments, KeyEstimate, KeyProfile, KeySegment, SegmentOptions};
use crate::notes::{key_histogram, notes_and_timing, EndingWeight};

/// What an analysis found, as `analysis.json` holds it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Analysis {
    /// `"score"` or `"audio"`: where the figures come from.
    pub source: String,
    /// The length analysed, in seconds.
    pub duration_s: f64,
    /// The key, with its confidence and runners-up; `None` when nothing pitched sounds.
    pub key: Option<KeyEstimate>,
    /// Keys over time (one segment when the key never changes).
    pub keys: Vec<KeySegment>,
    /// The chord progression, no-chord stretches included.
    pub chords: Vec<ChordSpan>,
    /// Beats per minute; `None` when no beat can be told.
    pub tempo_bpm: Option<f64>,
    /// Beat times in seconds.
    pub beats: Vec<f64>,
    /// Downbeat times (each bar's first beat).
    pub downbeats: Vec<f64>,
    /// The time signature (`"4/4"`), when known or guessed.
    pub time_signature: Option<String>,
    /// The recording's tuning in cents from A = 440 Hz (audio only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tuning_cents: Option<f64>,
}

/// What the analysis is asked to use.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct AnalysisOptions {
    /// The key profile.
    pub profile: KeyProfile,
    /// How keys over time are segmented.
    pub segments: SegmentOptions,
    /// The chord decoder's weights.
    pub chords: ChordOptions,
}

/// One measure of the first part: where it starts and how long it is, in quarters, and the
/// time signature in force.
#[derive(Clone, Debug, PartialEq)]
struct Bar {
    start: Rational,
    length: Rational,
    beats: u32,
    beat_type: u32,
}

/// The measures of `part` with their lengths as the MIDI writer times them (the furthest the
/// cursor reaches, or the signature's length for an empty measure).
fn bars(part: &Part) -> Vec<Bar> {
    let mut out = Vec::with_capacity(part.measures.len());
    let mut start = Rational::ZERO;
    let (mut beats, mut beat_type) = (4u32, 4u32);
    for m in &part.measures {
        if let Some(t) = m.attributes.as_ref().and_then(|a| a.time.as_ref()) {
            let b: Option<u32> = t
                .beats
                .split('+')
                .map(|b| b.trim().parse::<u32>().ok())
                .sum();
            if let (Some(b), Ok(u)) = (b, t.beat_type.trim().parse::<u32>()) {
                if b > 0 && u > 0 && b <= 64 && u <= 64 {
                    (beats, beat_type) = (b, u);
                }
            }
        }
        let nominal = Rational::new(i64::from(beats) * 4, i64::from(beat_type))
            .unwrap_or(Rational::from_int(4));
        let (mut cursor, mut furthest, mut timed) = (Rational::ZERO, Rational::ZERO, false);
        for item in &m.items {
            let step = match item {
                Item::Note(n) if !n.chord && !n.grace => Some(n.duration),
                Item::Forward { duration, .. } => Some(*duration),
                Item::Backup { duration } => Rational::ZERO.checked_sub(*duration),
                _ => None,
            };
            if let Some(d) = step {
                timed = true;
                cursor = cursor.checked_add(d).unwrap_or(cursor);
                if cursor.is_negative() {
                    cursor = Rational::ZERO;
                }
                if cursor > furthest {
                    furthest = cursor;
                }
            }
        }
        let length = if timed && furthest > Rational::ZERO {
            furthest
        } else {
            nominal
        };
        out.push(Bar {
            start,
            length,
            beats,
            beat_type,
        });
        start = start.checked_add(length).unwrap_or(start);
    }
    out
}

/// Seconds from the start to each of the ascending quarter offsets `qs` under `tempos`
/// (sorted, the first at 0), in one pass over both.
fn seconds_of(tempos: &[(Rational, f64)], qs: &[f64]) -> Vec<f64> {
    let mut out = Vec::with_capacity(qs.len());
    // The tempo in force, where it starts in quarters, and the seconds to there.
    let (mut i, mut seconds_at_i) = (0usize, 0.0f64);
    for &q in qs {
        while i + 1 < tempos.len() && tempos[i + 1].0.to_f64() <= q {
            let (a, b) = (tempos[i].0.to_f64(), tempos[i + 1].0.to_f64());
            seconds_at_i += (b - a) * 60.0 / tempos[i].1;
            i += 1;
        }
        let (at, bpm) = tempos.get(i).map_or((0.0, 120.0), |t| (t.0.to_f64(), t.1));
        out.push(seconds_at_i + (q - at).max(0.0) * 60.0 / bpm);
    }
    out
}

/// The most beats a score's analysis lists: a day at 120 bpm is 172,800. A measure that claims
/// more (a hostile or broken file) is cut short there.
const MAX_BEATS: usize = 200_000;

/// The beat of a signature in quarters: the denominator's note, dotted in compound time
/// (6/8, 9/8, 12/8 beat in dotted quarters).
fn beat_quarters(beats: u32, beat_type: u32) -> f64 {
    let unit = 4.0 / f64::from(beat_type);
    if beat_type >= 8 && beats.is_multiple_of(3) && beats > 3 {
        unit * 3.0
    } else {
        unit
    }
}

/// The analysis of a score: key and keys from its notes, chords on its beat grid, and tempo,
/// beats, downbeats and time signature as written. A pickup bar's beats count back from its
/// end, and its start is no downbeat.
pub fn analyze_score(score: &Score, options: &AnalysisOptions) -> Result<Analysis, MidiError> {
    let (notes, timing) = notes_and_timing(score)?;
    let fifths = score.parts.iter().flat_map(|p| &p.measures).find_map(|m| {
        m.attributes
            .as_ref()
            .and_then(|a| a.key.as_ref())
            .map(|k| k.fifths)
    });
    let key = estimate_key(
        &key_histogram(&notes, EndingWeight::default()),
        options.profile,
        fifths,
    );
    let keys = key_segments(&notes, options.profile, options.segments, fifths);
    let bars = score.parts.first().map(bars).unwrap_or_default();
    let mut beats_q: Vec<f64> = Vec::new();
    let mut downbeats_q: Vec<f64> = Vec::new();
    for (i, b) in bars.iter().enumerate() {
        if beats_q.len() >= MAX_BEATS {
            break;
        }
        let unit = beat_quarters(b.beats, b.beat_type);
        let (start, length) = (b.start.to_f64(), b.length.to_f64());
        let nominal = f64::from(b.beats) * 4.0 / f64::from(b.beat_type);
        if i == 0 && length + 1e-9 < nominal {
            // A pickup: beats counted back from the bar line.
            let mut t = start + length - unit;
            let mut back = vec![];
            while t >= start - 1e-9 && back.len() < MAX_BEATS {
                back.push(t.max(start));
                t -= unit;
            }
            beats_q.extend(back.into_iter().rev());
            continue;
        }
        downbeats_q.push(start);
        let mut t = start;
        while t < start + length - 1e-9 && beats_q.len() < MAX_BEATS {
            beats_q.push(t);
            t += unit;
        }
    }
    let beats = seconds_of(&timing.tempos, &beats_q);
    let downbeats = seconds_of(&timing.tempos, &downbeats_q);
    let first = bars.iter().find(|b| b.length > Rational::ZERO);
    let time_signature = first.map(|b| format!("{}/{}", b.beats, b.beat_type));
    let tempo_bpm = timing.tempos.first().map(|&(_, qpm)| {
        let unit = first.map_or(1.0, |b| beat_quarters(b.beats, b.beat_type));
        qpm / unit
    });
    let mut grid = beats.clone();
    if grid.first().is_none_or(|f| *f > 0.0) {
        grid.insert(0, 0.0);
    }
    if grid.last().is_some_and(|l| *l < timing.seconds) {
        grid.push(timing.seconds);
    }
    let spelling = key
        .as_ref()
        .map_or(Spelling::Common, |k| Spelling::for_key(&k.key));
    let chords = decode_chords(
        &score_chord_frames(&notes, &grid),
        &options.chords,
        spelling,
    );
    Ok(Analysis {
        source: "score".into(),
        duration_s: timing.seconds,
        key,
        keys,
        chords,
        tempo_bpm,
        beats,
        downbeats,
        time_signature,
        tuning_cents: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A one-part score: `time` (beats, beat type), a tempo, and measures of (notes as
    /// (step, octave, duration in divisions of 2 per quarter)).
    fn score(time: (u32, u32), bpm: u32, measures: &[&[(&str, u8, u32)]]) -> Score {
        let mut xml = String::from(
            r#"<?xml version="1.0"?><score-partwise version="4.0"><part-list><score-part id="P1"><part-name>P</part-name></score-part></part-list><part id="P1">"#,
        );
        for (i, m) in measures.iter().enumerate() {
            xml.push_str(&format!("<measure number=\"{}\">", i + 1));
            if i == 0 {
                xml.push_str(&format!(
                    "<attributes><divisions>2</divisions><key><fifths>0</fifths></key><time><beats>{}</beats><beat-type>{}</beat-type></time></attributes><direction><sound tempo=\"{bpm}\"/></direction>",
                    time.0, time.1
                ));
            }
            for (step, octave, d) in m.iter() {
                xml.push_str(&format!(
                    "<note><pitch><step>{step}</step><octave>{octave}</octave></pitch><duration>{d}</duration></note>"
                ));
            }
            xml.push_str("</measure>");
        }
        xml.push_str("</part></score-partwise>");
        coda_music::read_score(xml.as_bytes()).unwrap().score
    }

    #[test]
    fn beats_downbeats_and_tempo_come_from_the_score_with_its_pickup() {
        // 3/4 at 60: a one-beat pickup, then two full bars, then a C-major ending.
        let s = score(
            (3, 4),
            60,
            &[
                &[("G", 4, 2)],
                &[("C", 4, 2), ("E", 4, 2), ("G", 4, 2)],
                &[("G", 3, 2), ("B", 3, 2), ("D", 4, 2)],
                &[("C", 4, 6)],
            ],
        );
        let a = analyze_score(&s, &AnalysisOptions::default()).unwrap();
        assert_eq!(a.time_signature.as_deref(), Some("3/4"));
        assert_eq!(a.tempo_bpm, Some(60.0));
        assert_eq!(a.beats, (0..10).map(f64::from).collect::<Vec<_>>());
        // The pickup's start is no downbeat.
        assert_eq!(a.downbeats, vec![1.0, 4.0, 7.0]);
        assert_eq!(a.duration_s, 10.0);
        let key = a.key.unwrap();
        assert_eq!(
            (key.key.tonic.as_str(), key.key.mode),
            ("C", crate::Mode::Major)
        );
        let last = a.chords.last().unwrap();
        assert_eq!(last.label, "C:maj", "{:?}", a.chords);
    }

    #[test]
    fn compound_time_beats_in_dotted_quarters() {
        // 6/8 at a quarter = 90: two dotted-quarter beats a bar, at 60 a minute.
        let s = score((6, 8), 90, &[&[("C", 4, 3), ("E", 4, 3)], &[("G", 4, 6)]]);
        let a = analyze_score(&s, &AnalysisOptions::default()).unwrap();
        assert_eq!(a.tempo_bpm, Some(60.0));
        assert_eq!(a.beats, vec![0.0, 1.0, 2.0, 3.0]);
        assert_eq!(a.downbeats, vec![0.0, 2.0]);
    }

    #[test]
    fn a_huge_measure_is_cut_at_the_beat_limit() {
        // One whole-note chord lasting 400,000 quarters.
        let s = score((4, 4), 120, &[&[("C", 4, 800_000)]]);
        let a = analyze_score(&s, &AnalysisOptions::default()).unwrap();
        assert_eq!(a.beats.len(), MAX_BEATS);
        assert!(!a.chords.is_empty());
    }

    #[test]
    fn tempo_changes_move_the_beats() {
        let tempos = vec![(Rational::ZERO, 60.0), (Rational::from_int(2), 120.0)];
        assert_eq!(
            seconds_of(&tempos, &[0.0, 1.0, 2.0, 3.0, 4.0]),
            vec![0.0, 1.0, 2.0, 2.5, 3.0]
        );
    }
}
