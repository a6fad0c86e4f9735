#!/bin/sh
# Builds vrrpd, vrrpctl and vrrp-soak in release and runs the soak: a vrrpd Master/Backup
# pair on a namespace LAN with 110 VRRPv3 instances (VRIDs 1-100 at advert_int 0.01, 101-110
# at 1 s; two sync groups, a track_file on every instance, a track_script on eight), and with
# --keepalived a keepalived 2.2.7 pair with the same configuration on a second LAN beside it.
# Every S seconds (default 30): each daemon process's RSS, PSS, VmHWM, fds, threads, CPU;
# vrrpd's protocol timer lateness (metrics endpoint), `vrrpctl status --json`; C seconds
# (default 3) of adverts on each bridge and the gaps per VRID; transitions; the load average.
# Every F minutes (default 10) a failover and back through the track_file, daemons kept up.
# The raw CSV goes to DIR (default /var/tmp/soak-<unix time>), then the report (Markdown,
# docs/reliability.md "Soak") is printed.
#
# usage: sudo scripts/soak.sh [--minutes N] [--sample-seconds S] [--capture-seconds C]
#                             [--failover-minutes F] [--keepalived] [--out DIR]
#   CARGO_TARGET_DIR defaults to /work/target-bench. Needs root, iproute2, tcpdump, curl and
#   (with --keepalived) keepalived. Takes N minutes (default 60) plus about a minute of
#   set-up. The labs' processes are killed by PID when the run ends, also on Ctrl-C.
#   `vrrp-soak --summarize DIR` prints the report of a run again.
set -eu
cd "$(dirname "$0")/.."
: "${CARGO_TARGET_DIR:=/work/target-bench}"
export CARGO_TARGET_DIR
cargo build --release --locked -p vrrpd -p vrrpctl -p vrrp-testlab \
    --bin vrrpd --bin vrrpctl --bin vrrp-soak >&2
out="/var/tmp/soak-$(date -u +%Y%m%d-%H%M)"
prev=""
for a in "$@"; do
    [ "$prev" = "--out" ] && out="$a"
    prev="$a"
done
mkdir -p "$out"
echo "raw CSV: $out/samples.csv, $out/gaps.csv, $out/events.csv" >&2
{
    echo "command: scripts/soak.sh $*"
    echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); build: release; machine: $(nproc) CPU(s), $(uname -r)"
    echo "load before: $(uptime)"
} | tee "$out/meta.txt" >&2
status=0
"$CARGO_TARGET_DIR/release/vrrp-soak" --out "$out" "$@" || status=$?
echo "load after: $(uptime); end: $(date -u '+%Y-%m-%d %H:%M UTC')" | tee -a "$out/meta.txt" >&2
"$CARGO_TARGET_DIR/release/vrrp-soak" --summarize "$out"
exit "$status"
