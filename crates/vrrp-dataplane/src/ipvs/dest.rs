//! IPVS destinations as the kernel holds them, made from `vrrp_lb`'s destinations and read
//! back from dumps, and the counters of dumps.

use std::net::{IpAddr, Ipv4Addr};

use vrrp_lb::dataplane::Destination;
use vrrp_lb::spec::{Forwarding, IpFamily, Tunnel, TunnelChecksum};

use super::attrs::{DestAttr, StatsAttr};
use super::model::{
    CONN_F_DROUTE, CONN_F_FWD_MASK, CONN_F_MASQ, CONN_F_TUNNEL, af, from_inet, inet,
};
use crate::Counters;

// Tunnel types (IP_VS_CONN_F_TUNNEL_TYPE_*) and encapsulation flags.
const TUNNEL_TYPE_IPIP: u8 = 0;
const TUNNEL_TYPE_GUE: u8 = 1;
const TUNNEL_TYPE_GRE: u8 = 2;
const TUNNEL_ENCAP_FLAG_CSUM: u16 = 1 << 0;
const TUNNEL_ENCAP_FLAG_REMCSUM: u16 = 1 << 1;

/// A destination as IPVS holds it.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub(crate) struct VsDest {
    pub(crate) addr: IpAddr,
    pub(crate) port: u16,
    pub(crate) fwd: u32,
    pub(crate) weight: u32,
    pub(crate) upper: u32,
    pub(crate) lower: u32,
    pub(crate) tun_type: u8,
    pub(crate) tun_port: u16,
    pub(crate) tun_flags: u16,
}

impl VsDest {
    pub(crate) fn of(d: &Destination) -> VsDest {
        let (fwd, tun_type, tun_port, tun_flags) = match d.forwarding {
            Forwarding::Nat => (CONN_F_MASQ, 0, 0, 0),
            Forwarding::Dr => (CONN_F_DROUTE, 0, 0, 0),
            Forwarding::Tun { tunnel, checksum } => {
                let (t, port) = match tunnel {
                    Tunnel::Ipip => (TUNNEL_TYPE_IPIP, 0),
                    Tunnel::Gue { port } => (TUNNEL_TYPE_GUE, port),
                    Tunnel::Gre => (TUNNEL_TYPE_GRE, 0),
                };
                let flags = match checksum {
                    TunnelChecksum::None => 0,
                    TunnelChecksum::Csum => TUNNEL_ENCAP_FLAG_CSUM,
                    TunnelChecksum::Remcsum => TUNNEL_ENCAP_FLAG_REMCSUM,
                };
                (CONN_F_TUNNEL, t, port, flags)
            }
        };
        VsDest {
            addr: d.key.addr,
            port: d.key.port,
            fwd,
            weight: d.weight,
            upper: d.upper_threshold,
            lower: d.lower_threshold,
            tun_type,
            tun_port,
            tun_flags,
        }
    }

    /// The identifying attributes (DEL_DEST).
    pub(crate) fn id_attrs(&self) -> Vec<DestAttr> {
        vec![
            DestAttr::Addr(inet(self.addr)),
            DestAttr::Port(self.port),
            DestAttr::AddrFamily(af(IpFamily::of(self.addr))),
        ]
    }

    /// The full attributes (NEW_DEST, SET_DEST).
    pub(crate) fn attrs(&self) -> Vec<DestAttr> {
        let mut out = self.id_attrs();
        out.extend([
            DestAttr::FwdMethod(self.fwd),
            DestAttr::Weight(self.weight),
            DestAttr::UThresh(self.upper),
            DestAttr::LThresh(self.lower),
        ]);
        if self.fwd == CONN_F_TUNNEL {
            out.extend([
                DestAttr::TunType(self.tun_type),
                DestAttr::TunPort(self.tun_port),
                DestAttr::TunFlags(self.tun_flags),
            ]);
        }
        out
    }

    /// A dumped destination (kernels before 5.3 send no tunnel attributes).
    pub(crate) fn from_attrs(attrs: &[DestAttr], service_family: u16) -> Option<VsDest> {
        let mut d = VsDest {
            addr: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            port: 0,
            fwd: 0,
            weight: 0,
            upper: 0,
            lower: 0,
            tun_type: 0,
            tun_port: 0,
            tun_flags: 0,
        };
        let (mut raw, mut family, mut port) = (None, service_family, None);
        for a in attrs {
            match *a {
                DestAttr::Addr(v) => raw = Some(v),
                DestAttr::AddrFamily(v) => family = v,
                DestAttr::Port(v) => port = Some(v),
                DestAttr::FwdMethod(v) => d.fwd = v & CONN_F_FWD_MASK,
                DestAttr::Weight(v) => d.weight = v,
                DestAttr::UThresh(v) => d.upper = v,
                DestAttr::LThresh(v) => d.lower = v,
                DestAttr::TunType(v) => d.tun_type = v,
                DestAttr::TunPort(v) => d.tun_port = v,
                DestAttr::TunFlags(v) => d.tun_flags = v,
                _ => {}
            }
        }
        d.addr = from_inet(family, &raw?)?;
        d.port = port?;
        if d.fwd != CONN_F_TUNNEL {
            (d.tun_type, d.tun_port, d.tun_flags) = (0, 0, 0);
        }
        Some(d)
    }
}

/// The counters of a service's or destination's stats: the 64-bit ones when present.
pub(crate) fn counters(stats64: Option<&[StatsAttr]>, stats: Option<&[StatsAttr]>) -> Counters {
    let mut c = Counters::default();
    for a in stats64.or(stats).unwrap_or_default() {
        match *a {
            StatsAttr::Conns(v) => c.connections = v,
            StatsAttr::InPkts(v) | StatsAttr::OutPkts(v) => c.packets += v,
            StatsAttr::InBytes(v) | StatsAttr::OutBytes(v) => c.bytes += v,
            StatsAttr::Other(_) => {}
        }
    }
    c
}

/// The counters of a dumped destination.
pub(crate) fn dest_counters(attrs: &[DestAttr]) -> Counters {
    let (mut s64, mut s) = (None, None);
    for a in attrs {
        match a {
            DestAttr::Stats64(v) => s64 = Some(v.as_slice()),
            DestAttr::Stats(v) => s = Some(v.as_slice()),
            _ => {}
        }
    }
    counters(s64, s)
}
