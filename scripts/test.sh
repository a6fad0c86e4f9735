#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/simulation tests and the
# namespace integration tests (which need root). CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile ci
cargo test --workspace --doc --locked
