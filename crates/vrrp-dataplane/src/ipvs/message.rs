//! The IPVS generic netlink messages (include/uapi/linux/ip_vs.h): a command and its
//! attributes, encoded and decoded. Byte orders follow the kernel's `nla_get_*` calls in
//! net/netfilter/ipvs/ip_vs_ctl.c: ports and the IPv4 netmask and multicast group are in
//! network order, everything else in host order.

use netlink_packet_core::{
    DecodeError, Emitable, Nla, NlaBuffer, NlasIterator, ParseableParametrized,
};
use netlink_packet_generic::{GenlFamily, GenlHeader};

pub(crate) use super::attrs::{DaemonAttr, DestAttr, SvcAttr};

/// `IPVS_GENL_NAME`, `IPVS_GENL_VERSION`.
pub(crate) const FAMILY: &str = "IPVS";
const VERSION: u8 = 1;

/// `IPVS_CMD_*`.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Cmd {
    NewService = 1,
    SetService = 2,
    DelService = 3,
    GetService = 4,
    NewDest = 5,
    SetDest = 6,
    DelDest = 7,
    GetDest = 8,
    NewDaemon = 9,
    DelDaemon = 10,
    GetDaemon = 11,
    SetConfig = 12,
    GetConfig = 13,
    SetInfo = 14,
    GetInfo = 15,
    Zero = 16,
    Flush = 17,
}

impl Cmd {
    fn from_u8(value: u8) -> Result<Cmd, DecodeError> {
        use Cmd::*;
        const ALL: [Cmd; 17] = [
            NewService, SetService, DelService, GetService, NewDest, SetDest, DelDest, GetDest,
            NewDaemon, DelDaemon, GetDaemon, SetConfig, GetConfig, SetInfo, GetInfo, Zero, Flush,
        ];
        ALL.into_iter()
            .find(|c| *c as u8 == value)
            .ok_or_else(|| DecodeError::from(format!("unknown IPVS command {value}")))
    }
}

// IPVS_CMD_ATTR_*.
const CMD_ATTR_SERVICE: u16 = 1;
const CMD_ATTR_DEST: u16 = 2;
const CMD_ATTR_DAEMON: u16 = 3;
const CMD_ATTR_TIMEOUT_TCP: u16 = 4;
const CMD_ATTR_TIMEOUT_TCP_FIN: u16 = 5;
const CMD_ATTR_TIMEOUT_UDP: u16 = 6;

/// A first-level attribute (`IPVS_CMD_ATTR_*`; `IPVS_INFO_ATTR_*` share the numbers in
/// the GET_INFO reply and are not read).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum CmdAttr {
    Service(Vec<SvcAttr>),
    Dest(Vec<DestAttr>),
    Daemon(Vec<DaemonAttr>),
    TimeoutTcp(u32),
    TimeoutTcpFin(u32),
    TimeoutUdp(u32),
    Other(u16),
}

/// The encoded length of a list of attributes.
pub(crate) fn nested_len<T: Nla>(attrs: &[T]) -> usize {
    attrs.iter().map(Emitable::buffer_len).sum()
}

/// Encodes a list of attributes into `buffer`.
pub(crate) fn emit_nested<T: Nla>(attrs: &[T], buffer: &mut [u8]) {
    let mut at = 0;
    for attr in attrs {
        let len = attr.buffer_len();
        attr.emit(&mut buffer[at..at + len]);
        at += len;
    }
}

/// Decodes the attributes of `buffer` with `one`: a truncated or overlong attribute, or a
/// value of the wrong size, is an error.
pub(crate) fn parse_nested<T>(
    buffer: &[u8],
    one: impl Fn(u16, &[u8]) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    NlasIterator::new(buffer)
        .map(|nla| {
            let nla: NlaBuffer<&[u8]> = nla?;
            one(nla.kind(), nla.value())
        })
        .collect()
}

/// A fixed-size value of an attribute.
pub(crate) fn array<const N: usize>(value: &[u8]) -> Result<[u8; N], DecodeError> {
    value
        .try_into()
        .map_err(|_| DecodeError::invalid_number(N, value.len()))
}

/// A `u64` counter, or a `u32` one (the 32-bit stats).
pub(crate) fn counter(value: &[u8]) -> Result<u64, DecodeError> {
    match value.len() {
        4 => Ok(u32::from_ne_bytes(array(value)?).into()),
        _ => Ok(u64::from_ne_bytes(array(value)?)),
    }
}

/// A NUL-terminated string (`NLA_NUL_STRING`).
pub(crate) fn string(value: &[u8]) -> Result<String, DecodeError> {
    let end = value.iter().position(|b| *b == 0).unwrap_or(value.len());
    String::from_utf8(value[..end].to_vec())
        .map_err(|_| DecodeError::from("an IPVS string attribute is not UTF-8"))
}

/// A string as the kernel wants it: with its NUL.
pub(crate) fn emit_string(s: &str, buffer: &mut [u8]) {
    buffer[..s.len()].copy_from_slice(s.as_bytes());
    buffer[s.len()] = 0;
}

impl Nla for CmdAttr {
    fn value_len(&self) -> usize {
        match self {
            CmdAttr::Service(a) => nested_len(a),
            CmdAttr::Dest(a) => nested_len(a),
            CmdAttr::Daemon(a) => nested_len(a),
            CmdAttr::TimeoutTcp(_) | CmdAttr::TimeoutTcpFin(_) | CmdAttr::TimeoutUdp(_) => 4,
            CmdAttr::Other(_) => 0,
        }
    }

    fn kind(&self) -> u16 {
        match self {
            CmdAttr::Service(_) => CMD_ATTR_SERVICE,
            CmdAttr::Dest(_) => CMD_ATTR_DEST,
            CmdAttr::Daemon(_) => CMD_ATTR_DAEMON,
            CmdAttr::TimeoutTcp(_) => CMD_ATTR_TIMEOUT_TCP,
            CmdAttr::TimeoutTcpFin(_) => CMD_ATTR_TIMEOUT_TCP_FIN,
            CmdAttr::TimeoutUdp(_) => CMD_ATTR_TIMEOUT_UDP,
            CmdAttr::Other(kind) => *kind,
        }
    }

    fn emit_value(&self, buffer: &mut [u8]) {
        match self {
            CmdAttr::Service(a) => emit_nested(a, buffer),
            CmdAttr::Dest(a) => emit_nested(a, buffer),
            CmdAttr::Daemon(a) => emit_nested(a, buffer),
            CmdAttr::TimeoutTcp(v) | CmdAttr::TimeoutTcpFin(v) | CmdAttr::TimeoutUdp(v) => {
                buffer[..4].copy_from_slice(&v.to_ne_bytes())
            }
            CmdAttr::Other(_) => {}
        }
    }
}

impl CmdAttr {
    fn parse(cmd: Cmd, kind: u16, value: &[u8]) -> Result<CmdAttr, DecodeError> {
        // GET_INFO's reply reuses the numbers for IPVS_INFO_ATTR_*.
        if cmd == Cmd::SetInfo {
            return Ok(CmdAttr::Other(kind));
        }
        let u32_of = |v: &[u8]| array::<4>(v).map(u32::from_ne_bytes);
        Ok(match kind {
            CMD_ATTR_SERVICE => CmdAttr::Service(parse_nested(value, SvcAttr::parse)?),
            CMD_ATTR_DEST => CmdAttr::Dest(parse_nested(value, DestAttr::parse)?),
            CMD_ATTR_DAEMON => CmdAttr::Daemon(parse_nested(value, DaemonAttr::parse)?),
            CMD_ATTR_TIMEOUT_TCP => CmdAttr::TimeoutTcp(u32_of(value)?),
            CMD_ATTR_TIMEOUT_TCP_FIN => CmdAttr::TimeoutTcpFin(u32_of(value)?),
            CMD_ATTR_TIMEOUT_UDP => CmdAttr::TimeoutUdp(u32_of(value)?),
            other => CmdAttr::Other(other),
        })
    }
}

/// One IPVS message: the generic netlink command and its attributes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct IpvsMessage {
    pub(crate) cmd: Cmd,
    pub(crate) attrs: Vec<CmdAttr>,
}

impl IpvsMessage {
    pub(crate) fn new(cmd: Cmd, attrs: Vec<CmdAttr>) -> IpvsMessage {
        IpvsMessage { cmd, attrs }
    }

    /// The nested service attributes, if any.
    pub(crate) fn service(&self) -> Option<&[SvcAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CmdAttr::Service(s) => Some(s.as_slice()),
            _ => None,
        })
    }

    /// The nested destination attributes, if any.
    pub(crate) fn dest(&self) -> Option<&[DestAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CmdAttr::Dest(d) => Some(d.as_slice()),
            _ => None,
        })
    }

    /// The nested daemon attributes, if any.
    #[cfg(test)]
    pub(crate) fn daemon(&self) -> Option<&[DaemonAttr]> {
        self.attrs.iter().find_map(|a| match a {
            CmdAttr::Daemon(d) => Some(d.as_slice()),
            _ => None,
        })
    }
}

impl GenlFamily for IpvsMessage {
    fn family_name() -> &'static str {
        FAMILY
    }

    fn command(&self) -> u8 {
        self.cmd as u8
    }

    fn version(&self) -> u8 {
        VERSION
    }
}

impl Emitable for IpvsMessage {
    fn buffer_len(&self) -> usize {
        nested_len(&self.attrs)
    }

    fn emit(&self, buffer: &mut [u8]) {
        emit_nested(&self.attrs, buffer)
    }
}

impl ParseableParametrized<[u8], GenlHeader> for IpvsMessage {
    fn parse_with_param(buf: &[u8], header: GenlHeader) -> Result<Self, DecodeError> {
        let cmd = Cmd::from_u8(header.cmd)?;
        let attrs = parse_nested(buf, |kind, value| CmdAttr::parse(cmd, kind, value))?;
        Ok(IpvsMessage { cmd, attrs })
    }
}
