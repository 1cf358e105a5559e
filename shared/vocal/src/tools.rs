//! The CPU half of S0's tool set, as typed functions with a JSON form and a JSON Schema:
//! `parse_score`, `modify_score`, `phonemize` ([`crate::phonemize`]) and
//! `align_phonemes_to_notes`. They need no model and no I/O: the caller reads the
//! file and resolves the voicebank into a [`Lexicon`].

use coda_music::{
    apply_edits, expand_repeats, parse_edits, read_score_file, score_info, sung_line, FileFormat,
    MelodyError, Score, ScoreInfo, SungLine,
};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::align::{align, AlignError, Alignment};
use crate::g2p::pronounce;
use crate::phonemize::Lexicon;
use crate::phones::{class_of, PhoneClass};

/// Why a tool call failed: a stable code, a message and the field at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error, Serialize, JsonSchema)]
#[error("{code}: {message}")]
pub struct ToolError {
    /// `INVALID_SCORE`, `INVALID_EDIT`, `INVALID_PARAMS`, ...
    pub code: &'static str,
    /// What went wrong.
    pub message: String,
    /// The request field at fault, when there is one.
    pub field: Option<String>,
}

impl ToolError {
    /// An error with a field.
    pub fn new(code: &'static str, message: impl Into<String>, field: Option<&str>) -> Self {
        ToolError {
            code,
            message: message.into(),
            field: field.map(str::to_string),
        }
    }
}

/// `parse_score`: a score file read into the JSON form.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ParseScoreRequest {
    /// The file: a session file's name, or the score itself (MusicXML text or Coda's JSON form); the caller reads it.
    pub file: String,
    /// The part whose sung line to return too (from 0).
    #[serde(default)]
    pub part_index: Option<usize>,
    /// Play repeats and jumps out first.
    #[serde(default)]
    pub expand_repeats: bool,
}

/// `parse_score`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ParseScoreResponse {
    /// The score in its JSON form.
    pub score: Score,
    /// Its summary.
    pub info: ScoreInfo,
    /// The sung line of `part_index`: notes in seconds with their syllables.
    pub line: Option<SungLine>,
}

fn melody_error(e: MelodyError) -> ToolError {
    match e {
        MelodyError::NoSuchPart { .. } => {
            ToolError::new("INVALID_PARAMS", e.to_string(), Some("part_index"))
        }
        MelodyError::NoSuchVerse { .. } => {
            ToolError::new("INVALID_PARAMS", e.to_string(), Some("verse"))
        }
        MelodyError::Timing(_) => ToolError::new("INVALID_SCORE", e.to_string(), Some("score")),
    }
}

/// Reads `bytes` (MusicXML, `.mxl`, MIDI, or the JSON form).
pub fn read_any(bytes: &[u8]) -> Result<coda_music::Parsed, ToolError> {
    let json = bytes
        .iter()
        .find(|b| !b.is_ascii_whitespace())
        .is_some_and(|&b| b == b'{');
    read_score_file(bytes, json.then_some(FileFormat::Json))
        .map_err(|e| ToolError::new(e.code(), e.to_string(), Some("file")))
}

/// `parse_score` on the file's bytes.
pub fn parse_score(bytes: &[u8], req: &ParseScoreRequest) -> Result<ParseScoreResponse, ToolError> {
    let parsed = read_any(bytes)?;
    let mut score = parsed.score;
    if req.expand_repeats {
        score = expand_repeats(&score)
            .map_err(|e| ToolError::new(e.code(), e.to_string(), Some("expand_repeats")))?;
    }
    let info = score_info(&score, parsed.warnings)
        .map_err(|e| ToolError::new(e.code, e.message, Some("file")))?;
    let line = match req.part_index {
        Some(i) => Some(sung_line(&score, i, None).map_err(melody_error)?),
        None => None,
    };
    Ok(ParseScoreResponse { score, info, line })
}

/// `modify_score`: edits applied to a score, all or none.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ModifyScoreRequest {
    /// The score in its JSON form.
    pub score: Score,
    /// The edits (see `GET /v1/schemas/edit`), applied in order.
    pub edits: serde_json::Value,
}

/// `modify_score`'s answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct ModifyScoreResponse {
    /// The edited score.
    pub score: Score,
    /// How many edits were applied.
    pub applied: usize,
}

/// `modify_score`.
pub fn modify_score(req: &ModifyScoreRequest) -> Result<ModifyScoreResponse, ToolError> {
    let invalid = |e: coda_music::EditError| {
        ToolError::new("INVALID_EDIT", e.message.clone(), Some(&e.field))
    };
    let edits = parse_edits(&req.edits).map_err(invalid)?;
    let score = apply_edits(&req.score, &edits).map_err(invalid)?;
    Ok(ModifyScoreResponse {
        score,
        applied: edits.len(),
    })
}

/// `align_phonemes_to_notes`: a part's lyrics as phonemes placed on its notes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct AlignRequest {
    /// The score in its JSON form.
    pub score: Score,
    /// `builtin` or a DiffSinger voicebank's name (its dictionary and phoneme classes are used).
    #[serde(default = "builtin")]
    pub voicebank: String,
    /// The part (from 0).
    #[serde(default)]
    pub part_index: usize,
    /// The verse (default: verse 1, else the part's first).
    #[serde(default)]
    pub verse: Option<String>,
}

fn builtin() -> String {
    "builtin".into()
}

/// `align_phonemes_to_notes`'s answer: the alignment and the line it was made from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct AlignResponse {
    /// Phonemes (with note index and word), notes (durations, pitches, rests), words, in frames.
    pub alignment: Alignment,
    /// The sung line: notes in seconds with their syllables.
    pub line: SungLine,
}

/// The class of `phone` under `lexicon`: the voicebank's symbol types, else ARPAbet's.
pub fn classify(lexicon: &Lexicon, phone: &str) -> Option<PhoneClass> {
    match phone {
        "SP" => return Some(PhoneClass::Silence),
        "AP" => return Some(PhoneClass::Breath),
        _ => {}
    }
    let bare = phone.rsplit('/').next().unwrap_or(phone);
    lexicon
        .voicebank
        .and_then(|d| d.symbol_class(phone).or_else(|| d.symbol_class(bare)))
        .or_else(|| class_of(bare))
}

/// Aligns a line under `lexicon` (its dictionary first, then the CMU dictionary, then letter-to-sound).
pub fn align_line(line: &SungLine, lexicon: &Lexicon) -> Result<Alignment, AlignError> {
    align(
        line,
        |w| pronounce(w, lexicon.dictionary, lexicon.voicebank),
        |p| classify(lexicon, p),
    )
}

/// `align_phonemes_to_notes`.
pub fn align_phonemes_to_notes(
    req: &AlignRequest,
    lexicon: &Lexicon,
) -> Result<AlignResponse, ToolError> {
    let line = sung_line(&req.score, req.part_index, req.verse.as_deref()).map_err(melody_error)?;
    let alignment = align_line(&line, lexicon).map_err(|e| match e {
        AlignError::TooLong { .. } => {
            ToolError::new("SCORE_TOO_LARGE", e.to_string(), Some("score"))
        }
        AlignError::UnknownPhoneme(_) => {
            ToolError::new("INVALID_PARAMS", e.to_string(), Some("voicebank"))
        }
    })?;
    Ok(AlignResponse { alignment, line })
}

/// The JSON Schemas of the CPU tools' requests and responses, by tool name.
pub fn cpu_tool_schemas() -> serde_json::Value {
    fn pair<Q: JsonSchema, R: JsonSchema>() -> serde_json::Value {
        serde_json::json!({
            "request": schemars::schema_for!(Q),
            "response": schemars::schema_for!(R),
        })
    }
    serde_json::json!({
        "parse_score": pair::<ParseScoreRequest, ParseScoreResponse>(),
        "modify_score": pair::<ModifyScoreRequest, ModifyScoreResponse>(),
        "phonemize": pair::<crate::phonemize::PhonemizeRequest, crate::phonemize::PhonemizeResponse>(),
        "align_phonemes_to_notes": pair::<AlignRequest, AlignResponse>(),
    })
}
