//! Corpus chorales sung by the built-in voice: pitch by Praat, timing from the alignment, onsets by librosa.

use std::path::PathBuf;
use std::sync::OnceLock;

use coda_music::read_score;
use coda_singing::formant::{BuiltinVoice, Performance};
use coda_singing::sing::{plan, Plan, SingOptions};
use coda_vocal::g2p::Dictionary;
use serde_json::json;

use crate::measure::{measure, write_wav};

/// The CMU dictionary `coda models install` put in place.
pub fn dictionary() -> &'static Dictionary {
    static DICT: OnceLock<Dictionary> = OnceLock::new();
    DICT.get_or_init(|| {
        let path = coda_model_runtime::default_models_dir().join("cmudict.dict");
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run `coda models install` (scripts/test.sh does)",
                path.display()
            )
        });
        Dictionary::parse(&text).expect("the CMU dictionary parses")
    })
}

/// The music21 corpus set (scripts/score_corpus.sh).
fn corpus_dir() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("coda-tests/music21-corpus-v1/files/bach")
}

/// The first `n` chorales (by file name) whose first part has lyrics.
fn chorales(n: usize) -> Vec<(String, coda_music::Score)> {
    let dir = corpus_dir();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| {
            panic!(
                "{}: {e}: run scripts/score_corpus.sh (scripts/test.sh does)",
                dir.display()
            )
        })
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .filter(|n| n.ends_with(".mxl") || n.ends_with(".xml"))
        .collect();
    names.sort();
    let mut out = Vec::new();
    for name in names {
        let bytes = std::fs::read(dir.join(&name)).unwrap();
        let Ok(parsed) = read_score(&bytes) else {
            continue;
        };
        let score = parsed.score;
        let has_lyrics = score.parts.first().is_some_and(|p| {
            p.measures
                .iter()
                .flat_map(|m| &m.items)
                .any(|i| matches!(i, coda_music::Item::Note(n) if !n.lyrics.is_empty()))
        });
        if has_lyrics {
            out.push((name, score));
            if out.len() == n {
                break;
            }
        }
    }
    assert_eq!(
        out.len(),
        n,
        "the corpus has fewer than {n} chorales with lyrics"
    );
    out
}

fn render(plan: &Plan) -> Vec<f32> {
    let perf = Performance {
        alignment: &plan.alignment,
        f0: &plan.f0,
        dynamics: &plan.dynamics,
        expression: Default::default(),
        seed: 1,
    };
    BuiltinVoice::new()
        .render(&perf, 2, &|_, _| {}, &|| false)
        .unwrap()
}

#[test]
fn five_chorale_soprano_lines_are_sung_in_tune_and_in_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut requests = Vec::new();
    let mut plans = Vec::new();
    for (name, score) in chorales(5) {
        let plan = plan(&score, dictionary(), &SingOptions::default()).unwrap();
        if std::env::var_os("CODA_DEBUG").is_some() {
            eprintln!("{name}: {:?}", &plan.alignment.phonemes[..4]);
            eprintln!("{:?} {:?}", &plan.dynamics.energy[..12], &plan.f0[..12]);
        }
        let samples = render(&plan);
        assert_eq!(samples.len(), plan.alignment.frames as usize * 512);
        let path = std::env::var_os("CODA_KEEP_WAVS")
            .map_or_else(|| dir.path().to_path_buf(), PathBuf::from)
            .join(format!("{name}.wav"));
        write_wav(&path, &samples);
        requests.push(json!({"op": "pitch", "wav": path, "floor": 100, "ceiling": 1200}));
        requests.push(json!({"op": "rms", "wav": path, "hop": 110}));
        plans.push((name, plan));
    }
    let answers = measure(&json!(requests));
    for (k, (name, plan)) in plans.iter().enumerate() {
        let a = &plan.alignment;
        let fr = a.frame_rate;
        // Timing: every syllable's on-note phoneme starts on its note's frame.
        for n in a.notes.iter().filter(|n| n.midi.is_some() && !n.slur) {
            let p = &a.phonemes[n.first_phoneme];
            assert!(
                p.on_note,
                "{name}: note at frame {} starts with {:?}",
                n.start, p
            );
            assert_eq!(p.start, n.start, "{name}: {:?} vs note {:?}", p, n);
        }
        for (i, n) in plan.line.notes.iter().enumerate() {
            let expect = (n.start_s * fr).round() as u32 + a.offset_frames;
            assert!(a.notes[i].start.abs_diff(expect) <= 1, "{name}: note {i}");
        }
        // Pitch: Praat's f0 within 50 cents of the score on 95 % of voiced frames, 40 ms from note changes.
        let pitch = &answers[2 * k];
        let times = pitch["times"].as_array().unwrap();
        let f0 = pitch["f0"].as_array().unwrap();
        let (mut good, mut total) = (0usize, 0usize);
        for (t, f) in times.iter().zip(f0) {
            let (t, f) = (t.as_f64().unwrap(), f.as_f64().unwrap());
            if f <= 0.0 {
                continue;
            }
            let frame = (t * fr) as u32;
            let Some(note) = a.notes.iter().find(|n| n.start <= frame && frame < n.end) else {
                continue;
            };
            let Some(midi) = note.midi else { continue };
            let near_change = a.notes.iter().any(|n| {
                let at = f64::from(n.start) / fr;
                (t - at).abs() < 0.04
            });
            if near_change {
                continue;
            }
            total += 1;
            let cents = 1200.0 * (f / (440.0 * 2f64.powf((f64::from(midi) - 69.0) / 12.0))).log2();
            if cents.abs() <= 50.0 {
                good += 1;
            }
        }
        let share = good as f64 / total.max(1) as f64;
        println!(
            "{name}: {good}/{total} voiced frames within 50 cents ({:.1} %)",
            100.0 * share
        );
        assert!(total > 500, "{name}: only {total} voiced frames");
        assert!(
            share >= 0.95,
            "{name}: {:.1} % within 50 cents",
            100.0 * share
        );
        // Onsets: the energy rises within 30 ms of each phrase's first phoneme.
        let rms = &answers[2 * k + 1];
        let rt: Vec<f64> = rms["times"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        let rv: Vec<f64> = rms["rms"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_f64().unwrap())
            .collect();
        for (first, last) in a.phrases() {
            let note = &a.notes[first];
            // The phrase's level: the median RMS over its notes; the rise is the first crossing of a tenth of it.
            let (from, to) = (
                f64::from(note.start) / fr,
                f64::from(a.notes[last - 1].end) / fr,
            );
            let mut level: Vec<f64> = rt
                .iter()
                .zip(&rv)
                .filter(|(t, _)| **t >= from && **t < to)
                .map(|(_, v)| *v)
                .collect();
            level.sort_by(|x, y| x.total_cmp(y));
            let threshold = 0.1 * level.get(level.len() / 2).copied().unwrap_or(0.0);
            let ph = a
                .phonemes
                .iter()
                .find(|p| p.word_index.is_some() && p.end > note.start.saturating_sub(30))
                .unwrap();
            let start = ph.start_s;
            let rise = rt
                .iter()
                .zip(&rv)
                .find(|(t, v)| **t > start - 0.2 && **v > threshold)
                .map(|(t, _)| *t)
                .unwrap_or(f64::INFINITY);
            assert!(
                (rise - start).abs() <= 0.03,
                "{name}: phrase at {start:.3} s ({}) rises at {rise:.3} s",
                ph.phone
            );
        }
    }
}

#[test]
fn every_part_of_every_corpus_score_is_planned_without_a_panic() {
    let root = corpus_dir().parent().unwrap().to_path_buf();
    let mut files = Vec::new();
    let mut stack = vec![root];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if p
                .extension()
                .is_some_and(|x| x == "mxl" || x == "xml" || x == "musicxml")
            {
                files.push(p);
            }
        }
    }
    assert!(files.len() > 600, "{} corpus files", files.len());
    let (mut parts, mut sung, mut frames) = (0usize, 0usize, 0u64);
    for f in &files {
        let Ok(parsed) = read_score(&std::fs::read(f).unwrap()) else {
            continue;
        };
        for i in 0..parsed.score.parts.len() {
            parts += 1;
            let options = SingOptions {
                part_index: i,
                ..Default::default()
            };
            match plan(&parsed.score, dictionary(), &options) {
                Ok(p) => {
                    sung += 1;
                    frames += u64::from(p.alignment.frames);
                    // Every frame is covered once, in order, and curves match it.
                    let a = &p.alignment;
                    assert_eq!(
                        a.phonemes.first().map_or(0, |p| p.start),
                        0,
                        "{}",
                        f.display()
                    );
                    for w in a.phonemes.windows(2) {
                        assert_eq!(w[0].end, w[1].start, "{} part {i}", f.display());
                    }
                    assert_eq!(p.f0.len(), a.frames as usize);
                    assert!(
                        p.f0.iter().all(|v| v.is_finite() && *v > 0.0),
                        "{} part {i}",
                        f.display()
                    );
                }
                // Longer than half an hour: a clear error, not a render.
                Err(coda_singing::sing::SingError::Align(
                    coda_vocal::align::AlignError::TooLong { .. },
                )) => {}
                Err(e) => panic!("{} part {i}: {e}", f.display()),
            }
        }
    }
    println!(
        "{sung} of {parts} parts planned, {:.0} minutes",
        frames as f64 / 86.13 / 60.0
    );
}

#[test]
fn progress_counts_phrases_and_a_cancel_stops_between_them() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (name, score) = chorales(1).remove(0);
    let plan = plan(&score, dictionary(), &SingOptions::default()).unwrap();
    let regions = BuiltinVoice::render_regions(&plan.alignment);
    assert!(regions.len() >= 4, "{name}: {} regions", regions.len());
    // They tile the render.
    assert_eq!(regions[0].start, 0);
    for w in regions.windows(2) {
        assert_eq!(w[0].end, w[1].start);
    }
    assert_eq!(
        regions.last().unwrap().end,
        plan.alignment.frames as usize * 512
    );
    let perf = Performance {
        alignment: &plan.alignment,
        f0: &plan.f0,
        dynamics: &plan.dynamics,
        expression: Default::default(),
        seed: 1,
    };
    let calls = AtomicUsize::new(0);
    let voice = BuiltinVoice::new();
    voice
        .render(
            &perf,
            2,
            &|done, total| {
                assert_eq!(total, regions.len());
                assert!(done >= 1 && done <= total);
                calls.fetch_add(1, Ordering::Relaxed);
            },
            &|| false,
        )
        .unwrap();
    assert_eq!(calls.load(Ordering::Relaxed), regions.len());
    // Canceled once the first phrase is done: the render stops with Canceled.
    let done = AtomicUsize::new(0);
    let err = voice
        .render(&perf, 1, &|d, _| done.store(d, Ordering::Relaxed), &|| {
            done.load(Ordering::Relaxed) >= 1
        })
        .unwrap_err();
    assert_eq!(err, coda_singing::formant::RenderError::Canceled);
    assert!(done.load(Ordering::Relaxed) < regions.len());
}
