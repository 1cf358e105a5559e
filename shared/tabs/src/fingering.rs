//! Fingering: which string and fret plays each note.
//!
//! Notes that start together (within 20 ms) are one event: a chord. Each event's choices are
//! the ways to put its notes on distinct strings with every fretted note inside a four-fret
//! hand span (open strings aside). A Viterbi path over the hand's position picks, event by
//! event, the cheapest choice inside the hand's four frets, paying for fret height, the
//! chord's span and each move of the hand (less after a pause, when the hand has time). Open
//! strings cost nothing and fit any position. The greedy baseline ([`greedy`]) takes each event's lowest frets, one at a time.

use coda_theory::TimedNote;
use serde::{Deserialize, Serialize};

use crate::instrument::{pitch_name, Instrument};

/// One note of the tab.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct TabNote {
    /// Onset in seconds.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// The key it sounds (after any octave move into the instrument's range).
    pub pitch_midi: u8,
    /// The string, 1 = the highest-pitched (MusicXML's numbering).
    pub string: u8,
    /// The fret counted from the capo (0 = open, or the capo).
    pub fret: u8,
}

/// A fingered piece: its notes by onset, and what had to change to make it playable.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Tab {
    /// The instrument it is for.
    pub instrument: Instrument,
    /// The notes, by onset, then string.
    pub notes: Vec<TabNote>,
    /// Notes moved by octaves, or left out of chords the hand cannot hold.
    pub warnings: Vec<String>,
}

/// What the fingering path weighs.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Costs {
    /// Per fret of height, per fretted note.
    pub fret: f64,
    /// Per fret between a chord's lowest and highest fretted notes.
    pub span: f64,
    /// Per fret the hand moves between events.
    pub shift: f64,
    /// Once for any move of the hand.
    pub shift_once: f64,
}

impl Default for Costs {
    fn default() -> Self {
        Costs {
            fret: 0.05,
            span: 0.3,
            shift: 0.3,
            shift_once: 2.0,
        }
    }
}

/// The most frets between a chord's lowest and highest fretted notes (a four-fret hand).
pub const MAX_SPAN: u8 = 3;
/// Choices kept per event, the cheapest alone.
const MAX_CHOICES: usize = 96;
/// Notes starting this close together are one chord.
const CHORD_S: f64 = 0.02;

/// One event: its notes (index into the playable notes) and its choices.
struct Event {
    notes: Vec<usize>,
    start_s: f64,
    /// Each choice: per note of `notes`, its (string, fret).
    choices: Vec<Vec<(usize, u8)>>,
}

/// The notes as playable: octave-moved into range, and grouped into events.
fn events(
    notes: &[TimedNote],
    inst: &Instrument,
    warnings: &mut Vec<String>,
) -> (Vec<TimedNote>, Vec<Event>) {
    let (low, high) = inst.range();
    let mut moved = 0usize;
    let mut playable: Vec<TimedNote> = notes
        .iter()
        .filter(|n| n.start_s.is_finite() && n.end_s.is_finite())
        .map(|n| {
            let mut key = i32::from(n.pitch_midi);
            while key < i32::from(low) {
                key += 12;
            }
            while key > i32::from(high) {
                key -= 12;
            }
            let key = key.clamp(0, 127) as u8;
            moved += usize::from(key != n.pitch_midi);
            TimedNote {
                pitch_midi: key,
                ..*n
            }
        })
        .filter(|n| (low..=high).contains(&n.pitch_midi))
        .collect();
    if moved > 0 {
        warnings.push(format!(
            "{moved} notes outside the instrument's range ({} to {}) were moved by octaves",
            pitch_name(low),
            pitch_name(high)
        ));
    }
    playable.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(b.pitch_midi.cmp(&a.pitch_midi))
    });
    let mut events: Vec<Event> = Vec::new();
    let mut dropped = 0usize;
    let mut i = 0;
    while i < playable.len() {
        let start = playable[i].start_s;
        let mut group: Vec<usize> = Vec::new();
        while i < playable.len() && playable[i].start_s - start <= CHORD_S {
            // A unison doubled is played once.
            if !group
                .iter()
                .any(|&g| playable[g].pitch_midi == playable[i].pitch_midi)
            {
                group.push(i);
            }
            i += 1;
        }
        // Too many notes, or no hand shape holds them: leave out inner notes until one does.
        let mut choices = choose(&group, &playable, inst);
        while choices.is_empty() && group.len() > 1 {
            let inner = if group.len() > 2 { 1 } else { group.len() - 1 };
            group.remove(inner);
            dropped += 1;
            choices = choose(&group, &playable, inst);
        }
        if !choices.is_empty() {
            events.push(Event {
                notes: group,
                start_s: start,
                choices,
            });
        } else {
            dropped += group.len();
        }
    }
    if dropped > 0 {
        warnings.push(format!(
            "{dropped} chord notes were left out: no hand shape within {} frets holds them on distinct strings",
            MAX_SPAN + 1
        ));
    }
    (playable, events)
}

/// Every way to play `group` (highest note first) on distinct strings within the span, the
/// cheapest [`MAX_CHOICES`] by fret height and span.
fn choose(group: &[usize], notes: &[TimedNote], inst: &Instrument) -> Vec<Vec<(usize, u8)>> {
    let mut out = Vec::new();
    let mut current = Vec::with_capacity(group.len());
    fn go(
        k: usize,
        group: &[usize],
        notes: &[TimedNote],
        inst: &Instrument,
        used: &mut u32,
        current: &mut Vec<(usize, u8)>,
        out: &mut Vec<Vec<(usize, u8)>>,
    ) {
        if out.len() >= 20_000 {
            return;
        }
        if k == group.len() {
            out.push(current.clone());
            return;
        }
        let key = notes[group[k]].pitch_midi;
        for s in 0..inst.strings.len() {
            if *used & (1 << s) != 0 {
                continue;
            }
            let open = inst.strings[s] + inst.capo;
            if key < open || key - open > inst.top_fret() {
                continue;
            }
            let fret = key - open;
            current.push((s, fret));
            if span(current) <= MAX_SPAN {
                *used |= 1 << s;
                go(k + 1, group, notes, inst, used, current, out);
                *used &= !(1 << s);
            }
            current.pop();
        }
    }
    let mut used = 0u32;
    go(0, group, notes, inst, &mut used, &mut current, &mut out);
    let costs = Costs::default();
    out.sort_by(|a, b| local_cost(a, &costs).total_cmp(&local_cost(b, &costs)));
    out.truncate(MAX_CHOICES);
    out
}

/// Frets between the lowest and highest fretted notes (open strings aside).
fn span(choice: &[(usize, u8)]) -> u8 {
    let fretted = choice.iter().map(|c| c.1).filter(|f| *f > 0);
    match (fretted.clone().min(), fretted.max()) {
        (Some(lo), Some(hi)) => hi - lo,
        _ => 0,
    }
}

fn local_cost(choice: &[(usize, u8)], c: &Costs) -> f64 {
    let height: f64 = choice.iter().map(|x| f64::from(x.1)).sum();
    height * c.fret + f64::from(span(choice)) * c.span
}

fn tab_of(
    inst: &Instrument,
    notes: &[TimedNote],
    events: &[Event],
    picks: &[usize],
    warnings: Vec<String>,
) -> Tab {
    let mut out: Vec<TabNote> = Vec::new();
    for (e, &p) in events.iter().zip(picks) {
        for (&n, &(s, fret)) in e.notes.iter().zip(&e.choices[p]) {
            let note = notes[n];
            out.push(TabNote {
                start_s: note.start_s,
                end_s: note.end_s,
                pitch_midi: note.pitch_midi,
                string: (s + 1) as u8,
                fret,
            });
        }
    }
    out.sort_by(|a, b| {
        a.start_s
            .total_cmp(&b.start_s)
            .then(a.string.cmp(&b.string))
    });
    Tab {
        instrument: inst.clone(),
        notes: out,
        warnings,
    }
}

/// Whether every fretted note of `choice` lies in the window of the hand at `p`.
fn fits(choice: &[(usize, u8)], p: u8) -> bool {
    choice
        .iter()
        .all(|x| x.1 == 0 || (p..=p + MAX_SPAN).contains(&x.1))
}

/// The fingering of `notes` on `inst` with the least total cost: a Viterbi path over the
/// hand's position (the fret under the first finger), each event played by its cheapest
/// choice inside the hand's four frets there, and each move of the hand paid for.
pub fn fingering(notes: &[TimedNote], inst: &Instrument, costs: &Costs) -> Tab {
    let mut warnings = Vec::new();
    let (playable, events) = events(notes, inst, &mut warnings);
    if events.is_empty() {
        return tab_of(inst, &playable, &events, &[], warnings);
    }
    let positions: Vec<u8> = (1..=inst.top_fret().max(1)).collect();
    // Each event's cheapest choice at each position (None: nothing fits there).
    let emission = |e: &Event| -> Vec<Option<(usize, f64)>> {
        positions
            .iter()
            .map(|&p| {
                e.choices
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| fits(c, p))
                    .map(|(k, c)| (k, local_cost(c, costs)))
                    .fold(None, |acc: Option<(usize, f64)>, x| match acc {
                        Some(a) if a.1 <= x.1 => Some(a),
                        _ => Some(x),
                    })
            })
            .collect()
    };
    let n = positions.len();
    let first = emission(&events[0]);
    let mut best: Vec<f64> = first
        .iter()
        .map(|e| e.map_or(f64::INFINITY, |(_, c)| c))
        .collect();
    let mut picks_at: Vec<Vec<Option<(usize, f64)>>> = vec![first];
    let mut back: Vec<Vec<usize>> = vec![vec![0; n]];
    for i in 1..events.len() {
        let (prev, cur) = (&events[i - 1], &events[i]);
        let prev_end = prev
            .notes
            .iter()
            .map(|&k| playable[k].end_s)
            .fold(prev.start_s, f64::max);
        // After a pause the hand has time to move: half the cost past half a second.
        let ease = if cur.start_s - prev_end > 0.5 {
            0.5
        } else {
            1.0
        };
        let em = emission(cur);
        let mut next = vec![f64::INFINITY; n];
        let mut from = vec![0; n];
        for (j, e) in em.iter().enumerate() {
            let Some((_, local)) = e else { continue };
            for (k, &b) in best.iter().enumerate() {
                if !b.is_finite() {
                    continue;
                }
                let moved = positions[j].abs_diff(positions[k]);
                let shift = if moved == 0 {
                    0.0
                } else {
                    (costs.shift_once + costs.shift * f64::from(moved)) * ease
                };
                if b + shift < next[j] {
                    next[j] = b + shift;
                    from[j] = k;
                }
            }
            next[j] += local;
        }
        best = next;
        back.push(from);
        picks_at.push(em);
    }
    let mut j = best
        .iter()
        .enumerate()
        .fold(
            (0, f64::INFINITY),
            |acc, (k, &s)| if s < acc.1 { (k, s) } else { acc },
        )
        .0;
    let mut picks = vec![0; events.len()];
    for i in (0..events.len()).rev() {
        picks[i] = picks_at[i][j].map_or(0, |(k, _)| k);
        j = back[i][j];
    }
    tab_of(inst, &playable, &events, &picks, warnings)
}

/// The baseline: each event on its lowest frets, with no look at its neighbours.
pub fn greedy(notes: &[TimedNote], inst: &Instrument) -> Tab {
    let mut warnings = Vec::new();
    let (playable, events) = events(notes, inst, &mut warnings);
    let picks: Vec<usize> = events
        .iter()
        .map(|e| {
            e.choices
                .iter()
                .enumerate()
                .min_by_key(|(_, c)| (c.iter().map(|x| u32::from(x.1)).sum::<u32>(), span(c)))
                .map_or(0, |(k, _)| k)
        })
        .collect();
    tab_of(inst, &playable, &events, &picks, warnings)
}

/// How often the hand moves: the hand covers four frets; an event with a fretted note
/// outside them moves it, as little as it must (down to the event's lowest fretted note, or
/// up until its highest is under the fourth finger). Open strings never move it.
pub fn position_shifts(tab: &Tab) -> usize {
    let mut shifts = 0;
    let mut hand: Option<u8> = None;
    let mut i = 0;
    while i < tab.notes.len() {
        let start = tab.notes[i].start_s;
        let mut frets = vec![];
        while i < tab.notes.len() && tab.notes[i].start_s - start <= CHORD_S {
            if tab.notes[i].fret > 0 {
                frets.push(tab.notes[i].fret);
            }
            i += 1;
        }
        let (Some(&lo), Some(&hi)) = (frets.iter().min(), frets.iter().max()) else {
            continue;
        };
        match hand {
            None => hand = Some(lo),
            Some(p) if lo < p => {
                shifts += 1;
                hand = Some(lo);
            }
            Some(p) if hi > p + MAX_SPAN => {
                shifts += 1;
                hand = Some(hi.saturating_sub(MAX_SPAN).max(1));
            }
            _ => {}
        }
    }
    shifts
}
