//! Reading a voicebank folder without opening any model: [`inspect`] and
//! [`list_voicebanks`].
//!
//! The layout is OpenUtau's (`DiffSingerSinger.cs`): `dsconfig.yaml` names the
//! phoneme list and the acoustic model; each predictor lives in `dsdur/`,
//! `dspitch/` or `dsvariance/` with its own `dsconfig.yaml` (else the root
//! `dsconfig.yaml` may name it with `dur:`, `pitch:` or `variance:` and
//! `linguistic:`); the vocoder is `dsvocoder/vocoder.yaml` and the model it
//! names (OpenUtau looks a vocoder up by name among its installed packages;
//! here the package sits in the voicebank, or `vocoder:` is a path to one).

use std::path::{Path, PathBuf};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::config::{
    self, existing_file, read_dsconfig, read_languages, read_yaml, vocoder_folder, DsConfig,
    PhonemeTable, Speaker, VocoderConfig,
};
use super::error::{Predictor, VoicebankError};

/// How the acoustic model is told how many diffusion steps to take (OpenUtau's renderer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Acceleration {
    /// `speedup` (int64): the largest factor of 1000 not above `1000 / steps`.
    Speedup,
    /// `depth` (int64, in thousandths, a multiple of `speedup`) and `speedup` (`use_variable_depth`).
    DepthAndSpeedup,
    /// `steps` (int64) (`use_continuous_acceleration`).
    Steps,
    /// `depth` (float, at most `max_depth`) and `steps` (`use_continuous_acceleration` and `use_variable_depth`).
    DepthAndSteps,
}

/// Which optional inputs the acoustic model takes, as dsconfig.yaml enables them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct AcousticInputs {
    /// `energy` (`use_energy_embed`).
    pub energy: bool,
    /// `breathiness` (`use_breathiness_embed`).
    pub breathiness: bool,
    /// `voicing` (`use_voicing_embed`).
    pub voicing: bool,
    /// `tension` (`use_tension_embed`).
    pub tension: bool,
    /// `gender`, the key-shift embedding (`use_key_shift_embed`).
    pub gender: bool,
    /// `velocity`, the speed embedding (`use_speed_embed`).
    pub velocity: bool,
    /// `spk_embed` (`speakers`).
    pub speakers: bool,
    /// `languages` (`use_lang_id`).
    pub languages: bool,
    /// The sampling-acceleration inputs.
    pub acceleration: Acceleration,
}

/// The curves a variance predictor predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
pub struct VarianceCurves {
    /// `energy` (`predict_energy`).
    pub energy: bool,
    /// `breathiness` (`predict_breathiness`).
    pub breathiness: bool,
    /// `voicing` (`predict_voicing`).
    pub voicing: bool,
    /// `tension` (`predict_tension`).
    pub tension: bool,
}

impl VarianceCurves {
    pub(crate) fn from_config(c: &DsConfig) -> VarianceCurves {
        VarianceCurves {
            energy: c.predict_energy,
            breathiness: c.predict_breathiness,
            voicing: c.predict_voicing,
            tension: c.predict_tension,
        }
    }

    /// The curves in the order the model takes them, with their names.
    pub(crate) fn names(&self) -> Vec<&'static str> {
        [
            (self.energy, "energy"),
            (self.breathiness, "breathiness"),
            (self.voicing, "voicing"),
            (self.tension, "tension"),
        ]
        .into_iter()
        .filter_map(|(on, name)| on.then_some(name))
        .collect()
    }
}

/// Which predictors the voicebank holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
pub struct Predictors {
    /// The duration predictor.
    pub duration: bool,
    /// The pitch predictor.
    pub pitch: bool,
    /// The variance predictor and what it predicts.
    pub variance: Option<VarianceCurves>,
}

/// A mel spectrogram conversion between the acoustic model's log base and the vocoder's (OpenUtau's renderer).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct MelBaseConversion {
    /// The acoustic model's `mel_base` ("10" or "e").
    pub acoustic: String,
    /// The vocoder's `mel_base`.
    pub vocoder: String,
    /// What every mel value is multiplied by before the vocoder: ln 10 = 2.30259 (10 → e) or log10 e = 0.434294 (e → 10).
    pub factor: f32,
}

/// What a voicebank folder holds, read without opening any model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct VoicebankInfo {
    /// `name` of character.yaml (or character.txt), else the folder's name.
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Audio sample rate of the acoustic model and vocoder, Hz.
    pub sample_rate: u32,
    /// Samples per frame.
    pub hop_size: u32,
    /// Mel bins of the acoustic model's output.
    pub mel_bins: u32,
    /// Entries of the acoustic model's phoneme list.
    pub phonemes: usize,
    /// The acoustic model's optional inputs.
    pub inputs: AcousticInputs,
    /// The speakers of a multi-speaker model, as dsconfig.yaml lists them.
    pub speakers: Vec<String>,
    /// The language codes of a model with language ids, sorted by id.
    pub languages: Vec<String>,
    /// The predictors present.
    pub predictors: Predictors,
    /// The dictionary a phonemizer reads (`dsdict-en.yaml`, else `dsdict.yaml`), if present.
    pub dictionary: Option<PathBuf>,
    /// `name` of vocoder.yaml.
    pub vocoder: String,
    /// The mel_base conversion applied before the vocoder, when the two differ.
    pub mel_base_conversion: Option<MelBaseConversion>,
}

/// Whether a listed folder is a usable voicebank.
#[allow(clippy::large_enum_variant)] // listed once per folder; the unboxed form reads plainly
#[derive(Debug, Clone, PartialEq)]
pub enum VoicebankStatus {
    /// It is; what it holds.
    Valid(VoicebankInfo),
    /// It is not, and why.
    Invalid {
        /// The first problem found.
        reason: String,
    },
}

/// One folder of a voices folder.
#[derive(Debug, Clone, PartialEq)]
pub struct VoicebankEntry {
    /// The folder's name (the voicebank's id; its display name is `info.name`).
    pub name: String,
    /// The folder.
    pub dir: PathBuf,
    /// Valid, with its info, or invalid, with the reason.
    pub status: VoicebankStatus,
}

/// The JSON form of a [`VoicebankEntry`].
#[derive(Serialize, JsonSchema)]
#[schemars(rename = "VoicebankEntry")]
struct EntryJson<'a> {
    /// The folder's name.
    name: &'a str,
    /// The folder.
    dir: &'a Path,
    /// Whether the folder is a usable voicebank.
    valid: bool,
    /// What it holds, when valid.
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<&'a VoicebankInfo>,
    /// Why it is not usable, when invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<&'a str>,
}

impl Serialize for VoicebankEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (valid, info, reason) = match &self.status {
            VoicebankStatus::Valid(info) => (true, Some(info), None),
            VoicebankStatus::Invalid { reason } => (false, None, Some(reason.as_str())),
        };
        EntryJson {
            name: &self.name,
            dir: &self.dir,
            valid,
            info,
            reason,
        }
        .serialize(s)
    }
}

impl JsonSchema for VoicebankEntry {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "VoicebankEntry".into()
    }

    fn json_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        EntryJson::json_schema(generator)
    }
}

/// A predictor's folder as read: its configuration, phoneme list, speakers and models.
#[derive(Debug, Clone)]
pub(crate) struct UnitLayout {
    pub kind: Predictor,
    pub dir: PathBuf,
    pub config_path: PathBuf,
    pub config: DsConfig,
    pub phonemes: PhonemeTable,
    pub speakers: Vec<Speaker>,
    pub linguistic: PathBuf,
    pub model: PathBuf,
}

/// The vocoder package as read.
#[derive(Debug, Clone)]
pub(crate) struct VocoderLayout {
    pub config_path: PathBuf,
    pub config: VocoderConfig,
    pub model: PathBuf,
}

/// Everything [`inspect`] reads, kept for loading the sessions.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    pub info: VoicebankInfo,
    pub config_path: PathBuf,
    pub config: DsConfig,
    pub acoustic: PathBuf,
    pub phonemes: PhonemeTable,
    pub speakers: Vec<Speaker>,
    pub vocoder: VocoderLayout,
    pub duration: Option<UnitLayout>,
    pub pitch: Option<UnitLayout>,
    pub variance: Option<UnitLayout>,
}

/// Reads and checks a voicebank folder without opening any model (fast: for listing voicebanks).
///
/// Every file a configuration names must exist (the error names it), every
/// configuration must parse (YAML and JSON files are read up to 1 MiB), and
/// the acoustic model's mel settings must equal the vocoder's, as OpenUtau's
/// renderer requires (`sample_rate`, `hop_size`, `win_size`, `fft_size`,
/// `num_mel_bins`, `mel_fmin`, `mel_fmax`, `mel_scale`; a difference is
/// [`VoicebankError::MelMismatch`]). A `mel_base` difference is not an error:
/// it is recorded in [`VoicebankInfo::mel_base_conversion`] and the mel
/// spectrogram is converted before the vocoder.
pub fn inspect(dir: &Path) -> Result<VoicebankInfo, VoicebankError> {
    Ok(read_layout(dir)?.info)
}

/// Every subfolder of `voices_dir`, sorted by name, valid or not (with the reason); a missing folder lists nothing.
pub fn list_voicebanks(voices_dir: &Path) -> Vec<VoicebankEntry> {
    let Ok(entries) = std::fs::read_dir(voices_dir) else {
        return Vec::new();
    };
    let mut out: Vec<VoicebankEntry> = entries
        .filter_map(Result::ok)
        .filter(|e| e.path().is_dir())
        .map(|e| {
            let dir = e.path();
            let status = match inspect(&dir) {
                Ok(info) => VoicebankStatus::Valid(info),
                Err(VoicebankError::NoConfig { .. }) => VoicebankStatus::Invalid {
                    reason: "no dsconfig.yaml".into(),
                },
                Err(e) => VoicebankStatus::Invalid {
                    reason: e.to_string(),
                },
            };
            VoicebankEntry {
                name: e.file_name().to_string_lossy().into_owned(),
                dir,
                status,
            }
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

#[derive(Deserialize)]
struct Character {
    #[serde(default)]
    name: Option<String>,
}

/// OpenUtau's voicebank name: character.yaml's `name`, else character.txt's `name=`, else the folder's.
fn voicebank_name(dir: &Path) -> String {
    let yaml = dir.join("character.yaml");
    if yaml.is_file() {
        if let Ok(Character { name: Some(name) }) = read_yaml::<Character>(&yaml) {
            if !name.trim().is_empty() {
                return name.trim().to_string();
            }
        }
    }
    let txt = dir.join("character.txt");
    if let Ok(text) = config::read_text(&txt) {
        for line in text.lines() {
            if let Some(name) = line.trim().strip_prefix("name=") {
                if !name.trim().is_empty() {
                    return name.trim().to_string();
                }
            }
        }
    }
    dir.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string())
}

/// The phoneme list (with language ids when the model uses them) a configuration names.
fn phoneme_table(
    root: &Path,
    base: &Path,
    config: &DsConfig,
    config_path: &Path,
) -> Result<PhonemeTable, VoicebankError> {
    let path = existing_file(root, base, &config.phonemes, config_path, "phonemes")?;
    let mut table = PhonemeTable::read(&path)?;
    if config.use_lang_id {
        let Some(languages) = &config.languages else {
            return Err(VoicebankError::bad(
                config_path,
                "languages",
                "is missing; use_lang_id needs the language id file",
            ));
        };
        let path = existing_file(root, base, languages, config_path, "languages")?;
        table.languages = Some(read_languages(&path)?);
    }
    Ok(table)
}

fn required<'a>(
    value: &'a Option<String>,
    config_path: &Path,
    key: &str,
    why: &str,
) -> Result<&'a str, VoicebankError> {
    value
        .as_deref()
        .ok_or_else(|| VoicebankError::bad(config_path, key, format!("is missing; {why}")))
}

fn check_depth(config: &DsConfig, path: &Path) -> Result<(), VoicebankError> {
    if config.variable_depth() && config.max_depth.is_none() {
        return Err(VoicebankError::bad(
            path,
            "max_depth",
            "is missing; use_variable_depth needs it",
        ));
    }
    Ok(())
}

/// A predictor: its own folder's dsconfig.yaml when present (as OpenUtau), else the root dsconfig.yaml when it names the model.
fn read_unit(
    root: &Path,
    root_config: &DsConfig,
    root_config_path: &Path,
    kind: Predictor,
) -> Result<Option<UnitLayout>, VoicebankError> {
    let sub = root.join(kind.folder());
    let sub_config = sub.join("dsconfig.yaml");
    let (dir, config_path, config) = if sub_config.is_file() {
        let config = read_dsconfig(&sub_config)?;
        (sub, sub_config, config)
    } else {
        let named = match kind {
            Predictor::Duration => &root_config.dur,
            Predictor::Pitch => &root_config.pitch,
            Predictor::Variance => &root_config.variance,
        };
        if named.is_none() {
            return Ok(None);
        }
        (
            root.to_path_buf(),
            root_config_path.to_path_buf(),
            root_config.clone(),
        )
    };
    let model_value = match kind {
        Predictor::Duration => &config.dur,
        Predictor::Pitch => &config.pitch,
        Predictor::Variance => &config.variance,
    };
    let model_value = required(model_value, &config_path, kind.key(), "it names the model")?;
    let model = existing_file(root, &dir, model_value, &config_path, kind.key())?;
    let linguistic = required(
        &config.linguistic,
        &config_path,
        "linguistic",
        "it names the linguistic encoder",
    )?;
    let linguistic = existing_file(root, &dir, linguistic, &config_path, "linguistic")?;
    let phonemes = phoneme_table(root, &dir, &config, &config_path)?;
    let speakers = config::speakers(root, &dir, &config, &config_path)?;
    if kind == Predictor::Variance && VarianceCurves::from_config(&config).names().is_empty() {
        return Err(VoicebankError::bad(
            &config_path,
            "predict_energy",
            "and every other predict_* key are false: the variance model predicts nothing",
        ));
    }
    Ok(Some(UnitLayout {
        kind,
        dir,
        config_path,
        config,
        phonemes,
        speakers,
        linguistic,
        model,
    }))
}

fn read_vocoder(root: &Path, config: &DsConfig) -> Result<VocoderLayout, VoicebankError> {
    let bundled = root.join("dsvocoder");
    let dir = if bundled.join("vocoder.yaml").is_file() {
        bundled
    } else {
        config
            .vocoder
            .as_deref()
            .and_then(|name| vocoder_folder(root, name))
            .ok_or_else(|| VoicebankError::NoVocoder {
                dir: root.to_path_buf(),
                name: config.vocoder.clone(),
            })?
    };
    let config_path = dir.join("vocoder.yaml");
    let vocoder: VocoderConfig = read_yaml(&config_path)?;
    vocoder.validate(&config_path)?;
    let model = existing_file(&dir, &dir, &vocoder.model, &config_path, "model")?;
    Ok(VocoderLayout {
        config_path,
        config: vocoder,
        model,
    })
}

/// OpenUtau's renderer checks, in its order; `mel_base` may differ (see [`MelBaseConversion`]).
fn compare_mel(
    a: &DsConfig,
    v: &VocoderConfig,
) -> Result<Option<MelBaseConversion>, VoicebankError> {
    let mismatch = |field: &'static str, acoustic: String, vocoder: String| {
        Err(VoicebankError::MelMismatch {
            field,
            acoustic,
            vocoder,
        })
    };
    if a.sample_rate != v.sample_rate {
        return mismatch(
            "sample_rate",
            a.sample_rate.to_string(),
            v.sample_rate.to_string(),
        );
    }
    if a.hop_size != v.hop_size {
        return mismatch("hop_size", a.hop_size.to_string(), v.hop_size.to_string());
    }
    if a.win_size != v.win_size {
        return mismatch("win_size", a.win_size.to_string(), v.win_size.to_string());
    }
    if a.fft_size != v.fft_size {
        return mismatch("fft_size", a.fft_size.to_string(), v.fft_size.to_string());
    }
    if a.num_mel_bins != v.num_mel_bins {
        return mismatch(
            "num_mel_bins",
            a.num_mel_bins.to_string(),
            v.num_mel_bins.to_string(),
        );
    }
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-5;
    if !close(a.mel_fmin, v.mel_fmin) {
        return mismatch("mel_fmin", a.mel_fmin.to_string(), v.mel_fmin.to_string());
    }
    if !close(a.mel_fmax, v.mel_fmax) {
        return mismatch("mel_fmax", a.mel_fmax.to_string(), v.mel_fmax.to_string());
    }
    if a.mel_scale != v.mel_scale {
        return mismatch("mel_scale", a.mel_scale.clone(), v.mel_scale.clone());
    }
    // OpenUtau's own rounded factors, kept so the result matches its renderer.
    #[allow(clippy::approx_constant)]
    let factor = match (a.mel_base.as_str(), v.mel_base.as_str()) {
        ("10", "e") => Some(2.30259),
        ("e", "10") => Some(0.434294),
        _ => None,
    };
    Ok(factor.map(|factor| MelBaseConversion {
        acoustic: a.mel_base.clone(),
        vocoder: v.mel_base.clone(),
        factor,
    }))
}

fn acceleration(c: &DsConfig) -> Acceleration {
    match (c.use_continuous_acceleration, c.variable_depth()) {
        (false, false) => Acceleration::Speedup,
        (false, true) => Acceleration::DepthAndSpeedup,
        (true, false) => Acceleration::Steps,
        (true, true) => Acceleration::DepthAndSteps,
    }
}

/// OpenUtau's phonemizer reads `dsdict-<lang>.yaml` before `dsdict.yaml`, in the duration predictor's folder; the root is tried after it.
fn dictionary(root: &Path, duration: Option<&UnitLayout>) -> Option<PathBuf> {
    let mut folders = Vec::new();
    if let Some(unit) = duration {
        folders.push(unit.dir.clone());
    }
    folders.push(root.to_path_buf());
    folders
        .iter()
        .flat_map(|d| [d.join("dsdict-en.yaml"), d.join("dsdict.yaml")])
        .find(|p| p.is_file())
}

pub(crate) fn read_layout(dir: &Path) -> Result<Layout, VoicebankError> {
    let config_path = dir.join("dsconfig.yaml");
    if !config_path.is_file() {
        return Err(VoicebankError::NoConfig {
            dir: dir.to_path_buf(),
        });
    }
    let config = read_dsconfig(&config_path)?;
    config.validate_mel(&config_path)?;
    check_depth(&config, &config_path)?;
    let acoustic = required(
        &config.acoustic,
        &config_path,
        "acoustic",
        "it names the acoustic model",
    )?;
    let acoustic = existing_file(dir, dir, acoustic, &config_path, "acoustic")?;
    let phonemes = phoneme_table(dir, dir, &config, &config_path)?;
    let speakers = config::speakers(dir, dir, &config, &config_path)?;
    let vocoder = read_vocoder(dir, &config)?;
    let conversion = compare_mel(&config, &vocoder.config)?;
    let duration = read_unit(dir, &config, &config_path, Predictor::Duration)?;
    let pitch = read_unit(dir, &config, &config_path, Predictor::Pitch)?;
    let variance = read_unit(dir, &config, &config_path, Predictor::Variance)?;
    for unit in [&duration, &pitch, &variance].into_iter().flatten() {
        check_depth(&unit.config, &unit.config_path)?;
    }
    let mut languages: Vec<(String, i64)> = phonemes
        .languages
        .as_ref()
        .map(|l| l.iter().map(|(k, v)| (k.clone(), *v)).collect())
        .unwrap_or_default();
    languages.sort_by(|a, b| a.1.cmp(&b.1).then(a.0.cmp(&b.0)));
    let info = VoicebankInfo {
        name: voicebank_name(dir),
        dir: dir.to_path_buf(),
        sample_rate: config.sample_rate,
        hop_size: config.hop_size,
        mel_bins: config.num_mel_bins,
        phonemes: phonemes.ids.len(),
        inputs: AcousticInputs {
            energy: config.use_energy_embed,
            breathiness: config.use_breathiness_embed,
            voicing: config.use_voicing_embed,
            tension: config.use_tension_embed,
            gender: config.use_key_shift_embed,
            velocity: config.use_speed_embed,
            speakers: !speakers.is_empty(),
            languages: config.use_lang_id,
            acceleration: acceleration(&config),
        },
        speakers: speakers.iter().map(|s| s.name.clone()).collect(),
        languages: languages.into_iter().map(|(k, _)| k).collect(),
        predictors: Predictors {
            duration: duration.is_some(),
            pitch: pitch.is_some(),
            variance: variance
                .as_ref()
                .map(|u| VarianceCurves::from_config(&u.config)),
        },
        dictionary: dictionary(dir, duration.as_ref()),
        vocoder: vocoder.config.name.clone(),
        mel_base_conversion: conversion,
    };
    Ok(Layout {
        info,
        config_path,
        config,
        acoustic,
        phonemes,
        speakers,
        vocoder,
        duration,
        pitch,
        variance,
    })
}
