//! Local adapters of Coda's ports: a folder blob store, SQLite tables, a
//! SQLite-backed queue with SQS semantics, queue-delivered object events and
//! a manual clock for tests. They need no network and no account.

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod blob_store;
pub mod clock;
pub mod db;
pub mod events;
pub mod queue;
pub mod quota_counters;
pub mod repos;
pub mod session_items;

pub use blob_store::{encode_key_path, FolderBlobStore};
pub use clock::ManualClock;
pub use db::Db;
pub use events::QueueEvents;
pub use queue::SqliteQueue;
pub use quota_counters::SqliteQuotaCounters;
pub use repos::{
    SqliteDeliveryRepo, SqliteJobRepo, SqliteSessionRepo, SqliteUploadRepo, SqliteWebhookRepo,
};
pub use session_items::SqliteSessionItems;
