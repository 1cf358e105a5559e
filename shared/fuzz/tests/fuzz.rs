//! Every fuzz target on stable: the committed corpus first, then mutations of
//! it for a bounded time (`CODA_FUZZ_SECS` per target, default 10; five targets
//! run side by side). An input that fails is written to
//! `target/fuzz-failures/{target}-{n}` so `cargo fuzz run {target} FILE` replays it.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use coda_fuzz::mutate::{mutate, Rng};

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The committed corpus of `target`, plus, for audio, the repository's audio fixtures.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let mut dirs = vec![here().join("corpus").join(target)];
    if target == "audio_decode" {
        let audio = here().join("../audio/tests/data");
        dirs.push(audio.join("hostile-audio"));
        dirs.push(audio);
    }
    let mut seeds = Vec::new();
    for dir in dirs {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            panic!("no corpus at {}", dir.display());
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| p.is_file() && p.extension().is_none_or(|e| e != "md"))
            .collect();
        files.sort();
        seeds.extend(files.iter().map(|p| std::fs::read(p).unwrap()));
    }
    assert!(!seeds.is_empty(), "{target} has no corpus");
    seeds
}

/// Words worth inserting, per target (libFuzzer's `-dict` files hold the same).
fn dictionary(target: &str) -> Vec<&'static [u8]> {
    let words: &[&str] = match target {
        "audio_decode" => &[
            "RIFF", "WAVE", "fmt ", "data", "LIST", "fLaC", "OggS", "vorbis", "ID3", "ftyp",
            "moov", "trak", "mdia", "hdlr", "stsd", "stsz", "stco", "FORM", "AIFF", "COMM", "SSND",
        ],
        "multipart_body" => &[
            "--codafuzzboundary\r\n",
            "--codafuzzboundary--\r\n",
            "Content-Disposition: form-data; name=\"file\"; filename=\"a.wav\"\r\n",
            "Content-Type: audio/wav\r\n",
            "\r\n",
            "name=\"file\"",
            "filename=\"",
        ],
        "json_body" => &[
            "{",
            "}",
            "[",
            "]",
            "\"kind\":",
            "\"probe\"",
            "\"input_key\":",
            "\"inputs\":",
            "\"params\":",
            "\"filename\":",
            "\"size\":",
            "\"jobs\":",
            "\"url\":",
            "\"events\":",
            "\"webhook_url\":",
            "null",
            "true",
            "1e999",
            "-0",
            "18446744073709551616",
            "\"\\ud800\"",
            "\"job:",
            "/output\"",
            "\"uploads/",
        ],
        "range_header" => &[
            "bytes=",
            "-",
            ",",
            "0",
            "1",
            "4095",
            "4096",
            "18446744073709551615",
            " ",
            "=",
            "items=",
        ],
        "signed_url" => &[
            "expires=",
            "signature=",
            "&",
            "%00",
            "%2F",
            "..",
            "/",
            "\n",
            "uploads/",
            "sessions/",
        ],
        _ => &[],
    };
    words.iter().map(|w| w.as_bytes()).collect()
}

fn save_failure(target: &str, input: &[u8]) -> PathBuf {
    let dir = here().join("../../target/fuzz-failures");
    std::fs::create_dir_all(&dir).unwrap();
    let n = std::fs::read_dir(&dir).map(|d| d.count()).unwrap_or(0);
    let path = dir.join(format!("{target}-{n}"));
    std::fs::write(&path, input).unwrap();
    path
}

fn budget() -> Duration {
    let secs = std::env::var("CODA_FUZZ_SECS")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .unwrap_or(10.0);
    Duration::from_secs_f64(secs.clamp(0.0, 86_400.0))
}

fn run(target: &str) {
    let f = coda_fuzz::TARGETS
        .iter()
        .find(|(name, _)| *name == target)
        .map(|&(_, f)| f)
        .unwrap();
    let seeds = corpus(target);
    let dict = dictionary(target);
    let attempt = |input: &[u8]| {
        if catch_unwind(AssertUnwindSafe(|| f(input))).is_err() {
            let path = save_failure(target, input);
            panic!("{target} failed on {} (saved)", path.display());
        }
    };
    for seed in &seeds {
        attempt(seed);
    }
    let (started, budget) = (Instant::now(), budget());
    let mut rng = Rng::new(0xC0DA ^ target.len() as u64);
    let mut runs = 0u64;
    while started.elapsed() < budget {
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, &seeds, &dict, &mut rng);
        attempt(&input);
        runs += 1;
    }
    eprintln!(
        "{target}: {} seeds and {runs} mutations in {:.1} s, no failure",
        seeds.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(budget.is_zero() || runs > 0, "no mutation ran");
}

#[test]
fn audio_decode() {
    run("audio_decode");
}

#[test]
fn multipart_body() {
    run("multipart_body");
}

#[test]
fn json_body() {
    run("json_body");
}

#[test]
fn range_header() {
    run("range_header");
}

#[test]
fn signed_url() {
    run("signed_url");
}

#[test]
fn every_target_has_a_corpus_and_a_libfuzzer_entry() {
    for (name, _) in coda_fuzz::TARGETS {
        assert!(!corpus(name).is_empty());
        let entry = here()
            .join("../../fuzz/fuzz_targets")
            .join(format!("{name}.rs"));
        let text = std::fs::read_to_string(&entry)
            .unwrap_or_else(|_| panic!("no cargo-fuzz target {}", entry.display()));
        assert!(
            text.contains(&format!("coda_fuzz::{name}(")),
            "{}",
            entry.display()
        );
    }
}
