#!/bin/sh
# Run by tests/package.rs inside a clean Debian root: installs the package, runs the daemon's
# checks, and asks man, bash, zsh and fish for what the package ships. $1: the version.
set -eux
dpkg -i /tmp/vrrpd.deb
test "$(vrrpd --version)" = "vrrpd $1"
vrrpctl --version
vrrpd -t -f /etc/vrrpd/vrrpd.conf.example
dpkg-query -W -f='${Conffiles}\n' vrrpd | grep -q '^ /etc/vrrpd/vrrpd.conf.example '
# Enabled as Debian's keepalived is (no systemd runs here, so nothing starts).
test -L /etc/systemd/system/multi-user.target.wants/vrrpd.service

# Every page renders without a warning, and man finds the main ones by name.
for page in $(dpkg -L vrrpd | grep '^/usr/share/man/.*\.gz$'); do
    warnings=$(MANWIDTH=80 man --warnings -l "$page" 2>&1 >/dev/null)
    test -z "$warnings"
done
MANPAGER=cat man 8 vrrpd | grep -q -- '--config-test'
MANPAGER=cat man 8 vrrpctl | grep -q 'vrrpctl-sniff'
MANPAGER=cat man 5 vrrpd.conf | grep -q 'virtual_router_id'

# The completions are found where each shell looks.
for cmd in vrrpd vrrpctl; do
    bash -c ". /usr/share/bash-completion/bash_completion; __load_completion $cmd; complete -p $cmd" \
        | grep -q -- "-F _$cmd $cmd"
    test "$(zsh -fc "autoload -Uz compinit && compinit -u -d /tmp/zcompdump && print -r -- \$_comps[$cmd]")" = "_$cmd"
done
fish -c 'complete -C "vrrpctl sn"' | grep -q '^sniff'
fish -c 'complete -C "vrrpd --use-"' | grep -q '^--use-file'

# Purge removes the files and the unit's enablement.
dpkg --purge vrrpd
test ! -e /usr/sbin/vrrpd
test ! -e /etc/systemd/system/multi-user.target.wants/vrrpd.service
test ! -e /etc/vrrpd
echo "chroot checks passed"
