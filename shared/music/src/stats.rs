//! Summary counts of a score, for listings and quick checks.

use std::collections::HashMap;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Attributes, Item, Score, TieType};

/// Counts that summarise a score.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct ScoreStats {
    /// Number of parts.
    pub parts: usize,
    /// Measures in the first part (0 without parts).
    pub measures: usize,
    /// Sounding pitched note onsets (see [`stats`]).
    pub notes: usize,
    /// Rest notes.
    pub rests: usize,
    /// Lyric syllables with non-empty text.
    pub lyrics: usize,
    /// The first key signature in the first part.
    pub key_signature_fifths: Option<i8>,
    /// The score title.
    pub title: Option<String>,
}

/// Counts a score's parts, measures, notes, rests and lyrics.
///
/// `notes` counts sounding pitch onsets: each chord member counts, grace notes
/// count, a note tied from the previous one (tie stop) does not (it continues
/// a sound), cue notes do not (MusicXML cues are silent), and unpitched
/// percussion notes and chord symbols do not (they are not pitches). A tie
/// stop continues a sound only when an earlier note of the part on the same
/// key started a tie that no stop has taken yet; a lone tie stop (a file's
/// notational `<tied>` with nothing before it) sounds, as the MIDI writer
/// plays it.
pub fn stats(score: &Score) -> ScoreStats {
    let mut s = ScoreStats {
        parts: score.parts.len(),
        measures: score.parts.first().map_or(0, |p| p.measures.len()),
        title: score.title.clone(),
        ..ScoreStats::default()
    };
    for part in &score.parts {
        // Ties started and not yet stopped, by MIDI key (so C♯ ties to D♭).
        let mut open: HashMap<i32, usize> = HashMap::new();
        for measure in &part.measures {
            for item in &measure.items {
                let Item::Note(n) = item else { continue };
                if n.rest {
                    s.rests += 1;
                }
                if let Some(p) = &n.pitch {
                    let key = p.midi();
                    let continues = n.is_tie_continuation()
                        && open.get_mut(&key).is_some_and(|c| {
                            let taken = *c > 0;
                            *c = c.saturating_sub(1);
                            taken
                        });
                    if n.ties.contains(&TieType::Start) {
                        *open.entry(key).or_default() += 1;
                    }
                    if !n.cue && !continues {
                        s.notes += 1;
                    }
                }
                s.lyrics += n
                    .lyrics
                    .iter()
                    .filter(|l| !l.text.trim().is_empty())
                    .count();
            }
        }
    }
    s.key_signature_fifths = score.parts.first().and_then(|p| {
        p.measures.iter().find_map(|m| {
            let start = m.attributes.iter();
            let later = m.items.iter().filter_map(|i| match i {
                Item::Attributes(a) => Some(a),
                _ => None,
            });
            start
                .chain(later)
                .find_map(|a: &Attributes| a.key.as_ref().map(|k| k.fifths))
        })
    });
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Measure, Note, Part, Pitch, Step};
    use crate::rational::Rational;

    fn note(step: Step, alter: i8, ties: &[TieType]) -> Item {
        Item::Note(Note {
            pitch: Some(Pitch {
                step,
                alter,
                octave: 4,
            }),
            duration: Rational::ONE,
            ties: ties.to_vec(),
            ..Note::default()
        })
    }

    #[test]
    fn a_tie_stop_continues_only_an_open_tie_on_its_key() {
        use TieType::{Start, Stop};
        let items = vec![
            note(Step::D, 1, &[Stop]),         // lone stop: sounds
            note(Step::C, 1, &[Start]),        // sounds, opens C#
            note(Step::D, -1, &[Stop, Start]), // Db continues C#, opens again
            note(Step::D, -1, &[Stop]),        // continues
            note(Step::D, -1, &[Stop]),        // nothing open any more: sounds
        ];
        let score = Score {
            parts: vec![Part {
                id: "P1".into(),
                name: None,
                instrument: None,
                instruments: Vec::new(),
                staves: 1,
                measures: vec![Measure {
                    number: "1".into(),
                    implicit: false,
                    attributes: None,
                    items,
                    barlines: Vec::new(),
                }],
            }],
            ..Score::default()
        };
        assert_eq!(stats(&score).notes, 3);
    }
}
