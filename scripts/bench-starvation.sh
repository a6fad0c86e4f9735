#!/bin/sh
# Builds vrrpd and vrrp-starve in release and runs the CPU-starvation benchmark: a VRRPv3
# Master/Backup pair on a namespace LAN under two busy loops per CPU at the daemons' nice
# value, vrrpd and keepalived with the same keepalived.conf, with and without
# `vrrp_rt_priority 50` + `vrrp_priority -5`, adverts every 0.1 s and 1 s. Per case: the
# Backup's adverts while the Master lives (spurious takeovers), the gaps between the
# Master's adverts on the wire, the takeover time after SIGKILL of the Master under the
# hogs. A Markdown table goes to stdout (docs/reliability.md, "Scheduling").
#
# usage: sudo scripts/bench-starvation.sh [--seconds N] [--daemons vrrpd,keepalived]
#                                         [--intervals 0.1,1]
#   CARGO_TARGET_DIR defaults to /work/target-bench. Needs root, iproute2, tcpdump and
#   keepalived. About 4 min with the default 20 s per case (8 cases). The hogs are processes
#   of each case's lab, killed by PID when the case ends (also on failure).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrp-testlab --bin vrrpd --bin vrrp-starve >&2
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPU(s), $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 900 "$CARGO_TARGET_DIR/release/vrrp-starve" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
