//! Phonemes placed on a sung line's notes, frame by frame, the way OpenUtau's
//! DiffSinger phonemizers place them:
//! - each syllable's vowel starts on its note's onset (in a consonant–glide–vowel
//!   syllable the glide starts there instead, and the vowel follows it);
//! - consonants before the vowel are taken from the end of the previous note
//!   (or rest), at most half of it;
//! - trailing consonants close the note (the last note of a melisma);
//! - a melisma (an extend line, or notes without a syllable after a sung note)
//!   holds the vowel across its notes;
//! - rests are silence (`SP`), with a breath (`AP`) before a phrase when the
//!   rest leaves room for one.
//!
//! Hyphenated syllables (`begin`/`middle`/`end`) are put back into words before
//! they are pronounced, and the word's phonemes are shared out among its
//! syllables: one vowel each, a single consonant between two vowels starts the
//! next syllable, of two or more the first closes the previous one. A word with
//! more vowels than notes sings the extra vowels on its last note; one with
//! fewer holds its last vowel over the extra notes. A line without any lyric
//! sings every note on "a" (`aa`).
//!
//! Time is in frames of the DiffSinger rate ([`FRAME_RATE`], 44.1 kHz / 512):
//! a note starts on the frame nearest its onset. When the first syllable's
//! consonants need time before the score's start, the whole render starts
//! that many frames early ([`Alignment::offset_frames`]); every frame number
//! here counts from the render's start.

use coda_music::{SungLine, Syllabic};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::g2p::{Pronunciation, Source};
use crate::phones::PhoneClass;

/// Sample rate DiffSinger voicebanks run at.
pub const SAMPLE_RATE: u32 = 44_100;
/// Samples per frame (DiffSinger's hop).
pub const HOP: u32 = 512;
/// Frames per second: 44100 / 512 ≈ 86.13.
pub const FRAME_RATE: f64 = SAMPLE_RATE as f64 / HOP as f64;
/// The most frames one render may have (about 30 minutes).
pub const MAX_FRAMES: u64 = 155_000;

/// One phoneme in time.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlignedPhoneme {
    /// The symbol (`SP` silence, `AP` breath).
    pub phone: String,
    /// Its class.
    pub class: PhoneClass,
    /// First frame.
    pub start: u32,
    /// One past the last frame.
    pub end: u32,
    /// Start in seconds from the render's start.
    pub start_s: f64,
    /// End in seconds.
    pub end_s: f64,
    /// The note (index into [`Alignment::notes`]) the phoneme belongs to: its syllable's first note, or the rest it fills.
    pub note_index: usize,
    /// The word (index into [`Alignment::words`]), none for `SP` and `AP`.
    pub word_index: Option<usize>,
    /// Whether it starts exactly on its note's onset (the vowel, or the glide before it).
    pub on_note: bool,
}

/// One note or rest in frames.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlignedNote {
    /// First frame.
    pub start: u32,
    /// One past the last frame.
    pub end: u32,
    /// MIDI key, none for a rest.
    pub midi: Option<i32>,
    /// Velocity 1..=127.
    pub velocity: u8,
    /// Index of the first phoneme sung on it (for a melisma note, the held vowel).
    pub first_phoneme: usize,
    /// Whether it continues the previous note's syllable (melisma).
    pub slur: bool,
    /// Index of the measure the note starts in.
    pub measure: usize,
}

/// One word and where it sits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlignedWord {
    /// The word as written (syllables joined).
    pub text: String,
    /// Index of its first phoneme.
    pub first_phoneme: usize,
    /// How many phonemes it has.
    pub phoneme_count: usize,
    /// Index of its first note.
    pub first_note: usize,
    /// How many notes it spans.
    pub note_count: usize,
    /// How it was pronounced.
    pub source: Source,
}

/// Phonemes on notes, in frames, for one line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct Alignment {
    /// Frames per second.
    pub frame_rate: f64,
    /// Frames of lead-in before the score's time 0 (room for the first consonants).
    pub offset_frames: u32,
    /// Every frame of the render, in order, without gaps.
    pub phonemes: Vec<AlignedPhoneme>,
    /// The line's notes and rests.
    pub notes: Vec<AlignedNote>,
    /// The words.
    pub words: Vec<AlignedWord>,
    /// Length of the render in frames.
    pub frames: u32,
    /// Words made by the fallback rules, and other approximations.
    pub warnings: Vec<String>,
}

impl Alignment {
    /// Seconds of the render.
    pub fn seconds(&self) -> f64 {
        f64::from(self.frames) / self.frame_rate
    }

    /// Runs of consecutive notes between rests: (first note, one past the last).
    pub fn phrases(&self) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        let mut start: Option<usize> = None;
        for (i, n) in self.notes.iter().enumerate() {
            match (n.midi.is_some(), start) {
                (true, None) => start = Some(i),
                (false, Some(s)) => {
                    out.push((s, i));
                    start = None;
                }
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push((s, self.notes.len()));
        }
        out
    }
}

/// Why a line cannot be aligned.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AlignError {
    /// The render would be too long.
    #[error("the line is {frames} frames long; at most {MAX_FRAMES} can be sung at once")]
    TooLong {
        /// Frames needed.
        frames: u64,
    },
    /// A pronunciation holds a symbol without a known class.
    #[error("the phoneme {0:?} has no class (not a vowel or consonant this voice knows)")]
    UnknownPhoneme(String),
}

/// Consonant lengths by class, in frames (at 86 frames per second), before any squeezing.
pub fn consonant_frames(class: PhoneClass) -> u32 {
    match class {
        PhoneClass::Stop => 6,      // ~70 ms: closure and burst
        PhoneClass::Affricate => 9, // ~105 ms
        PhoneClass::Fricative => 8, // ~95 ms
        PhoneClass::Aspirate => 5,  // ~60 ms
        PhoneClass::Nasal => 6,     // ~70 ms
        PhoneClass::Liquid => 5,    // ~60 ms
        PhoneClass::Glide => 5,     // ~60 ms
        PhoneClass::Vowel | PhoneClass::Silence | PhoneClass::Breath => 0,
    }
}

/// A breath before a phrase, in frames (~230 ms), when the rest holds it and at least as much silence.
const BREATH_FRAMES: u32 = 20;

/// A phoneme with its class.
type Phone = (String, PhoneClass);

/// A syllable: its text, its notes (first, then melisma notes).
struct Syllable {
    notes: Vec<usize>,
}

struct Word {
    text: String,
    syllables: Vec<Syllable>,
    default: bool,
}

/// The phonemes of one syllable: onset consonants, nuclei (vowels and what lies between them on one note), coda.
#[derive(Default)]
struct Split {
    onset: Vec<(String, PhoneClass)>,
    nucleus: Vec<(String, PhoneClass)>,
    coda: Vec<(String, PhoneClass)>,
}

fn frame_of(seconds: f64) -> u64 {
    (seconds * FRAME_RATE).round().max(0.0) as u64
}

/// Groups the line's notes into words and syllables.
fn words_of(line: &SungLine) -> Vec<Word> {
    let has_lyrics = line.notes.iter().any(|n| n.lyric.is_some());
    let mut words: Vec<Word> = Vec::new();
    let mut open = false; // a hyphenated word waits for its next syllable
    let mut can_hold = false; // the previous note was sung (a melisma may follow)
    for (i, n) in line.notes.iter().enumerate() {
        if n.is_rest() {
            open = false;
            can_hold = false;
            continue;
        }
        match &n.lyric {
            Some(l) if !l.text.trim().is_empty() || !has_lyrics => {
                let continues = matches!(l.syllabic, Syllabic::Middle | Syllabic::End) && open;
                let text = l.text.replace(['‿', '_'], " ");
                if continues {
                    if let Some(w) = words.last_mut() {
                        w.text.push_str(&text);
                        w.syllables.push(Syllable { notes: vec![i] });
                    }
                } else {
                    words.push(Word {
                        text,
                        syllables: vec![Syllable { notes: vec![i] }],
                        default: false,
                    });
                }
                open = matches!(l.syllabic, Syllabic::Begin | Syllabic::Middle);
                can_hold = true;
            }
            _ if has_lyrics && can_hold => {
                if let Some(s) = words.last_mut().and_then(|w| w.syllables.last_mut()) {
                    s.notes.push(i);
                }
            }
            _ => {
                words.push(Word {
                    text: "a".into(),
                    syllables: vec![Syllable { notes: vec![i] }],
                    default: true,
                });
                open = false;
                can_hold = true;
            }
        }
    }
    words
}

/// Shares a word's phonemes among its `count` syllables.
fn split_word(phones: &[(String, PhoneClass)], count: usize) -> Vec<Split> {
    let count = count.max(1);
    let vowels: Vec<usize> = phones
        .iter()
        .enumerate()
        .filter(|(_, p)| p.1 == PhoneClass::Vowel)
        .map(|(i, _)| i)
        .collect();
    let mut out: Vec<Split> = (0..count).map(|_| Split::default()).collect();
    if vowels.is_empty() {
        // No vowel ("hmm"): the whole word is the first syllable's nucleus.
        out[0].nucleus = phones.to_vec();
        return out;
    }
    // Which vowels each syllable gets: one each, the extra ones on the last.
    let used = count.min(vowels.len());
    let first_vowel_of = |s: usize| vowels[s];
    let mut ranges: Vec<(usize, usize)> = Vec::with_capacity(used); // nucleus [start, end] phone indexes
    for s in 0..used {
        let start = first_vowel_of(s);
        let end = if s + 1 == used {
            *vowels.last().unwrap_or(&start)
        } else {
            start
        };
        ranges.push((start, end));
    }
    // Consonants between nuclei: one starts the next syllable; of more, the first closes this one.
    let mut bounds: Vec<usize> = Vec::with_capacity(used); // where each syllable's onset starts
    bounds.push(0);
    for s in 1..used {
        let gap_start = ranges[s - 1].1 + 1;
        let gap_end = ranges[s].0; // exclusive
        let between = gap_end.saturating_sub(gap_start);
        let to_coda = usize::from(between >= 2);
        bounds.push(gap_start + to_coda);
    }
    for s in 0..used {
        let (ns, ne) = ranges[s];
        let onset_start = bounds[s];
        let coda_end = if s + 1 == used {
            phones.len()
        } else {
            bounds[s + 1]
        };
        out[s].onset = phones[onset_start..ns].to_vec();
        out[s].nucleus = phones[ns..=ne].to_vec();
        out[s].coda = phones[ne + 1..coda_end].to_vec();
    }
    // Syllables beyond the vowels hold the last vowel: move the coda to the last syllable.
    if used < count {
        let coda = std::mem::take(&mut out[used - 1].coda);
        let held = out[used - 1]
            .nucleus
            .iter()
            .rev()
            .find(|p| p.1 == PhoneClass::Vowel)
            .cloned();
        for s in out.iter_mut().take(count).skip(used) {
            if let Some(v) = &held {
                s.nucleus = vec![v.clone()];
            }
        }
        out[count - 1].coda = coda;
    }
    out
}

/// Squeezes consonant lengths to fit `budget` frames, keeping each at least one frame.
fn fit(classes: &[PhoneClass], budget: u32) -> Vec<u32> {
    let want: Vec<u32> = classes
        .iter()
        .map(|&c| consonant_frames(c).max(1))
        .collect();
    let total: u32 = want.iter().sum();
    if total <= budget || classes.is_empty() {
        return want;
    }
    let n = classes.len() as u32;
    if budget <= n {
        return vec![1; classes.len()];
    }
    // Scale down, then give the rounding remainder back from the first.
    let mut out: Vec<u32> = want
        .iter()
        .map(|&w| ((u64::from(w) * u64::from(budget)) / u64::from(total)).max(1) as u32)
        .collect();
    let mut sum: u32 = out.iter().sum();
    let mut i = 0;
    while sum > budget {
        let k = i % out.len();
        if out[k] > 1 {
            out[k] -= 1;
            sum -= 1;
        }
        i += 1;
    }
    out
}

/// A phoneme before it is written out.
struct Segment {
    phone: String,
    class: PhoneClass,
    start: u64,
    end: u64,
    note: usize,
    word: Option<usize>,
    on_note: bool,
}

/// Places the phonemes of `line` on its notes; `pronounce` gives each word's phonemes
/// and `classify` each phoneme's class (the voicebank's, or [`crate::phones::class_of`]).
pub fn align(
    line: &SungLine,
    mut pronounce: impl FnMut(&str) -> Pronunciation,
    classify: impl Fn(&str) -> Option<PhoneClass>,
) -> Result<Alignment, AlignError> {
    let end_frames = frame_of(line.seconds).max(line.notes.last().map_or(0, |n| frame_of(n.end_s)));
    if end_frames > MAX_FRAMES {
        return Err(AlignError::TooLong { frames: end_frames });
    }
    let words = words_of(line);
    let mut warnings: Vec<String> = Vec::new();

    // Pronounce every word and share its phonemes among its syllables.
    let mut splits: Vec<Vec<Split>> = Vec::with_capacity(words.len());
    let mut sources: Vec<Source> = Vec::with_capacity(words.len());
    for w in &words {
        let p = if w.default {
            Pronunciation {
                phonemes: vec!["aa".into()],
                source: Source::Default,
            }
        } else {
            pronounce(w.text.trim())
        };
        if p.source == Source::LetterToSound {
            warnings.push(format!(
                "'{}' is not in the dictionary; letter-to-sound rules used ({})",
                w.text.trim(),
                p.phonemes.join(" ")
            ));
        }
        let mut phones = Vec::with_capacity(p.phonemes.len());
        for ph in p.phonemes {
            let class = classify(&ph).ok_or_else(|| AlignError::UnknownPhoneme(ph.clone()))?;
            phones.push((ph, class));
        }
        if phones.is_empty() {
            phones.push(("aa".into(), PhoneClass::Vowel));
        }
        splits.push(split_word(&phones, w.syllables.len()));
        sources.push(p.source);
    }

    // Which syllable starts on each note, and which notes continue one.
    let n_notes = line.notes.len();
    let mut starts: Vec<Option<(usize, usize)>> = vec![None; n_notes];
    let mut slur = vec![false; n_notes];
    let mut last_of: Vec<Vec<usize>> = Vec::with_capacity(words.len());
    for (wi, w) in words.iter().enumerate() {
        let mut lasts = Vec::with_capacity(w.syllables.len());
        for (si, s) in w.syllables.iter().enumerate() {
            starts[s.notes[0]] = Some((wi, si));
            for &n in &s.notes[1..] {
                slur[n] = true;
            }
            lasts.push(s.notes.last().copied().unwrap_or(s.notes[0]));
        }
        last_of.push(lasts);
    }
    let onset_of = |wi: usize, si: usize| -> (Vec<Phone>, Option<Phone>) {
        let mut pre = splits[wi][si].onset.clone();
        let glide = if pre.last().is_some_and(|c| c.1 == PhoneClass::Glide) {
            pre.pop()
        } else {
            None
        };
        (pre, glide)
    };

    // Frames: notes are contiguous; the lead-in makes room for the first consonants.
    let lead_in: u64 = starts
        .iter()
        .enumerate()
        .find_map(|(i, s)| s.map(|ws| (i, ws)))
        .map(|(i, (wi, si))| {
            let need: u64 = onset_of(wi, si)
                .0
                .iter()
                .map(|c| u64::from(consonant_frames(c.1)))
                .sum();
            need.saturating_sub(frame_of(line.notes[i].start_s))
        })
        .unwrap_or(0);
    let mut bounds: Vec<(u64, u64)> = Vec::with_capacity(n_notes);
    for (i, n) in line.notes.iter().enumerate() {
        let start = if i == 0 {
            frame_of(n.start_s) + lead_in
        } else {
            bounds[i - 1].1
        };
        let end = (frame_of(n.end_s) + lead_in).max(start + 1);
        bounds.push((start, end));
    }
    let total = bounds.last().map_or(0, |b| b.1).max(end_frames + lead_in);

    // Codas first (at most a third of the syllable's last note), then onsets (at most half of
    // the previous note after its coda, or the whole rest or lead-in before it).
    let mut coda_len: Vec<Vec<u32>> = vec![Vec::new(); n_notes];
    for (wi, w) in words.iter().enumerate() {
        for si in 0..w.syllables.len() {
            let last = last_of[wi][si];
            let (s, e) = bounds[last];
            let classes: Vec<PhoneClass> = splits[wi][si].coda.iter().map(|c| c.1).collect();
            let mut lens = fit(&classes, ((e - s) / 3) as u32);
            if lens.iter().sum::<u32>() as u64 >= e - s {
                lens.clear();
            }
            coda_len[last] = lens;
        }
    }
    let mut onset_len: Vec<Vec<u32>> = vec![Vec::new(); n_notes];
    for i in 0..n_notes {
        let Some((wi, si)) = starts[i] else { continue };
        let (pre, _) = onset_of(wi, si);
        let classes: Vec<PhoneClass> = pre.iter().map(|c| c.1).collect();
        let (room_soft, room_hard) = if i == 0 {
            (bounds[0].0, bounds[0].0)
        } else {
            let (ps, pe) = bounds[i - 1];
            let len = pe - ps;
            let coda: u64 = coda_len[i - 1].iter().map(|&f| u64::from(f)).sum();
            if line.notes[i - 1].is_rest() {
                (len, len)
            } else {
                ((len / 2).saturating_sub(coda), len.saturating_sub(coda + 1))
            }
        };
        let n = classes.len() as u64;
        onset_len[i] = if room_soft >= n {
            fit(&classes, room_soft as u32)
        } else if room_hard >= n {
            vec![1; classes.len()]
        } else {
            if n > 0 {
                warnings.push(format!(
                    "no room before note {i} for the consonants of '{}': they are left out",
                    words[wi].text.trim()
                ));
            }
            vec![0; classes.len()]
        };
    }
    let steal = |i: usize| -> u64 {
        onset_len
            .get(i)
            .map_or(0, |l| l.iter().map(|&f| u64::from(f)).sum())
    };

    // Segments, note by note.
    let mut segs: Vec<Segment> = Vec::new();
    let mut first_phoneme = vec![0usize; n_notes];
    if bounds.first().is_some_and(|b| b.0 > steal(0)) {
        segs.push(Segment {
            phone: "SP".into(),
            class: PhoneClass::Silence,
            start: 0,
            end: bounds[0].0 - steal(0),
            note: 0,
            word: None,
            on_note: false,
        });
    }
    for i in 0..n_notes {
        let (ns, ne) = bounds[i];
        let own_end = ne.saturating_sub(steal(i + 1)).max(ns);
        if line.notes[i].is_rest() {
            first_phoneme[i] = segs.len();
            let from = ns;
            if i + 1 < n_notes && own_end >= from + u64::from(2 * BREATH_FRAMES) {
                let b = own_end - u64::from(BREATH_FRAMES);
                segs.push(seg("SP", PhoneClass::Silence, from, b, i, None, false));
                segs.push(seg("AP", PhoneClass::Breath, b, own_end, i, None, false));
            } else if own_end > from {
                segs.push(seg(
                    "SP",
                    PhoneClass::Silence,
                    from,
                    own_end,
                    i,
                    None,
                    false,
                ));
            }
            continue;
        }
        let Some((wi, si)) = starts[i] else {
            // A melisma note: the held vowel (already written) runs through it.
            first_phoneme[i] = segs.len().saturating_sub(1);
            continue;
        };
        let (pre, glide) = onset_of(wi, si);
        // Onset consonants end on the note's start.
        let mut t = ns - steal(i).min(ns);
        for (c, &len) in pre.iter().zip(onset_len[i].iter()) {
            if len > 0 {
                segs.push(seg(&c.0, c.1, t, t + u64::from(len), i, Some(wi), false));
                t += u64::from(len);
            }
        }
        first_phoneme[i] = segs.len();
        let last = last_of[wi][si];
        let syll_end = bounds[last].1.saturating_sub(steal(last + 1)).max(ns + 1);
        let coda_total: u64 = coda_len[last].iter().map(|&f| u64::from(f)).sum();
        let nucleus_end = syll_end.saturating_sub(coda_total).max(ns + 1);
        let mut t = ns;
        let mut on_note = true;
        if let Some(g) = glide {
            let len = u64::from(consonant_frames(PhoneClass::Glide)).min((nucleus_end - ns) / 3);
            if len > 0 {
                segs.push(seg(&g.0, g.1, t, t + len, i, Some(wi), true));
                t += len;
                on_note = false;
            }
        }
        // The nucleus: extra vowels (and what lies between them) share 40 % at the end.
        let nucleus = &splits[wi][si].nucleus;
        let span = nucleus_end.saturating_sub(t);
        let extra = nucleus.len().saturating_sub(1) as u64;
        let share = (span * 2 / 5).checked_div(extra).unwrap_or(0);
        let mut lens: Vec<u64> = nucleus.iter().skip(1).map(|_| share).collect();
        if share == 0 {
            lens.iter_mut().for_each(|l| *l = 0);
        }
        let first_end = nucleus_end - lens.iter().sum::<u64>();
        if let Some(v) = nucleus.first() {
            segs.push(seg(
                &v.0,
                v.1,
                t,
                first_end.max(t + 1),
                i,
                Some(wi),
                on_note,
            ));
            t = first_end.max(t + 1);
        }
        for (p, len) in nucleus.iter().skip(1).zip(lens) {
            if len > 0 {
                segs.push(seg(&p.0, p.1, t, t + len, i, Some(wi), false));
                t += len;
            }
        }
        let mut t = t.max(nucleus_end);
        for (c, &len) in splits[wi][si].coda.iter().zip(coda_len[last].iter()) {
            segs.push(seg(&c.0, c.1, t, t + u64::from(len), last, Some(wi), false));
            t += u64::from(len);
        }
        let _ = own_end;
    }
    if let Some(last) = segs.last() {
        if last.end < total {
            let at = last.end;
            segs.push(seg(
                "SP",
                PhoneClass::Silence,
                at,
                total,
                n_notes.saturating_sub(1),
                None,
                false,
            ));
        }
    } else if total > 0 {
        segs.push(seg("SP", PhoneClass::Silence, 0, total, 0, None, false));
    }

    // Contiguous by construction; make it so regardless (gaps extend the previous phoneme).
    let mut phonemes: Vec<AlignedPhoneme> = Vec::with_capacity(segs.len());
    let mut remap = vec![0usize; segs.len() + 1];
    for (k, s) in segs.into_iter().enumerate() {
        let start = phonemes
            .last()
            .map_or(0, |p: &AlignedPhoneme| u64::from(p.end));
        if let Some(prev) = phonemes.last_mut() {
            if s.start > start {
                prev.end = s.start as u32;
                prev.end_s = s.start as f64 / FRAME_RATE;
            }
        }
        let start = phonemes
            .last()
            .map_or(s.start.min(start), |p| u64::from(p.end));
        remap[k] = phonemes.len();
        if s.end <= start {
            continue;
        }
        phonemes.push(AlignedPhoneme {
            phone: s.phone,
            class: s.class,
            start: start as u32,
            end: s.end as u32,
            start_s: start as f64 / FRAME_RATE,
            end_s: s.end as f64 / FRAME_RATE,
            note_index: s.note,
            word_index: s.word,
            on_note: s.on_note,
        });
    }
    let frames = phonemes.last().map_or(0, |p| p.end);
    let notes_out: Vec<AlignedNote> = (0..n_notes)
        .map(|i| AlignedNote {
            start: bounds[i].0 as u32,
            end: bounds[i].1 as u32,
            midi: line.notes[i].midi,
            velocity: line.notes[i].velocity,
            first_phoneme: remap[first_phoneme[i].min(remap.len() - 1)]
                .min(phonemes.len().saturating_sub(1)),
            slur: slur[i],
            measure: line.notes[i].measure,
        })
        .collect();
    let words_out = words
        .iter()
        .enumerate()
        .map(|(wi, w)| {
            let of_word: Vec<usize> = phonemes
                .iter()
                .enumerate()
                .filter(|(_, p)| p.word_index == Some(wi))
                .map(|(k, _)| k)
                .collect();
            let first_note = w.syllables[0].notes[0];
            let last_note = w
                .syllables
                .last()
                .and_then(|s| s.notes.last())
                .copied()
                .unwrap_or(first_note);
            AlignedWord {
                text: w.text.trim().to_string(),
                first_phoneme: of_word.first().copied().unwrap_or(0),
                phoneme_count: of_word.len(),
                first_note,
                note_count: last_note + 1 - first_note,
                source: sources[wi],
            }
        })
        .collect();
    Ok(Alignment {
        frame_rate: FRAME_RATE,
        offset_frames: lead_in as u32,
        phonemes,
        notes: notes_out,
        words: words_out,
        frames,
        warnings,
    })
}

fn seg(
    phone: &str,
    class: PhoneClass,
    start: u64,
    end: u64,
    note: usize,
    word: Option<usize>,
    on_note: bool,
) -> Segment {
    Segment {
        phone: phone.to_string(),
        class,
        start,
        end,
        note,
        word,
        on_note,
    }
}
