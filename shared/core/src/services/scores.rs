//! Score use cases: a session's current score, its revisions (blobs the row points at),
//! edits, undo and redo, and the score as a MusicXML, MXL, MIDI or JSON file.
//!
//! Every revision is a blob under a fresh token (`sessions/{id}/score/{rev}-{token}.json`),
//! written before the row's conditional update points at it. Two edits that race both
//! write their blob, but only one update wins; the loser gets 409 `CONFLICT` and its blob
//! is removed, so the winner's revision is never overwritten.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use coda_music::{
    apply_edits, parse_edits, read_score_file, score_info, write_score, EditError, FileFormat,
    Parsed, ReadFileError, ReadScoreError, Score, ScoreError, ScoreInfo,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use utoipa::ToSchema;

use super::sessions::live_session;
use super::{Adapters, ConflictRetry};
use crate::model::{Owner, Session, MAX_SCORE_REVISIONS};
use crate::{CodaError, Result};

/// The largest JSON form a score revision may have (64 MiB, the readers' input limit).
pub const MAX_REVISION_BYTES: usize = 64 * 1024 * 1024;

/// A session's score at one revision, with where it stands in the undo history.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ScoreState {
    /// This revision (1, 2, ...).
    pub rev: u64,
    /// The newest revision (above `rev` after an undo, until the next edit).
    pub head: u64,
    /// The oldest revision still kept (undo stops there).
    pub oldest: u64,
    /// Whether `undo` has somewhere to go.
    pub can_undo: bool,
    /// Whether `redo` has somewhere to go.
    pub can_redo: bool,
    /// The score's JSON form (`coda_music::Score`; see `GET /v1/schemas/score`).
    #[schema(value_type = Object)]
    pub score: Value,
    /// Its summary: parts, measures, notes, rests, lyrics, key, tempo, duration.
    #[schema(value_type = Object)]
    pub info: ScoreInfo,
}

/// A score rendered as a file.
#[derive(Clone, Debug)]
pub struct ScoreFile {
    /// The bytes.
    pub bytes: Bytes,
    /// Their format.
    pub format: FileFormat,
    /// A file name for `Content-Disposition` (`score-r3.musicxml`).
    pub filename: String,
}

/// Score use cases over the ports they need, built once in the wiring.
#[derive(Clone)]
pub struct Scores {
    a: Adapters,
    cache: Arc<RevisionCache>,
}

/// The last few revisions read or written, by blob key.
///
/// A revision's blob is never rewritten (each has its own token in its key), so a cached
/// score is never stale, in this process or any other; a row that no longer points at a key
/// is never asked for it again. It saves the parse of the score an edit just wrote when the
/// next message edits it again.
#[derive(Default)]
struct RevisionCache {
    entries: Mutex<VecDeque<(String, Arc<Score>)>>,
}

/// How many revisions the cache holds.
const CACHED_REVISIONS: usize = 8;
/// Larger revisions (by their JSON form) are not cached.
const CACHED_REVISION_BYTES: usize = 4 * 1024 * 1024;

impl RevisionCache {
    fn get(&self, key: &str) -> Option<Arc<Score>> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, s)| s.clone())
    }

    fn put(&self, key: String, score: Arc<Score>, bytes: usize) {
        if bytes > CACHED_REVISION_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.retain(|(k, _)| *k != key);
        if entries.len() >= CACHED_REVISIONS {
            entries.pop_front();
        }
        entries.push_back((key, score));
    }
}

/// The current revision's score and summary, without its JSON form.
#[derive(Clone, Debug)]
pub struct ScoreSummary {
    /// The revision.
    pub rev: u64,
    /// The score (shared with the service's cache).
    pub score: Arc<Score>,
    /// Its summary.
    pub info: ScoreInfo,
}

impl Scores {
    /// The service over these adapters.
    pub fn new(a: &Adapters) -> Self {
        Scores {
            a: a.clone(),
            cache: Arc::default(),
        }
    }

    /// The current revision as a score and its summary: the cheap read, for callers that do
    /// not send the score on.
    pub async fn summary(&self, owner: &Owner, id: &str) -> Result<ScoreSummary> {
        let s = live_session(&self.a, owner, id).await?;
        let (rev, score) = self.load(&s, None).await?;
        let info = info_of(&score, vec![])?;
        Ok(ScoreSummary { rev, score, info })
    }

    /// The current revision, or revision `rev`.
    pub async fn state(&self, owner: &Owner, id: &str, rev: Option<u64>) -> Result<ScoreState> {
        let s = live_session(&self.a, owner, id).await?;
        let (rev, score) = self.load(&s, rev).await?;
        state_of(&s, rev, &score, vec![])
    }

    /// The current revision (or `rev`) as a file of `format`.
    pub async fn file(
        &self,
        owner: &Owner,
        id: &str,
        rev: Option<u64>,
        format: FileFormat,
    ) -> Result<ScoreFile> {
        let s = live_session(&self.a, owner, id).await?;
        let (rev, score) = self.load(&s, rev).await?;
        let bytes = blocking(move || {
            write_score(&score, format).map_err(|e| CodaError::Unprocessable {
                code: e.code,
                message: format!("the score cannot be written as {}: {e}", format.name()),
                details: json!({ "format": format.name() }),
            })
        })
        .await?;
        Ok(ScoreFile {
            bytes: bytes.into(),
            format,
            filename: format!("score-r{rev}.{}", format.extension()),
        })
    }

    /// Stores a score read from a file as the next revision (dropping any redo); races are retried.
    pub async fn replace(
        &self,
        owner: &Owner,
        id: &str,
        score: &Score,
        warnings: Vec<String>,
    ) -> Result<ScoreState> {
        self.commit(owner, id, prepare(score, warnings)?).await
    }

    /// Stores a prepared score as the next revision (dropping any redo); races are retried.
    pub(crate) async fn commit(
        &self,
        owner: &Owner,
        id: &str,
        p: PreparedScore,
    ) -> Result<ScoreState> {
        let (rev, s) = self.put(owner, id, p.bytes, None).await?;
        state_with(&s, rev, p.value, p.info)
    }

    /// Stores any JSON value as the next revision (races are retried); returns its number.
    pub async fn put_value(&self, owner: &Owner, id: &str, value: &Value) -> Result<u64> {
        Ok(self.put(owner, id, to_bytes(value)?, None).await?.0)
    }

    /// Applies `edits` (a JSON array of `coda_music::Edit`) to the current revision, atomically.
    ///
    /// With `base_rev`, the edit applies only if that is still the current revision.
    /// A lost race with another edit, undo or redo answers 409 `CONFLICT`.
    pub async fn edit(
        &self,
        owner: &Owner,
        id: &str,
        edits: &Value,
        base_rev: Option<u64>,
    ) -> Result<ScoreState> {
        let edits = parse_edits(edits).map_err(invalid_edit)?;
        if edits.is_empty() {
            return Err(CodaError::Unprocessable {
                code: "INVALID_EDIT",
                message: "edits is empty: give at least one edit".into(),
                details: json!({ "field": "edits" }),
            });
        }
        let s = live_session(&self.a, owner, id).await?;
        check_base(&s, base_rev)?;
        let (rev, score) = self.load(&s, None).await?;
        // The revision is pinned by its blob key too: after an undo and another edit the same
        // number names a different score, and the edit must not land on that one unseen.
        let read = s.score_key(rev).ok_or_else(|| lost_race(id))?;
        let edited = blocking(move || apply_edits(&score, &edits).map_err(invalid_edit)).await?;
        let p = prepare(&edited, vec![])?;
        let size = p.bytes.len();
        let (new_rev, s) = self.put(owner, id, p.bytes, Some(&read)).await?;
        if let Some(key) = s.score_key(new_rev) {
            self.cache.put(key, Arc::new(edited), size);
        }
        state_with(&s, new_rev, p.value, p.info)
    }

    /// Moves back one revision; 409 `NOTHING_TO_UNDO` at the oldest kept one.
    pub async fn undo(&self, owner: &Owner, id: &str, base_rev: Option<u64>) -> Result<ScoreState> {
        self.step(owner, id, base_rev, -1).await
    }

    /// Moves forward one revision after an undo; 409 `NOTHING_TO_REDO` at the newest.
    pub async fn redo(&self, owner: &Owner, id: &str, base_rev: Option<u64>) -> Result<ScoreState> {
        self.step(owner, id, base_rev, 1).await
    }

    async fn step(
        &self,
        owner: &Owner,
        id: &str,
        base_rev: Option<u64>,
        by: i64,
    ) -> Result<ScoreState> {
        let mut retry = ConflictRetry::new(format!("session '{id}'"), 16);
        let first = live_session(&self.a, owner, id).await?;
        let from = first.score_rev.ok_or_else(|| no_score(id))?;
        check_base(&first, base_rev)?;
        loop {
            let mut s = live_session(&self.a, owner, id).await?;
            if !same_score(&s, &first) {
                return Err(lost_race(id));
            }
            let to = if by < 0 {
                if from <= s.score_oldest() {
                    return Err(CodaError::Conflict {
                        code: "NOTHING_TO_UNDO",
                        message: format!(
                            "revision {from} is the oldest kept (a session keeps {MAX_SCORE_REVISIONS})"
                        ),
                    });
                }
                from - 1
            } else {
                if from >= s.score_head {
                    return Err(CodaError::Conflict {
                        code: "NOTHING_TO_REDO",
                        message: format!("revision {from} is the newest"),
                    });
                }
                from + 1
            };
            s.score_rev = Some(to);
            match self.a.sessions.update(&s).await {
                Ok(updated) => {
                    let (rev, score) = self.load(&updated, Some(to)).await?;
                    return state_of(&updated, rev, &score, vec![]);
                }
                // Another field of the row changed (the audio, say): try again; a score change ends it.
                Err(CodaError::Stale(_)) => retry.wait().await?,
                Err(e) => return Err(e),
            }
        }
    }

    /// Writes `bytes` (a score's JSON form) as the revision after the current one and points
    /// the row at it.
    ///
    /// `expect`: the blob key of the revision the value was made from; if the score moved
    /// since, 409. Without it (a new file), a lost race is retried.
    async fn put(
        &self,
        owner: &Owner,
        id: &str,
        bytes: Bytes,
        expect: Option<&str>,
    ) -> Result<(u64, Session)> {
        let mut retry = ConflictRetry::new(format!("session '{id}'"), 16);
        let token = hex::encode(rand::random::<[u8; 8]>());
        loop {
            let mut s = live_session(&self.a, owner, id).await?;
            if let Some(read) = expect {
                let current = s.score_rev.and_then(|r| s.score_key(r));
                if current.as_deref() != Some(read) {
                    return Err(lost_race(id));
                }
            }
            let current = s.score_rev.unwrap_or(0);
            let rev = current + 1;
            // Revisions past the current one (a redo branch) and past the cap go.
            let mut dropped: Vec<String> = ((current + 1)..=s.score_head)
                .filter_map(|r| s.score_key(r))
                .collect();
            let keep = s.score_tokens.len() - dropped.len();
            s.score_tokens.truncate(keep);
            s.score_tokens.push(token.clone());
            s.score_head = rev;
            s.score_rev = Some(rev);
            while s.score_tokens.len() > MAX_SCORE_REVISIONS {
                let oldest = s.score_oldest();
                dropped.extend(s.score_key(oldest));
                s.score_tokens.remove(0);
            }
            let key = s
                .score_key(rev)
                .ok_or_else(|| CodaError::internal("revision key"))?;
            // The blob first: a row never points at a revision that is not there.
            self.a
                .blobs
                .put(&key, bytes.clone(), "application/json")
                .await?;
            match self.a.sessions.update(&s).await {
                Ok(updated) => {
                    for k in dropped {
                        // Unreachable now; a failure only leaves bytes that session deletion removes.
                        let _ = self.a.blobs.delete(&k).await;
                    }
                    return Ok((rev, updated));
                }
                Err(CodaError::Stale(_)) => {
                    // The row never pointed at it: nobody else can be reading it.
                    let _ = self.a.blobs.delete(&key).await;
                    retry.wait().await?;
                }
                // The update may have landed all the same (a timeout after the write), so the
                // blob stays; session deletion removes it if the row never points at it.
                Err(e) => return Err(e),
            }
        }
    }

    /// Reads a revision (the current one when `rev` is `None`) as a score.
    async fn load(&self, s: &Session, rev: Option<u64>) -> Result<(u64, Arc<Score>)> {
        let rev = rev.or(s.score_rev).ok_or_else(|| no_score(&s.session_id))?;
        let key = s.score_key(rev).ok_or_else(|| {
            CodaError::NotFound(format!(
                "score revision {rev} of session '{}' (kept: {}..={})",
                s.session_id,
                s.score_oldest(),
                s.score_head
            ))
        })?;
        if let Some(score) = self.cache.get(&key) {
            return Ok((rev, score));
        }
        let data = match self.a.blobs.get(&key, None).await {
            Ok(d) => d,
            // A kept revision's blob goes only when an edit after an undo or the cap drops it,
            // after the row has moved: the score changed while this request read it.
            Err(CodaError::NotFound(_)) => return Err(lost_race(&s.session_id)),
            Err(e) => return Err(e),
        };
        let score: Score =
            serde_json::from_slice(&data.bytes).map_err(|e| CodaError::Unprocessable {
                code: "INVALID_SCORE",
                message: format!("revision {rev} is not a score: {e}"),
                details: json!({ "rev": rev }),
            })?;
        let score = Arc::new(score);
        self.cache.put(key, score.clone(), data.bytes.len());
        Ok((rev, score))
    }
}

/// Reads an uploaded score file off the async threads; 422 with the reader's code and where.
pub(crate) async fn parse_score_file(name: &str, bytes: Bytes) -> Result<Parsed> {
    // By the bytes alone: a score's JSON form never sniffs as a score file, and a MusicXML
    // file named `.json` is still MusicXML.
    let name = name.to_string();
    blocking(move || read_score_file(&bytes, None).map_err(|e| invalid_score(&name, &e))).await
}

/// The 422 for a score that cannot be read: the reader's code, and where in the file.
pub fn invalid_score(name: &str, e: &ReadFileError) -> CodaError {
    let mut details = json!({ "filename": name });
    match e {
        ReadFileError::Score(ReadScoreError::Score(e)) => match e {
            ScoreError::Xml { line, column, .. }
            | ScoreError::TooDeep { line, column, .. }
            | ScoreError::Entity { line, column } => {
                details["line"] = json!(line);
                details["column"] = json!(column);
            }
            ScoreError::Invalid { at, .. } => {
                for (k, v) in [("part", &at.part), ("measure", &at.measure)] {
                    if let Some(v) = v {
                        details[k] = json!(v);
                    }
                }
                for (k, v) in [("line", at.line), ("column", at.column)] {
                    if let Some(v) = v {
                        details[k] = json!(v);
                    }
                }
            }
            _ => {}
        },
        ReadFileError::Score(ReadScoreError::Midi(coda_music::MidiError::Invalid {
            offset,
            ..
        })) => details["offset"] = json!(offset),
        ReadFileError::Json { line, column, .. } => {
            details["line"] = json!(line);
            details["column"] = json!(column);
        }
        _ => {}
    }
    CodaError::Unprocessable {
        code: e.code(),
        message: format!("'{name}' is not a readable score: {e}"),
        details,
    }
}

fn invalid_edit(e: EditError) -> CodaError {
    CodaError::Unprocessable {
        code: e.code(),
        message: format!("{}: {}", e.field, e.message),
        details: json!({ "field": e.field }),
    }
}

/// A score checked for storing: its JSON form (as a value and as the bytes stored, within
/// [`MAX_REVISION_BYTES`]) and its summary.
pub(crate) struct PreparedScore {
    value: Value,
    bytes: Bytes,
    info: ScoreInfo,
}

/// Everything that can refuse a score, done before anything is written.
pub(crate) fn prepare(score: &Score, warnings: Vec<String>) -> Result<PreparedScore> {
    let info = info_of(score, warnings)?;
    let value = serde_json::to_value(score).map_err(CodaError::internal)?;
    let bytes = to_bytes(&value)?;
    Ok(PreparedScore { value, bytes, info })
}

/// A revision's stored bytes. A small MIDI file can hold a long score (a note held for hours
/// is thousands of tied measures), and a revision is kept up to 100 times over, so its size
/// is bounded too.
fn to_bytes(value: &Value) -> Result<Bytes> {
    let bytes = serde_json::to_vec(value).map_err(CodaError::internal)?;
    if bytes.len() > MAX_REVISION_BYTES {
        return Err(CodaError::Unprocessable {
            code: "SCORE_TOO_LARGE",
            message: format!(
                "the score's JSON form is {} bytes; a revision may be at most {MAX_REVISION_BYTES}",
                bytes.len()
            ),
            details: json!({ "bytes": bytes.len(), "limit": MAX_REVISION_BYTES }),
        });
    }
    Ok(bytes.into())
}

fn info_of(score: &Score, warnings: Vec<String>) -> Result<ScoreInfo> {
    score_info(score, warnings).map_err(|e| CodaError::Unprocessable {
        code: e.code,
        message: e.message,
        details: json!({}),
    })
}

fn state_of(s: &Session, rev: u64, score: &Score, warnings: Vec<String>) -> Result<ScoreState> {
    let info = info_of(score, warnings)?;
    let value = serde_json::to_value(score).map_err(CodaError::internal)?;
    state_with(s, rev, value, info)
}

fn state_with(s: &Session, rev: u64, score: Value, info: ScoreInfo) -> Result<ScoreState> {
    Ok(ScoreState {
        rev,
        head: s.score_head,
        oldest: s.score_oldest(),
        can_undo: rev > s.score_oldest(),
        can_redo: rev < s.score_head,
        score,
        info,
    })
}

fn check_base(s: &Session, base_rev: Option<u64>) -> Result<()> {
    match base_rev {
        Some(b) if s.score_rev != Some(b) => Err(CodaError::Stale(format!(
            "the score is at revision {}, not {b}: read it again and retry",
            s.score_rev.unwrap_or(0)
        ))),
        _ => Ok(()),
    }
}

fn same_score(a: &Session, b: &Session) -> bool {
    a.score_rev == b.score_rev && a.score_head == b.score_head && a.score_tokens == b.score_tokens
}

fn lost_race(id: &str) -> CodaError {
    CodaError::Stale(format!(
        "the score of session '{id}' changed meanwhile (another edit, undo or redo): read it again and retry"
    ))
}

fn no_score(id: &str) -> CodaError {
    CodaError::NotFound(format!(
        "score of session '{id}' (upload a MusicXML, MXL or MIDI file to POST /v1/sessions/{id}/files first)"
    ))
}

/// Runs CPU work (parsing, editing, writing a score) on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CodaError::internal(format!("score task failed: {e}")))?
}
