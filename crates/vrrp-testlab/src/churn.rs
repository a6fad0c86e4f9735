//! Churn (issue 13): reload storms and link flaps. A daemon's resources as /proc shows
//! them, the states it logged per instance, the advertisements of each VRID on the wire,
//! the spans during which a node held an address, and a configuration swapped atomically
//! under a reloading daemon.

use std::collections::BTreeMap;
use std::fs;
use std::net::IpAddr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::chaos::AddressEvent;
use crate::{Daemon, DaemonProc, Error, Result, run_bounded};

/// Resident memory and open descriptors of a process.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Usage {
    /// VmRSS, kB.
    pub rss_kb: u64,
    /// Entries of /proc/PID/fd.
    pub fds: usize,
}

/// `pid`'s [`Usage`]; `None` once it is gone.
pub fn usage(pid: u32) -> Option<Usage> {
    let rss_kb = crate::starve::status_kb(pid, "VmRSS")?;
    let fds = fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count();
    Some(Usage { rss_kb, fds })
}

/// A daemon's usage, keepalived's processes (the parent and its VRRP child) summed.
pub fn daemon_usage(d: &DaemonProc) -> Option<Usage> {
    let mut u = usage(d.pid())?;
    for child in d.proc.children() {
        if let Some(c) = usage(child as u32) {
            u.rss_kb += c.rss_kb;
            u.fds += c.fds;
        }
    }
    Some(u)
}

/// How often an instance entered each state, from a daemon's log.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct States {
    /// Entered MASTER.
    pub master: u64,
    /// Entered BACKUP (keepalived: the one at start-up included; vrrpd: not INIT ->
    /// BACKUP).
    pub backup: u64,
    /// Entered FAULT.
    pub fault: u64,
}

impl States {
    /// All transitions counted.
    pub fn total(&self) -> u64 {
        self.master + self.backup + self.fault
    }
}

impl std::ops::Sub for States {
    type Output = States;
    fn sub(self, o: States) -> States {
        States {
            master: self.master.saturating_sub(o.master),
            backup: self.backup.saturating_sub(o.backup),
            fault: self.fault.saturating_sub(o.fault),
        }
    }
}

impl std::ops::Add for States {
    type Output = States;
    fn add(self, o: States) -> States {
        States {
            master: self.master + o.master,
            backup: self.backup + o.backup,
            fault: self.fault + o.fault,
        }
    }
}

impl std::fmt::Display for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "M{} B{} F{}", self.master, self.backup, self.fault)
    }
}

/// The whole log of a daemon process (stderr, then stdout).
pub fn log(d: &DaemonProc) -> String {
    let mut text = fs::read_to_string(d.proc.stderr_path()).unwrap_or_default();
    text.push_str(&fs::read_to_string(d.proc.stdout_path()).unwrap_or_default());
    text
}

/// The states `instance` entered in `d`'s log so far.
pub fn states(d: &DaemonProc, instance: &str) -> States {
    count_states(&log(d), &d.daemon, instance)
}

fn count_states(log: &str, daemon: &Daemon, instance: &str) -> States {
    let mut s = States::default();
    for l in log.lines() {
        let to = match daemon {
            // `VI_1: BACKUP -> MASTER (reason), priority 200`; INIT -> BACKUP is start-up.
            Daemon::Vrrpd { .. } => l
                .split_once(&format!("{instance}: "))
                .and_then(|(_, rest)| rest.split_once(" -> "))
                .filter(|(from, _)| *from != "INIT")
                .and_then(|(_, rest)| rest.split_once(" (").map(|(to, _)| to)),
            Daemon::Keepalived => l
                .split_once(&format!("({instance}) Entering "))
                .and_then(|(_, rest)| rest.split_once(" STATE").map(|(to, _)| to)),
        };
        match to {
            Some("MASTER") => s.master += 1,
            Some("BACKUP") => s.backup += 1,
            Some("FAULT") => s.fault += 1,
            _ => {}
        }
    }
    s
}

/// Lines of `d`'s log containing `needle`.
pub fn count_lines(d: &DaemonProc, needle: &str) -> usize {
    log(d).lines().filter(|l| l.contains(needle)).count()
}

/// Writes `text` as `path` in one rename, so that a daemon reading it at any moment sees
/// the old file or the new one, never a half-written one.
pub fn swap_file(path: &Path, text: &str) -> Result<()> {
    let tmp = path.with_extension("swap");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)?;
    Ok(())
}

pub use crate::starve::{Advert, read_adverts};

/// The gaps (ns) between consecutive advertisements of `vrid` from `src` whose both ends
/// lie in `[from_ns, to_ns]`, in capture order.
pub fn gaps(adverts: &[Advert], src: IpAddr, vrid: u8, from_ns: i64, to_ns: i64) -> Vec<i64> {
    let t: Vec<i64> = adverts
        .iter()
        .filter(|a| a.src == src && a.vrid == vrid && (from_ns..=to_ns).contains(&a.t_ns))
        .map(|a| a.t_ns)
        .collect();
    t.windows(2).map(|w| w[1] - w[0]).collect()
}

/// The spans `[start, end)` (ns) during which a node held `addr`, from its address events,
/// given whether it held it before the first event; a span still open ends at `until_ns`.
pub fn held(events: &[AddressEvent], addr: IpAddr, before: bool, until_ns: i64) -> Vec<(i64, i64)> {
    let mut spans = Vec::new();
    let mut since = before.then_some(i64::MIN);
    for e in events.iter().filter(|e| e.addr == addr) {
        match (e.deleted, since) {
            (false, None) => since = Some(e.t_ns),
            (true, Some(s)) => {
                spans.push((s, e.t_ns));
                since = None;
            }
            _ => {}
        }
    }
    if let Some(s) = since {
        spans.push((s, until_ns));
    }
    spans
}

/// The spans common to `a` and `b`, both as [`held`] gives them.
pub fn overlap(a: &[(i64, i64)], b: &[(i64, i64)]) -> Vec<(i64, i64)> {
    let mut out = Vec::new();
    for &(s1, e1) in a {
        for &(s2, e2) in b {
            let (s, e) = (s1.max(s2), e1.min(e2));
            if s < e {
                out.push((s, e));
            }
        }
    }
    out
}

/// The protocol timer's figures from `vrrpctl show INSTANCE --json`: firings, firings
/// later than 5 ms, the mean and the largest lateness (µs), cumulative since start.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Lateness {
    /// Firings.
    pub fired: u64,
    /// Firings more than 5 ms late.
    pub over_5ms: u64,
    /// Mean lateness, µs.
    pub mean_us: f64,
    /// Largest lateness, µs.
    pub max_us: u64,
}

/// [`Lateness`] of the vrrpd behind `socket` (through `vrrpctl`, bounded).
pub fn lateness(vrrpctl: &Path, socket: &Path, instance: &str) -> Result<Lateness> {
    let mut cmd = Command::new(vrrpctl);
    cmd.arg("--socket")
        .arg(socket)
        .args(["show", instance, "--json"]);
    let out = run_bounded(cmd, Duration::from_secs(10))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Error::msg(format!("vrrpctl show --json: {e}: {text}")))?;
    let t = &v["protocol_timer"];
    let buckets: BTreeMap<String, u64> =
        serde_json::from_value(t["late_buckets"].clone()).unwrap_or_default();
    Ok(Lateness {
        fired: t["fired"].as_u64().unwrap_or(0),
        over_5ms: buckets.get("more").copied().unwrap_or(0),
        mean_us: t["mean_late_us"].as_f64().unwrap_or(0.0),
        max_us: t["max_late_us"].as_u64().unwrap_or(0),
    })
}

/// A small deterministic generator for the storm's pacing (xorshift).
pub struct Pace(u64);

impl Pace {
    /// Seeded (`seed` 0 is replaced by a fixed odd number).
    pub fn new(seed: u64) -> Pace {
        Pace(seed.max(1) | 1)
    }

    /// A duration in `[lo, hi]` milliseconds.
    pub fn between(&mut self, lo: u64, hi: u64) -> Duration {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        Duration::from_millis(lo + self.0 % (hi - lo + 1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_are_counted() {
        let v = Daemon::Vrrpd {
            binary: "vrrpd".into(),
        };
        let log = "V3A: INIT -> BACKUP (Startup), priority 200\n\
                   V3A: BACKUP -> MASTER (MasterDownTimer), priority 200\n\
                   V3A: MASTER -> FAULT (InterfaceDown), priority 200\n\
                   V3AB: BACKUP -> MASTER (x), priority 1\n";
        let s = count_states(log, &v, "V3A");
        assert_eq!((s.master, s.backup, s.fault), (1, 0, 1));
        let k = "(V3A) Entering BACKUP STATE (init)\n(V3A) Entering MASTER STATE\n\
                 (V3A) Entering FAULT STATE\n";
        let s = count_states(k, &Daemon::Keepalived, "V3A");
        assert_eq!((s.master, s.backup, s.fault), (1, 1, 1));
    }

    #[test]
    fn adverts_and_spans() {
        let ip: IpAddr = "10.99.3.100".parse().expect("ip");
        let ev = |t_ns, deleted| AddressEvent {
            t_ns,
            addr: ip,
            deleted,
        };
        let spans = held(&[ev(10, true), ev(20, false)], ip, true, 30);
        assert_eq!(spans, vec![(i64::MIN, 10), (20, 30)]);
        assert_eq!(overlap(&spans, &[(5, 25)]), vec![(5, 10), (20, 25)]);
    }
}
