//! The built-in voice's speed: seconds of audio per second of wall time, on a whole chorale
//! and on a score of at least three minutes (the chorale's measures repeated).
//!
//! With the ONNX Runtime library as a fourth argument it also times the DiffSinger path on the
//! stand-in voicebank (`diffsinger::testing`, every predictor), reporting the time spent outside
//! the models: planning, phrase building, padding, retiming and stitching.
//!
//! `cargo run --release -p coda-singing --example bench_sing -- CHORALE.mxl CMUDICT [RUNS] [LIBONNXRUNTIME]`
//! (`scripts/bench_sing.sh` passes a corpus chorale and the installed files).

use std::time::Instant;

use coda_music::{read_score, Score};
use coda_singing::formant::{BuiltinVoice, Performance};
use coda_singing::sing::{plan, SingOptions};
use coda_vocal::g2p::Dictionary;

fn repeated(score: &Score, seconds: f64, one: f64) -> Score {
    let mut s = score.clone();
    let times = (seconds / one).ceil().max(1.0) as usize;
    for part in &mut s.parts {
        let measures = part.measures.clone();
        for _ in 1..times {
            // Later copies keep the notes and lyrics; their attributes were set by the first.
            part.measures.extend(measures.iter().cloned().map(|mut m| {
                m.attributes = None;
                m
            }));
        }
    }
    s
}

fn bench(name: &str, score: &Score, dict: &Dictionary, voice: &BuiltinVoice, runs: usize) {
    let options = SingOptions::default();
    let mut best = (f64::INFINITY, f64::INFINITY);
    let mut seconds = 0.0;
    for _ in 0..runs {
        let t0 = Instant::now();
        let p = plan(score, dict, &options).expect("plan");
        let t1 = Instant::now();
        let perf = Performance {
            alignment: &p.alignment,
            f0: &p.f0,
            dynamics: &p.dynamics,
            expression: options.expression,
            seed: 1,
        };
        let samples = voice
            .render(&perf, coda_dsp::threads(), &|_, _| {}, &|| false)
            .expect("render");
        let t2 = Instant::now();
        seconds = samples.len() as f64 / 44_100.0;
        let (pl, re) = ((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64());
        if pl + re < best.0 + best.1 {
            best = (pl, re);
        }
    }
    let total = best.0 + best.1;
    println!(
        "{name}: {seconds:.1} s of audio, plan {:.3} s + render {:.3} s = {total:.3} s, {:.0}x real time ({} threads, best of {runs})",
        best.0,
        best.1,
        seconds / total,
        coda_dsp::threads()
    );
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (Some(file), Some(dict)) = (args.get(1), args.get(2)) else {
        eprintln!("usage: bench_sing CHORALE CMUDICT [RUNS]");
        std::process::exit(2);
    };
    let runs: usize = args.get(3).and_then(|r| r.parse().ok()).unwrap_or(3);
    let score = read_score(&std::fs::read(file).expect("read the chorale"))
        .expect("parse")
        .score;
    let t = Instant::now();
    let dict = Dictionary::parse(&std::fs::read_to_string(dict).expect("read the dictionary"))
        .expect("parse the dictionary");
    println!(
        "dictionary parsed in {:.3} s (once per process)",
        t.elapsed().as_secs_f64()
    );
    let voice = BuiltinVoice::new();
    let one = plan(&score, &dict, &SingOptions::default())
        .expect("plan")
        .alignment
        .seconds();
    bench(&format!("chorale {file}"), &score, &dict, &voice, runs);
    let long = repeated(&score, 180.0, one);
    bench(
        "3-minute score (the chorale repeated)",
        &long,
        &dict,
        &voice,
        runs,
    );
    if let Some(runtime) = args.get(4) {
        diffsinger(&score, &dict, std::path::Path::new(runtime), runs);
    }
}

/// The DiffSinger path on the stand-in voicebank: total time and the part inside ONNX Runtime.
fn diffsinger(score: &Score, dict: &Dictionary, runtime: &std::path::Path, runs: usize) {
    use coda_singing::diffsinger::testing::{write_test_voicebank, TestVoicebankOptions};
    use coda_singing::diffsinger::{DsExpression, Voicebank};
    use coda_singing::sing::{plan_for_voicebank, render_with_voicebank};
    let dir = tempfile::tempdir().expect("a temporary folder");
    write_test_voicebank(dir.path(), &TestVoicebankOptions::full()).expect("write the voicebank");
    let vb = Voicebank::load(dir.path(), runtime, &Default::default()).expect("load the voicebank");
    let options = SingOptions::default();
    let mut best = (f64::INFINITY, 0.0, 0.0);
    for _ in 0..runs {
        let before = vb.model_seconds();
        let t0 = Instant::now();
        let mut p = plan_for_voicebank(score, dict, None, &options).expect("plan");
        let samples =
            render_with_voicebank(&mut p, &vb, DsExpression::default(), &|_, _| {}, &|| false)
                .expect("render");
        let total = t0.elapsed().as_secs_f64();
        let models = vb.model_seconds() - before;
        if total < best.0 {
            best = (total, models, samples.len() as f64 / 44_100.0);
        }
    }
    let (total, models, seconds) = best;
    println!(
        "DiffSinger path (stand-in voicebank, every predictor): {seconds:.1} s of audio in {total:.3} s, of which {models:.3} s in ONNX Runtime and {:.3} s outside the models ({:.1} ms per second of audio; best of {runs})",
        total - models,
        1000.0 * (total - models) / seconds.max(1e-9)
    );
}
