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
pub const MULTICAST_V6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12);
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
    /// The version number carried in the packet (2 or 3).
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
    /// IPv4.
    Ipv4,
    /// IPv6.
    Ipv6,
}

impl Family {
    /// The family of an address.
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
    /// VRRPv2 or VRRPv3.
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
    /// The family of the addresses listed, `None` for an empty list.
    pub fn family(&self) -> Option<Family> {
        self.addresses.first().map(Family::of)
    }
}

/// IP-layer facts of a received (or to-be-sent) packet.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub struct IpMeta {
    /// Source address.
    pub src: IpAddr,
    /// Destination address (the multicast group or a unicast peer).
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
}

/// A successfully decoded advertisement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Decoded {
    /// The advertisement.
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
    TtlNot255 {
        /// The TTL / hop limit received.
        ttl: u8,
    },
    /// Shorter than the fixed header.
    Truncated {
        /// The message length received.
        len: usize,
    },
    /// Version field not 2 or 3.
    BadVersion {
        /// The version field received.
        version: u8,
    },
    /// VRRPv2 over IPv6, which does not exist.
    VersionFamilyMismatch,
    /// Type field not 1 (ADVERTISEMENT).
    BadType {
        /// The type field received (1 is an advertisement).
        packet_type: u8,
    },
    /// The length does not agree with the address count (and, for v2, the auth trailer).
    LengthMismatch {
        /// The address count received.
        count: u8,
        /// The message length received.
        len: usize,
    },
    /// The checksum does not verify in any accepted form.
    BadChecksum {
        /// The checksum field received.
        received: u16,
    },
    /// VRRPv3 with an address count of 0 (RFC 9568 erratum 8299).
    ZeroCount,
    /// VRRPv3 with a Max Advertise Interval of 0 (RFC 9568 erratum 8301).
    ZeroInterval,
    /// VRRPv3 over IPv6 whose first address is not link-local (RFC 5798 §5.2.9, erratum 8300).
    FirstAddressNotLinkLocal,
    /// VRRPv2 auth type 2 (IP Authentication Header), removed by RFC 3768 and not supported.
    AuthHeaderUnsupported,
    /// VRRPv2 auth type other than 0, 1 or 2.
    BadAuthType {
        /// The authentication type received.
        auth_type: u8,
    },
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
            DecodeError::BadType { packet_type } => {
                write!(f, "type {packet_type} is not ADVERTISEMENT")
            }
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
    IntervalOutOfRange {
        /// The interval asked for, in centiseconds.
        interval_cs: u16,
    },
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

/// RFC 5798 §5.2.9: over IPv6 the first address should be the virtual router's
/// link-local address. `true` for IPv4 and for an empty list. [`decode`] does not enforce
/// it (see there); [`DecodeError::FirstAddressNotLinkLocal`] names it for reports.
pub fn first_address_is_link_local(adv: &Advertisement) -> bool {
    match adv.addresses.first() {
        Some(IpAddr::V6(first)) => first.is_unicast_link_local(),
        _ => true,
    }
}

/// The VRID of a packet that may not decode, so that errors can be counted against the
/// right instance.
pub fn peek_vrid(bytes: &[u8]) -> Option<u8> {
    bytes.get(1).copied()
}

/// Type field of an ADVERTISEMENT, the only VRRP packet type (RFC 5798 §5.2.2).
const TYPE_ADVERTISEMENT: u8 = 1;
/// VRRPv2 auth type 2, IP Authentication Header, dropped by RFC 3768 §5.3.6.
const AUTH_TYPE_IP_AH: u8 = 2;
/// The 12-bit Max Advertise Interval of VRRPv3 (RFC 5798 §5.2.7).
const V3_INTERVAL_MASK: u16 = 0x0FFF;
/// Centiseconds per second, the unit step of the VRRPv2 interval.
const CS_PER_SECOND: u16 = 100;

/// The RFC 1071 Internet checksum of the concatenation of `parts`: the one's complement
/// of their one's complement sum. A message whose checksum field is filled in verifies
/// when this returns 0 over the same parts.
pub fn checksum(parts: &[&[u8]]) -> u16 {
    // A u64 accumulator cannot overflow for any slice that fits in memory, so the carries
    // are folded once at the end (RFC 1071 §2(C), deferred carries).
    let mut sum: u64 = 0;
    // A part of odd length leaves its last byte as the high half of the next word.
    let mut pending: Option<u8> = None;
    for part in parts {
        let mut data: &[u8] = part;
        if let Some(high) = pending.take() {
            match data.split_first() {
                Some((&low, rest)) => {
                    sum += u64::from(u16::from_be_bytes([high, low]));
                    data = rest;
                }
                None => {
                    pending = Some(high);
                    continue;
                }
            }
        }
        let (words, rest) = data.as_chunks::<2>();
        for word in words {
            sum += u64::from(u16::from_be_bytes(*word));
        }
        pending = rest.first().copied();
    }
    if let Some(high) = pending {
        sum += u64::from(high) << 8;
    }
    while sum > 0xFFFF {
        sum = (sum & 0xFFFF) + (sum >> 16);
    }
    // The loop above leaves at most 16 bits.
    !u16::try_from(sum).unwrap_or(u16::MAX)
}

/// The pseudo-header that VRRPv3 puts before the message in its checksum: RFC 8200 §8.1
/// for IPv6, the RFC 5798 §5.2.8 reading for IPv4. The family is that of `src`.
struct PseudoHeader {
    bytes: [u8; 40],
    len: usize,
}

impl PseudoHeader {
    fn new(src: IpAddr, dst: IpAddr, message_len: usize) -> PseudoHeader {
        let mut header = PseudoHeader {
            bytes: [0; 40],
            len: 0,
        };
        header.push_addr(src);
        // A destination of the other family is a caller error; it is written as it is so
        // that encode and decode still agree.
        header.push_addr(dst);
        match src {
            IpAddr::V4(_) => {
                // zero, protocol, 16-bit length; VRRP messages are at most 4,096 bytes.
                let len = u16::try_from(message_len).unwrap_or(u16::MAX);
                header.push(&[0, IPPROTO_VRRP]);
                header.push(&len.to_be_bytes());
            }
            IpAddr::V6(_) => {
                // 32-bit upper-layer length, three zero bytes, next header.
                let len = u32::try_from(message_len).unwrap_or(u32::MAX);
                header.push(&len.to_be_bytes());
                header.push(&[0, 0, 0, IPPROTO_VRRP]);
            }
        }
        header
    }

    fn push_addr(&mut self, addr: IpAddr) {
        match addr {
            IpAddr::V4(a) => self.push(&a.octets()),
            IpAddr::V6(a) => self.push(&a.octets()),
        }
    }

    /// At most 16 + 16 + 8 bytes are ever pushed, which is the size of the buffer.
    fn push(&mut self, data: &[u8]) {
        if let Some(slot) = self.bytes.get_mut(self.len..self.len + data.len()) {
            slot.copy_from_slice(data);
            self.len += data.len();
        }
    }

    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&self.bytes)
    }
}

/// Length on the wire of one address of `family`.
fn address_len(family: Family) -> usize {
    match family {
        Family::Ipv4 => 4,
        Family::Ipv6 => 16,
    }
}

/// Decode and validate one advertisement. Never panics, on any input.
///
/// The checks run in a fixed order, so one packet always yields the same error: the TTL
/// first (RFC 5798 §7.1), then the fixed header, the length, the checksum, and last the
/// rules that need a verified packet.
pub fn decode(bytes: &[u8], ip: &IpMeta) -> Result<Decoded, DecodeError> {
    // RFC 3768 §7.1 / RFC 5798 §7.1: anything below 255 was forwarded by a router.
    if ip.ttl != VRRP_TTL {
        return Err(DecodeError::TtlNot255 { ttl: ip.ttl });
    }
    let len = bytes.len();
    let Some((header, body)) = bytes.split_first_chunk::<HEADER_LEN>() else {
        return Err(DecodeError::Truncated { len });
    };

    // RFC 5798 §5.2.1 / RFC 3768 §5.3.1: version in the high nibble.
    let version = match header[0] >> 4 {
        2 => Version::V2,
        3 => Version::V3,
        version => return Err(DecodeError::BadVersion { version }),
    };
    let family = Family::of(&ip.src);
    if version == Version::V2 && family == Family::Ipv6 {
        return Err(DecodeError::VersionFamilyMismatch);
    }
    // RFC 5798 §5.2.2: a packet with unknown type MUST be discarded.
    let packet_type = header[0] & 0x0F;
    if packet_type != TYPE_ADVERTISEMENT {
        return Err(DecodeError::BadType { packet_type });
    }

    // RFC 5798 §7.1: the packet must hold exactly the addresses it counts (RFC 3768
    // §5.3.4: plus the 8-byte authentication trailer in v2).
    let count = header[3];
    let trailer_len = match version {
        Version::V2 => AUTH_DATA_LEN,
        Version::V3 => 0,
    };
    let addresses_len = usize::from(count) * address_len(family);
    let length_mismatch = DecodeError::LengthMismatch { count, len };
    if len != HEADER_LEN + addresses_len + trailer_len {
        return Err(length_mismatch);
    }
    let (address_bytes, auth_data) = body
        .split_at_checked(addresses_len)
        .ok_or_else(|| length_mismatch.clone())?;

    let checksum_form = verify_checksum(bytes, version, ip)?;

    let advertisement = match version {
        Version::V2 => {
            // RFC 3768 §5.3.7: whole seconds. A zero interval is the instance's business
            // (an interval mismatch), not a malformed packet.
            let interval_cs = u16::from(header[5]) * CS_PER_SECOND;
            let auth = match header[4] {
                0 => Auth::None,
                1 => {
                    let data = auth_data
                        .first_chunk::<AUTH_DATA_LEN>()
                        .ok_or(length_mismatch)?;
                    Auth::SimplePassword(*data)
                }
                AUTH_TYPE_IP_AH => return Err(DecodeError::AuthHeaderUnsupported),
                auth_type => return Err(DecodeError::BadAuthType { auth_type }),
            };
            Advertisement {
                version,
                vrid: header[1],
                priority: header[2],
                interval_cs,
                auth,
                addresses: parse_addresses(address_bytes, family),
            }
        }
        Version::V3 => {
            // RFC 9568 erratum 8299: an advertisement must carry at least one address.
            if count == 0 {
                return Err(DecodeError::ZeroCount);
            }
            // RFC 5798 §5.2.5: the 4 reserved bits are ignored on receive.
            let interval_cs = u16::from_be_bytes([header[4], header[5]]) & V3_INTERVAL_MASK;
            // RFC 9568 erratum 8301: a zero interval would make the timers spin.
            if interval_cs == 0 {
                return Err(DecodeError::ZeroInterval);
            }
            // RFC 5798 §5.2.9 asks the sender to put the link-local address first. The
            // receiver does not refuse other lists: keepalived accepts and sends them when
            // configured so, and refusing them splits a mixed group into two Masters.
            // `first_address_is_link_local` lets callers report it.
            let addresses = parse_addresses(address_bytes, family);
            Advertisement {
                version,
                vrid: header[1],
                priority: header[2],
                interval_cs,
                auth: Auth::None,
                addresses,
            }
        }
    };
    Ok(Decoded {
        advertisement,
        checksum_form,
    })
}

/// RFC 3768 §5.3.8 (message only), RFC 5798 §5.2.8 (IPv6 pseudo-header; IPv4 in either
/// form, pseudo-header first, since that is what most deployed peers send).
fn verify_checksum(
    bytes: &[u8],
    version: Version,
    ip: &IpMeta,
) -> Result<Option<ChecksumForm>, DecodeError> {
    let received = peek_checksum(bytes);
    let with_pseudo_header = || {
        let pseudo = PseudoHeader::new(ip.src, ip.dst, bytes.len());
        checksum(&[pseudo.as_bytes(), bytes]) == 0
    };
    let message_only = || checksum(&[bytes]) == 0;
    let form = match (version, Family::of(&ip.src)) {
        (Version::V2, _) => message_only().then_some(None),
        (Version::V3, Family::Ipv6) => with_pseudo_header().then_some(None),
        (Version::V3, Family::Ipv4) => {
            if with_pseudo_header() {
                Some(Some(ChecksumForm::PseudoHeader))
            } else if message_only() {
                Some(Some(ChecksumForm::MessageOnly))
            } else {
                None
            }
        }
    };
    form.ok_or(DecodeError::BadChecksum { received })
}

/// The checksum field (bytes 6-7, both versions), 0 if the packet is too short for it.
fn peek_checksum(bytes: &[u8]) -> u16 {
    match bytes.get(6..8) {
        Some(&[high, low]) => u16::from_be_bytes([high, low]),
        _ => 0,
    }
}

/// The address list; `bytes` holds a whole number of addresses of `family`.
fn parse_addresses(bytes: &[u8], family: Family) -> Vec<IpAddr> {
    match family {
        Family::Ipv4 => {
            let (addresses, _) = bytes.as_chunks::<4>();
            addresses.iter().map(|a| IpAddr::from(*a)).collect()
        }
        Family::Ipv6 => {
            let (addresses, _) = bytes.as_chunks::<16>();
            addresses.iter().map(|a| IpAddr::from(*a)).collect()
        }
    }
}

/// Encode one advertisement for the given source and destination (both needed for the
/// pseudo-header). `form` matters only for VRRPv3 over IPv4.
pub fn encode(
    adv: &Advertisement,
    src: IpAddr,
    dst: IpAddr,
    form: ChecksumForm,
) -> Result<Vec<u8>, EncodeError> {
    let family = Family::of(&src);
    if adv.version == Version::V2 && family == Family::Ipv6 {
        return Err(EncodeError::VersionFamilyMismatch);
    }
    let count = u8::try_from(adv.addresses.len()).map_err(|_| EncodeError::TooManyAddresses)?;
    if adv.addresses.iter().any(|a| Family::of(a) != family) {
        return Err(EncodeError::MixedFamilies);
    }
    let interval_cs = adv.interval_cs;
    let out_of_range = EncodeError::IntervalOutOfRange { interval_cs };
    // Bytes 4-5: auth type and seconds (RFC 3768 §5.3.6-7), or 4 reserved bits and the
    // 12-bit interval in centiseconds (RFC 5798 §5.2.5-7).
    let (word, trailer) = match adv.version {
        Version::V2 => {
            if !interval_cs.is_multiple_of(CS_PER_SECOND) {
                return Err(out_of_range);
            }
            let seconds =
                u8::try_from(interval_cs / CS_PER_SECOND).map_err(|_| out_of_range.clone())?;
            if seconds == 0 {
                return Err(out_of_range);
            }
            let data = match &adv.auth {
                Auth::None => [0; AUTH_DATA_LEN],
                Auth::SimplePassword(data) => *data,
            };
            ([adv.auth.type_number(), seconds], Some(data))
        }
        Version::V3 => {
            if adv.auth != Auth::None {
                return Err(EncodeError::AuthInV3);
            }
            if interval_cs > V3_INTERVAL_MASK {
                return Err(out_of_range);
            }
            (interval_cs.to_be_bytes(), None)
        }
    };

    let len =
        HEADER_LEN + adv.addresses.len() * address_len(family) + trailer.map_or(0, |t| t.len());
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(&[
        adv.version.number() << 4 | TYPE_ADVERTISEMENT,
        adv.vrid,
        adv.priority,
        count,
        word[0],
        word[1],
        0, // checksum, filled in below
        0,
    ]);
    for address in &adv.addresses {
        match address {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
        }
    }
    if let Some(data) = trailer {
        out.extend_from_slice(&data);
    }

    let use_pseudo_header = match (adv.version, family) {
        (Version::V2, _) => false,
        (Version::V3, Family::Ipv6) => true,
        (Version::V3, Family::Ipv4) => form == ChecksumForm::PseudoHeader,
    };
    let sum = if use_pseudo_header {
        let pseudo = PseudoHeader::new(src, dst, out.len());
        checksum(&[pseudo.as_bytes(), &out])
    } else {
        checksum(&[&out])
    };
    if let Some(field) = out.get_mut(6..8) {
        field.copy_from_slice(&sum.to_be_bytes());
    }
    Ok(out)
}
