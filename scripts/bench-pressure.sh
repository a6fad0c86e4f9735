#!/bin/bash
# Memory pressure figures for docs/reliability.md ("Memory pressure and a full disk"): the
# memory tests of crates/vrrpd/tests/pressure.rs with vrrpd, then keepalived 2.2.7, as the
# Master in the cgroup with the hogs, with and without vrrp_no_swap. As root.
#   scripts/bench-pressure.sh [SECONDS] [ROUNDS]     (default 20 s, 2 rounds)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-20}
rounds=${2:-2}
date -u
uptime
for round in $(seq "$rounds"); do
    for master in vrrpd keepalived; do
        for test in memory_hogs_in_the_masters_cgroup memory_hogs_in_the_masters_cgroup_with_vrrp_no_swap; do
            VRRPD_LAB_REQUIRED=1 VRRPD_PRESSURE_MASTER=$master VRRPD_PRESSURE_SECONDS=$seconds \
                cargo nextest run -p vrrpd --test pressure --profile ci --no-capture \
                -E "test(=$test)" 2>&1 | grep -E "Master, cgroup|PASS|FAIL" || true
            uptime
        done
    done
done
