//! The `separate` job and `coda separate`: the built-in separator on a rendered
//! multitrack piece, and the HT-Demucs path on a generated ONNX graph with known gains.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use coda_separation::htdemucs::CHUNK;
use coda_separation::onnx_graph::gain_model;
use serde_json::{json, Value};

use crate::helpers::{
    coda, not_audio_wav, spawn_app, spawn_app_with, test_config, tone_wav, TestApp,
};
use crate::process::{get_bytes, serve, upload_and_wait};

const STEMS: [&str; 4] = ["vocals", "drums", "bass", "other"];
/// Gains of the test graph, in demucs' model order: drums, bass, other, vocals; (left, right).
const GAINS: [[f32; 2]; 4] = [[0.1, 0.2], [0.3, 0.4], [0.5, 0.6], [0.7, 0.8]];

/// Gain of each stem in output order (vocals, drums, bass, other) for one channel.
fn gain_of(stem: &str, channel: usize) -> f32 {
    let model_index = match stem {
        "drums" => 0,
        "bass" => 1,
        "other" => 2,
        _ => 3,
    };
    GAINS[model_index][channel]
}

/// A piece of the rendered set (`scripts/separation_set.sh`): 20.7 s, 44.1 kHz stereo float.
fn rendered_mixture() -> PathBuf {
    let set = coda_dsp::testing::separation_set_dir();
    let path = set.join("bwv267/mixture.wav");
    assert!(
        path.is_file(),
        "{} is missing: scripts/separation_set.sh renders it",
        path.display()
    );
    path
}

fn noise(n: usize, seed: u32, gain: f32) -> Vec<f32> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            gain * ((s >> 8) as f32 / (1u32 << 24) as f32 - 0.5)
        })
        .collect()
}

fn decode(bytes: &[u8]) -> coda_audio::DecodedAudio {
    coda_audio::decode(bytes, None).expect("a stem decodes")
}

/// Output `i` of `job`, fetched through the blob API and decoded.
async fn output_audio(
    app: &TestApp,
    user: &str,
    job: &Value,
    i: usize,
) -> coda_audio::DecodedAudio {
    let key = job["outputs"][i]["key"].as_str().unwrap();
    let bytes = app
        .get(user, &format!("/v1/blobs/{key}"))
        .await
        .bytes()
        .await
        .unwrap();
    decode(&bytes)
}

fn max_abs_diff(a: &[f32], b: &[f32]) -> f32 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_job_through_coda_serve_gives_four_stems_that_sum_to_the_mixture() {
    let data = tempfile::tempdir().unwrap();
    let s = serve(data.path());
    let c = reqwest::Client::new();
    let wav = std::fs::read(rendered_mixture()).unwrap();
    let mixture = decode(&wav);

    let (job, seen_progress) = upload_and_wait(&c, &s, "chorale.wav", wav, "separate").await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "separate");
    assert!(
        seen_progress.windows(2).all(|w| w[0] <= w[1]),
        "progress went down: {seen_progress:?}"
    );
    let names: Vec<&str> = job["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "vocals.wav",
            "drums.wav",
            "bass.wav",
            "other.wav",
            "stems.png"
        ]
    );
    let mut sum = vec![0.0f32; mixture.samples.len()];
    for i in 0..4 {
        let (ct, bytes) = get_bytes(&c, job["outputs"][i]["url"].as_str().unwrap()).await;
        assert_eq!(ct, "audio/wav");
        let stem = decode(&bytes);
        assert_eq!((stem.sample_rate, stem.channels), (44_100, 2));
        assert_eq!(stem.samples.len(), mixture.samples.len());
        let rms =
            (stem.samples.iter().map(|x| x * x).sum::<f32>() / stem.samples.len() as f32).sqrt();
        assert!(rms > 1e-3, "{} is silent", names[i]);
        for (acc, x) in sum.iter_mut().zip(&stem.samples) {
            *acc += x;
        }
    }
    let err = max_abs_diff(&sum, &mixture.samples);
    assert!(err < 1e-5, "stems do not add up to the mixture: {err}");
    let (ct, png) = get_bytes(&c, job["outputs"][4]["url"].as_str().unwrap()).await;
    assert_eq!(ct, "image/png");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_formats_bad_input_and_params() {
    let app = spawn_app().await;

    // FLAC keeps an unusual rate and a mono layout.
    let mono = coda_audio::wav_bytes_f32(&noise(48_000 * 3, 4, 0.5), 48_000, 1);
    let key = app.stored_input("ann", "mono.wav", mono.clone()).await;
    let id = app
        .submit_with("ann", "separate", &key, json!({"format": "flac"}))
        .await;
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let input = decode(&mono);
    let mut sum = vec![0.0f32; input.samples.len()];
    for (i, stem) in STEMS.iter().enumerate() {
        let output = &job["outputs"][i];
        assert_eq!(output["name"], format!("{stem}.flac"));
        let r = app
            .get(
                "ann",
                &format!("/v1/blobs/{}", output["key"].as_str().unwrap()),
            )
            .await;
        assert_eq!(r.headers()["content-type"], "audio/flac");
        let audio = decode(&r.bytes().await.unwrap());
        assert_eq!(
            (audio.sample_rate, audio.channels, audio.codec.as_str()),
            (48_000, 1, "flac")
        );
        assert_eq!(audio.samples.len(), input.samples.len());
        for (acc, x) in sum.iter_mut().zip(&audio.samples) {
            *acc += x;
        }
    }
    // 24-bit quantisation of four stems.
    let err = max_abs_diff(&sum, &input.samples);
    assert!(err < 1e-5, "FLAC stems do not add up: {err}");

    // Silence separates into silence.
    let silence = tone_wav(440.0, 0.0, 2.0, 44_100, 2);
    let key = app.stored_input("ann", "silence.wav", silence).await;
    let id = app.submit("ann", "separate", &key).await;
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["outputs"].as_array().unwrap().len(), 5);
    for i in 0..4 {
        let audio = output_audio(&app, "ann", &job, i).await;
        assert_eq!(audio.samples.len(), 2 * 88_200);
        assert!(
            audio.samples.iter().all(|x| *x == 0.0),
            "stem {i} is not silent"
        );
    }

    // Not audio: permanent, first attempt.
    let key = app.stored_input("ann", "fake.wav", not_audio_wav()).await;
    let id = app.submit("ann", "separate", &key).await;
    app.failed_once("ann", &id, "INVALID_AUDIO").await;

    // HT-Demucs without a model file: a permanent failure that says what to do.
    let id = app
        .submit_with("ann", "separate", &key, json!({"model": "htdemucs"}))
        .await;
    let job = app.wait_ended("ann", &id).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "MODEL_NOT_INSTALLED", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("htdemucs_model"),
        "{job}"
    );
    assert_eq!(job["attempts"], 1);

    // Parameters are checked at submit time.
    for params in [
        json!({"model": "spleeter"}),
        json!({"format": "mp3"}),
        json!({"stems": 2}),
        json!({"model": "htdemucs", "vocal_method": "centre"}),
    ] {
        let r = app
            .post_json(
                "ann",
                "/v1/jobs",
                json!({"kind": "separate", "input_key": key, "params": params}),
            )
            .await;
        assert_eq!(r.status(), 422, "{params}");
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["error"]["code"], "INVALID_PARAMS", "{body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_job_runs_an_htdemucs_onnx_export() {
    let models = tempfile::tempdir().unwrap();
    let graph = models.path().join("gains.onnx");
    std::fs::write(&graph, gain_model(&GAINS, CHUNK)).unwrap();
    let mut settings = coda::config::model_settings(&test_config(Path::new(".")));
    settings.htdemucs_model = Some(graph);
    let runners = coda_jobs::builtin_runners(Arc::new(coda_jobs::SharedModel::new(settings)));
    let app = spawn_app_with(|_| {}, runners).await;

    // 20 s of stereo at 44.1 kHz: three model chunks with cross-fades between them.
    let frames = 44_100 * 20;
    let input = noise(frames * 2, 8, 0.5);
    let key = app
        .stored_input(
            "cy",
            "mix.wav",
            coda_audio::wav_bytes_f32(&input, 44_100, 2),
        )
        .await;
    let id = app
        .submit_with("cy", "separate", &key, json!({"model": "htdemucs"}))
        .await;
    let job = app.wait_ended("cy", &id).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    for (i, stem) in STEMS.iter().enumerate() {
        let audio = output_audio(&app, "cy", &job, i).await;
        assert_eq!((audio.sample_rate, audio.channels), (44_100, 2));
        let expected: Vec<f32> = input
            .iter()
            .enumerate()
            .map(|(j, x)| x * gain_of(stem, j % 2))
            .collect();
        let err = max_abs_diff(&audio.samples, &expected);
        assert!(err < 1e-5, "{stem}: max error {err}");
    }
}

#[test]
fn coda_separate_writes_the_stems_quietly_when_piped() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mix.wav");
    // Band-limited (tones well below 11 kHz), so resampling round trips are transparent.
    let samples: Vec<f32> = (0..22_050 * 4 * 2)
        .map(|j| {
            let t = (j / 2) as f32 / 22_050.0;
            let f = if j % 2 == 0 { 220.0 } else { 330.0 };
            0.2 * (2.0 * std::f32::consts::PI * f * t).sin()
                + 0.1 * (2.0 * std::f32::consts::PI * 3_000.0 * t).sin()
        })
        .collect();
    std::fs::write(&input, coda_audio::wav_bytes_f32(&samples, 22_050, 2)).unwrap();

    // The built-in separator.
    let out = dir.path().join("dsp");
    let run = coda()
        .arg("separate")
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.trim().is_empty(), "stderr: {stderr:?}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    for name in [
        "vocals.wav",
        "drums.wav",
        "bass.wav",
        "other.wav",
        "stems.png",
    ] {
        assert!(stdout.contains(name), "{stdout}");
        assert!(out.join(name).is_file(), "{name}");
    }
    let mut sum = vec![0.0f32; samples.len()];
    for stem in STEMS {
        let audio = decode(&std::fs::read(out.join(format!("{stem}.wav"))).unwrap());
        assert_eq!((audio.sample_rate, audio.channels), (22_050, 2));
        for (acc, x) in sum.iter_mut().zip(&audio.samples) {
            *acc += x;
        }
    }
    assert!(max_abs_diff(&sum, &samples) < 1e-5);

    // HT-Demucs from --model-path, at a rate that needs resampling both ways.
    let graph = dir.path().join("gains.onnx");
    std::fs::write(&graph, gain_model(&GAINS, CHUNK)).unwrap();
    let out = dir.path().join("demucs");
    let run = coda()
        .args(["separate", "--model", "htdemucs", "--format", "flac"])
        .arg("--model-path")
        .arg(&graph)
        .arg(&input)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    for stem in STEMS {
        let audio = decode(&std::fs::read(out.join(format!("{stem}.flac"))).unwrap());
        assert_eq!((audio.sample_rate, audio.channels), (22_050, 2));
        assert_eq!(audio.samples.len(), samples.len());
        // Away from the edges the resampling round trip is transparent for this signal's band.
        let (mut signal, mut error) = (0.0f64, 0.0f64);
        for (j, (got, x)) in audio.samples.iter().zip(&samples).enumerate().skip(4410) {
            let want = x * gain_of(stem, j % 2);
            signal += f64::from(want * want);
            error += f64::from((got - want) * (got - want));
        }
        let snr = 10.0 * (signal / error.max(1e-20)).log10();
        assert!(snr > 30.0, "{stem}: {snr:.1} dB");
    }
}

#[test]
fn coda_separate_errors_name_the_cause() {
    let dir = tempfile::tempdir().unwrap();
    let input = dir.path().join("mix.wav");
    std::fs::write(&input, tone_wav(440.0, 0.5, 1.0, 44_100, 2)).unwrap();

    let run = coda()
        .args(["separate", "--model", "htdemucs", "--model-path"])
        .arg(dir.path().join("missing.onnx"))
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(
        stderr.contains("MODEL_NOT_INSTALLED") && stderr.contains("missing.onnx"),
        "{stderr}"
    );

    // A file that is not an HT-Demucs export.
    let bogus = dir.path().join("bogus.onnx");
    std::fs::write(&bogus, b"not a model").unwrap();
    let run = coda()
        .args(["separate", "--model", "htdemucs", "--model-path"])
        .arg(&bogus)
        .arg(&input)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(stderr.contains("bogus.onnx"), "{stderr}");

    // A model file with the built-in separator is a contradiction, not something to ignore.
    let run = coda()
        .args(["separate", "--model", "dsp", "--model-path", "x.onnx"])
        .arg(&input)
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("--model-path"));

    let text = dir.path().join("notes.txt");
    std::fs::write(&text, "not audio at all").unwrap();
    let run = coda()
        .arg("separate")
        .arg(&text)
        .arg("--out")
        .arg(dir.path().join("out"))
        .output()
        .unwrap();
    assert!(!run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("INVALID_AUDIO"));
    assert!(!dir.path().join("out").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn separate_refuses_input_longer_than_the_limit() {
    let mut settings = coda::config::model_settings(&test_config(Path::new(".")));
    settings.separate_max_seconds = 2.0;
    let runners = coda_jobs::builtin_runners(Arc::new(coda_jobs::SharedModel::new(settings)));
    let app = spawn_app_with(|_| {}, runners).await;
    let key = app
        .stored_input("dee", "long.wav", tone_wav(440.0, 0.5, 3.0, 22_050, 1))
        .await;
    let id = app.submit("dee", "separate", &key).await;
    let job = app.failed_once("dee", &id, "AUDIO_TOO_LONG").await;
    assert!(job["outputs"].as_array().unwrap().is_empty());
}
