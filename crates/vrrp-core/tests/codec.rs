//! Codec tests: hand-checked test vectors, one test per receive rule, and properties.
//!
//! The test vectors' checksums were computed once with an independent RFC 1071
//! implementation in Python 3 (sum the big-endian 16-bit words of pseudo-header + message
//! with the checksum field zeroed, fold the carries, complement), then pasted here:
//!
//! ```text
//! def csum(b):
//!     if len(b) % 2: b += b'\0'
//!     s = sum(struct.unpack('!%dH' % (len(b) // 2), b))
//!     while s >> 16: s = (s & 0xffff) + (s >> 16)
//!     return ~s & 0xffff
//! ```
//!
//! The IPv4 vectors travel from 192.0.2.1 to 224.0.0.18 and the IPv6 one from fe80::1 to
//! ff02::12, the addresses the fuzz target uses, so that they also seed its corpus.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use proptest::sample::Index;
use vrrp_core::packet::{
    Advertisement, Auth, ChecksumForm, DecodeError, Decoded, EncodeError, Family, IpMeta,
    MULTICAST_V4, MULTICAST_V6, Version, checksum, decode, encode,
};

// ---------------------------------------------------------------------------------------
// Test vectors

/// VRRPv2, VRID 1, priority 100, 1 s, auth type 0, 192.0.2.100.
const V2_NO_AUTH: [u8; 20] = [
    0x21, 0x01, 0x64, 0x01, 0x00, 0x01, 0xb8, 0x97, // header, checksum 0xb897
    0xc0, 0x00, 0x02, 0x64, // 192.0.2.100
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // auth data
];

/// VRRPv2, VRID 51, priority 150, 3 s, auth type 1 "secret", 192.0.2.100 and .101.
const V2_PASS: [u8; 24] = [
    0x21, 0x33, 0x96, 0x02, 0x01, 0x03, 0x86, 0xb0, // header, checksum 0x86b0
    0xc0, 0x00, 0x02, 0x64, // 192.0.2.100
    0xc0, 0x00, 0x02, 0x65, // 192.0.2.101
    0x73, 0x65, 0x63, 0x72, 0x65, 0x74, 0x00, 0x00, // "secret\0\0"
];

/// VRRPv3 over IPv4, VRID 10, priority 200, 100 cs, 192.0.2.100; checksum over the
/// pseudo-header (RFC 5798 §5.2.8 as keepalived and FRR read it).
const V3_V4_PSEUDO_HEADER: [u8; 12] = [
    0x31, 0x0a, 0xc8, 0x01, 0x00, 0x64, 0xa1, 0x9a, // header, checksum 0xa19a
    0xc0, 0x00, 0x02, 0x64, // 192.0.2.100
];

/// The same advertisement, checksum over the message only (RFC 9568 §5.2.8).
const V3_V4_MESSAGE_ONLY: [u8; 12] = [
    0x31, 0x0a, 0xc8, 0x01, 0x00, 0x64, 0x44, 0x2b, // header, checksum 0x442b
    0xc0, 0x00, 0x02, 0x64, // 192.0.2.100
];

/// VRRPv3 over IPv6, VRID 10, priority 255, 100 cs, fe80::100 and 2001:db8::100.
const V3_V6: [u8; 40] = [
    0x31, 0x0a, 0xff, 0x02, 0x00, 0x64, 0xa3, 0x25, // header, checksum 0xa325
    0xfe, 0x80, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, // fe80::100
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
    0x20, 0x01, 0x0d, 0xb8, 0x00, 0x00, 0x00, 0x00, // 2001:db8::100
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, //
];

const SRC_V4: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const SRC_V6: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1);

fn ip_v4() -> IpMeta {
    IpMeta {
        src: SRC_V4.into(),
        dst: MULTICAST_V4.into(),
        ttl: 255,
    }
}

fn ip_v6() -> IpMeta {
    IpMeta {
        src: SRC_V6.into(),
        dst: MULTICAST_V6.into(),
        ttl: 255,
    }
}

fn v4(text: &str) -> IpAddr {
    IpAddr::V4(text.parse().expect("test address"))
}

fn v6(text: &str) -> IpAddr {
    IpAddr::V6(text.parse().expect("test address"))
}

fn v3_v4_advertisement() -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid: 10,
        priority: 200,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![v4("192.0.2.100")],
    }
}

/// Decodes `bytes`, checks the result, and checks that encoding it gives `bytes` back.
fn assert_vector(bytes: &[u8], ip: &IpMeta, expected: Decoded) {
    let decoded = decode(bytes, ip).expect("test vector decodes");
    assert_eq!(decoded, expected);
    let form = expected.checksum_form.unwrap_or_default();
    let encoded = encode(&expected.advertisement, ip.src, ip.dst, form).expect("encodes");
    assert_eq!(encoded, bytes);
}

#[test]
fn vector_v2_ipv4_no_auth() {
    let advertisement = Advertisement {
        version: Version::V2,
        vrid: 1,
        priority: 100,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![v4("192.0.2.100")],
    };
    let expected = Decoded {
        advertisement,
        checksum_form: None,
    };
    assert_vector(&V2_NO_AUTH, &ip_v4(), expected);
}

#[test]
fn vector_v2_ipv4_simple_password() {
    let advertisement = Advertisement {
        version: Version::V2,
        vrid: 51,
        priority: 150,
        interval_cs: 300,
        auth: Auth::simple_password("secret"),
        addresses: vec![v4("192.0.2.100"), v4("192.0.2.101")],
    };
    let expected = Decoded {
        advertisement,
        checksum_form: None,
    };
    assert_vector(&V2_PASS, &ip_v4(), expected);
}

#[test]
fn vector_v3_ipv4_pseudo_header() {
    let expected = Decoded {
        advertisement: v3_v4_advertisement(),
        checksum_form: Some(ChecksumForm::PseudoHeader),
    };
    assert_vector(&V3_V4_PSEUDO_HEADER, &ip_v4(), expected);
}

#[test]
fn vector_v3_ipv4_message_only() {
    let expected = Decoded {
        advertisement: v3_v4_advertisement(),
        checksum_form: Some(ChecksumForm::MessageOnly),
    };
    assert_vector(&V3_V4_MESSAGE_ONLY, &ip_v4(), expected);
}

#[test]
fn vector_v3_ipv6() {
    let advertisement = Advertisement {
        version: Version::V3,
        vrid: 10,
        priority: 255,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![v6("fe80::100"), v6("2001:db8::100")],
    };
    let expected = Decoded {
        advertisement,
        checksum_form: None,
    };
    assert_vector(&V3_V6, &ip_v6(), expected);
}

#[test]
fn rfc1071_3_checksum_example() {
    // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2, so the checksum is 220d;
    // the split into parts (one of odd length) must not change the result.
    let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
    assert_eq!(checksum(&[&data]), 0x220d);
    assert_eq!(checksum(&[&data[..3], &[], &data[3..]]), 0x220d);
    // An odd trailing byte is padded with zero.
    assert_eq!(checksum(&[&[0x12]]), !0x1200);
}

// ---------------------------------------------------------------------------------------
// Helpers to build packets that break exactly one rule

/// The pseudo-header of RFC 8200 §8.1 / RFC 5798 §5.2.8, written out independently of
/// the codec.
fn pseudo_header(ip: &IpMeta, len: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for addr in [ip.src, ip.dst] {
        match addr {
            IpAddr::V4(a) => out.extend_from_slice(&a.octets()),
            IpAddr::V6(a) => out.extend_from_slice(&a.octets()),
        }
    }
    match ip.src {
        IpAddr::V4(_) => {
            out.extend_from_slice(&[0, 112]);
            out.extend_from_slice(&(len as u16).to_be_bytes());
        }
        IpAddr::V6(_) => {
            out.extend_from_slice(&(len as u32).to_be_bytes());
            out.extend_from_slice(&[0, 0, 0, 112]);
        }
    }
    out
}

/// Fills in the checksum of `packet` in the given form.
fn seal(mut packet: Vec<u8>, ip: &IpMeta, form: ChecksumForm) -> Vec<u8> {
    packet[6..8].copy_from_slice(&[0, 0]);
    let sum = match form {
        ChecksumForm::MessageOnly => checksum(&[&packet]),
        ChecksumForm::PseudoHeader => checksum(&[&pseudo_header(ip, packet.len()), &packet]),
    };
    packet[6..8].copy_from_slice(&sum.to_be_bytes());
    packet
}

fn seal_v2(packet: Vec<u8>) -> Vec<u8> {
    seal(packet, &ip_v4(), ChecksumForm::MessageOnly)
}

// ---------------------------------------------------------------------------------------
// One test per receive rule (DecodeError variant)

#[test]
fn rfc5798_7_1_ttl_must_be_255() {
    for ttl in [0, 1, 64, 254] {
        let ip = IpMeta { ttl, ..ip_v4() };
        assert_eq!(
            decode(&V3_V4_PSEUDO_HEADER, &ip),
            Err(DecodeError::TtlNot255 { ttl })
        );
        // Checked first: it is the rule that says the packet came from off-link.
        assert_eq!(decode(&[], &ip), Err(DecodeError::TtlNot255 { ttl }));
    }
    let ip = IpMeta { ttl: 64, ..ip_v6() };
    assert_eq!(decode(&V3_V6, &ip), Err(DecodeError::TtlNot255 { ttl: 64 }));
}

#[test]
fn rfc5798_7_1_shorter_than_header_is_truncated() {
    for len in 0..8 {
        assert_eq!(
            decode(&V3_V4_PSEUDO_HEADER[..len], &ip_v4()),
            Err(DecodeError::Truncated { len })
        );
    }
}

#[test]
fn rfc5798_5_2_1_version_must_be_2_or_3() {
    for version in [0u8, 1, 4, 15] {
        let mut packet = V3_V4_PSEUDO_HEADER;
        packet[0] = version << 4 | 1;
        assert_eq!(
            decode(&packet, &ip_v4()),
            Err(DecodeError::BadVersion { version })
        );
    }
}

#[test]
fn rfc3768_5_vrrpv2_exists_only_over_ipv4() {
    let mut packet = V3_V6;
    packet[0] = 0x21;
    assert_eq!(
        decode(&packet, &ip_v6()),
        Err(DecodeError::VersionFamilyMismatch)
    );
}

#[test]
fn rfc5798_5_2_2_type_must_be_advertisement() {
    for packet_type in [0u8, 2, 15] {
        let mut packet = V3_V4_PSEUDO_HEADER;
        packet[0] = 0x30 | packet_type;
        assert_eq!(
            decode(&packet, &ip_v4()),
            Err(DecodeError::BadType { packet_type })
        );
    }
}

#[test]
fn rfc5798_7_1_length_must_match_address_count() {
    // One byte short, one byte long, and a count that claims two addresses.
    let short = &V3_V4_PSEUDO_HEADER[..11];
    assert_eq!(
        decode(short, &ip_v4()),
        Err(DecodeError::LengthMismatch { count: 1, len: 11 })
    );
    let mut long = V3_V4_PSEUDO_HEADER.to_vec();
    long.push(0);
    assert_eq!(
        decode(&long, &ip_v4()),
        Err(DecodeError::LengthMismatch { count: 1, len: 13 })
    );
    let mut two = V3_V4_PSEUDO_HEADER;
    two[3] = 2;
    assert_eq!(
        decode(&two, &ip_v4()),
        Err(DecodeError::LengthMismatch { count: 2, len: 12 })
    );
    // RFC 3768 §5.3.10: v2 ends in 8 bytes of authentication data.
    assert_eq!(
        decode(&V2_NO_AUTH[..12], &ip_v4()),
        Err(DecodeError::LengthMismatch { count: 1, len: 12 })
    );
    // The address length follows the IP header's family: 16 bytes each over IPv6.
    assert_eq!(
        decode(&V3_V6[..24], &ip_v6()),
        Err(DecodeError::LengthMismatch { count: 2, len: 24 })
    );
}

#[test]
fn rfc5798_5_2_8_checksum_must_verify() {
    let mut packet = V3_V4_PSEUDO_HEADER;
    packet[7] ^= 0x01;
    assert_eq!(
        decode(&packet, &ip_v4()),
        Err(DecodeError::BadChecksum { received: 0xa19b })
    );
    // RFC 3768 §5.3.8: v2 sums the message only; a pseudo-header checksum is wrong there.
    let mut v2 = V2_NO_AUTH.to_vec();
    v2[6..8].copy_from_slice(&[0, 0]);
    let sum = checksum(&[&pseudo_header(&ip_v4(), v2.len()), &v2]);
    v2[6..8].copy_from_slice(&sum.to_be_bytes());
    assert_eq!(
        decode(&v2, &ip_v4()),
        Err(DecodeError::BadChecksum { received: sum })
    );
    // RFC 5798 §5.2.8: over IPv6 only the pseudo-header form exists.
    let message_only = seal(V3_V6.to_vec(), &ip_v6(), ChecksumForm::MessageOnly);
    assert!(matches!(
        decode(&message_only, &ip_v6()),
        Err(DecodeError::BadChecksum { .. })
    ));
    // The pseudo-header covers the IP addresses: another source fails.
    let ip = IpMeta {
        src: v4("192.0.2.2"),
        ..ip_v4()
    };
    assert_eq!(
        decode(&V3_V4_PSEUDO_HEADER, &ip),
        Err(DecodeError::BadChecksum { received: 0xa19a })
    );
}

#[test]
fn rfc9568_erratum_8299_v3_address_count_must_not_be_zero() {
    let packet = seal(
        vec![0x31, 10, 200, 0, 0x00, 100, 0, 0],
        &ip_v4(),
        ChecksumForm::PseudoHeader,
    );
    assert_eq!(decode(&packet, &ip_v4()), Err(DecodeError::ZeroCount));
    let packet = seal(
        vec![0x31, 10, 200, 0, 0x00, 100, 0, 0],
        &ip_v6(),
        ChecksumForm::PseudoHeader,
    );
    assert_eq!(decode(&packet, &ip_v6()), Err(DecodeError::ZeroCount));
}

#[test]
fn rfc9568_erratum_8301_v3_interval_must_not_be_zero() {
    let mut packet = V3_V4_PSEUDO_HEADER.to_vec();
    packet[4..6].copy_from_slice(&[0x00, 0x00]);
    let packet = seal(packet, &ip_v4(), ChecksumForm::MessageOnly);
    assert_eq!(decode(&packet, &ip_v4()), Err(DecodeError::ZeroInterval));
    // The reserved bits are not part of the interval (RFC 5798 §5.2.5).
    let mut packet = V3_V4_PSEUDO_HEADER.to_vec();
    packet[4..6].copy_from_slice(&[0xf0, 0x00]);
    let packet = seal(packet, &ip_v4(), ChecksumForm::PseudoHeader);
    assert_eq!(decode(&packet, &ip_v4()), Err(DecodeError::ZeroInterval));
}

#[test]
fn rfc5798_5_2_9_first_ipv6_address_not_link_local_is_accepted_and_reported() {
    let with_first = |first: Ipv6Addr| {
        let mut packet = V3_V6.to_vec();
        packet[8..24].copy_from_slice(&first.octets());
        seal(packet, &ip_v6(), ChecksumForm::PseudoHeader)
    };
    // Accepted (keepalived sends such lists when configured so), and reported.
    for bad in ["2001:db8::100", "fec0::1", "fe00::1", "::1"] {
        let packet = with_first(bad.parse().expect("test address"));
        let decoded = decode(&packet, &ip_v6()).expect(bad);
        assert!(
            !vrrp_core::packet::first_address_is_link_local(&decoded.advertisement),
            "{bad}"
        );
    }
    // fe80::/10 reaches up to febf:ffff:...
    for good in ["fe80::1", "febf::1"] {
        let packet = with_first(good.parse().expect("test address"));
        assert!(decode(&packet, &ip_v6()).is_ok(), "{good}");
    }
}

#[test]
fn rfc3768_5_3_6_auth_type_2_ip_ah_is_unsupported() {
    let mut packet = V2_PASS.to_vec();
    packet[4] = 2;
    let packet = seal_v2(packet);
    assert_eq!(
        decode(&packet, &ip_v4()),
        Err(DecodeError::AuthHeaderUnsupported)
    );
}

#[test]
fn rfc3768_5_3_6_unknown_auth_type_is_discarded() {
    for auth_type in [3u8, 4, 255] {
        let mut packet = V2_PASS.to_vec();
        packet[4] = auth_type;
        let packet = seal_v2(packet);
        assert_eq!(
            decode(&packet, &ip_v4()),
            Err(DecodeError::BadAuthType { auth_type })
        );
    }
}

// ---------------------------------------------------------------------------------------
// What is accepted, and the encoder's rules

#[test]
fn rfc3768_5_3_4_v2_address_count_zero_is_accepted() {
    // RFC 3768 does not forbid it (only VRRPv3 gained erratum 8299).
    let packet = seal_v2(vec![0x21, 1, 100, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    let decoded = decode(&packet, &ip_v4()).expect("decodes");
    assert!(decoded.advertisement.addresses.is_empty());
    let encoded = encode(
        &decoded.advertisement,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    );
    assert_eq!(encoded, Ok(packet));
}

#[test]
fn rfc3768_7_1_v2_zero_interval_is_left_to_the_instance() {
    // The receive rule is "interval matches the local one" (an instance check); the packet
    // itself is well formed. A router may not send it, though.
    let mut packet = V2_NO_AUTH.to_vec();
    packet[5] = 0;
    let packet = seal_v2(packet);
    let decoded = decode(&packet, &ip_v4()).expect("decodes");
    assert_eq!(decoded.advertisement.interval_cs, 0);
    assert_eq!(
        encode(
            &decoded.advertisement,
            SRC_V4.into(),
            MULTICAST_V4.into(),
            ChecksumForm::default()
        ),
        Err(EncodeError::IntervalOutOfRange { interval_cs: 0 })
    );
}

#[test]
fn rfc3768_5_3_7_v2_interval_is_whole_seconds() {
    let mut packet = V2_NO_AUTH.to_vec();
    packet[5] = 255;
    let packet = seal_v2(packet);
    let decoded = decode(&packet, &ip_v4()).expect("decodes");
    assert_eq!(decoded.advertisement.interval_cs, 25500);
    let encoded = encode(
        &decoded.advertisement,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    );
    assert_eq!(encoded, Ok(packet));
}

#[test]
fn rfc3768_5_3_6_auth_type_0_ignores_auth_data() {
    let mut packet = V2_NO_AUTH.to_vec();
    packet[12..20].copy_from_slice(b"garbage!");
    let packet = seal_v2(packet);
    let decoded = decode(&packet, &ip_v4()).expect("decodes");
    assert_eq!(decoded.advertisement.auth, Auth::None);
    // Sent with zero auth data.
    let encoded = encode(
        &decoded.advertisement,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    )
    .expect("encodes");
    assert_eq!(encoded, V2_NO_AUTH);
}

#[test]
fn rfc5798_5_2_5_reserved_bits_are_ignored_on_receive_and_zero_on_send() {
    let mut packet = V3_V4_PSEUDO_HEADER.to_vec();
    packet[4] |= 0xf0;
    let packet = seal(packet, &ip_v4(), ChecksumForm::PseudoHeader);
    let decoded = decode(&packet, &ip_v4()).expect("decodes");
    assert_eq!(decoded.advertisement, v3_v4_advertisement());
    let encoded = encode(
        &decoded.advertisement,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::PseudoHeader,
    )
    .expect("encodes");
    assert_eq!(encoded, V3_V4_PSEUDO_HEADER);
}

#[test]
fn rfc5798_5_2_8_pseudo_header_form_wins_when_both_verify() {
    // When the pseudo-header sums to (negative) zero, both forms verify the same bytes;
    // the decoder reports the pseudo-header form, which it tries first. 31.113.0.0 makes
    // 0x1f71 + 0x0000 + 0xe000 + 0x0012 + 0x0070 + 12 = 0xffff.
    let src = v4("31.113.0.0");
    let ip = IpMeta { src, ..ip_v4() };
    let bytes = encode(
        &v3_v4_advertisement(),
        src,
        MULTICAST_V4.into(),
        ChecksumForm::MessageOnly,
    )
    .expect("encodes");
    assert_eq!(bytes, V3_V4_MESSAGE_ONLY);
    let decoded = decode(&bytes, &ip).expect("decodes");
    assert_eq!(decoded.checksum_form, Some(ChecksumForm::PseudoHeader));
}

#[test]
fn encode_refuses_more_than_255_addresses() {
    let mut adv = v3_v4_advertisement();
    adv.addresses = (0..256u32).map(|n| IpAddr::V4(Ipv4Addr::from(n))).collect();
    let result = encode(
        &adv,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    );
    assert_eq!(result, Err(EncodeError::TooManyAddresses));
    adv.addresses.pop();
    let bytes = encode(
        &adv,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    )
    .expect("255 addresses fit");
    assert_eq!(bytes.len(), 8 + 255 * 4);
}

#[test]
fn encode_refuses_mixed_families() {
    let mut adv = v3_v4_advertisement();
    adv.addresses.push(v6("fe80::1"));
    let result = encode(
        &adv,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    );
    assert_eq!(result, Err(EncodeError::MixedFamilies));
    // The family is the source's, even when all addresses agree with each other.
    let adv = v3_v4_advertisement();
    let result = encode(
        &adv,
        SRC_V6.into(),
        MULTICAST_V6.into(),
        ChecksumForm::default(),
    );
    assert_eq!(result, Err(EncodeError::MixedFamilies));
}

#[test]
fn encode_refuses_v2_over_ipv6() {
    let adv = Advertisement {
        version: Version::V2,
        vrid: 1,
        priority: 100,
        interval_cs: 100,
        auth: Auth::None,
        addresses: vec![v6("fe80::1")],
    };
    let result = encode(
        &adv,
        SRC_V6.into(),
        MULTICAST_V6.into(),
        ChecksumForm::default(),
    );
    assert_eq!(result, Err(EncodeError::VersionFamilyMismatch));
}

#[test]
fn encode_refuses_intervals_the_wire_cannot_carry() {
    let mut v2 = decode(&V2_NO_AUTH, &ip_v4())
        .expect("decodes")
        .advertisement;
    for interval_cs in [0, 50, 150, 25600, u16::MAX] {
        v2.interval_cs = interval_cs;
        let result = encode(
            &v2,
            SRC_V4.into(),
            MULTICAST_V4.into(),
            ChecksumForm::default(),
        );
        assert_eq!(result, Err(EncodeError::IntervalOutOfRange { interval_cs }));
    }
    let mut v3 = v3_v4_advertisement();
    v3.interval_cs = 4095;
    assert!(
        encode(
            &v3,
            SRC_V4.into(),
            MULTICAST_V4.into(),
            ChecksumForm::default()
        )
        .is_ok()
    );
    v3.interval_cs = 4096;
    let result = encode(
        &v3,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    );
    assert_eq!(
        result,
        Err(EncodeError::IntervalOutOfRange { interval_cs: 4096 })
    );
}

#[test]
fn encode_refuses_auth_in_v3() {
    let mut adv = v3_v4_advertisement();
    adv.auth = Auth::simple_password("secret");
    let result = encode(
        &adv,
        SRC_V4.into(),
        MULTICAST_V4.into(),
        ChecksumForm::default(),
    );
    assert_eq!(result, Err(EncodeError::AuthInV3));
}

// ---------------------------------------------------------------------------------------
// Properties

fn ipv4() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 4]>().prop_map(|o| IpAddr::V4(Ipv4Addr::from(o)))
}

fn ipv6() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|o| IpAddr::V6(Ipv6Addr::from(o)))
}

/// An address in fe80::/10.
fn ipv6_link_local() -> impl Strategy<Value = IpAddr> {
    any::<[u8; 16]>().prop_map(|mut o| {
        o[0] = 0xfe;
        o[1] = 0x80 | (o[1] & 0x3f);
        IpAddr::V6(Ipv6Addr::from(o))
    })
}

fn any_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![ipv4(), ipv6()]
}

fn form() -> impl Strategy<Value = ChecksumForm> {
    prop_oneof![
        Just(ChecksumForm::PseudoHeader),
        Just(ChecksumForm::MessageOnly)
    ]
}

fn valid_v2() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    (
        any::<(u8, u8)>(),
        1u16..=255,
        prop_oneof![
            Just(Auth::None),
            any::<[u8; 8]>().prop_map(Auth::SimplePassword)
        ],
        prop::collection::vec(ipv4(), 0..=255),
        ipv4(),
        ipv4(),
    )
        .prop_map(|((vrid, priority), seconds, auth, addresses, src, dst)| {
            let adv = Advertisement {
                version: Version::V2,
                vrid,
                priority,
                interval_cs: seconds * 100,
                auth,
                addresses,
            };
            (adv, src, dst)
        })
}

fn valid_v3_v4() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    (
        any::<(u8, u8)>(),
        1u16..=4095,
        prop::collection::vec(ipv4(), 1..=255),
        ipv4(),
        ipv4(),
    )
        .prop_map(|((vrid, priority), interval_cs, addresses, src, dst)| {
            let adv = Advertisement {
                version: Version::V3,
                vrid,
                priority,
                interval_cs,
                auth: Auth::None,
                addresses,
            };
            (adv, src, dst)
        })
}

fn valid_v3_v6() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    (
        any::<(u8, u8)>(),
        1u16..=4095,
        ipv6_link_local(),
        prop::collection::vec(ipv6(), 0..=254),
        ipv6(),
        ipv6(),
    )
        .prop_map(|((vrid, priority), interval_cs, first, rest, src, dst)| {
            let mut addresses = vec![first];
            addresses.extend(rest);
            let adv = Advertisement {
                version: Version::V3,
                vrid,
                priority,
                interval_cs,
                auth: Auth::None,
                addresses,
            };
            (adv, src, dst)
        })
}

/// Every advertisement the decoder accepts and the encoder can send: (advertisement,
/// source, destination), source and destination of the advertisement's family.
fn valid() -> impl Strategy<Value = (Advertisement, IpAddr, IpAddr)> {
    prop_oneof![valid_v2(), valid_v3_v4(), valid_v3_v6()]
}

/// Whether the IPv4 pseudo-header alone sums to zero, so that both checksum forms verify
/// the same bytes (see `rfc5798_5_2_8_pseudo_header_form_wins_when_both_verify`).
fn both_forms_verify(ip: &IpMeta, len: usize) -> bool {
    matches!(checksum(&[&pseudo_header(ip, len)]), 0 | 0xffff)
}

/// The checksum form the decoder must report for a packet encoded in `form`.
fn expected_form(
    version: Version,
    ip: &IpMeta,
    form: ChecksumForm,
    len: usize,
) -> Option<ChecksumForm> {
    match (version, Family::of(&ip.src)) {
        (Version::V3, Family::Ipv4) if both_forms_verify(ip, len) => {
            Some(ChecksumForm::PseudoHeader)
        }
        (Version::V3, Family::Ipv4) => Some(form),
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn encode_then_decode_is_identity((adv, src, dst) in valid(), form in form()) {
        let ip = IpMeta { src, dst, ttl: 255 };
        let bytes = encode(&adv, src, dst, form).expect("valid advertisements encode");
        let decoded = decode(&bytes, &ip).expect("encoded advertisements decode");
        prop_assert_eq!(&decoded.advertisement, &adv);
        prop_assert_eq!(decoded.checksum_form, expected_form(adv.version, &ip, form, bytes.len()));
        // And back to the same bytes.
        let again = encode(&decoded.advertisement, src, dst, form).expect("encodes");
        prop_assert_eq!(again, bytes);
    }

    #[test]
    fn decode_never_panics(
        bytes in prop::collection::vec(any::<u8>(), 0..600),
        src in any_ip(),
        dst in any_ip(),
        ttl in prop_oneof![Just(255u8), any::<u8>()],
    ) {
        let _ = decode(&bytes, &IpMeta { src, dst, ttl });
    }

    /// Arbitrary bytes behind a plausible header, with a correct checksum, so that the
    /// checks after the checksum see arbitrary input too. Whatever decodes re-encodes.
    #[test]
    fn decode_of_checksummed_noise_roundtrips(
        first in prop_oneof![Just(0x21u8), Just(0x31u8), any::<u8>()],
        header in any::<[u8; 4]>(),
        count in prop_oneof![0u8..=3, any::<u8>()],
        body in prop::collection::vec(any::<u8>(), 0..=64),
        src in any_ip(),
        dst in any_ip(),
        form in form(),
    ) {
        let ip = IpMeta { src, dst, ttl: 255 };
        let address_len = if src.is_ipv4() { 4 } else { 16 };
        let trailer = if first >> 4 == 2 { 8 } else { 0 };
        let len = usize::from(count) * address_len + trailer;
        let mut packet = vec![first, header[0], header[1], count, header[2], header[3], 0, 0];
        packet.extend(body.iter().copied().cycle().take(len));
        packet.resize(8 + len, 0);
        let packet = seal(packet, &ip, form);
        if let Ok(decoded) = decode(&packet, &ip) {
            let form = decoded.checksum_form.unwrap_or_default();
            match encode(&decoded.advertisement, src, dst, form) {
                Ok(bytes) => prop_assert_eq!(decode(&bytes, &ip), Ok(decoded)),
                Err(error) => prop_assert_eq!(
                    (decoded.advertisement.version, error),
                    (Version::V2, EncodeError::IntervalOutOfRange { interval_cs: 0 })
                ),
            }
        }
    }

    /// The checksum covers the whole message, and one bit flip always changes a one's
    /// complement sum, so a flipped packet never verifies in the form it was sent in. For
    /// VRRPv2 and IPv6 there is no other form: it never decodes. For VRRPv3 over IPv4 the
    /// flip can make the other form verify (about once in 2^16 packets); it then decodes,
    /// but reports the other form, so it never passes silently as the original.
    #[test]
    fn single_bit_flip_never_decodes_silently(
        (adv, src, dst) in valid(),
        form in form(),
        bit in any::<Index>(),
    ) {
        let ip = IpMeta { src, dst, ttl: 255 };
        let mut bytes = encode(&adv, src, dst, form).expect("encodes");
        let original = decode(&bytes, &ip).expect("decodes");
        let bit = bit.index(bytes.len() * 8);
        bytes[bit / 8] ^= 1 << (bit % 8);
        match decode(&bytes, &ip) {
            Err(_) => {}
            Ok(flipped) => {
                prop_assert_eq!((adv.version, Family::of(&src)), (Version::V3, Family::Ipv4));
                prop_assert_ne!(flipped.checksum_form, original.checksum_form);
            }
        }
    }

    /// Over IPv6 the pseudo-header also covers the source and destination: a packet that
    /// claims another sender (one bit off) does not verify.
    #[test]
    fn ipv6_pseudo_header_flip_never_decodes(
        (adv, src, dst) in valid_v3_v6(),
        bit in 0usize..256,
    ) {
        let bytes = encode(&adv, src, dst, ChecksumForm::default()).expect("encodes");
        let flip = |addr: IpAddr, bit: usize| match addr {
            IpAddr::V6(a) => {
                let mut o = a.octets();
                o[bit / 8] ^= 1 << (bit % 8);
                IpAddr::V6(Ipv6Addr::from(o))
            }
            other => other,
        };
        let ip = if bit < 128 {
            IpMeta { src: flip(src, bit), dst, ttl: 255 }
        } else {
            IpMeta { src, dst: flip(dst, bit - 128), ttl: 255 }
        };
        let result = decode(&bytes, &ip);
        prop_assert!(matches!(result, Err(DecodeError::BadChecksum { .. })), "{:?}", result);
    }
}
