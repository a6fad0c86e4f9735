//! Gratuitous ARP and unsolicited NA seen from the other namespace (root only).

mod common;

use std::io;
use std::mem::MaybeUninit;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{Pair, wait_for};
use etherparse::{Icmpv6Type, LinkSlice, NetSlice, SlicedPacket, TransportSlice};
use socket2::{Domain, Protocol, Socket, Type};
use vrrp_core::packet::Family;
use vrrp_linux::announce::ALL_NODES;
use vrrp_linux::netlink::{AddressSpec, Netlink};
use vrrp_linux::{Announcer, virtual_mac};

const ETH_P_ALL: u16 = 0x0003;

/// An AF_PACKET socket that sees every frame in the current namespace.
fn sniffer() -> Socket {
    let s = Socket::new(
        Domain::PACKET,
        Type::RAW,
        Some(Protocol::from(i32::from(ETH_P_ALL.to_be()))),
    )
    .expect("packet socket");
    s.set_nonblocking(true).expect("non-blocking");
    s
}

/// Waits up to 5 s for a frame that `pick` accepts.
fn sniff<T>(s: &Socket, mut pick: impl FnMut(&[u8]) -> Option<T>) -> T {
    let mut buf = [MaybeUninit::<u8>::uninit(); 2048];
    wait_for("a frame", Duration::from_secs(5), || {
        loop {
            match s.recv(&mut buf) {
                Ok(n) => {
                    // SAFETY: recv initialised the first n bytes.
                    let frame: Vec<u8> = buf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    if let Some(v) = pick(&frame) {
                        return Some(v);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => panic!("sniff: {e}"),
            }
        }
    })
}

#[test]
fn gratuitous_arp_reaches_the_peer() {
    if !common::can_run("gratuitous_arp_reaches_the_peer") {
        return;
    }
    let pair = Pair::new("ga", 20);
    let ia = pair.a.ifindex("va");
    let mac = virtual_mac(Family::Ipv4, 20);
    let vip = Ipv4Addr::new(10, 99, 20, 100);
    let rx = pair.b.run(sniffer);
    pair.a.run(|| {
        Announcer::open(ia)
            .expect("announcer")
            .send_garp(mac, vip)
            .expect("send");
    });
    let arp = sniff(&rx, |f| {
        let p = SlicedPacket::from_ethernet(f).ok()?;
        let Some(LinkSlice::Ethernet2(eth)) = &p.link else {
            return None;
        };
        let Some(NetSlice::Arp(arp)) = &p.net else {
            return None;
        };
        let arp = arp.to_packet().try_eth_ipv4().ok()?;
        (arp.sender_ipv4 == vip.octets()).then_some((eth.source(), eth.destination(), arp))
    });
    assert_eq!(arp.0, mac);
    assert_eq!(arp.1, [0xff; 6]);
    assert_eq!(arp.2.sender_mac, mac);
    assert_eq!(arp.2.target_ipv4, vip.octets());
}

#[test]
fn unsolicited_na_reaches_the_peer() {
    if !common::can_run("unsolicited_na_reaches_the_peer") {
        return;
    }
    let pair = Pair::new("na", 21);
    let ia = pair.a.ifindex("va");
    let mac = virtual_mac(Family::Ipv6, 21);
    let vip: Ipv6Addr = "fd99:21::100".parse().expect("addr");
    let rx = pair.b.run(sniffer);
    pair.a.block_on(|| async move {
        let nl = Netlink::new().expect("netlink");
        nl.add_address(ia, &AddressSpec::new(IpAddr::V6(vip), 64))
            .await
            .expect("add VIP");
        Announcer::open(ia)
            .expect("announcer")
            .send_na(mac, vip)
            .expect("send");
    });
    let (src, dst, hops, flags, payload) = sniff(&rx, |f| {
        let p = SlicedPacket::from_ethernet(f).ok()?;
        let Some(NetSlice::Ipv6(ip)) = &p.net else {
            return None;
        };
        let Some(TransportSlice::Icmpv6(icmp)) = &p.transport else {
            return None;
        };
        let Icmpv6Type::NeighborAdvertisement(h) = icmp.icmp_type() else {
            return None;
        };
        let hdr = ip.header();
        assert!(
            icmp.is_checksum_valid(hdr.source(), hdr.destination()),
            "bad ICMPv6 checksum"
        );
        Some((
            hdr.source_addr(),
            hdr.destination_addr(),
            hdr.hop_limit(),
            h,
            icmp.payload().to_vec(),
        ))
    });
    assert_eq!(src, vip, "the NA comes from the VIP itself");
    assert_eq!(dst, ALL_NODES);
    assert_eq!(hops, 255);
    assert!(flags.router && !flags.solicited && flags.r#override);
    assert_eq!(payload[..16], vip.octets());
    assert_eq!(
        payload[16..24],
        [2, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]]
    );
}
