//! The singing chain: a score's line → phonemes on
//! notes → f0, energy and breathiness → samples. Each step is public so the
//! tools can run it alone; [`plan`] and [`crate::formant::BuiltinVoice::render`] are the chain,
//! and [`plan_for_voicebank`] and [`render_with_voicebank`] the chain for a DiffSinger voicebank.

use coda_music::{sung_line, MelodyError, Score, SungLine};
use coda_vocal::align::{AlignError, Alignment};
use coda_vocal::curves::{dynamics_curves, f0_curve, Dynamics, Expression, PitchStyle};
use coda_vocal::g2p::Dictionary;
use coda_vocal::phonemize::Lexicon;
use coda_vocal::tools::align_line;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::formant::RANGE;

/// What to sing and how.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(default, deny_unknown_fields)]
pub struct SingOptions {
    /// The part, counted from 0.
    pub part_index: usize,
    /// The verse (MusicXML lyric number); default 1, else the first the part has.
    pub verse: Option<String>,
    /// Expression values.
    pub expression: Expression,
    /// Pitch movement: vibrato, portamento, overshoot, preparation.
    pub pitch: PitchStyle,
}

/// Everything the voice needs, made from the score.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Plan {
    /// The part's line.
    pub line: SungLine,
    /// Phonemes on notes.
    pub alignment: Alignment,
    /// f0 in Hz per frame.
    pub f0: Vec<f32>,
    /// Energy and breathiness per frame.
    pub dynamics: Dynamics,
    /// What the user should know: fallback words, notes out of range, silence.
    pub warnings: Vec<String>,
}

/// Why a score cannot be sung.
#[derive(Debug, thiserror::Error)]
pub enum SingError {
    /// The part or verse does not exist, or the score cannot be timed.
    #[error(transparent)]
    Melody(#[from] MelodyError),
    /// The phonemes cannot be placed.
    #[error(transparent)]
    Align(#[from] AlignError),
    /// An expression or pitch value is out of range.
    #[error("{field} must be {range}")]
    OutOfRange {
        /// The parameter.
        field: &'static str,
        /// Its range.
        range: &'static str,
    },
}

impl SingError {
    /// The parameter at fault, for `details.field`.
    pub fn field(&self) -> Option<&'static str> {
        match self {
            SingError::Melody(MelodyError::NoSuchPart { .. }) => Some("part"),
            SingError::Melody(MelodyError::NoSuchVerse { .. }) => Some("verse"),
            SingError::OutOfRange { field, .. } => Some(field),
            _ => None,
        }
    }
}

/// The note name of a MIDI key ("C4" = 60).
pub fn note_name(midi: i32) -> String {
    const NAMES: [&str; 12] = [
        "C", "C#", "D", "D#", "E", "F", "F#", "G", "G#", "A", "A#", "B",
    ];
    format!(
        "{}{}",
        NAMES[midi.rem_euclid(12) as usize],
        midi.div_euclid(12) - 1
    )
}

/// Checks the options' ranges.
pub fn check_options(options: &SingOptions) -> Result<(), SingError> {
    options
        .expression
        .check()
        .and_then(|()| options.pitch.check())
        .map_err(|(field, range)| SingError::OutOfRange { field, range })
}

/// Warnings for notes outside `range` (MIDI keys, inclusive).
pub fn range_warnings(line: &SungLine, range: (i32, i32), voice: &str) -> Vec<String> {
    let outside: Vec<i32> = line
        .notes
        .iter()
        .filter_map(|n| n.midi)
        .filter(|&k| k < range.0 || k > range.1)
        .collect();
    if outside.is_empty() {
        return Vec::new();
    }
    let lo = outside.iter().min().copied().unwrap_or(range.0);
    let hi = outside.iter().max().copied().unwrap_or(range.1);
    vec![format!(
        "{} note(s) are outside {voice}'s range ({}–{}), from {} to {}: they are sung anyway",
        outside.len(),
        note_name(range.0),
        note_name(range.1),
        note_name(lo),
        note_name(hi)
    )]
}

/// Part `options.part_index` of `score`, planned for the built-in voice with the CMU dictionary.
pub fn plan(
    score: &Score,
    dictionary: &Dictionary,
    options: &SingOptions,
) -> Result<Plan, SingError> {
    check_options(options)?;
    let line = sung_line(score, options.part_index, options.verse.as_deref())?;
    let lexicon = Lexicon {
        dictionary,
        voicebank: None,
        phoneme_ids: None,
        language: None,
    };
    let alignment = align_line(&line, &lexicon)?;
    Ok(finish(
        line,
        alignment,
        options,
        RANGE,
        "the built-in voice",
    ))
}

/// The curves and warnings of a plan whose alignment is made.
pub fn finish(
    line: SungLine,
    alignment: Alignment,
    options: &SingOptions,
    range: (i32, i32),
    voice: &str,
) -> Plan {
    let mut warnings = line.warnings.clone();
    if line.is_silent() {
        warnings.push(format!(
            "part {} ({}) has no notes to sing: the render is silence",
            options.part_index,
            line.part_name.as_deref().unwrap_or(&line.part_id)
        ));
    } else if !line.notes.iter().any(|n| n.lyric.is_some()) {
        warnings.push("the part has no lyrics: every note is sung on \"a\"".into());
    }
    warnings.extend(range_warnings(&line, range, voice));
    warnings.extend(alignment.warnings.iter().cloned());
    let f0 = f0_curve(&alignment, &options.pitch);
    let dynamics = dynamics_curves(&alignment, &options.expression);
    Plan {
        line,
        alignment,
        f0,
        dynamics,
        warnings,
    }
}

/// Why a voicebank cannot sing a plan.
#[derive(Debug, thiserror::Error)]
pub enum VoiceError {
    /// The voicebank failed.
    #[error(transparent)]
    Voicebank(#[from] crate::diffsinger::VoicebankError),
    /// Its frames are not the alignment's.
    #[error("voicebank {name} runs at {rate} Hz with a hop of {hop}; Coda aligns at 44100 Hz with a hop of 512")]
    FrameRate {
        /// The voicebank.
        name: String,
        /// Its sample rate.
        rate: u32,
        /// Its hop.
        hop: u32,
    },
    /// A phoneme of the alignment is not in the voicebank's list.
    #[error("voicebank {name} has no phoneme {phoneme:?} (from the word {word:?}); give it a dsdict.yaml entry or replacement")]
    UnknownPhoneme {
        /// The voicebank.
        name: String,
        /// The phoneme.
        phoneme: String,
        /// The word it came from.
        word: String,
    },
    /// The cancel flag was raised between phrases.
    #[error("canceled")]
    Canceled,
}

/// Part `options.part_index` of `score`, planned for a DiffSinger voicebank: its dictionary
/// first, then the CMU dictionary; its symbol types classify the phonemes.
pub fn plan_for_voicebank(
    score: &Score,
    dictionary: &Dictionary,
    voicebank_dict: Option<&coda_vocal::dsdict::DsDict>,
    options: &SingOptions,
) -> Result<Plan, SingError> {
    check_options(options)?;
    let line = sung_line(score, options.part_index, options.verse.as_deref())?;
    let lexicon = Lexicon {
        dictionary,
        voicebank: voicebank_dict,
        phoneme_ids: None,
        language: None,
    };
    let alignment = align_line(&line, &lexicon)?;
    // A voicebank declares no range: MIDI's is the only one.
    Ok(finish(line, alignment, options, (0, 127), "the voicebank"))
}

/// The curves a voice sings from: f0 and the dynamics, per frame of the alignment.
#[derive(Clone, Copy, Debug)]
pub struct Curves<'a> {
    /// f0 in Hz.
    pub f0: &'a [f32],
    /// Energy and breathiness.
    pub dynamics: &'a Dynamics,
}

/// One phrase of an alignment as a voicebank sings it: the region's phonemes, notes and curves.
pub fn phrase_of(
    a: &Alignment,
    curves: Curves,
    region: crate::formant::Region,
    voicebank: &crate::diffsinger::Voicebank,
    expression: crate::diffsinger::DsExpression,
) -> Result<crate::diffsinger::DsPhrase, VoiceError> {
    use crate::diffsinger::{DsNote, DsPhrase, DsVariance};
    let hop = coda_vocal::align::HOP as usize;
    let (rs, re) = ((region.start / hop) as u32, (region.end / hop) as u32);
    let name = voicebank.info().name.clone();
    let mut phonemes = Vec::new();
    let mut ph_dur = Vec::new();
    let mut starts = Vec::new();
    let mut onsets = Vec::new();
    for p in a.phonemes.iter().filter(|p| p.end > rs && p.start < re) {
        let (s, e) = (p.start.max(rs), p.end.min(re));
        let symbol = voicebank.resolve_phoneme(&p.phone, None).ok_or_else(|| {
            VoiceError::UnknownPhoneme {
                name: name.clone(),
                phoneme: p.phone.clone(),
                word: p
                    .word_index
                    .and_then(|w| a.words.get(w))
                    .map_or_else(String::new, |w| w.text.clone()),
            }
        })?;
        phonemes.push(symbol.to_string());
        ph_dur.push(e - s);
        starts.push(s);
        onsets.push(p.on_note && p.start >= rs);
    }
    // Notes tile the region; a rest takes the pitch of the nearest sung note.
    let sung: Vec<(u32, f32)> = a
        .notes
        .iter()
        .filter_map(|n| n.midi.map(|m| (n.start, m as f32)))
        .collect();
    let nearest = |at: u32| {
        sung.iter()
            .min_by_key(|(s, _)| s.abs_diff(at))
            .map_or(60.0, |(_, m)| *m)
    };
    let mut notes = Vec::new();
    let mut note_starts = Vec::new();
    for n in a.notes.iter().filter(|n| n.end > rs && n.start < re) {
        let (s, e) = (n.start.max(rs), n.end.min(re));
        notes.push(DsNote {
            midi: n.midi.map_or_else(|| nearest(s), |m| m as f32),
            frames: e - s,
            rest: n.midi.is_none(),
        });
        note_starts.push(s);
    }
    // Notes may start after the region does (the lead-in); the first then covers it.
    if let (Some(first), Some(s)) = (notes.first_mut(), note_starts.first_mut()) {
        first.frames += *s - rs;
        *s = rs;
    }
    if let Some(last) = notes.last_mut() {
        let end = note_starts.last().copied().unwrap_or(rs) + last.frames;
        last.frames += re.saturating_sub(end);
    }
    let ph_note: Vec<usize> = starts
        .iter()
        .map(|&s| note_starts.partition_point(|&n| n <= s).saturating_sub(1))
        .collect();
    // DiffSinger's words: the lead-in, then one per note onset.
    let mut word_div = vec![0u32];
    let mut word_dur = vec![0u32];
    for (i, &d) in ph_dur.iter().enumerate() {
        if onsets[i] {
            word_div.push(0);
            word_dur.push(0);
        }
        if let (Some(n), Some(f)) = (word_div.last_mut(), word_dur.last_mut()) {
            *n += 1;
            *f += d;
        }
    }
    let f0 =
        curves.f0[(rs as usize).min(curves.f0.len())..(re as usize).min(curves.f0.len())].to_vec();
    let info = voicebank.info();
    // Without a variance predictor the acoustic model takes the rule-based curves, in dB.
    let mut variance = DsVariance::default();
    if info.predictors.variance.is_none() {
        let db = |c: &[f32], floor: f32| -> Vec<f32> {
            c[rs as usize..(re as usize).min(c.len())]
                .iter()
                .map(|&v| (20.0 * v.max(1e-4).log10()).max(floor))
                .collect()
        };
        if info.inputs.energy {
            variance.energy = Some(
                db(&curves.dynamics.energy, -96.0)
                    .iter()
                    .map(|v| v - 12.0)
                    .collect(),
            );
        }
        if info.inputs.breathiness {
            variance.breathiness = Some(
                db(&curves.dynamics.breathiness, -96.0)
                    .iter()
                    .map(|v| v - 30.0)
                    .collect(),
            );
        }
        if info.inputs.voicing {
            variance.voicing = Some(vec![-20.0; f0.len()]);
        }
        if info.inputs.tension {
            variance.tension = Some(vec![0.0; f0.len()]);
        }
    }
    Ok(DsPhrase {
        phonemes,
        ph_dur,
        ph_note,
        word_div,
        word_dur,
        notes,
        f0,
        variance,
        expression,
    })
}

/// What a voicebank's predictors may change, phrase by phrase.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Predict {
    /// Retime the phonemes with the duration model (when the voicebank has one).
    pub durations: bool,
    /// Replace f0 with the pitch model's (when it has one).
    pub pitch: bool,
    /// Render the audio (else only the predictions are made).
    pub audio: bool,
}

/// A voicebank, the expression it sings with, and what it may predict.
pub struct VoicebankRun<'a> {
    /// The voicebank.
    pub voicebank: &'a crate::diffsinger::Voicebank,
    /// Phrase-wide expression.
    pub expression: crate::diffsinger::DsExpression,
    /// What its models may change.
    pub predict: Predict,
}

/// Runs `voicebank` over the alignment's phrases: predicted durations (when it has a duration
/// model and `predict.durations`) move the phonemes inside their words, predicted pitch replaces
/// `f0`, and, with `predict.audio`, the phrases are rendered. Returns the samples (empty
/// without `audio`); `alignment` and `f0` are updated to what was sung.
pub fn run_voicebank(
    alignment: &mut Alignment,
    f0: &mut [f32],
    dynamics: &Dynamics,
    run: &VoicebankRun,
    progress: &dyn Fn(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<f32>, VoiceError> {
    let VoicebankRun {
        voicebank,
        expression,
        predict,
    } = run;
    let (voicebank, predict) = (*voicebank, *predict);
    let info = voicebank.info();
    if info.sample_rate != coda_vocal::align::SAMPLE_RATE || info.hop_size != coda_vocal::align::HOP
    {
        return Err(VoiceError::FrameRate {
            name: info.name.clone(),
            rate: info.sample_rate,
            hop: info.hop_size,
        });
    }
    let hop = coda_vocal::align::HOP as usize;
    let regions = crate::formant::BuiltinVoice::regions(alignment);
    let mut out = if predict.audio {
        vec![0.0f32; alignment.frames as usize * hop]
    } else {
        Vec::new()
    };
    for (k, region) in regions.iter().enumerate() {
        if cancel() {
            return Err(VoiceError::Canceled);
        }
        let curves = Curves { f0, dynamics };
        let mut phrase = phrase_of(alignment, curves, *region, voicebank, expression.clone())?;
        let rs = (region.start / hop) as u32;
        if predict.durations && info.predictors.duration {
            let durations = voicebank.predict_durations(&phrase)?;
            retime(alignment, rs, &durations);
            phrase.ph_dur = durations;
        }
        if predict.pitch && info.predictors.pitch {
            let predicted = voicebank.predict_pitch(&phrase)?;
            let at = (rs as usize).min(f0.len());
            let n = predicted.len().min(f0.len() - at);
            f0[at..at + n].copy_from_slice(&predicted[..n]);
            phrase.f0 = predicted;
        }
        if predict.audio {
            let samples = voicebank.synthesize(&phrase)?;
            let end = (region.start + samples.len()).min(out.len());
            out[region.start..end].copy_from_slice(&samples[..end - region.start]);
        }
        progress(k + 1, regions.len());
    }
    Ok(out)
}

/// Renders `plan` with `voicebank` (every predictor it has), updating its alignment and f0.
pub fn render_with_voicebank(
    plan: &mut Plan,
    voicebank: &crate::diffsinger::Voicebank,
    expression: crate::diffsinger::DsExpression,
    progress: &dyn Fn(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<f32>, VoiceError> {
    let all = Predict {
        durations: true,
        pitch: true,
        audio: true,
    };
    let run = VoicebankRun {
        voicebank,
        expression,
        predict: all,
    };
    run_voicebank(
        &mut plan.alignment,
        &mut plan.f0,
        &plan.dynamics,
        &run,
        progress,
        cancel,
    )
}

/// Moves the phonemes of the region from frame `from` to the predicted `durations` (one per
/// phoneme overlapping it, in order); the first keeps its start and the last its end, since
/// they may run on into the neighbouring regions.
fn retime(a: &mut Alignment, from: u32, durations: &[u32]) {
    let fr = a.frame_rate;
    let to = from + durations.iter().sum::<u32>();
    let first = a.phonemes.partition_point(|p| p.end <= from);
    let count = durations.len();
    let mut t = from;
    for (i, (p, &d)) in a.phonemes[first..].iter_mut().zip(durations).enumerate() {
        if i > 0 {
            p.start = t;
        }
        t += d;
        if i + 1 < count {
            p.end = t;
        } else {
            p.end = p.end.max(to);
        }
        p.start_s = f64::from(p.start) / fr;
        p.end_s = f64::from(p.end) / fr;
    }
}
