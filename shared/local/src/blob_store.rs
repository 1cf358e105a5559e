//! Objects as files in a folder: `objects/<key>` for the bytes and
//! `meta/<key>.json` for content type, size and etag.
//!
//! Consistency: both files are written to `tmp/` first, fsynced, and renamed
//! into place under a store-wide write lock, object first and meta last. The
//! meta rename is the commit point: `head` only trusts meta, and a crash
//! between the two renames leaves at worst an object without meta, which is
//! invisible and gets replaced by the client's retried PUT (meta-first would
//! instead announce bytes that are not there). Readers take the read lock
//! only while they read meta and open the object; the open handle keeps
//! reading the same file even if a later PUT renames a new one over it.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use coda_core::auth::UrlSigner;
use coda_core::keys::{validate_key, validate_prefix};
use coda_core::ports::{
    BlobData, BlobMeta, BlobStore, Clock, ObjectCreated, ObjectEvents, PresignedPut,
};
use coda_core::{CodaError, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// What `meta/<key>.json` holds.
#[derive(Serialize, Deserialize)]
struct StoredMeta {
    content_type: String,
    etag: String,
    size: u64,
}

/// The on-disk part, shared with blocking tasks.
struct Folder {
    objects: PathBuf,
    meta: PathBuf,
    tmp: PathBuf,
    /// Serialises renames and deletions against readers pairing meta with bytes.
    lock: RwLock<()>,
}

/// A `BlobStore` over a local folder, with signed URLs served by the local API.
pub struct FolderBlobStore {
    folder: Arc<Folder>,
    signer: UrlSigner,
    base_url: String,
    clock: Arc<dyn Clock>,
    events: Option<(Arc<dyn ObjectEvents>, String)>,
}

impl std::fmt::Debug for FolderBlobStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderBlobStore")
            .field("objects", &self.folder.objects)
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl FolderBlobStore {
    /// A store rooted at `root` (created if missing) whose signed URLs start with `base_url`.
    pub fn new(
        root: PathBuf,
        signer: UrlSigner,
        base_url: String,
        clock: Arc<dyn Clock>,
    ) -> Result<Self> {
        let folder = Folder {
            objects: root.join("objects"),
            meta: root.join("meta"),
            tmp: root.join("tmp"),
            lock: RwLock::new(()),
        };
        for dir in [&folder.objects, &folder.meta, &folder.tmp] {
            fs::create_dir_all(dir).map_err(|e| io_err(&format!("create {}", dir.display()), e))?;
        }
        Ok(Self {
            folder: Arc::new(folder),
            signer,
            base_url: base_url.trim_end_matches('/').to_string(),
            clock,
            events: None,
        })
    }

    /// Raises `events.object_created` after every put of a key starting with `prefix`.
    pub fn with_events(mut self, events: Arc<dyn ObjectEvents>, prefix: &str) -> Self {
        self.events = Some((events, prefix.to_string()));
        self
    }

    fn presign(&self, method: &str, key: &str, ttl: Duration) -> Result<String> {
        validate_key(key)?;
        let ttl = chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::MAX);
        let expires = self
            .clock
            .now()
            .checked_add_signed(ttl)
            .map_or(i64::MAX, |t| t.timestamp());
        let signature = self.signer.sign(method, key, expires);
        Ok(format!(
            "{}/v1/objects/{}?expires={expires}&signature={signature}",
            self.base_url,
            encode_key_path(key)
        ))
    }
}

/// Percent-encodes each `/`-separated segment of a key (RFC 3986 unreserved characters stay).
pub fn encode_key_path(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    for b in key.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b'/' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Maps an I/O failure: interruptions and a full disk may pass, anything else is unexpected.
fn io_err(what: &str, e: std::io::Error) -> CodaError {
    match e.kind() {
        ErrorKind::Interrupted
        | ErrorKind::WouldBlock
        | ErrorKind::TimedOut
        | ErrorKind::ResourceBusy
        | ErrorKind::StorageFull => CodaError::Unavailable(format!("blob store: {what}: {e}")),
        _ => CodaError::Internal(format!("blob store: {what}: {e}")),
    }
}

fn not_found(key: &str) -> CodaError {
    CodaError::NotFound(format!("blob '{key}'"))
}

async fn blocking<T, F>(f: F) -> Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> Result<T> + Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| CodaError::Internal(format!("blob store task failed: {e}")))?
}

impl Folder {
    fn object_path(&self, key: &str) -> PathBuf {
        self.objects.join(key)
    }

    fn meta_path(&self, key: &str) -> PathBuf {
        self.meta.join(format!("{key}.json"))
    }

    /// Writes `bytes` to a fresh synced file in `tmp/` and returns its path.
    fn write_tmp(&self, bytes: &[u8]) -> Result<PathBuf> {
        let path = self.tmp.join(uuid::Uuid::new_v4().simple().to_string());
        let result = File::create_new(&path).and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        });
        match result {
            Ok(()) => Ok(path),
            Err(e) => {
                let _ = fs::remove_file(&path);
                Err(io_err("write temporary file", e))
            }
        }
    }

    fn read_meta(&self, key: &str) -> Result<Option<BlobMeta>> {
        let raw = match fs::read(self.meta_path(key)) {
            Ok(raw) => raw,
            // A file where a folder of the key should be also means "no such key".
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
                return Ok(None)
            }
            Err(e) => return Err(io_err(&format!("read metadata of '{key}'"), e)),
        };
        let m: StoredMeta = serde_json::from_slice(&raw).map_err(|e| {
            CodaError::Internal(format!("blob store: metadata of '{key}' is corrupt: {e}"))
        })?;
        Ok(Some(BlobMeta {
            key: key.to_string(),
            size: m.size,
            content_type: m.content_type,
            etag: m.etag,
        }))
    }

    fn put(
        &self,
        key: &str,
        bytes: &[u8],
        content_type: &str,
        if_absent: bool,
    ) -> Result<BlobMeta> {
        let etag = hex::encode(Sha256::digest(bytes))[..32].to_string();
        let meta = StoredMeta {
            content_type: content_type.to_string(),
            etag,
            size: bytes.len() as u64,
        };
        let meta_json = serde_json::to_vec(&meta).map_err(CodaError::internal)?;
        let tmp_object = self.write_tmp(bytes)?;
        let tmp_meta = match self.write_tmp(&meta_json) {
            Ok(p) => p,
            Err(e) => {
                let _ = fs::remove_file(&tmp_object);
                return Err(e);
            }
        };
        let result = self.commit(key, &tmp_object, &tmp_meta, if_absent);
        if result.is_err() {
            let _ = fs::remove_file(&tmp_object);
            let _ = fs::remove_file(&tmp_meta);
        }
        result?;
        Ok(BlobMeta {
            key: key.to_string(),
            size: meta.size,
            content_type: meta.content_type,
            etag: meta.etag,
        })
    }

    /// Renames the synced temporary files into place: object first, meta (the commit point) last.
    ///
    /// With `if_absent`, an object already at `key` (its meta, the commit point) is `AlreadyExists`:
    /// checked under the store's write lock, so of concurrent writers exactly one commits.
    fn commit(&self, key: &str, tmp_object: &Path, tmp_meta: &Path, if_absent: bool) -> Result<()> {
        let _guard = self.lock.write().unwrap_or_else(|p| p.into_inner());
        let object = self.object_path(key);
        let meta = self.meta_path(key);
        if if_absent && meta.exists() {
            return Err(CodaError::AlreadyExists(format!(
                "object '{key}' already exists"
            )));
        }
        check_free(key, &self.objects, &object)?;
        check_free(key, &self.meta, &meta)?;
        for (tmp, dest) in [(tmp_object, &object), (tmp_meta, &meta)] {
            let dir = dest.parent().unwrap_or(&self.objects);
            fs::create_dir_all(dir)
                .map_err(|e| io_err(&format!("create folder for '{key}'"), e))?;
            fs::rename(tmp, dest).map_err(|e| io_err(&format!("move '{key}' into place"), e))?;
            sync_dir(dir).map_err(|e| io_err(&format!("sync folder of '{key}'"), e))?;
        }
        Ok(())
    }

    fn get(&self, key: &str, range: Option<(u64, u64)>) -> Result<BlobData> {
        let (meta, mut file) = {
            let _guard = self.lock.read().unwrap_or_else(|p| p.into_inner());
            let meta = self.read_meta(key)?.ok_or_else(|| not_found(key))?;
            let file = match File::open(self.object_path(key)) {
                Ok(f) => f,
                Err(e) if e.kind() == ErrorKind::NotFound => return Err(not_found(key)),
                Err(e) => return Err(io_err(&format!("open '{key}'"), e)),
            };
            (meta, file)
        };
        let len = file
            .metadata()
            .map_err(|e| io_err(&format!("stat '{key}'"), e))?
            .len();
        if len != meta.size {
            return Err(CodaError::Internal(format!(
                "blob store: '{key}' holds {len} bytes but its metadata says {}",
                meta.size
            )));
        }
        let bytes = match range {
            None => {
                let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
                file.read_to_end(&mut buf)
                    .map_err(|e| io_err(&format!("read '{key}'"), e))?;
                buf
            }
            Some((start, end)) => {
                if len == 0 || start > end || start >= len {
                    return Err(CodaError::RangeNotSatisfiable { size: len });
                }
                let end = end.min(len - 1);
                let n = usize::try_from(end - start + 1).map_err(|_| {
                    CodaError::Internal(format!("range of '{key}' too large for memory"))
                })?;
                let mut buf = vec![0; n];
                file.seek(SeekFrom::Start(start))
                    .and_then(|_| file.read_exact(&mut buf))
                    .map_err(|e| io_err(&format!("read range of '{key}'"), e))?;
                buf
            }
        };
        Ok(BlobData {
            bytes: Bytes::from(bytes),
            meta,
        })
    }

    /// Removes one key's meta (first, so it disappears from `head` at once) and object; true if the object existed.
    fn remove_locked(&self, key: &str) -> Result<bool> {
        let meta = self.meta_path(key);
        let object = self.object_path(key);
        remove_if_present(&meta).map_err(|e| io_err(&format!("delete metadata of '{key}'"), e))?;
        let existed =
            remove_if_present(&object).map_err(|e| io_err(&format!("delete '{key}'"), e))?;
        prune_empty(&self.meta, &meta);
        prune_empty(&self.objects, &object);
        Ok(existed)
    }

    fn delete(&self, key: &str) -> Result<()> {
        let _guard = self.lock.write().unwrap_or_else(|p| p.into_inner());
        self.remove_locked(key).map(|_| ())
    }

    fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        let _guard = self.lock.write().unwrap_or_else(|p| p.into_inner());
        // Only the folder of the prefix's complete segments can hold matching keys.
        let dir = prefix.rsplit_once('/').map_or("", |(d, _)| d);
        let mut keys = Vec::new();
        collect_keys(&self.objects.join(dir), dir, &mut keys)?;
        let mut metas = Vec::new();
        collect_keys(&self.meta.join(dir), dir, &mut metas)?;
        // Meta files without an object (from an interrupted delete) go too, uncounted.
        keys.extend(
            metas
                .into_iter()
                .filter_map(|k| k.strip_suffix(".json").map(str::to_string)),
        );
        keys.sort();
        keys.dedup();
        let mut removed = 0;
        for key in keys.iter().filter(|k| k.starts_with(prefix)) {
            if self.remove_locked(key)? {
                removed += 1;
            }
        }
        Ok(removed)
    }
}

/// Fails with a conflict when `path` (for `key`) is a folder or one of its parents below `base` is a file.
fn check_free(key: &str, base: &Path, path: &Path) -> Result<()> {
    let clash = || CodaError::Conflict {
        code: "KEY_CONFLICT",
        message: format!(
            "object key '{key}' clashes with an existing key that is its folder or lies inside it"
        ),
    };
    let mut cur = path.parent();
    while let Some(dir) = cur.filter(|d| d.starts_with(base) && *d != base) {
        match fs::symlink_metadata(dir) {
            Ok(m) if !m.is_dir() => return Err(clash()),
            Ok(_) => break,
            Err(_) => cur = dir.parent(),
        }
    }
    match fs::symlink_metadata(path) {
        Ok(m) if m.is_dir() => Err(clash()),
        _ => Ok(()),
    }
}

fn remove_if_present(path: &Path) -> std::io::Result<bool> {
    match fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Removes now-empty folders from `file`'s parent up to, not including, `base`.
fn prune_empty(base: &Path, file: &Path) {
    let mut cur = file.parent();
    while let Some(dir) = cur.filter(|d| d.starts_with(base) && *d != base) {
        // Fails on a non-empty folder, which is where pruning should stop anyway.
        if fs::remove_dir(dir).is_err() {
            break;
        }
        cur = dir.parent();
    }
}

/// Appends the keys of every file under `dir`, whose key prefix is `rel` (no trailing slash).
fn collect_keys(dir: &Path, rel: &str, out: &mut Vec<String>) -> Result<()> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => {
            return Ok(())
        }
        Err(e) => return Err(io_err(&format!("list {}", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| io_err(&format!("list {}", dir.display()), e))?;
        // Names the store never wrote (not UTF-8) cannot be keys.
        let Ok(name) = entry.file_name().into_string() else {
            continue;
        };
        let key = if rel.is_empty() {
            name
        } else {
            format!("{rel}/{name}")
        };
        let kind = entry
            .file_type()
            .map_err(|e| io_err(&format!("stat {}", entry.path().display()), e))?;
        if kind.is_dir() {
            collect_keys(&entry.path(), &key, out)?;
        } else if kind.is_file() {
            out.push(key);
        }
    }
    Ok(())
}

/// Makes a rename inside `dir` durable.
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        File::open(dir)?.sync_all()
    }
    #[cfg(not(unix))]
    {
        let _ = dir;
        Ok(())
    }
}

#[async_trait]
impl BlobStore for FolderBlobStore {
    /// Writes `key` (only where nothing is, with `create_only`) and raises its event.
    async fn write(&self, key: &str, bytes: Bytes, ct: &str, new_only: bool) -> Result<BlobMeta> {
        let (content_type, create_only) = (ct, new_only);
        validate_key(key)?;
        let folder = self.folder.clone();
        let (k, ct) = (key.to_string(), content_type.to_string());
        let meta = blocking(move || folder.put(&k, &bytes, &ct, create_only)).await?;
        if let Some((events, prefix)) = &self.events {
            if key.starts_with(prefix.as_str()) {
                let raised = events
                    .object_created(ObjectCreated {
                        bucket: "local".to_string(),
                        key: key.to_string(),
                        size: meta.size,
                        etag: meta.etag.clone(),
                    })
                    .await;
                match raised {
                    // Without its event the object would block every retry of a create-only
                    // write; this write committed it, so this write takes it back. (A plain
                    // put leaves the object, and its retry raises the event again.)
                    Err(e) if create_only => {
                        let folder = self.folder.clone();
                        let k = key.to_string();
                        let _ = blocking(move || folder.delete(&k)).await;
                        return Err(e);
                    }
                    other => other?,
                }
            }
        }
        Ok(meta)
    }

    async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Result<BlobData> {
        validate_key(key)?;
        let folder = self.folder.clone();
        let k = key.to_string();
        blocking(move || folder.get(&k, range)).await
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>> {
        validate_key(key)?;
        let folder = self.folder.clone();
        let k = key.to_string();
        // No lock: meta is replaced by an atomic rename and is the commit point on its own.
        blocking(move || folder.read_meta(&k)).await
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        let folder = self.folder.clone();
        let k = key.to_string();
        blocking(move || folder.delete(&k)).await
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        validate_prefix(prefix)?;
        let folder = self.folder.clone();
        let p = prefix.to_string();
        blocking(move || folder.delete_prefix(&p)).await
    }

    async fn presign_put(
        &self,
        key: &str,
        _content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut> {
        // The slot itself takes one write (`receive_bytes`); the header is the same contract as S3's.
        Ok(PresignedPut {
            url: self.presign("PUT", key, ttl)?,
            headers: vec![("if-none-match".into(), "*".into())],
        })
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        self.presign("GET", key, ttl)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_segments() {
        assert_eq!(
            encode_key_path("uploads/x/Café + ünï.wav"),
            "uploads/x/Caf%C3%A9%20%2B%20%C3%BCn%C3%AF.wav"
        );
        assert_eq!(encode_key_path("a-b_c.~d/e"), "a-b_c.~d/e");
    }
}
