//! Transcribes a long signal (the vocadito clip tiled to over three minutes) and
//! reports where the time goes: `cargo bench -p coda-transcription`.

use std::path::{Path, PathBuf};
use std::time::Instant;

use coda_model_runtime::locate;
use coda_transcription::SAMPLE_RATE;
use coda_transcription::{
    notes_to_midi, to_model_input, transcribe, BasicPitchModel, RuntimeOptions, TranscribeParams,
};

const MIN_SECONDS: f64 = 180.0;

fn models_dir() -> PathBuf {
    coda_model_runtime::default_models_dir()
}

fn main() {
    // `cargo bench` passes `--bench`; any other argument is a filter we have nothing for.
    let dir = models_dir();
    let installed = match locate(&dir) {
        Ok(installed) => installed,
        Err(e) => {
            eprintln!("{e}\nrun `cargo run -- models install` / scripts/test.sh");
            std::process::exit(1);
        }
    };
    let options = RuntimeOptions::default();
    let load_started = Instant::now();
    let model = BasicPitchModel::load(&installed, &options).expect("load nmp.onnx");
    let load_time = load_started.elapsed();

    let wav = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/basic-pitch/vocadito_10.wav");
    let mut reader = hound::WavReader::open(&wav).expect("vocadito wav");
    let spec = reader.spec();
    let clip: Vec<f32> = reader
        .samples::<i16>()
        .map(|s| f32::from(s.expect("sample")) / 32768.0)
        .collect();
    let clip_seconds = clip.len() as f64 / f64::from(spec.sample_rate) / f64::from(spec.channels);
    let copies = (MIN_SECONDS / clip_seconds).ceil() as usize;
    let pcm: Vec<f32> = clip
        .iter()
        .copied()
        .cycle()
        .take(clip.len() * copies)
        .collect();
    let seconds = pcm.len() as f64 / f64::from(spec.sample_rate) / f64::from(spec.channels);

    // CODA_BENCH_BATCH overrides the batch size, to compare batching choices.
    let mut params = TranscribeParams::default();
    if let Some(batch) = std::env::var("CODA_BENCH_BATCH")
        .ok()
        .and_then(|b| b.parse().ok())
    {
        params.batch_size = batch;
    }
    let started = Instant::now();
    let audio = to_model_input(&pcm, spec.sample_rate, spec.channels).expect("resample");
    let resample_time = started.elapsed();
    let result =
        transcribe(&model, &audio, &params, &mut |_, _| {}, &|| false).expect("transcribe");
    let midi_started = Instant::now();
    let midi = notes_to_midi(&result.notes, params.midi_tempo).expect("midi");
    let midi_time = midi_started.elapsed();
    let whole = started.elapsed();

    let stats = result.stats;
    let secs = |d: std::time::Duration| d.as_secs_f64();
    println!(
        "basic pitch benchmark ({} intra threads, {:?}, batch {}, graph {:?})",
        options.intra_threads,
        model.device(),
        params.batch_size,
        model.graph()
    );
    println!(
        "  audio:               {seconds:.1} s ({copies} x vocadito_10, {} Hz -> {SAMPLE_RATE} Hz)",
        spec.sample_rate
    );
    println!("  model load:          {:.3} s", secs(load_time));
    println!("  windows:             {}", stats.windows);
    println!(
        "  model only (run):    {:.3} s ({:.1} ms/window)",
        secs(stats.model_time),
        1000.0 * secs(stats.model_time) / stats.windows.max(1) as f64
    );
    println!("  resampling:          {:.3} s", secs(resample_time));
    println!(
        "  inference total:     {:.3} s (windowing + model + unwrapping)",
        secs(stats.inference_time)
    );
    println!("  note creation:       {:.3} s", secs(stats.notes_time));
    println!(
        "  midi:                {:.3} s ({} bytes, {} notes)",
        secs(midi_time),
        midi.len(),
        result.notes.len()
    );
    println!("  whole pipeline:      {:.3} s", secs(whole));
    println!(
        "  real-time factor:    {:.4} (whole / audio duration; {:.0}x faster than real time)",
        secs(whole) / seconds,
        seconds / secs(whole)
    );
    println!(
        "  whole / model only:  {:.3}",
        secs(whole) / secs(stats.model_time)
    );
    // The same windows through nmp.onnx as published, for the folding's share of the speed.
    let published = BasicPitchModel::load_as_published(&installed, &options).expect("load");
    let (_, published_stats) = coda_transcription::infer(
        &published,
        &audio,
        params.batch_size,
        &mut |_, _| {},
        &|| false,
    )
    .expect("infer");
    println!(
        "  model only, graph as published: {:.3} s ({:.1} ms/window)",
        secs(published_stats.model_time),
        1000.0 * secs(published_stats.model_time) / published_stats.windows.max(1) as f64
    );
    // The machine may be shared; the load average tells how much these figures are inflated.
    if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
        println!("  load average:        {}", load.trim());
    }
}
