#!/usr/bin/env bash
# Runs kernel-dependent test binaries inside a qemu VM that boots Debian's stock kernel
# (this machine's kernel has no IPVS; see docs/testing.md, "The VM stage").
#
# Usage:
#   scripts/vm-test.sh [--extra PATH]... TEST_BIN [TEST_BIN...] [-- LIBTEST_ARGS...]
#   scripts/vm-test.sh [--extra PATH]... --cargo [FILTER] [-- LIBTEST_ARGS...]
#
#   TEST_BIN      a libtest executable built on this host (`cargo test --no-run`); it runs
#                 in the guest at the same path, in /tmp, as root, with
#                 `--test-threads=1 LIBTEST_ARGS...`.
#                 vrrpd and vrrpctl found next to it (or one level up, for deps/) come along,
#                 as vrrp_testlab::Daemon::vrrpd_next_to_exe looks for them there.
#   --cargo       builds the workspace's tests and picks every test target whose name ends in
#                 `_vm`; FILTER (a substring of `<crate-dir>::<target>`) restricts them, and
#                 a whole `crate::target_vm` (e.g. `vrrpd::ipvs_vm`) builds only that one.
#                 Also builds vrrpd and vrrpctl.
#   --extra PATH  a file or directory copied into the guest at the same path (ELF files with
#                 the libraries ldd resolves for them). Repeatable.
#   -- ARGS       passed to every test binary, e.g. a test name filter or `--exact NAME`.
#
# Environment:
#   KERNEL_PKG=linux-image-6.1.0-N-amd64  pin the kernel (default: the one linux-image-amd64
#                 depends on, resolved through apt, never pinned here)
#   VM_CACHE=DIR  the cache: one <kver>/ per kernel, busybox links (default
#                 /var/cache/vrrpd-tests/vm)
#   VM_TIMEOUT=S  the whole VM run (default 1200); VM_TEST_TIMEOUT=S one binary (default 600)
#   VM_ACCEL=auto|tcg|kvm  (auto: KVM only with kvm_intel/kvm_amd loaded and no kvm_pvm)
#   VM_SMP=2, VM_MEM=2048  the guest's vCPUs and memory (MiB); VM_APPEND: more kernel arguments
#   VM_MODULES="m1 m2"  more kernel modules to load at boot (others load on first use)
#   VM_KEEP=1     keep the scratch dir (initramfs, console log)
#   VRRPD_*, VRRP_*, RUST_BACKTRACE, RUST_LOG are passed on to the guest; VRRPD_IN_VM=1 is set.
#
# Output: the test harness's own lines, then a summary line
#   vm-test: 14 passed, 0 failed in 3 binaries; boot 3.1 s, guest 52 s, total 71 s
# Exit status: 0 only when every binary ran and exited 0 and at least one test ran.
# A VM that does not boot, or times out, fails (never skips). Runs as root (apt, cache).
# Two runs may happen at once: cache population is serialised with flock.
set -euo pipefail

t_start=$EPOCHREALTIME
repo=$(cd "$(dirname "$0")/.." && pwd)
cache_root=${VM_CACHE:-/var/cache/vrrpd-tests/vm}
vm_timeout=${VM_TIMEOUT:-1200}
test_timeout=${VM_TEST_TIMEOUT:-600}

# Kernel modules in the guest: IPVS with every scheduler, the conntrack/NAT it needs, the
# links and tunnels (IPVS TUN: ipip, GUE over fou, GRE) tests build, and nf_tables.
required_modules=(
    ip_vs ip_vs_rr ip_vs_wrr ip_vs_lc ip_vs_wlc ip_vs_lblc ip_vs_lblcr ip_vs_dh ip_vs_sh
    ip_vs_mh ip_vs_fo ip_vs_ovf ip_vs_sed ip_vs_nq
    nf_conntrack nf_nat nf_defrag_ipv4 nf_defrag_ipv6
    veth bridge macvlan dummy ipip fou ip_gre ip_tunnel
    nf_tables
)
# Shipped when this kernel has them (ip_vs_twos arrived in Linux 6.3).
optional_modules=(
    ip_vs_twos ip_vs_ftp ip_vs_pe_sip fou6 ip6_tunnel ip6_gre sit ipvlan 8021q tun
    nf_conntrack_netlink nft_ct nft_nat nft_chain_nat nft_numgen nft_limit nft_masq
    nft_reject_inet nft_fib_inet nft_fib_ipv4 nft_fib_ipv6 xt_ipvs
)
# Loaded by /init. The kernel loads the others on first use through kmod's modprobe
# (request_module: "ip_vs_<scheduler>", "rtnl-link-<kind>", "nft-expr-<name>",
# "net-pf-16-proto-16-family-IPVS" aliases), which keeps the boot short. ip_vs is loaded
# anyway, so that /proc/net/ip_vs and net.ipv4.vs.* exist from the start; fou's generic
# netlink family has no alias.
preload_modules=(ip_vs ip_vs_rr ip_vs_wrr nf_conntrack nf_nat veth bridge fou)
# Host programs every guest gets at their host paths, before busybox fills the gaps: iproute2's
# ip (busybox's has no netns or veth), and the host's /bin/sh (dash), since busybox's ash
# runs its own applets before $PATH.
host_tools=(
    /usr/sbin/ip /usr/bin/ss /usr/sbin/ipvsadm /usr/sbin/keepalived /usr/sbin/nft
    /usr/bin/dash /usr/bin/bash /usr/bin/kmod
)

log() { printf '[%6.1fs] %s\n' "$(elapsed "$t_start")" "$*" >&2; }
die() {
    echo "vm-test: $*" >&2
    exit 1
}
elapsed() { awk -v a="$1" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }'; }

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
}

# ---- arguments -------------------------------------------------------------------------
extras=()
bins=()
libtest_args=()
cargo_mode=0
cargo_filter=
while [ $# -gt 0 ]; do
    case "$1" in
    --extra)
        [ $# -ge 2 ] || usage
        extras+=("$2")
        shift 2
        ;;
    --cargo)
        cargo_mode=1
        shift
        if [ $# -gt 0 ] && [ "$1" != -- ]; then
            cargo_filter=$1
            shift
        fi
        ;;
    --)
        shift
        libtest_args=("$@")
        break
        ;;
    -h | --help) usage ;;
    -*) usage ;;
    *)
        bins+=("$1")
        shift
        ;;
    esac
done
if [ "$cargo_mode" = 0 ] && [ "${#bins[@]}" = 0 ]; then usage; fi
[ "$(id -u)" = 0 ] || die "needs root (apt-get download, the cache in $cache_root)"
for t in qemu-system-x86_64 busybox cpio depmod modprobe kmod objcopy ldd dpkg-deb apt-get flock; do
    command -v "$t" >/dev/null || die "$t is missing (scripts/setup.sh installs it)"
done
for t in "${host_tools[@]}"; do
    [ -x "$t" ] || die "$t is missing (scripts/setup.sh installs it)"
done

scratch=$(mktemp -d /tmp/vrrpd-vm.XXXXXX)
qpid=
cleanup() {
    # timeout passes the signal on to qemu.
    if [ -n "$qpid" ]; then kill "$qpid" 2>/dev/null || true; fi
    if [ "${VM_KEEP:-0}" = 1 ]; then
        echo "vm-test: kept $scratch" >&2
    else
        rm -rf "$scratch"
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM HUP
# apt's _apt sandbox user must be able to enter the download dir.
chmod 0755 "$scratch"

# ---- test binaries ---------------------------------------------------------------------
# cargo's JSON messages -> "name<TAB>executable" of the test targets named *_vm.
# A FILTER of the form crate::target_vm builds just that target.
cargo_vm_tests() {
    local scope=(--workspace)
    if [[ "$cargo_filter" =~ ^([A-Za-z0-9_-]+)::([A-Za-z0-9_]+_vm)$ ]]; then
        scope=(-p "${BASH_REMATCH[1]}" --test "${BASH_REMATCH[2]}")
    fi
    timeout 3600 cargo test --no-run "${scope[@]}" --locked --message-format=json \
        | jq -r 'select(.reason == "compiler-artifact" and .executable != null
                 and .profile.test and (.target.name | endswith("_vm")))
                 | "\(.manifest_path | split("/") | .[-2])::\(.target.name)\t\(.executable)"'
}

if [ "$cargo_mode" = 1 ]; then
    command -v jq >/dev/null || die "jq is missing (scripts/setup.sh installs it)"
    cd "$repo"
    log "cargo test --no-run (test targets *_vm${cargo_filter:+ matching $cargo_filter})"
    listing=$(cargo_vm_tests) || die "cargo test --no-run failed"
    while IFS=$'\t' read -r name exe; do
        [ -n "$name" ] || continue
        case "$name" in *"$cargo_filter"*) bins+=("$exe") ;; esac
    done <<<"$listing"
    [ "${#bins[@]}" -gt 0 ] || die "no test target named *_vm${cargo_filter:+ matches $cargo_filter}"
    log "cargo build -p vrrpd -p vrrpctl"
    built=$(timeout 3600 cargo build -p vrrpd -p vrrpctl --locked --message-format=json \
        | jq -r 'select(.reason == "compiler-artifact" and .executable != null) | .executable') \
        || die "cargo build -p vrrpd -p vrrpctl failed"
    while read -r exe; do [ -n "$exe" ] && extras+=("$exe"); done <<<"$built"
fi
for i in "${!bins[@]}"; do
    b=$(realpath -e "${bins[$i]}") || die "no such test binary: ${bins[$i]}"
    bins[i]=$b
    # vrrpd / vrrpctl next to the test binary, where the testlab looks for them.
    d=$(dirname "$b")
    for cand in "$d"/vrrpd "$d"/vrrpctl "$d"/../vrrpd "$d"/../vrrpctl; do
        [ -x "$cand" ] && extras+=("$(realpath "$cand")")
    done
done

# ---- kernel and modules (cached) -------------------------------------------------------
apt_depends() {
    apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }'
}
# The package linux-image-amd64 depends on. apt-cache takes seconds on a loaded machine, so
# the answer is kept until the apt lists change (their directory's mtime).
resolve_kernel_pkg() {
    if [ -n "${KERNEL_PKG:-}" ]; then
        echo "$KERNEL_PKG"
        return
    fi
    local memo="$cache_root/resolved" stamp s dep
    stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
    if [ -f "$memo" ] && read -r s dep <"$memo" && [ "$s" = "$stamp" ] && [ -n "$dep" ]; then
        echo "$dep"
        return
    fi
    dep=$(apt_depends)
    if [ -z "$dep" ]; then
        timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >&2 || true
        dep=$(apt_depends)
        stamp=$(stat -c %Y /var/lib/apt/lists 2>/dev/null || echo none)
    fi
    [ -n "$dep" ] || die "cannot resolve linux-image-amd64's kernel package (apt-get update?)"
    mkdir -p "$cache_root"
    echo "$stamp $dep" >"$memo.$$" && mv "$memo.$$" "$memo"
    echo "$dep"
}

# Downloads and unpacks $1 into $2/{vmlinuz,lib/modules/<kver>}, keeping only the module
# directories tests can need, and builds modules.dep (the .deb ships none: its postinst
# makes it).
populate_kernel() {
    local pkg=$1 dest=$2 kver=$3 dl="$scratch/dl" x="$scratch/x"
    mkdir -p "$dl" "$x"
    chown _apt "$dl" 2>/dev/null || true
    log "downloading $pkg"
    if ! (cd "$dl" && timeout 600 apt-get download -q "$pkg" >&2); then
        # The mirror dropped this ABI: refresh the lists and resolve again.
        timeout 300 apt-get -o DPkg::Lock::Timeout=120 update -qq >&2 || true
        (cd "$dl" && timeout 600 apt-get download -q "$pkg" >&2) || die "apt-get download $pkg failed"
    fi
    log "extracting $pkg"
    timeout 300 dpkg-deb -x "$dl"/*.deb "$x" || die "dpkg-deb -x failed"
    local mods="$x/lib/modules/$kver"
    [ -d "$mods" ] || mods="$x/usr/lib/modules/$kver"
    if [ ! -d "$mods" ] || [ ! -f "$x/boot/vmlinuz-$kver" ]; then
        die "$pkg has no vmlinuz-$kver or modules"
    fi
    local stage="$dest.tmp.$$"
    rm -rf "$dest".tmp.* # left by a run that died here (this one holds the lock)
    mkdir -p "$stage/lib/modules/$kver/kernel/drivers"
    cp "$x/boot/vmlinuz-$kver" "$stage/vmlinuz"
    cp "$mods"/modules.order "$mods"/modules.builtin* "$stage/lib/modules/$kver/" 2>/dev/null || true
    for d in net lib crypto arch; do
        [ -d "$mods/kernel/$d" ] && mv "$mods/kernel/$d" "$stage/lib/modules/$kver/kernel/"
    done
    mv "$mods/kernel/drivers/net" "$stage/lib/modules/$kver/kernel/drivers/"
    timeout 120 depmod -b "$stage" "$kver" || die "depmod failed"
    mv "$stage" "$dest"
    rm -rf "$x" "$dl"
}

# Writes $1/vmlinux, the kernel inside the bzImage $1/vmlinuz, when it has a PVH entry
# (Xen ELF note 18, XEN_ELFNOTE_PHYS32_ENTRY): qemu then starts it directly, about 5 s sooner
# under TCG than a bzImage that decompresses itself. Else $1/vmlinux.none marks the attempt.
unpack_vmlinux() {
    local z="$1/vmlinuz" out="$1/vmlinux" off
    off=$(LC_ALL=C grep -obUaP '\xfd7zXZ\x00' "$z" 2>/dev/null | head -n1 | cut -d: -f1 || true)
    if [ -n "$off" ] && command -v xz >/dev/null; then
        # xz stops at the end of its stream and complains about what follows: expected.
        tail -c +$((off + 1)) "$z" | timeout 120 xz -dcq >"$out.tmp.$$" 2>/dev/null || true
        if readelf -n "$out.tmp.$$" 2>/dev/null | grep -q '(0x00000012)'; then
            mv "$out.tmp.$$" "$out"
            return
        fi
    fi
    rm -f "$out.tmp.$$"
    : >"$1/vmlinux.none"
}

kernel_pkg=$(resolve_kernel_pkg)
kver=${kernel_pkg#linux-image-}
kdir="$cache_root/$kver"
cached() { [ -f "$kdir/vmlinuz" ] && { [ -f "$kdir/vmlinux" ] || [ -f "$kdir/vmlinux.none" ]; }; }
if ! cached; then
    mkdir -p "$cache_root"
    exec 9>"$cache_root/.lock"
    log "taking the cache lock $cache_root/.lock"
    timeout 900 flock 9 || die "cache lock $cache_root/.lock held for 900 s"
    [ -f "$kdir/vmlinuz" ] || populate_kernel "$kernel_pkg" "$kdir" "$kver"
    cached || unpack_vmlinux "$kdir"
    exec 9>&-
fi
kernel="$kdir/vmlinux"
[ -f "$kernel" ] || kernel="$kdir/vmlinuz"
log "kernel $kver ($kernel)"

# ---- initramfs -------------------------------------------------------------------------
root="$scratch/root"
mkdir -p "$root"/{usr/bin,usr/sbin,usr/lib,usr/lib64,proc,sys,dev,tmp,run,etc,root}
# Debian's merged /usr, so that binaries and libraries keep their host paths.
ln -s usr/bin "$root/bin"
ln -s usr/sbin "$root/sbin"
ln -s usr/lib "$root/lib"
ln -s usr/lib64 "$root/lib64"
mkdir -p "$root/var"
ln -s ../run "$root/var/run"

# Copies file $1 to the same path in the guest; ELF files lose their debug info and bring
# the libraries ldd resolves for them.
copy_in() {
    local src=$1 dst="$root$1"
    [ -e "$dst" ] && return 0
    mkdir -p "$(dirname "$dst")"
    if [ "$(head -c4 "$src" | od -An -tx1 | tr -d ' ')" = 7f454c46 ]; then
        objcopy --strip-debug "$src" "$dst" 2>/dev/null || cp -L "$src" "$dst"
        chmod --reference="$src" "$dst"
        local lib
        for lib in $(ldd "$src" 2>/dev/null | awk '/=> \// { print $3 } /^\t\// { print $1 }'); do
            [ -e "$root$lib" ] || {
                mkdir -p "$(dirname "$root$lib")"
                cp -L "$lib" "$root$lib"
            }
        done
    else
        cp -L "$src" "$dst"
    fi
}
copy_tree() {
    local p
    if [ -d "$1" ]; then
        while IFS= read -r -d '' p; do copy_in "$p"; done < <(find "$1" -type f -print0)
    else
        copy_in "$1"
    fi
}

for t in "${host_tools[@]}"; do copy_in "$t"; done
ln -s dash "$root/usr/bin/sh"
# kmod's modprobe at the kernel's default path (/sbin/modprobe), for request_module.
ln -s /usr/bin/kmod "$root/usr/sbin/modprobe"
for b in "${bins[@]}"; do copy_in "$b"; done
for e in ${extras[@]+"${extras[@]}"}; do
    [ -e "$e" ] || die "no such file: $e"
    copy_tree "$(realpath "$e")"
done
# busybox (httpd as a real server, wget, the init) at its host path; its applets fill the
# paths no host program took above. The tree of applet links is made once per busybox.
bbtree="$cache_root/busybox-links-$(stat -c %s-%Y /usr/bin/busybox)"
if [ ! -d "$bbtree" ]; then
    t="$bbtree.tmp.$$"
    mkdir -p "$t/usr/bin" "$t/usr/sbin"
    # Merged /usr: bin/x and sbin/x land in usr/.
    # shellcheck disable=SC2016 # $a expands in the inner sh
    busybox --list-full | grep -v -e "^linuxrc" -e "/busybox$" | sed 's|^s\{0,1\}bin/|usr/&|' | (cd "$t" && xargs -n 64 sh -c \
        'for a; do ln -s /usr/bin/busybox "$a"; done' sh)
    mv -T "$t" "$bbtree" 2>/dev/null || rm -rf "$t"
fi
cp -a --no-clobber "$bbtree/." "$root/"
cp /usr/bin/busybox "$root/usr/bin/busybox"
# Users and groups as on the host (tests drop privileges to nobody, look up names).
for f in passwd group protocols services hosts nsswitch.conf; do
    [ -f "/etc/$f" ] && cp "/etc/$f" "$root/etc/$f"
done

# Modules: the load order from `modprobe --show-depends -a` (without -a, every name after the
# first is taken as a module parameter).
moddir="$kdir/lib/modules/$kver"
# Writes the insmod order of modules "$@" to $out; dies if one in $must is absent.
resolve_modules() {
    local out=$1 must=$2 err="$scratch/modprobe.err" missing
    shift 2
    timeout 60 modprobe -d "$kdir" -S "$kver" --show-depends -a "$@" 2>"$err" \
        | awk '$1 == "insmod" { print $2 }' >"$out" || true
    missing=$(sed -n 's/.*Module \([^ ]*\) not found.*/\1/p' "$err" | tr '\n' ' ')
    if [ "$must" = 1 ] && [ -n "$missing" ]; then die "kernel $kver lacks module(s) $missing"; fi
}
resolve_modules "$scratch/required" 1 "${required_modules[@]}"
resolve_modules "$scratch/optional" 0 "${optional_modules[@]}"
# shellcheck disable=SC2086 # VM_MODULES is a list of names
resolve_modules "$scratch/preload" 1 "${preload_modules[@]}" ${VM_MODULES:-}
mkdir -p "$root/lib/modules/$kver"
cp "$moddir"/modules.* "$root/lib/modules/$kver/"
cat "$scratch/preload" "$scratch/required" "$scratch/optional" | awk '!seen[$0]++' \
    | sed "s|^$kdir/||" >"$scratch/ship"
nmod=$(wc -l <"$scratch/ship")
(cd "$kdir" && xargs cp --parents -t "$root") <"$scratch/ship"
awk '!seen[$0]++' "$scratch/preload" | sed "s|^$kdir||" >"$root/etc/vm-modules"

# Environment for the tests: the host's VRRPD_* / VRRP_* / RUST_* choices.
q() { printf "'%s'" "$(printf %s "$1" | sed "s/'/'\\\\''/g")"; }
{
    echo "export VRRPD_IN_VM=1"
    echo "export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin"
    echo "export HOME=/root"
    while IFS= read -r var; do
        case "$var" in VRRPD_IN_VM) continue ;; esac
        echo "export $var=$(q "${!var}")"
    done < <(compgen -e | grep -E '^(VRRPD_|VRRP_|RUST_BACKTRACE$|RUST_LOG$|RUST_TEST_)' || true)
} >"$root/etc/vm-test.env"

test_args=""
for a in ${libtest_args[@]+"${libtest_args[@]}"}; do test_args+=" $(q "$a")"; done
{
    cat <<'EOF'
#!/usr/bin/busybox sh
# Guest init, generated by scripts/vm-test.sh.
bb=/usr/bin/busybox
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts devpts /dev/pts
$bb mount -t tmpfs tmpfs /dev/shm
# /tmp stays on the initramfs (a tmpfs already): test files may live there.
$bb chmod 1777 /tmp
$bb mount -t tmpfs tmpfs /run
$bb mkdir -p /run/netns /run/keepalived /var/lib /var/tmp /var/log
$bb mount -t tmpfs tmpfs /sys/fs/cgroup 2>/dev/null
. /etc/vm-test.env
while read -r ko; do
    # crc32c-intel may refuse a CPU without SSE4.2; crc32c_generic covers it.
    $bb insmod "$ko" 2>/dev/null || echo "VM_MODULE_FAILED=$ko"
done </etc/vm-modules
/usr/sbin/ip link set lo up
$bb hostname vrrpd-vm
echo "VM_GUEST_UP uptime=$($bb cut -d' ' -f1 /proc/uptime) kernel=$($bb uname -r)"
EOF
    for b in "${bins[@]}"; do
        cat <<EOF
echo "VM_TEST_START=$b"
cd /tmp
\$bb timeout -s KILL $test_timeout $(q "$b") --test-threads=1$test_args </dev/null 2>&1
echo "VM_TEST_EXIT=\$?"
EOF
    done
    cat <<'EOF'
echo "VM_TESTS_DONE uptime=$($bb cut -d' ' -f1 /proc/uptime)"
$bb sync
$bb poweroff -f
EOF
} >"$root/init"
chmod 0755 "$root/init"

initrd="$scratch/initrd.cpio"
(cd "$root" && find . -print0 | LC_ALL=C sort -z | timeout 300 cpio --null -o -H newc --quiet) >"$initrd" \
    || die "cpio failed"
log "initramfs $(du -m "$initrd" | cut -f1) MB: ${#bins[@]} test binaries, $nmod modules"

# ---- boot ------------------------------------------------------------------------------
accel=${VM_ACCEL:-auto}
if [ "$accel" = auto ]; then
    accel=tcg
    # kvm_pvm (nested without VT) opens /dev/kvm but cannot run this kernel.
    if [ -w /dev/kvm ] && { [ -d /sys/module/kvm_intel ] || [ -d /sys/module/kvm_amd ]; } \
        && [ ! -d /sys/module/kvm_pvm ]; then
        accel=kvm
    fi
fi
case "$accel" in
kvm) cpu=host ;;
tcg) cpu=${VM_CPU:-max} ;; # -cpu max: SSE4.2 for crc32c-intel, a softdep of libcrc32c
*) die "VM_ACCEL=$accel: use auto, tcg or kvm" ;;
esac

# qboot starts the kernel about 2 s sooner than SeaBIOS under TCG.
bios=()
[ -f /usr/share/qemu/qboot.rom ] && bios=(-bios /usr/share/qemu/qboot.rom)
console="$scratch/console.log"
log "booting ($accel, timeout ${vm_timeout}s)"
t_boot=$EPOCHREALTIME
t_up=
t_done=
passed=0
failed=0
ran=0
bad=0
# norandmaps: no ASLR in the guest. TCG finds code it already translated by virtual address,
# so with ASLR every exec translates ld.so and the libraries afresh; without it, a test that
# runs ip or ipvsadm a hundred times takes a quarter of the time.
# The console goes to a file, followed live; qpid lets cleanup stop a VM this script leaves.
: >"$scratch/serial"
timeout -k 10 "$vm_timeout" qemu-system-x86_64 ${bios[@]+"${bios[@]}"} -accel "$accel" -cpu "$cpu" \
    -smp "${VM_SMP:-2}" -m "${VM_MEM:-2048}" \
    -nographic -no-reboot -nic none -kernel "$kernel" -initrd "$initrd" \
    -append "console=ttyS0 panic=-1 quiet loglevel=3 mitigations=off random.trust_cpu=on norandmaps ${VM_APPEND:-}" \
    </dev/null >"$scratch/serial" 2>"$scratch/qemu.err" &
qpid=$!
tail -s 0.2 --pid="$qpid" -n +1 -f "$scratch/serial" \
    | sed -u 's/\r//g; s/\x1b\[[0-9;?]*[A-Za-z]//g; s/\x1b[()][0-9A-Za-z]//g; s/\x1b[c=>]//g' \
    | tee "$console" | while IFS= read -r line; do
    case "$line" in
    *VM_GUEST_UP*) echo "$EPOCHREALTIME" >"$scratch/t_up" ;;
    VM_TEST_START=*)
        cur=${line#VM_TEST_START=}
        t_bin=$EPOCHREALTIME
        echo "vm-test: running $cur"
        ;;
    VM_TEST_EXIT=*)
        echo "vm-test: $(basename "$cur") exited ${line#VM_TEST_EXIT=} after $(elapsed "$t_bin") s"
        ;;
    *VM_TESTS_DONE*) echo "$EPOCHREALTIME" >"$scratch/t_done" ;;
    VM_MODULE_FAILED=*) ;;
    *) if [ -f "$scratch/t_up" ] && [ ! -f "$scratch/t_done" ]; then printf '%s\n' "$line"; fi ;;
    esac
done &
# In the background, so that a signal to this script ends the VM at once (bash runs a trap
# only between foreground commands, but interrupts `wait`).
rpid=$!
qrc=0
wait "$qpid" || qrc=$?
qpid=
wait "$rpid" || true # the verdict below reads the whole console
[ -f "$scratch/t_up" ] && t_up=$(<"$scratch/t_up")
[ -f "$scratch/t_done" ] && t_done=$(<"$scratch/t_done")

# ---- verdict ---------------------------------------------------------------------------
while IFS= read -r line; do
    case "$line" in
    VM_TEST_EXIT=*)
        ran=$((ran + 1))
        [ "${line#VM_TEST_EXIT=}" = 0 ] || bad=$((bad + 1))
        ;;
    "test result: "*)
        p=$(sed -n 's/.* \([0-9]\+\) passed.*/\1/p' <<<"$line")
        f=$(sed -n 's/.* \([0-9]\+\) failed.*/\1/p' <<<"$line")
        passed=$((passed + ${p:-0}))
        failed=$((failed + ${f:-0}))
        ;;
    esac
done < <(grep -a -E '^(VM_TEST_EXIT=|test result: )' "$console" || true)

fmt() { if [ -n "$1" ] && [ -n "$2" ]; then awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f s", b - a }'; else echo "-"; fi; }
echo "vm-test: $passed passed, $failed failed in $ran binaries; boot $(fmt "$t_boot" "$t_up"), guest $(fmt "$t_up" "$t_done"), total $(fmt "$t_start" "$EPOCHREALTIME")"

why=
if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
    why="the VM timed out after ${vm_timeout}s"
elif [ -z "$t_up" ]; then
    why="the VM did not boot (qemu exit $qrc)"
elif [ -z "$t_done" ]; then
    why="the guest stopped before running every test binary (qemu exit $qrc)"
elif [ "$ran" != "${#bins[@]}" ]; then
    why="$ran of ${#bins[@]} test binaries reported an exit status"
elif [ "$bad" -gt 0 ] || [ "$failed" -gt 0 ]; then
    why="$bad binaries failed"
elif [ "$passed" = 0 ]; then
    why="no test ran"
fi
if [ -n "$why" ]; then
    if [ -z "$t_done" ]; then
        echo "vm-test: last console lines:" >&2
        tail -n 40 "$console" >&2
        cat "$scratch/qemu.err" >&2
    fi
    grep -a '^VM_MODULE_FAILED=' "$console" >&2 || true
    die "FAILED: $why"
fi
