#!/bin/sh
# Builds vrrpd, vrrpctl and vrrp-flood-bench in release and runs the floods of
# crates/vrrpd/tests/flood.rs against vrrpd and then keepalived, with the same
# keepalived.conf: a Master (VI_1 VRRPv3 advert_int 0.1, VI_2 VRRPv2 auth PASS), a Backup,
# and an attacker flooding 224.0.0.18 from a raw socket, five kinds at 10,000 packets/s
# and one at 100,000. Per kind: what the Master counted (vrrpctl show --json, keepalived's
# SIGUSR2 statistics), its socket drops, both daemons' CPU per packet (keepalived: its VRRP
# process), the Master's VI_1 advert gaps on the bridge, state changes, and the Backup's
# adverts (spurious takeovers). A Markdown table goes to stdout (docs/reliability.md,
# "Floods of VRRP packets on the LAN").
#
# usage: sudo scripts/bench-flood.sh [--seconds N] [--daemons vrrpd,keepalived]
#   CARGO_TARGET_DIR defaults to /work/target-bench. Needs root, iproute2, tcpdump and
#   keepalived. About 2 min with the default 5 s per kind. Each daemon's lab is removed
#   when its run ends (also on failure).
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release -p vrrpd -p vrrpctl -p vrrp-testlab --bin vrrpd --bin vrrpctl --bin vrrp-flood-bench >&2
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPU(s), $(uname -r); load before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
timeout 900 "$CARGO_TARGET_DIR/release/vrrp-flood-bench" "$@"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
