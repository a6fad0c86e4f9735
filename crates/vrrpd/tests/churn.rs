//! Churn (issue 13, docs/reliability.md "Reload storms and link flaps"), each scenario on
//! namespace LANs of its own, a vrrpd pair and, at the same time on a second LAN, a
//! keepalived pair with the same keepalived.conf:
//!
//! - **reload storm**: four instances (two VRRPv3 at 0.1 s in a sync group, two VRRPv2 at
//!   1 s), VIPs and a `virtual_server` with a checker; SIGHUP to both nodes every 100 to
//!   200 ms with the configuration unchanged, then alternating between two configurations
//!   (a VIP, a priority, an instance added and removed), then a syntax error, then a
//!   priority that crosses the peer's and back, then the Master killed and restarted. An
//!   unchanged or non-crossing reload causes no transition and no advertisement gap, a
//!   crossing one exactly the protocol's, VIPs are never missing on the Master nor held
//!   twice beyond an interval, the bad file is refused, descriptors and RSS come back.
//! - **link flaps**: the Master's `eth0` and a tracked interface flapped, with and without
//!   `interface_up_down_delays`: flaps shorter than the down delay cause no transition,
//!   longer ones exactly one cycle, and without delays every flap is followed.
//!
//! keepalived is counted, never asserted on beyond having run. Sizes come from the
//! environment so that `scripts/bench-churn.sh` runs the long versions with the same code:
//! `VRRPD_CHURN_SECONDS` (each storm phase), `VRRPD_CHURN_FLAPS` (short flaps per series).
//! Lab tests: root and namespaces; `SKIPPED` without them, a failure under
//! `VRRPD_LAB_REQUIRED=1`. Every lab kills what it started, by PID, and deletes its
//! namespaces on drop, also when a test panics.

#[path = "churn/flap.rs"]
mod flap;
#[path = "churn/storm.rs"]
mod storm;

use std::path::{Path, PathBuf};
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

fn vrrpctl() -> PathBuf {
    vrrp_testlab::vrrpctl_next_to(Path::new(env!("CARGO_BIN_EXE_vrrpd"))).expect("vrrpctl")
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

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// Text made only when printed: a failed assertion's message. (`Lab::diag` keeps the lab's
/// files, so a passing test must not render it.)
struct Lazy<F: Fn() -> String>(F);

impl<F: Fn() -> String> std::fmt::Display for Lazy<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&(self.0)())
    }
}

/// Runs `f` for vrrpd and for keepalived at the same time, each on labs of its own;
/// keepalived only when installed.
fn side_by_side<T: Send>(f: impl Fn(Daemon) -> T + Sync) -> (T, Option<T>) {
    std::thread::scope(|s| {
        let k = vrrp_testlab::find_tool("keepalived").map(|_| s.spawn(|| f(Daemon::Keepalived)));
        let v = f(vrrpd());
        let k = k.map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)));
        (v, k)
    })
}
