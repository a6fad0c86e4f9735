//! Arbitrary bytes never panic the capture readers, the frame parser or the record
//! builder (a quick proptest standing in for a fuzzer).

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use proptest::prelude::*;
use vrrpctl::capture::{CaptureReader, Timestamp};
use vrrpctl::frame::{VrrpPacket, parse_frame};
use vrrpctl::record::Record;
use vrrpctl::summary::Summary;

const LINKTYPES: [u32; 7] = [1, 101, 113, 228, 229, 276, 0];

/// Reads a whole stream, bounded by the number of frames that could fit.
fn read_all(bytes: &[u8]) {
    let Ok(reader) = CaptureReader::new(Cursor::new(bytes.to_vec())) else {
        return;
    };
    let mut summary = Summary::default();
    for frame in reader.take(bytes.len() + 1) {
        let Ok(frame) = frame else {
            break;
        };
        let _ = frame.time.rfc3339();
        if let Some(pkt) = parse_frame(frame.linktype, &frame.data) {
            let rec = Record::from_packet(frame.time, &pkt);
            let _ = rec.to_text(true);
            let _ = serde_json::to_string(&rec.to_json()).unwrap();
            summary.add(&rec);
        }
    }
    let _ = summary.to_text(true);
    let _ = serde_json::to_string(&summary.to_json(false)).unwrap();
}

/// File headers that get past the magic check, so the fuzzer reaches records and blocks.
fn header(kind: u8) -> Vec<u8> {
    match kind % 4 {
        0 => {
            let mut h = vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0];
            h.extend([0; 8]);
            h.extend(65535u32.to_le_bytes());
            h.extend(1u32.to_le_bytes());
            h
        }
        1 => {
            let mut h = vec![0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4];
            h.extend([0; 8]);
            h.extend(65535u32.to_be_bytes());
            h.extend(276u32.to_be_bytes());
            h
        }
        2 => {
            // SHB + an Ethernet IDB, little-endian.
            let mut h = vec![0x0a, 0x0d, 0x0d, 0x0a];
            h.extend(28u32.to_le_bytes());
            h.extend(0x1a2b3c4du32.to_le_bytes());
            h.extend([1, 0, 0, 0]);
            h.extend([0xff; 8]);
            h.extend(28u32.to_le_bytes());
            h.extend(1u32.to_le_bytes());
            h.extend(20u32.to_le_bytes());
            h.extend([1, 0, 0, 0]);
            h.extend(0u32.to_le_bytes());
            h.extend(20u32.to_le_bytes());
            h
        }
        _ => {
            let mut h = vec![0x0a, 0x0d, 0x0d, 0x0a];
            h.extend(28u32.to_be_bytes());
            h.extend(0x1a2b3c4du32.to_be_bytes());
            h.extend([0, 1, 0, 0]);
            h.extend([0xff; 8]);
            h.extend(28u32.to_be_bytes());
            h
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn arbitrary_files(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        read_all(&bytes);
    }

    #[test]
    fn arbitrary_records_after_a_valid_header(
        kind in any::<u8>(),
        tail in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = header(kind);
        bytes.extend(tail);
        read_all(&bytes);
    }

    #[test]
    fn arbitrary_frames(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        for lt in LINKTYPES {
            if let Some(pkt) = parse_frame(lt, &bytes) {
                let _ = Record::from_packet(Timestamp::default(), &pkt).to_text(true);
            }
        }
    }

    /// Ethernet + IPv4/IPv6 protocol 112 headers in front of arbitrary VRRP bytes.
    #[test]
    fn arbitrary_vrrp_payloads(
        payload in proptest::collection::vec(any::<u8>(), 0..120),
        ttl in any::<u8>(),
        v6 in any::<bool>(),
    ) {
        let (src, dst) = if v6 {
            (IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
             IpAddr::V6(Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 0x12)))
        } else {
            (IpAddr::V4(Ipv4Addr::new(10, 99, 0, 1)), IpAddr::V4(Ipv4Addr::new(224, 0, 0, 18)))
        };
        let pkt = VrrpPacket { src_mac: None, vlan: None, src, dst, ttl, payload: &payload };
        let rec = Record::from_packet(Timestamp { secs: i64::from(ttl) << 40, nanos: 999_999_999 }, &pkt);
        let _ = rec.to_text(false);
        let mut s = Summary::default();
        s.add(&rec);
        s.add(&rec);
        let _ = s.to_text(false);
    }

    #[test]
    fn arbitrary_timestamps(secs in any::<i64>(), nanos in 0u32..1_000_000_000) {
        let t = Timestamp { secs, nanos }.rfc3339();
        prop_assert!(t.ends_with('Z'));
    }
}
