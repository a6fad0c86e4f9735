//! Least privilege: once start-up has done what only start-up does, the daemon keeps the
//! capabilities it needs at run time, in its effective, permitted and bounding sets, and
//! clears its inheritable and ambient sets (docs/reliability.md, "Least privilege").
//!
//! The uid stays 0: the sysctls under /proc/sys/net, the pid file, the control socket and
//! the dump files are root's files, which uid 0 writes without any capability, and a
//! script's `setuid` needs no saved-uid tricks. A script run as another user loses every
//! capability at its `setuid` (no `SECBIT_KEEP_CAPS`) and gains none at `execve`
//! (inheritable and ambient sets empty); a script run as root gets the kept bounding set.
//!
//! Capabilities are per thread: the drop happens on the protocol thread before it starts
//! any other thread (all inherit it), and the log writer, started before the configuration
//! was read, drops them itself.
//!
//! The `caps` crate (small, maintained, pure Rust over `capset`/`prctl`) rather than
//! hand-written `capset` structures.

use std::sync::OnceLock;

use anyhow::{Context, Result};
use caps::{CapSet, Capability, CapsHashSet};
use tracing::{info, warn};
use vrrp_config::Config;

use crate::tracking::Scripts;

/// What the configuration needs beyond the network capabilities.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Needs {
    /// A script, hook or MISC_CHECK runs as another user or group: `setgroups`, `setgid`,
    /// `setuid` in the child, and `kill` of that user's process group at its timeout.
    pub run_as_others: bool,
    /// A notify FIFO is created with an `owner`: `chown` (only at start-up, as FIFO changes
    /// need a restart, but the tracking thread creates it after the drop).
    pub fifo_owner: bool,
    /// The metrics endpoint listens on a port below 1024 (bound by the control thread).
    pub low_port: bool,
    /// `vrrp_rt_priority`: the protocol thread enters SCHED_RR after the drop, once the
    /// other threads exist (they keep SCHED_OTHER and the nice value).
    pub realtime: bool,
    /// `vrrp_no_swap` / `checker_no_swap`: with `mlockall(MCL_FUTURE)` every later allocation
    /// is locked; without CAP_IPC_LOCK a finite RLIMIT_MEMLOCK would make them fail.
    pub memlock: bool,
}

impl Needs {
    /// `scripts`: the resolver every script and hook of `config` went through.
    pub(crate) fn of(config: &Config, scripts: &Scripts) -> Needs {
        // MISC_CHECK's own `user` is resolved by the checker, not by `scripts`.
        let misc_user = config
            .virtual_servers
            .iter()
            .flat_map(|vs| vs.commands())
            .filter_map(|(_, c)| c.user.as_ref())
            .any(|u| u.user != "root" || u.group.as_deref().is_some_and(|g| g != "root"));
        let g = &config.global;
        Needs {
            run_as_others: scripts.runs_as_others() || misc_user,
            fifo_owner: [&g.notify_fifo, &g.vrrp_notify_fifo, &g.lvs.notify_fifo]
                .into_iter()
                .flatten()
                .any(|f| f.owner.is_some()),
            low_port: false,
            realtime: g.vrrp_sched.rt_priority.is_some(),
            memlock: g.vrrp_sched.no_swap || g.checker_sched.no_swap,
        }
    }

    /// The capabilities kept after start-up.
    pub(crate) fn capabilities(self) -> CapsHashSet {
        let mut set = CapsHashSet::from([Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN]);
        if self.run_as_others {
            set.extend([
                Capability::CAP_SETUID,
                Capability::CAP_SETGID,
                Capability::CAP_KILL,
            ]);
        }
        if self.fifo_owner {
            set.insert(Capability::CAP_CHOWN);
        }
        if self.low_port {
            set.insert(Capability::CAP_NET_BIND_SERVICE);
        }
        if self.realtime {
            set.insert(Capability::CAP_SYS_NICE);
        }
        if self.memlock {
            set.insert(Capability::CAP_IPC_LOCK);
        }
        set
    }
}

/// The set kept at start-up, once dropped.
static KEPT: OnceLock<CapsHashSet> = OnceLock::new();

/// Drops every capability `needs` does not keep, on this thread and the log writer's.
/// Call before starting any other thread.
pub(crate) fn restrict(needs: Needs) -> Result<()> {
    let kept = needs.capabilities();
    restrict_thread(&kept)?;
    if let Some(Err(e)) = crate::logging::on_writer_thread(Box::new({
        let kept = kept.clone();
        move || restrict_thread(&kept).map_err(|e| format!("{e:#}"))
    })) {
        warn!("the log writer thread keeps its capabilities: {e}");
    }
    let effective = caps::read(None, CapSet::Effective).context("cannot read the capabilities")?;
    info!("capabilities kept: {}", names(&effective));
    let bounding = caps::read(None, CapSet::Bounding).context("cannot read the bounding set")?;
    if !bounding.is_subset(&kept) {
        // Root scripts get the bounding set: say what it is.
        info!(
            "without CAP_SETPCAP the bounding set stays as given (what root scripts get): {}",
            names(&bounding)
        );
    }
    let _ = KEPT.set(kept);
    Ok(())
}

fn names(set: &CapsHashSet) -> String {
    let mut names: Vec<String> = set.iter().map(ToString::to_string).collect();
    names.sort();
    names.join(" ")
}

fn restrict_thread(kept: &CapsHashSet) -> Result<()> {
    // The bounding set first: dropping from it needs CAP_SETPCAP, which goes below. Without
    // CAP_SETPCAP (a service manager took it) the bounding set it gave stays.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        let bounding =
            caps::read(None, CapSet::Bounding).context("cannot read the bounding set")?;
        for cap in bounding.difference(kept) {
            caps::drop(None, CapSet::Bounding, *cap)
                .with_context(|| format!("cannot drop {cap} from the bounding set"))?;
        }
    }
    caps::clear(None, CapSet::Ambient).context("cannot clear the ambient set")?;
    caps::clear(None, CapSet::Inheritable).context("cannot clear the inheritable set")?;
    let permitted = caps::read(None, CapSet::Permitted).context("cannot read the capabilities")?;
    let keep: CapsHashSet = permitted.intersection(kept).copied().collect();
    // Effective before permitted: it must stay a subset.
    caps::set(None, CapSet::Effective, &keep).context("cannot set the effective set")?;
    caps::set(None, CapSet::Permitted, &keep).context("cannot set the permitted set")?;
    Ok(())
}

/// A reload whose configuration needs a capability dropped at start-up is refused: it could
/// not run its scripts.
pub(crate) fn allows(needs: Needs) -> Result<(), String> {
    let Some(kept) = KEPT.get() else {
        return Ok(());
    };
    let missing = missing(kept, needs);
    if missing.is_empty() {
        return Ok(());
    }
    Err(format!(
        "the new configuration needs {}, dropped at start-up (a script or hook as another user, for instance); restart vrrpd to apply it",
        missing.join(" ")
    ))
}

/// The capabilities `needs` wants that `kept` lacks, by name.
fn missing(kept: &CapsHashSet, needs: Needs) -> Vec<String> {
    let mut missing: Vec<String> = needs
        .capabilities()
        .difference(kept)
        .map(ToString::to_string)
        .collect();
    missing.sort();
    missing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(text: &str) -> Needs {
        let config = match vrrp_config::parse_str("test.conf", text) {
            Ok(loaded) => loaded.config,
            Err(e) => panic!("{e:?}"),
        };
        let scripts = Scripts::new(&config.global);
        for i in &config.instances {
            scripts
                .notify_scripts(&i.notify, None)
                .expect("hooks resolve");
        }
        Needs::of(&config, &scripts)
    }

    const INSTANCE: &str = "vrrp_instance VI_1 {\n interface lo\n virtual_router_id 1\n priority 100\n virtual_ipaddress {\n 10.99.0.1/24\n }\n";

    #[test]
    fn without_scripts_only_the_network_capabilities() {
        let n = needs(&format!("{INSTANCE}}}\n"));
        assert_eq!(n, Needs::default());
        let expected = CapsHashSet::from([Capability::CAP_NET_RAW, Capability::CAP_NET_ADMIN]);
        assert_eq!(n.capabilities(), expected);
    }

    #[test]
    fn a_hook_as_another_user_keeps_the_identity_change() {
        let n = needs(&format!("{INSTANCE} notify_master /bin/true nobody\n}}\n"));
        assert!(n.run_as_others);
        assert!(n.capabilities().contains(&Capability::CAP_SETUID));
        let root = needs(&format!("{INSTANCE} notify_master /bin/true root\n}}\n"));
        assert!(!root.run_as_others);
    }

    #[test]
    fn a_misc_check_as_another_user_keeps_the_identity_change() {
        let vs = |user: &str| {
            format!(
                "virtual_server 10.99.0.1 80 {{\n real_server 10.99.0.2 80 {{\n MISC_CHECK {{\n misc_path /bin/true\n user {user}\n }}\n }}\n}}\n"
            )
        };
        assert!(needs(&vs("nobody")).run_as_others);
        assert!(!needs(&vs("root")).run_as_others);
    }

    #[test]
    fn real_time_and_memory_locking_keep_their_capabilities() {
        let n = needs(&format!(
            "global_defs {{\n vrrp_rt_priority 50\n vrrp_no_swap\n}}\n{INSTANCE}}}\n"
        ));
        assert!(n.realtime && n.memlock);
        let caps = n.capabilities();
        assert!(caps.contains(&Capability::CAP_SYS_NICE));
        assert!(caps.contains(&Capability::CAP_IPC_LOCK));
    }

    #[test]
    fn a_reload_needing_a_dropped_capability_names_it() {
        let kept = Needs::default().capabilities();
        let others = Needs {
            run_as_others: true,
            ..Needs::default()
        };
        assert_eq!(
            missing(&kept, others),
            ["CAP_KILL", "CAP_SETGID", "CAP_SETUID"]
        );
        assert!(missing(&others.capabilities(), Needs::default()).is_empty());
    }
}
