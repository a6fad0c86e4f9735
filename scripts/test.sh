#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit/property/simulation tests and the
# namespace integration tests (which need root). CI runs exactly this.
#
# Lab tests that cannot run here (not root, a tool missing) fail, naming what is missing:
# VRRPD_LAB_REQUIRED=1 is the default. VRRPD_LAB_REQUIRED=0 turns them back into skips
# (a developer's machine without root); nextest then counts them as skipped.
set -euo pipefail
cd "$(dirname "$0")/.."

export VRRPD_LAB_REQUIRED="${VRRPD_LAB_REQUIRED:-1}"
if [ "$VRRPD_LAB_REQUIRED" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "scripts/test.sh: the lab tests need root (network namespaces); run as root," >&2
        echo "or set VRRPD_LAB_REQUIRED=0 to skip them." >&2
        exit 1
    fi
    ./scripts/setup.sh
    profile=ci
else
    profile=default
fi

cargo fmt --all --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo nextest run --workspace --locked --profile "$profile"
if [ "$VRRPD_LAB_REQUIRED" = 1 ]; then
    # The `*_vm` test binaries need IPVS, which only the VM's stock Debian kernel has.
    ./scripts/vm-test.sh --cargo
fi
cargo test --workspace --doc --locked
