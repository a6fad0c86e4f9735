//! Every IPVS service of the namespace as the kernel reports it (GET_SERVICE and GET_DEST
//! dumps): what `ipvsadm -Ln` shows, for diagnostics and tests.

use std::net::IpAddr;

use super::dest::VsDest;
use super::model::{CONN_F_DROUTE, CONN_F_MASQ, CONN_F_TUNNEL};
use super::{Ipvs, message::Cmd, message::IpvsMessage};
use crate::{Counters, DataPathError};

/// One IPVS service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsEntry {
    /// As `ipvsadm -Ln` names it: `TCP  10.0.0.1:80` without the double space
    /// (`TCP 10.0.0.1:80`, `UDP [fd00::1]:53`, `SCTP ...`, `FWM 5`, `FWM 5 IPv6`).
    pub service: String,
    /// The scheduler's name.
    pub scheduler: String,
    /// `IP_VS_SVC_F_*` (persistent 0x1, one-packet 0x4, scheduler flags 0x8, 0x10, 0x20).
    pub flags: u32,
    /// Persistence timeout, seconds.
    pub timeout: u32,
    /// The persistence netmask: IPv4 mask bits set, or the IPv6 prefix length.
    pub netmask_len: u32,
    /// Its counters.
    pub counters: Counters,
    /// Its destinations.
    pub destinations: Vec<IpvsDestEntry>,
}

/// One destination of an IPVS service.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpvsDestEntry {
    /// Address.
    pub addr: IpAddr,
    /// Port.
    pub port: u16,
    /// `Masq`, `Route`, `Tunnel` (`ipvsadm -Ln`'s column), or `Local`/`Bypass`.
    pub forward: &'static str,
    /// Weight.
    pub weight: u32,
    /// Upper connection threshold (0: none).
    pub upper_threshold: u32,
    /// Lower connection threshold.
    pub lower_threshold: u32,
    /// Tunnel type (0 ipip, 1 gue, 2 gre), port and flags (1 csum, 2 remcsum).
    pub tunnel: (u8, u16, u16),
    /// Its counters.
    pub counters: Counters,
}

fn forward_name(fwd: u32) -> &'static str {
    match fwd {
        CONN_F_MASQ => "Masq",
        CONN_F_TUNNEL => "Tunnel",
        CONN_F_DROUTE => "Route",
        1 => "Local",
        _ => "Bypass",
    }
}

impl IpvsDestEntry {
    fn of(d: VsDest, counters: Counters) -> IpvsDestEntry {
        IpvsDestEntry {
            addr: d.addr,
            port: d.port,
            forward: forward_name(d.fwd),
            weight: d.weight,
            upper_threshold: d.upper,
            lower_threshold: d.lower,
            tunnel: (d.tun_type, d.tun_port, d.tun_flags),
            counters,
        }
    }
}

impl Ipvs {
    /// Every IPVS service of this network namespace, this data path's or not.
    pub fn list(&mut self) -> Result<Vec<IpvsEntry>, DataPathError> {
        let all = self
            .socket
            .dump(IpvsMessage::new(Cmd::GetService, vec![]))
            .map_err(|e| super::ipvs_error("listing the IPVS services", e))?;
        let mut out = Vec::new();
        for attrs in all.iter().filter_map(|m| m.service()) {
            let (Some(key), Some(settings)) = (
                super::model::VsKey::from_attrs(attrs),
                super::model::VsSettings::from_attrs(attrs),
            ) else {
                continue;
            };
            let destinations = self
                .dump_dests(&key)?
                .into_iter()
                .map(|(d, c)| IpvsDestEntry::of(d, c))
                .collect();
            let mask = u32::from_ne_bytes(settings.netmask);
            out.push(IpvsEntry {
                service: key.to_string(),
                scheduler: settings.scheduler,
                flags: settings.flags,
                timeout: settings.timeout,
                netmask_len: match key.family() {
                    vrrp_lb::spec::IpFamily::V4 => mask.count_ones(),
                    vrrp_lb::spec::IpFamily::V6 => mask,
                },
                counters: super::model::service_counters(attrs),
                destinations,
            });
        }
        Ok(out)
    }
}
