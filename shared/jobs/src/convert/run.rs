//! The `convert` runner.

use async_trait::async_trait;
use coda_core::model::JobKind;
use coda_core::services::scores::invalid_score;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};
use coda_music::{expand_repeats, read_score_file, score_info, write_score, ScoreInfo};

use super::ConvertParams;

/// The files a conversion writes: the score in the asked format and its summary.
pub fn convert_bytes(bytes: &[u8], params: &ConvertParams) -> Result<(Vec<u8>, ScoreInfo)> {
    let to = params.to;
    let mut parsed = read_score_file(bytes, None).map_err(|e| invalid_score("score", &e))?;
    if params.expand_repeats {
        parsed.score = expand_repeats(&parsed.score).map_err(|e| CodaError::Unprocessable {
            code: e.code(),
            message: format!("the repeats cannot be expanded: {e}"),
            details: serde_json::json!({ "field": "expand_repeats" }),
        })?;
    }
    let out = write_score(&parsed.score, to).map_err(|e| CodaError::Unprocessable {
        code: e.code,
        message: format!("the score cannot be written as {}: {e}", to.name()),
        details: serde_json::json!({ "format": to.name() }),
    })?;
    let info =
        score_info(&parsed.score, parsed.warnings).map_err(|e| CodaError::Unprocessable {
            code: e.code,
            message: e.message,
            details: serde_json::json!({}),
        })?;
    Ok((out, info))
}

/// Runs `convert` jobs.
pub struct ConvertRunner;

#[async_trait]
impl JobRunner for ConvertRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let params: ConvertParams = ctx.params()?;
        let progress = ctx.progress();
        let input = ctx.input("score").await?;
        progress.set(10);
        let to = params.to;
        // Parsing and writing are CPU-bound; keep them off the async threads.
        let (bytes, info) = tokio::task::spawn_blocking(move || convert_bytes(&input, &params))
            .await
            .map_err(|e| CodaError::Internal(format!("convert task failed: {e}")))??;
        progress.check()?;
        progress.set(90);
        let info = serde_json::to_vec_pretty(&info).map_err(CodaError::internal)?;
        Ok(vec![
            NewOutput {
                name: format!("score.{}", to.extension()),
                content_type: to.mime().into(),
                bytes: bytes.into(),
            },
            NewOutput {
                name: "score-info.json".into(),
                content_type: "application/json".into(),
                bytes: info.into(),
            },
        ])
    }
}
