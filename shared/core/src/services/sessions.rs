//! Session use cases: create, read, delete, attach files, evict.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use super::{chrono_dur, Limits};
use crate::filename::check_filename;
use crate::model::{ChatMessage, Owner, Session, SessionFile};
use crate::ports::{BlobStore, Clock, IdGen, SessionRepo};
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
    /// Chat turns, oldest first.
    pub history: Vec<ChatMessage>,
    /// Attached files.
    pub files: Vec<SessionFile>,
    /// The current score, once one has been parsed.
    #[schema(value_type = Option<Object>)]
    pub current_score: Option<Value>,
    /// Blob key of the latest rendered audio.
    pub current_audio: Option<String>,
}

impl From<Session> for SessionView {
    fn from(s: Session) -> Self {
        Self {
            session_id: s.session_id,
            created_at: s.created_at,
            expires_at: s.expires_at,
            history: s.history,
            files: s.files,
            current_score: s.current_score,
            current_audio: s.current_audio,
        }
    }
}

/// Creates an empty session that expires after the configured TTL.
pub async fn create(
    repo: &dyn SessionRepo,
    clock: &dyn Clock,
    ids: &dyn IdGen,
    limits: &Limits,
    owner: &Owner,
) -> Result<Session> {
    let now = clock.now();
    let session = Session {
        session_id: ids.new_id("ses"),
        owner: owner.0.clone(),
        created_at: now,
        expires_at: now + chrono_dur(limits.session_ttl),
        history: vec![],
        files: vec![],
        current_score: None,
        current_audio: None,
        version: 0,
    };
    repo.create(&session).await?;
    Ok(session)
}

/// Reads the caller's live session; other owners' and expired ones are not found.
pub async fn get(
    repo: &dyn SessionRepo,
    clock: &dyn Clock,
    owner: &Owner,
    id: &str,
) -> Result<Session> {
    match repo.get(id).await? {
        Some(s) if s.owner == owner.0 && s.expires_at > clock.now() => Ok(s),
        _ => Err(CodaError::NotFound(format!("session '{id}'"))),
    }
}

/// Deletes the caller's session and every file under it.
pub async fn delete(
    repo: &dyn SessionRepo,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    owner: &Owner,
    id: &str,
) -> Result<()> {
    let s = get(repo, clock, owner, id).await?;
    remove(repo, blobs, &s).await
}

async fn remove(repo: &dyn SessionRepo, blobs: &dyn BlobStore, s: &Session) -> Result<()> {
    // Files first: a crash in between leaves a row to retry, never orphaned bytes.
    for f in &s.files {
        blobs.delete(&f.key).await?;
    }
    blobs
        .delete_prefix(&format!("sessions/{}/", s.session_id))
        .await?;
    repo.delete(&s.session_id).await
}

/// Stores a directly uploaded file in the session (the multipart flow).
#[allow(clippy::too_many_arguments)]
pub async fn attach_file(
    repo: &dyn SessionRepo,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
    limits: &Limits,
    owner: &Owner,
    id: &str,
    filename: &str,
    bytes: Bytes,
) -> Result<SessionFile> {
    let name = check_filename(filename)?;
    if bytes.len() as u64 > limits.max_upload_bytes {
        return Err(too_large(bytes.len() as u64, limits.max_upload_bytes));
    }
    let kind = sniff(&bytes).ok_or_else(|| unsupported(&name))?;
    let mut session = get(repo, clock, owner, id).await?;
    let key = format!("sessions/{}/files/{}", session.session_id, name);
    let meta = blobs.put(&key, bytes, kind.mime()).await?;
    let file = SessionFile {
        name: name.clone(),
        key,
        content_type: kind.mime().to_string(),
        bytes: meta.size,
        added_at: clock.now(),
    };
    loop {
        session.files.retain(|f| f.name != name);
        session.files.push(file.clone());
        match repo.update(&session).await {
            Ok(_) => return Ok(file),
            Err(CodaError::Conflict { .. }) => session = get(repo, clock, owner, id).await?,
            Err(e) => return Err(e),
        }
    }
}

/// Deletes sessions past their expiry; returns how many went.
pub async fn evict_expired(
    repo: &dyn SessionRepo,
    blobs: &dyn BlobStore,
    clock: &dyn Clock,
) -> Result<usize> {
    let expired = repo.list_expired(clock.now(), 100).await?;
    for s in &expired {
        remove(repo, blobs, s).await?;
    }
    Ok(expired.len())
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
            "'{name}' is not a supported file: expected audio (WAV, FLAC, MP3, OGG, M4A, AIFF), MIDI or MusicXML"
        ),
        details: serde_json::json!({ "filename": name }),
    }
}
