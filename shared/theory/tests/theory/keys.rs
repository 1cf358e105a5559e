//! The key acceptance against music21, a reference nobody here wrote: on the music21 corpus
//! files whose key the score decides (the final bass note is the tonic of the key signature's
//! major or of its relative minor), Coda's default profile is right on at least 92 %, with
//! music21's own `analyze('key')` on the same files beside it, and every profile measured,
//! with the ending weighted (what Coda runs) and with every note alike (music21's method).
//!
//! `scripts/key_reference.sh` (run by `scripts/test.sh`) prepares the reference with music21
//! 10.5.1 from PyPI into `${XDG_CACHE_HOME:-~/.cache}/coda-tests/key-reference-v1` (or
//! `$CODA_KEY_REFERENCE`) from the score corpus set (`scripts/score_corpus.sh`). Without them
//! this test fails, naming the scripts; it never skips.

use std::path::PathBuf;

use coda_theory::*;
use serde_json::Value;

/// `scripts/key_reference.py`'s `GENERATOR_VERSION`, and the corpus set's.
const KEYS_VERSION: u64 = 1;
const CORPUS_VERSION: u64 = 1;
const SETUP: &str =
    "run scripts/score_corpus.sh and scripts/key_reference.sh (scripts/test.sh does)";
/// The acceptance floor for the default profile.
const FLOOR: f64 = 0.92;

fn cache_dir(var: &str, name: &str) -> PathBuf {
    let env = |n: &str| std::env::var_os(n).filter(|v| !v.is_empty());
    if let Some(dir) = env(var) {
        return dir.into();
    }
    env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("coda-tests")
        .join(name)
}

fn same(key: &Key, v: &Value) -> bool {
    v["tonic_pc"].as_u64() == Some(u64::from(key.tonic_pc)) && v["mode"] == key.mode.name()
}

#[test]
fn the_default_profile_finds_the_corpus_keys_at_least_as_often_as_music21() {
    let corpus = cache_dir(
        "CODA_SCORE_CORPUS",
        &format!("music21-corpus-v{CORPUS_VERSION}"),
    );
    let keys = cache_dir(
        "CODA_KEY_REFERENCE",
        &format!("key-reference-v{KEYS_VERSION}"),
    );
    let path = keys.join("keys.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}: {SETUP}", path.display()));
    let reference: Value = serde_json::from_str(&text).expect("keys.json is JSON");
    assert_eq!(
        reference["generator_version"].as_u64(),
        Some(KEYS_VERSION),
        "{}: another generator's reference: {SETUP}",
        path.display()
    );
    let files = reference["files"].as_object().expect("files");

    let mut decided = 0usize;
    let mut music21_right = 0usize;
    // By profile: with the ending weighted (what Coda runs) and with every note alike.
    let mut right = [0usize; 6];
    let mut plain_right = [0usize; 6];
    // Coda's Aarden–Essen correlation on music21's own histogram against music21's answer:
    // the same weights and method must give the same key (a check of the arithmetic).
    let (mut same_method, mut same_method_of) = (0usize, 0usize);
    let mut wrong_default: Vec<String> = vec![];
    for (name, entry) in files {
        let Some(truth) = entry.get("truth").filter(|t| t.is_object()) else {
            continue;
        };
        if entry.get("error").is_some() {
            continue;
        }
        let file = corpus.join("files").join(name);
        let bytes =
            std::fs::read(&file).unwrap_or_else(|e| panic!("{}: {e}: {SETUP}", file.display()));
        let parsed = coda_music::read_score(&bytes)
            .unwrap_or_else(|e| panic!("{name}: Coda cannot read it: {e}"));
        let notes =
            notes_of_score(&parsed.score).unwrap_or_else(|e| panic!("{name}: no timed notes: {e}"));
        let h = key_histogram(&notes, EndingWeight::default());
        let plain = key_histogram(&notes, EndingWeight::NONE);
        assert_eq!(plain, pitch_class_histogram(&notes, None));
        let fifths = entry["fifths"].as_i64().and_then(|f| i8::try_from(f).ok());
        decided += 1;
        if entry["music21"]["tonic_pc"] == truth["tonic_pc"]
            && entry["music21"]["mode"] == truth["mode"]
        {
            music21_right += 1;
        }
        for (i, profile) in KeyProfile::ALL.into_iter().enumerate() {
            let found = estimate_key(&h, profile, fifths);
            let ok = found.as_ref().is_some_and(|e| same(&e.key, truth));
            right[i] += usize::from(ok);
            plain_right[i] += usize::from(
                estimate_key(&plain, profile, fifths).is_some_and(|e| same(&e.key, truth)),
            );
            if profile == KeyProfile::default() && !ok {
                wrong_default.push(format!(
                    "{name} ({}, found {})",
                    truth["mode"].as_str().unwrap_or("?"),
                    found.map_or("nothing".into(), |e| e.key.name())
                ));
            }
        }
        if let Some(pcs) = entry["pcs"].as_array() {
            let m21: [f64; 12] = std::array::from_fn(|i| pcs[i].as_f64().unwrap_or(0.0));
            if let Some(e) = estimate_key(&m21, KeyProfile::AardenEssen, fifths) {
                same_method_of += 1;
                same_method += usize::from(same(&e.key, &entry["music21"]));
            }
        }
    }
    assert!(decided >= 300, "only {decided} decided files: {SETUP}");
    let pct = |n: usize| 100.0 * n as f64 / decided as f64;
    println!(
        "key against the score's own (signature and final bass), {decided} of {} corpus files decided:",
        files.len()
    );
    println!("| profile | right, ending x4 | % | right, notes alike | % |");
    println!("|---|---|---|---|---|");
    println!(
        "| music21 analyze('key') (Aarden-Essen) | | | {music21_right} | {:.1} |",
        pct(music21_right)
    );
    for (i, profile) in KeyProfile::ALL.into_iter().enumerate() {
        println!(
            "| coda {}{} | {} | {:.1} | {} | {:.1} |",
            profile.name(),
            if profile == KeyProfile::default() {
                " (default)"
            } else {
                ""
            },
            right[i],
            pct(right[i]),
            plain_right[i],
            pct(plain_right[i])
        );
    }
    println!(
        "coda aarden-essen on music21's own histograms gives music21's key on {same_method} of {same_method_of}"
    );
    println!(
        "the default's misses: {}",
        wrong_default
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join(", ")
    );
    let default_right = right[KeyProfile::ALL
        .iter()
        .position(|p| *p == KeyProfile::default())
        .unwrap()];
    assert!(
        pct(default_right) >= FLOOR * 100.0,
        "the default profile is right on {:.1} % (floor {:.0} %)",
        pct(default_right),
        FLOOR * 100.0
    );
    let best = right.iter().max().copied().unwrap_or(0);
    assert_eq!(
        default_right, best,
        "the default is the best profile: {right:?}"
    );
    assert!(
        default_right > music21_right,
        "Coda ({default_right}) beats music21 ({music21_right}) on the same files"
    );
    // With every note alike, Coda's Aarden-Essen is music21's method: the same figure.
    assert_eq!(plain_right[2], music21_right, "{plain_right:?}");
    assert!(
        same_method as f64 >= 0.99 * same_method_of as f64,
        "the same method on the same histogram agrees with music21 on only {same_method} of {same_method_of}"
    );
}
