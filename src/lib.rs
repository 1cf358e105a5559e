//! The `coda` command's library: configuration, local wiring, logging and the local commands.

pub mod app;
pub mod config;
pub mod logging;
pub mod separate_cmd;
pub mod transcribe_cmd;
pub mod worker;

/// The default output folder of a file command: `<input stem>.<suffix>` in the current directory.
pub fn default_out_dir(input: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "audio".into());
    std::path::PathBuf::from(format!("{stem}.{suffix}"))
}
