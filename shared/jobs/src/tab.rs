//! `tab`: guitar or bass tablature of a score (MusicXML, MXL, MIDI), of transcribed notes
//! (`notes.json`, as `transcribe` writes it; chain one with `job:{id}/notes.json`), or of a
//! recording, which the job transcribes first with Basic Pitch.
//!
//! The CLI (`coda tab`) and the job run the same [`tab_files`], so both write the same bytes.

use coda_core::kinds::{KindParams, KindSpec, Route, Slot};
use coda_core::params::invalid_param;
use coda_core::Result;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Kind;

#[cfg(feature = "runners")]
mod run;
#[cfg(feature = "runners")]
pub use run::*;

/// A score or the notes of a transcription.
pub const TAB_INPUT: &[Slot] = &[Slot {
    name: "notes",
    content_types: &[
        "application/vnd.recordare.musicxml+xml",
        "application/vnd.recordare.musicxml",
        "audio/midi",
        "application/json",
        "audio/wav",
        "audio/flac",
        "audio/mpeg",
        "audio/ogg",
        "audio/mp4",
        "audio/aiff",
    ],
    description:
        "a score (MusicXML, .mxl or MIDI), notes.json from a transcribe job (job:{id}/notes.json), or a recording, which is transcribed first",
}];

/// The `tab` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<TabParams>(
        "tab",
        "Guitar or bass tablature of a score, of transcribed notes or of a recording (transcribed first): tab.txt, tab.json, tab.musicxml and tab.alphatex.",
        Route::Cpu,
        "TabParams",
    )
    .inputs(TAB_INPUT)
    .outputs(&[
        Slot {
            name: "tab",
            content_types: &["text/plain", "application/json", "application/vnd.recordare.musicxml+xml", "text/x-alphatex"],
            description: "tab.txt (ASCII tab in bars), tab.json (each note's start_s, end_s, pitch_midi, string and fret; string 1 is the highest), tab.musicxml (a TAB staff with the tuning and capo) and tab.alphatex (for alphaTab viewers)",
        },
    ])
    .artifacts(&["onnxruntime", "basic-pitch"]),
    #[cfg(feature = "runners")]
    runner: |ctx| {
        std::sync::Arc::new(TabRunner {
            model: ctx.basic_pitch.clone(),
        })
    },
};

/// Parameters of a `tab` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct TabParams {
    /// `standard` (default), `drop-d`, `dadgad`, `open-g`, `open-d`, `seven-string`, `bass`,
    /// `bass-five`, or the open strings low to high (`"D2,A2,D3,G3,B3,E4"`).
    #[serde(default = "default_tuning")]
    pub tuning: String,
    /// Strings (4 to 12); with `standard`, 4 is a bass, 5 a five-string bass, 7 a seven-string.
    #[serde(default)]
    pub strings: Option<u8>,
    /// Frets on the neck (default 22, 20 for a bass).
    #[serde(default)]
    pub frets: Option<u8>,
    /// The capo's fret (default 0: none).
    #[serde(default)]
    pub capo: u8,
    /// A score's part by index from 0 (default: every part, as chords).
    #[serde(default)]
    pub part: Option<usize>,
    /// The tempo that puts transcribed notes in bars, quarters per minute (default: the
    /// score's own, else 120).
    #[serde(default)]
    pub tempo_bpm: Option<f64>,
    /// Quarter beats per bar (default: the score's first time signature, else 4).
    #[serde(default)]
    pub beats_per_bar: Option<u8>,
}

fn default_tuning() -> String {
    "standard".into()
}

impl Default for TabParams {
    fn default() -> Self {
        TabParams {
            tuning: default_tuning(),
            strings: None,
            frets: None,
            capo: 0,
            part: None,
            tempo_bpm: None,
            beats_per_bar: None,
        }
    }
}

impl TabParams {
    /// The instrument these parameters name.
    pub fn instrument(&self) -> Result<coda_tabs::Instrument> {
        let bass = matches!(self.strings, Some(4 | 5)) || self.tuning.starts_with("bass");
        let frets = self.frets.unwrap_or(if bass { 20 } else { 22 });
        coda_tabs::Instrument::new(
            &self.tuning,
            self.strings.map(usize::from),
            frets,
            self.capo,
        )
        .map_err(|e| invalid_param("tuning", e.to_string()))
    }
}

impl KindParams for TabParams {
    fn check(&self) -> Result<()> {
        self.instrument()?;
        if let Some(t) = self.tempo_bpm {
            if !(t.is_finite() && (10.0..=400.0).contains(&t)) {
                return Err(invalid_param("tempo_bpm", "tempo_bpm must be 10 to 400"));
            }
        }
        if let Some(b) = self.beats_per_bar {
            if !(1..=32).contains(&b) {
                return Err(invalid_param(
                    "beats_per_bar",
                    "beats_per_bar must be 1 to 32",
                ));
            }
        }
        Ok(())
    }
}
