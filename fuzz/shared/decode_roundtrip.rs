//! The body of the `decode` fuzz target, shared with the corpus replay test
//! (crates/vrrp-core/tests/fuzz_corpus.rs), which includes this file with `#[path]`.
//!
//! It lives here rather than in vrrp-core so that the core's public API holds no test
//! helper; it uses only that public API.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_core::packet::{
    EncodeError, IPPROTO_VRRP, IpMeta, MULTICAST_V4, MULTICAST_V6, VRRP_TTL, Version, checksum,
    decode, encode,
};

/// Addresses the fuzz target puts in [`IpMeta`]; the corpus checksums depend on them.
const FUZZ_V4: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(192, 0, 2, 1), MULTICAST_V4);
const FUZZ_V6: (Ipv6Addr, Ipv6Addr) = (Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1), MULTICAST_V6);

/// Decodes arbitrary bytes; whatever decodes must encode again (in the checksum form it
/// came in) and decode to the same value.
///
/// The first byte picks the IP layer and how to treat the rest, the VRRP packet:
/// - bit 0: IPv6 (src fe80::1, dst ff02::12) if set, else IPv4 (src 192.0.2.1,
///   dst 224.0.0.18);
/// - bit 1: fill in a correct checksum before decoding, so that the fuzzer reaches the
///   checks behind it; bit 2 then picks the message-only form, else the pseudo-header one;
/// - bit 7: the TTL is the byte itself instead of 255.
///
/// Returns the outcome: `"ok"`, `"empty"` or the decode error's name (the seeded fuzz test
/// counts them).
pub(crate) fn fuzz_decode_roundtrip(data: &[u8]) -> &'static str {
    let Some((&selector, packet)) = data.split_first() else {
        return "empty";
    };
    let (src, dst) = if selector & 0x01 == 0 {
        (IpAddr::V4(FUZZ_V4.0), IpAddr::V4(FUZZ_V4.1))
    } else {
        (IpAddr::V6(FUZZ_V6.0), IpAddr::V6(FUZZ_V6.1))
    };
    let ttl = if selector & 0x80 == 0 {
        VRRP_TTL
    } else {
        selector
    };
    let ip = IpMeta { src, dst, ttl };

    let mut packet = packet.to_vec();
    if selector & 0x02 != 0
        && let Some(field) = packet.get_mut(6..8)
    {
        field.fill(0);
        let sum = if selector & 0x04 != 0 {
            checksum(&[&packet])
        } else {
            checksum(&[&pseudo_header(src, dst, packet.len()), &packet])
        };
        if let Some(field) = packet.get_mut(6..8) {
            field.copy_from_slice(&sum.to_be_bytes());
        }
    }

    let decoded = match decode(&packet, &ip) {
        Ok(decoded) => decoded,
        Err(error) => return error.name(),
    };
    let form = decoded.checksum_form.unwrap_or_default();
    let bytes = match encode(&decoded.advertisement, src, dst, form) {
        Ok(bytes) => bytes,
        // A v2 interval of 0 is left to the instance's interval check on receive (RFC 3768
        // §7.1), but it is no interval a router may send.
        Err(EncodeError::IntervalOutOfRange { interval_cs: 0 })
            if decoded.advertisement.version == Version::V2 =>
        {
            return "ok";
        }
        Err(error) => panic!("decoded advertisement does not encode ({error}): {decoded:?}"),
    };
    match decode(&bytes, &ip) {
        Ok(again) => assert_eq!(again, decoded, "re-encoded as {bytes:02x?}"),
        Err(error) => panic!("re-encoded advertisement does not decode ({error}): {bytes:02x?}"),
    }
    "ok"
}

/// The checksum pseudo-header of VRRPv3 (RFC 8200 §8.1 for IPv6, the RFC 5798 §5.2.8
/// reading for IPv4), built here because the core keeps its own private. `src` and `dst`
/// are of one family; the length saturates like the core's, so that "a correct checksum"
/// means the one the decoder verifies.
pub(crate) fn pseudo_header(src: IpAddr, dst: IpAddr, message_len: usize) -> Vec<u8> {
    let mut header = Vec::with_capacity(40);
    for addr in [src, dst] {
        match addr {
            IpAddr::V4(a) => header.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => header.extend_from_slice(&a.octets()),
        }
    }
    match src {
        IpAddr::V4(_) => {
            // zero, protocol, 16-bit length.
            let len = u16::try_from(message_len).unwrap_or(u16::MAX);
            header.extend_from_slice(&[0, IPPROTO_VRRP]);
            header.extend_from_slice(&len.to_be_bytes());
        }
        IpAddr::V6(_) => {
            // 32-bit upper-layer length, three zero bytes, next header.
            let len = u32::try_from(message_len).unwrap_or(u32::MAX);
            header.extend_from_slice(&len.to_be_bytes());
            header.extend_from_slice(&[0, 0, 0, IPPROTO_VRRP]);
        }
    }
    header
}
