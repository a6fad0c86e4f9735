//! IPVS services and destinations as the kernel holds them, made from `vrrp_lb`'s desired
//! state and read back from dumps.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_lb::dataplane::Service;
use vrrp_lb::spec::{IpFamily, Protocol};

use super::attrs::{InetAddr, SvcAttr};
use super::dest::counters;
use crate::Counters;

// Virtual service flags (IP_VS_SVC_F_*).
pub(crate) const SVC_F_PERSISTENT: u32 = 0x0001;
pub(crate) const SVC_F_HASHED: u32 = 0x0002;
pub(crate) const SVC_F_ONEPACKET: u32 = 0x0004;
pub(crate) const SVC_F_SCHED1: u32 = 0x0008;
pub(crate) const SVC_F_SCHED2: u32 = 0x0010;
pub(crate) const SVC_F_SCHED3: u32 = 0x0020;

// Forwarding methods (IP_VS_CONN_F_*).
pub(crate) const CONN_F_FWD_MASK: u32 = 0x0007;
pub(crate) const CONN_F_MASQ: u32 = 0x0000;
pub(crate) const CONN_F_TUNNEL: u32 = 0x0002;
pub(crate) const CONN_F_DROUTE: u32 = 0x0003;

const AF_INET: u16 = libc::AF_INET as u16;
const AF_INET6: u16 = libc::AF_INET6 as u16;

/// The IP protocol number of `protocol`.
fn ipproto(protocol: Protocol) -> u16 {
    match protocol {
        Protocol::Tcp => libc::IPPROTO_TCP as u16,
        Protocol::Udp => libc::IPPROTO_UDP as u16,
        Protocol::Sctp => libc::IPPROTO_SCTP as u16,
    }
}

pub(crate) fn af(family: IpFamily) -> u16 {
    match family {
        IpFamily::V4 => AF_INET,
        IpFamily::V6 => AF_INET6,
    }
}

pub(crate) fn inet(addr: IpAddr) -> InetAddr {
    let mut out = [0u8; 16];
    match addr {
        IpAddr::V4(a) => out[..4].copy_from_slice(&a.octets()),
        IpAddr::V6(a) => out = a.octets(),
    }
    out
}

pub(crate) fn from_inet(af: u16, a: &InetAddr) -> Option<IpAddr> {
    match af {
        AF_INET => Some(IpAddr::V4(Ipv4Addr::new(a[0], a[1], a[2], a[3]))),
        AF_INET6 => Some(IpAddr::V6(Ipv6Addr::from(*a))),
        _ => None,
    }
}

/// What identifies an IPVS service.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub(crate) enum VsKey {
    /// `-t|-u|--sctp-service address:port`; the protocol is its IP number.
    Addr {
        protocol: u16,
        addr: IpAddr,
        port: u16,
    },
    /// `-f mark`, of one family.
    Fwmark { mark: u32, v6: bool },
}

impl VsKey {
    pub(crate) fn addr(protocol: Protocol, addr: IpAddr, port: u16) -> VsKey {
        VsKey::Addr {
            protocol: ipproto(protocol),
            addr,
            port,
        }
    }

    pub(crate) fn fwmark(mark: u32, family: IpFamily) -> VsKey {
        VsKey::Fwmark {
            mark,
            v6: family == IpFamily::V6,
        }
    }

    pub(crate) fn family(&self) -> IpFamily {
        match *self {
            VsKey::Addr { addr, .. } => IpFamily::of(addr),
            VsKey::Fwmark { v6: true, .. } => IpFamily::V6,
            VsKey::Fwmark { v6: false, .. } => IpFamily::V4,
        }
    }

    /// The identifying attributes (what DEL_SERVICE and GET_DEST need).
    pub(crate) fn attrs(&self) -> Vec<SvcAttr> {
        let mut out = vec![SvcAttr::Af(af(self.family()))];
        match *self {
            VsKey::Addr {
                protocol,
                addr,
                port,
            } => out.extend([
                SvcAttr::Protocol(protocol),
                SvcAttr::Addr(inet(addr)),
                SvcAttr::Port(port),
            ]),
            VsKey::Fwmark { mark, .. } => out.push(SvcAttr::Fwmark(mark)),
        }
        out
    }

    /// The key of a dumped service.
    pub(crate) fn from_attrs(attrs: &[SvcAttr]) -> Option<VsKey> {
        let (mut family, mut protocol, mut addr, mut port, mut mark) =
            (None, None, None, None, None);
        for a in attrs {
            match a {
                SvcAttr::Af(v) => family = Some(*v),
                SvcAttr::Protocol(v) => protocol = Some(*v),
                SvcAttr::Addr(v) => addr = Some(*v),
                SvcAttr::Port(v) => port = Some(*v),
                SvcAttr::Fwmark(v) => mark = Some(*v),
                _ => {}
            }
        }
        let family = family?;
        if let Some(mark) = mark.filter(|m| *m != 0) {
            return Some(VsKey::Fwmark {
                mark,
                v6: family == AF_INET6,
            });
        }
        Some(VsKey::Addr {
            protocol: protocol?,
            addr: from_inet(family, &addr?)?,
            port: port?,
        })
    }
}

impl fmt::Display for VsKey {
    /// `ipvsadm -Ln`'s notation.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VsKey::Addr {
                protocol,
                addr,
                port,
            } => {
                let name = match protocol {
                    6 => "TCP",
                    17 => "UDP",
                    132 => "SCTP",
                    _ => "?",
                };
                match addr {
                    IpAddr::V4(a) => write!(f, "{name} {a}:{port}"),
                    IpAddr::V6(a) => write!(f, "{name} [{a}]:{port}"),
                }
            }
            VsKey::Fwmark { mark, v6 } => {
                write!(f, "FWM {mark}{}", if v6 { " IPv6" } else { "" })
            }
        }
    }
}

/// A service's own settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct VsSettings {
    pub(crate) scheduler: String,
    /// `IP_VS_SVC_F_*` without `HASHED` (the kernel's own).
    pub(crate) flags: u32,
    /// Persistence timeout, seconds.
    pub(crate) timeout: u32,
    /// As [`SvcAttr::Netmask`].
    pub(crate) netmask: [u8; 4],
}

impl VsSettings {
    /// The settings of `service` for a key of `family`.
    pub(crate) fn of(service: &Service, family: IpFamily) -> VsSettings {
        let f = service.flags;
        let mut flags = 0;
        for (on, bit) in [
            (f.flag1, SVC_F_SCHED1),
            (f.flag2, SVC_F_SCHED2),
            (f.flag3, SVC_F_SCHED3),
            (f.one_packet, SVC_F_ONEPACKET),
            (service.persistence.is_some(), SVC_F_PERSISTENT),
        ] {
            if on {
                flags |= bit;
            }
        }
        let timeout = service.persistence.map_or(0, |p| {
            u32::try_from(p.timeout.as_secs()).unwrap_or(u32::MAX)
        });
        let granularity = service.persistence.and_then(|p| p.granularity);
        VsSettings {
            scheduler: service.scheduler.name().to_string(),
            flags,
            timeout,
            netmask: netmask(family, granularity),
        }
    }

    /// The full attributes of the service `key` with these settings.
    pub(crate) fn attrs(&self, key: &VsKey) -> Vec<SvcAttr> {
        let mut out = key.attrs();
        out.extend([
            SvcAttr::SchedName(self.scheduler.clone()),
            SvcAttr::Flags {
                flags: self.flags,
                mask: u32::MAX,
            },
            SvcAttr::Timeout(self.timeout),
            SvcAttr::Netmask(self.netmask),
        ]);
        out
    }

    /// The settings of a dumped service.
    pub(crate) fn from_attrs(attrs: &[SvcAttr]) -> Option<VsSettings> {
        let (mut scheduler, mut flags, mut timeout, mut netmask) = (None, None, None, None);
        for a in attrs {
            match a {
                SvcAttr::SchedName(s) => scheduler = Some(s.clone()),
                SvcAttr::Flags { flags: f, .. } => flags = Some(f & !SVC_F_HASHED),
                SvcAttr::Timeout(t) => timeout = Some(*t),
                SvcAttr::Netmask(m) => netmask = Some(*m),
                _ => {}
            }
        }
        Some(VsSettings {
            scheduler: scheduler?,
            flags: flags?,
            timeout: timeout?,
            netmask: netmask?,
        })
    }
}

/// The persistence netmask: an IPv4 mask of `len` bits in network order, or the IPv6
/// prefix length as a number (`ipvsadm -M`); the whole address when not given.
pub(crate) fn netmask(family: IpFamily, len: Option<u8>) -> [u8; 4] {
    match family {
        IpFamily::V4 => {
            let len = u32::from(len.unwrap_or(32).min(32));
            let mask = u32::MAX.checked_shl(32 - len).unwrap_or(0);
            mask.to_be_bytes()
        }
        IpFamily::V6 => u32::from(len.unwrap_or(128).min(128)).to_ne_bytes(),
    }
}

/// The family number of the service `key`.
pub(crate) fn af_of(key: &VsKey) -> u16 {
    af(key.family())
}

/// The counters of a dumped service.
pub(crate) fn service_counters(attrs: &[SvcAttr]) -> Counters {
    let (mut s64, mut s) = (None, None);
    for a in attrs {
        match a {
            SvcAttr::Stats64(v) => s64 = Some(v.as_slice()),
            SvcAttr::Stats(v) => s = Some(v.as_slice()),
            _ => {}
        }
    }
    counters(s64, s)
}
