//! `sniff --summary`: who advertised what per VRID and family, and a diagnosis of the
//! problems users hit.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::net::IpAddr;

use serde::Serialize;

use vrrp_core::Family;
use vrrp_core::packet::DecodeError;

use crate::capture::Timestamp;
use crate::record::{Record, format_mac, password_text};

/// Two sources count as simultaneous masters when each advertises (priority > 0) within
/// this many intervals of the other's last advertisement (a master that dies silently is
/// replaced after 3 intervals plus the skew time, outside the window)...
const MASTER_WINDOW_INTERVALS: f64 = 3.0;
/// ...both ways, and at least this many times in all. In a preemption the new master's
/// first advertisements fall in the old one's window, but the old master falls silent as
/// soon as it hears them, so only one direction counts.
const MASTER_OVERLAP_MIN: u32 = 3;
/// The interval assumed when a packet's cannot be read (or is 0).
const DEFAULT_INTERVAL_S: f64 = 1.0;

/// How a family reads in the text summary.
fn family_label(family: Family) -> &'static str {
    match family {
        Family::Ipv4 => "IPv4",
        Family::Ipv6 => "IPv6",
    }
}

/// How a family reads in the JSON summary: `ipv4`, `ipv6` (the core's type has no serde).
fn serialize_family<S: serde::Serializer>(family: &Family, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(match family {
        Family::Ipv4 => "ipv4",
        Family::Ipv6 => "ipv6",
    })
}

/// A group: one VRID in one family. Ordered by VRID, then IPv4 before IPv6, which is the
/// order of the summary (`vrrp_core::Family` has no order of its own).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
struct GroupKey(u8, Family);

impl Ord for GroupKey {
    fn cmp(&self, other: &GroupKey) -> Ordering {
        let rank = |key: &GroupKey| (key.0, key.1 == Family::Ipv6);
        rank(self).cmp(&rank(other))
    }
}

impl PartialOrd for GroupKey {
    fn partial_cmp(&self, other: &GroupKey) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What one source sent for one VRID.
#[derive(Clone, Debug, Default)]
struct SourceStats {
    macs: BTreeSet<[u8; 6]>,
    packets: u64,
    priorities: BTreeSet<u8>,
    intervals_cs: BTreeSet<u16>,
    versions: BTreeSet<u8>,
    address_lists: BTreeSet<Vec<IpAddr>>,
    auth_types: BTreeSet<u8>,
    passwords: BTreeSet<[u8; 8]>,
    checksum_forms: BTreeSet<&'static str>,
    ttls: BTreeSet<u8>,
    bad_ttl: u64,
    bad_checksum: u64,
    errors: BTreeMap<&'static str, u64>,
    first_seen: Timestamp,
    last_seen: Timestamp,
    /// Time of the last advertisement with priority > 0, and its interval in seconds;
    /// cleared by a priority-0 (resignation) advertisement.
    last_active: Option<(f64, f64)>,
}

#[derive(Clone, Debug, Default)]
struct Group {
    packets: u64,
    sources: BTreeMap<IpAddr, SourceStats>,
    /// For each ordered pair (a, b): how often a advertised while b was still active.
    overlaps: BTreeMap<(IpAddr, IpAddr), u32>,
    first_overlap: BTreeMap<(IpAddr, IpAddr), String>,
    /// The distinct VRRPv2 passwords, in the order first seen.
    passwords_seen: Vec<[u8; 8]>,
}

/// Collects records; renders the summary.
#[derive(Clone, Debug, Default)]
pub struct Summary {
    packets: u64,
    /// Packets without a readable VRID (under 2 bytes of VRRP).
    unreadable: u64,
    groups: BTreeMap<GroupKey, Group>,
}

/// What one source sent for one VRID, in the JSON summary.
#[derive(Debug, Serialize)]
pub struct SourceJson {
    /// The source address.
    pub src: String,
    /// Source MACs seen.
    pub macs: Vec<String>,
    /// Packets from it.
    pub packets: u64,
    /// Priorities seen.
    pub priorities: Vec<u8>,
    /// Intervals seen, in centiseconds.
    pub intervals_cs: Vec<u16>,
    /// Versions seen.
    pub versions: Vec<u8>,
    /// Address lists seen.
    pub address_lists: Vec<Vec<String>>,
    /// VRRPv2 auth types seen.
    pub auth_types: Vec<u8>,
    /// Checksum forms seen.
    pub checksum_forms: Vec<&'static str>,
    /// TTLs / hop limits seen.
    pub ttls: Vec<u8>,
    /// Packets with a bad checksum.
    pub bad_checksums: u64,
    /// Refused packets, by error name.
    pub errors: BTreeMap<&'static str, u64>,
    /// RFC 3339, UTC, microseconds, like the packets' `time`.
    pub first_seen: String,
    /// Like `first_seen`.
    pub last_seen: String,
}

/// One VRID in one family, in the JSON summary.
#[derive(Debug, Serialize)]
pub struct GroupJson {
    /// The VRID.
    pub vrid: u8,
    /// `ipv4` or `ipv6`.
    #[serde(serialize_with = "serialize_family")]
    pub family: Family,
    /// Packets in the group.
    pub packets: u64,
    /// Each source, by address.
    pub sources: Vec<SourceJson>,
}

/// A problem found in one group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Diagnosis {
    /// `two_masters`, `address_mismatch`, `interval_mismatch`, `version_mismatch`,
    /// `ttl_not_255`, `bad_checksum`, `auth_mismatch`, `mixed_checksum_forms`,
    /// `invalid_packets`.
    pub kind: &'static str,
    /// The group's VRID.
    pub vrid: u8,
    /// The group's family (`ipv4` or `ipv6` in JSON).
    #[serde(serialize_with = "serialize_family")]
    pub family: Family,
    /// The sources involved.
    pub sources: Vec<String>,
    /// An explanation for people.
    pub message: String,
}

/// The `--summary --json` document.
#[derive(Debug, Serialize)]
pub struct SummaryJson {
    /// VRRP packets read.
    pub packets: u64,
    /// Packets without a readable VRID.
    pub unreadable: u64,
    /// The VRID/family groups, by VRID, IPv4 first.
    pub groups: Vec<GroupJson>,
    /// The problems found.
    pub diagnoses: Vec<Diagnosis>,
}

fn join<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    items
        .into_iter()
        .map(|i| i.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// `join`, or `?` when nothing was readable.
fn join_or_unknown<T: ToString>(items: impl IntoIterator<Item = T>) -> String {
    let s = join(items);
    if s.is_empty() { "?".to_string() } else { s }
}

fn plural(n: u64, word: &str) -> String {
    if n == 1 {
        format!("{n} {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn list(addrs: &[IpAddr]) -> String {
    format!("[{}]", join(addrs))
}

fn interval_text(cs: u16, versions: &BTreeSet<u8>) -> String {
    if versions.len() == 1 && versions.contains(&2) {
        format!("{}s", cs / 100)
    } else {
        format!("{cs}cs")
    }
}

impl Summary {
    /// Counts one packet.
    pub fn add(&mut self, r: &Record) {
        self.packets += 1;
        let Some(vrid) = r.vrid else {
            self.unreadable += 1;
            return;
        };
        let group = self
            .groups
            .entry(GroupKey(vrid, Family::of(&r.src)))
            .or_default();
        group.packets += 1;
        let now = r.time.as_f64();
        let interval_s = match r.interval_cs {
            Some(cs) if cs > 0 => f64::from(cs) / 100.0,
            _ => DEFAULT_INTERVAL_S,
        };

        // Two masters: does this advertisement come while another source is active?
        if r.priority.is_some_and(|p| p > 0) {
            let others: Vec<(IpAddr, (f64, f64))> = group
                .sources
                .iter()
                .filter(|(a, _)| **a != r.src)
                .filter_map(|(a, s)| s.last_active.map(|l| (*a, l)))
                .collect();
            for (other, (t, other_interval)) in others {
                let window = MASTER_WINDOW_INTERVALS * interval_s.max(other_interval);
                if (now - t).abs() <= window {
                    *group.overlaps.entry((r.src, other)).or_default() += 1;
                    group
                        .first_overlap
                        .entry((r.src, other))
                        .or_insert_with(|| r.time.rfc3339());
                }
            }
        }

        if let Some(p) = r.password
            && !group.passwords_seen.contains(&p)
        {
            group.passwords_seen.push(p);
        }
        let s = group.sources.entry(r.src).or_default();
        if s.packets == 0 {
            s.first_seen = r.time;
        }
        s.packets += 1;
        s.last_seen = r.time;
        if let Some(m) = r.src_mac {
            s.macs.insert(m);
        }
        if let Some(p) = r.priority {
            s.priorities.insert(p);
            s.last_active = (p > 0).then_some((now, interval_s));
        }
        if let Some(i) = r.interval_cs {
            s.intervals_cs.insert(i);
        }
        if let Some(v) = r.version {
            s.versions.insert(v);
        }
        if let Some(a) = &r.addresses {
            s.address_lists.insert(a.clone());
        }
        if let Some(t) = r.auth_type {
            s.auth_types.insert(t);
        }
        if let Some(p) = r.password {
            s.passwords.insert(p);
        }
        if let Some(f) = r.checksum_form {
            s.checksum_forms.insert(f.name());
        }
        s.ttls.insert(r.ttl);
        if r.ttl != 255 {
            s.bad_ttl += 1;
        }
        // A packet too short for its checksum field has no checksum to be wrong.
        if !r.checksum_ok && !matches!(r.error, Some(DecodeError::Truncated { .. })) {
            s.bad_checksum += 1;
        }
        if let Some(e) = &r.error {
            *s.errors.entry(e.name()).or_default() += 1;
        }
    }

    /// The problems found, in a fixed order.
    pub fn diagnoses(&self, show_password: bool) -> Vec<Diagnosis> {
        let mut out = Vec::new();
        for (&GroupKey(vrid, family), g) in &self.groups {
            let mut push = |kind, sources: Vec<String>, message: String| {
                out.push(Diagnosis {
                    kind,
                    vrid,
                    family,
                    sources,
                    message,
                });
            };

            // Two masters.
            let mut pairs = BTreeSet::new();
            for (&(a, b), &n) in &g.overlaps {
                let back = g.overlaps.get(&(b, a)).copied().unwrap_or(0);
                if n >= 1 && back >= 1 && n + back >= MASTER_OVERLAP_MIN {
                    pairs.insert((a.min(b), a.max(b)));
                }
            }
            for (a, b) in pairs {
                let n = g.overlaps.get(&(a, b)).copied().unwrap_or(0)
                    + g.overlaps.get(&(b, a)).copied().unwrap_or(0);
                let first = [g.first_overlap.get(&(a, b)), g.first_overlap.get(&(b, a))]
                    .into_iter()
                    .flatten()
                    .min()
                    .cloned()
                    .unwrap_or_default();
                push(
                    "two_masters",
                    vec![a.to_string(), b.to_string()],
                    format!(
                        "two masters: {a} and {b} both advertise with priority > 0 within \
                         {MASTER_WINDOW_INTERVALS} intervals of each other ({n} times, first at \
                         {first}); they do not hear each other (multicast filtered, different \
                         VLANs, a firewall) or refuse each other's packets (see the other \
                         diagnoses)"
                    ),
                );
            }

            let sources: Vec<String> = g.sources.keys().map(ToString::to_string).collect();
            // A value set per source, compared across the group.
            let per_source = |f: &dyn Fn(&SourceStats) -> Option<String>| -> Vec<String> {
                g.sources
                    .iter()
                    .filter_map(|(a, s)| f(s).map(|v| format!("{a} {v}")))
                    .collect()
            };

            // Compared as sets: the order of the addresses does not matter.
            let lists: BTreeSet<BTreeSet<IpAddr>> = g
                .sources
                .values()
                .flat_map(|s| &s.address_lists)
                .map(|l| l.iter().copied().collect())
                .collect();
            if lists.len() > 1 {
                let detail = per_source(&|s| {
                    Some(join(s.address_lists.iter().map(|l| list(l)))).filter(|t| !t.is_empty())
                });
                push(
                    "address_mismatch",
                    sources.clone(),
                    format!("different address lists: {}", detail.join("; ")),
                );
            }

            let versions: BTreeSet<u8> = g
                .sources
                .values()
                .flat_map(|s| s.versions.clone())
                .collect();
            let intervals: BTreeSet<u16> = g
                .sources
                .values()
                .flat_map(|s| s.intervals_cs.clone())
                .collect();
            if intervals.len() > 1 {
                let detail = per_source(&|s| {
                    Some(join(
                        s.intervals_cs.iter().map(|i| interval_text(*i, &versions)),
                    ))
                });
                push(
                    "interval_mismatch",
                    sources.clone(),
                    format!(
                        "different advertisement intervals (RFC 3768 drops such packets; \
                         VRRPv3 backups adopt the master's): {}",
                        detail.join("; ")
                    ),
                );
            }
            if versions.len() > 1 {
                let detail =
                    per_source(&|s| Some(join(s.versions.iter().map(|v| format!("v{v}")))));
                push(
                    "version_mismatch",
                    sources.clone(),
                    format!("different VRRP versions: {}", detail.join("; ")),
                );
            }

            let bad_ttl: Vec<String> = g
                .sources
                .iter()
                .filter(|(_, s)| s.bad_ttl > 0)
                .map(|(a, s)| {
                    let ttls = join(s.ttls.iter().filter(|t| **t != 255));
                    format!("{a} ({} packets with TTL {ttls})", s.bad_ttl)
                })
                .collect();
            if !bad_ttl.is_empty() {
                push(
                    "ttl_not_255",
                    bad_sources(g, |s| s.bad_ttl > 0),
                    format!(
                        "TTL/hop limit not 255, dropped by every receiver (routed, or sent by a \
                         broken stack): {}",
                        bad_ttl.join("; ")
                    ),
                );
            }

            let bad_sum: Vec<String> = g
                .sources
                .iter()
                .filter(|(_, s)| s.bad_checksum > 0)
                .map(|(a, s)| format!("{a} ({} of {} packets)", s.bad_checksum, s.packets))
                .collect();
            if !bad_sum.is_empty() {
                push(
                    "bad_checksum",
                    bad_sources(g, |s| s.bad_checksum > 0),
                    format!("bad checksums: {}", bad_sum.join("; ")),
                );
            }

            let auth_types: BTreeSet<u8> = g
                .sources
                .values()
                .flat_map(|s| s.auth_types.clone())
                .collect();
            let passwords = &g.passwords_seen;
            if auth_types.len() > 1 || passwords.len() > 1 {
                let detail = per_source(&|s| {
                    if s.auth_types.is_empty() {
                        return None;
                    }
                    let mut t = format!("auth type {}", join(&s.auth_types));
                    if !s.passwords.is_empty() {
                        if show_password {
                            let p = join(
                                s.passwords
                                    .iter()
                                    .map(|p| format!("\"{}\"", password_text(p))),
                            );
                            let _ = write!(t, " password {p}");
                        } else {
                            // Which sources agree, without printing the secret: number the
                            // distinct passwords.
                            let ids = join(s.passwords.iter().filter_map(|p| {
                                passwords
                                    .iter()
                                    .position(|q| q == p)
                                    .map(|i| format!("#{}", i + 1))
                            }));
                            let _ = write!(t, " password {ids}");
                        }
                    }
                    Some(t)
                });
                let what = if auth_types.len() > 1 {
                    "different authentication types"
                } else {
                    "different passwords"
                };
                let legend = if show_password || passwords.len() < 2 {
                    ""
                } else {
                    " (#N numbers the distinct passwords in the order seen; --show-password \
                     prints them)"
                };
                push(
                    "auth_mismatch",
                    sources.clone(),
                    format!(
                        "{what}, each side drops the other's packets: {}{legend}",
                        detail.join("; ")
                    ),
                );
            }

            let forms: BTreeSet<&str> = g
                .sources
                .values()
                .flat_map(|s| s.checksum_forms.clone())
                .collect();
            if forms.len() > 1 {
                let detail =
                    per_source(&|s| Some(join(&s.checksum_forms)).filter(|t| !t.is_empty()));
                push(
                    "mixed_checksum_forms",
                    sources.clone(),
                    format!(
                        "VRRPv3 IPv4 checksums in both forms (RFC 5798 pseudo-header vs RFC 9568 \
                         message-only); peers that accept only one form drop the other: {}",
                        detail.join("; ")
                    ),
                );
            }

            // Other validation errors (TTL and checksum have their own entries).
            let other: Vec<String> = g
                .sources
                .iter()
                .filter_map(|(a, s)| {
                    let errs: Vec<String> = s
                        .errors
                        .iter()
                        .filter(|(e, _)| !matches!(**e, "ttl_not_255" | "bad_checksum"))
                        .map(|(e, n)| format!("{e} x{n}"))
                        .collect();
                    (!errs.is_empty()).then(|| format!("{a} ({})", errs.join(", ")))
                })
                .collect();
            if !other.is_empty() {
                push(
                    "invalid_packets",
                    bad_sources(g, |s| {
                        s.errors
                            .keys()
                            .any(|e| !matches!(*e, "ttl_not_255" | "bad_checksum"))
                    }),
                    format!("packets that fail validation: {}", other.join("; ")),
                );
            }
        }
        out
    }

    /// The JSON document; passwords appear in the diagnoses only with `show_password`.
    pub fn to_json(&self, show_password: bool) -> SummaryJson {
        let groups = self
            .groups
            .iter()
            .map(|(&GroupKey(vrid, family), g)| GroupJson {
                vrid,
                family,
                packets: g.packets,
                sources: g
                    .sources
                    .iter()
                    .map(|(a, s)| SourceJson {
                        src: a.to_string(),
                        macs: s.macs.iter().map(format_mac).collect(),
                        packets: s.packets,
                        priorities: s.priorities.iter().copied().collect(),
                        intervals_cs: s.intervals_cs.iter().copied().collect(),
                        versions: s.versions.iter().copied().collect(),
                        address_lists: s
                            .address_lists
                            .iter()
                            .map(|l| l.iter().map(ToString::to_string).collect())
                            .collect(),
                        auth_types: s.auth_types.iter().copied().collect(),
                        checksum_forms: s.checksum_forms.iter().copied().collect(),
                        ttls: s.ttls.iter().copied().collect(),
                        bad_checksums: s.bad_checksum,
                        errors: s.errors.clone(),
                        first_seen: s.first_seen.rfc3339(),
                        last_seen: s.last_seen.rfc3339(),
                    })
                    .collect(),
            })
            .collect();
        SummaryJson {
            packets: self.packets,
            unreadable: self.unreadable,
            groups,
            diagnoses: self.diagnoses(show_password),
        }
    }

    /// The text summary; passwords appear only with `show_password`.
    pub fn to_text(&self, show_password: bool) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Summary: {}, {}",
            plural(self.packets, "VRRP packet"),
            plural(self.groups.len() as u64, "VRID/family group")
        );
        if self.unreadable > 0 {
            let _ = writeln!(s, "  {} packets too short to show a VRID", self.unreadable);
        }
        for (&GroupKey(vrid, family), g) in &self.groups {
            let _ = writeln!(
                s,
                "VRID {vrid} {}: {} from {}",
                family_label(family),
                plural(g.packets, "packet"),
                plural(g.sources.len() as u64, "source")
            );
            for (a, st) in &g.sources {
                let macs = join(st.macs.iter().map(format_mac));
                let macs = if macs.is_empty() {
                    "-".to_string()
                } else {
                    macs
                };
                let intervals = join_or_unknown(
                    st.intervals_cs
                        .iter()
                        .map(|i| interval_text(*i, &st.versions)),
                );
                let lists = join_or_unknown(st.address_lists.iter().map(|l| list(l)));
                let _ = write!(
                    s,
                    "  {a} mac {macs}: {}, version {}, priority {}, interval {}, addresses {}",
                    plural(st.packets, "packet"),
                    join_or_unknown(&st.versions),
                    join_or_unknown(&st.priorities),
                    intervals,
                    lists
                );
                if !st.auth_types.is_empty() {
                    let _ = write!(s, ", auth type {}", join(&st.auth_types));
                }
                if !st.checksum_forms.is_empty() {
                    let _ = write!(s, ", checksum {}", join(&st.checksum_forms));
                }
                if st.bad_ttl > 0 {
                    let _ = write!(s, ", TTL {}", join(&st.ttls));
                }
                if !st.errors.is_empty() {
                    let errs = join(st.errors.iter().map(|(e, n)| format!("{e} x{n}")));
                    let _ = write!(s, ", errors {errs}");
                }
                s.push('\n');
            }
        }
        let diagnoses = self.diagnoses(show_password);
        if diagnoses.is_empty() {
            s.push_str("Diagnosis: no problems found\n");
        } else {
            s.push_str("Diagnosis:\n");
            for d in diagnoses {
                let _ = writeln!(
                    s,
                    "  VRID {} {}: [{}] {}",
                    d.vrid,
                    family_label(d.family),
                    d.kind,
                    d.message
                );
            }
        }
        s
    }
}

fn bad_sources(g: &Group, f: impl Fn(&SourceStats) -> bool) -> Vec<String> {
    g.sources
        .iter()
        .filter(|(_, s)| f(s))
        .map(|(a, _)| a.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;
    use vrrp_core::packet::ChecksumForm;

    fn rec(src: u8, secs: i64, prio: u8) -> Record {
        Record {
            time: Timestamp { secs, nanos: 0 },
            src: IpAddr::V4(Ipv4Addr::new(10, 99, 0, src)),
            dst: IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)),
            src_mac: Some([2, 0, 0, 0, 0, src]),
            vlan: None,
            ttl: 255,
            version: Some(3),
            vrid: Some(7),
            priority: Some(prio),
            count: Some(1),
            addresses: Some(vec![IpAddr::V4(Ipv4Addr::new(10, 99, 0, 100))]),
            interval_cs: Some(100),
            auth_type: None,
            password: None,
            checksum_ok: true,
            checksum_form: Some(ChecksumForm::PseudoHeader),
            error: None,
        }
    }

    fn kinds(s: &Summary) -> Vec<&'static str> {
        s.diagnoses(false).iter().map(|d| d.kind).collect()
    }

    #[test]
    fn healthy_master_and_failover_are_quiet() {
        let mut s = Summary::default();
        for t in 0..5 {
            s.add(&rec(1, t, 200));
        }
        // The master resigns (priority 0); the backup takes over right away.
        s.add(&rec(1, 5, 0));
        for t in 5..10 {
            s.add(&rec(2, t, 100));
        }
        // Preemption: 3 comes up, the old master 2 falls silent after one more.
        s.add(&rec(2, 10, 100));
        s.add(&rec(3, 10, 250));
        for t in 11..15 {
            s.add(&rec(3, t, 250));
        }
        assert_eq!(kinds(&s), Vec::<&str>::new(), "{}", s.to_text(false));
    }

    #[test]
    fn groups_are_ordered_by_vrid_then_ipv4_first() {
        let mut s = Summary::default();
        let mut v6 = rec(1, 0, 100);
        v6.src = IpAddr::V6(std::net::Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
        s.add(&v6);
        let mut vrid_3 = rec(2, 0, 100);
        vrid_3.vrid = Some(3);
        s.add(&vrid_3);
        s.add(&rec(1, 0, 100));
        let json = serde_json::to_value(s.to_json(false)).expect("json");
        let groups: Vec<_> = json["groups"]
            .as_array()
            .expect("groups")
            .iter()
            .map(|g| (g["vrid"].as_u64(), g["family"].as_str()))
            .collect();
        assert_eq!(
            groups,
            [
                (Some(3), Some("ipv4")),
                (Some(7), Some("ipv4")),
                (Some(7), Some("ipv6"))
            ]
        );
    }

    #[test]
    fn two_masters() {
        let mut s = Summary::default();
        for t in 0..5 {
            s.add(&rec(1, t, 200));
            s.add(&rec(2, t, 100));
        }
        let d = s.diagnoses(false);
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].kind, "two_masters");
        assert_eq!(d[0].sources, vec!["10.99.0.1", "10.99.0.2"]);
        // Far apart in time: not simultaneous.
        let mut s = Summary::default();
        s.add(&rec(1, 0, 200));
        s.add(&rec(1, 1, 200));
        s.add(&rec(2, 100, 100));
        s.add(&rec(2, 101, 100));
        assert!(kinds(&s).is_empty());
    }

    #[test]
    fn mismatches() {
        let mut s = Summary::default();
        s.add(&rec(1, 0, 200));
        let mut b = rec(2, 50, 100);
        b.addresses = Some(vec![IpAddr::V4(Ipv4Addr::new(10, 99, 0, 101))]);
        b.interval_cs = Some(200);
        b.checksum_form = Some(ChecksumForm::MessageOnly);
        b.ttl = 64;
        b.error = Some(DecodeError::TtlNot255 { ttl: 64 });
        s.add(&b);
        let mut c = rec(3, 60, 100);
        c.version = Some(2);
        c.auth_type = Some(1);
        c.password = Some(*b"secret\0\0");
        c.checksum_ok = false;
        c.checksum_form = None;
        c.error = Some(DecodeError::BadChecksum { received: 1 });
        s.add(&c);
        let mut d = rec(4, 70, 100);
        d.version = Some(2);
        d.auth_type = Some(1);
        d.password = Some(*b"other\0\0\0");
        d.error = Some(DecodeError::ZeroCount);
        s.add(&d);
        assert_eq!(
            kinds(&s),
            vec![
                "address_mismatch",
                "interval_mismatch",
                "version_mismatch",
                "ttl_not_255",
                "bad_checksum",
                "auth_mismatch",
                "mixed_checksum_forms",
                "invalid_packets"
            ]
        );
        let text = s.to_text(false);
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("password #"), "{text}");
        assert!(s.to_text(true).contains("\"secret\""));
        let json = serde_json::to_value(s.to_json(false)).unwrap();
        assert_eq!(json["groups"][0]["vrid"], 7);
        assert_eq!(json["groups"][0]["family"], "ipv4");
    }
}
