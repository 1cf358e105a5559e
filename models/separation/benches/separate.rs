//! The built-in separator on the rendered set's 3-minute stereo song, stage by
//! stage: `cargo bench -p coda-separation --bench separate`.

use std::path::PathBuf;
use std::time::Instant;

use coda_separation::dsp::{separate_dsp, DspOptions};

fn song() -> PathBuf {
    coda_dsp::testing::separation_set_dir().join("song-3min.wav")
}

fn main() {
    let path = song();
    let mut reader = match hound::WavReader::open(&path) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}: {e}\nrun scripts/separation_set.sh", path.display());
            std::process::exit(1);
        }
    };
    let spec = reader.spec();
    let samples: Vec<f32> = reader.samples::<f32>().map(|s| s.unwrap_or(0.0)).collect();
    let seconds = samples.len() as f64 / f64::from(spec.channels) / f64::from(spec.sample_rate);
    let options = DspOptions::default();
    println!(
        "{:.1} s of {} Hz, {} channels; {} threads",
        seconds, spec.sample_rate, spec.channels, options.threads
    );
    for run in 1..=3 {
        let started = Instant::now();
        let mut marks = vec![];
        let stems = separate_dsp(
            &samples,
            spec.sample_rate,
            spec.channels,
            &options,
            &mut |done, _| marks.push((done, started.elapsed())),
            &|| false,
        )
        .expect("separates");
        let wall = started.elapsed().as_secs_f64();
        let steps: Vec<String> = marks
            .windows(2)
            .map(|w| format!("{}:{:.3}", w[1].0, (w[1].1 - w[0].1).as_secs_f64()))
            .collect();
        println!(
            "run {run}: {wall:.3} s, {:.1}x real time; step times {}",
            seconds / wall,
            steps.join(" ")
        );
        assert_eq!(stems.samples[0].len(), samples.len());
    }
}
