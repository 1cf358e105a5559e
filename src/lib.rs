//! The `coda` command's library: configuration, local wiring, logging and the local commands.

pub mod app;
pub mod config;
pub mod logging;
pub mod separate_cmd;
pub mod transcribe_cmd;
pub mod worker;
