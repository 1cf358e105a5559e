//! Who may read a blob: keys are resolved to the row that owns them.
//!
//! Keys follow three layouts (`uploads/{upload_id}/...`, `results/{job_id}/...`,
//! `sessions/{session_id}/...`); anything else, or anything of another owner,
//! is "not found" so ids never leak.

use super::Adapters;
use crate::model::Owner;
use crate::{CodaError, Result};

/// Blob ownership over the three tables that own blobs.
#[derive(Clone)]
pub struct Access {
    a: Adapters,
}

impl Access {
    /// The check over these adapters' tables.
    pub fn new(a: &Adapters) -> Self {
        Access { a: a.clone() }
    }

    /// Succeeds when `owner` owns the blob at `key`.
    pub async fn check_blob_owner(&self, key: &str, owner: &Owner) -> Result<()> {
        let not_found = || CodaError::NotFound(format!("blob '{key}'"));
        let mut parts = key.splitn(3, '/');
        let (Some(area), Some(id), Some(rest)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(not_found());
        };
        if rest.is_empty()
            || rest
                .split('/')
                .any(|seg| seg == ".." || seg == "." || seg.is_empty())
        {
            return Err(not_found());
        }
        let row_owner = match area {
            "uploads" => self.a.uploads.get(id).await?.map(|u| u.owner),
            "results" => self.a.jobs.get(id).await?.map(|j| j.owner),
            "sessions" => self.a.sessions.get(id).await?.map(|s| s.owner),
            _ => None,
        };
        match row_owner {
            Some(o) if o == owner.0 => Ok(()),
            _ => Err(not_found()),
        }
    }

    /// The blob at `key` (optionally a byte range), when `owner` owns it.
    pub async fn blob(
        &self,
        owner: &Owner,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<crate::ports::BlobData> {
        self.check_blob_owner(key, owner).await?;
        self.a.blobs.get(key, range).await
    }
}
