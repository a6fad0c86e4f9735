//! Chaos on the LAN (issue 13, docs/reliability.md "Chaos on the LAN"), each scenario on
//! namespace LANs of its own:
//!
//! - **loss**: a vrrpd pair and, at the same time on a second LAN, a keepalived pair
//!   (VRRPv3, Master priority 200, Backup 128); a share of the Master's advertisements is
//!   dropped on the Backup's ingress (nftables `numgen random`). The Backup's takeovers
//!   must not exceed the binomial 1e-6 bound around (1 - p) p³ per advertisement, nor
//!   keepalived's count by more than chance allows; the Master never steps down.
//! - **partition and heal**: VRRP cut on the bridge until every router is Master, then
//!   healed in one nft transaction; within one advertisement interval (and a scheduling
//!   margin) the loser of each instance drops its VIP, and only the winner holds it. VRRPv3,
//!   VRRPv2, and v2 and v3 instances side by side with keepalived as the peer.
//! - **SIGKILL and restart**: the Master (VIP on a `use_vmac` macvlan, a virtual server on
//!   the nftables data path, a virtual route) is killed and restarted, then the Backup: the
//!   Backup takes over at once, the restarted Master preempts once, the restarted Backup
//!   causes no transition; after the final stop nothing is left on either node.
//!
//! Sizes come from the environment so that `scripts/bench-chaos.sh` runs the long versions
//! with the same code: `VRRPD_CHAOS_SECONDS`, `VRRPD_CHAOS_LOSS`, `VRRPD_CHAOS_INTERVAL`,
//! `VRRPD_CHAOS_HEALS`, `VRRPD_CHAOS_V2_HEALS`, `VRRPD_CHAOS_ROUNDS`, and
//! `VRRPD_CHAOS_CSV` (a directory for the raw rows). Lab tests: root and namespaces;
//! `SKIPPED` without them, a failure under `VRRPD_LAB_REQUIRED=1`. Every lab kills what it
//! started, by PID, and deletes its namespaces on drop, also when a test panics.

#[path = "chaos/loss.rs"]
mod loss;
#[path = "chaos/restart.rs"]
mod restart;
#[path = "chaos/split.rs"]
mod split;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use vrrp_testlab::{Daemon, DaemonProc, Lab, Node};

/// Bound for a daemon to start.
const START: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);

fn vrrpd() -> Daemon {
    Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    }
}

/// `daemon` started on `node` with `conf`, ready.
fn start(lab: &Lab, daemon: &Daemon, node: &Node, conf: &str) -> DaemonProc {
    let d = daemon
        .start(node, conf)
        .unwrap_or_else(|e| panic!("starting {daemon} on {}: {e}{}", node.name(), lab.diag()));
    if let Err(e) = d.wait_ready(START) {
        panic!("{daemon} on {}: {e}{}", node.name(), lab.diag());
    }
    d
}

/// A size from the environment, else `ci`.
fn knob<T: std::str::FromStr>(name: &str, ci: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(ci)
}

/// Appends `row` to `<VRRPD_CHAOS_CSV>/<file>` (with `header` first in a new file).
fn csv(file: &str, header: &str, row: &str) {
    let Some(dir) = std::env::var_os("VRRPD_CHAOS_CSV") else {
        return;
    };
    let path = PathBuf::from(dir).join(file);
    let new = !path.exists();
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    if new {
        let _ = writeln!(f, "{header}");
    }
    let _ = writeln!(f, "{row}");
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}
