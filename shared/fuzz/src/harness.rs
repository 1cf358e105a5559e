//! One in-process API (the real router over SQLite in memory and a folder
//! store), shared by every input of a run: building it costs milliseconds, a
//! request microseconds.

use std::sync::{Arc, OnceLock};

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Request, StatusCode};
use axum::Router;
use coda_api::{AppState, JwtAuth};
use coda_core::auth::{TokenSigner, UrlSigner};
use coda_core::kinds::Kinds;
use coda_core::model::{JobKind, Owner};
use coda_core::ports::{Clock, HostResolver, RandomIds, SystemClock};
use coda_core::services::{Adapters, Limits, Policies, QuotaPolicy};
use coda_local::{
    Db, FolderBlobStore, SqliteDeliveryRepo, SqliteJobRepo, SqliteQueue, SqliteQuotaCounters,
    SqliteSessionItems, SqliteSessionRepo, SqliteUploadRepo, SqliteWebhookRepo,
};
use tower::ServiceExt;

const BASE_URL: &str = "http://fuzz.invalid";

/// The stored blob the Range and signed-URL targets read.
pub const BLOB_KEY: &str = "fuzz/blob.bin";
/// The expiry of its signed GET (2100-01-01).
pub const SIGNED_EXPIRES: i64 = 4_102_444_800;
/// The secret of the signed URLs.
pub const URL_SECRET: &[u8] = b"fuzz-url-secret";

/// Nothing in a fuzz run may wait on DNS (or depend on /etc/hosts): every name is
/// unresolvable, hence accepted at creation, as a name that does not resolve yet is.
struct NoDns;

#[async_trait::async_trait]
impl HostResolver for NoDns {
    async fn lookup(&self, host: &str) -> Result<Vec<std::net::IpAddr>, String> {
        Err(format!("{host}: no DNS in the fuzz harness"))
    }
}

/// The API every HTTP target sends to, and what it holds.
pub struct Harness {
    rt: tokio::runtime::Runtime,
    app: Router,
    /// A bearer token of the session's owner.
    pub token: String,
    /// A session of that owner.
    pub session_id: String,
    /// A stored blob's key, its bytes and length.
    pub blob_key: String,
    /// The blob's bytes.
    pub blob: Vec<u8>,
    /// Its length.
    pub blob_len: usize,
    /// A signed GET of it: path and query.
    pub signed_get: String,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// The one harness of this process.
    pub fn get() -> &'static Harness {
        static H: OnceLock<Harness> = OnceLock::new();
        H.get_or_init(|| Harness::new().unwrap_or_else(|e| panic!("fuzz harness: {e}")))
    }

    fn new() -> Result<Harness, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let urls = UrlSigner::new(URL_SECRET.to_vec());
        let tokens = TokenSigner::new(b"fuzz-token-secret".to_vec());
        let db = Db::open_in_memory().map_err(|e| e.to_string())?;
        let blobs = FolderBlobStore::new(
            dir.path().join("blobs"),
            urls.clone(),
            format!("{BASE_URL}/"),
            clock.clone(),
        )
        .map_err(|e| e.to_string())?;
        let adapters = Adapters {
            sessions: Arc::new(SqliteSessionRepo::new(db.clone())),
            session_items: Arc::new(SqliteSessionItems::new(db.clone())),
            uploads: Arc::new(SqliteUploadRepo::new(db.clone())),
            jobs: Arc::new(SqliteJobRepo::new(db.clone())),
            webhooks: Arc::new(SqliteWebhookRepo::new(db.clone())),
            deliveries: Arc::new(SqliteDeliveryRepo::new(db.clone())),
            jobs_queue: Arc::new(SqliteQueue::new(db.clone(), "jobs", None, clock.clone())),
            jobs_dlq: Arc::new(SqliteQueue::new(
                db.clone(),
                "jobs-dlq",
                None,
                clock.clone(),
            )),
            blobs: Arc::new(blobs),
            quota_counters: Arc::new(SqliteQuotaCounters::new(db, clock.clone())),
            clock: clock.clone(),
            ids: Arc::new(RandomIds),
            resolver: Arc::new(NoDns),
        };
        let policies = Policies {
            limits: Limits {
                max_upload_bytes: 1 << 20,
                ..Limits::default()
            },
            kinds: Kinds::new(coda_jobs::registry(), &[JobKind::from_static("probe")]),
            webhook_policy: Default::default(),
            quotas: QuotaPolicy::unlimited(),
        };
        let auth = Arc::new(JwtAuth {
            signer: tokens.clone(),
            clock: clock.clone(),
        });
        let state = AppState {
            url_signer: Some(urls.clone()),
            ..AppState::new(adapters.clone(), policies, auth)
        };
        let owner = Owner("fuzzer".into());
        let session = rt
            .block_on(state.services.sessions.create(&owner))
            .map_err(|e| e.to_string())?;
        let blob: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
        let blob_key = BLOB_KEY.to_string();
        rt.block_on(adapters.blobs.put(
            &blob_key,
            Bytes::from(blob.clone()),
            "application/octet-stream",
        ))
        .map_err(|e| e.to_string())?;
        // A fixed key, secret and expiry: the corpus can hold this very URL.
        let signed_get = format!(
            "/v1/objects/{blob_key}?expires={SIGNED_EXPIRES}&signature={}",
            urls.sign("GET", &blob_key, SIGNED_EXPIRES)
        );
        Ok(Harness {
            token: tokens.issue(&owner.0, clock.now(), 86_400 * 365),
            session_id: session.session_id,
            blob_key,
            blob_len: blob.len(),
            blob,
            signed_get,
            app: coda_api::router(Arc::new(state)),
            rt,
            _dir: dir,
        })
    }

    /// Sends `req` through the router; checks the answer against the contract and returns it.
    pub fn send(&self, req: Request<Body>) -> (StatusCode, HeaderMap, Bytes) {
        self.rt.block_on(async {
            let resp = self
                .app
                .clone()
                .oneshot(req)
                .await
                .expect("the router is infallible");
            let (parts, body) = resp.into_parts();
            let bytes = axum::body::to_bytes(body, usize::MAX)
                .await
                .expect("a readable body");
            check_response(parts.status, &bytes);
            (parts.status, parts.headers, bytes)
        })
    }
}

/// No 5xx, and every error in the envelope `{"error":{"code","message","details"}}`.
pub fn check_response(status: StatusCode, body: &[u8]) {
    assert!(
        !status.is_server_error(),
        "{status}: {}",
        String::from_utf8_lossy(body)
    );
    if status.is_client_error() {
        let v: serde_json::Value = serde_json::from_slice(body).unwrap_or_else(|e| {
            panic!(
                "{status} without a JSON body ({e}): {:?}",
                String::from_utf8_lossy(body)
            )
        });
        let e = &v["error"];
        assert!(
            e["code"].is_string() && e["message"].is_string() && e["details"].is_object(),
            "{status} outside the envelope: {v}"
        );
    }
}
