#!/usr/bin/env bash
# The main job: live demos on a LAN of network namespaces (needs root), as timelines with
# the client's view. Both clean up after themselves.
#   VRRP: three vrrpd routers and a client: election, the Master killed, the takeover, the
#         return and a priority-0 handover (about 30 s).
#   Load balancer: two vrrpd balancers (VRRP Master/Backup), four nginx real servers and a
#         client making requests: the share per server, a real server dying and returning,
#         the Master balancer crashing (about 25 s).
#
#   ./scripts/demo.sh                      the VRRP demo, then the load-balancer demo
#   ./scripts/demo.sh --lb [--keep]        the load-balancer demo alone
#   ./scripts/demo.sh --vrrp               the VRRP demo alone
#   ./scripts/demo.sh --daemon keepalived  the VRRP demo with keepalived
#   ./scripts/demo.sh --advert-int 0.1     the VRRP demo with a faster interval
#   ./scripts/demo.sh --simulated          the deterministic simulator's scripted scenario
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}/release"

if [ "${1:-}" = "--simulated" ]; then
    shift
    cargo build --release --locked -p vrrp-sim
    exec "$target/vrrp-sim" "$@"
fi

./scripts/setup.sh
cargo build --release --locked -p vrrpd -p vrrpctl -p vrrp-testlab
case "${1:-}" in
    --lb) shift; exec "$target/vrrp-lb-demo" "$@" ;;
    --vrrp) shift; exec "$target/vrrp-lab-demo" "$@" ;;
    "")
        "$target/vrrp-lab-demo"
        echo
        exec "$target/vrrp-lb-demo"
        ;;
    *) exec "$target/vrrp-lab-demo" "$@" ;;
esac
