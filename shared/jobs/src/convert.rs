//! `convert`: a score between MusicXML, MXL, MIDI and the JSON form, with its summary.
//!
//! The CLI (`coda convert`) and the job read and write through the same
//! `coda_music` functions (`read_score_file`, `write_score`), so both give the same bytes.

use coda_core::kinds::{KindParams, KindSpec, Route, Slot};
use coda_music::FileFormat;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::Kind;

#[cfg(feature = "runners")]
mod run;
#[cfg(feature = "runners")]
pub use run::*;

/// The score input of score kinds: MusicXML, MXL or MIDI, told apart by their bytes.
pub const SCORE_INPUT: &[Slot] = &[Slot {
    name: "score",
    content_types: &[
        "application/vnd.recordare.musicxml+xml",
        "application/vnd.recordare.musicxml",
        "audio/midi",
    ],
    description:
        "a score file (MusicXML partwise or timewise, compressed .mxl, or a Standard MIDI file)",
}];

/// The `convert` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<ConvertParams>(
        "convert",
        "A score to MusicXML, MXL, MIDI or the JSON form, with a summary (score-info.json).",
        Route::Cpu,
        "ConvertParams",
    )
    .inputs(SCORE_INPUT)
    .outputs(&[
        Slot {
            name: "score",
            content_types: &[
                "application/vnd.recordare.musicxml+xml",
                "application/vnd.recordare.musicxml",
                "audio/midi",
                "application/json",
            ],
            description: "the score in the format asked for: score.musicxml, score.mxl, score.mid or score.json",
        },
        Slot {
            name: "score-info",
            content_types: &["application/json"],
            description: "parts, measures, notes, rests, lyrics, key, tempo, duration and the reader's repairs",
        },
    ]),
    #[cfg(feature = "runners")]
    runner: |_| std::sync::Arc::new(ConvertRunner),
};

/// Parameters of a `convert` job.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ConvertParams {
    /// The output format (default `musicxml`).
    #[serde(default = "default_to")]
    pub to: FileFormat,
    /// Play repeats, endings and D.C./D.S. jumps out into a score without them (default `false`).
    #[serde(default)]
    pub expand_repeats: bool,
}

fn default_to() -> FileFormat {
    FileFormat::MusicXml
}

impl Default for ConvertParams {
    fn default() -> Self {
        ConvertParams {
            to: default_to(),
            expand_repeats: false,
        }
    }
}

impl KindParams for ConvertParams {}
