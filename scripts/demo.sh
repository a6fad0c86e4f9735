#!/usr/bin/env bash
# The main job: a VRRP demo. Builds vrrpd and runs the scripted scenario.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --locked -p vrrp-sim
./target/release/vrrp-sim "$@"
