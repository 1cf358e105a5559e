//! Object-created events delivered through a queue, the local stand-in for S3 → SQS.

use std::sync::Arc;

use async_trait::async_trait;
use coda_core::ports::{JobQueue, ObjectCreated, ObjectEvents};
use coda_core::{CodaError, Result};

/// Sends each object-created event as JSON to a queue.
#[derive(Clone)]
pub struct QueueEvents {
    queue: Arc<dyn JobQueue>,
}

impl QueueEvents {
    /// Events go to `queue`.
    pub fn new(queue: Arc<dyn JobQueue>) -> Self {
        Self { queue }
    }
}

impl std::fmt::Debug for QueueEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueEvents").finish_non_exhaustive()
    }
}

#[async_trait]
impl ObjectEvents for QueueEvents {
    async fn object_created(&self, event: ObjectCreated) -> Result<()> {
        let body = serde_json::to_string(&event).map_err(CodaError::internal)?;
        self.queue.send(&body).await.map(|_| ())
    }
}
