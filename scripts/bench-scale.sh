#!/bin/sh
# Builds vrrpd, vrrpctl and vrrp-scale-bench in release and runs vrrpd beside keepalived
# with the same keepalived.conf, interleaved rounds, both daemons pinned to CPU 1: 1,000
# VRRPv3 instances at 1 s over 7 LANs ("thousand") and 100 at 10 ms ("fast"), a Master and
# a Backup of each. Per round, case and daemon: start-up (exec to every VIP on the Master
# alone, exec to every instance in Backup beside it), CPU (% of a core, schedstat), RSS
# and PSS, vrrpd's timer lateness histogram, the Master's advert gaps on the wire minus
# the interval; for "thousand" also SIGHUP with the file unchanged (time, transitions,
# adverts delayed) and SIGTERM of the Master (time to its last priority-0 advert). Raw CSV
# in the output directory, a Markdown table (median [min-max]) on stdout
# (docs/benchmarks.md, "A thousand instances").
#
# usage: sudo scripts/bench-scale.sh [--rounds N] [--seconds S] [--cpu C]
#                                    [--cases thousand,fast] [--daemons vrrpd,keepalived]
#                                    [--out DIR]
#   CARGO_TARGET_DIR defaults to /work/target-bench. Needs root, iproute2, tcpdump, curl
#   and keepalived. About 4 min per round with the default 20 s windows. Each case's labs
#   are removed when it ends (also on failure).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrpctl -p vrrp-testlab --bin vrrpd --bin vrrpctl --bin vrrp-scale-bench >&2
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPU(s), $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 3600 "$CARGO_TARGET_DIR/release/vrrp-scale-bench" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
