//! The `coda` command's library: configuration, local wiring, logging and the local commands.

pub mod analyze_cmd;
pub mod app;
pub mod chat_tools;
pub mod config;
pub mod logging;
pub mod score_cmd;
pub mod separate_cmd;
pub mod sing_cmd;
pub mod tab_cmd;
pub mod transcribe_cmd;
pub mod worker;

/// A progress bar on standard error that counts `units` (e.g. " windows"), drawn only on a terminal.
///
/// indicatif draws nothing when standard error is not a terminal; a hidden bar says so explicitly.
pub fn progress_bar(units: &str) -> indicatif::ProgressBar {
    use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
    use std::io::IsTerminal;
    let bar = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(1), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "{{spinner}} {{msg:<10}} [{{bar:30}}] {{pos}}/{{len}}{units} {{elapsed}}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    bar
}

/// The default output folder of a file command: `<input stem>.<suffix>` in the current directory.
pub fn default_out_dir(input: &std::path::Path, suffix: &str) -> std::path::PathBuf {
    let stem = input
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "audio".into());
    std::path::PathBuf::from(format!("{stem}.{suffix}"))
}
