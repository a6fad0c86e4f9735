#!/bin/sh
# Builds vrrpd and vrrp-vips-bench in release and times many VIPs taken over at once,
# vrrpd and keepalived alternating, with the same keepalived.conf: a Master r1 and a
# Backup r2 holding --vips /32 addresses in --instances instances (the first of each in
# virtual_ipaddress, the rest in virtual_ipaddress_excluded), advert_int 1 s, keepalived's
# GARP defaults. r1's daemon is SIGKILLed and its link cut; a client sweeps every VIP with
# ARP from r2's first advertisement on: first GARP, every VIP GARPed, every VIP answering.
# Then r2 is stopped with SIGTERM: time to release them. A Markdown table goes to stdout
# (docs/benchmarks.md, "Many addresses"), the raw figures to --csv.
#
# usage: sudo scripts/bench-vips.sh [--vips N] [--instances M] [--reps R]
#          [--daemons vrrpd,keepalived] [--vrrpd PATH] [--csv FILE]
#   CARGO_TARGET_DIR defaults to /work/target-bench. Needs root, iproute2 and keepalived.
#   About 1 min per repetition pair at 10,000 VIPs. Each lab is removed when its
#   repetition ends (also on failure).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrp-testlab --bin vrrpd --bin vrrp-vips-bench >&2
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPU(s), $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 3600 "$CARGO_TARGET_DIR/release/vrrp-vips-bench" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
