//! What the nftables data path refuses, checked before anything is sent to the kernel.

use vrrp_lb::dataplane::{DataPathKind, DesiredState, Service};
use vrrp_lb::spec::{Forwarding, IpFamily, ServiceAddr, ServiceId};

use crate::DataPathError;
use crate::script::family;

const KIND: DataPathKind = DataPathKind::Nftables;

fn refuse(what: String) -> DataPathError {
    DataPathError::Unsupported {
        kind: KIND.name(),
        what,
    }
}

/// Every service and destination of `desired` can be carried by nftables.
pub(crate) fn check(desired: &DesiredState) -> Result<(), DataPathError> {
    for (id, service) in &desired.services {
        if let Some(why) = KIND.refuses_protocol(id.protocol) {
            return Err(refuse(format!("{id}: {why}")));
        }
        if let Some(why) = KIND.refuses_scheduler(service.scheduler) {
            return Err(refuse(format!(
                "{id}: scheduler {}: {why}",
                service.scheduler.name()
            )));
        }
        if service.flags.one_packet {
            return Err(refuse(format!(
                "{id}: ops (one-packet scheduling) needs IPVS (nftables schedules per flow)"
            )));
        }
        let Some(first) = service.addrs.first() else {
            return Err(refuse(format!("{id}: a service without addresses")));
        };
        let fam = first.family();
        if service.addrs.iter().any(|a| a.family() != fam) {
            return Err(refuse(format!(
                "{id}: IPv4 and IPv6 addresses in one service (make two services)"
            )));
        }
        for addr in &service.addrs {
            if let ServiceAddr::Range { first, last, .. } = addr
                && (IpFamily::of(*last) != fam || last < first)
            {
                return Err(refuse(format!("{id}: the range {first}-{last} is empty")));
            }
        }
        if let Some(p) = service.persistence
            && let Some(len) = p.granularity
        {
            let max = if fam == IpFamily::V4 { 32 } else { 128 };
            if len == 0 || len > max {
                return Err(refuse(format!(
                    "{id}: persistence granularity /{len} is not a prefix length of the family"
                )));
            }
        }
        for dest in service.destinations.values() {
            if let Some(why) = KIND.refuses_forwarding(dest.forwarding) {
                return Err(refuse(format!("{id} -> {}: {why}", dest.key)));
            }
            if dest.upper_threshold > 0 || dest.lower_threshold > 0 {
                return Err(refuse(format!(
                    "{id} -> {}: uthreshold/lthreshold need connection counts: IPVS only",
                    dest.key
                )));
            }
            if IpFamily::of(dest.key.addr) != family(service) {
                return Err(refuse(format!(
                    "{id} -> {}: forwarding between IPv4 and IPv6",
                    dest.key
                )));
            }
        }
        direct_routing(id, service)?;
    }
    Ok(())
}

/// What direct routing cannot do: it forwards the client's packet unchanged, before
/// conntrack, so it rewrites no port, keeps no state and sees no firewall mark.
fn direct_routing(id: &ServiceId, service: &Service) -> Result<(), DataPathError> {
    let dr = service
        .destinations
        .values()
        .filter(|d| d.forwarding == Forwarding::Dr)
        .count();
    if dr == 0 {
        return Ok(());
    }
    if dr != service.destinations.len() {
        return Err(refuse(format!(
            "{id}: direct routing and NAT real servers in one service (make every \
             lvs_method of a virtual server the same)"
        )));
    }
    if service.persistence.is_some() {
        return Err(refuse(format!(
            "{id}: persistence with direct routing needs connection state: use IPVS, or \
             lvs_sched sh/mh (the client's address picks its server)"
        )));
    }
    for addr in &service.addrs {
        let port = match *addr {
            ServiceAddr::Socket(sa) => sa.port(),
            ServiceAddr::Range { port, .. } => port,
            ServiceAddr::Fwmark { .. } => {
                return Err(refuse(format!(
                    "{id}: a firewall-mark service with direct routing (the mark is set after \
                     the ingress hook that forwards)"
                )));
            }
        };
        for dest in service.destinations.values() {
            if dest.key.port != 0 && dest.key.port != port {
                return Err(refuse(format!(
                    "{id} -> {}: direct routing cannot change the port (the real server \
                     must listen on {port})",
                    dest.key
                )));
            }
        }
    }
    Ok(())
}
