//! The packet decoder under seeded mutation (vrrp-fuzz): the committed libFuzzer corpus
//! (fuzz/corpus/decode, one selector byte then the VRRP packet, see
//! fuzz/shared/decode_roundtrip.rs) plus packets made by the codec's own encoder (v2 and v3,
//! IPv4 and IPv6, both checksum forms, with and without a correct checksum filled in).
//!
//! Properties: decoding never panics; a decoded packet re-encodes to bytes that decode to
//! the same packet.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::path::Path;

use vrrp_core::packet::{
    Advertisement, Auth, ChecksumForm, MULTICAST_V4, MULTICAST_V6, Version, encode,
};
use vrrp_fuzz::{Campaign, Mutator, read_corpus};

#[path = "../../../fuzz/shared/decode_roundtrip.rs"]
mod decode_roundtrip;

/// Mutants in the ordinary suite (a few seconds in a debug build).
const MUTANTS: u64 = 600_000;

fn advertisement(version: Version, v6: bool, n: usize, auth: Auth) -> Advertisement {
    let addresses = (0..n)
        .map(|i| match v6 {
            false => IpAddr::V4(Ipv4Addr::new(10, 99, 0, i as u8)),
            true if i == 0 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100)),
            true => IpAddr::V6(Ipv6Addr::new(0xfd99, 0, 0, 0, 0, 0, 0, i as u16)),
        })
        .collect();
    Advertisement {
        version,
        vrid: 51,
        priority: 100,
        interval_cs: 100,
        auth,
        addresses,
    }
}

/// Valid packets from the encoder, behind each selector that makes them decode (bit 0:
/// IPv6; bit 1: the fuzz body fills the checksum; bit 2: in the message-only form).
fn encoded() -> Vec<Vec<u8>> {
    let src4 = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1));
    let src6 = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1));
    let pass = Auth::simple_password("secret");
    let mut out = Vec::new();
    let cases = [
        (
            Version::V2,
            false,
            1,
            Auth::None,
            ChecksumForm::MessageOnly,
            0x00,
        ),
        (Version::V2, false, 3, pass, ChecksumForm::MessageOnly, 0x06),
        (
            Version::V3,
            false,
            2,
            Auth::None,
            ChecksumForm::PseudoHeader,
            0x00,
        ),
        (
            Version::V3,
            false,
            1,
            Auth::None,
            ChecksumForm::MessageOnly,
            0x06,
        ),
        (
            Version::V3,
            false,
            20,
            Auth::None,
            ChecksumForm::PseudoHeader,
            0x02,
        ),
        (
            Version::V3,
            true,
            1,
            Auth::None,
            ChecksumForm::PseudoHeader,
            0x01,
        ),
        (
            Version::V3,
            true,
            3,
            Auth::None,
            ChecksumForm::PseudoHeader,
            0x03,
        ),
    ];
    for (version, v6, n, auth, form, selector) in cases {
        let (src, dst) = if v6 {
            (src6, IpAddr::V6(MULTICAST_V6))
        } else {
            (src4, IpAddr::V4(MULTICAST_V4))
        };
        let adv = advertisement(version, v6, n, auth);
        let bytes = encode(&adv, src, dst, form).expect("a valid advertisement encodes");
        out.push([&[selector][..], &bytes].concat());
    }
    out
}

/// The format's tokens: versions and types, auth types, counts, intervals.
const DICTIONARY: &[&[u8]] = &[
    &[0x21],
    &[0x31],
    &[0x20],
    &[0x32],
    &[0x01, 0x00],
    &[0x02],
    &[0xff],
    &[0x00, 0x00],
    &[0x0f, 0xff],
    &[0xfe, 0x80, 0, 0, 0, 0, 0, 0],
    &[224, 0, 0, 18],
    b"secret\0\0",
];

#[test]
fn decoder_mutants_never_panic_and_round_trip() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode");
    let mut corpus = read_corpus(&dir);
    corpus.extend(encoded());
    let mutator = Mutator::new(corpus.clone(), DICTIONARY);
    let report = Campaign::new("packet", MUTANTS, 30).run(&corpus, &mutator, |input| {
        decode_roundtrip::fuzz_decode_roundtrip(input).to_string()
    });
    // The mutants reach both sides of the decoder and most of its rules.
    assert!(report.count("ok") > report.executions / 50, "{report:?}");
    for rule in [
        "bad_checksum",
        "length_mismatch",
        "bad_version",
        "truncated",
    ] {
        assert!(report.count(rule) > 0, "{rule} never reached: {report:?}");
    }
}

#[test]
fn encoded_samples_decode() {
    for sample in encoded() {
        assert_eq!(
            decode_roundtrip::fuzz_decode_roundtrip(&sample),
            "ok",
            "{sample:02x?}"
        );
    }
}
