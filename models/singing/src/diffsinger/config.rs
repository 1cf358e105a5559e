//! `dsconfig.yaml`, `vocoder.yaml`, phoneme lists, language ids and speaker
//! embeddings, read as OpenUtau reads them (`DiffSingerConfig.cs`,
//! `DiffSingerVocoder.cs`, `DiffSingerUtils.cs`, `DiffSingerSpeakerEmbedManager.cs`):
//! snake_case keys, OpenUtau's defaults for absent keys, unknown keys ignored.
//!
//! Every file is untrusted: YAML, JSON and phoneme lists are read only up to
//! [`MAX_TEXT_BYTES`], paths a configuration names must stay inside the
//! voicebank folder (the vocoder's may point anywhere, as a shared vocoder
//! package does), and all values are range-checked before use.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Deserializer};

use super::error::VoicebankError;

/// The most bytes read from one YAML, JSON or phoneme list file.
pub const MAX_TEXT_BYTES: u64 = 1 << 20;
/// The most symbols a phoneme list may hold.
const MAX_SYMBOLS: usize = 100_000;

/// A string that YAML may also write as a number (`mel_base: 10`).
fn string_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        Str(String),
        Int(i64),
        Float(f64),
    }
    Ok(match Scalar::deserialize(d)? {
        Scalar::Str(s) => s,
        Scalar::Int(i) => i.to_string(),
        Scalar::Float(f) => f.to_string(),
    })
}

fn default_phonemes() -> String {
    "phonemes.txt".into()
}
fn default_hidden() -> u32 {
    256
}
fn yes() -> bool {
    true
}
fn default_rate() -> u32 {
    44_100
}
fn default_hop() -> u32 {
    512
}
fn default_win() -> u32 {
    2048
}
fn default_bins() -> u32 {
    128
}
fn default_fmin() -> f64 {
    40.0
}
fn default_fmax() -> f64 {
    16_000.0
}
fn default_base() -> String {
    "10".into()
}
fn default_scale() -> String {
    "slaney".into()
}
fn default_vocoder_name() -> String {
    "vocoder".into()
}
fn default_vocoder_model() -> String {
    "model.onnx".into()
}

/// `dsconfig.yaml` of a voicebank or of one of its predictor folders (OpenUtau's `DsConfig`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct DsConfig {
    #[serde(default = "default_phonemes")]
    pub phonemes: String,
    #[serde(default)]
    pub languages: Option<String>,
    #[serde(default)]
    pub acoustic: Option<String>,
    #[serde(default)]
    pub vocoder: Option<String>,
    #[serde(default)]
    pub speakers: Option<Vec<String>>,
    #[serde(default = "default_hidden")]
    pub hidden_size: u32,
    #[serde(default)]
    pub use_key_shift_embed: bool,
    #[serde(default)]
    pub use_speed_embed: bool,
    #[serde(default)]
    pub use_energy_embed: bool,
    #[serde(default)]
    pub use_breathiness_embed: bool,
    #[serde(default)]
    pub use_voicing_embed: bool,
    #[serde(default)]
    pub use_tension_embed: bool,
    #[serde(default)]
    pub use_continuous_acceleration: bool,
    #[serde(default)]
    pub use_lang_id: bool,
    #[serde(default)]
    pub use_shallow_diffusion: Option<bool>,
    #[serde(default)]
    pub use_variable_depth: Option<bool>,
    #[serde(default)]
    pub max_depth: Option<f64>,
    #[serde(default)]
    pub dur: Option<String>,
    #[serde(default)]
    pub linguistic: Option<String>,
    #[serde(default)]
    pub pitch: Option<String>,
    #[serde(default)]
    pub variance: Option<String>,
    #[serde(default = "yes")]
    pub predict_dur: bool,
    #[serde(default = "yes")]
    pub predict_energy: bool,
    #[serde(default = "yes")]
    pub predict_breathiness: bool,
    #[serde(default)]
    pub predict_voicing: bool,
    #[serde(default)]
    pub predict_tension: bool,
    #[serde(default)]
    pub use_expr: bool,
    #[serde(default)]
    pub use_note_rest: bool,
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
    #[serde(default = "default_hop")]
    pub hop_size: u32,
    #[serde(default = "default_win")]
    pub win_size: u32,
    #[serde(default = "default_win")]
    pub fft_size: u32,
    #[serde(default = "default_bins", alias = "mel_bins")]
    pub num_mel_bins: u32,
    #[serde(default = "default_fmin")]
    pub mel_fmin: f64,
    #[serde(default = "default_fmax")]
    pub mel_fmax: f64,
    #[serde(default = "default_base", deserialize_with = "string_or_number")]
    pub mel_base: String,
    #[serde(default = "default_scale")]
    pub mel_scale: String,
}

impl DsConfig {
    /// OpenUtau's `useVariableDepth`: `use_variable_depth`, else `use_shallow_diffusion`, else false.
    pub fn variable_depth(&self) -> bool {
        self.use_variable_depth
            .or(self.use_shallow_diffusion)
            .unwrap_or(false)
    }

    /// OpenUtau's `maxDepth`: `max_depth` as written with continuous acceleration, else in thousandths.
    pub fn max_depth(&self) -> Option<f64> {
        self.max_depth.map(|d| {
            if self.use_continuous_acceleration {
                d
            } else {
                d / 1000.0
            }
        })
    }

    /// Milliseconds per frame, `1000 * hop_size / sample_rate`.
    pub fn frame_ms(&self) -> f64 {
        1000.0 * f64::from(self.hop_size) / f64::from(self.sample_rate)
    }

    /// The checks every configuration passes: usable rates, sizes and names.
    pub fn validate(&self, path: &Path) -> Result<(), VoicebankError> {
        check_timing(path, self.sample_rate, self.hop_size)?;
        if !(1..=2048).contains(&self.hidden_size) {
            return Err(VoicebankError::bad(
                path,
                "hidden_size",
                format!("is {}; expected 1 to 2048", self.hidden_size),
            ));
        }
        if let Some(d) = self.max_depth {
            if !d.is_finite() || d < 0.0 {
                return Err(VoicebankError::bad(
                    path,
                    "max_depth",
                    format!("is {d}; it must be a number of at least 0"),
                ));
            }
        }
        if let Some(speakers) = &self.speakers {
            if speakers.is_empty() {
                return Err(VoicebankError::bad(
                    path,
                    "speakers",
                    "is an empty list; omit it for a single-speaker model",
                ));
            }
            if speakers.len() > 1024 {
                return Err(VoicebankError::bad(
                    path,
                    "speakers",
                    "lists over 1024 speakers",
                ));
            }
        }
        Ok(())
    }

    /// The checks of an acoustic model's mel settings (OpenUtau's renderer).
    pub fn validate_mel(&self, path: &Path) -> Result<(), VoicebankError> {
        check_mel(
            path,
            "num_mel_bins",
            self.num_mel_bins,
            &self.mel_base,
            &self.mel_scale,
        )
    }
}

/// `vocoder.yaml` of a vocoder package (OpenUtau's `DsVocoderConfig`).
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct VocoderConfig {
    #[serde(default = "default_vocoder_name")]
    pub name: String,
    #[serde(default = "default_vocoder_model")]
    pub model: String,
    #[serde(default = "default_rate")]
    pub sample_rate: u32,
    #[serde(default = "default_hop")]
    pub hop_size: u32,
    #[serde(default = "default_win")]
    pub win_size: u32,
    #[serde(default = "default_win")]
    pub fft_size: u32,
    #[serde(default = "default_bins", alias = "mel_bins")]
    pub num_mel_bins: u32,
    #[serde(default = "default_fmin")]
    pub mel_fmin: f64,
    #[serde(default = "default_fmax")]
    pub mel_fmax: f64,
    #[serde(default = "default_base", deserialize_with = "string_or_number")]
    pub mel_base: String,
    #[serde(default = "default_scale")]
    pub mel_scale: String,
}

impl VocoderConfig {
    pub fn validate(&self, path: &Path) -> Result<(), VoicebankError> {
        check_timing(path, self.sample_rate, self.hop_size)?;
        check_mel(
            path,
            "num_mel_bins",
            self.num_mel_bins,
            &self.mel_base,
            &self.mel_scale,
        )
    }
}

fn check_timing(path: &Path, sample_rate: u32, hop_size: u32) -> Result<(), VoicebankError> {
    if !(1000..=384_000).contains(&sample_rate) {
        return Err(VoicebankError::bad(
            path,
            "sample_rate",
            format!("is {sample_rate}; expected 1000 to 384000 Hz"),
        ));
    }
    if !(1..=65_536).contains(&hop_size) {
        return Err(VoicebankError::bad(
            path,
            "hop_size",
            format!("is {hop_size}; expected 1 to 65536 samples"),
        ));
    }
    Ok(())
}

fn check_mel(
    path: &Path,
    bins_key: &str,
    bins: u32,
    base: &str,
    scale: &str,
) -> Result<(), VoicebankError> {
    if !(1..=4096).contains(&bins) {
        return Err(VoicebankError::bad(
            path,
            bins_key,
            format!("is {bins}; expected 1 to 4096"),
        ));
    }
    if base != "10" && base != "e" {
        return Err(VoicebankError::bad(
            path,
            "mel_base",
            format!("is {base:?}; it must be \"10\" or \"e\""),
        ));
    }
    if scale != "slaney" && scale != "htk" {
        return Err(VoicebankError::bad(
            path,
            "mel_scale",
            format!("is {scale:?}; it must be \"slaney\" or \"htk\""),
        ));
    }
    Ok(())
}

/// Reads a whole text file of at most [`MAX_TEXT_BYTES`] (invalid UTF-8 is replaced, a BOM dropped).
pub(crate) fn read_text(path: &Path) -> Result<String, VoicebankError> {
    let file = std::fs::File::open(path).map_err(|e| VoicebankError::io(path, e))?;
    let size = file
        .metadata()
        .map_err(|e| VoicebankError::io(path, e))?
        .len();
    if size > MAX_TEXT_BYTES {
        return Err(VoicebankError::TooLarge {
            path: path.to_path_buf(),
            size,
            limit: MAX_TEXT_BYTES,
        });
    }
    let mut bytes = Vec::new();
    file.take(MAX_TEXT_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| VoicebankError::io(path, e))?;
    if bytes.len() as u64 > MAX_TEXT_BYTES {
        return Err(VoicebankError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
            limit: MAX_TEXT_BYTES,
        });
    }
    let text = String::from_utf8(bytes)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

/// Parses a YAML file into `T`.
pub(crate) fn read_yaml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, VoicebankError> {
    let text = read_text(path)?;
    // An empty document is a mapping with every key at its default.
    let text = if text.trim().is_empty() {
        "{}".to_string()
    } else {
        text
    };
    serde_saphyr::from_str(&text).map_err(|e| VoicebankError::Parse {
        path: path.to_path_buf(),
        message: first_lines(&e.to_string()),
    })
}

/// Parser messages may quote the input at length: keep them short.
fn first_lines(message: &str) -> String {
    let mut out: String = message.lines().take(6).collect::<Vec<_>>().join(" ");
    if out.len() > 400 {
        let mut cut = 400;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push('…');
    }
    out
}

/// Reads `dsconfig.yaml` and checks its values.
pub(crate) fn read_dsconfig(path: &Path) -> Result<DsConfig, VoicebankError> {
    let config: DsConfig = read_yaml(path)?;
    config.validate(path)?;
    Ok(config)
}

/// A phoneme list: symbol → token id.
#[derive(Debug, Clone)]
pub(crate) struct PhonemeTable {
    pub path: PathBuf,
    pub ids: HashMap<String, i64>,
    /// Language code → language id (`languages.json`), when the model uses language ids.
    pub languages: Option<HashMap<String, i64>>,
}

impl PhonemeTable {
    /// OpenUtau's `LoadPhonemes`: `.json` is a `{symbol: id}` map, anything else one symbol per line (id = line index; a later duplicate wins).
    pub fn read(path: &Path) -> Result<PhonemeTable, VoicebankError> {
        let text = read_text(path)?;
        let is_json = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("json"));
        let ids = if is_json {
            read_id_map(path, &text)?
        } else {
            let mut ids = HashMap::new();
            for (i, line) in text.lines().enumerate() {
                if i >= MAX_SYMBOLS {
                    return Err(too_many(path));
                }
                ids.insert(line.to_string(), i as i64);
            }
            ids
        };
        if ids.is_empty() {
            return Err(VoicebankError::Parse {
                path: path.to_path_buf(),
                message: "the phoneme list is empty".into(),
            });
        }
        Ok(PhonemeTable {
            path: path.to_path_buf(),
            ids,
            languages: None,
        })
    }

    /// The language a symbol such as `en/aa` carries (OpenUtau's `PhonemeLanguage`), else "".
    fn language_of(symbol: &str) -> &str {
        symbol.split_once('/').map_or("", |(lang, _)| lang)
    }

    /// The default language for unprefixed symbols: `en` when the model has it, else the one with the lowest id.
    pub fn default_language(&self) -> Option<&str> {
        let langs = self.languages.as_ref()?;
        if langs.contains_key("en") {
            return Some("en");
        }
        langs
            .iter()
            .min_by(|a, b| a.1.cmp(b.1).then(a.0.cmp(b.0)))
            .map(|(k, _)| k.as_str())
    }

    /// The symbol as the list holds it: `symbol` itself, else (for a model with language ids)
    /// `language/symbol` with `language` or the default language.
    pub fn resolve<'a>(&'a self, symbol: &str, language: Option<&str>) -> Option<&'a str> {
        if self.languages.is_some() && !symbol.contains('/') {
            if let Some(lang) = language {
                if let Some((k, _)) = self.ids.get_key_value(&format!("{lang}/{symbol}")) {
                    return Some(k);
                }
            }
        }
        if let Some((k, _)) = self.ids.get_key_value(symbol) {
            return Some(k);
        }
        if self.languages.is_some() && !symbol.contains('/') {
            let lang = self.default_language()?;
            return self
                .ids
                .get_key_value(&format!("{lang}/{symbol}"))
                .map(|(k, _)| k.as_str());
        }
        None
    }

    /// The token id of `symbol` ([`PhonemeTable::resolve`]) and its language id (0 when unknown or unused).
    pub fn token(&self, symbol: &str) -> Result<(i64, i64), VoicebankError> {
        let resolved =
            self.resolve(symbol, None)
                .ok_or_else(|| VoicebankError::UnknownPhoneme {
                    phoneme: symbol.to_string(),
                    list: self.path.clone(),
                })?;
        let id = self.ids[resolved];
        let lang = self
            .languages
            .as_ref()
            .and_then(|l| l.get(Self::language_of(resolved)).copied())
            .unwrap_or(0);
        Ok((id, lang))
    }
}

fn too_many(path: &Path) -> VoicebankError {
    VoicebankError::Parse {
        path: path.to_path_buf(),
        message: format!("more than {MAX_SYMBOLS} entries"),
    }
}

/// A JSON `{name: id}` map with non-negative integer ids.
fn read_id_map(path: &Path, text: &str) -> Result<HashMap<String, i64>, VoicebankError> {
    let map: HashMap<String, serde_json::Value> =
        serde_json::from_str(text).map_err(|e| VoicebankError::Parse {
            path: path.to_path_buf(),
            message: format!("expected a JSON object of names to integer ids: {e}"),
        })?;
    if map.len() > MAX_SYMBOLS {
        return Err(too_many(path));
    }
    let mut ids = HashMap::with_capacity(map.len());
    for (name, value) in map {
        let id = value
            .as_i64()
            .filter(|&i| (0..=i64::from(u32::MAX)).contains(&i))
            .ok_or_else(|| VoicebankError::Parse {
                path: path.to_path_buf(),
                message: format!("the id of {name:?} is {value}, not a non-negative integer"),
            })?;
        ids.insert(name, id);
    }
    Ok(ids)
}

/// `languages.json`: language code → id.
pub(crate) fn read_languages(path: &Path) -> Result<HashMap<String, i64>, VoicebankError> {
    let text = read_text(path)?;
    read_id_map(path, &text)
}

/// Lexically normalises `path` (drops `.`, applies `..`); `None` when `..` climbs above its start.
fn normalize(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    let mut depth = 0usize;
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if depth == 0 {
                    return None;
                }
                out.pop();
                depth -= 1;
            }
            Component::Normal(part) => {
                out.push(part);
                depth += 1;
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// A relative path as a voicebank writes it (Windows separators accepted).
fn relative(value: &str) -> PathBuf {
    PathBuf::from(value.replace('\\', "/"))
}

/// Resolves `value` (key `key` of `config`, relative to `base`) to a path inside `root`.
pub(crate) fn resolve_inside(
    root: &Path,
    base: &Path,
    value: &str,
    config: &Path,
    key: &str,
) -> Result<PathBuf, VoicebankError> {
    if value.trim().is_empty() {
        return Err(VoicebankError::bad(config, key, "is empty"));
    }
    let rel = relative(value);
    if rel.is_absolute() || rel.components().any(|c| matches!(c, Component::Prefix(_))) {
        return Err(VoicebankError::bad(
            config,
            key,
            format!("is {value:?}; paths must be relative to the voicebank folder"),
        ));
    }
    let base_rel = base.strip_prefix(root).unwrap_or(Path::new(""));
    let inside = normalize(&base_rel.join(&rel)).ok_or_else(|| {
        VoicebankError::bad(
            config,
            key,
            format!("is {value:?}, which leaves the voicebank folder"),
        )
    })?;
    Ok(root.join(inside))
}

/// Resolves a file named by a configuration and checks that it exists.
pub(crate) fn existing_file(
    root: &Path,
    base: &Path,
    value: &str,
    config: &Path,
    key: &str,
) -> Result<PathBuf, VoicebankError> {
    let path = resolve_inside(root, base, value, config, key)?;
    if path.is_file() {
        Ok(path)
    } else {
        Err(VoicebankError::MissingFile {
            missing: path,
            config: config.to_path_buf(),
            key: key.to_string(),
        })
    }
}

/// The folder `vocoder:` names: relative to the voicebank folder (it may leave it, as a vocoder shared between voicebanks does) or absolute.
pub(crate) fn vocoder_folder(root: &Path, value: &str) -> Option<PathBuf> {
    if value.trim().is_empty() {
        return None;
    }
    let rel = relative(value);
    let dir = if rel.is_absolute() {
        rel
    } else {
        root.join(rel)
    };
    dir.join("vocoder.yaml").is_file().then_some(dir)
}

/// One speaker of a multi-speaker model: its name as the configuration lists it and its embedding file.
#[derive(Debug, Clone)]
pub(crate) struct Speaker {
    pub name: String,
    pub path: PathBuf,
}

impl Speaker {
    /// Whether `wanted` names this speaker: the entry itself or its last path component.
    pub fn is(&self, wanted: &str) -> bool {
        self.name == wanted || self.short_name() == wanted
    }

    /// The entry's last path component (`embeds/alto` → `alto`).
    pub fn short_name(&self) -> &str {
        self.name
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(self.name.as_str())
    }
}

/// Resolves the speakers of `config` (each `NAME` is the file `NAME.emb` beside it) and checks each file holds `hidden_size` floats.
pub(crate) fn speakers(
    root: &Path,
    base: &Path,
    config: &DsConfig,
    config_path: &Path,
) -> Result<Vec<Speaker>, VoicebankError> {
    let Some(names) = &config.speakers else {
        return Ok(Vec::new());
    };
    let want = u64::from(config.hidden_size) * 4;
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        let path = existing_file(root, base, &format!("{name}.emb"), config_path, "speakers")?;
        let size = std::fs::metadata(&path)
            .map_err(|e| VoicebankError::io(&path, e))?
            .len();
        if size != want {
            return Err(VoicebankError::Parse {
                path,
                message: format!(
                    "a speaker embedding of {size} bytes; hidden_size {} needs {want} (little-endian f32)",
                    config.hidden_size
                ),
            });
        }
        out.push(Speaker {
            name: name.clone(),
            path,
        });
    }
    Ok(out)
}

/// Reads a speaker's embedding: `hidden_size` little-endian f32 values, all finite.
pub(crate) fn read_embedding(path: &Path, hidden: usize) -> Result<Vec<f32>, VoicebankError> {
    let bytes = std::fs::read(path).map_err(|e| VoicebankError::io(path, e))?;
    if bytes.len() != hidden * 4 {
        return Err(VoicebankError::Parse {
            path: path.to_path_buf(),
            message: format!(
                "a speaker embedding of {} bytes; {hidden} floats need {}",
                bytes.len(),
                hidden * 4
            ),
        });
    }
    let values: Vec<f32> = bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    if values.iter().any(|v| !v.is_finite()) {
        return Err(VoicebankError::Parse {
            path: path.to_path_buf(),
            message: "the speaker embedding holds a non-finite value".into(),
        });
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_voicebank() {
        let root = Path::new("/vb");
        let cfg = Path::new("/vb/dsdur/dsconfig.yaml");
        let sub = Path::new("/vb/dsdur");
        assert_eq!(
            resolve_inside(root, sub, "../phonemes.txt", cfg, "phonemes").unwrap(),
            Path::new("/vb/phonemes.txt")
        );
        assert_eq!(
            resolve_inside(root, sub, "a\\b.onnx", cfg, "dur").unwrap(),
            Path::new("/vb/dsdur/a/b.onnx")
        );
        for bad in ["../../etc/passwd", "/etc/passwd", "", "  "] {
            let err = resolve_inside(root, sub, bad, cfg, "dur").unwrap_err();
            assert!(err.to_string().contains("`dur`"), "{err}");
        }
    }

    #[test]
    fn defaults_follow_openutau() {
        let c: DsConfig = serde_saphyr::from_str("acoustic: a.onnx\nmel_base: 10\n").unwrap();
        assert_eq!(c.phonemes, "phonemes.txt");
        assert_eq!(
            (c.sample_rate, c.hop_size, c.num_mel_bins),
            (44_100, 512, 128)
        );
        assert_eq!((c.win_size, c.fft_size, c.hidden_size), (2048, 2048, 256));
        assert_eq!((c.mel_fmin, c.mel_fmax), (40.0, 16_000.0));
        assert_eq!(
            (c.mel_base.as_str(), c.mel_scale.as_str()),
            ("10", "slaney")
        );
        assert!(c.predict_dur && c.predict_energy && c.predict_breathiness);
        assert!(!c.predict_voicing && !c.predict_tension && !c.variable_depth());
        let c: DsConfig =
            serde_saphyr::from_str("use_shallow_diffusion: true\nmax_depth: 600\nmel_bins: 64\n")
                .unwrap();
        assert!(c.variable_depth());
        assert_eq!(c.max_depth(), Some(0.6));
        assert_eq!(c.num_mel_bins, 64);
    }

    #[test]
    fn phoneme_lists_resolve_language_prefixes() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("phonemes.json");
        std::fs::write(&path, r#"{"SP": 0, "en/aa": 1, "ja/a": 2, "aa": 3}"#).unwrap();
        let mut table = PhonemeTable::read(&path).unwrap();
        assert_eq!(table.token("aa").unwrap(), (3, 0));
        table.languages = Some(HashMap::from([("en".into(), 1), ("ja".into(), 2)]));
        assert_eq!(table.resolve("aa", None), Some("aa"));
        assert_eq!(table.resolve("aa", Some("en")), Some("en/aa"));
        assert_eq!(table.resolve("a", None), None, "the default language is en");
        assert_eq!(table.token("en/aa").unwrap(), (1, 1));
        assert_eq!(table.token("ja/a").unwrap(), (2, 2));
        assert!(matches!(
            table.token("zz"),
            Err(VoicebankError::UnknownPhoneme { .. })
        ));
        std::fs::write(&path, r#"{"SP": -1}"#).unwrap();
        assert!(PhonemeTable::read(&path).is_err());
        std::fs::write(&path, "[1, 2]").unwrap();
        assert!(PhonemeTable::read(&path).is_err());
        let txt = dir.path().join("phonemes.txt");
        std::fs::write(&txt, "AP\r\nSP\naa\n").unwrap();
        let table = PhonemeTable::read(&txt).unwrap();
        assert_eq!(table.token("SP").unwrap(), (1, 0));
        assert_eq!(table.token("aa").unwrap(), (2, 0));
    }

    #[test]
    fn oversized_files_are_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("dsconfig.yaml");
        std::fs::write(&path, vec![b'#'; MAX_TEXT_BYTES as usize + 1]).unwrap();
        assert!(matches!(
            read_dsconfig(&path),
            Err(VoicebankError::TooLarge { .. })
        ));
    }
}
