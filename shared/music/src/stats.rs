//! Summary counts of a score, for listings and quick checks.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::model::{Attributes, Item, Score};

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
/// percussion notes and chord symbols do not (they are not pitches).
pub fn stats(score: &Score) -> ScoreStats {
    let mut s = ScoreStats {
        parts: score.parts.len(),
        measures: score.parts.first().map_or(0, |p| p.measures.len()),
        title: score.title.clone(),
        ..ScoreStats::default()
    };
    for part in &score.parts {
        for measure in &part.measures {
            for item in &measure.items {
                let Item::Note(n) = item else { continue };
                if n.rest {
                    s.rests += 1;
                }
                if n.pitch.is_some() && !n.cue && !n.is_tie_continuation() {
                    s.notes += 1;
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
