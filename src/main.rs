//! `coda`: serve the API locally, issue tokens, and run jobs from the command line.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use coda::config::{Backend, Config, LogFormat};
use coda::{app, separate_cmd, transcribe_cmd};
use coda_jobs::separate::{SeparateOptions, SeparationModel, StemFormat, VocalMethodOption};
use coda_jobs::transcribe::TranscribeOptions;

#[derive(Parser)]
#[command(
    name = "coda",
    version,
    about = "Coda: an open backend for AI music work"
)]
struct Cli {
    /// Optional TOML config file (also CODA_CONFIG); CODA_* variables override it.
    #[arg(long, global = true, env = "CODA_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ModelArg {
    Dsp,
    Htdemucs,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum FormatArg {
    Wav,
    Flac,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum VocalArg {
    Auto,
    Centre,
    Repet,
}

/// `coda score ...`.
#[derive(Subcommand)]
enum ScoreCommand {
    /// Print a score's parts, measures, notes, rests, lyrics, key, tempo and length.
    Info {
        /// The score (.musicxml, .xml, .mxl, .mid, .midi, .json).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Apply edits (transpose, set_tempo, dynamics, set_lyrics, ...) and write the result.
    Edit {
        /// The score to read (.musicxml, .xml, .mxl, .mid, .midi, .json).
        file: PathBuf,
        /// One edit as JSON (`{"op":"transpose","semitones":2}`) or an array of them; repeat for more.
        #[arg(long = "edit", value_name = "JSON")]
        edits: Vec<String>,
        /// The file to write; its extension picks the format.
        #[arg(long)]
        out: PathBuf,
    },
}

#[derive(Subcommand)]
enum AwsCommand {
    /// Create the bucket, queues, notification and tables (safe to run again).
    Bootstrap {
        /// Resource name prefix (default: the `aws_prefix` setting).
        #[arg(long)]
        prefix: Option<String>,
    },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Download ONNX Runtime and Basic Pitch from PyPI wheels, check their SHA-256s and cache them (idempotent; offline once cached).
    Install {
        /// Models folder (default: the `models_dir` setting: CODA_MODELS_DIR, else ~/.local/share/coda/models).
        #[arg(long)]
        dir: Option<PathBuf>,
        /// Python interpreter whose pip downloads the wheels.
        #[arg(long, env = "CODA_PYTHON", default_value = "python3")]
        python: String,
    },
    /// Check that the installed files are intact, without any network.
    Check {
        /// Models folder (default: the `models_dir` setting).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API and the job workers on this machine.
    Serve {
        /// Address to bind, e.g. 127.0.0.1:8080 (port 0 picks a free one).
        #[arg(long)]
        addr: Option<String>,
        /// Data directory (database, blobs, signing secret).
        #[arg(long)]
        data: Option<PathBuf>,
        /// Worker tasks (default: one per core).
        #[arg(long)]
        workers: Option<usize>,
        /// Log format.
        #[arg(long, value_enum)]
        log_format: Option<LogFormat>,
        /// Where state lives: `local` (folder + SQLite) or `aws` (S3, DynamoDB, SQS from the AWS environment).
        #[arg(long, value_enum)]
        backend: Option<Backend>,
    },
    /// Serve the chat's tools to an MCP client over stdin/stdout (the local data dir and job workers, as `coda serve` uses).
    Mcp {
        /// The local user the tools run as (their sessions, jobs and files).
        #[arg(long, default_value = "local")]
        user: String,
        /// Address of the HTTP server that serves the outputs' signed URLs (default: a free loopback port).
        #[arg(long, default_value = "127.0.0.1:0")]
        addr: String,
        /// Data directory (database, blobs, signing secret).
        #[arg(long)]
        data: Option<PathBuf>,
    },
    /// AWS resources: `coda aws bootstrap` creates them wherever AWS_ENDPOINT_URL (or the real account) points.
    Aws {
        #[command(subcommand)]
        command: AwsCommand,
    },
    /// Print a bearer token for a user of the local server.
    Token {
        /// The user name (the token's `sub`).
        #[arg(long)]
        user: String,
        /// Data directory whose secret signs the token.
        #[arg(long)]
        data: Option<PathBuf>,
        /// Lifetime in seconds (default: the configured token_ttl_secs).
        #[arg(long)]
        ttl_secs: Option<i64>,
    },
    /// Model files: `coda models install` fetches them once; `coda models check` verifies them.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
    },
    /// Transcribe an audio file to notes.json, transcription.mid and pianoroll.png (Basic Pitch).
    Transcribe {
        /// The audio file (WAV, FLAC, MP3, OGG, M4A, AIFF, ...).
        input: PathBuf,
        /// Output folder (default: `<input name>.transcription`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Minimum onset activation that starts a note, 0..1.
        #[arg(long, default_value_t = 0.5)]
        onset_threshold: f64,
        /// Minimum frame activation that keeps a note going, 0..1.
        #[arg(long, default_value_t = 0.3)]
        frame_threshold: f64,
        /// Shorter notes are dropped, in milliseconds.
        #[arg(long, default_value_t = 127.70)]
        min_note_ms: f64,
        /// Lowest pitch kept, in Hz.
        #[arg(long)]
        min_freq: Option<f64>,
        /// Highest pitch kept, in Hz.
        #[arg(long)]
        max_freq: Option<f64>,
        /// Do not add onsets where frame activations jump.
        #[arg(long)]
        no_infer_onsets: bool,
        /// Do not look for notes without a clear onset.
        #[arg(long)]
        no_melodia_trick: bool,
        /// Do not estimate pitch bends.
        #[arg(long)]
        no_pitch_bends: bool,
        /// One MIDI track per pitch, so overlapping notes keep their own bends.
        #[arg(long)]
        multiple_pitch_bends: bool,
        /// Tempo written into the MIDI file, in beats per minute.
        #[arg(long, default_value_t = 120.0)]
        midi_tempo: f64,
        /// Print where the time went (model load, work, model calls) to standard error.
        #[arg(long)]
        timings: bool,
    },
    /// Split an audio file into vocals, drums, bass and other stems, with stems.png.
    Separate {
        /// The audio file (WAV, FLAC, MP3, OGG, M4A, AIFF, ...).
        input: PathBuf,
        /// Output folder (default: `<input name>.stems`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `dsp`: the built-in separator, no weights needed (default); `htdemucs`: an HT-Demucs ONNX export (the default when --model-path is given).
        #[arg(long, value_enum)]
        model: Option<ModelArg>,
        /// The HT-Demucs ONNX file (demucs-onnx layout); default: the `htdemucs_model` setting, else `htdemucs.onnx` in the models folder.
        #[arg(long)]
        model_path: Option<PathBuf>,
        /// `wav` (32-bit float) or `flac` (24-bit).
        #[arg(long, value_enum, default_value_t = FormatArg::Wav)]
        format: FormatArg,
        /// How `dsp` finds vocals: `auto` (centre for stereo, repetition for mono), `centre` or `repet`.
        #[arg(long, value_enum)]
        vocal_method: Option<VocalArg>,
        /// Print where the time went to standard error.
        #[arg(long)]
        timings: bool,
    },
    /// Decode an audio file and print its probe report as JSON.
    Probe {
        /// The audio file.
        file: PathBuf,
    },
    /// Scores (MusicXML, MXL, MIDI, JSON): `coda score info FILE [--json]`, `coda score edit FILE --edit JSON --out FILE`.
    Score {
        /// What to do.
        #[command(subcommand)]
        command: ScoreCommand,
    },
    /// Convert a score between MusicXML, MXL, MIDI and JSON; the formats come from the extensions.
    Convert {
        /// The score to read (.musicxml, .xml, .mxl, .mid, .midi, .json).
        input: PathBuf,
        /// The file to write; its extension picks the format.
        output: PathBuf,
        /// Play repeats, endings and D.C./D.S. jumps out into a score without them.
        #[arg(long)]
        expand_repeats: bool,
    },
    /// Key, keys over time, chords, tempo, beats, downbeats and time signature of a recording or
    /// a score: prints a summary (or analysis.json with --json) and writes analysis.json and
    /// chords.png into the output folder.
    Analyze {
        /// The recording (WAV, FLAC, MP3, Ogg, AAC, AIFF) or score (MusicXML, MXL, MIDI).
        input: PathBuf,
        /// Output folder (default: `<input stem>.analysis`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// Print analysis.json instead of the summary.
        #[arg(long)]
        json: bool,
        /// The key profile: albrecht-shanahan (default), albrecht-shanahan-aarden, aarden-essen,
        /// bellman-budge, temperley-kostka-payne, krumhansl-kessler.
        #[arg(long)]
        key_profile: Option<String>,
        /// Print each stage's seconds on stderr.
        #[arg(long)]
        timings: bool,
    },
    /// Guitar or bass tablature of a score (MusicXML, MXL, MIDI), notes.json or a recording
    /// (transcribed first): prints tab.txt and writes tab.txt, tab.json, tab.musicxml and
    /// tab.alphatex into the output folder.
    Tab {
        /// The score, notes.json or recording.
        input: PathBuf,
        /// Output folder (default: `<input name>.tab`).
        #[arg(long)]
        out: Option<PathBuf>,
        /// standard, drop-d, dadgad, open-g, open-d, seven-string, bass, bass-five, or the
        /// open strings low to high ("D2,A2,D3,G3,B3,E4").
        #[arg(long, default_value = "standard")]
        tuning: String,
        /// The capo's fret.
        #[arg(long, default_value_t = 0)]
        capo: u8,
        /// Strings: with standard, 4 is a bass, 5 a five-string bass, 7 a seven-string.
        #[arg(long)]
        strings: Option<u8>,
        /// Frets on the neck (default 22, 20 for a bass).
        #[arg(long)]
        frets: Option<u8>,
        /// One part of a score, by index from 0 (default: every part, as chords).
        #[arg(long)]
        part: Option<usize>,
    },
    /// Sing a part of a score on its lyrics: FILE.wav, with FILE.alignment.json, FILE.f0.json and FILE.pitch.png beside it.
    Sing {
        /// The score (.musicxml, .xml, .mxl, .mid, .json).
        input: PathBuf,
        /// The WAV to write (default: `<input stem>.wav` here).
        #[arg(long)]
        out: Option<PathBuf>,
        /// `builtin` (default), or the name of a DiffSinger voicebank in voices_dir.
        #[arg(long)]
        voice: Option<String>,
        /// The part: its index from 0 (default 0), or its name or id.
        #[arg(long)]
        part: Option<String>,
        /// The verse (lyric number; default 1, else the part's first).
        #[arg(long)]
        verse: Option<String>,
        /// -1 (legato) to 1 (detached); default 0.
        #[arg(long, allow_hyphen_values = true)]
        articulation: Option<f64>,
        /// 0 (clean) to 1 (breathy); default 0.2.
        #[arg(long)]
        airiness: Option<f64>,
        /// 0 (soft) to 1 (loud); default 0.5.
        #[arg(long)]
        intensity: Option<f64>,
        /// 0 (dark) to 1 (bright); default 0.5.
        #[arg(long)]
        clarity: Option<f64>,
        /// Vibrato rate in Hz (default 5.5).
        #[arg(long)]
        vibrato_rate: Option<f64>,
        /// Vibrato depth in cents (default 25; 0 turns it off).
        #[arg(long)]
        vibrato_depth: Option<f64>,
        /// Seconds into a note before vibrato starts (default 0.3).
        #[arg(long)]
        vibrato_delay: Option<f64>,
    },
    /// List the voices `coda sing` and `synthesize` jobs can use: the built-in one and every folder of voices_dir, valid or not (with the reason).
    Voices {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Write a sine tone as a 16-bit WAV (test material for demos and benchmarks).
    Tone {
        /// Output WAV path.
        out: PathBuf,
        /// Length in seconds.
        #[arg(long, default_value_t = 3.0)]
        seconds: f64,
        /// Frequency in Hz.
        #[arg(long, default_value_t = 440.0)]
        freq: f64,
        /// Peak amplitude, 0..1 (0.5 is -6.02 dBFS).
        #[arg(long, default_value_t = 0.5)]
        amplitude: f32,
        /// Sample rate in Hz.
        #[arg(long, default_value_t = 44100)]
        rate: u32,
        /// Channel count.
        #[arg(long, default_value_t = 2)]
        channels: u16,
    },
}

fn main() -> ExitCode {
    // One line per panic, also for the file commands that set up no logging.
    coda_core::panics::log_panics();
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let mut config = Config::load(cli.config.as_deref(), std::env::vars())?;
    match cli.command {
        Command::Serve {
            addr,
            data,
            workers,
            log_format,
            backend,
        } => {
            config.server.addr = addr.unwrap_or(config.server.addr);
            config.storage.data_dir = data.unwrap_or(config.storage.data_dir);
            config.jobs.workers = workers.unwrap_or(config.jobs.workers);
            config.server.log_format = log_format.unwrap_or(config.server.log_format);
            config.storage.backend = backend.unwrap_or(config.storage.backend);
            serve(config)
        }
        Command::Mcp { user, addr, data } => {
            anyhow::ensure!(!user.trim().is_empty(), "--user must not be empty");
            config.server.addr = addr;
            config.storage.data_dir = data.unwrap_or(config.storage.data_dir);
            mcp(config, user)
        }
        Command::Aws {
            command: AwsCommand::Bootstrap { prefix },
        } => {
            coda::logging::init(config.server.log_format);
            let prefix = prefix.unwrap_or(config.storage.aws_prefix.clone());
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            rt.block_on(async {
                let names = coda_aws::AwsNames::new(&prefix)?;
                let sdk = coda_aws::load_sdk_config().await;
                coda_aws::bootstrap(&names, &sdk, config.jobs.max_receives).await?;
                println!(
                    "bootstrapped: bucket {}; queues {}, {}, {}, {}; tables {}, {}, {}, {}, {}, {}, {}",
                    names.bucket,
                    names.jobs_queue,
                    names.jobs_dlq,
                    names.ingest_queue,
                    names.ingest_dlq,
                    names.sessions_table,
                    names.session_items_table,
                    names.uploads_table,
                    names.jobs_table,
                    names.webhooks_table,
                    names.deliveries_table,
                    names.quotas_table
                );
                Ok::<_, anyhow::Error>(())
            })
        }
        Command::Token {
            user,
            data,
            ttl_secs,
        } => {
            anyhow::ensure!(!user.trim().is_empty(), "--user must not be empty");
            let keys = app::load_keys(&data.unwrap_or(config.storage.data_dir))?;
            let ttl = ttl_secs.unwrap_or(config.server.token_ttl_secs as i64);
            println!("{}", keys.tokens.issue(&user, chrono::Utc::now(), ttl));
            Ok(())
        }
        Command::Models { command } => match command {
            ModelsCommand::Install { dir, python } => {
                let dir = dir.unwrap_or(config.models.models_dir);
                eprintln!("installing model files into {}", dir.display());
                // What the shipped kinds' specs list, so a new kind's artifacts come with it.
                let registry = coda_jobs::registry();
                let names = registry.artifacts_of(&registry.kinds());
                for (name, path) in names.iter().zip(coda_model_runtime::install::install_named(
                    &dir, &python, &names,
                )?) {
                    println!("{name}: {}", path.display());
                }
                Ok(())
            }
            ModelsCommand::Check { dir } => {
                let installed =
                    coda_model_runtime::locate(&dir.unwrap_or(config.models.models_dir))?;
                println!("runtime: {} (ok)", installed.runtime.display());
                println!("basic pitch: {} (ok)", installed.basic_pitch.display());
                Ok(())
            }
        },
        Command::Transcribe {
            input,
            out,
            onset_threshold,
            frame_threshold,
            min_note_ms,
            min_freq,
            max_freq,
            no_infer_onsets,
            no_melodia_trick,
            no_pitch_bends,
            multiple_pitch_bends,
            midi_tempo,
            timings,
        } => {
            let out_dir = out.unwrap_or_else(|| transcribe_cmd::default_out_dir(&input));
            let args = transcribe_cmd::TranscribeArgs {
                input,
                out_dir,
                options: TranscribeOptions {
                    onset_threshold: Some(onset_threshold),
                    frame_threshold: Some(frame_threshold),
                    minimum_note_length_ms: Some(min_note_ms),
                    minimum_frequency: min_freq,
                    maximum_frequency: max_freq,
                    infer_onsets: Some(!no_infer_onsets),
                    melodia_trick: Some(!no_melodia_trick),
                    include_pitch_bends: Some(!no_pitch_bends),
                    multiple_pitch_bends: Some(multiple_pitch_bends),
                    midi_tempo: Some(midi_tempo),
                },
                model: coda::config::model_settings(&config),
                timings,
            };
            let (notes, _) = transcribe_cmd::run(&args)?;
            println!(
                "{notes} notes: {}",
                ["notes.json", "transcription.mid", "pianoroll.png"]
                    .map(|f| args.out_dir.join(f).display().to_string())
                    .join(", ")
            );
            Ok(())
        }
        Command::Separate {
            input,
            out,
            model,
            model_path,
            format,
            vocal_method,
            timings,
        } => {
            let mut settings = coda::config::model_settings(&config);
            let model = match (model, &model_path) {
                (Some(ModelArg::Dsp), Some(_)) => anyhow::bail!(
                    "--model-path names an HT-Demucs file, but --model dsp needs none: drop one of them"
                ),
                (Some(m), _) => m,
                (None, Some(_)) => ModelArg::Htdemucs,
                (None, None) => ModelArg::Dsp,
            };
            if model_path.is_some() {
                settings.htdemucs_model = model_path;
            }
            let args = separate_cmd::SeparateArgs {
                out_dir: out.unwrap_or_else(|| separate_cmd::default_out_dir(&input)),
                input,
                options: SeparateOptions {
                    model: Some(match model {
                        ModelArg::Dsp => SeparationModel::Dsp,
                        ModelArg::Htdemucs => SeparationModel::Htdemucs,
                    }),
                    format: Some(match format {
                        FormatArg::Wav => StemFormat::Wav,
                        FormatArg::Flac => StemFormat::Flac,
                    }),
                    vocal_method: vocal_method.map(|v| match v {
                        VocalArg::Auto => VocalMethodOption::Auto,
                        VocalArg::Centre => VocalMethodOption::Centre,
                        VocalArg::Repet => VocalMethodOption::Repet,
                    }),
                },
                model: settings,
                timings,
            };
            let (files, _) = separate_cmd::run(&args)?;
            let names: Vec<String> = files.iter().map(|f| f.display().to_string()).collect();
            print_stdout(&names.join(", "))
        }
        Command::Score {
            command: ScoreCommand::Info { file, json },
        } => {
            let info = coda::score_cmd::info(&file)?;
            if json {
                return print_stdout(&serde_json::to_string_pretty(&info)?);
            }
            let title = info.title.as_deref().unwrap_or("(untitled)");
            let key = info
                .key_signature_fifths
                .map_or("none".to_string(), |k| format!("{k:+} fifths"));
            let mut text = format!(
                "{title}\n{} parts, {} measures, {} notes, {} rests, {} lyric syllables\nkey {key}, {} bpm, {:.1} s",
                info.parts, info.measures, info.notes, info.rests, info.lyrics, info.tempo_bpm, info.duration_s
            );
            for w in &info.warnings {
                text.push_str(&format!("\nrepaired: {w}"));
            }
            print_stdout(&text)
        }
        Command::Score {
            command: ScoreCommand::Edit { file, edits, out },
        } => {
            let info = coda::score_cmd::edit(&file, &edits, &out)?;
            for w in &info.warnings {
                eprintln!("repaired: {w}");
            }
            print_stdout(&out.display().to_string())
        }
        Command::Convert {
            input,
            output,
            expand_repeats,
        } => {
            for w in coda::score_cmd::convert(&input, &output, expand_repeats)? {
                eprintln!("repaired: {w}");
            }
            print_stdout(&output.display().to_string())
        }
        Command::Analyze {
            input,
            out,
            json,
            key_profile,
            timings,
        } => {
            let out = out.unwrap_or_else(|| coda::analyze_cmd::default_out_dir(&input));
            let params = coda_jobs::analyze::AnalyzeParams {
                key_profile,
                ..Default::default()
            };
            let files = coda::analyze_cmd::run(&input, &out, &params)?;
            if timings {
                let total: f64 = files.stage_seconds.iter().map(|s| s.1).sum();
                for (stage, s) in &files.stage_seconds {
                    eprintln!("{stage:<9} {s:7.3} s");
                }
                eprintln!("{:<9} {total:7.3} s", "total");
            }
            eprintln!("wrote analysis.json and chords.png in {}", out.display());
            if json {
                return print_stdout(&serde_json::to_string_pretty(&files.analysis)?);
            }
            print_stdout(&coda::analyze_cmd::summary(&files))
        }
        Command::Tab {
            input,
            out,
            tuning,
            capo,
            strings,
            frets,
            part,
        } => {
            let out = out.unwrap_or_else(|| coda::tab_cmd::default_out_dir(&input));
            let params = coda_jobs::tab::TabParams {
                tuning,
                strings,
                frets,
                capo,
                part,
                ..Default::default()
            };
            let model = coda::config::model_settings(&config);
            let (text, warnings) = coda::tab_cmd::run(&input, &out, &params, &model)?;
            for w in &warnings {
                eprintln!("warning: {w}");
            }
            eprintln!(
                "wrote tab.txt, tab.json, tab.musicxml and tab.alphatex in {}",
                out.display()
            );
            print_stdout(text.trim_end())
        }
        Command::Sing {
            input,
            out,
            voice,
            part,
            verse,
            articulation,
            airiness,
            intensity,
            clarity,
            vibrato_rate,
            vibrato_depth,
            vibrato_delay,
        } => {
            use coda_jobs::synthesize::{PartRef, SynthesizeParams, VerseRef, VibratoParams};
            let vibrato =
                (vibrato_rate.is_some() || vibrato_depth.is_some() || vibrato_delay.is_some())
                    .then_some(VibratoParams {
                        rate: vibrato_rate,
                        depth: vibrato_depth,
                        delay: vibrato_delay,
                    });
            let mut model = coda::config::model_settings(&config);
            // A folder path names a voicebank anywhere: its parent stands in for voices_dir.
            let voice = match voice {
                Some(v) if v.contains('/') || std::path::Path::new(&v).is_dir() => {
                    let dir = std::path::PathBuf::from(&v);
                    let dir = dir.canonicalize().with_context(|| format!("--voice {v}"))?;
                    let name = dir
                        .file_name()
                        .map(|n| n.to_string_lossy().into_owned())
                        .with_context(|| format!("--voice {v} names no folder"))?;
                    model.voices_dir = dir.parent().map(|p| p.to_path_buf()).unwrap_or_default();
                    Some(name)
                }
                other => other,
            };
            let args = coda::sing_cmd::SingArgs {
                out: out.unwrap_or_else(|| coda::sing_cmd::default_out(&input)),
                input,
                params: SynthesizeParams {
                    voice,
                    part: part.map(|p| match p.trim().parse::<usize>() {
                        Ok(i) => PartRef::Index(i),
                        Err(_) => PartRef::Name(p),
                    }),
                    verse: verse.map(VerseRef::Label),
                    articulation,
                    airiness,
                    intensity,
                    clarity,
                    vibrato,
                },
                model,
            };
            let (files, warnings, seconds) = coda::sing_cmd::run(&args)?;
            for w in warnings {
                eprintln!("warning: {w}");
            }
            println!(
                "{seconds:.1} s sung: {}",
                files
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
            Ok(())
        }
        Command::Voices { json } => {
            let settings = coda::config::model_settings(&config);
            let list = coda_jobs::synthesize::list_voices(&settings.voices_dir);
            if json {
                return print_stdout(&serde_json::to_string_pretty(&list)?);
            }
            let mut out = String::new();
            for v in &list.voices {
                out.push_str(&format!(
                    "{:<24} {:<8} {}\n",
                    v.name,
                    if v.valid { "ok" } else { "invalid" },
                    v.summary
                ));
            }
            out.push_str(&format!(
                "(voicebanks are read from {})",
                list.voices_dir.display()
            ));
            print_stdout(&out)
        }
        Command::Probe { file } => {
            let bytes =
                std::fs::read(&file).with_context(|| format!("reading {}", file.display()))?;
            let report = coda_jobs::probe::probe_bytes(&bytes)
                .map_err(|e| anyhow::anyhow!("{}: {e}", e.code()))?;
            print_stdout(&serde_json::to_string_pretty(&report)?)
        }
        Command::Tone {
            out,
            seconds,
            freq,
            amplitude,
            rate,
            channels,
        } => {
            anyhow::ensure!(
                seconds > 0.0 && seconds <= 4.0 * 3600.0,
                "--seconds must be in (0, 14400]"
            );
            anyhow::ensure!(
                rate >= 1000 && channels >= 1,
                "--rate must be at least 1000 and --channels at least 1"
            );
            let samples =
                coda_audio::sine(freq, amplitude.clamp(0.0, 1.0), seconds, rate, channels);
            std::fs::write(&out, coda_audio::wav_bytes_i16(&samples, rate, channels))
                .with_context(|| format!("writing {}", out.display()))?;
            Ok(())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    coda::logging::init(config.server.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = rt.block_on(async move {
        let running = match config.storage.backend {
            Backend::Local => app::start(&config, coda::app::builtin_runners(&config)?).await?,
            Backend::Aws => {
                let names = coda_aws::AwsNames::new(&config.storage.aws_prefix)?;
                let sdk = coda_aws::load_sdk_config().await;
                let aws = coda_aws::AwsAdapters::connect(&names, &sdk)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e} (run `coda aws bootstrap` first?)"))?;
                app::start_aws(&config, coda::app::builtin_runners(&config)?, &aws).await?
            }
        };
        let token = running.tokens.issue(
            "local",
            chrono::Utc::now(),
            config.server.token_ttl_secs as i64,
        );
        println!("coda listening on {}", running.base_url);
        println!("token for user 'local': {token}");
        println!(
            "try: curl -H 'Authorization: Bearer {token}' {}/v1/health",
            running.base_url
        );
        wait_for_signal().await;
        eprintln!(
            "shutting down: running jobs get {}s to finish, then go back to the queue",
            config.jobs.shutdown_grace_secs
        );
        running.shutdown().await;
        Ok(())
    });
    // Released jobs were told to stop; a blocking model call that cannot check in the middle
    // must not hold the exit past the grace, so the runtime is not waited on for long.
    rt.shutdown_timeout(RELEASED_WORK_WAIT);
    served
}

/// `coda mcp`: the local app (API for the signed URLs, job workers) with MCP on stdio.
fn mcp(config: Config, user: String) -> anyhow::Result<()> {
    // stdout carries the protocol: every log line goes to stderr.
    coda::logging::init(config.server.log_format);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let served = rt.block_on(async move {
        let running = app::start(&config, coda::app::builtin_runners(&config)?).await?;
        tracing::info!(user = %user, base_url = %running.base_url, "coda mcp is serving on stdio");
        let server =
            coda_mcp::CodaMcp::for_owner(running.chat.clone(), coda_core::model::Owner(user));
        let served = tokio::select! {
            r = server.serve_stdio() => r.context("serving MCP on stdio"),
            _ = wait_for_signal() => Ok(()),
        };
        running.shutdown().await;
        served
    });
    // A pending read of stdin cannot be canceled: the runtime is not waited on for long.
    rt.shutdown_timeout(RELEASED_WORK_WAIT);
    served
}

/// How long the exit waits for blocking work of released jobs to notice it was canceled.
const RELEASED_WORK_WAIT: std::time::Duration = std::time::Duration::from_millis(500);

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Prints a command's result; a closed pipe (`coda probe f | head`) ends the command quietly
/// instead of panicking in `println!`.
fn print_stdout(text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    match writeln!(out, "{text}").and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}
