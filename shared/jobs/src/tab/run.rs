//! The `tab` runner and the files it writes.

use std::sync::Arc;

use async_trait::async_trait;
use coda_core::model::JobKind;
use coda_core::services::scores::invalid_score;
use coda_core::sniff::sniff;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use coda_tabs::{ascii_tab, fingering, tab_alphatex, tab_musicxml, Costs, Meter, Tab};
use coda_theory::TimedNote;
use serde_json::json;

use super::TabParams;
use crate::transcribe::{
    model_error, params_from_options, transcribe_audio, SharedModel, TranscribeOptions,
};

/// The notes of a recording as notes.json bytes: Basic Pitch with its default settings, as a
/// `transcribe` job would run it. `on_window` hears (windows done, windows in all).
pub fn transcribed_notes_json(
    model: &SharedModel,
    bytes: &[u8],
    on_window: &mut dyn FnMut(usize, usize),
    cancel: &dyn Fn() -> bool,
) -> Result<Vec<u8>> {
    let loaded = model.get().map_err(model_error)?;
    let params = params_from_options(&TranscribeOptions::default(), model.settings().batch_size);
    let mut on_stage = |stage| {
        if let crate::transcribe::Stage::Inference { done, total } = stage {
            on_window(done, total);
        }
    };
    let done = transcribe_audio(&loaded, bytes, &params, &mut on_stage, cancel)?;
    let notes: Vec<TimedNote> = done
        .transcription
        .notes
        .iter()
        .map(|n| TimedNote {
            start_s: n.start_s,
            end_s: n.end_s,
            pitch_midi: n.pitch_midi,
        })
        .collect();
    serde_json::to_vec(&notes).map_err(CodaError::internal)
}

/// Whether `bytes` are a recording (which a tab is transcribed from first).
pub fn is_audio(bytes: &[u8]) -> bool {
    sniff(bytes).is_some_and(|s| s.is_audio())
}

/// A tab's four files: (name, content type, bytes), and the tab itself.
pub struct TabFiles {
    /// tab.txt, tab.json, tab.musicxml and tab.alphatex.
    pub files: Vec<(&'static str, &'static str, Vec<u8>)>,
    /// The fingered notes and the warnings.
    pub tab: Tab,
}

/// The notes of `bytes` (notes.json, or a score) and the meter they come in.
fn notes_of(bytes: &[u8], params: &TabParams) -> Result<(Vec<TimedNote>, Meter)> {
    let first = bytes.iter().find(|b| !b.is_ascii_whitespace());
    let mut meter = Meter::default();
    if first == Some(&b'[') {
        let notes: Vec<TimedNote> =
            serde_json::from_slice(bytes).map_err(|e| CodaError::Unprocessable {
                code: "INVALID_NOTES",
                message: format!(
                    "notes.json is not a list of notes (start_s, end_s, pitch_midi): {e}"
                ),
                details: json!({ "input": "notes" }),
            })?;
        return Ok((notes, meter));
    }
    let parsed =
        coda_music::read_score_file(bytes, None).map_err(|e| invalid_score("notes", &e))?;
    let mut score = parsed.score;
    if let Some(p) = params.part {
        if p >= score.parts.len() {
            return Err(coda_core::params::invalid_param(
                "part",
                match score.parts.len() {
                    0 => format!("part {p}: the score has no parts"),
                    1 => format!("part {p}: the score has one part, part 0"),
                    n => format!("part {p}: the score has {n} parts, 0 to {}", n - 1),
                },
            ));
        }
        score.parts = vec![score.parts[p].clone()];
    }
    let (notes, timing) =
        coda_theory::notes_and_timing(&score).map_err(|e| CodaError::Unprocessable {
            code: "INVALID_SCORE",
            message: format!("the score cannot be played: {e}"),
            details: json!({ "input": "notes" }),
        })?;
    meter.tempo_bpm = timing.tempos.first().map_or(120.0, |t| t.1);
    let time = score
        .parts
        .iter()
        .flat_map(|p| &p.measures)
        .find_map(|m| m.attributes.as_ref().and_then(|a| a.time.clone()));
    if let Some(t) = time {
        let beats: Option<u32> = t
            .beats
            .split('+')
            .map(|b| b.trim().parse::<u32>().ok())
            .sum();
        let unit: Option<u32> = t.beat_type.trim().parse().ok();
        if let (Some(b), Some(u)) = (beats, unit.filter(|u| *u > 0)) {
            let quarters = (b * 4).div_ceil(u);
            meter.beats = u8::try_from(quarters.clamp(1, 32)).unwrap_or(4);
        }
    }
    Ok((notes, meter))
}

/// Fingers `bytes` (a score or notes.json) as `params` ask and writes the four files.
pub fn tab_files(bytes: &[u8], params: &TabParams) -> Result<TabFiles> {
    let inst = params.instrument()?;
    let (notes, mut meter) = notes_of(bytes, params)?;
    if notes.is_empty() {
        return Err(CodaError::Unprocessable {
            code: "NO_NOTES",
            message: "the input has no pitched notes to put in a tab".into(),
            details: json!({ "input": "notes" }),
        });
    }
    if let Some(t) = params.tempo_bpm {
        meter.tempo_bpm = t;
    }
    if let Some(b) = params.beats_per_bar {
        meter.beats = b;
    }
    let tab = fingering(&notes, &inst, &Costs::default());
    let name = if inst.strings.len() <= 5 && inst.strings.iter().min().is_some_and(|k| *k < 40) {
        "Bass"
    } else {
        "Guitar"
    };
    let bar_s = f64::from(meter.beats) * 60.0 / meter.tempo_bpm;
    let json = serde_json::to_vec_pretty(&tab).map_err(CodaError::internal)?;
    Ok(TabFiles {
        files: vec![
            (
                "tab.txt",
                "text/plain",
                ascii_tab(&tab, Some(bar_s)).into_bytes(),
            ),
            ("tab.json", "application/json", json),
            (
                "tab.musicxml",
                "application/vnd.recordare.musicxml+xml",
                tab_musicxml(&tab, meter, name).into_bytes(),
            ),
            (
                "tab.alphatex",
                "text/x-alphatex",
                tab_alphatex(&tab, meter, name).into_bytes(),
            ),
        ],
        tab,
    })
}

/// Runs `tab` jobs; recordings go through the shared Basic Pitch model first.
pub struct TabRunner {
    /// The process's one Basic Pitch session.
    pub model: Arc<SharedModel>,
}

#[async_trait]
impl JobRunner for TabRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let params: TabParams = ctx.params()?;
        let progress = ctx.progress();
        let input = ctx.input("notes").await?;
        progress.set(5);
        let model = self.model.clone();
        let p = progress.clone();
        let out = tokio::task::spawn_blocking(move || {
            if !is_audio(&input) {
                return tab_files(&input, &params);
            }
            let notes = transcribed_notes_json(
                &model,
                &input,
                &mut |done, total| p.set_between(5, 80, done, total),
                &|| p.is_canceled(),
            )?;
            p.check()?;
            p.warn("tabbed from a transcription of the recording (Basic Pitch, default settings)");
            tab_files(&notes, &params)
        })
        .await
        .map_err(|e| CodaError::Internal(format!("tab task failed: {e}")))??;
        progress.check()?;
        progress.set(90);
        for w in &out.tab.warnings {
            progress.warn(w.clone());
        }
        Ok(crate::outputs(out.files))
    }
}
