//! End-to-end tests: the real server on a loopback port, real SQLite, real files.
//! One binary for all suites keeps link time down.

mod analyze;
mod aws;
mod aws_chaos;
mod bad_input;
mod chaos;
mod chat;
mod chat_faults;
mod chat_providers;
mod flow;
mod helpers;
mod inputs;
mod lifecycle;
mod mcp;
mod openapi;
mod process;
mod quotas;
mod receiver;
mod score_cli;
mod scores;
mod separate;
mod sing;
mod tab;
mod transcribe;
mod webhooks_api;
mod webhooks_delivery;
