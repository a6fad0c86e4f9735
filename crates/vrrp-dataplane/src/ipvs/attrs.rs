//! The nested attributes of IPVS messages: `IPVS_SVC_ATTR_*`, `IPVS_DEST_ATTR_*`,
//! `IPVS_DAEMON_ATTR_*` and `IPVS_STATS_ATTR_*` (include/uapi/linux/ip_vs.h).

use netlink_packet_core::{DecodeError, Nla};

use super::message::{array, counter, emit_nested, emit_string, nested_len, parse_nested, string};

fn u16_of(v: &[u8]) -> Result<u16, DecodeError> {
    array::<2>(v).map(u16::from_ne_bytes)
}
fn be16_of(v: &[u8]) -> Result<u16, DecodeError> {
    array::<2>(v).map(u16::from_be_bytes)
}
fn u32_of(v: &[u8]) -> Result<u32, DecodeError> {
    array::<4>(v).map(u32::from_ne_bytes)
}

/// `union nf_inet_addr`: an IPv4 address takes the first 4 of the 16 bytes. The kernel
/// copies at most 16 bytes and sends 16.
pub(crate) type InetAddr = [u8; 16];

fn inet_addr(v: &[u8]) -> Result<InetAddr, DecodeError> {
    if v.len() > 16 || v.len() < 4 {
        return Err(DecodeError::invalid_ip_address(v.len()));
    }
    let mut out = [0u8; 16];
    out[..v.len()].copy_from_slice(v);
    Ok(out)
}

/// `IPVS_SVC_ATTR_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SvcAttr {
    /// `AF_INET` or `AF_INET6`.
    Af(u16),
    /// `IPPROTO_*`.
    Protocol(u16),
    Addr(InetAddr),
    Port(u16),
    Fwmark(u32),
    SchedName(String),
    /// `struct ip_vs_flags`: the bits of `mask` are set to those of `flags`.
    Flags {
        flags: u32,
        mask: u32,
    },
    /// Persistence timeout, seconds.
    Timeout(u32),
    /// The raw `__be32`: an IPv4 mask in network order, or an IPv6 prefix length as a
    /// host-order number (ip_vs_add_service checks `1..=128` on the raw value).
    Netmask([u8; 4]),
    Stats(Vec<StatsAttr>),
    PeName(String),
    Stats64(Vec<StatsAttr>),
    Other(u16),
}

impl Nla for SvcAttr {
    fn value_len(&self) -> usize {
        use SvcAttr::*;
        match self {
            Af(_) | Protocol(_) | Port(_) => 2,
            Addr(_) => 16,
            Fwmark(_) | Timeout(_) | Netmask(_) => 4,
            SchedName(s) | PeName(s) => s.len() + 1,
            Flags { .. } => 8,
            Stats(s) | Stats64(s) => nested_len(s),
            Other(_) => 0,
        }
    }

    fn kind(&self) -> u16 {
        use SvcAttr::*;
        match self {
            Af(_) => 1,
            Protocol(_) => 2,
            Addr(_) => 3,
            Port(_) => 4,
            Fwmark(_) => 5,
            SchedName(_) => 6,
            Flags { .. } => 7,
            Timeout(_) => 8,
            Netmask(_) => 9,
            Stats(_) => 10,
            PeName(_) => 11,
            Stats64(_) => 12,
            Other(kind) => *kind,
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        use SvcAttr::*;
        match self {
            Af(v) | Protocol(v) => b[..2].copy_from_slice(&v.to_ne_bytes()),
            Port(v) => b[..2].copy_from_slice(&v.to_be_bytes()),
            Addr(a) => b[..16].copy_from_slice(a),
            Fwmark(v) | Timeout(v) => b[..4].copy_from_slice(&v.to_ne_bytes()),
            Netmask(m) => b[..4].copy_from_slice(m),
            SchedName(s) | PeName(s) => emit_string(s, b),
            Flags { flags, mask } => {
                b[..4].copy_from_slice(&flags.to_ne_bytes());
                b[4..8].copy_from_slice(&mask.to_ne_bytes());
            }
            Stats(s) | Stats64(s) => emit_nested(s, b),
            Other(_) => {}
        }
    }
}

impl SvcAttr {
    pub(crate) fn parse(kind: u16, v: &[u8]) -> Result<SvcAttr, DecodeError> {
        use SvcAttr::*;
        Ok(match kind {
            1 => Af(u16_of(v)?),
            2 => Protocol(u16_of(v)?),
            3 => Addr(inet_addr(v)?),
            4 => Port(be16_of(v)?),
            5 => Fwmark(u32_of(v)?),
            6 => SchedName(string(v)?),
            7 => {
                let b = array::<8>(v)?;
                Flags {
                    flags: u32_of(&b[..4])?,
                    mask: u32_of(&b[4..])?,
                }
            }
            8 => Timeout(u32_of(v)?),
            9 => Netmask(array(v)?),
            10 => Stats(parse_nested(v, StatsAttr::parse)?),
            11 => PeName(string(v)?),
            12 => Stats64(parse_nested(v, StatsAttr::parse)?),
            other => Other(other),
        })
    }
}

/// `IPVS_DEST_ATTR_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DestAttr {
    Addr(InetAddr),
    Port(u16),
    /// `IP_VS_CONN_F_MASQ`, `_TUNNEL` or `_DROUTE`.
    FwdMethod(u32),
    Weight(u32),
    UThresh(u32),
    LThresh(u32),
    ActiveConns(u32),
    InactConns(u32),
    PersistConns(u32),
    Stats(Vec<StatsAttr>),
    AddrFamily(u16),
    Stats64(Vec<StatsAttr>),
    /// `IP_VS_CONN_F_TUNNEL_TYPE_*`.
    TunType(u8),
    /// The GUE port.
    TunPort(u16),
    /// `IP_VS_TUNNEL_ENCAP_FLAG_*`.
    TunFlags(u16),
    Other(u16),
}

impl Nla for DestAttr {
    fn value_len(&self) -> usize {
        use DestAttr::*;
        match self {
            Addr(_) => 16,
            Port(_) | AddrFamily(_) | TunPort(_) | TunFlags(_) => 2,
            FwdMethod(_) | Weight(_) | UThresh(_) | LThresh(_) | ActiveConns(_) | InactConns(_)
            | PersistConns(_) => 4,
            TunType(_) => 1,
            Stats(s) | Stats64(s) => nested_len(s),
            Other(_) => 0,
        }
    }

    fn kind(&self) -> u16 {
        use DestAttr::*;
        match self {
            Addr(_) => 1,
            Port(_) => 2,
            FwdMethod(_) => 3,
            Weight(_) => 4,
            UThresh(_) => 5,
            LThresh(_) => 6,
            ActiveConns(_) => 7,
            InactConns(_) => 8,
            PersistConns(_) => 9,
            Stats(_) => 10,
            AddrFamily(_) => 11,
            Stats64(_) => 12,
            TunType(_) => 13,
            TunPort(_) => 14,
            TunFlags(_) => 15,
            Other(kind) => *kind,
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        use DestAttr::*;
        match self {
            Addr(a) => b[..16].copy_from_slice(a),
            Port(v) | TunPort(v) => b[..2].copy_from_slice(&v.to_be_bytes()),
            AddrFamily(v) | TunFlags(v) => b[..2].copy_from_slice(&v.to_ne_bytes()),
            FwdMethod(v) | Weight(v) | UThresh(v) | LThresh(v) | ActiveConns(v) | InactConns(v)
            | PersistConns(v) => b[..4].copy_from_slice(&v.to_ne_bytes()),
            TunType(v) => b[0] = *v,
            Stats(s) | Stats64(s) => emit_nested(s, b),
            Other(_) => {}
        }
    }
}

impl DestAttr {
    pub(crate) fn parse(kind: u16, v: &[u8]) -> Result<DestAttr, DecodeError> {
        use DestAttr::*;
        Ok(match kind {
            1 => Addr(inet_addr(v)?),
            2 => Port(be16_of(v)?),
            3 => FwdMethod(u32_of(v)?),
            4 => Weight(u32_of(v)?),
            5 => UThresh(u32_of(v)?),
            6 => LThresh(u32_of(v)?),
            7 => ActiveConns(u32_of(v)?),
            8 => InactConns(u32_of(v)?),
            9 => PersistConns(u32_of(v)?),
            10 => Stats(parse_nested(v, StatsAttr::parse)?),
            11 => AddrFamily(u16_of(v)?),
            12 => Stats64(parse_nested(v, StatsAttr::parse)?),
            13 => TunType(array::<1>(v)?[0]),
            14 => TunPort(be16_of(v)?),
            15 => TunFlags(u16_of(v)?),
            other => Other(other),
        })
    }
}

/// `IPVS_DAEMON_ATTR_*`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum DaemonAttr {
    /// `IP_VS_STATE_MASTER` or `IP_VS_STATE_BACKUP`.
    State(u32),
    McastIfn(String),
    SyncId(u32),
    SyncMaxLen(u16),
    /// Network order, as `nla_get_in_addr`.
    McastGroup([u8; 4]),
    McastGroup6([u8; 16]),
    /// Host order: the kernel adds the thread's index to it before `htons`.
    McastPort(u16),
    McastTtl(u8),
    Other(u16),
}

impl Nla for DaemonAttr {
    fn value_len(&self) -> usize {
        use DaemonAttr::*;
        match self {
            State(_) | SyncId(_) | McastGroup(_) => 4,
            McastIfn(s) => s.len() + 1,
            SyncMaxLen(_) | McastPort(_) => 2,
            McastGroup6(_) => 16,
            McastTtl(_) => 1,
            Other(_) => 0,
        }
    }

    fn kind(&self) -> u16 {
        use DaemonAttr::*;
        match self {
            State(_) => 1,
            McastIfn(_) => 2,
            SyncId(_) => 3,
            SyncMaxLen(_) => 4,
            McastGroup(_) => 5,
            McastGroup6(_) => 6,
            McastPort(_) => 7,
            McastTtl(_) => 8,
            Other(kind) => *kind,
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        use DaemonAttr::*;
        match self {
            State(v) | SyncId(v) => b[..4].copy_from_slice(&v.to_ne_bytes()),
            McastIfn(s) => emit_string(s, b),
            SyncMaxLen(v) | McastPort(v) => b[..2].copy_from_slice(&v.to_ne_bytes()),
            McastGroup(a) => b[..4].copy_from_slice(a),
            McastGroup6(a) => b[..16].copy_from_slice(a),
            McastTtl(v) => b[0] = *v,
            Other(_) => {}
        }
    }
}

impl DaemonAttr {
    pub(crate) fn parse(kind: u16, v: &[u8]) -> Result<DaemonAttr, DecodeError> {
        use DaemonAttr::*;
        Ok(match kind {
            1 => State(u32_of(v)?),
            2 => McastIfn(string(v)?),
            3 => SyncId(u32_of(v)?),
            4 => SyncMaxLen(u16_of(v)?),
            5 => McastGroup(array(v)?),
            6 => McastGroup6(array(v)?),
            7 => McastPort(u16_of(v)?),
            8 => McastTtl(array::<1>(v)?[0]),
            other => Other(other),
        })
    }
}

/// `IPVS_STATS_ATTR_*`: the counters this data path reads (rates are not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum StatsAttr {
    Conns(u64),
    InPkts(u64),
    OutPkts(u64),
    InBytes(u64),
    OutBytes(u64),
    Other(u16),
}

impl Nla for StatsAttr {
    fn value_len(&self) -> usize {
        match self {
            StatsAttr::Other(_) => 0,
            _ => 8,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            StatsAttr::Conns(_) => 1,
            StatsAttr::InPkts(_) => 2,
            StatsAttr::OutPkts(_) => 3,
            StatsAttr::InBytes(_) => 4,
            StatsAttr::OutBytes(_) => 5,
            StatsAttr::Other(kind) => *kind,
        }
    }

    fn emit_value(&self, b: &mut [u8]) {
        use StatsAttr::*;
        if let Conns(v) | InPkts(v) | OutPkts(v) | InBytes(v) | OutBytes(v) = self {
            b[..8].copy_from_slice(&v.to_ne_bytes())
        }
    }
}

impl StatsAttr {
    pub(crate) fn parse(kind: u16, v: &[u8]) -> Result<StatsAttr, DecodeError> {
        use StatsAttr::*;
        Ok(match kind {
            1 => Conns(counter(v)?),
            2 => InPkts(counter(v)?),
            3 => OutPkts(counter(v)?),
            4 => InBytes(counter(v)?),
            5 => OutBytes(counter(v)?),
            other => Other(other),
        })
    }
}
