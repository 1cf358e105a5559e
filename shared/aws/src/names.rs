//! Resource names, all derived from one prefix so that stages (and tests) never collide.

use coda_core::{CodaError, Result};

/// The global secondary index of the jobs table: `owner` → `created_key`, newest first.
pub const JOBS_BY_OWNER_INDEX: &str = "by_owner";

/// The sparse index of the jobs table: `outbox` → `outbox_key`, only jobs with pending events.
pub const JOBS_WITH_OUTBOX_INDEX: &str = "with_outbox";

/// The global secondary index of the webhooks table: `owner` → `created_key`, oldest first.
pub const WEBHOOKS_BY_OWNER_INDEX: &str = "by_owner";

/// The sparse index of the deliveries table: `webhook_id` → `created_key`, newest first.
pub const DELIVERIES_BY_WEBHOOK_INDEX: &str = "by_webhook";

/// The sparse index of the deliveries table: `due` → `due_key`, only pending deliveries.
pub const DELIVERIES_DUE_INDEX: &str = "due";

/// How many receives the ingest queue allows before a message goes to its DLQ.
pub const INGEST_MAX_RECEIVES: u32 = 5;

/// Only objects under this prefix raise ingest notifications.
pub const UPLOADS_PREFIX: &str = "uploads/";

/// Longest prefix: `{prefix}-blobs` must fit S3's 63 characters with room to spare.
const MAX_PREFIX_LEN: usize = 50;

/// The names of every AWS resource Coda uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AwsNames {
    /// The prefix every name starts with.
    pub prefix: String,
    /// `{prefix}-blobs`: the S3 bucket.
    pub bucket: String,
    /// `{prefix}-jobs`: the jobs queue.
    pub jobs_queue: String,
    /// `{prefix}-jobs-dlq`: where jobs go after too many receives.
    pub jobs_dlq: String,
    /// `{prefix}-ingest`: the queue S3 upload notifications land in.
    pub ingest_queue: String,
    /// `{prefix}-ingest-dlq`: the ingest queue's dead letters.
    pub ingest_dlq: String,
    /// `{prefix}-sessions`: the sessions table.
    pub sessions_table: String,
    /// `{prefix}-session-items`: sessions' chat messages and file records (`pk` session, `sk` item).
    pub session_items_table: String,
    /// `{prefix}-uploads`: the uploads table.
    pub uploads_table: String,
    /// `{prefix}-jobs`: the jobs table.
    pub jobs_table: String,
    /// `{prefix}-webhooks`: the webhook endpoints table.
    pub webhooks_table: String,
    /// `{prefix}-deliveries`: the webhook deliveries table.
    pub deliveries_table: String,
    /// `{prefix}-quotas`: quota and rate-limit counters, one item per user, scope and window.
    pub quotas_table: String,
}

impl AwsNames {
    /// Names under `prefix`: 1 to 50 of `a-z`, `0-9` and `-`, starting and ending with a letter or digit.
    pub fn new(prefix: &str) -> Result<AwsNames> {
        // The strictest consumer is S3: lowercase, digits and hyphens, no leading or trailing hyphen.
        let valid = !prefix.is_empty()
            && prefix.len() <= MAX_PREFIX_LEN
            && prefix
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !prefix.starts_with('-')
            && !prefix.ends_with('-');
        if !valid {
            return Err(CodaError::BadRequest {
                code: "INVALID_PREFIX",
                message: format!(
                    "resource prefix '{prefix}' must be 1 to {MAX_PREFIX_LEN} of a-z, 0-9 and '-', \
                     starting and ending with a letter or digit"
                ),
                details: serde_json::json!({ "prefix": prefix }),
            });
        }
        let n = |suffix: &str| format!("{prefix}-{suffix}");
        Ok(AwsNames {
            prefix: prefix.to_string(),
            bucket: n("blobs"),
            jobs_queue: n("jobs"),
            jobs_dlq: n("jobs-dlq"),
            ingest_queue: n("ingest"),
            ingest_dlq: n("ingest-dlq"),
            sessions_table: n("sessions"),
            session_items_table: n("session-items"),
            uploads_table: n("uploads"),
            jobs_table: n("jobs"),
            webhooks_table: n("webhooks"),
            deliveries_table: n("deliveries"),
            quotas_table: n("quotas"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derives_names() {
        let n = AwsNames::new("coda-prod").unwrap();
        assert_eq!(n.bucket, "coda-prod-blobs");
        assert_eq!(
            [&n.jobs_queue, &n.jobs_dlq, &n.ingest_queue, &n.ingest_dlq],
            [
                "coda-prod-jobs",
                "coda-prod-jobs-dlq",
                "coda-prod-ingest",
                "coda-prod-ingest-dlq"
            ]
        );
        assert_eq!(
            [&n.sessions_table, &n.uploads_table, &n.jobs_table],
            ["coda-prod-sessions", "coda-prod-uploads", "coda-prod-jobs"]
        );
        assert_eq!(
            [&n.webhooks_table, &n.deliveries_table],
            ["coda-prod-webhooks", "coda-prod-deliveries"]
        );
    }

    #[test]
    fn rejects_prefixes_s3_would_refuse() {
        let long = "a".repeat(51);
        for bad in [
            "", "Coda", "co_da", "-coda", "coda-", "co da", "côda", &long,
        ] {
            assert_eq!(
                AwsNames::new(bad).unwrap_err().code(),
                "INVALID_PREFIX",
                "{bad:?}"
            );
        }
        assert!(AwsNames::new(&"a".repeat(50)).is_ok());
        assert!(AwsNames::new("x").is_ok());
    }
}
