//! Address events of a node, time-stamped as they appear, for timing a takeover.
//!
//! Polling `ip addr` costs a process per look (several milliseconds on a loaded machine),
//! which blurs a bound of tens of milliseconds. `ip monitor address` instead prints each
//! change as the kernel reports it (iproute2 flushes after every event); the watch reads
//! its output every millisecond, so the time of a VIP's arrival is known to about 1 ms.

use std::fs;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::{Node, Proc, Result};

/// A running `ip monitor address` in one node's namespace (the lab stops it on drop).
pub struct AddressWatch {
    proc: Proc,
    node: String,
}

impl AddressWatch {
    /// Starts watching `node`. Address changes from then on are seen; give it a moment
    /// (the monitor subscribes as it starts) before the event under test.
    pub fn start(node: &Node) -> Result<AddressWatch> {
        let proc = node.spawn("ip", &["monitor", "address"], &[])?;
        std::thread::sleep(Duration::from_millis(200));
        Ok(AddressWatch {
            proc,
            node: node.name().to_string(),
        })
    }

    /// Waits (bounded) until `ip` is added on the node and returns when that was seen;
    /// `None` if it was not within `timeout`. Panics if the monitor died (a failed probe
    /// must not read as "not added").
    #[track_caller]
    pub fn wait_added(&self, ip: IpAddr, timeout: Duration) -> Option<Instant> {
        let needle = match ip {
            IpAddr::V4(a) => format!("inet {a}/"),
            IpAddr::V6(a) => format!("inet6 {a}/"),
        };
        let end = Instant::now() + timeout;
        loop {
            let text = fs::read_to_string(self.proc.stdout_path()).unwrap_or_default();
            let seen = Instant::now();
            if text
                .lines()
                .any(|l| l.contains(&needle) && !l.starts_with("Deleted"))
            {
                return Some(seen);
            }
            assert!(
                self.proc.is_running(),
                "ip monitor on {} died: {}",
                self.node,
                self.proc.tail(5)
            );
            if seen >= end {
                return None;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    }

    /// Stops the monitor.
    pub fn stop(self) {
        let _ = self.proc.kill_and_wait();
    }
}
