#!/bin/sh
# Reload storms and link flaps, the long run (docs/reliability.md, "Reload storms and link
# flaps"): the tests of crates/vrrpd/tests/churn.rs with longer phases than CI's, vrrpd and
# keepalived side by side:
#
# - SIGHUP every 100-200 ms to both nodes of a pair (four instances, a sync group, a
#   virtual server), VRRPD_CHURN_SECONDS per phase (unchanged configuration, then two
#   alternating), a flood of SIGHUP every millisecond for VRRPD_CHURN_FLOOD seconds, a bad
#   file, a priority crossing the peer's and back, the Master killed and restarted;
# - link flaps of eth0 and of a tracked interface, VRRPD_CHURN_FLAPS short ones per
#   series, with and without interface_up_down_delays.
#
# The tests' summary lines (churn-storm:, churn-flap:) and the load go to stdout, the whole
# output to a log under /tmp (not into git).
#
# usage: sudo scripts/bench-churn.sh [--release]
#   Sizes through the environment: VRRPD_CHURN_SECONDS (30), VRRPD_CHURN_FLOOD (5),
#   VRRPD_CHURN_FLAPS (10); BENCH_FILTER narrows the tests (a substring of their names).
#   Needs root, nft, tcpdump, keepalived, iproute2. About 6 minutes with the defaults.
#   Every lab removes its namespaces and kills its processes by PID, also on failure.
set -eu
cd "$(dirname "$0")/.."
profile=""
[ "${1:-}" = "--release" ] && profile="--release"
: "${VRRPD_CHURN_SECONDS:=30}" "${VRRPD_CHURN_FLOOD:=5}" "${VRRPD_CHURN_FLAPS:=10}"
: "${BENCH_FILTER:=}"
export VRRPD_CHURN_SECONDS VRRPD_CHURN_FLOOD VRRPD_CHURN_FLAPS
export VRRPD_LAB_REQUIRED=1
log=/tmp/bench-churn-$(date -u +%Y%m%d-%H%M%S).log
# The test binary itself (libtest), not nextest: the long tests run beyond the profiles'
# slow-timeout. Built with vrrpd and vrrpctl of the same profile.
cargo build $profile -p vrrpd -p vrrpctl --bins >/dev/null 2>&1
bin=$(cargo test $profile -p vrrpd --test churn --no-run 2>&1 | sed -n 's/.*Executable tests\/churn.rs (\(.*\))$/\1/p')
[ -x "$bin" ] || { echo "no churn test binary" >&2; exit 1; }
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); build: ${profile:---debug}; machine: $(nproc) CPU(s), $(uname -r); $(keepalived --version 2>&1 | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); log: $log"
rc=0
# One test at a time: the two pairs of each test already run side by side.
timeout 3600 "$bin" --test-threads 1 --nocapture $BENCH_FILTER >"$log" 2>&1 || rc=$?
grep -E '^churn-|^test .* (ok|FAILED)$|panicked' "$log" || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
