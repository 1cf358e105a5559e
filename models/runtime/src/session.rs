//! ONNX Runtime, loaded once per process from the installed library, and
//! sessions opened with it on the best execution provider available.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use ort::environment::Environment;
use ort::ep::{self, ExecutionProvider};
use ort::session::Session;

use crate::error::ModelError;

/// How sessions are created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeOptions {
    /// Threads ONNX Runtime may use inside one operator.
    pub intra_threads: usize,
    /// Use the CUDA execution provider when the loaded runtime has it; CPU otherwise.
    pub cuda: bool,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        RuntimeOptions {
            intra_threads: coda_dsp::threads(),
            cuda: false,
        }
    }
}

/// ort allows exactly one environment per process, ever (even after the first is dropped),
/// so it is created on first use and kept.
static ENVIRONMENT: Mutex<Option<(PathBuf, Environment)>> = Mutex::new(None);

fn runtime_err(
    context: &str,
) -> impl Fn(ort::Error<ort::session::builder::SessionBuilder>) -> ModelError + '_ {
    move |e| ModelError::Runtime(format!("{context}: {e}"))
}

/// Loads ONNX Runtime from `library` (once per process) and returns the process's environment.
///
/// A second call with another library is an error: the first one stays mapped.
pub fn environment(library: &Path) -> Result<Environment, ModelError> {
    let mut slot = ENVIRONMENT.lock().unwrap_or_else(|p| p.into_inner());
    let wanted = library
        .canonicalize()
        .map_err(|e| ModelError::io(library, e))?;
    if let Some((loaded, env)) = slot.as_ref() {
        if *loaded != wanted {
            return Err(ModelError::Runtime(format!(
                "ONNX Runtime is already loaded from {}; cannot also load {}",
                loaded.display(),
                wanted.display()
            )));
        }
        return Ok(env.clone());
    }
    // init_from returns an error for a bad library; plain init() would panic without ORT_DYLIB_PATH.
    let builder = ort::init_from(&wanted)
        .map_err(|e| ModelError::Runtime(format!("cannot load {}: {e}", wanted.display())))?;
    let env = builder
        .with_name("coda")
        .with_telemetry(false)
        .build()
        .map_err(|e| ModelError::Runtime(format!("cannot create the environment: {e}")))?;
    *slot = Some((wanted, env.clone()));
    Ok(env)
}

/// The execution provider a session ended up on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// ONNX Runtime's default CPU provider.
    Cpu,
    /// NVIDIA CUDA.
    Cuda,
}

/// Where a session's model comes from.
#[derive(Debug, Clone, Copy)]
pub enum ModelSource<'a> {
    /// An ONNX file.
    File(&'a Path),
    /// A serialized model in memory, derived from the file `origin` (named in errors).
    Bytes {
        /// The serialized model.
        bytes: &'a [u8],
        /// The file it was made from, named in errors.
        origin: &'a Path,
    },
}

impl ModelSource<'_> {
    fn origin(&self) -> &Path {
        match self {
            ModelSource::File(path) | ModelSource::Bytes { origin: path, .. } => path,
        }
    }
}

/// Opens `model` with the runtime from `library`: on CUDA when `options.cuda` asks and
/// the provider registers, else on the CPU (a runtime built with CUDA on a machine
/// without a usable GPU fails to register it, which is not an error here).
pub fn open_session(
    library: &Path,
    model: ModelSource,
    options: &RuntimeOptions,
) -> Result<(Session, Device), ModelError> {
    let env = environment(library)?;
    let threads = options.intra_threads.max(1);
    if options.cuda && ep::CUDA::is_available().unwrap_or(false) {
        if let Ok(session) = build_session(&env, threads, model, true) {
            return Ok((session, Device::Cuda));
        }
    }
    Ok((build_session(&env, threads, model, false)?, Device::Cpu))
}

fn build_session(
    env: &Environment,
    threads: usize,
    model: ModelSource,
    cuda: bool,
) -> Result<Session, ModelError> {
    let mut builder = Session::builder(env)
        .map_err(|e| ModelError::Runtime(format!("session builder: {e}")))?
        .with_intra_threads(threads)
        .map_err(runtime_err("intra threads"))?;
    if cuda {
        builder = builder
            .with_execution_providers([ep::CUDA::default().build().error_on_failure()])
            .map_err(runtime_err("CUDA execution provider"))?;
    }
    match model {
        ModelSource::File(path) => builder.commit_from_file(path),
        ModelSource::Bytes { bytes, .. } => builder.commit_from_memory(bytes),
    }
    .map_err(|e| ModelError::Runtime(format!("cannot load {}: {e}", model.origin().display())))
}
