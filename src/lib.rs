//! The `coda` command's library: configuration, local wiring and logging.

pub mod app;
pub mod config;
pub mod logging;
pub mod worker;
