//! Codec throughput: nanoseconds per decode and per encode, for each version/family with 1
//! and 8 addresses. std only (no criterion): a plain timed loop over `black_box`ed input.
//!
//! `cargo bench -p vrrp-core --bench codec` runs 2,000,000 iterations per case, in 5
//! rounds of 400,000, and reports the best and the median round: on a shared machine the
//! best round is the codec, the median shows the noise. Run without `--bench` (as
//! `cargo test --benches` does) it only smoke-tests each case.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Instant;

use vrrp_core::packet::{
    Advertisement, Auth, ChecksumForm, IpMeta, MULTICAST_V4, MULTICAST_V6, Version, decode, encode,
};

const ROUNDS: usize = 5;
const FULL_ITERATIONS_PER_ROUND: u32 = 400_000;
const SMOKE_ITERATIONS_PER_ROUND: u32 = 200;

struct Case {
    name: String,
    advertisement: Advertisement,
    ip: IpMeta,
    form: ChecksumForm,
}

fn cases() -> Vec<Case> {
    let ip_v4 = IpMeta {
        src: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        dst: IpAddr::V4(MULTICAST_V4),
        ttl: 255,
    };
    let ip_v6 = IpMeta {
        src: IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 1)),
        dst: IpAddr::V6(MULTICAST_V6),
        ttl: 255,
    };
    let v4_addresses = |n: u8| -> Vec<IpAddr> {
        (0..n)
            .map(|i| IpAddr::V4(Ipv4Addr::new(192, 0, 2, 100 + i)))
            .collect()
    };
    let v6_addresses = |n: u16| -> Vec<IpAddr> {
        // The first is the link-local one (RFC 5798 §5.2.9).
        (0..n)
            .map(|i| match i {
                0 => IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x100)),
                _ => IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0x100 + i)),
            })
            .collect()
    };
    let advertisement = |version, interval_cs, addresses| Advertisement {
        version,
        vrid: 10,
        priority: 100,
        interval_cs,
        auth: Auth::None,
        addresses,
    };
    let mut cases = Vec::new();
    for n in [1u8, 8] {
        cases.push(Case {
            name: format!("v2 IPv4, {n} address(es)"),
            advertisement: advertisement(Version::V2, 100, v4_addresses(n)),
            ip: ip_v4,
            form: ChecksumForm::MessageOnly,
        });
        cases.push(Case {
            name: format!("v3 IPv4, {n} address(es)"),
            advertisement: advertisement(Version::V3, 100, v4_addresses(n)),
            ip: ip_v4,
            form: ChecksumForm::PseudoHeader,
        });
        cases.push(Case {
            name: format!("v3 IPv6, {n} address(es)"),
            advertisement: advertisement(Version::V3, 100, v6_addresses(u16::from(n))),
            ip: ip_v6,
            form: ChecksumForm::PseudoHeader,
        });
    }
    cases
}

/// Nanoseconds per call of `f`: (best round, median round) of `ROUNDS` rounds of
/// `iterations` calls each.
fn ns_per_call(iterations: u32, mut f: impl FnMut()) -> (f64, f64) {
    let mut rounds: Vec<f64> = (0..ROUNDS)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..iterations {
                f();
            }
            start.elapsed().as_nanos() as f64 / f64::from(iterations)
        })
        .collect();
    rounds.sort_by(f64::total_cmp);
    (rounds[0], rounds[ROUNDS / 2])
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let iterations = if full {
        FULL_ITERATIONS_PER_ROUND
    } else {
        SMOKE_ITERATIONS_PER_ROUND
    };
    println!("{ROUNDS} rounds of {iterations} iterations per case; ns/packet, best (median)");
    println!("| packet | bytes | decode ns/packet | encode ns/packet |");
    println!("| --- | ---: | ---: | ---: |");
    for case in cases() {
        let Case {
            name,
            advertisement,
            ip,
            form,
        } = &case;
        let bytes = encode(advertisement, ip.src, ip.dst, *form).expect("benchmark packet encodes");
        let decoded = decode(&bytes, ip).expect("benchmark packet decodes");
        assert_eq!(&decoded.advertisement, advertisement);

        let (decode_best, decode_median) = ns_per_call(iterations, || {
            let _ = black_box(decode(black_box(&bytes), black_box(ip)));
        });
        let (encode_best, encode_median) = ns_per_call(iterations, || {
            let _ = black_box(encode(
                black_box(advertisement),
                black_box(ip.src),
                black_box(ip.dst),
                black_box(*form),
            ));
        });
        println!(
            "| {name} | {} | {decode_best:.1} ({decode_median:.1}) | {encode_best:.1} ({encode_median:.1}) |",
            bytes.len()
        );
    }
}
