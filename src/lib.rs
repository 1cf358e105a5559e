//! The `coda` command's library: configuration, local wiring, logging and the local commands.

pub mod app;
pub mod config;
pub mod logging;
pub mod transcribe_cmd;
pub mod worker;
