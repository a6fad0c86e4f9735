//! The IPVS services of a desired state, and what IPVS refuses, checked before anything is
//! sent to the kernel.

use std::collections::BTreeMap;
use std::net::IpAddr;

use vrrp_lb::dataplane::{DataPathKind, DesiredState, Service};
use vrrp_lb::spec::{Forwarding, IpFamily, ServiceAddr, ServiceId};

use super::model::VsKey;
use crate::DataPathError;

/// The most addresses a range of a `virtual_server_group` may expand to (one IPVS service
/// each, as keepalived does).
const MAX_RANGE: u128 = 65_536;

fn refuse(what: String) -> DataPathError {
    DataPathError::Unsupported {
        kind: DataPathKind::Ipvs.name(),
        what,
    }
}

fn bits(addr: IpAddr) -> u128 {
    match addr {
        IpAddr::V4(a) => u32::from(a).into(),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_bits(v4: bool, bits: u128) -> IpAddr {
    match v4 {
        // A range of one family stays within it (checked by the caller).
        true => IpAddr::V4(u32::try_from(bits).unwrap_or(u32::MAX).into()),
        false => IpAddr::V6(bits.into()),
    }
}

/// The IPVS services of `service`: one per address, fwmark, and address of a range.
pub(crate) fn keys(id: &ServiceId, service: &Service) -> Result<Vec<VsKey>, DataPathError> {
    let mut out = Vec::new();
    for addr in &service.addrs {
        match *addr {
            ServiceAddr::Socket(sa) => out.push(VsKey::addr(id.protocol, sa.ip(), sa.port())),
            ServiceAddr::Fwmark { mark, family } => out.push(VsKey::fwmark(mark, family)),
            ServiceAddr::Range { first, last, port } => {
                let (a, b) = (bits(first), bits(last));
                if first.is_ipv4() != last.is_ipv4() || b < a {
                    return Err(refuse(format!("{id}: the range {first}-{last} is empty")));
                }
                if b - a >= MAX_RANGE {
                    return Err(refuse(format!(
                        "{id}: the range {first}-{last} has more than {MAX_RANGE} addresses"
                    )));
                }
                for n in a..=b {
                    out.push(VsKey::addr(
                        id.protocol,
                        from_bits(first.is_ipv4(), n),
                        port,
                    ));
                }
            }
        }
    }
    Ok(out)
}

/// Every service of `desired` can be carried by IPVS, and no two name the same IPVS
/// service. Returns the IPVS services of each.
pub(crate) fn check(
    desired: &DesiredState,
) -> Result<BTreeMap<ServiceId, Vec<VsKey>>, DataPathError> {
    let mut owner: BTreeMap<VsKey, &ServiceId> = BTreeMap::new();
    let mut out = BTreeMap::new();
    for (id, service) in &desired.services {
        let keys = keys(id, service)?;
        if keys.is_empty() {
            return Err(refuse(format!("{id}: a service without addresses")));
        }
        for key in &keys {
            if let Some(other) = owner.insert(*key, id) {
                return Err(refuse(format!(
                    "{id} and {other} are the same IPVS service {key} (a firewall-mark \
                     service has no protocol)"
                )));
            }
        }
        check_service(id, service, &keys)?;
        out.insert(id.clone(), keys);
    }
    Ok(out)
}

fn check_service(id: &ServiceId, service: &Service, keys: &[VsKey]) -> Result<(), DataPathError> {
    if let Some(len) = service.persistence.and_then(|p| p.granularity) {
        for key in keys {
            let max = if key.family() == IpFamily::V4 {
                32
            } else {
                128
            };
            if len == 0 || len > max {
                return Err(refuse(format!(
                    "{id}: persistence granularity /{len} is not a prefix length of {key}"
                )));
            }
        }
    }
    for dest in service.destinations.values() {
        // ip_vs_add_dest takes the weight as an int.
        if i32::try_from(dest.weight).is_err() {
            return Err(refuse(format!(
                "{id} -> {}: weight {} is out of range",
                dest.key, dest.weight
            )));
        }
        let tunnel = matches!(dest.forwarding, Forwarding::Tun { .. });
        if !tunnel
            && keys
                .iter()
                .any(|k| k.family() != IpFamily::of(dest.key.addr))
        {
            return Err(refuse(format!(
                "{id} -> {}: only tunnelling forwards between IPv4 and IPv6",
                dest.key
            )));
        }
    }
    Ok(())
}
