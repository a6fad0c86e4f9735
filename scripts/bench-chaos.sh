#!/bin/sh
# Chaos on the LAN, the long run (docs/reliability.md, "Chaos on the LAN"): the tests of
# crates/vrrpd/tests/chaos.rs with the sizes of issue 13 instead of CI's:
#
# - advertisement loss of 10/20/30/50 % on the Backup's ingress, 300 s per rate at 0.01 s
#   intervals, a vrrpd pair and a keepalived pair side by side;
# - 100 partitions and heals each: VRRPv3 (vrrpd / vrrpd), VRRPv2 (vrrpd / vrrpd), v2 and
#   v3 instances side by side with keepalived as the peer;
# - 100 rounds of SIGKILL and restart (Master, then Backup), then the inventory.
#
# The raw rows go to a CSV directory under /tmp (not into git); the tests' summary lines
# (chaos-loss:, chaos-split:, chaos-kill:) and the load go to stdout.
#
# usage: sudo scripts/bench-chaos.sh
#   Sizes can be changed through the environment: VRRPD_CHAOS_INTERVAL (0.01),
#   VRRPD_CHAOS_SECONDS (300), VRRPD_CHAOS_LOSS (10,20,30,50), VRRPD_CHAOS_HEALS (100),
#   VRRPD_CHAOS_V2_HEALS (100), VRRPD_CHAOS_ROUNDS (100), VRRPD_CHAOS_CSV (the directory);
#   BENCH_FILTER narrows the tests (a substring of their names, default all of them).
#   Needs root, nft, keepalived, iproute2 (bridge), ping. About 25 minutes:
#   the loss test runs beside the others (two test threads). Every lab removes its
#   namespaces and kills its processes by PID, also on failure.
set -eu
cd "$(dirname "$0")/.."
: "${VRRPD_CHAOS_INTERVAL:=0.01}" "${VRRPD_CHAOS_SECONDS:=300}" "${VRRPD_CHAOS_LOSS:=10,20,30,50}"
: "${VRRPD_CHAOS_HEALS:=100}" "${VRRPD_CHAOS_V2_HEALS:=100}" "${VRRPD_CHAOS_ROUNDS:=100}"
: "${VRRPD_CHAOS_CSV:=/tmp/bench-chaos-$(date -u +%Y%m%d-%H%M%S)}"
# The long loss runs as before: no real-time priority (the CI test's default is 50).
: "${VRRPD_CHAOS_RT:=0}"
: "${BENCH_FILTER:=}"
export VRRPD_CHAOS_INTERVAL VRRPD_CHAOS_SECONDS VRRPD_CHAOS_LOSS VRRPD_CHAOS_HEALS
export VRRPD_CHAOS_V2_HEALS VRRPD_CHAOS_ROUNDS VRRPD_CHAOS_CSV VRRPD_CHAOS_RT
export VRRPD_LAB_REQUIRED=1
mkdir -p "$VRRPD_CHAOS_CSV"
# The test binary itself (libtest), not nextest: the long tests run far beyond the
# profiles' slow-timeout.
bin=$(cargo test -p vrrpd --test chaos --no-run 2>&1 | sed -n 's/.*Executable tests\/chaos.rs (\(.*\))$/\1/p')
[ -x "$bin" ] || { echo "no chaos test binary" >&2; exit 1; }
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPU(s), $(uname -r); $(keepalived --version 2>&1 | head -1)"
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg); raw rows: $VRRPD_CHAOS_CSV"
rc=0
timeout 7200 "$bin" --test-threads 2 --nocapture $BENCH_FILTER >"$VRRPD_CHAOS_CSV/output.log" 2>&1 || rc=$?
grep -E '^chaos-|^test .* (ok|FAILED)$|panicked' "$VRRPD_CHAOS_CSV/output.log" || true
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
exit $rc
