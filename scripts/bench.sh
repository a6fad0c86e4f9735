#!/bin/sh
# Builds vrrpd and vrrp-bench in release and runs the namespace-LAN benchmark set:
# failover (VRRPv3 0.01 s / 0.1 s, VRRPv2 1 s; SIGKILL and SIGTERM), failover under load
# (two busy loops), cost (CPU, memory; 1 and 50 instances; 1 s and 0.1 s), and the outage a
# client sees (VRRPv3 IPv4/IPv6 0.1 s, VRRPv2 1 s; SIGKILL, SIGTERM, link down; use_vmac off
# and on), vrrpd and keepalived side by side. Markdown tables go to stdout, progress to
# stderr, raw samples (failover.csv, cost.csv, outage.csv) into --out DIR.
#
# usage: sudo scripts/bench.sh [--out DIR] [--quick] [other vrrp-bench options]
#   CARGO_TARGET_DIR defaults to /work/target-bench.
# Needs root, iproute2 and keepalived (docs/testing.md). About 25 min (--quick: about 8).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrp-testlab >&2
bin="$CARGO_TARGET_DIR/release/vrrp-bench"
echo "machine: $(nproc) CPU(s), $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
"$bin" all "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
