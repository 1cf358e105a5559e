//! Checks the Basic Pitch port against upstream's golden output (see tests/data/basic-pitch/README.md).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use coda_model_runtime::install::locate;
use coda_transcription as basic_pitch;
use coda_transcription::{infer, posteriorgrams_to_notes, Device};
use coda_transcription::{
    notes_to_midi, to_model_input, transcribe, BasicPitchModel, GraphForm, ModelError, NoteEvent,
    Posteriorgrams, RuntimeOptions, TranscribeParams,
};
use ndarray::Array2;
use serde::Deserialize;

const FRAMES: usize = 782;
/// One model frame: the onset tolerance the fixture README suggests for a different resampler.
const FRAME_S: f64 = 0.0116;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/basic-pitch")
        .join(name)
}

fn models_dir() -> PathBuf {
    coda_model_runtime::default_models_dir()
}

fn model() -> &'static BasicPitchModel {
    static MODEL: OnceLock<BasicPitchModel> = OnceLock::new();
    MODEL.get_or_init(|| {
        let dir = models_dir();
        let installed = locate(&dir).unwrap_or_else(|e| {
            panic!(
                "Basic Pitch is not installed in {}: {e}\n\
                 run `cargo run -- models install` / scripts/test.sh",
                dir.display()
            )
        });
        BasicPitchModel::load(
            &installed,
            &RuntimeOptions {
                intra_threads: 2,
                cuda: false,
            },
        )
        .expect("load nmp.onnx")
    })
}

fn read_f32le(name: &str) -> Vec<f32> {
    let bytes = std::fs::read(data(name)).expect("fixture");
    bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect()
}

fn read_gram(name: &str, bins: usize) -> Array2<f32> {
    Array2::from_shape_vec((FRAMES, bins), read_f32le(name)).expect("fixture shape")
}

fn upstream_posteriorgrams() -> Posteriorgrams {
    Posteriorgrams {
        note: read_gram("vocadito_10.note.782x88.f32le", 88),
        onset: read_gram("vocadito_10.onset.782x88.f32le", 88),
        contour: read_gram("vocadito_10.contour.782x264.f32le", 264),
    }
}

#[derive(Debug, Deserialize)]
struct UpstreamNote {
    start_s: f64,
    end_s: f64,
    pitch_midi: u8,
    amplitude: f64,
    pitch_bends: Vec<i32>,
}

fn upstream_notes() -> Vec<UpstreamNote> {
    let json = std::fs::read(data("vocadito_10.note_events.json")).expect("fixture");
    serde_json::from_slice(&json).expect("note events json")
}

fn max_abs_diff(a: &Array2<f32>, b: &Array2<f32>) -> f32 {
    assert_eq!(a.dim(), b.dim());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| (x - y).abs())
        .fold(0.0, f32::max)
}

fn no_progress() -> impl FnMut(usize, usize) {
    |_, _| {}
}

fn never() -> bool {
    false
}

/// Compares notes with upstream's: same count and pitches, times and amplitudes within 1e-4,
/// bends exactly equal.
fn assert_notes_equal_upstream(ours: &[NoteEvent], what: &str) {
    let want = upstream_notes();
    assert_eq!(ours.len(), want.len(), "{what}: note count");
    for (i, (o, w)) in ours.iter().zip(&want).enumerate() {
        assert_eq!(o.pitch_midi, w.pitch_midi, "{what}: note {i} pitch");
        assert!(
            (o.start_s - w.start_s).abs() < 1e-4,
            "{what}: note {i} start {} vs {}",
            o.start_s,
            w.start_s
        );
        assert!(
            (o.end_s - w.end_s).abs() < 1e-4,
            "{what}: note {i} end {} vs {}",
            o.end_s,
            w.end_s
        );
        assert!(
            (o.amplitude - w.amplitude).abs() < 1e-4,
            "{what}: note {i} amplitude {} vs {}",
            o.amplitude,
            w.amplitude
        );
        assert_eq!(o.pitch_bends, w.pitch_bends, "{what}: note {i} pitch bends");
    }
}

#[test]
fn posteriorgrams_match_upstream_within_1e4() {
    let audio = read_f32le("vocadito_10.22050hz.f32le");
    assert_eq!(audio.len(), 200_607);
    let want = upstream_posteriorgrams();
    for batch in [8, 1] {
        let mut calls = Vec::new();
        let (ours, stats) = infer(
            model(),
            &audio,
            batch,
            &mut |done, total| calls.push((done, total)),
            &never,
        )
        .expect("inference");
        assert_eq!(ours.n_frames(), FRAMES);
        assert_eq!(stats.windows, 6);
        assert_eq!(calls.first(), Some(&(0, 6)));
        assert_eq!(calls.last(), Some(&(6, 6)));
        assert!(calls.windows(2).all(|w| w[0].0 < w[1].0));
        let diffs = [
            max_abs_diff(&ours.note, &want.note),
            max_abs_diff(&ours.onset, &want.onset),
            max_abs_diff(&ours.contour, &want.contour),
        ];
        eprintln!(
            "batch {batch}: max |diff| note {:.3e}, onset {:.3e}, contour {:.3e}",
            diffs[0], diffs[1], diffs[2]
        );
        for (name, diff) in ["note", "onset", "contour"].iter().zip(diffs) {
            assert!(
                diff < 1e-4,
                "batch {batch}: {name} posteriorgram differs from upstream by up to {diff:e}"
            );
        }
    }
}

#[test]
fn the_folded_graph_is_used_and_computes_what_the_published_one_does() {
    assert_eq!(model().graph(), &GraphForm::Folded);
    let installed = locate(&models_dir()).expect("installed (see model())");
    let published = BasicPitchModel::load_as_published(
        &installed,
        &RuntimeOptions {
            intra_threads: 2,
            cuda: false,
        },
    )
    .expect("load nmp.onnx as published");
    assert_eq!(published.graph(), &GraphForm::AsPublished);
    // Real music, a loud square wave (large activations everywhere) and silence, in one batch.
    let audio = read_f32le("vocadito_10.22050hz.f32le");
    let mut input = audio[..basic_pitch::WINDOW_SAMPLES].to_vec();
    input
        .extend((0..basic_pitch::WINDOW_SAMPLES).map(|i| if i / 50 % 2 == 0 { 0.9 } else { -0.9 }));
    input.extend(std::iter::repeat_n(0.0, basic_pitch::WINDOW_SAMPLES));
    let folded = model().run(&input, 3).expect("folded run");
    let original = published.run(&input, 3).expect("published run");
    for (name, a, b) in [
        ("note", &folded.note, &original.note),
        ("onset", &folded.onset, &original.onset),
        ("contour", &folded.contour, &original.contour),
    ] {
        assert_eq!(a.len(), b.len());
        let max = a
            .iter()
            .zip(b)
            .map(|(x, y)| (x - y).abs())
            .fold(0.0f32, f32::max);
        assert!(
            max < 1e-5,
            "{name}: folded and published graphs differ by {max:e}"
        );
        // Not trivially equal because both are constant: the windows differ.
        assert!(a.iter().any(|&v| v > 0.5), "{name}: no activation at all");
    }
}

#[test]
fn another_model_file_is_loaded_unfolded_and_says_why() {
    let installed = locate(&models_dir()).expect("installed (see model())");
    // nmp.onnx with a doc string appended: a valid model, but not the published bytes.
    let mut bytes = std::fs::read(&installed.basic_pitch).expect("nmp.onnx");
    bytes.extend_from_slice(&[0x32, 4, b'c', b'o', b'd', b'a']);
    let path = std::env::temp_dir().join(format!("coda-nmp-variant-{}.onnx", std::process::id()));
    std::fs::write(&path, &bytes).expect("write variant");
    let variant = coda_transcription::Installed {
        basic_pitch: path.clone(),
        ..installed
    };
    let loaded = BasicPitchModel::load(
        &variant,
        &RuntimeOptions {
            intra_threads: 1,
            cuda: false,
        },
    );
    std::fs::remove_file(&path).ok();
    let loaded = loaded.expect("the variant loads as it is");
    match loaded.graph() {
        GraphForm::Unfoldable(why) => assert!(why.contains("not basic-pitch 0.4.0"), "{why}"),
        other => panic!("expected Unfoldable, got {other:?}"),
    }
    let out = loaded
        .run(&vec![0.0; basic_pitch::WINDOW_SAMPLES], 1)
        .expect("run");
    assert_eq!(out.contour.len(), 172 * 264);
}

#[test]
fn notes_from_upstream_posteriorgrams_equal_upstream_notes() {
    let notes = posteriorgrams_to_notes(&upstream_posteriorgrams(), &TranscribeParams::default())
        .expect("notes");
    assert_notes_equal_upstream(&notes, "upstream posteriorgrams");
}

#[test]
fn midi_is_byte_identical_to_upstream_and_parses_back() {
    let notes = posteriorgrams_to_notes(&upstream_posteriorgrams(), &TranscribeParams::default())
        .expect("notes");
    let bytes = notes_to_midi(&notes, 120.0).expect("midi");
    let upstream = std::fs::read(data("vocadito_10.basic_pitch.mid")).expect("fixture");
    assert_eq!(
        bytes.len(),
        upstream.len(),
        "MIDI size differs from pretty_midi's"
    );
    if let Some(at) = bytes.iter().zip(&upstream).position(|(a, b)| a != b) {
        panic!("MIDI differs from pretty_midi's output at byte {at}");
    }

    let smf = midly::Smf::parse(&bytes).expect("our MIDI parses");
    assert_eq!(smf.header.timing, midly::Timing::Metrical(220.into()));
    assert_eq!(smf.tracks.len(), 2);
    // Rebuild (start tick, end tick, key, velocity) from the note-on/off pairs.
    let mut tick = 0u64;
    let mut open: std::collections::HashMap<u8, (u64, u8)> = Default::default();
    let mut parsed = Vec::new();
    let mut bends = 0;
    for event in &smf.tracks[1] {
        tick += u64::from(event.delta.as_int());
        if let midly::TrackEventKind::Midi { message, .. } = event.kind {
            match message {
                midly::MidiMessage::NoteOn { key, vel } if vel.as_int() > 0 => {
                    open.insert(key.as_int(), (tick, vel.as_int()));
                }
                midly::MidiMessage::NoteOn { key, .. }
                | midly::MidiMessage::NoteOff { key, .. } => {
                    let (start, vel) = open.remove(&key.as_int()).expect("note-off after note-on");
                    parsed.push((start, tick, key.as_int(), vel));
                }
                midly::MidiMessage::PitchBend { .. } => bends += 1,
                midly::MidiMessage::ProgramChange { program } => assert_eq!(program.as_int(), 4),
                _ => {}
            }
        }
    }
    parsed.sort();
    assert_eq!(parsed.len(), notes.len());
    for (p, n) in parsed.iter().zip(&notes) {
        // 120 bpm at 220 ticks per beat: 440 ticks per second.
        assert_eq!(p.0, (n.start_s * 440.0).round() as u64);
        assert_eq!(p.1, (n.end_s * 440.0).round() as u64);
        assert_eq!(p.2, n.pitch_midi);
        assert_eq!(p.3, n.velocity);
    }
    let total_bends: usize = notes.iter().map(|n| n.pitch_bends.len()).sum();
    assert_eq!(
        bends, total_bends,
        "the notes do not overlap, so all bends are kept"
    );
}

#[test]
fn full_pipeline_on_upstream_input_reproduces_upstream_notes() {
    let audio = read_f32le("vocadito_10.22050hz.f32le");
    let result = transcribe(
        model(),
        &audio,
        &TranscribeParams::default(),
        &mut no_progress(),
        &never,
    )
    .expect("transcribe");
    assert_notes_equal_upstream(&result.notes, "our posteriorgrams");
    assert!(result.stats.model_time <= result.stats.inference_time);
}

#[test]
fn from_the_wav_with_our_resampler_every_upstream_note_is_found() {
    let mut reader = hound::WavReader::open(data("vocadito_10.wav")).expect("wav");
    let spec = reader.spec();
    assert_eq!(
        (spec.sample_rate, spec.channels, spec.bits_per_sample),
        (44_100, 1, 16)
    );
    let pcm: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    let audio = to_model_input(&pcm, spec.sample_rate, spec.channels).expect("resample");
    assert_eq!(audio.len(), 200_607, "same length as librosa's resampling");

    let reference = read_f32le("vocadito_10.22050hz.f32le");
    let resample_diff = audio
        .iter()
        .zip(&reference)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    eprintln!("resampler vs librosa soxr_hq: max |diff| {resample_diff:.3e}");
    assert!(
        resample_diff < 0.05,
        "resampled signal strays from librosa's: {resample_diff}"
    );

    let result = transcribe(
        model(),
        &audio,
        &TranscribeParams::default(),
        &mut no_progress(),
        &never,
    )
    .expect("transcribe");
    let want = upstream_notes();
    let mut used = vec![false; result.notes.len()];
    for w in &want {
        let found = result.notes.iter().enumerate().position(|(i, o)| {
            !used[i] && o.pitch_midi == w.pitch_midi && (o.start_s - w.start_s).abs() <= FRAME_S
        });
        match found {
            Some(i) => used[i] = true,
            None => panic!(
                "upstream note {w:?} has no match (same pitch, onset within {FRAME_S} s) among {:?}",
                result.notes
            ),
        }
    }
    let extra = used.iter().filter(|u| !**u).count();
    eprintln!(
        "from the wav: {} upstream notes all matched; {extra} extra notes of {}",
        want.len(),
        result.notes.len()
    );
    assert!(extra <= 3, "{extra} extra notes");
}

#[test]
fn silence_gives_no_notes() {
    let silence = vec![0.0f32; 22_050 * 3];
    let result = transcribe(
        model(),
        &silence,
        &TranscribeParams::default(),
        &mut no_progress(),
        &never,
    )
    .expect("silence is not an error");
    assert!(result.notes.is_empty(), "{:?}", result.notes);
    assert_eq!(
        result.posteriorgrams.n_frames(),
        basic_pitch::frame_count(silence.len())
    );
    let midi = notes_to_midi(&result.notes, 120.0).expect("midi");
    assert_eq!(midly::Smf::parse(&midi).expect("parses").tracks.len(), 1);
}

#[test]
fn a_tenth_of_a_second_works() {
    let clip: Vec<f32> = (0..2_205)
        .map(|i| 0.5 * (2.0 * std::f32::consts::PI * 440.0 * i as f32 / 22_050.0).sin())
        .collect();
    let result = transcribe(
        model(),
        &clip,
        &TranscribeParams::default(),
        &mut no_progress(),
        &never,
    )
    .expect("short clip");
    assert_eq!(result.posteriorgrams.n_frames(), 8);
    assert_eq!(result.stats.windows, 1);
    // Too short for the 11-frame minimum note length.
    assert!(result.notes.is_empty());

    // Shorter than one frame: nothing to run, nothing found, no error.
    let tiny = transcribe(
        model(),
        &clip[..100],
        &TranscribeParams::default(),
        &mut no_progress(),
        &never,
    )
    .expect("tiny clip");
    assert_eq!(tiny.posteriorgrams.n_frames(), 0);
    assert!(tiny.notes.is_empty());
}

#[test]
fn a_sung_tone_is_transcribed_at_its_pitch() {
    // One second of A3 (220 Hz, MIDI 57) with a few harmonics.
    let tone: Vec<f32> = (0..22_050 * 2)
        .map(|i| {
            let t = i as f32 / 22_050.0;
            let env = if t < 1.5 { 1.0 } else { 0.0 };
            env * (1..=4)
                .map(|h| 0.3 / h as f32 * (2.0 * std::f32::consts::PI * 220.0 * h as f32 * t).sin())
                .sum::<f32>()
        })
        .collect();
    let result = transcribe(
        model(),
        &tone,
        &TranscribeParams::default(),
        &mut no_progress(),
        &never,
    )
    .expect("tone");
    assert!(
        result
            .notes
            .iter()
            .any(|n| n.pitch_midi == 57 && n.start_s < 0.1 && n.end_s > 1.3),
        "{:?}",
        result.notes
    );
}

#[test]
fn non_finite_and_empty_audio_are_rejected_without_panic() {
    let params = TranscribeParams::default();
    for bad in [vec![0.0, f32::NAN, 0.0], vec![f32::INFINITY; 10], vec![]] {
        let err = transcribe(model(), &bad, &params, &mut no_progress(), &never).unwrap_err();
        assert!(matches!(err, ModelError::InvalidAudio(_)), "{err:?}");
    }
    assert!(matches!(
        to_model_input(&[0.1, f32::NEG_INFINITY], 44_100, 1),
        Err(ModelError::InvalidAudio(_))
    ));
}

#[test]
fn cancel_stops_between_batches() {
    let audio = vec![0.0f32; 22_050 * 10];
    let mut seen = Vec::new();
    let calls = std::cell::Cell::new(0);
    let cancel = || {
        calls.set(calls.get() + 1);
        calls.get() > 1
    };
    let params = TranscribeParams {
        batch_size: 2,
        ..TranscribeParams::default()
    };
    let err = transcribe(
        model(),
        &audio,
        &params,
        &mut |done, total| seen.push((done, total)),
        &cancel,
    )
    .unwrap_err();
    assert!(matches!(err, ModelError::Canceled), "{err:?}");
    // One batch of two windows ran before the check said stop.
    assert_eq!(seen.last().map(|p| p.0), Some(2));
}

#[test]
fn the_model_is_shared_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<BasicPitchModel>();
    assert_eq!(model().device(), Device::Cpu);
    let audio = read_f32le("vocadito_10.22050hz.f32le");
    let clip = &audio[..22_050 * 3];
    let results: Vec<usize> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2)
            .map(|_| {
                s.spawn(|| {
                    transcribe(
                        model(),
                        clip,
                        &TranscribeParams::default(),
                        &mut no_progress(),
                        &never,
                    )
                    .expect("transcribe")
                    .notes
                    .len()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("thread"))
            .collect()
    });
    assert_eq!(results[0], results[1]);
    assert!(results[0] > 0);
}

#[test]
fn asking_for_cuda_on_the_cpu_runtime_falls_back_to_the_cpu() {
    // The pinned wheel is the CPU build: it has no CUDA provider, so the request must not fail.
    let installed = locate(&models_dir()).expect("installed (see model())");
    let _ = model();
    let cuda = BasicPitchModel::load(
        &installed,
        &RuntimeOptions {
            intra_threads: 1,
            cuda: true,
        },
    )
    .expect("a CUDA request on a CPU runtime still loads");
    assert_eq!(cuda.device(), Device::Cpu);
    let out = cuda
        .run(&vec![0.0; basic_pitch::WINDOW_SAMPLES], 1)
        .expect("run");
    assert_eq!(out.note.len(), 172 * 88);
    assert_eq!(out.contour.len(), 172 * 264);
}
