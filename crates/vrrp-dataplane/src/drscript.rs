//! The nft commands of the direct-routing table `netdev vrrpd_lb_dr` (pure text).
//!
//! Layout (docs/dataplane.md): one ingress chain `iK` per interface (index K) that carries
//! direct-routing services; it jumps per service address to the service chain `sN`, which
//! hashes the flow into the slot map `wN`, a verdict map to the destination chains `dM`;
//! `dM` counts a connection's first packet in `cM`, counts every packet and forwards the
//! frame, IP header untouched, to the real server's link-layer address (`fwd ... to`).
//! Ingress runs before conntrack and routing, so scheduling is a stateless hash of the flow.

use std::fmt::Write;
use std::net::IpAddr;

use vrrp_lb::dataplane::{Destination, Service};
use vrrp_lb::spec::{Protocol, Scheduler, ServiceId};

use crate::route::Device;
use crate::script::{family, l3, matcher};

/// The direct-routing table, as commands name it (netdev: its chains hook one interface
/// each).
pub(crate) const DR: &str = "netdev vrrpd_lb_dr";
/// The length of every slot table (a prime, as Maglev's): fixed, so that a change moves
/// only the flows of the slots that change owner.
pub(crate) const DR_SLOTS: usize = crate::script::MAGLEV_SLOTS;
/// The jhash seed (as the NAT path's: the same flow always hashes the same).
const SEED: &str = "0x5f3759df";

/// Replaces any table of a previous run with an empty one.
pub(crate) fn skeleton() -> String {
    format!("table {DR} {{}}\ndelete table {DR}\ntable {DR} {{}}\n")
}

/// Removes the table (absent or not).
pub(crate) fn remove_table() -> String {
    format!("table {DR} {{}}\ndelete table {DR}\n")
}

/// Adds the ingress chain of `dev`.
pub(crate) fn add_ingress(out: &mut String, dev: &Device) {
    let _ = writeln!(
        out,
        "add chain {DR} i{} {{ type filter hook ingress device \"{}\" priority -100; policy accept; }}",
        dev.index, dev.name
    );
}

/// The dispatch rules of service `n` (for the ingress chain of each of its interfaces).
pub(crate) fn dispatch_rules(n: u32, id: &ServiceId, service: &Service) -> Vec<String> {
    let proto = id.protocol.name();
    service
        .addrs
        .iter()
        .map(|a| format!("{} jump s{n}", matcher(a, proto)))
        .collect()
}

/// Adds service `n`'s chain and slot map.
pub(crate) fn add_service(out: &mut String, n: u32) {
    let _ = writeln!(out, "add chain {DR} s{n}");
    let _ = writeln!(
        out,
        "add map {DR} w{n} {{ typeof numgen inc mod 2 : verdict; }}"
    );
}

/// Deletes service `n` (nothing jumps to it any more; its destinations go separately).
pub(crate) fn remove_service(out: &mut String, n: u32) {
    let _ = writeln!(out, "flush chain {DR} s{n}");
    let _ = writeln!(out, "delete map {DR} w{n}");
    let _ = writeln!(out, "delete chain {DR} s{n}");
}

/// The hash of a flow: the client (`sh`, `mh`), its port too with `sh-port`/`mh-port` and
/// for `rr`/`wrr`, whose slot shares then spread flows, not clients.
fn hash_key(id: &ServiceId, service: &Service) -> String {
    let fam = l3(family(service));
    let per_flow =
        service.flags.flag2 || !matches!(service.scheduler, Scheduler::Sh | Scheduler::Mh);
    match per_flow {
        true => format!("{fam} saddr . {} sport", id.protocol.name()),
        false => format!("{fam} saddr"),
    }
}

/// Rebuilds service chain `sN` over `slots` slots (none: the packets go on to the
/// balancer's own stack, as with no service).
pub(crate) fn service_rule(
    out: &mut String,
    n: u32,
    id: &ServiceId,
    service: &Service,
    slots: usize,
) {
    let _ = writeln!(out, "flush chain {DR} s{n}");
    if slots > 0 {
        let key = hash_key(id, service);
        let _ = writeln!(
            out,
            "add rule {DR} s{n} jhash {key} mod {slots} seed {SEED} vmap @w{n}"
        );
    }
}

/// Adds destination `m`'s chains: `cM` counts connections (TCP SYNs), `dM` packets, and
/// forwards.
pub(crate) fn add_destination(
    out: &mut String,
    id: &ServiceId,
    dest: &Destination,
    m: u32,
    dev: &Device,
) {
    let _ = writeln!(out, "add chain {DR} c{m}");
    let _ = writeln!(out, "add chain {DR} d{m}");
    let _ = writeln!(out, "add rule {DR} c{m} counter");
    if id.protocol == Protocol::Tcp {
        let _ = writeln!(
            out,
            "add rule {DR} d{m} tcp flags & (syn | ack) == syn jump c{m}"
        );
    }
    let fam = match dest.key.addr {
        IpAddr::V4(_) => "ip",
        IpAddr::V6(_) => "ip6",
    };
    let _ = writeln!(
        out,
        "add rule {DR} d{m} counter fwd {fam} to {} device \"{}\"",
        dest.key.addr, dev.name
    );
}

/// Deletes destination `m` (no slot leads to it any more).
pub(crate) fn remove_destination(out: &mut String, m: u32) {
    let _ = writeln!(out, "flush chain {DR} d{m}");
    let _ = writeln!(out, "delete chain {DR} d{m}");
    let _ = writeln!(out, "delete chain {DR} c{m}");
}
