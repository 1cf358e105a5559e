//! The `analyze` runner and the files it writes.

use async_trait::async_trait;
use coda_analysis::{analyze_audio, AudioOptions};
use coda_audio::{decode_mono, AudioError};
use coda_core::model::JobKind;
use coda_core::services::scores::invalid_score;
use coda_core::sniff::sniff;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use coda_theory::Analysis;
use serde_json::json;

use super::{AnalyzeParams, MAX_SECONDS};
use crate::chordsplot::{render_chords, Underlay};

/// An analysis's two files: (name, content type, bytes), and the analysis.
pub struct AnalysisFiles {
    /// analysis.json and chords.png.
    pub files: Vec<(&'static str, &'static str, Vec<u8>)>,
    /// What was found.
    pub analysis: Analysis,
    /// Seconds per stage, in order.
    pub stage_seconds: Vec<(&'static str, f64)>,
}

/// Analyses `bytes` (a recording or a score) as `params` ask and writes the two files;
/// `stage` hears each stage's name and its share of the work done so far (0..1).
pub fn analysis_files(
    bytes: &[u8],
    params: &AnalyzeParams,
    stage: &mut dyn FnMut(&'static str, f64),
) -> Result<AnalysisFiles> {
    let options = params.options()?;
    let sniffed = sniff(bytes);
    let (analysis, png, stage_seconds) = if sniffed.is_some_and(|s| s.is_score()) {
        stage("score", 0.0);
        let clock = std::time::Instant::now();
        let parsed =
            coda_music::read_score_file(bytes, None).map_err(|e| invalid_score("input", &e))?;
        let (notes, _) = coda_theory::notes_and_timing(&parsed.score).map_err(unplayable)?;
        let analysis = coda_theory::analyze_score(&parsed.score, &options).map_err(unplayable)?;
        if notes.is_empty() {
            return Err(no_notes());
        }
        let analysed = clock.elapsed().as_secs_f64();
        stage("picture", 0.9);
        let clock = std::time::Instant::now();
        let png = render_chords(&analysis, &Underlay::Notes(&notes))
            .map_err(|e| CodaError::Internal(e.to_string()))?;
        (
            analysis,
            png,
            vec![
                ("score", analysed),
                ("picture", clock.elapsed().as_secs_f64()),
            ],
        )
    } else if sniffed.is_some_and(|s| s.is_audio()) {
        stage("decode", 0.0);
        let clock = std::time::Instant::now();
        let audio = decode_mono(bytes, sniffed.map(|s| s.extension())).map_err(|e| match e {
            AudioError::Invalid(m) => CodaError::InvalidAudio(m),
            other => CodaError::Internal(other.to_string()),
        })?;
        let seconds = audio.duration_s();
        if seconds > MAX_SECONDS {
            return Err(CodaError::Unprocessable {
                code: "AUDIO_TOO_LONG",
                message: format!(
                    "the audio is {seconds:.0} s long; analyze jobs take at most {MAX_SECONDS:.0} s"
                ),
                details: json!({ "duration_s": seconds, "max_seconds": MAX_SECONDS }),
            });
        }
        let decoded = clock.elapsed().as_secs_f64();
        // Shares of the work per stage, measured on a three-minute song.
        let share = |name: &str| match name {
            "resample" => 0.05,
            "onsets" => 0.15,
            "beats" => 0.3,
            "chroma" => 0.4,
            _ => 0.8,
        };
        // decode_mono has already mixed the channels down.
        let out = analyze_audio(
            &audio.samples,
            audio.sample_rate,
            &AudioOptions {
                analysis: options,
                ..AudioOptions::default()
            },
            &mut |name| stage(name, share(name)),
        )
        .map_err(|e| CodaError::InvalidAudio(e.to_string()))?;
        stage("picture", 0.9);
        let clock = std::time::Instant::now();
        let png = render_chords(
            &out.analysis,
            &Underlay::Chroma {
                frames: &out.chroma,
                fps: coda_analysis::chroma::frame_rate(),
            },
        )
        .map_err(|e| CodaError::Internal(e.to_string()))?;
        let mut stages = vec![("decode", decoded)];
        stages.extend(out.stage_seconds);
        stages.push(("picture", clock.elapsed().as_secs_f64()));
        (out.analysis, png, stages)
    } else {
        return Err(CodaError::Unprocessable {
            code: "UNSUPPORTED_MEDIA",
            message: "analyze takes a recording (WAV, FLAC, MP3, Ogg, AAC, AIFF) or a score (MusicXML, .mxl, MIDI)".into(),
            details: json!({ "input": "input" }),
        });
    };
    let json = serde_json::to_vec_pretty(&analysis).map_err(CodaError::internal)?;
    Ok(AnalysisFiles {
        files: vec![
            ("analysis.json", "application/json", json),
            ("chords.png", "image/png", png),
        ],
        analysis,
        stage_seconds,
    })
}

fn unplayable(e: coda_music::MidiError) -> CodaError {
    CodaError::Unprocessable {
        code: "INVALID_SCORE",
        message: format!("the score cannot be played: {e}"),
        details: json!({ "input": "input" }),
    }
}

fn no_notes() -> CodaError {
    CodaError::Unprocessable {
        code: "NO_NOTES",
        message: "the score has no pitched notes to analyse".into(),
        details: json!({ "input": "input" }),
    }
}

/// Runs `analyze` jobs.
pub struct AnalyzeRunner;

#[async_trait]
impl JobRunner for AnalyzeRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let params: AnalyzeParams = ctx.params()?;
        let progress = ctx.progress();
        let input = ctx.input("input").await?;
        progress.set(5);
        let p = progress.clone();
        let out = tokio::task::spawn_blocking(move || {
            analysis_files(&input, &params, &mut |name, share| {
                tracing::debug!(stage = name, "analyze");
                p.set(5 + (share * 90.0) as u8);
            })
        })
        .await
        .map_err(|e| CodaError::Internal(format!("analyze task failed: {e}")))??;
        progress.check()?;
        progress.set(95);
        tracing::info!(stages = ?out.stage_seconds, "analyzed");
        Ok(crate::outputs(out.files))
    }
}
