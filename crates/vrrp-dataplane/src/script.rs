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

/// The table vrrpd's load balancer owns (vrrp-linux's no_accept table is `inet vrrpd`).
pub(crate) const TABLE: &str = "vrrpd_lb";
/// Connection marks of destinations: `MARK_BASE + n`, n from 1 (the high byte tells ours).
pub(crate) const MARK_BASE: u32 = 0x7600_0000;
/// The last mark we may use.
pub(crate) const MARK_LAST: u32 = 0x76ff_ffff;
/// The number in the chain names of destination `mark` (`dN`, `aN`).
pub(crate) fn tag(mark: u32) -> u32 {
    mark.wrapping_sub(MARK_BASE)
}

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
         \tmap acct {{\n\t\ttype mark : verdict\n\t}}\n\
         \tchain prerouting {{\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n\t}}\n\
         \tchain postrouting {{\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n{masq}\t}}\n\
         \tchain forward {{\n\t\ttype filter hook forward priority filter; policy accept;\n\
         \t\tct mark vmap @acct\n\t}}\n}}\n"
    )
}

/// Removes the table (absent or not).
pub(crate) fn remove_table() -> String {
    format!("table inet {TABLE} {{}}\ndelete table inet {TABLE}\n")
}

/// `ip` or `ip6`.
pub(crate) fn l3(family: IpFamily) -> &'static str {
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
            let matcher = matcher(addr, proto);
            let _ = writeln!(out, "add rule inet {TABLE} prerouting {matcher} jump s{n}");
        }
    }
}

/// What selects the packets of a service address (`proto`: its protocol's nft name).
pub(crate) fn matcher(addr: &ServiceAddr, proto: &str) -> String {
    match *addr {
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

/// The rules of destination chains `dM` and `aM` of service `n` (they exist and are empty).
pub(crate) fn destination_rules(
    out: &mut String,
    n: u32,
    id: &ServiceId,
    service: &Service,
    dest: &Destination,
    mark: u32,
) {
    let t = tag(mark);
    let _ = writeln!(out, "add rule inet {TABLE} d{t} counter");
    if let Some(key) = persistence_key(service) {
        let _ = writeln!(
            out,
            "add rule inet {TABLE} d{t} update @p{n} {{ {key} : {mark:#x} }}"
        );
    }
    let _ = writeln!(out, "add rule inet {TABLE} d{t} ct mark set {mark:#x}");
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
    let _ = writeln!(out, "add rule inet {TABLE} d{t} {target}");
    // Every packet of the client refreshes its persistence, not just a new connection.
    let _ = writeln!(out, "add rule inet {TABLE} a{t} counter");
    if let Some(key) = persistence_key(service) {
        let _ = writeln!(
            out,
            "add rule inet {TABLE} a{t} ct direction original update @p{n} {{ {key} : {mark:#x} }}"
        );
    }
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
    let t = tag(mark);
    let _ = writeln!(out, "add chain inet {TABLE} d{t}");
    let _ = writeln!(out, "add chain inet {TABLE} a{t}");
    destination_rules(out, n, id, service, dest, mark);
    let _ = writeln!(
        out,
        "add element inet {TABLE} dests {{ {mark:#x} : jump d{t} }}"
    );
    let _ = writeln!(
        out,
        "add element inet {TABLE} acct {{ {mark:#x} : jump a{t} }}"
    );
}

/// Deletes destination `mark` (nothing may jump to its chain any more).
pub(crate) fn remove_destination(out: &mut String, mark: u32) {
    let t = tag(mark);
    let _ = writeln!(out, "delete element inet {TABLE} dests {{ {mark:#x} }}");
    let _ = writeln!(out, "delete element inet {TABLE} acct {{ {mark:#x} }}");
    let _ = writeln!(out, "flush chain inet {TABLE} d{t}");
    let _ = writeln!(out, "delete chain inet {TABLE} d{t}");
    let _ = writeln!(out, "flush chain inet {TABLE} a{t}");
    let _ = writeln!(out, "delete chain inet {TABLE} a{t}");
}

/// The slot table of a service: the verdict map `wN` from a slot number to a destination
/// chain, which the scheduler rule indexes with `numgen` or `jhash` modulo its length.
pub(crate) fn add_slot_map(out: &mut String, n: u32) {
    let _ = writeln!(
        out,
        "add map inet {TABLE} w{n} {{ typeof numgen inc mod 2 : verdict; }}"
    );
}

/// The element commands that turn slot table `old` into `new` (entries are marks): only
/// the slots whose owner changes. Deletions go before destinations are removed, additions
/// after they are added.
/// `table` is `inet vrrpd_lb` or the direct-routing table, `chain` the destination chain
/// prefix there.
pub(crate) fn slot_changes(
    table: &str,
    chain: &str,
    n: u32,
    old: &[u32],
    new: &[u32],
) -> (String, String) {
    let (mut gone, mut came) = (Vec::new(), Vec::new());
    for i in 0..old.len().max(new.len()) {
        let (o, w) = (old.get(i), new.get(i));
        if o == w {
            continue;
        }
        if o.is_some() {
            gone.push(i.to_string());
        }
        if let Some(mark) = w {
            came.push(format!("{i} : jump {chain}{mark}"));
        }
    }
    let cmd = |verb: &str, list: Vec<String>| match list.is_empty() {
        true => String::new(),
        false => format!("{verb} element {table} w{n} {{ {} }}\n", list.join(", ")),
    };
    (cmd("delete", gone), cmd("add", came))
}

/// Rebuilds service chain `sN`: persistence first, then the scheduler over `slots` slots.
pub(crate) fn service_rules(out: &mut String, n: u32, service: &Service, slots: usize) {
    let _ = writeln!(out, "flush chain inet {TABLE} s{n}");
    if let Some(key) = persistence_key(service) {
        let _ = writeln!(
            out,
            "add rule inet {TABLE} s{n} ct mark set {key} map @p{n}"
        );
        let _ = writeln!(out, "add rule inet {TABLE} s{n} ct mark vmap @dests");
    }
    if slots == 0 {
        return;
    }
    let fam = l3(family(service));
    let hash_key = if service.flags.flag2 {
        format!("{fam} saddr . th sport")
    } else {
        format!("{fam} saddr")
    };
    let index = match service.scheduler {
        Scheduler::Sh | Scheduler::Mh => format!("jhash {hash_key} mod {slots} seed {SEED}"),
        _ => format!("numgen inc mod {slots}"),
    };
    let _ = writeln!(out, "add rule inet {TABLE} s{n} {index} vmap @w{n}");
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
    fn slot_changes_touch_only_moved_slots() {
        let (gone, came) = slot_changes("inet vrrpd_lb", "d", 3, &[5, 6, 7], &[5, 8]);
        assert_eq!(gone, "delete element inet vrrpd_lb w3 { 1, 2 }\n");
        assert_eq!(came, "add element inet vrrpd_lb w3 { 1 : jump d8 }\n");
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
        service_rules(&mut out, 1, &svc, 1);
        add_destination(&mut out, 1, &id, &svc, &d, 5);
        add_persistence_map(&mut out, 1, &svc);
        assert!(
            out.contains("ct mark set ip saddr and 255.255.255.0 map @p1"),
            "{out}"
        );
        assert!(
            out.contains("jhash ip saddr mod 1 seed 0x5f3759df vmap @w1"),
            "{out}"
        );
        assert!(out.contains("update @p1 { ip saddr and 255.255.255.0 : 0x5 }"));
        assert!(out.contains("meta l4proto tcp dnat ip to 10.1.0.1:8080"));
        assert!(out.contains("timeout 60s"));
    }
}
