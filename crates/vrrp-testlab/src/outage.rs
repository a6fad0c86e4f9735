//! The outage a client sees when the Master goes away: from the old Master's last
//! advertisement (SIGKILL, interface cut) or its priority-0 advertisement (SIGTERM) to
//! the first client probe of each kind the new Master answers — the VIP resolved to it
//! (ARP reply / solicited Neighbour Advertisement), an echo answered, a TCP SYN answered
//! with a SYN-ACK by a listener — next to the protocol's bound (Master_Down_Interval,
//! or Skew_Time after a priority-0 advertisement).
//!
//! The client probes every millisecond from raw sockets (`client`); the answers are
//! timed by kernel stamps where the routers' veths join the bridge (`ports`), so an
//! answer's origin is the port it left, also when both routers use the same virtual MAC.
//! `vrrp-bench outage` drives it (docs/benchmarks.md, "Outage seen by a client").

mod client;
mod frames;
mod ports;
mod rep;
mod report;

pub use rep::{OutageLab, Sample};
pub use report::{CaseResult, table, write_csv};

use crate::Daemon;
use crate::benchkit::{Res, Rng, f2, fmt_secs, loadavg};
use crate::budget::{Budget, interrupted};

/// Protocol version and address family of the VRRP instance.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Family {
    /// VRRPv3 over IPv4.
    V3Ipv4,
    /// VRRPv3 over IPv6.
    V3Ipv6,
    /// VRRPv2 (IPv4 only).
    V2Ipv4,
}

impl Family {
    /// The VRRP version.
    pub fn version(self) -> u8 {
        if self == Family::V2Ipv4 { 2 } else { 3 }
    }

    /// Whether the VIP is an IPv6 address.
    pub fn ipv6(self) -> bool {
        self == Family::V3Ipv6
    }

    fn name(self) -> &'static str {
        match self {
            Family::V3Ipv4 => "VRRPv3 IPv4",
            Family::V3Ipv6 => "VRRPv3 IPv6",
            Family::V2Ipv4 => "VRRPv2 IPv4",
        }
    }
}

/// How the Master goes away.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cut {
    /// SIGKILL to the daemon, then its LAN link down (the VIP stays in its kernel).
    Kill,
    /// SIGTERM: the daemon resigns with a priority-0 advertisement.
    Term,
    /// The Master's LAN interface set down; the daemon lives on.
    Link,
}

impl Cut {
    fn name(self) -> &'static str {
        match self {
            Cut::Kill => "SIGKILL",
            Cut::Term => "SIGTERM",
            Cut::Link => "link down",
        }
    }
}

/// One cell of the matrix.
#[derive(Clone, Copy, Debug)]
pub struct Case {
    /// Version and address family.
    pub family: Family,
    /// Advertisement interval in centiseconds.
    pub int_cs: u16,
    /// How the Master goes away.
    pub cut: Cut,
    /// `use_vmac` on both routers.
    pub vmac: bool,
}

impl Case {
    /// Human-readable, e.g. "VRRPv3 IPv4 0.1 s, SIGKILL, use_vmac".
    pub fn label(&self) -> String {
        format!(
            "{} {} s, {}{}",
            self.family.name(),
            fmt_secs(self.int_cs),
            self.cut.name(),
            if self.vmac { ", use_vmac" } else { "" }
        )
    }

    /// Short key for the CSV, e.g. "v3-ipv4-10cs-kill-vmac".
    pub fn key(&self) -> String {
        format!(
            "v{}-{}-{}cs-{}{}",
            self.family.version(),
            if self.family.ipv6() { "ipv6" } else { "ipv4" },
            self.int_cs,
            match self.cut {
                Cut::Kill => "kill",
                Cut::Term => "term",
                Cut::Link => "link",
            },
            if self.vmac { "-vmac" } else { "" }
        )
    }
}

/// The benchmark's matrix: VRRPv3 IPv4 and IPv6 at `v3_int_cs`, VRRPv2 IPv4 at 1 s;
/// SIGKILL, SIGTERM, link down; use_vmac off and on.
pub fn matrix(v3_int_cs: u16) -> Vec<Case> {
    let mut v = Vec::new();
    for (family, int_cs) in [
        (Family::V3Ipv4, v3_int_cs),
        (Family::V3Ipv6, v3_int_cs),
        (Family::V2Ipv4, 100),
    ] {
        for vmac in [false, true] {
            for cut in [Cut::Kill, Cut::Term, Cut::Link] {
                v.push(Case {
                    family,
                    int_cs,
                    cut,
                    vmac,
                });
            }
        }
    }
    v
}

/// Runs `reps(case)` repetitions of every case, the daemons interleaved repetition by
/// repetition; a failed repetition is retried once, then reported and skipped.
pub fn run(
    b: &Budget,
    lab: &OutageLab,
    daemons: &[Daemon],
    cases: &[Case],
    reps: impl Fn(&Case) -> u32,
    rng: &mut Rng,
) -> Res<Vec<CaseResult>> {
    let mut out = Vec::new();
    for case in cases {
        let n = reps(case);
        let l0 = loadavg();
        eprintln!("== outage {} ({n} reps), load {l0}", case.label());
        let mut samples = Vec::new();
        for rep in 0..n {
            for d in daemons {
                b.check()?;
                let mut r = lab.rep(b, d, case, rep, rng);
                if r.is_err() && !interrupted() {
                    eprintln!("  retrying {} rep {rep}", d.name());
                    r = lab.rep(b, d, case, rep, rng);
                }
                match r {
                    Ok(s) => {
                        let o = |v: Option<i64>| v.map_or("-".into(), f2);
                        eprintln!(
                            "  {} {:<10} rep {rep:2}: advert {} announce {} resolved {} echo {} tcp {} bound {} {}",
                            case.key(),
                            s.daemon,
                            o(s.advert),
                            o(s.announce),
                            o(s.resolved),
                            o(s.echo),
                            o(s.tcp),
                            f2(s.bound),
                            s.note
                        );
                        samples.push(s);
                    }
                    Err(e) if interrupted() => return Err(e),
                    Err(e) => eprintln!("  {} {} rep {rep}: FAILED: {e}", case.key(), d.name()),
                }
            }
        }
        out.push(CaseResult {
            case: *case,
            samples,
            load: (l0, loadavg()),
        });
    }
    Ok(out)
}
