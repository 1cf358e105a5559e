//! The `tool` runner.

use std::sync::Arc;

use async_trait::async_trait;
use coda_core::model::JobKind;
use coda_core::worker::{JobContext, JobRunner, NewOutput};
use coda_core::{CodaError, Result};

use super::ToolParams;
use crate::synthesize::tools::call_tool;
use crate::synthesize::SharedSinging;
use crate::ModelSettings;

/// Runs `tool` jobs over one shared dictionary and voice set.
pub struct ToolRunner {
    singing: Arc<SharedSinging>,
}

impl ToolRunner {
    /// A runner that loads nothing until its first job.
    pub fn new(settings: ModelSettings) -> Self {
        ToolRunner {
            singing: Arc::new(SharedSinging::new(settings)),
        }
    }
}

#[async_trait]
impl JobRunner for ToolRunner {
    fn kind(&self) -> JobKind {
        super::KIND.spec.kind()
    }

    async fn run(&self, ctx: JobContext) -> Result<Vec<NewOutput>> {
        let params: ToolParams = ctx.params()?;
        let progress = ctx.progress();
        progress.set(5);
        let singing = self.singing.clone();
        let answer =
            tokio::task::spawn_blocking(move || call_tool(&params.tool, params.args, &singing))
                .await
                .map_err(|e| CodaError::Internal(format!("tool task failed: {e}")))??;
        progress.check()?;
        Ok(vec![NewOutput {
            name: "result.json".into(),
            content_type: "application/json".into(),
            bytes: serde_json::to_vec(&answer)
                .map_err(CodaError::internal)?
                .into(),
        }])
    }
}
