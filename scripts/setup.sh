#!/usr/bin/env bash
# Installs what vrrpd's demo and tests need on Debian 12 (run as root).
# The Rust toolchain (with cargo-nextest for the tests) is assumed to be installed.
set -euo pipefail

packages=(
    iproute2      # ip netns / ip link: building test LANs (tests only, never the daemon)
    nftables      # packet loss and multicast drop rules in tests
    iputils-ping  # the client's probes in tests and the demo
    arping        # neighbour checks in tests
    tcpdump       # captures in tests
    keepalived    # a real VRRP peer for interop tests
    frr           # FRR's vrrpd, a second VRRP peer for interop tests
    tshark        # Wireshark's VRRP dissector checks what vrrpd sends
    curl          # metrics scrapes in tests
    psmisc        # killall, which real keepalived.conf files track (the corpus test)
    procps        # pgrep and pkill, likewise
    python3-prometheus-client  # the reference OpenMetrics parser, for the metrics test
    nginx         # real servers (HTTP, HTTPS) behind the load balancer
    openssl       # certificates for the HTTPS real servers
    dnsmasq-base  # a real DNS server for DNS_CHECK
    python3-aiosmtpd  # a real SMTP server for SMTP_CHECK and the e-mail alerts
    socat         # a UDP echo server for UDP_CHECK
    conntrack     # tests read the kernel's connection table
    wrk           # load generator for the data-path benchmark
    haproxy       # the data-path benchmark's comparison
    dpkg-dev      # dpkg-shlibdeps: the Debian package's Depends (scripts/package.sh)
    binutils      # strip, for the package
    lintian       # the package test fails on lintian errors and warnings
    mmdebstrap    # the clean Debian root the package test installs into
    systemd       # systemd-analyze security: the unit's exposure score (a test)
    qemu-system-x86  # scripts/vm-test.sh: boots Debian's stock kernel (IPVS) for the *_vm tests
    busybox-static   # the VM's init, shell and tools (httpd as a real server)
    cpio             # the VM's initramfs
    kmod             # depmod / modprobe --show-depends on the VM kernel's modules
    ipvsadm          # programs IPVS in the VM tests (the reference for vrrpd's netlink)
    jq               # scripts/vm-test.sh --cargo reads cargo's JSON messages
)

missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    # Debian's keepalived package must not start a system-wide daemon on install.
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
    # tshark asks whether non-root users may capture: no.
    echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
    apt-get install -y --no-install-recommends "${missing[@]}"
    rm -f /usr/sbin/policy-rc.d
fi

if ! cargo nextest --version >/dev/null 2>&1; then
    cargo install cargo-nextest --locked
fi
