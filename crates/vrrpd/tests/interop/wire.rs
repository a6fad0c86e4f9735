//! Packet capture on the lab's bridge and its check with tshark (Wireshark's
//! VRRP dissector): no advertisement sent by vrrpd may be malformed or carry
//! a bad checksum.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;
use vrrp_testlab::{Capture, Lab, find_tool, run_bounded};

/// One VRRP packet as tshark dissects it.
#[derive(Clone, Debug)]
pub(crate) struct Pkt {
    pub src: String,
    pub dst: String,
    pub version: String,
    pub priority: String,
    /// Expert messages (comma separated), e.g. "Bad checksum".
    pub expert: String,
    /// `vrrp.checksum.status`: 0 bad, 1 good, 2 unverified (numeric or text).
    pub checksum_status: String,
}

impl Pkt {
    /// Priority-0 advertisements (a Master that shuts down).
    pub(crate) fn is_priority_zero(&self) -> bool {
        self.priority == "0"
    }

    pub(crate) fn bad_checksum(&self) -> bool {
        let s = self.checksum_status.to_ascii_lowercase();
        s == "0" || s == "bad" || self.expert.to_ascii_lowercase().contains("bad checksum")
    }

    pub(crate) fn malformed(&self) -> bool {
        self.expert.to_ascii_lowercase().contains("malformed")
    }
}

/// Starts a capture of every VRRP packet on the bridge. A capture that cannot start fails
/// the test: its checks would otherwise vanish.
pub(crate) fn start(lab: &Lab, name: &str) -> Capture {
    lab.capture(name, "ip proto 112 or ip6 proto 112")
        .unwrap_or_else(|e| panic!("capture {name}: {e}"))
}

/// True when tshark is there to read the captures; otherwise the check is reported as
/// skipped (a failure under `VRRPD_LAB_REQUIRED=1`).
pub(crate) fn tshark_ready(what: &str) -> bool {
    vrrp_testlab::need(
        find_tool("tshark").is_some(),
        &format!("{what}: tshark is not installed: the capture cannot be checked"),
    )
}

/// Stops `cap` and dissects it with tshark; `None` (reported as a skip) without tshark.
pub(crate) fn stop_and_dissect(cap: Capture, what: &str) -> Option<(PathBuf, Vec<Pkt>)> {
    let path = cap
        .stop()
        .unwrap_or_else(|e| panic!("{what}: stopping the capture: {e}"));
    tshark_ready(what).then(|| {
        let pkts = dissect(&path);
        (path, pkts)
    })
}

/// Dissects `pcap` with tshark (which must be installed).
fn dissect(pcap: &Path) -> Vec<Pkt> {
    let Some(tshark) = find_tool("tshark") else {
        panic!("tshark is not installed");
    };
    let mut c = Command::new(tshark);
    c.args(["-n", "-r"])
        .arg(pcap)
        .args(["-Y", "vrrp", "-T", "fields", "-E", "separator=/t"])
        .args([
            "-e", "ip.src", "-e", "ipv6.src", "-e", "ip.dst", "-e", "ipv6.dst",
        ])
        .args(["-e", "vrrp.version", "-e", "vrrp.prio"])
        .args(["-e", "_ws.expert.message", "-e", "vrrp.checksum.status"]);
    let out = run_bounded(c, Duration::from_secs(60))
        .unwrap_or_else(|e| panic!("tshark on {}: {e}", pcap.display()));
    assert!(
        out.status.success(),
        "tshark failed on {}: {}",
        pcap.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let g = |i: usize| f.get(i).copied().unwrap_or("").to_string();
            let src = if g(0).is_empty() { g(1) } else { g(0) };
            let dst = if g(2).is_empty() { g(3) } else { g(2) };
            Pkt {
                src,
                dst,
                version: g(4),
                priority: g(5),
                expert: g(6),
                checksum_status: g(7),
            }
        })
        .collect()
}

/// Stops the capture and checks it: at least one VRRP packet from one of `heard` (the
/// sender the scenario must have heard, so that an empty capture cannot pass), and every
/// packet sent from one of `vrrpd_sources` well formed with a good checksum (a Backup sends
/// none). Returns the dissected packets (empty, reported as a skip, without tshark).
pub(crate) fn stop_and_check(
    lab: &Lab,
    cap: Capture,
    vrrpd_sources: &[IpAddr],
    heard: &[IpAddr],
    what: &str,
) -> Vec<Pkt> {
    let Some((path, pkts)) = stop_and_dissect(cap, what) else {
        return Vec::new();
    };
    let expected: Vec<String> = heard.iter().map(|s| s.to_string()).collect();
    if !pkts.iter().any(|p| expected.contains(&p.src)) {
        lab.keep_dir();
        panic!(
            "{what}: no VRRP packet from {expected:?} in the capture ({} packets, kept: {})",
            pkts.len(),
            path.display()
        );
    }
    let srcs: Vec<String> = vrrpd_sources.iter().map(|s| s.to_string()).collect();
    let mine: Vec<&Pkt> = pkts.iter().filter(|p| srcs.contains(&p.src)).collect();
    let bad: Vec<&&Pkt> = mine
        .iter()
        .filter(|p| p.bad_checksum() || p.malformed())
        .collect();
    let mut by_src = std::collections::BTreeMap::<String, usize>::new();
    for p in &pkts {
        *by_src
            .entry(format!("{} v{}", p.src, p.version))
            .or_default() += 1;
    }
    let prio0 = mine.iter().filter(|p| p.is_priority_zero()).count();
    eprintln!(
        "{what}: {} VRRP packets captured, by source {by_src:?}; vrrpd sent {} ({prio0} with priority 0)",
        pkts.len(),
        mine.len()
    );
    if !bad.is_empty() {
        lab.keep_dir();
    }
    assert!(
        bad.is_empty(),
        "{what}: tshark marks {} of vrrpd's {} packets malformed or with a bad checksum \
         (capture kept: {}); first: {:?}",
        bad.len(),
        mine.len(),
        path.display(),
        bad.first()
    );
    pkts
}
