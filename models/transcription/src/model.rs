//! The Basic Pitch network in an ONNX Runtime session, shared by every worker.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use coda_model_runtime::install::{Installed, BASIC_PITCH};
use coda_model_runtime::{open_session, Device, ModelError, ModelSource, RuntimeOptions};
use ort::session::Session;
use ort::value::TensorRef;
use sha2::{Digest, Sha256};

use crate::contour_graph::fold_contour_head;
use crate::{N_FRAMES_PER_WINDOW, N_FREQ_BINS_CONTOURS, N_FREQ_BINS_NOTES, WINDOW_SAMPLES};

/// Outputs of one batched model call, each flattened row-major as `[windows, frames, bins]`.
#[derive(Debug, Clone, PartialEq)]
pub struct RawBatch {
    /// How many windows the batch held.
    pub windows: usize,
    /// Note posteriorgram, `[windows, 172, 88]`.
    pub note: Vec<f32>,
    /// Onset posteriorgram, `[windows, 172, 88]`.
    pub onset: Vec<f32>,
    /// Pitch contour, `[windows, 172, 264]`.
    pub contour: Vec<f32>,
    /// Wall time of `session.run` alone.
    pub run_time: Duration,
}

/// The Basic Pitch network, loaded once and shared (Send + Sync) by every worker.
///
/// `Session::run` needs `&mut`, so calls are serialised by a mutex; ONNX Runtime
/// already spreads one call over `intra_threads` threads.
#[derive(Debug)]
pub struct BasicPitchModel {
    session: Mutex<Session>,
    device: Device,
    graph: GraphForm,
}

/// Which form of Basic Pitch's graph a session runs; both compute the same function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GraphForm {
    /// The contour head folded for speed (see `basic_pitch::contour_graph`).
    Folded,
    /// `nmp.onnx` exactly as published.
    AsPublished,
    /// As published, because folding was not possible; says why.
    Unfoldable(String),
}

const INPUT_NAME: &str = "serving_default_input_2:0";
const NOTE_OUTPUT: &str = "StatefulPartitionedCall:1";
const ONSET_OUTPUT: &str = "StatefulPartitionedCall:2";
const CONTOUR_OUTPUT: &str = "StatefulPartitionedCall:0";

impl BasicPitchModel {
    /// Loads `nmp.onnx` with the runtime from `installed`, its contour head folded for speed.
    ///
    /// Only the published file (checked by its SHA-256) is folded, since the
    /// rewrite knows its tensor shapes; any other file, or a folded graph the
    /// runtime refuses, is loaded as it is ([`GraphForm::Unfoldable`] says why).
    pub fn load(installed: &Installed, options: &RuntimeOptions) -> Result<Self, ModelError> {
        let path = &installed.basic_pitch;
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        let why = if hex::encode(Sha256::digest(&bytes)) != BASIC_PITCH.sha256 {
            format!("{} is not basic-pitch 0.4.0's nmp.onnx", path.display())
        } else {
            match fold_contour_head(&bytes) {
                Ok(folded) => match Self::open(installed, &folded, GraphForm::Folded, options) {
                    Ok(model) => return Ok(model),
                    Err(e) => format!("the folded graph did not load: {e}"),
                },
                Err(e) => e.0,
            }
        };
        Self::open(installed, &bytes, GraphForm::Unfoldable(why), options)
    }

    /// Loads `nmp.onnx` exactly as published (for comparisons with the folded graph).
    pub fn load_as_published(
        installed: &Installed,
        options: &RuntimeOptions,
    ) -> Result<Self, ModelError> {
        let path = &installed.basic_pitch;
        let bytes = std::fs::read(path).map_err(|e| ModelError::io(path, e))?;
        Self::open(installed, &bytes, GraphForm::AsPublished, options)
    }

    fn open(
        installed: &Installed,
        bytes: &[u8],
        graph: GraphForm,
        options: &RuntimeOptions,
    ) -> Result<Self, ModelError> {
        let source = ModelSource::Bytes {
            bytes,
            origin: &installed.basic_pitch,
        };
        let (session, device) = open_session(&installed.runtime, source, options)?;
        check_signature(&session)?;
        Ok(BasicPitchModel {
            session: Mutex::new(session),
            device,
            graph,
        })
    }

    /// The form of the graph in use.
    pub fn graph(&self) -> &GraphForm {
        &self.graph
    }

    /// The execution provider in use.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Runs the network on `windows` windows of `WINDOW_SAMPLES` samples laid end to end in `input`.
    pub fn run(&self, input: &[f32], windows: usize) -> Result<RawBatch, ModelError> {
        if windows == 0 || input.len() != windows * WINDOW_SAMPLES {
            return Err(ModelError::InvalidAudio(format!(
                "a batch of {windows} windows needs {} samples, got {}",
                windows * WINDOW_SAMPLES,
                input.len()
            )));
        }
        let tensor = TensorRef::from_array_view(([windows, WINDOW_SAMPLES, 1], input))
            .map_err(|e| ModelError::Runtime(format!("input tensor: {e}")))?;
        let mut session = self.session.lock().unwrap_or_else(|p| p.into_inner());
        let started = Instant::now();
        let outputs = session
            .run(ort::inputs![INPUT_NAME => tensor])
            .map_err(|e| ModelError::Runtime(format!("run: {e}")))?;
        let run_time = started.elapsed();
        let take = |name: &str, bins: usize| -> Result<Vec<f32>, ModelError> {
            let value = outputs
                .get(name)
                .ok_or_else(|| ModelError::BadOutput(format!("no output named {name}")))?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|e| ModelError::BadOutput(format!("{name}: {e}")))?;
            let want = [windows as i64, N_FRAMES_PER_WINDOW as i64, bins as i64];
            if **shape != want {
                return Err(ModelError::BadOutput(format!(
                    "{name} has shape {:?}, expected {want:?}",
                    &**shape
                )));
            }
            Ok(data.to_vec())
        };
        Ok(RawBatch {
            windows,
            note: take(NOTE_OUTPUT, N_FREQ_BINS_NOTES)?,
            onset: take(ONSET_OUTPUT, N_FREQ_BINS_NOTES)?,
            contour: take(CONTOUR_OUTPUT, N_FREQ_BINS_CONTOURS)?,
            run_time,
        })
    }
}

/// A file that is not Basic Pitch would fail at the first run; say so at load time instead.
fn check_signature(session: &Session) -> Result<(), ModelError> {
    let has_input = session.inputs().iter().any(|i| i.name() == INPUT_NAME);
    let outputs: Vec<&str> = session.outputs().iter().map(|o| o.name()).collect();
    let missing: Vec<&str> = [NOTE_OUTPUT, ONSET_OUTPUT, CONTOUR_OUTPUT]
        .into_iter()
        .filter(|name| !outputs.contains(name))
        .collect();
    if !has_input || !missing.is_empty() {
        return Err(ModelError::BadOutput(format!(
            "the model is not Basic Pitch: input {INPUT_NAME} present: {has_input}, missing outputs: {missing:?}"
        )));
    }
    Ok(())
}
