//! AWS adapters of Coda's ports: an S3 blob store, DynamoDB tables and SQS
//! queues, the bootstrap that creates them, and the S3-event parser of the
//! ingest path. `README.md` beside this crate records the table design.
//!
//! The same code runs against AWS and against the moto emulator: only the
//! `SdkConfig` differs (see [`load_sdk_config`] and, for tests, `testing`).

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod bootstrap;
pub mod dynamo;
mod error;
pub mod event;
pub mod names;
pub mod quota_counters;
pub mod s3;
pub mod session_items;
pub mod sqs;
#[cfg(feature = "testing")]
pub mod testing;

use std::sync::Arc;

use aws_config::{BehaviorVersion, SdkConfig};
use coda_core::ports::{
    BlobStore, DeliveryRepo, JobQueue, JobRepo, QuotaCounters, SessionItems, SessionRepo,
    UploadRepo, WebhookRepo,
};
use coda_core::Result;

pub use bootstrap::bootstrap;
pub use dynamo::{
    DynamoDeliveryRepo, DynamoJobRepo, DynamoSessionRepo, DynamoUploadRepo, DynamoWebhookRepo,
};
pub use event::object_created_from_s3_event;
pub use names::AwsNames;
pub use quota_counters::DynamoQuotaCounters;
pub use s3::S3BlobStore;
pub use session_items::DynamoSessionItems;
pub use sqs::SqsJobQueue;

/// Loads the SDK configuration from the standard environment (region, credentials, `AWS_ENDPOINT_URL`).
pub async fn load_sdk_config() -> SdkConfig {
    aws_config::load_defaults(BehaviorVersion::latest()).await
}

/// Every AWS adapter of the core ports, wired to the resources `names` describes.
#[derive(Clone)]
pub struct AwsAdapters {
    /// The resource names the adapters use.
    pub names: AwsNames,
    /// The S3 bucket.
    pub blobs: Arc<dyn BlobStore>,
    /// The sessions table.
    pub sessions: Arc<dyn SessionRepo>,
    /// Sessions' chat messages and file records.
    pub session_items: Arc<dyn SessionItems>,
    /// Quota and rate-limit counters.
    pub quota_counters: Arc<dyn QuotaCounters>,
    /// The uploads table.
    pub uploads: Arc<dyn UploadRepo>,
    /// The jobs table.
    pub jobs: Arc<dyn JobRepo>,
    /// The webhook endpoints table.
    pub webhooks: Arc<dyn WebhookRepo>,
    /// The webhook deliveries table.
    pub deliveries: Arc<dyn DeliveryRepo>,
    /// The jobs queue.
    pub jobs_queue: Arc<dyn JobQueue>,
    /// The jobs queue's dead-letter queue.
    pub jobs_dlq: Arc<dyn JobQueue>,
    /// The queue S3 sends upload notifications to.
    pub ingest_queue: Arc<dyn JobQueue>,
    /// The ingest queue's dead-letter queue.
    pub ingest_dlq: Arc<dyn JobQueue>,
}

impl AwsAdapters {
    /// The ports the services use, with the system clock, random ids and the system resolver.
    pub fn core(&self) -> coda_core::services::Adapters {
        coda_core::services::Adapters {
            sessions: self.sessions.clone(),
            session_items: self.session_items.clone(),
            quota_counters: self.quota_counters.clone(),
            uploads: self.uploads.clone(),
            jobs: self.jobs.clone(),
            webhooks: self.webhooks.clone(),
            deliveries: self.deliveries.clone(),
            jobs_queue: self.jobs_queue.clone(),
            jobs_dlq: self.jobs_dlq.clone(),
            blobs: self.blobs.clone(),
            clock: Arc::new(coda_core::ports::SystemClock),
            ids: Arc::new(coda_core::ports::RandomIds),
            resolver: Arc::new(coda_core::ports::SystemResolver::default()),
        }
    }
}

impl std::fmt::Debug for AwsAdapters {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AwsAdapters")
            .field("names", &self.names)
            .finish_non_exhaustive()
    }
}

impl AwsAdapters {
    /// Builds the adapters, resolving each queue's URL by name (NotFound if `bootstrap` has not created it).
    pub async fn connect(names: &AwsNames, sdk_config: &SdkConfig) -> Result<AwsAdapters> {
        let dynamo = aws_sdk_dynamodb::Client::new(sdk_config);
        let sqs = aws_sdk_sqs::Client::new(sdk_config);
        let queue = |name: String| {
            let sqs = sqs.clone();
            async move {
                let q: Arc<dyn JobQueue> = Arc::new(SqsJobQueue::connect(sqs, &name).await?);
                Ok::<_, coda_core::CodaError>(q)
            }
        };
        Ok(AwsAdapters {
            blobs: Arc::new(S3BlobStore::new(sdk_config, &names.bucket)),
            sessions: Arc::new(DynamoSessionRepo::new(
                dynamo.clone(),
                &names.sessions_table,
            )),
            session_items: Arc::new(DynamoSessionItems::new(
                dynamo.clone(),
                &names.session_items_table,
            )),
            quota_counters: Arc::new(DynamoQuotaCounters::new(
                dynamo.clone(),
                &names.quotas_table,
            )),
            uploads: Arc::new(DynamoUploadRepo::new(dynamo.clone(), &names.uploads_table)),
            jobs: Arc::new(DynamoJobRepo::new(dynamo.clone(), &names.jobs_table)),
            webhooks: Arc::new(DynamoWebhookRepo::new(
                dynamo.clone(),
                &names.webhooks_table,
            )),
            deliveries: Arc::new(DynamoDeliveryRepo::new(dynamo, &names.deliveries_table)),
            jobs_queue: queue(names.jobs_queue.clone()).await?,
            jobs_dlq: queue(names.jobs_dlq.clone()).await?,
            ingest_queue: queue(names.ingest_queue.clone()).await?,
            ingest_dlq: queue(names.ingest_dlq.clone()).await?,
            names: names.clone(),
        })
    }
}
