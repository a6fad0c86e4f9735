//! Interface sysctls that a virtual-MAC setup needs, set through /proc/sys and restored when
//! the daemon is done with them.
//!
//! Paths are absolute (`/proc/sys/net/ipv4/conf/eth0/arp_ignore`) or relative to /proc/sys
//! with slashes (`net/ipv4/conf/eth0/arp_ignore`). The dotted `sysctl` form is not accepted:
//! interface names may contain dots (`vrrp.250`). /proc/sys/net belongs to the network
//! namespace of the calling thread.

use std::fs;
use std::io;

/// The absolute /proc/sys path for `path`.
fn full_path(path: &str) -> String {
    if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/proc/sys/{path}")
    }
}

/// Reads a sysctl, without the trailing newline.
pub fn get(path: &str) -> io::Result<String> {
    let p = full_path(path);
    fs::read_to_string(&p)
        .map(|s| s.trim_end().to_string())
        .map_err(|e| io::Error::new(e.kind(), format!("read {p}: {e}")))
}

/// Sets a sysctl and returns its previous value. Nothing is written if it already has it.
pub fn set(path: &str, value: &str) -> io::Result<String> {
    let old = get(path)?;
    if old != value {
        let p = full_path(path);
        fs::write(&p, value).map_err(|e| io::Error::new(e.kind(), format!("write {p}: {e}")))?;
    }
    Ok(old)
}

/// Sysctls set through it are put back to their old values when it is dropped (or
/// [`SysctlGuard::restore`]d), newest first. A sysctl that has vanished by then (its
/// interface was deleted) is skipped.
#[derive(Debug, Default)]
pub struct SysctlGuard {
    saved: Vec<(String, String)>,
}

impl SysctlGuard {
    /// A guard with nothing to restore yet.
    pub fn new() -> SysctlGuard {
        SysctlGuard::default()
    }

    /// Sets all of `settings` (path, value), remembering the old values. On error the ones
    /// already set are restored.
    pub fn apply(settings: &[(String, String)]) -> io::Result<SysctlGuard> {
        let mut g = SysctlGuard::new();
        for (path, value) in settings {
            g.set(path, value)?;
        }
        Ok(g)
    }

    /// Sets one sysctl. The value to restore is the one found the first time a path is set.
    pub fn set(&mut self, path: &str, value: &str) -> io::Result<()> {
        let old = set(path, value)?;
        let full = full_path(path);
        if !self.saved.iter().any(|(p, _)| *p == full) {
            // Written down at once: a kill must not lose it.
            crate::sysctl_journal::record(&full, &old);
            self.saved.push((full, old));
        }
        Ok(())
    }

    /// The (path, old value) pairs that will be restored.
    pub fn saved(&self) -> &[(String, String)] {
        &self.saved
    }

    /// Restores now; returns the errors for paths that still exist but could not be written.
    pub fn restore(&mut self) -> Vec<io::Error> {
        let mut errors = Vec::new();
        while let Some((path, old)) = self.saved.pop() {
            match set(&path, &old) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => errors.push(e),
            }
        }
        errors
    }
}

impl Drop for SysctlGuard {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}

/// The sysctls a macvlan virtual-MAC setup needs (keepalived's `doc/NOTE_vrrp_vmac.txt` and
/// `vrrp_if_config.c`), as (path, value):
///
/// - base interface `arp_ignore=1`: answer ARP only for addresses configured on the interface
///   the request came in on, so the base interface does not answer for the VIPs that live on
///   the macvlan (with its own MAC instead of the virtual MAC).
/// - base interface `arp_announce=2`: ARP requests sent on it use its own address as the
///   sender, never a VIP (else hosts learn the VIP with the base interface's MAC).
/// - base interface `arp_filter=1`: answer (and route) only when the reply would leave by the
///   interface the request came in on.
/// - macvlan `arp_ignore=1`: the macvlan answers only for its own addresses (the VIPs), not for
///   the base interface's addresses.
/// - macvlan `accept_local=1`: accept packets whose source is a local address (the address
///   owner case, where a VIP is also a real address of this host).
/// - macvlan `rp_filter=0`: the macvlan has no route back to the sources it hears. The
///   kernel uses the larger of `all` and the interface value, so this has no effect while
///   `net.ipv4.conf.all.rp_filter` is non-zero; keepalived then lowers `all` too. We leave
///   `all` alone, as the VRRP socket listens on the base interface.
pub fn vmac_sysctls(base_if: &str, vmac_if: &str) -> Vec<(String, String)> {
    let conf = |ifname: &str, key: &str| format!("/proc/sys/net/ipv4/conf/{ifname}/{key}");
    vec![
        (conf(base_if, "arp_ignore"), "1".into()),
        (conf(base_if, "arp_filter"), "1".into()),
        // The Master's own ARP requests (for its neighbours) would otherwise carry a VIP as
        // sender address with the base interface's MAC, rewriting the hosts' entry for the
        // VIP away from the virtual MAC. 2: use the interface's own address.
        (conf(base_if, "arp_announce"), "2".into()),
        (conf(vmac_if, "arp_ignore"), "1".into()),
        (conf(vmac_if, "accept_local"), "1".into()),
        (conf(vmac_if, "rp_filter"), "0".into()),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            full_path("net/ipv4/ip_forward"),
            "/proc/sys/net/ipv4/ip_forward"
        );
        assert_eq!(full_path("/proc/sys/x"), "/proc/sys/x");
        let v = vmac_sysctls("eth0", "vrrp.7");
        assert!(v.contains(&(
            "/proc/sys/net/ipv4/conf/eth0/arp_ignore".to_string(),
            "1".to_string()
        )));
        assert!(v.contains(&(
            "/proc/sys/net/ipv4/conf/vrrp.7/rp_filter".to_string(),
            "0".to_string()
        )));
    }

    #[test]
    fn missing_sysctl_is_an_error() {
        assert!(get("net/ipv4/conf/no-such-if-xyz/arp_ignore").is_err());
    }
}
