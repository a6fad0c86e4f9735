//! VRRP advertisement codec: VRRPv2 (RFC 3768 §5) and VRRPv3 (RFC 5798 / RFC 9568 §5).
//!
//! The codec works from the VRRP header onward. The IP-layer facts that the receive rules
//! need (source, destination, TTL / hop limit) travel beside the bytes in [`IpMeta`].

use std::fmt;
use std::net::IpAddr;

/// IP protocol number of VRRP (RFC 5798 §5.1.1.4).
pub const IPPROTO_VRRP: u8 = 112;
/// TTL / hop limit every VRRP packet carries and every receiver demands (RFC 5798 §5.1.1.3).
pub const VRRP_TTL: u8 = 255;
/// IPv4 multicast group of VRRP (RFC 5798 §5.1.1.2).
pub const MULTICAST_V4: std::net::Ipv4Addr = std::net::Ipv4Addr::new(224, 0, 0, 18);
/// IPv6 multicast group of VRRP (RFC 5798 §5.1.2.2).
pub const MULTICAST_V6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
/// Length of the fixed VRRP header (both versions).
pub const HEADER_LEN: usize = 8;
/// Length of the VRRPv2 authentication data trailer (RFC 3768 §5.3.10).
pub const AUTH_DATA_LEN: usize = 8;

/// Protocol version.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Version {
    /// VRRPv2, RFC 3768: IPv4 only, interval in seconds, optional simple-text authentication.
    V2,
    /// VRRPv3, RFC 5798 / RFC 9568: IPv4 or IPv6, interval in centiseconds.
    V3,
}

impl Version {
    pub fn number(self) -> u8 {
        match self {
            Version::V2 => 2,
            Version::V3 => 3,
        }
    }
}

/// Address family of an instance and of the addresses in its advertisements.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Family {
    Ipv4,
    Ipv6,
}

impl Family {
    pub fn of(addr: &IpAddr) -> Family {
        match addr {
            IpAddr::V4(_) => Family::Ipv4,
            IpAddr::V6(_) => Family::Ipv6,
        }
    }
}

/// VRRPv2 authentication (RFC 3768 §5.3.6). VRRPv3 has none; its advertisements carry
/// [`Auth::None`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Auth {
    /// Type 0.
    None,
    /// Type 1: up to 8 bytes of text, zero padded on the wire.
    SimplePassword([u8; AUTH_DATA_LEN]),
}

impl Auth {
    /// The auth type number on the wire.
    pub fn type_number(&self) -> u8 {
        match self {
            Auth::None => 0,
            Auth::SimplePassword(_) => 1,
        }
    }

    /// A simple password from configuration text: the first 8 bytes, zero padded (as
    /// keepalived does with `auth_pass`).
    pub fn simple_password(text: &str) -> Auth {
        let mut data = [0u8; AUTH_DATA_LEN];
        for (dst, src) in data.iter_mut().zip(text.as_bytes()) {
            *dst = *src;
        }
        Auth::SimplePassword(data)
    }
}

/// How the checksum of a VRRPv3 IPv4 advertisement is computed. RFC 5798 §5.2.8 was read
/// (by keepalived and FRR) as including an IPv4 pseudo-header; RFC 9568 §5.2.8 says the
/// VRRP message only. VRRPv2 always uses the message only; VRRPv3 over IPv6 always uses the
/// RFC 8200 pseudo-header.
#[derive(Copy, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub enum ChecksumForm {
    /// Pseudo-header (source, destination, length, protocol 112) + message.
    #[default]
    PseudoHeader,
    /// The VRRP message alone.
    MessageOnly,
}

impl ChecksumForm {
    /// The name used in logs and `vrrpctl sniff --json`.
    pub fn name(self) -> &'static str {
        match self {
            ChecksumForm::PseudoHeader => "pseudo-header",
            ChecksumForm::MessageOnly => "message-only",
        }
    }
}

/// A VRRP advertisement, either version.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Advertisement {
    pub version: Version,
    /// Virtual router identifier, 1-255 on the wire (0 is decoded, and refused by instances).
    pub vrid: u8,
    /// 255 = address owner, 1-254 = backup, 0 = the master is leaving.
    pub priority: u8,
    /// The advertisement interval in centiseconds. VRRPv2 carries whole seconds on the
    /// wire, so a v2 value is a multiple of 100 (at most 25500); VRRPv3 carries 12 bits of
    /// centiseconds (at most 4095).
    pub interval_cs: u16,
    /// VRRPv2 only; [`Auth::None`] for VRRPv3.
    pub auth: Auth,
    /// The virtual addresses, all of the family of the IP header.
    pub addresses: Vec<IpAddr>,
}

impl Advertisement {
    pub fn family(&self) -> Option<Family> {
        self.addresses.first().map(Family::of)
    }
}

/// IP-layer facts of a received (or to-be-sent) packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpMeta {
    pub src: IpAddr,
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// A successfully decoded advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    pub advertisement: Advertisement,
    /// For VRRPv3 over IPv4, which checksum form matched; `None` for VRRPv2 and IPv6, where
    /// only one form exists.
    pub checksum_form: Option<ChecksumForm>,
}

/// Why a received packet was discarded. Each variant is one receive rule of RFC 3768 §7.1
/// or RFC 5798 / RFC 9568 §7.1 (with errata 8299 and 8300), judged from the packet alone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// TTL / hop limit not 255 (RFC 5798 §7.1, RFC 3768 §7.1).
    TtlNot255 { ttl: u8 },
    /// Shorter than the fixed header.
    Truncated { len: usize },
    /// Version field not 2 or 3.
    BadVersion { version: u8 },
    /// VRRPv2 over IPv6, which does not exist.
    VersionFamilyMismatch,
    /// Type field not 1 (ADVERTISEMENT).
    BadType { packet_type: u8 },
    /// The length does not agree with the address count (and, for v2, the auth trailer).
    LengthMismatch { count: u8, len: usize },
    /// The checksum does not verify in any accepted form.
    BadChecksum { received: u16 },
    /// VRRPv3 with an address count of 0 (RFC 9568 erratum 8299).
    ZeroCount,
    /// VRRPv3 with a Max Advertise Interval of 0 (RFC 9568 erratum 8301).
    ZeroInterval,
    /// VRRPv3 over IPv6 whose first address is not link-local (RFC 5798 §5.2.9, erratum 8300).
    FirstAddressNotLinkLocal,
    /// VRRPv2 auth type 2 (IP Authentication Header), removed by RFC 3768 and not supported.
    AuthHeaderUnsupported,
    /// VRRPv2 auth type other than 0, 1 or 2.
    BadAuthType { auth_type: u8 },
}

impl DecodeError {
    /// A stable snake_case name, used by `vrrpctl sniff --json` and metric labels.
    pub fn name(&self) -> &'static str {
        match self {
            DecodeError::TtlNot255 { .. } => "ttl_not_255",
            DecodeError::Truncated { .. } => "truncated",
            DecodeError::BadVersion { .. } => "bad_version",
            DecodeError::VersionFamilyMismatch => "version_family_mismatch",
            DecodeError::BadType { .. } => "bad_type",
            DecodeError::LengthMismatch { .. } => "length_mismatch",
            DecodeError::BadChecksum { .. } => "bad_checksum",
            DecodeError::ZeroCount => "zero_count",
            DecodeError::ZeroInterval => "zero_interval",
            DecodeError::FirstAddressNotLinkLocal => "first_address_not_link_local",
            DecodeError::AuthHeaderUnsupported => "auth_header_unsupported",
            DecodeError::BadAuthType { .. } => "bad_auth_type",
        }
    }
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::TtlNot255 { ttl } => write!(f, "TTL/hop limit is {ttl}, not 255"),
            DecodeError::Truncated { len } => write!(f, "truncated: {len} bytes"),
            DecodeError::BadVersion { version } => write!(f, "unknown version {version}"),
            DecodeError::VersionFamilyMismatch => write!(f, "VRRPv2 over IPv6"),
            DecodeError::BadType { packet_type } => write!(f, "type {packet_type} is not ADVERTISEMENT"),
            DecodeError::LengthMismatch { count, len } => {
                write!(f, "length {len} does not fit an address count of {count}")
            }
            DecodeError::BadChecksum { received } => write!(f, "bad checksum {received:#06x}"),
            DecodeError::ZeroCount => write!(f, "VRRPv3 address count is 0"),
            DecodeError::ZeroInterval => write!(f, "VRRPv3 advertisement interval is 0"),
            DecodeError::FirstAddressNotLinkLocal => {
                write!(f, "first IPv6 address is not link-local")
            }
            DecodeError::AuthHeaderUnsupported => {
                write!(f, "auth type 2 (IP Authentication Header) is not supported")
            }
            DecodeError::BadAuthType { auth_type } => write!(f, "unknown auth type {auth_type}"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// Why an advertisement could not be encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum EncodeError {
    /// More than 255 addresses.
    TooManyAddresses,
    /// An address of the other family than the source address.
    MixedFamilies,
    /// VRRPv2 with an IPv6 source.
    VersionFamilyMismatch,
    /// VRRPv2 interval not a whole number of seconds in 1-255, or VRRPv3 interval over 4095.
    IntervalOutOfRange { interval_cs: u16 },
    /// Authentication given for VRRPv3.
    AuthInV3,
}

impl fmt::Display for EncodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EncodeError::TooManyAddresses => write!(f, "more than 255 addresses"),
            EncodeError::MixedFamilies => write!(f, "addresses of both families"),
            EncodeError::VersionFamilyMismatch => write!(f, "VRRPv2 cannot carry IPv6"),
            EncodeError::IntervalOutOfRange { interval_cs } => {
                write!(f, "interval {interval_cs} cs cannot be encoded")
            }
            EncodeError::AuthInV3 => write!(f, "VRRPv3 has no authentication"),
        }
    }
}

impl std::error::Error for EncodeError {}

/// The VRID of a packet that may not decode, so that errors can be counted against the
/// right instance.
pub fn peek_vrid(bytes: &[u8]) -> Option<u8> {
    bytes.get(1).copied()
}

/// Decode and validate one advertisement. Never panics, on any input.
pub fn decode(bytes: &[u8], ip: &IpMeta) -> Result<Decoded, DecodeError> {
    let _ = (bytes, ip);
    todo!("codec")
}

/// Encode one advertisement for the given source and destination (both needed for the
/// pseudo-header). `form` matters only for VRRPv3 over IPv4.
pub fn encode(
    adv: &Advertisement,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
) -> Result<Vec<u8>, EncodeError> {
    let _ = (adv, src, dst, form);
    todo!("codec")
}
