//! Replays the `decode` fuzz corpus (fuzz/corpus/decode) through the fuzz target's own
//! body, so that every input the fuzzer found interesting stays a regression test under
//! plain `cargo test`, on stable, without cargo-fuzz.

use std::fs;
use std::path::Path;

// The fuzz target's body, kept outside vrrp-core so that the core's API holds no test helper.
#[path = "../../../fuzz/shared/decode_roundtrip.rs"]
mod decode_roundtrip;

use decode_roundtrip::fuzz_decode_roundtrip;

#[test]
fn fuzz_corpus_decode_replays_cleanly() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/decode");
    let entries = fs::read_dir(&dir)
        .unwrap_or_else(|error| panic!("cannot read the corpus at {}: {error}", dir.display()));
    let mut replayed = 0;
    for entry in entries {
        let path = entry.expect("corpus entry").path();
        if !path.is_file() {
            continue;
        }
        let data = fs::read(&path).expect("corpus file");
        // On a failure the panic names the file, so it can be fed to the fuzz target.
        eprintln!("replaying {}", path.display());
        fuzz_decode_roundtrip(&data);
        replayed += 1;
    }
    assert!(replayed > 0, "the corpus at {} is empty", dir.display());
}

/// The fuzz body fills in pseudo-header checksums with its own pseudo-header (the core's is
/// private). Were it wrong, those inputs would just fail to decode and the fuzzer would
/// silently stop reaching the checks behind the checksum, so it is checked against two of
/// the hand-computed vectors of tests/codec.rs, sent between the fuzz target's addresses.
#[test]
fn fuzz_pseudo_header_matches_the_codec_vectors() {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    use vrrp_core::packet::{MULTICAST_V4, MULTICAST_V6, checksum};

    let v4: (IpAddr, IpAddr, &[u8], u16) = (
        Ipv4Addr::new(192, 0, 2, 1).into(),
        MULTICAST_V4.into(),
        &[
            0x31, 0x0a, 0xc8, 0x01, 0x00, 0x64, 0, 0, 0xc0, 0x00, 0x02, 0x64,
        ],
        0xa19a,
    );
    let v6: (IpAddr, IpAddr, &[u8], u16) = (
        Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1).into(),
        MULTICAST_V6.into(),
        &[
            0x31, 0x0a, 0xff, 0x02, 0x00, 0x64, 0, 0, // header, checksum zeroed
            0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // fe80::100
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x00, // 2001:db8::100
        ],
        0xa325,
    );
    for (src, dst, message, expected) in [v4, v6] {
        let header = decode_roundtrip::pseudo_header(src, dst, message.len());
        assert_eq!(checksum(&[&header, message]), expected, "{src} -> {dst}");
    }
}
