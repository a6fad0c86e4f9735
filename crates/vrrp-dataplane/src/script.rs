//! The nft commands of the table `inet vrrpd_lb` (pure text, for tests).
//!
//! Layout (docs/dataplane.md): `prerouting` (nat) jumps per service address to the service's
//! chain `sN`; `sN` consults the persistence map `pN`, then its scheduler, a verdict map to
//! the destination chains `dM`; `dM` counts the connection (`cM`), refreshes persistence,
//! marks the connection `M` and DNATs it. `forward` counts every packet of a marked
//! connection in `tM`, `postrouting` masquerades marked connections when asked. Only NAT
//! chains schedule, so conntrack keeps a flow on its server whatever changes later.
//! Text is safe here: every value is a number or an address we format ourselves.

use std::fmt::Write;
use std::net::IpAddr;

use vrrp_lb::dataplane::{Destination, Service};
use vrrp_lb::spec::{IpFamily, Scheduler, ServiceAddr, ServiceId};

use crate::maglev_placeholder;

/// The table vrrpd's load balancer owns (vrrp-linux's no_accept table is `inet vrrpd`).
pub(crate) const TABLE: &str = "vrrpd_lb";
/// Connection marks of destinations: `MARK_BASE + n`, n from 1 (the high byte tells ours).
pub(crate) const MARK_BASE: u32 = 0x7600_0000;
/// The last mark we may use.
pub(crate) const MARK_LAST: u32 = 0x76ff_ffff;
/// Slots of a Maglev table (a prime; IPVS's default for `mh`).
pub(crate) const MAGLEV_SLOTS: usize = 4093;
/// The jhash seed (any constant: the same client always hashes the same).
const SEED: &str = "0x5f3759df";

/// Replaces any table of a previous run with an empty one.
pub(crate) fn skeleton(masquerade: bool) -> String {
    let masq = if masquerade {
        format!("\t\tct mark {MARK_BASE:#x}-{MARK_LAST:#x} masquerade\n")
    } else {
        String::new()
    };
    format!(
        "table inet {TABLE} {{}}\ndelete table inet {TABLE}\ntable inet {TABLE} {{\n\
         \tmap dests {{\n\t\ttype mark : verdict\n\t}}\n\
         \tmap acct {{\n\t\ttype mark : counter\n\t}}\n\
         \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{masq}\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tcounter name ct mark map @acct\n\t}}\n}}\n"
    )
}

/// Removes the table (absent or not).
pub(crate) fn remove_table() -> String {
    format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")
}

/// `ip` or `ip6`.
fn l3(family: IpFamily) -> &'static str {
    match family {
        IpFamily::V4 => "ip",
        IpFamily::V6 => "ip6",
    }
}

/// The family of a service's packets (validated to be its destinations' too).
pub(crate) fn family(service: &Service) -> IpFamily {
    service
        .addrs
        .first()
        .map(ServiceAddr::family)
        .unwrap_or_default()
}

/// Flushes the dispatch chain and adds one rule per service address.
pub(crate) fn dispatch<'a>(
    out: &mut String,
    services: impl Iterator<Item = (u32, &'a ServiceId, &'a Service)>,
) {
    let _ = writeln!(out, "flush chain inet {TABLE} prerouting");
    for (n, id, service) in services {
        let proto = id.protocol.name();
        for addr in &service.addrs {
            let matcher = match *addr {
                ServiceAddr::Socket(sa) => {
                    let fam = l3(IpFamily::of(sa.ip()));
                    match sa.port() {
                        0 => format!("{fam} daddr {} meta l4proto {proto}", sa.ip()),
                        p => format!("{fam} daddr {} {proto} dport {p}", sa.ip()),
                    }
                }
                ServiceAddr::Range { first, last, port } => {
                    let fam = l3(IpFamily::of(first));
                    match port {
                        0 => format!("{fam} daddr {first}-{last} meta l4proto {proto}"),
                        p => format!("{fam} daddr {first}-{last} {proto} dport {p}"),
                    }
                }
                ServiceAddr::Fwmark { mark, family } => {
                    let nf = match family {
                        IpFamily::V4 => "ipv4",
                        IpFamily::V6 => "ipv6",
                    };
                    format!("meta mark {mark} meta nfproto {nf}")
                }
            };
            let _ = writeln!(out, "add rule inet {TABLE} prerouting {matcher} jump s{n}");
        }
    }
}

/// The client key of persistence: the source address, masked by the granularity.
fn persistence_key(service: &Service) -> Option<String> {
    let p = service.persistence?;
    let fam = family(service);
    let full = match fam {
        IpFamily::V4 => 32,
        IpFamily::V6 => 128,
    };
    let len = p.granularity.unwrap_or(full).min(full);
    if len == full {
        return Some(format!("{} saddr", l3(fam)));
    }
    let mask: IpAddr = match fam {
        IpFamily::V4 => {
            std::net::Ipv4Addr::from(u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)).into()
        }
        IpFamily::V6 => {
            std::net::Ipv6Addr::from(u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0))
                .into()
        }
    };
    Some(format!("{} saddr and {mask}", l3(fam)))
}

/// Declares the persistence map of service `n`, if it has persistence.
pub(crate) fn add_persistence_map(out: &mut String, n: u32, service: &Service) {
    if let Some(p) = service.persistence {
        let kind = match family(service) {
            IpFamily::V4 => "ipv4_addr",
            IpFamily::V6 => "ipv6_addr",
        };
        let secs = p.timeout.as_secs().max(1);
        let _ = writeln!(
            out,
            "add map inet {TABLE} p{n} {{ type {kind} : mark; flags dynamic,timeout; timeout {secs}s; size 1048576; }}"
        );
    }
}

/// The rules of destination chain `dM` of service `n` (the chain exists and is empty).
pub(crate) fn destination_rules(
    out: &mut String,
    n: u32,
    id: &ServiceId,
    service: &Service,
    dest: &Destination,
    mark: u32,
) {
    let _ = writeln!(
        out,
        "add rule inet {TABLE} d{mark} counter name \"c{mark}\""
    );
    if let Some(key) = persistence_key(service) {
        let _ = writeln!(
            out,
            "add rule inet {TABLE} d{mark} update @p{n} {{ {key} : {mark:#x} }}"
        );
    }
    let _ = writeln!(out, "add rule inet {TABLE} d{mark} ct mark set {mark:#x}");
    let (fam, addr) = match dest.key.addr {
        IpAddr::V4(a) => ("ip", a.to_string()),
        IpAddr::V6(a) => ("ip6", format!("[{a}]")),
    };
    let target = match dest.key.port {
        0 => format!("dnat {fam} to {}", dest.key.addr),
        p => format!(
            "meta l4proto {} dnat {fam} to {addr}:{p}",
            id.protocol.name()
        ),
    };
    let _ = writeln!(out, "add rule inet {TABLE} d{mark} {target}");
}

/// Creates destination `mark`'s chain, counters and map entries, with its rules.
pub(crate) fn add_destination(
    out: &mut String,
    n: u32,
    id: &ServiceId,
    service: &Service,
    dest: &Destination,
    mark: u32,
) {
    let _ = writeln!(out, "add chain inet {TABLE} d{mark}");
    let _ = writeln!(out, "add counter inet {TABLE} c{mark}");
    let _ = writeln!(out, "add counter inet {TABLE} t{mark}");
    destination_rules(out, n, id, service, dest, mark);
    let _ = writeln!(
        out,
        "add element inet {TABLE} dests {{ {mark:#x} : jump d{mark} }}"
    );
    let _ = writeln!(
        out,
        "add element inet {TABLE} acct {{ {mark:#x} : \"t{mark}\" }}"
    );
}

/// Deletes destination `mark` (nothing may jump to its chain any more).
pub(crate) fn remove_destination(out: &mut String, mark: u32) {
    let _ = writeln!(out, "delete element inet {TABLE} dests {{ {mark:#x} }}");
    let _ = writeln!(out, "delete element inet {TABLE} acct {{ {mark:#x} }}");
    let _ = writeln!(out, "flush chain inet {TABLE} d{mark}");
    let _ = writeln!(out, "delete chain inet {TABLE} d{mark}");
    let _ = writeln!(out, "delete counter inet {TABLE} c{mark}");
    let _ = writeln!(out, "delete counter inet {TABLE} t{mark}");
}

/// `from-to : jump dM` entries for slots given to each destination in turn.
fn slot_ranges(slots: impl Iterator<Item = (u32, u64)>) -> (u64, String) {
    let mut total = 0u64;
    let mut entries = Vec::new();
    for (mark, count) in slots {
        if count == 0 {
            continue;
        }
        let last = total + count - 1;
        entries.push(if count == 1 {
            format!("{total} : jump d{mark}")
        } else {
            format!("{total}-{last} : jump d{mark}")
        });
        total += count;
    }
    (total, entries.join(", "))
}

fn gcd(a: u64, b: u64) -> u64 {
    if b == 0 { a } else { gcd(b, a % b) }
}

/// The scheduler rule's verdict map over the live destinations (`marks` in key order).
fn scheduler_rule(service: &Service, marks: &[(u32, &Destination)]) -> String {
    let fam = l3(family(service));
    let live: Vec<(u32, &Destination)> = marks
        .iter()
        .copied()
        .filter(|(_, d)| d.weight > 0)
        .collect();
    let hash_key = if service.flags.flag2 {
        format!("{fam} saddr . th sport")
    } else {
        format!("{fam} saddr")
    };
    match service.scheduler {
        Scheduler::Mh => {
            let servers: Vec<_> = live.iter().map(|(_, d)| (d.key, d.weight)).collect();
            let table = maglev_placeholder::table(&servers, MAGLEV_SLOTS);
            // Runs of the same owner become one interval.
            let mut entries = Vec::new();
            let mut start = 0;
            for i in 1..=table.len() {
                if i == table.len() || table[i] != table[start] {
                    let mark = live[usize::from(table[start])].0;
                    entries.push(if i - start == 1 {
                        format!("{start} : jump d{mark}")
                    } else {
                        format!("{start}-{} : jump d{mark}", i - 1)
                    });
                    start = i;
                }
            }
            format!(
                "jhash {hash_key} mod {MAGLEV_SLOTS} seed {SEED} vmap {{ {} }}",
                entries.join(", ")
            )
        }
        scheduler => {
            let g = live.iter().map(|(_, d)| u64::from(d.weight)).fold(0, gcd);
            let (total, entries) = slot_ranges(live.iter().map(|(m, d)| {
                let slots = match scheduler {
                    Scheduler::Rr => 1,
                    _ => u64::from(d.weight) / g.max(1),
                };
                (*m, slots)
            }));
            let key = match scheduler {
                Scheduler::Sh => format!("jhash {hash_key} mod {total} seed {SEED}"),
                _ => format!("numgen inc mod {total}"),
            };
            format!("{key} vmap {{ {entries} }}")
        }
    }
}

/// Rebuilds service chain `sN`: persistence first, then the scheduler.
pub(crate) fn service_rules(
    out: &mut String,
    n: u32,
    service: &Service,
    marks: &[(u32, &Destination)],
) {
    let _ = writeln!(out, "flush chain inet {TABLE} s{n}");
    if let Some(key) = persistence_key(service) {
        let _ = writeln!(
            out,
            "add rule inet {TABLE} s{n} ct mark set {key} map @p{n}"
        );
        let _ = writeln!(out, "add rule inet {TABLE} s{n} ct mark vmap @dests");
    }
    if marks.iter().any(|(_, d)| d.weight > 0) {
        let rule = scheduler_rule(service, marks);
        let _ = writeln!(out, "add rule inet {TABLE} s{n} {rule}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;
    use vrrp_lb::spec::{
        Forwarding, Persistence, Protocol, RealServerKey, SchedulerFlags, ServiceKey,
    };

    fn service(scheduler: Scheduler, persistence: Option<Persistence>) -> (ServiceId, Service) {
        let sa = "10.0.0.1:80".parse().unwrap();
        (
            ServiceId {
                key: ServiceKey::Socket(sa),
                protocol: Protocol::Tcp,
            },
            Service {
                addrs: vec![ServiceAddr::Socket(sa)],
                scheduler,
                flags: SchedulerFlags::default(),
                persistence,
                destinations: BTreeMap::new(),
            },
        )
    }

    fn dest(last: u8, weight: u32) -> Destination {
        Destination {
            key: RealServerKey {
                addr: IpAddr::from([10, 1, 0, last]),
                port: 8080,
            },
            weight,
            forwarding: Forwarding::Nat,
            upper_threshold: 0,
            lower_threshold: 0,
        }
    }

    #[test]
    fn wrr_slots_follow_weights_and_skip_zero() {
        let (_, svc) = service(Scheduler::Wrr, None);
        let (a, b, c) = (dest(1, 2), dest(2, 4), dest(3, 0));
        let mut out = String::new();
        service_rules(&mut out, 1, &svc, &[(5, &a), (6, &b), (7, &c)]);
        assert!(
            out.contains("numgen inc mod 3 vmap { 0 : jump d5, 1-2 : jump d6 }"),
            "{out}"
        );
    }

    #[test]
    fn persistence_masks_the_client() {
        let p = Persistence {
            timeout: std::time::Duration::from_secs(60),
            granularity: Some(24),
        };
        let (id, svc) = service(Scheduler::Sh, Some(p));
        let d = dest(1, 1);
        let mut out = String::new();
        service_rules(&mut out, 1, &svc, &[(5, &d)]);
        add_destination(&mut out, 1, &id, &svc, &d, 5);
        add_persistence_map(&mut out, 1, &svc);
        assert!(
            out.contains("ct mark set ip saddr and 255.255.255.0 map @p1"),
            "{out}"
        );
        assert!(out.contains("jhash ip saddr mod 1 seed"), "{out}");
        assert!(out.contains("update @p1 { ip saddr and 255.255.255.0 : 0x5 }"));
        assert!(out.contains("meta l4proto tcp dnat ip to 10.1.0.1:8080"));
        assert!(out.contains("timeout 60s"));
    }

    #[test]
    fn maglev_rule_covers_every_slot() {
        let (_, svc) = service(Scheduler::Mh, None);
        let (a, b) = (dest(1, 1), dest(2, 1));
        let rule = scheduler_rule(&svc, &[(5, &a), (6, &b)]);
        assert!(rule.starts_with("jhash ip saddr mod 4093 seed"), "{rule}");
        assert!(rule.contains("4092 : jump") || rule.contains("-4092 : jump"));
    }
}
