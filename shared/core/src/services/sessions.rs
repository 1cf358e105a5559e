//! Session use cases: create, read, delete, attach files, chat messages, score revisions, evict.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::scores::{parse_score_file, prepare, ScoreState, Scores};
use super::{chrono_dur, Adapters, Limits};
use crate::filename::check_filename;
use crate::model::{ChatMessage, JobError, Owner, Session, SessionFile, UploadScore};
use crate::sniff::sniff;
use crate::{CodaError, Result};

/// A session as its owner sees it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SessionView {
    /// Session id.
    pub session_id: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Eviction time.
    pub expires_at: DateTime<Utc>,
    /// The latest chat turns (at most [`VIEW_MESSAGES`]), oldest first.
    pub history: Vec<ChatMessage>,
    /// Attached files.
    pub files: Vec<SessionFile>,
    /// The current score, once one has been stored.
    #[schema(value_type = Option<Object>)]
    pub current_score: Option<Value>,
    /// Its revision number (1, 2, ...).
    pub score_rev: Option<u64>,
    /// Blob key of the latest rendered audio.
    pub current_audio: Option<String>,
}

/// How many chat turns a session view carries.
pub const VIEW_MESSAGES: usize = 100;

/// A stored score revision.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRevision {
    /// 1, 2, ...
    pub rev: u64,
    /// Its blob key.
    pub key: String,
    /// The score.
    pub score: Value,
}

/// Session use cases over the ports they need, built once in the wiring.
#[derive(Clone)]
pub struct Sessions {
    a: Adapters,
    limits: Limits,
    scores: Scores,
}

/// A file attached to a session, and the score read from it when it is one.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AttachedFile {
    /// The stored file.
    #[serde(flatten)]
    pub file: SessionFile,
    /// For MusicXML, MXL and MIDI: the revision it became, now the session's current score.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<ScoreState>,
}

/// The caller's live session; other owners' and expired ones are not found.
pub(crate) async fn live_session(a: &Adapters, owner: &Owner, id: &str) -> Result<Session> {
    match a.sessions.get(id).await? {
        Some(s) if s.owner == owner.0 && s.expires_at > a.clock.now() => Ok(s),
        _ => Err(CodaError::NotFound(format!("session '{id}'"))),
    }
}

impl Sessions {
    /// The service over these adapters and limits.
    pub fn new(a: &Adapters, limits: Limits) -> Self {
        Sessions {
            a: a.clone(),
            limits,
            scores: Scores::new(a),
        }
    }

    /// Creates an empty session that expires after the configured TTL.
    pub async fn create(&self, owner: &Owner) -> Result<Session> {
        let now = self.a.clock.now();
        let session = Session {
            session_id: self.a.ids.new_id("ses"),
            owner: owner.0.clone(),
            created_at: now,
            expires_at: now + chrono_dur(self.limits.session_ttl),
            score_rev: None,
            score_head: 0,
            score_tokens: vec![],
            current_audio: None,
            legacy_files: vec![],
            version: 0,
        };
        self.a.sessions.create(&session).await?;
        Ok(session)
    }

    /// Reads the caller's live session; other owners' and expired ones are not found.
    pub async fn get(&self, owner: &Owner, id: &str) -> Result<Session> {
        live_session(&self.a, owner, id).await
    }

    /// The session with its latest messages, its files and its current score.
    pub async fn view(&self, owner: &Owner, id: &str) -> Result<SessionView> {
        let s = self.get(owner, id).await?;
        let history = self
            .a
            .session_items
            .latest_messages(id, VIEW_MESSAGES)
            .await?;
        let current_score = match s.score_rev {
            Some(rev) => Some(self.score(owner, id, Some(rev)).await?.score),
            None => None,
        };
        Ok(SessionView {
            files: self.files(&s).await?,
            session_id: s.session_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            history,
            current_score,
            score_rev: s.score_rev,
            current_audio: s.current_audio,
        })
    }

    /// The caller's chat messages, oldest first, a page at a time.
    pub async fn messages(
        &self,
        owner: &Owner,
        id: &str,
        limit: Option<usize>,
        cursor: Option<&str>,
    ) -> Result<crate::model::Page<ChatMessage>> {
        self.get(owner, id).await?;
        self.a
            .session_items
            .list_messages(id, limit.unwrap_or(50).clamp(1, 500), cursor)
            .await
    }

    /// The caller's newest `limit` chat messages, oldest first (the history without the rest of the view).
    pub async fn recent_messages(
        &self,
        owner: &Owner,
        id: &str,
        limit: usize,
    ) -> Result<Vec<ChatMessage>> {
        self.get(owner, id).await?;
        self.a.session_items.latest_messages(id, limit).await
    }

    /// Appends `(role, content)` messages in order, in one write where the store can.
    pub async fn add_messages(
        &self,
        owner: &Owner,
        id: &str,
        messages: &[(&str, &str)],
    ) -> Result<Vec<ChatMessage>> {
        self.get(owner, id).await?;
        let at = self.a.clock.now();
        let messages: Vec<ChatMessage> = messages
            .iter()
            .map(|(role, content)| ChatMessage {
                role: (*role).to_string(),
                content: (*content).to_string(),
                at,
            })
            .collect();
        self.a.session_items.append_messages(id, &messages).await?;
        Ok(messages)
    }

    /// Appends a chat turn; it touches no session row, so it contends with nothing.
    pub async fn add_message(
        &self,
        owner: &Owner,
        id: &str,
        role: &str,
        content: &str,
    ) -> Result<ChatMessage> {
        self.get(owner, id).await?;
        let message = ChatMessage {
            role: role.to_string(),
            content: content.to_string(),
            at: self.a.clock.now(),
        };
        self.a.session_items.append_message(id, &message).await?;
        Ok(message)
    }

    /// Stores `score` as the next revision and makes it current; any redo past the current one is dropped.
    pub async fn put_score(&self, owner: &Owner, id: &str, score: &Value) -> Result<u64> {
        self.scores.put_value(owner, id, score).await
    }

    /// A score revision (the current one when `rev` is `None`).
    pub async fn score(&self, owner: &Owner, id: &str, rev: Option<u64>) -> Result<ScoreRevision> {
        let s = self.get(owner, id).await?;
        let rev = rev
            .or(s.score_rev)
            .ok_or_else(|| CodaError::NotFound(format!("score of session '{id}'")))?;
        let key = s.score_key(rev).ok_or_else(|| {
            CodaError::NotFound(format!("score revision {rev} of session '{id}'"))
        })?;
        let data = self.a.blobs.get(&key, None).await?;
        let score = serde_json::from_slice(&data.bytes).map_err(CodaError::internal)?;
        Ok(ScoreRevision { rev, key, score })
    }

    /// Deletes the caller's session, its records and every file under it.
    pub async fn delete(&self, owner: &Owner, id: &str) -> Result<()> {
        let s = self.get(owner, id).await?;
        self.remove(&s).await
    }

    async fn files(&self, s: &Session) -> Result<Vec<SessionFile>> {
        let mut files = self.a.session_items.list_files(&s.session_id).await?;
        for f in &s.legacy_files {
            if !files.iter().any(|g| g.name == f.name) {
                files.push(f.clone());
            }
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    async fn remove(&self, s: &Session) -> Result<()> {
        // Blobs first: a crash in between leaves a row to retry, never orphaned bytes.
        for f in self.files(s).await? {
            self.a.blobs.delete(&f.key).await?;
        }
        self.a
            .blobs
            .delete_prefix(&format!("sessions/{}/", s.session_id))
            .await?;
        self.a.session_items.delete_all(&s.session_id).await?;
        self.a.sessions.delete(&s.session_id).await
    }

    /// Stores a directly uploaded file in the session (the multipart flow).
    ///
    /// A MusicXML, MXL or MIDI file is read first and becomes the current score; one
    /// that cannot be read is refused (422, with the reader's code and where) and
    /// nothing is stored.
    pub async fn attach_file(
        &self,
        owner: &Owner,
        id: &str,
        filename: &str,
        bytes: Bytes,
    ) -> Result<AttachedFile> {
        let name = check_filename(filename)?;
        if bytes.len() as u64 > self.limits.max_upload_bytes {
            return Err(too_large(bytes.len() as u64, self.limits.max_upload_bytes));
        }
        let kind = sniff(&bytes).ok_or_else(|| unsupported(&name))?;
        let session = self.get(owner, id).await?;
        // Read and checked before anything is stored: a refused score leaves nothing behind.
        let prepared = match kind {
            k if k.is_score() => {
                let p = parse_score_file(&name, bytes.clone()).await?;
                Some(prepare(&p.score, p.warnings)?)
            }
            _ => None,
        };
        let key = format!("sessions/{}/files/{}", session.session_id, name);
        let meta = self.a.blobs.put(&key, bytes, kind.mime()).await?;
        let file = SessionFile {
            name,
            key,
            content_type: kind.mime().to_string(),
            bytes: meta.size,
            added_at: self.a.clock.now(),
        };
        self.a
            .session_items
            .put_file(&session.session_id, &file)
            .await?;
        let score = match prepared {
            Some(p) => Some(self.scores.commit(owner, id, p).await?),
            None => None,
        };
        Ok(AttachedFile { file, score })
    }

    /// Makes a score file uploaded into session `id` its next score revision (ingest).
    ///
    /// A file that does not read is no error here: the answer carries the reader's error,
    /// and the session's score does not change. A gone session gives `None`.
    pub async fn score_from_upload(
        &self,
        owner: &Owner,
        id: &str,
        name: &str,
        key: &str,
        size: u64,
    ) -> Result<Option<UploadScore>> {
        let refused = |code: &str, message: String| {
            Ok(Some(UploadScore {
                rev: None,
                error: Some(JobError {
                    code: code.into(),
                    message,
                }),
            }))
        };
        // A presigned PUT is not bound to its declared size: check before reading it all.
        let limit = self
            .limits
            .max_upload_bytes
            .min(coda_music::ReadLimits::default().max_bytes as u64);
        if size > limit {
            return refused(
                "SCORE_TOO_LARGE",
                format!("'{name}' is {size} bytes; a score may be at most {limit}"),
            );
        }
        let bytes = self.a.blobs.get(key, None).await?.bytes;
        let parsed = match parse_score_file(name, bytes).await {
            Ok(p) => p,
            Err(e) => return refused(e.code(), e.to_string()),
        };
        match self
            .scores
            .replace(owner, id, &parsed.score, parsed.warnings)
            .await
        {
            Ok(state) => Ok(Some(UploadScore {
                rev: Some(state.rev),
                error: None,
            })),
            Err(CodaError::NotFound(_)) => Ok(None),
            // Refused as a score (too large, say): recorded, never retried.
            Err(CodaError::Unprocessable { code, message, .. }) => refused(code, message),
            Err(e) => Err(e),
        }
    }

    /// Records an uploaded file in its session (ingest); a gone session is no error.
    pub async fn record_upload(&self, session_id: &str, file: &SessionFile) -> Result<()> {
        if self.a.sessions.get(session_id).await?.is_none() {
            return Ok(());
        }
        self.a.session_items.put_file(session_id, file).await
    }

    /// Deletes sessions past their expiry; returns how many went.
    pub async fn evict_expired(&self) -> Result<usize> {
        let expired = self
            .a
            .sessions
            .list_expired(self.a.clock.now(), 100)
            .await?;
        for s in &expired {
            self.remove(s).await?;
        }
        Ok(expired.len())
    }
}

pub(crate) fn too_large(size: u64, max: u64) -> CodaError {
    CodaError::PayloadTooLarge {
        message: format!("upload of {size} bytes exceeds the limit of {max} bytes"),
        details: serde_json::json!({ "size": size, "max_bytes": max }),
    }
}

pub(crate) fn unsupported(name: &str) -> CodaError {
    CodaError::UnsupportedMediaType {
        message: format!(
            "'{name}' is not a supported file: expected audio (WAV, FLAC, MP3, OGG, M4A, AIFF), MIDI, MusicXML or JSON"
        ),
        details: serde_json::json!({ "filename": name }),
    }
}
