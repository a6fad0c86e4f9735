#!/bin/sh
# Builds vrrpd and vrrp-lb-bench in release and runs the load balancer's benchmarks on a
# namespace LAN: the data path (wrk through vrrpd's nftables NAT path, through HAProxy in
# TCP mode, and directly; keep-alive on and off; runs interleaved), the cost of 1,000 HTTP
# health checks per second (vrrpd against HAProxy, alternated), and the round trip of one
# real-server change at 1,000 destinations. Markdown tables go to stdout, progress to
# stderr.
#
# usage: sudo scripts/bench-lb.sh [vrrp-lb-bench options, e.g. --reps 2 --duration 5]
#   CARGO_TARGET_DIR defaults to /work/target-bench.
# Needs root, iproute2, nftables, nginx, haproxy, wrk and curl (docs/testing.md).
# About 7 min with the defaults (bounded at 15); Ctrl-C stops it and removes the lab.
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrpctl -p vrrp-testlab >&2
bin="$CARGO_TARGET_DIR/release/vrrp-lb-bench"
echo "machine: $(nproc) CPU(s), $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "versions: $(haproxy -v | head -1 | cut -d' ' -f1-3), $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2), $(nft --version)" >&2
"$bin" all "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
