//! Coda's domain: types, ports and the application services that handlers call.
//!
//! Nothing here knows about AWS, SQLite or HTTP frameworks; adapters in
//! `coda-local` and (later) `coda-aws` implement the ports.

pub mod auth;
pub mod error;
pub mod filename;
pub mod keys;
pub mod kinds;
pub mod model;
pub mod panics;
pub mod params;
pub mod ports;
pub mod range;
pub mod services;
pub mod sniff;
pub mod worker;

/// The webhook wire format, signing and destination policy (`coda-webhooks`), where the services use it.
pub use coda_webhooks as webhooks;
pub use error::CodaError;

/// Result type used throughout the domain.
pub type Result<T, E = CodaError> = std::result::Result<T, E>;
