//! `set_lyrics` and `select_verse`.
//!
//! # Text
//! Words are split by whitespace and syllables by hyphens: `"Hap-py birth-day"`
//! gives Hap (begin), py (end), birth (begin), day (end); a one-syllable word
//! is `single`. An underscore is a melisma: each `_` (alone, or trailing a
//! syllable as in `"love_"`, or as a syllable of its own as in `"A-_-men"`)
//! holds the previous syllable over one more note, which gets no syllable; a
//! word-final syllable held so gets MusicXML's extend line (`extend: true`).
//! A leading `_` leaves a note without a syllable.
//!
//! # Notes
//! Syllables go one per sounding note, in order: rests, tied-to notes (tie
//! continuations), grace notes, cue notes and chord members after the first
//! are skipped. Only one voice takes the verse: `voice` when given, else the
//! voice of the first such note in the range ("1" when unwritten).
//!
//! # Range
//! The verse's existing syllables on that voice's notes in the range are
//! replaced. With fewer syllables than notes, the notes left over have no
//! syllable in that verse (an empty `text` clears the verse in the range);
//! more syllables than notes is an error on `text`. `notes` picks notes
//! by position (1-based) among the sounding notes in the measure range.

use crate::model::{Item, Lyric, Note, Part, Score, Syllabic};

use super::timeline::voice_of;
use super::values::Span;
use super::Fail;

/// One unit of lyric text: a syllable on a note, or a melisma hold.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Token {
    Syllable { text: String, syllabic: Syllabic },
    Hold,
}

/// Splits lyric text into syllables and holds.
fn tokens(text: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for word in text.split_whitespace() {
        // Pieces: (syllable text or None for a bare hold, holds after it).
        let mut pieces: Vec<(Option<&str>, usize)> = Vec::new();
        for piece in word.split('-') {
            let body = piece.trim_end_matches('_');
            let holds = piece.len() - body.len();
            if body.is_empty() {
                if holds > 0 {
                    pieces.push((None, holds));
                }
            } else {
                pieces.push((Some(body), holds));
            }
        }
        let syllables = pieces.iter().filter(|p| p.0.is_some()).count();
        let mut k = 0;
        for (body, holds) in pieces {
            if let Some(body) = body {
                let syllabic = match (syllables, k) {
                    (1, _) => Syllabic::Single,
                    (_, 0) => Syllabic::Begin,
                    (n, i) if i + 1 == n => Syllabic::End,
                    _ => Syllabic::Middle,
                };
                k += 1;
                out.push(Token::Syllable {
                    text: body.to_owned(),
                    syllabic,
                });
            }
            out.extend(std::iter::repeat_n(Token::Hold, holds));
        }
    }
    out
}

/// Whether a note takes a syllable.
fn takes_syllable(n: &Note) -> bool {
    !n.rest
        && (n.pitch.is_some() || n.unpitched.is_some())
        && !n.chord
        && !n.grace
        && !n.cue
        && !n.is_tie_continuation()
        && !n.duration.is_zero()
}

/// Inserts a lyric among a note's lyrics, keeping numbered verses in order.
fn insert_lyric(n: &mut Note, lyric: Lyric, verse: u32) {
    let at = n
        .lyrics
        .iter()
        .position(|l| l.verse.trim().parse::<u32>().is_ok_and(|v| v > verse))
        .unwrap_or(n.lyrics.len());
    n.lyrics.insert(at, lyric);
}

/// The `set_lyrics` edit.
#[allow(clippy::too_many_arguments)]
pub(crate) fn set_lyrics(
    score: &mut Score,
    part: usize,
    verse: u32,
    text: &str,
    measures: Option<Span>,
    notes: Option<Span>,
    voice: Option<&str>,
) -> Result<(), Fail> {
    super::parts_selected(score, Some(part))?;
    let p: &mut Part = &mut score.parts[part];
    let (first, last) = match measures {
        Some(span) => super::measure_span(span, p.measures.len(), "measures")?,
        None if p.measures.is_empty() => {
            return Err(Fail::new("part", format!("part {part} has no measures")))
        }
        None => (0, p.measures.len() - 1),
    };
    // Every note in range, in order: (measure, item).
    let all: Vec<(usize, usize)> = (first..=last)
        .flat_map(|mi| {
            p.measures[mi]
                .items
                .iter()
                .enumerate()
                .filter(|(_, i)| matches!(i, Item::Note(_)))
                .map(move |(ii, _)| (mi, ii))
        })
        .collect();
    let note = |(mi, ii): (usize, usize)| match p.measures[mi].items.get(ii) {
        Some(Item::Note(n)) => Some(n),
        _ => None,
    };
    let voice: String = match voice {
        Some(v) => v.to_owned(),
        None => all
            .iter()
            .find_map(|&at| {
                note(at)
                    .filter(|n| takes_syllable(n))
                    .map(|n| voice_of(n).to_owned())
            })
            .unwrap_or_else(|| "1".to_owned()),
    };
    let in_voice: Vec<(usize, usize)> = all
        .into_iter()
        .filter(|&at| note(at).is_some_and(|n| voice_of(n) == voice))
        .collect();
    let sounding: Vec<usize> = in_voice
        .iter()
        .enumerate()
        .filter(|(_, &at)| note(at).is_some_and(takes_syllable))
        .map(|(k, _)| k)
        .collect();
    // The slice of `in_voice` the edit covers, and its sounding notes.
    let (lo, hi, targets): (usize, usize, &[usize]) = match notes {
        None => (0, in_voice.len(), &sounding[..]),
        Some(span) => {
            let (a, b) = super::position_span(span, sounding.len(), "notes", "sounding notes")?;
            let hi = sounding.get(b + 1).copied().unwrap_or(in_voice.len());
            (sounding[a], hi, &sounding[a..=b])
        }
    };
    let toks = tokens(text);
    if toks.len() > targets.len() {
        let syllables = toks
            .iter()
            .filter(|t| matches!(t, Token::Syllable { .. }))
            .count();
        return Err(Fail::new(
            "text",
            format!(
                "{} syllables and {} melisma holds need {} notes, but voice {voice:?} has only {} sounding notes in measures {}..={}{}",
                syllables,
                toks.len() - syllables,
                toks.len(),
                targets.len(),
                first + 1,
                last + 1,
                if notes.is_some() { " (in the notes range)" } else { "" },
            ),
        ));
    }
    let verse_name = verse.to_string();
    for &(mi, ii) in &in_voice[lo..hi] {
        if let Some(Item::Note(n)) = p.measures[mi].items.get_mut(ii) {
            n.lyrics.retain(|l| l.verse.trim() != verse_name);
        }
    }
    let mut last_word_end: Option<(usize, usize)> = None;
    for (tok, &k) in toks.iter().zip(targets) {
        let (mi, ii) = in_voice[k];
        match tok {
            Token::Syllable { text, syllabic } => {
                if let Some(Item::Note(n)) = p.measures[mi].items.get_mut(ii) {
                    let lyric = Lyric {
                        verse: verse_name.clone(),
                        text: text.clone(),
                        syllabic: Some(*syllabic),
                        extend: false,
                    };
                    insert_lyric(n, lyric, verse);
                }
                last_word_end =
                    matches!(syllabic, Syllabic::Single | Syllabic::End).then_some((mi, ii));
            }
            Token::Hold => {
                if let Some((m, i)) = last_word_end {
                    if let Some(Item::Note(n)) = p.measures[m].items.get_mut(i) {
                        for l in &mut n.lyrics {
                            if l.verse == verse_name {
                                l.extend = true;
                            }
                        }
                    }
                }
            }
        }
    }
    Ok(())
}

/// The `select_verse` edit: keep one verse, renumbered 1.
pub(crate) fn select_verse(score: &mut Score, verse: u32) -> Result<(), Fail> {
    let name = verse.to_string();
    let mut present: Vec<String> = Vec::new();
    for l in score
        .parts
        .iter()
        .flat_map(|p| p.measures.iter())
        .flat_map(|m| m.items.iter())
        .filter_map(|i| match i {
            Item::Note(n) => Some(n),
            _ => None,
        })
        .flat_map(|n| n.lyrics.iter())
    {
        if !present.contains(&l.verse) {
            present.push(l.verse.clone());
        }
    }
    if !present.iter().any(|v| v.trim() == name) {
        return Err(Fail::new(
            "verse",
            if present.is_empty() {
                "the score has no lyrics".to_owned()
            } else {
                format!(
                    "there is no verse {verse}; verses present: {}",
                    present.join(", ")
                )
            },
        ));
    }
    for n in score
        .parts
        .iter_mut()
        .flat_map(|p| p.measures.iter_mut())
        .flat_map(|m| m.items.iter_mut())
        .filter_map(|i| match i {
            Item::Note(n) => Some(n),
            _ => None,
        })
    {
        n.lyrics.retain(|l| l.verse.trim() == name);
        for l in &mut n.lyrics {
            l.verse = "1".into();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn syl(text: &str, syllabic: Syllabic) -> Token {
        Token::Syllable {
            text: text.into(),
            syllabic,
        }
    }

    #[test]
    fn text_splits_into_syllables_and_holds() {
        assert_eq!(
            tokens("Hap-py  birth-day to you"),
            vec![
                syl("Hap", Syllabic::Begin),
                syl("py", Syllabic::End),
                syl("birth", Syllabic::Begin),
                syl("day", Syllabic::End),
                syl("to", Syllabic::Single),
                syl("you", Syllabic::Single),
            ]
        );
        assert_eq!(
            tokens("Hal-le-lu-jah_ _ A-_-men"),
            vec![
                syl("Hal", Syllabic::Begin),
                syl("le", Syllabic::Middle),
                syl("lu", Syllabic::Middle),
                syl("jah", Syllabic::End),
                Token::Hold,
                Token::Hold,
                syl("A", Syllabic::Begin),
                Token::Hold,
                syl("men", Syllabic::End),
            ]
        );
        assert_eq!(tokens("  "), vec![]);
    }
}
