//! MIDI output, mirroring upstream's `note_events_to_midi` as written by pretty_midi (through mido).
//!
//! pretty_midi's layout is kept byte for byte: 220 ticks per beat, a timing
//! track (tempo, 4/4), one "Electric Piano 1" track, events sorted by tick and
//! then by pretty_midi's type/value order, running status, end of track one
//! tick after the last event.

use midly::num::{u14, u15, u24, u28, u4, u7};
use midly::{Format, Header, MetaMessage, MidiMessage, Smf, Timing, TrackEvent, TrackEventKind};

use super::NoteEvent;
use coda_model_runtime::ModelError;

/// pretty_midi's default resolution.
const TICKS_PER_BEAT: f64 = 220.0;
/// General MIDI "Electric Piano 1", which upstream uses for every note.
const ELECTRIC_PIANO_1: u8 = 4;
const N_PITCH_BEND_TICKS: i64 = 8192;
const CONTOURS_BINS_PER_SEMITONE: f64 = 3.0;

/// Writes the notes as a Standard MIDI File the way upstream does, with default options.
pub fn notes_to_midi(notes: &[NoteEvent], tempo_bpm: f64) -> Result<Vec<u8>, ModelError> {
    notes_to_midi_with(notes, tempo_bpm, false)
}

/// Microseconds per beat as pretty_midi computes them, checked to fit the MIDI tempo field.
pub(crate) fn tempo_micros(tempo_bpm: f64) -> Result<u32, ModelError> {
    let tick_scale = 60.0 / (tempo_bpm * TICKS_PER_BEAT);
    let micros = (6e7 / (60.0 / (tick_scale * TICKS_PER_BEAT))).trunc();
    if !(tempo_bpm.is_finite() && tempo_bpm > 0.0 && (1.0..=16_777_215.0).contains(&micros)) {
        return Err(ModelError::InvalidParams(format!(
            "midi tempo {tempo_bpm} bpm is outside what a MIDI file can hold (about 3.6 to 6e7)"
        )));
    }
    Ok(micros as u32)
}

/// pretty_midi's sort key for events at one tick (see `PrettyMIDI.write.event_compare`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    Program(u8),
    Bend(i16),
    NoteOn { key: u8, velocity: u8 },
}

impl Event {
    fn secondary(self) -> i64 {
        const S: i64 = 256 * 256;
        match self {
            Event::Program(_) => 6 * S,
            Event::Bend(pitch) => 7 * S + i64::from(pitch),
            Event::NoteOn { key, velocity } => 10 * S + i64::from(key) * 256 + i64::from(velocity),
        }
    }
}

/// Like [`notes_to_midi`]; `multiple_pitch_bends` gives every pitch its own track so that
/// overlapping notes keep their bends (upstream's `multiple_pitch_bends`).
pub fn notes_to_midi_with(
    notes: &[NoteEvent],
    tempo_bpm: f64,
    multiple_pitch_bends: bool,
) -> Result<Vec<u8>, ModelError> {
    let micros = tempo_micros(tempo_bpm)?;
    let tick_scale = 60.0 / (tempo_bpm * TICKS_PER_BEAT);
    for note in notes {
        if !(note.start_s.is_finite() && note.end_s.is_finite()) || note.pitch_midi > 127 {
            return Err(ModelError::InvalidParams(format!(
                "note {note:?} has a non-finite time or a pitch above 127"
            )));
        }
    }

    let mut ordered: Vec<NoteEvent> = notes.to_vec();
    if !multiple_pitch_bends {
        drop_overlapping_pitch_bends(&mut ordered);
    }

    // Instruments in order of first use, as upstream's defaultdict.
    let mut instruments: Vec<(u8, Vec<(u64, Event)>)> = Vec::new();
    for note in &ordered {
        let id = if multiple_pitch_bends {
            note.pitch_midi
        } else {
            0
        };
        let slot = match instruments.iter().position(|(i, _)| *i == id) {
            Some(slot) => slot,
            None => {
                instruments.push((id, Vec::new()));
                instruments.len() - 1
            }
        };
        let events = &mut instruments[slot].1;
        let velocity = note.velocity.min(127);
        events.push((
            time_to_tick(note.start_s, tick_scale)?,
            Event::NoteOn {
                key: note.pitch_midi,
                velocity,
            },
        ));
        events.push((
            time_to_tick(note.end_s, tick_scale)?,
            Event::NoteOn {
                key: note.pitch_midi,
                velocity: 0,
            },
        ));
        for (time, bend) in linspace(note.start_s, note.end_s, note.pitch_bends.len())
            .into_iter()
            .zip(&note.pitch_bends)
        {
            let ticks =
                (f64::from(*bend) * 4096.0 / CONTOURS_BINS_PER_SEMITONE).round_ties_even() as i64;
            let ticks = ticks.clamp(-N_PITCH_BEND_TICKS, N_PITCH_BEND_TICKS - 1) as i16;
            // pretty_midi appends all bends after all notes; order matters only for
            // ties, which the stable sort below resolves like Python's.
            events.push((time_to_tick(time, tick_scale)?, Event::Bend(ticks)));
        }
    }
    // Put bends after notes within an instrument, as pretty_midi does.
    for (_, events) in &mut instruments {
        let (mut notes_part, bends): (Vec<_>, Vec<_>) = events
            .drain(..)
            .partition(|(_, e)| matches!(e, Event::NoteOn { .. }));
        notes_part.extend(bends);
        *events = notes_part;
    }

    let mut tracks: Vec<Vec<TrackEvent<'static>>> = Vec::new();
    let timing = vec![
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::Tempo(u24::new(micros))),
        },
        TrackEvent {
            delta: u28::new(0),
            kind: TrackEventKind::Meta(MetaMessage::TimeSignature(4, 2, 24, 8)),
        },
        TrackEvent {
            delta: u28::new(1),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        },
    ];
    tracks.push(timing);

    // Channels 0..15 without the drum channel 9.
    let channels: Vec<u8> = (0..16).filter(|&c| c != 9).collect();
    for (n, (_, mut events)) in instruments.into_iter().enumerate() {
        let channel = u4::new(channels[n % channels.len()]);
        events.insert(0, (0, Event::Program(ELECTRIC_PIANO_1)));
        events.sort_by_key(|&(tick, event)| (tick, event.secondary()));
        // pretty_midi then swaps a note-on that precedes a same-tick note-off of the
        // same key; with velocity in the sort key that order cannot occur, so there
        // is nothing to swap.
        let mut track = Vec::with_capacity(events.len() + 1);
        let mut last = 0u64;
        for (tick, event) in &events {
            track.push(TrackEvent {
                delta: delta(*tick - last)?,
                kind: TrackEventKind::Midi {
                    channel,
                    message: match *event {
                        Event::Program(program) => MidiMessage::ProgramChange {
                            program: u7::new(program),
                        },
                        Event::Bend(pitch) => MidiMessage::PitchBend {
                            bend: midly::PitchBend(u14::new((i32::from(pitch) + 8192) as u16)),
                        },
                        Event::NoteOn { key, velocity } => MidiMessage::NoteOn {
                            key: u7::new(key),
                            vel: u7::new(velocity),
                        },
                    },
                },
            });
            last = *tick;
        }
        track.push(TrackEvent {
            delta: u28::new(1),
            kind: TrackEventKind::Meta(MetaMessage::EndOfTrack),
        });
        tracks.push(track);
    }

    let smf = Smf {
        header: Header::new(
            Format::Parallel,
            Timing::Metrical(u15::new(TICKS_PER_BEAT as u16)),
        ),
        tracks,
    };
    let mut bytes = Vec::new();
    smf.write_std(&mut bytes)
        .map_err(|e| ModelError::InvalidParams(format!("cannot encode MIDI: {e}")))?;
    Ok(bytes)
}

fn delta(ticks: u64) -> Result<u28, ModelError> {
    u32::try_from(ticks)
        .ok()
        .and_then(u28::try_from)
        .ok_or_else(|| {
            ModelError::InvalidParams(format!(
                "a gap of {ticks} ticks does not fit in a MIDI file"
            ))
        })
}

/// pretty_midi's `time_to_tick` for a file with one tempo: round half to even, negatives to 0.
fn time_to_tick(time: f64, tick_scale: f64) -> Result<u64, ModelError> {
    if time <= 0.0 {
        return Ok(0);
    }
    let tick = (time / tick_scale).round_ties_even();
    if tick > (1u64 << 40) as f64 {
        return Err(ModelError::InvalidParams(format!(
            "time {time} s is too far out for a MIDI file"
        )));
    }
    Ok(tick as u64)
}

/// numpy's `linspace(start, stop, num)` with the endpoint included.
fn linspace(start: f64, stop: f64, num: usize) -> Vec<f64> {
    match num {
        0 => Vec::new(),
        1 => vec![start],
        _ => {
            let div = (num - 1) as f64;
            let delta = stop - start;
            let step = delta / div;
            let mut y: Vec<f64> = (0..num)
                .map(|i| {
                    if step == 0.0 {
                        i as f64 / div * delta + start
                    } else {
                        i as f64 * step + start
                    }
                })
                .collect();
            y[num - 1] = stop;
            y
        }
    }
}

/// Upstream's `drop_overlapping_pitch_bends`: sort the notes as Python sorts the
/// tuples, then clear the bends of every note that overlaps another.
fn drop_overlapping_pitch_bends(notes: &mut [NoteEvent]) {
    notes.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(a.end_s.total_cmp(&b.end_s))
            .then(a.pitch_midi.cmp(&b.pitch_midi))
            .then(a.amplitude.total_cmp(&b.amplitude))
            .then(a.pitch_bends.cmp(&b.pitch_bends))
    });
    let mut overlapping = vec![false; notes.len()];
    for i in 0..notes.len() {
        for j in i + 1..notes.len() {
            if notes[j].start_s >= notes[i].end_s {
                break;
            }
            overlapping[i] = true;
            overlapping[j] = true;
        }
    }
    for (note, drop) in notes.iter_mut().zip(overlapping) {
        if drop {
            note.pitch_bends.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(start: f64, end: f64, pitch: u8, bends: Vec<i32>) -> NoteEvent {
        NoteEvent {
            start_s: start,
            end_s: end,
            pitch_midi: pitch,
            velocity: 100,
            amplitude: 100.0 / 127.0,
            pitch_bends: bends,
        }
    }

    #[test]
    fn linspace_matches_numpy() {
        assert_eq!(linspace(1.0, 2.0, 5), vec![1.0, 1.25, 1.5, 1.75, 2.0]);
        assert_eq!(linspace(3.0, 3.0, 3), vec![3.0, 3.0, 3.0]);
        assert_eq!(linspace(1.0, 2.0, 1), vec![1.0]);
        assert!(linspace(1.0, 2.0, 0).is_empty());
    }

    #[test]
    fn ticks_round_half_to_even_at_440_per_second() {
        let scale = 60.0 / (120.0 * 220.0);
        assert_eq!(time_to_tick(0.0, scale).unwrap(), 0);
        assert_eq!(time_to_tick(-1.0, scale).unwrap(), 0);
        assert_eq!(time_to_tick(1.0, scale).unwrap(), 440);
        assert_eq!(time_to_tick(2.5 / 440.0, scale).unwrap(), 2);
        assert_eq!(tempo_micros(120.0).unwrap(), 500_000);
        assert!(tempo_micros(f64::NAN).is_err());
        assert!(tempo_micros(1.0).is_err());
    }

    #[test]
    fn overlapping_notes_lose_their_bends_unless_asked_to_keep_them() {
        let notes = vec![
            note(0.0, 1.0, 60, vec![1, 1]),
            note(0.5, 1.5, 64, vec![2, 2]),
            note(2.0, 3.0, 67, vec![3, 0]),
        ];
        let bytes = notes_to_midi(&notes, 120.0).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 2);
        let bends = smf.tracks[1]
            .iter()
            .filter(|e| {
                matches!(
                    e.kind,
                    TrackEventKind::Midi {
                        message: MidiMessage::PitchBend { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(bends, 2, "only the non-overlapping note keeps its bends");

        let bytes = notes_to_midi_with(&notes, 120.0, true).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 4, "one track per pitch plus timing");
        let bends: usize = smf.tracks[1..]
            .iter()
            .flatten()
            .filter(|e| {
                matches!(
                    e.kind,
                    TrackEventKind::Midi {
                        message: MidiMessage::PitchBend { .. },
                        ..
                    }
                )
            })
            .count();
        assert_eq!(bends, 6);
    }

    #[test]
    fn no_notes_gives_only_the_timing_track() {
        let bytes = notes_to_midi(&[], 120.0).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        assert_eq!(smf.tracks.len(), 1);
        assert_eq!(&bytes[..4], b"MThd");
    }

    #[test]
    fn bad_notes_and_tempi_are_errors() {
        assert!(notes_to_midi(&[note(f64::NAN, 1.0, 60, vec![])], 120.0).is_err());
        assert!(notes_to_midi(&[note(0.0, 1.0, 200, vec![])], 120.0).is_err());
        assert!(notes_to_midi(&[note(0.0, 1e12, 60, vec![])], 120.0).is_err());
        assert!(notes_to_midi(&[], 0.0).is_err());
    }

    #[test]
    fn bends_are_scaled_to_thirds_of_a_semitone_and_clipped() {
        let notes = vec![note(0.0, 1.0, 60, vec![1, -1, 7, -7])];
        let bytes = notes_to_midi(&notes, 120.0).unwrap();
        let smf = Smf::parse(&bytes).unwrap();
        let values: Vec<i16> = smf.tracks[1]
            .iter()
            .filter_map(|e| match e.kind {
                TrackEventKind::Midi {
                    message: MidiMessage::PitchBend { bend },
                    ..
                } => Some(bend.as_int()),
                _ => None,
            })
            .collect();
        assert_eq!(values, vec![1365, -1365, 8191, -8192]);
    }
}
