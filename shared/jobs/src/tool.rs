//! `tool`: one of S0's model tools (the predictors, the renderer, `save_audio`) run by name on the
//! worker, for the chat and MCP routes: their `gpu` calls go through the job path like every kind.

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

/// The tools a `tool` job runs: S0's `gpu` tools that are not job kinds of their own.
pub const WORKER_TOOLS: &[&str] = &[
    "predict_durations",
    "predict_pitch",
    "predict_variance",
    "synthesize_audio",
    "save_audio",
];

/// The `tool` kind.
pub const KIND: Kind = Kind {
    spec: KindSpec::new::<ToolParams>(
        "tool",
        "One of S0's model tools (predict_durations, predict_pitch, predict_variance, synthesize_audio, save_audio) run on the worker: result.json holds its answer.",
        Route::Gpu,
        "ToolParams",
    )
    .outputs(&[Slot {
        name: "result",
        content_types: &["application/json"],
        description: "the tool's answer, as its response schema has it (result.json)",
    }])
    .artifacts(&["onnxruntime", "cmudict"]),
    #[cfg(feature = "runners")]
    runner: |ctx| std::sync::Arc::new(ToolRunner::new(ctx.settings.clone())),
};

/// Parameters of a `tool` job.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ToolParams {
    /// The tool's name (one of [`WORKER_TOOLS`]).
    pub tool: String,
    /// Its arguments, as its request schema has them (`GET /v1/tools`).
    #[serde(default)]
    pub args: serde_json::Value,
}

impl KindParams for ToolParams {
    fn check(&self) -> Result<()> {
        if !WORKER_TOOLS.contains(&self.tool.as_str()) {
            return Err(invalid_param(
                "tool",
                format!(
                    "a tool job runs one of {}; not {:?}",
                    WORKER_TOOLS.join(", "),
                    self.tool
                ),
            ));
        }
        Ok(())
    }
}
