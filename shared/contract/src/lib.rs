//! Contract checks of Coda's ports, written once and run against every set of
//! adapters: `coda-local`'s tests call them on the folder/SQLite adapters and
//! `coda-aws`'s on S3/DynamoDB/SQS in the moto emulator.
//!
//! Each check takes only port traits, uses fresh ids, and asserts (panics) on
//! a broken contract, so a test is one call. Checks never assume they own a
//! whole table, bucket or queue except where they say so (queue checks
//! expect an empty queue). Time-dependent queue checks run in real time with
//! visibility timeouts of a few seconds, because SQS has no clock to move.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod blobs;
pub mod fixtures;
pub mod queues;
pub mod quotas;
pub mod sessions;
pub mod tables;
pub mod webhooks;

pub use blobs::{
    check_blob_basics, check_blob_delete_prefix, check_blob_keys, check_blob_presign_urls,
    check_blob_put_new, check_blob_ranges,
};
pub use queues::{
    check_queue_dead_letter, check_queue_delay, check_queue_delivery, check_queue_visibility,
    check_queue_wait,
};
pub use quotas::{check_quota_counters, check_quota_counters_race};
pub use sessions::{
    check_score_edit_race, check_score_revisions, check_session_items, check_session_scales,
};
pub use tables::{
    check_job_concurrent_updates, check_job_conditional_writes, check_job_pagination,
    check_session_conditional_writes, check_session_expiry, check_upload_conditional_writes,
};
pub use webhooks::{check_delivery_due, check_delivery_repo, check_job_outbox, check_webhook_repo};
