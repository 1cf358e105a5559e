//! Installs the model files into `CODA_MODELS_DIR` (or `./.models`):
//! `cargo run -p coda-models --example install_models [-- PYTHON]`.

fn main() {
    let python = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "python3".to_string());
    let dir = coda_models::default_models_dir();
    match coda_models::install(&dir, &python) {
        Ok(installed) => {
            println!("runtime:     {}", installed.runtime.display());
            println!("basic pitch: {}", installed.basic_pitch.display());
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(1);
        }
    }
}
