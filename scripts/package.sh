#!/usr/bin/env bash
# Builds the Debian package of vrrpd with dpkg-deb (no debhelper, no cargo-deb: see
# docs/packaging.md): vrrpd and vrrpctl, the systemd unit, an example configuration, man pages
# and shell completions generated from the code (crates/vrrp-pkg).
#
#   scripts/package.sh                  # release build, then $CARGO_TARGET_DIR/debian/*.deb
#   scripts/package.sh --bin-dir DIR    # package vrrpd, vrrpctl and vrrp-pkg already built in DIR
#   scripts/package.sh --out DIR        # where the .deb goes
#
# Prints the path of the .deb. Needs dpkg-dev (dpkg-shlibdeps) and binutils (strip); no fakeroot:
# dpkg-deb --root-owner-group makes every file root's.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
target=${CARGO_TARGET_DIR:-$repo/target}
bin_dir=""
out="$target/debian"
while [ $# -gt 0 ]; do
    case "$1" in
        --bin-dir) bin_dir=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        *) echo "usage: $0 [--bin-dir DIR] [--out DIR]" >&2; exit 2 ;;
    esac
done
if [ -z "$bin_dir" ]; then
    cargo build --release --locked -p vrrpd -p vrrpctl -p vrrp-pkg >&2
    bin_dir=$target/release
fi
for b in vrrpd vrrpctl vrrp-pkg; do
    [ -x "$bin_dir/$b" ] || { echo "$0: no $bin_dir/$b (cargo build -p vrrpd -p vrrpctl -p vrrp-pkg)" >&2; exit 1; }
done

version=$("$bin_dir/vrrpd" --version | awk '{print $2}')
arch=$(dpkg --print-architecture)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
root=$work/root
doc=$root/usr/share/doc/vrrpd

install -d "$root/DEBIAN" "$root/usr/sbin" "$doc/examples"
for b in vrrpd vrrpctl; do
    install -m 0755 "$bin_dir/$b" "$root/usr/sbin/$b"
    strip --strip-unneeded --remove-section=.comment --remove-section=.note "$root/usr/sbin/$b"
done
install -D -m 0644 contrib/vrrpd.service "$root/lib/systemd/system/vrrpd.service"
install -D -m 0644 contrib/vrrpd.conf.example "$root/etc/vrrpd/vrrpd.conf.example"

# Man pages and completions, where man, bash-completion, zsh and fish look on Debian.
"$bin_dir/vrrp-pkg" "$work/gen"
install -d "$root/usr/share/man/man5" "$root/usr/share/man/man8"
install -m 0644 "$work/gen/man/"*.8 "$root/usr/share/man/man8/"
install -m 0644 "$work/gen/man/"*.5 "$root/usr/share/man/man5/"
gzip -9n "$root/usr/share/man/man5/"* "$root/usr/share/man/man8/"*
install -D -m 0644 -t "$root/usr/share/bash-completion/completions" "$work/gen/bash/"*
install -D -m 0644 -t "$root/usr/share/zsh/vendor-completions" "$work/gen/zsh/"*
install -D -m 0644 -t "$root/usr/share/fish/vendor_completions.d" "$work/gen/fish/"*

# Documentation: the README (the unit's Documentation=), the operator's guides (not the
# developers': architecture, testing, simulator, benchmarks) and the examples.
install -m 0644 README.md "$doc/"
for d in config control differences migration vrrpctl tracking loadbalancer balancer checkers \
    dataplane interop rfc-coverage; do
    install -m 0644 "docs/$d.md" "$doc/"
done
install -m 0644 docs/examples/* "$doc/examples/"
install -m 0644 contrib/grafana/vrrpd.json "$doc/examples/grafana-dashboard.json"
gzip -9n -c contrib/debian/changelog > "$doc/changelog.gz"
crates=$(cargo tree --locked --offline -p vrrpd -p vrrpctl -e normal,no-proc-macro --prefix none \
    -f '{p}: {l}' | grep -v '(/\|^$' | sed 's/ (\*)//; s/^/ /' | sort -u)
awk -v crates="$crates" '$0 == "@CRATES@" { print crates; next } { print }' \
    contrib/debian/copyright > "$doc/copyright"
chmod 0644 "$doc/copyright"

# Depends: what the binaries link, as dpkg-shlibdeps computes it (it wants a debian/control).
mkdir -p "$work/src/debian"
printf 'Source: vrrpd\n\nPackage: vrrpd\nArchitecture: any\n' > "$work/src/debian/control"
shlibs=$(cd "$work/src" && dpkg-shlibdeps -O "$root/usr/sbin/vrrpd" "$root/usr/sbin/vrrpctl" \
    | sed -n 's/^shlibs:Depends=//p')
[ -n "$shlibs" ] || { echo "$0: dpkg-shlibdeps found no dependencies" >&2; exit 1; }

install -m 0755 contrib/debian/postinst contrib/debian/prerm contrib/debian/postrm "$root/DEBIAN/"
echo /etc/vrrpd/vrrpd.conf.example > "$root/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
cat > "$root/DEBIAN/control" <<EOF
Package: vrrpd
Version: $version
Architecture: $arch
Maintainer: vrrpd maintainers <dev@vrrpd.invalid>
Installed-Size: $size
Depends: $shlibs
Recommends: nftables, libnftables1
Section: net
Priority: optional
Description: VRRP daemon and load balancer that reads keepalived.conf
 vrrpd implements VRRP (RFC 3768, RFC 5798, RFC 9568) for IPv4 and IPv6 and
 keepalived's load balancer (virtual and real servers with health checks),
 reading keepalived's configuration language. vrrpctl shows the daemon's
 state, acts on instances and real servers, and captures and diagnoses VRRP
 traffic.
 .
 The load balancer's data path uses nftables (libnftables, loaded at run
 time); VRRP alone needs neither.
EOF
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\n' | LC_ALL=C sort \
    | xargs md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/control" "$root/DEBIAN/conffiles" "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/vrrpd_${version}_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >&2
echo "$deb"
