//! Times `read_score` over a list of score files (the corpus benchmark's Coda side).
//!
//! `cargo run --release -p coda-music --example parse_corpus -- [--stats] [--list FILE] [PATH ...]`
//!
//! Each PATH is a score file (MusicXML, `.mxl` or MIDI, told apart by magic bytes);
//! `--list FILE` reads more paths from FILE, one a line. Every file is read from disk
//! and parsed in turn, and the time of both is counted. The last line printed is one
//! JSON object: `{"files", "failed", "seconds", "files_per_s", "bytes"}`. With
//! `--stats`, one JSON line per file comes first: its path and [`coda_music::stats`]
//! counts (or its error). Exit status 1 when a file cannot be read or parsed, 2 on a
//! usage error. scripts/bench_scores.sh runs it beside music21 on the same files.

use std::process::ExitCode;
use std::time::Instant;

fn main() -> ExitCode {
    let mut stats = false;
    let mut paths: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--stats" => stats = true,
            "--list" => {
                let Some(list) = args.next() else {
                    eprintln!("--list needs a file");
                    return ExitCode::from(2);
                };
                match std::fs::read_to_string(&list) {
                    Ok(text) => paths.extend(
                        text.lines()
                            .map(str::trim)
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned),
                    ),
                    Err(e) => {
                        eprintln!("{list}: {e}");
                        return ExitCode::from(2);
                    }
                }
            }
            "-h" | "--help" => {
                eprintln!("usage: parse_corpus [--stats] [--list FILE] [PATH ...]");
                return ExitCode::from(2);
            }
            _ => paths.push(a),
        }
    }
    if paths.is_empty() {
        eprintln!("usage: parse_corpus [--stats] [--list FILE] [PATH ...]");
        return ExitCode::from(2);
    }
    let mut failed = 0usize;
    let mut bytes_read = 0u64;
    let mut out = Vec::new();
    let start = Instant::now();
    for path in &paths {
        let result = std::fs::read(path)
            .map_err(|e| e.to_string())
            .and_then(|bytes| {
                bytes_read += bytes.len() as u64;
                coda_music::read_score(&bytes).map_err(|e| format!("{e} ({})", e.code()))
            });
        match result {
            Ok(parsed) if stats => out.push(serde_json::json!({
                "path": path,
                "stats": coda_music::stats(&parsed.score),
            })),
            Ok(_) => {}
            Err(e) => {
                failed += 1;
                eprintln!("{path}: {e}");
                if stats {
                    out.push(serde_json::json!({"path": path, "error": e}));
                }
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    for line in out {
        println!("{line}");
    }
    println!(
        "{}",
        serde_json::json!({
            "files": paths.len(),
            "failed": failed,
            "seconds": seconds,
            "files_per_s": paths.len() as f64 / seconds.max(1e-9),
            "bytes": bytes_read,
        })
    );
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
