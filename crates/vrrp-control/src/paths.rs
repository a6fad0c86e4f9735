//! Where vrrpd keeps its pid file, control socket and dumps by default, and where vrrpctl
//! looks for the socket: one directory per network namespace, so that daemons in several
//! namespaces of one host (one per router, like OpenStack Neutron's L3 HA) coexist without
//! flags, and `ip netns exec NS vrrpctl status` reaches the daemon of `NS`.
//!
//! * the host's (initial) namespace: `/run/vrrpd/` (unchanged for existing users);
//! * a namespace named by `ip netns` (an entry of `/run/netns`): `/run/vrrpd/netns/NAME/`;
//! * any other namespace: `/run/vrrpd/netns/net-INODE/`.

use std::ffi::OsString;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// The run directory of the host's network namespace.
pub const RUN_DIR: &str = "/run/vrrpd";
/// Where `ip netns` mounts its named namespaces.
const NETNS_DIR: &str = "/run/netns";
/// The inode of the initial network namespace on recent kernels (`PROC_NET_INIT_INO`); older
/// ones number it like any other, but never with this reserved number.
const NET_INIT_INO: u64 = 0xEFFF_FFF9;

/// The pid file's name in the run directory.
pub const PID_FILE: &str = "vrrpd.pid";
/// The control socket's name in the run directory.
pub const CONTROL_SOCKET: &str = "vrrpd.sock";
/// The SIGUSR1 state dump's name in the run directory.
pub const STATE_FILE: &str = "vrrpd.state.json";
/// The SIGUSR2 statistics dump's name in the run directory.
pub const STATS_FILE: &str = "vrrpd.stats.json";

/// A network namespace's identity: device and inode of its nsfs file (the inode alone is
/// unique only within one nsfs instance).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NsId {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl NsId {
    /// The namespace `path` refers to (`/proc/self/ns/net`, `/run/netns/NAME`); `None` when
    /// it cannot be read.
    pub fn of(path: &Path) -> Option<NsId> {
        let meta = std::fs::metadata(path).ok()?;
        Some(NsId {
            dev: meta.dev(),
            ino: meta.ino(),
        })
    }
}

/// The default run directory of the calling process's network namespace.
pub fn run_dir() -> PathBuf {
    let named = std::fs::read_dir(NETNS_DIR)
        .map(|dir| {
            dir.filter_map(|entry| entry.ok())
                .filter_map(|entry| Some((entry.file_name(), NsId::of(&entry.path())?)))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    run_dir_for(
        NsId::of(Path::new("/proc/self/ns/net")),
        NsId::of(Path::new("/proc/1/ns/net")),
        &named,
    )
}

/// The run directory of the namespace `current`, given the initial namespace (that of pid 1)
/// and the named ones. What cannot be told apart from the host's namespace gets the host's
/// directory: without `/proc`, or when pid 1's namespace is unreadable (not root, or no
/// CAP_SYS_PTRACE over it) and `current` has no name.
pub fn run_dir_for(
    current: Option<NsId>,
    initial: Option<NsId>,
    named: &[(OsString, NsId)],
) -> PathBuf {
    let base = Path::new(RUN_DIR);
    let Some(current) = current else {
        return base.to_path_buf();
    };
    if initial == Some(current) || current.ino == NET_INIT_INO {
        return base.to_path_buf();
    }
    // `ip netns attach` can give one namespace several names: the first in order, always.
    let name = named
        .iter()
        .filter(|(_, id)| *id == current)
        .map(|(name, _)| name)
        .min();
    match (name, initial) {
        (Some(name), _) => base.join("netns").join(name),
        (None, Some(_)) => base.join("netns").join(format!("net-{}", current.ino)),
        (None, None) => base.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST: NsId = NsId {
        dev: 4,
        ino: 4026531840,
    };
    const NS1: NsId = NsId {
        dev: 4,
        ino: 4026532300,
    };
    const NS2: NsId = NsId {
        dev: 4,
        ino: 4026532400,
    };

    fn named(list: &[(&str, NsId)]) -> Vec<(OsString, NsId)> {
        list.iter()
            .map(|(n, id)| (OsString::from(n), *id))
            .collect()
    }

    #[test]
    fn the_hosts_namespace_keeps_the_old_directory() {
        let all = named(&[("ns1", NS1), ("host", HOST)]);
        assert_eq!(
            run_dir_for(Some(HOST), Some(HOST), &all),
            Path::new(RUN_DIR)
        );
        assert_eq!(run_dir_for(None, Some(HOST), &all), Path::new(RUN_DIR));
        // A recent kernel's fixed number tells it even when pid 1's namespace is unreadable.
        let init = NsId {
            dev: 4,
            ino: NET_INIT_INO,
        };
        assert_eq!(run_dir_for(Some(init), None, &[]), Path::new(RUN_DIR));
    }

    #[test]
    fn a_named_namespace_gets_its_own_directory() {
        let all = named(&[("ns2", NS2), ("ns1", NS1)]);
        assert_eq!(
            run_dir_for(Some(NS1), Some(HOST), &all),
            Path::new("/run/vrrpd/netns/ns1")
        );
        assert_eq!(
            run_dir_for(Some(NS2), Some(HOST), &all),
            Path::new("/run/vrrpd/netns/ns2")
        );
        // Named but pid 1's namespace unreadable: the name still tells it apart.
        assert_eq!(
            run_dir_for(Some(NS2), None, &all),
            Path::new("/run/vrrpd/netns/ns2")
        );
    }

    #[test]
    fn several_names_choose_the_first_and_the_device_counts() {
        let all = named(&[("zeta", NS1), ("alpha", NS1)]);
        assert_eq!(
            run_dir_for(Some(NS1), Some(HOST), &all),
            Path::new("/run/vrrpd/netns/alpha")
        );
        // Same inode on another device is another file, not this namespace.
        let other = named(&[(
            "x",
            NsId {
                dev: 5,
                ino: NS1.ino,
            },
        )]);
        assert_eq!(
            run_dir_for(Some(NS1), Some(HOST), &other),
            Path::new("/run/vrrpd/netns/net-4026532300")
        );
    }

    #[test]
    fn an_unnamed_namespace_is_named_by_its_inode() {
        assert_eq!(
            run_dir_for(Some(NS2), Some(HOST), &[]),
            Path::new("/run/vrrpd/netns/net-4026532400")
        );
        // Nothing tells it from the host's: the host's directory, as before.
        assert_eq!(run_dir_for(Some(NS2), None, &[]), Path::new(RUN_DIR));
    }

    #[test]
    fn this_process_gets_a_directory_under_run_vrrpd() {
        assert!(run_dir().starts_with(RUN_DIR));
    }
}
