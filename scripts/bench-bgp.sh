#!/bin/sh
# Builds vrrpd, vrrpctl and vrrp-bgp-bench in release and runs the active-active benchmark
# (issue 12) on the namespace lab of vrrp_testlab::bgp: a router with FRR and kernel ECMP,
# three balancers announcing the VIP over BGP with BFD, four nginx real servers, a client
# with 48 flows. For DR and NAT, mh and rr: held keep-alive connections broken and new
# requests failed when a balancer is added, when one dies (link down + SIGKILL), when a
# real server dies; then requests/s through 1, 2 and 3 balancers (wrk). Markdown tables go
# to stdout, progress to stderr.
#
# usage: sudo scripts/bench-bgp.sh [events|rps|all] [--runs N]
#   CARGO_TARGET_DIR defaults to /work/target-bench.
# Needs root, iproute2, nftables, FRR (zebra, bgpd, bfdd, vtysh), nginx and wrk.
# About 4 min per run; Ctrl-C stops it and removes the lab.
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrpctl -p vrrp-testlab >&2
bin="$CARGO_TARGET_DIR/release/vrrp-bgp-bench"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: scripts/bench-bgp.sh $*" >&2
echo "machine: $(nproc) CPU(s), $(uname -r), load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "versions: $(/usr/lib/frr/zebra --version 2>&1 | head -1), $(nginx -v 2>&1), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)" >&2
"$bin" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
