//! The configuration (`coda-config`), and what the local commands derive from it.

pub use coda_config::*;

/// How model jobs find and run their models.
pub fn model_settings(config: &Config) -> coda_jobs::ModelSettings {
    coda_jobs::ModelSettings {
        models_dir: config.models.models_dir.clone(),
        runtime: coda_model_runtime::RuntimeOptions {
            intra_threads: config.model_threads(),
            cuda: config.models.model_device == ModelDevice::Auto,
        },
        batch_size: config.transcribe.transcribe_batch,
        htdemucs_model: config.separate.htdemucs_model.clone(),
        separate_max_seconds: config.separate.separate_max_seconds,
        voices_dir: config.sing.voices_dir.clone(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;

    #[test]
    fn model_settings_follow_the_sections() {
        let env = [
            ("CODA_HTDEMUCS_MODEL", "/models/a.onnx"),
            ("CODA_MODEL_THREADS", "3"),
            ("CODA_MODEL_DEVICE", "cpu"),
            ("CODA_TRANSCRIBE_BATCH", "4"),
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()));
        let s = model_settings(&Config::load(None, env).unwrap());
        assert_eq!(s.htdemucs_model, Some(PathBuf::from("/models/a.onnx")));
        assert_eq!((s.runtime.intra_threads, s.runtime.cuda), (3, false));
        assert_eq!(s.batch_size, 4);
    }
}
