#!/usr/bin/env bash
# Runs every test of the workspace. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo >/dev/null || { echo "cargo not found: install the Rust toolchain (https://rustup.rs)"; exit 1; }
cargo test --workspace
