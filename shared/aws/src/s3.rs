//! `BlobStore` on S3: objects are keys of one bucket, signed URLs are S3 presigned URLs.

use std::time::Duration;

use async_trait::async_trait;
use aws_config::SdkConfig;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use bytes::Bytes;
use coda_core::ports::{BlobData, BlobMeta, BlobStore, PresignedPut};
use coda_core::{CodaError, Result};

use crate::error::{http_status, sdk_error, service_code};
use coda_core::keys::{validate_key, validate_prefix};

/// S3 refuses presigned URLs valid for longer than seven days.
const MAX_PRESIGN_TTL: Duration = Duration::from_secs(7 * 24 * 3600);

/// What S3 answers for an object stored without a content type.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

/// A `BlobStore` over one S3 bucket.
#[derive(Clone, Debug)]
pub struct S3BlobStore {
    client: Client,
    bucket: String,
}

/// An S3 client for `sdk_config`, path-style when an endpoint override points at an emulator.
pub fn s3_client(sdk_config: &SdkConfig) -> Client {
    // Emulators answer on one host name, so the bucket cannot go into a virtual-host name.
    let overridden =
        sdk_config.endpoint_url().is_some() || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some();
    let config = aws_sdk_s3::config::Builder::from(sdk_config)
        .force_path_style(overridden)
        .build();
    Client::from_conf(config)
}

impl S3BlobStore {
    /// A store over `bucket`, with a client built by [`s3_client`].
    pub fn new(sdk_config: &SdkConfig, bucket: &str) -> Self {
        Self::from_client(s3_client(sdk_config), bucket)
    }

    /// A store over `bucket` using an existing client.
    pub fn from_client(client: Client, bucket: &str) -> Self {
        Self {
            client,
            bucket: bucket.to_string(),
        }
    }

    /// The bucket's name.
    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// The S3 client, for operations the port does not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The answer to a range S3 cannot serve: the blob's size, or NotFound.
    async fn unsatisfiable(&self, key: &str) -> CodaError {
        match self.head(key).await {
            Ok(Some(meta)) => CodaError::RangeNotSatisfiable { size: meta.size },
            Ok(None) => not_found(key),
            Err(e) => e,
        }
    }
}

fn not_found(key: &str) -> CodaError {
    CodaError::NotFound(format!("blob '{key}'"))
}

/// S3 quotes entity tags; the ports and S3 events carry them bare.
fn bare_etag(etag: Option<&str>) -> String {
    etag.unwrap_or_default().trim_matches('"').to_string()
}

fn size_of(len: Option<i64>) -> u64 {
    len.and_then(|n| u64::try_from(n).ok()).unwrap_or(0)
}

/// The whole object's size from a `Content-Range: bytes a-b/total` header.
fn total_from_content_range(range: &str) -> Option<u64> {
    let (_, total) = range.trim().rsplit_once('/')?;
    total.trim().parse().ok()
}

fn presigning(ttl: Duration) -> Result<PresigningConfig> {
    let ttl = ttl.clamp(Duration::from_secs(1), MAX_PRESIGN_TTL);
    PresigningConfig::expires_in(ttl).map_err(|e| CodaError::Internal(format!("presign: {e}")))
}

#[async_trait]
impl BlobStore for S3BlobStore {
    /// One PutObject; with `create_only`, S3's conditional write: the first PUT creates, later
    /// ones get 412 (or 409 while one is in flight), which is `AlreadyExists`.
    async fn write(&self, key: &str, bytes: Bytes, ct: &str, new_only: bool) -> Result<BlobMeta> {
        let (content_type, create_only) = (ct, new_only);
        validate_key(key)?;
        let size = bytes.len() as u64;
        let mut req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes));
        if create_only {
            req = req.if_none_match("*");
        }
        match req.send().await {
            Ok(out) => Ok(BlobMeta {
                key: key.to_string(),
                size,
                content_type: content_type.to_string(),
                etag: bare_etag(out.e_tag()),
            }),
            Err(e) if create_only && matches!(http_status(&e), Some(409 | 412)) => Err(
                CodaError::AlreadyExists(format!("object '{key}' already exists")),
            ),
            Err(e) => Err(sdk_error(&format!("put '{key}'"), e)),
        }
    }

    async fn get(&self, key: &str, range: Option<(u64, u64)>) -> Result<BlobData> {
        validate_key(key)?;
        let mut req = self.client.get_object().bucket(&self.bucket).key(key);
        if let Some((start, end)) = range {
            // S3 ignores a malformed range and sends the whole object, so refuse it here.
            if start > end {
                return Err(self.unsatisfiable(key).await);
            }
            req = req.range(format!("bytes={start}-{end}"));
        }
        let out = match req.send().await {
            Ok(out) => out,
            Err(e) => {
                let code = service_code(&e);
                let status = http_status(&e);
                if code == Some("NoSuchKey")
                    || (status == Some(404) && code != Some("NoSuchBucket"))
                {
                    return Err(not_found(key));
                }
                if code == Some("InvalidRange") || status == Some(416) {
                    return Err(self.unsatisfiable(key).await);
                }
                return Err(sdk_error(&format!("get '{key}'"), e));
            }
        };
        let partial_len = size_of(out.content_length());
        let size = out
            .content_range()
            .and_then(total_from_content_range)
            .unwrap_or(partial_len);
        let meta = BlobMeta {
            key: key.to_string(),
            size,
            content_type: out
                .content_type()
                .unwrap_or(DEFAULT_CONTENT_TYPE)
                .to_string(),
            etag: bare_etag(out.e_tag()),
        };
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| CodaError::Unavailable(format!("read '{key}' from S3: {e}")))?
            .into_bytes();
        Ok(BlobData { bytes, meta })
    }

    async fn head(&self, key: &str) -> Result<Option<BlobMeta>> {
        validate_key(key)?;
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => Ok(Some(BlobMeta {
                key: key.to_string(),
                size: size_of(out.content_length()),
                content_type: out
                    .content_type()
                    .unwrap_or(DEFAULT_CONTENT_TYPE)
                    .to_string(),
                etag: bare_etag(out.e_tag()),
            })),
            // HEAD answers carry no body, so the status is all S3 says about a missing key.
            Err(e) if http_status(&e) == Some(404) => Ok(None),
            Err(e) => Err(sdk_error(&format!("head '{key}'"), e)),
        }
    }

    async fn delete(&self, key: &str) -> Result<()> {
        validate_key(key)?;
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| sdk_error(&format!("delete '{key}'"), e))?;
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> Result<u64> {
        validate_prefix(prefix)?;
        let mut removed = 0u64;
        let mut token: Option<String> = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| sdk_error(&format!("list '{prefix}'"), e))?;
            let ids = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(CodaError::internal)?;
            // A listing page holds at most 1000 keys, the most one batch delete takes.
            if !ids.is_empty() {
                let delete = Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(false)
                    .build()
                    .map_err(CodaError::internal)?;
                let out = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("delete under '{prefix}'"), e))?;
                if let Some(err) = out.errors().first() {
                    let message = format!(
                        "delete '{}' under '{prefix}': {} {}",
                        err.key().unwrap_or_default(),
                        err.code().unwrap_or_default(),
                        err.message().unwrap_or_default()
                    );
                    return Err(match err.code() {
                        Some("InternalError" | "SlowDown" | "ServiceUnavailable") => {
                            CodaError::Unavailable(message)
                        }
                        _ => CodaError::Internal(message),
                    });
                }
                removed += out.deleted().len() as u64;
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => return Ok(removed),
            }
        }
    }

    async fn presign_put(
        &self,
        key: &str,
        _content_type: &str,
        ttl: Duration,
    ) -> Result<PresignedPut> {
        validate_key(key)?;
        // The content type is left unsigned: clients (curl among them) send their own, and
        // ingest sniffs the bytes anyway, so signing it would only refuse honest uploads.
        // `If-None-Match: *` is signed: S3 then takes the first PUT and answers any later one
        // 412 PreconditionFailed, so an upload slot holds the bytes that were ingested.
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| sdk_error(&format!("presign put '{key}'"), e))?;
        Ok(PresignedPut {
            url: req.uri().to_string(),
            headers: req
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
        })
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        validate_key(key)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(presigning(ttl)?)
            .await
            .map_err(|e| sdk_error(&format!("presign get '{key}'"), e))?;
        Ok(req.uri().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_content_range_totals() {
        assert_eq!(total_from_content_range("bytes 0-3/10"), Some(10));
        assert_eq!(total_from_content_range(" bytes 5-9/1234 "), Some(1234));
        assert_eq!(total_from_content_range("bytes */10"), Some(10));
        assert_eq!(total_from_content_range("bytes 0-3/*"), None);
        assert_eq!(total_from_content_range("garbage"), None);
    }

    #[test]
    fn strips_etag_quotes() {
        assert_eq!(bare_etag(Some("\"abc\"")), "abc");
        assert_eq!(bare_etag(Some("abc")), "abc");
        assert_eq!(bare_etag(None), "");
    }

    #[test]
    fn clamps_presign_ttl() {
        assert_eq!(
            presigning(Duration::ZERO).unwrap().expires(),
            Duration::from_secs(1)
        );
        assert_eq!(
            presigning(Duration::from_secs(30 * 24 * 3600))
                .unwrap()
                .expires(),
            MAX_PRESIGN_TTL
        );
        assert_eq!(
            presigning(Duration::from_secs(900)).unwrap().expires(),
            Duration::from_secs(900)
        );
    }
}
