#!/usr/bin/env bash
# The main job: a live VRRP demo on a LAN of network namespaces (needs root). Three vrrpd
# routers and a client: election, the Master killed, the takeover, the return and a
# priority-0 handover, as a timeline with the client's view. Cleans up after itself.
#
#   ./scripts/demo.sh                      the live demo with vrrpd
#   ./scripts/demo.sh --daemon keepalived  the same scenario with keepalived
#   ./scripts/demo.sh --advert-int 0.1     a faster interval
#   ./scripts/demo.sh --simulated          the deterministic simulator's scripted scenario
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "${1:-}" = "--simulated" ]; then
    shift
    cargo build --release --locked -p vrrp-sim
    exec ./target/release/vrrp-sim "$@"
fi

./scripts/setup.sh
cargo build --release --locked -p vrrpd -p vrrp-testlab
exec ./target/release/vrrp-lab-demo "$@"
