//! VRRP sockets between two namespaces joined by a veth pair (root only).

mod common;

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use common::{Pair, wait_for};
use socket2::{Domain, Protocol, Socket, Type};
use vrrp_core::packet::{Family, IPPROTO_VRRP, MULTICAST_V4, MULTICAST_V6};
use vrrp_linux::{Received, VrrpSocket};

const PAYLOAD: &[u8] = &[0x31, 7, 100, 1, 0, 100, 0xab, 0xcd, 10, 99, 0, 100];
const WAIT: Duration = Duration::from_secs(5);

/// Receives one packet within `WAIT`.
fn recv_one(s: &VrrpSocket, buf: &mut [u8]) -> Received {
    wait_for("a VRRP packet", WAIT, || match s.recv(buf) {
        Ok(r) => Some(r),
        Err(e) if e.kind() == io::ErrorKind::WouldBlock => None,
        Err(e) => panic!("recv: {e}"),
    })
}

#[test]
fn ipv4_multicast_between_namespaces() {
    if !common::can_run("ipv4_multicast_between_namespaces") {
        return;
    }
    let pair = Pair::new("s4m", 1);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv4, ib).expect("open B"));
    let src = IpAddr::V4(Ipv4Addr::new(10, 99, 1, 1));
    pair.a.run(|| {
        let tx = VrrpSocket::open(Family::Ipv4, ia).expect("open A");
        tx.send(PAYLOAD, src, IpAddr::V4(MULTICAST_V4))
            .expect("send");
        // Multicast loop is off: the sender does not hear itself.
        std::thread::sleep(Duration::from_millis(100));
        let mut buf = [0u8; 64];
        assert_eq!(
            tx.recv(&mut buf).map_err(|e| e.kind()),
            Err(io::ErrorKind::WouldBlock)
        );
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.ttl, 255);
    assert_eq!(r.meta.src, src);
    assert_eq!(r.meta.dst, IpAddr::V4(MULTICAST_V4));
    assert_eq!(r.ifindex, ib);
}

#[test]
fn ipv4_unicast() {
    if !common::can_run("ipv4_unicast") {
        return;
    }
    let pair = Pair::new("s4u", 2);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv4, ib).expect("open B"));
    let src = IpAddr::V4(Ipv4Addr::new(10, 99, 2, 1));
    let dst = IpAddr::V4(Ipv4Addr::new(10, 99, 2, 2));
    pair.a.run(|| {
        let tx = VrrpSocket::open(Family::Ipv4, ia).expect("open A");
        tx.send(PAYLOAD, src, dst).expect("send");
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.ttl, 255);
    assert_eq!(r.meta.src, src);
    assert_eq!(r.meta.dst, dst);
}

#[test]
fn ipv4_low_ttl_is_reported() {
    if !common::can_run("ipv4_low_ttl_is_reported") {
        return;
    }
    let pair = Pair::new("s4t", 3);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv4, ib).expect("open B"));
    pair.a.run(|| {
        // A plain raw socket with TTL 1, as a packet from off-link would arrive.
        let s = Socket::new(
            Domain::IPV4,
            Type::RAW,
            Some(Protocol::from(i32::from(IPPROTO_VRRP))),
        )
        .expect("raw socket");
        s.bind_device(Some(b"va")).expect("bind device");
        s.set_multicast_if_v4(&Ipv4Addr::new(10, 99, 3, 1))
            .expect("multicast if");
        s.set_multicast_ttl_v4(1).expect("ttl");
        let _ = ia;
        let to = std::net::SocketAddr::new(IpAddr::V4(MULTICAST_V4), 0);
        // Several copies: the first may leave before the fresh veth carries traffic.
        for _ in 0..10 {
            s.send_to(PAYLOAD, &to.into()).expect("send");
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.ttl, 1);
}

#[test]
fn ipv6_multicast_from_link_local() {
    if !common::can_run("ipv6_multicast_from_link_local") {
        return;
    }
    let pair = Pair::new("s6m", 4);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv6, ib).expect("open B"));
    let src = pair.a.block_on(|| async move {
        let nl = vrrp_linux::netlink::Netlink::new().expect("netlink");
        // The link-local is tentative until DAD completes (about a second on veth).
        vrrp_linux::netlink::wait_link_local(&nl, ia, Duration::from_secs(10))
            .await
            .expect("link-local after DAD")
    });
    assert_eq!(src.segments()[0], 0xfe80);
    pair.a.run(|| {
        let tx = VrrpSocket::open(Family::Ipv6, ia).expect("open A");
        tx.send(PAYLOAD, IpAddr::V6(src), IpAddr::V6(MULTICAST_V6))
            .expect("send");
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.ttl, 255);
    assert_eq!(r.meta.src, IpAddr::V6(src));
    assert_eq!(r.meta.dst, IpAddr::V6(MULTICAST_V6));
    assert_eq!(r.ifindex, ib);
}

/// `vrrp_mcast_group6`: sockets opened in ff02::13 join it; what is sent there arrives.
/// A group of the other family is refused.
#[test]
fn ipv6_configured_group_is_joined() {
    if !common::can_run("ipv6_configured_group_is_joined") {
        return;
    }
    let group: Ipv6Addr = "ff02::13".parse().expect("addr");
    let pair = Pair::new("s6g", 8);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let rx = pair.b.run(|| {
        VrrpSocket::open_in_group(Family::Ipv6, ib, ib, IpAddr::V6(group)).expect("open B")
    });
    let wrong = pair
        .b
        .run(|| VrrpSocket::open_in_group(Family::Ipv6, ib, ib, IpAddr::V4(MULTICAST_V4)).is_err());
    assert!(wrong, "an IPv4 group on an IPv6 socket must be refused");
    let src = pair.a.block_on(|| async move {
        let nl = vrrp_linux::netlink::Netlink::new().expect("netlink");
        vrrp_linux::netlink::wait_link_local(&nl, ia, Duration::from_secs(10))
            .await
            .expect("link-local after DAD")
    });
    pair.a.run(|| {
        let tx =
            VrrpSocket::open_in_group(Family::Ipv6, ia, ia, IpAddr::V6(group)).expect("open A");
        tx.send(PAYLOAD, IpAddr::V6(src), IpAddr::V6(group))
            .expect("send");
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.dst, IpAddr::V6(group));
    assert_eq!(r.ifindex, ib);
}

#[test]
fn ipv6_unicast() {
    if !common::can_run("ipv6_unicast") {
        return;
    }
    let pair = Pair::new("s6u", 5);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv6, ib).expect("open B"));
    let src: Ipv6Addr = "fd99:5::1".parse().expect("addr");
    let dst: Ipv6Addr = "fd99:5::2".parse().expect("addr");
    pair.a.run(|| {
        let tx = VrrpSocket::open(Family::Ipv6, ia).expect("open A");
        // The first packet may wait for neighbour discovery; the kernel queues it.
        tx.send(PAYLOAD, IpAddr::V6(src), IpAddr::V6(dst))
            .expect("send");
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.ttl, 255);
    assert_eq!(r.meta.src, IpAddr::V6(src));
    assert_eq!(r.meta.dst, IpAddr::V6(dst));
}

/// use_vmac: both routers have a bridge-mode macvlan with the same virtual MAC. A sends
/// through its macvlan (Ethernet source = the virtual MAC) and B still receives on its base
/// interface.
#[test]
fn vmac_send_through_macvlan_receive_on_base() {
    if !common::can_run("vmac_send_through_macvlan_receive_on_base") {
        return;
    }
    let pair = Pair::new("svm", 6);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let mac = vrrp_linux::virtual_mac(Family::Ipv4, 6);
    let create = |ns: &common::Netns, parent: u32| {
        ns.block_on(|| async move {
            let nl = vrrp_linux::netlink::Netlink::new().expect("netlink");
            nl.create_macvlan(parent, "vrrp.6", mac)
                .await
                .expect("macvlan")
        })
    };
    let ma = create(&pair.a, ia);
    let _mb = create(&pair.b, ib);
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv4, ib).expect("open B"));
    let sniff = pair.b.run(|| {
        let s = Socket::new(
            Domain::PACKET,
            Type::RAW,
            Some(Protocol::from(i32::from(0x0800u16.to_be()))),
        )
        .expect("packet socket");
        s.set_nonblocking(true).expect("non-blocking");
        s
    });
    let src = IpAddr::V4(Ipv4Addr::new(10, 99, 6, 1));
    pair.a.run(|| {
        let tx = VrrpSocket::open_on(Family::Ipv4, ia, ma).expect("open A");
        assert_eq!(tx.send_ifindex(), ma);
        tx.send(PAYLOAD, src, IpAddr::V4(MULTICAST_V4))
            .expect("send");
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.src, src);
    assert_eq!(r.ifindex, ib);
    // The frame's Ethernet source is the virtual MAC.
    let mut fbuf = [std::mem::MaybeUninit::<u8>::uninit(); 2048];
    let source = wait_for("the VRRP frame", WAIT, || {
        loop {
            match sniff.recv(&mut fbuf) {
                Ok(n) if n >= 14 + 20 => {
                    // SAFETY: recv initialised the first n bytes.
                    let f: Vec<u8> = fbuf[..n]
                        .iter()
                        .map(|b| unsafe { b.assume_init() })
                        .collect();
                    if f[14 + 9] == IPPROTO_VRRP {
                        let mut m = [0u8; 6];
                        m.copy_from_slice(&f[6..12]);
                        return Some(m);
                    }
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return None,
                Err(e) => panic!("sniff: {e}"),
            }
        }
    });
    assert_eq!(source, mac);
}

/// use_vmac over IPv6: the macvlans of both routers share the virtual MAC but get different
/// (random) link-locals; A advertises from its macvlan's link-local and B hears it on its base
/// interface.
#[test]
fn vmac_ipv6_from_macvlan_link_local() {
    if !common::can_run("vmac_ipv6_from_macvlan_link_local") {
        return;
    }
    let pair = Pair::new("sv6", 7);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let mac = vrrp_linux::virtual_mac(Family::Ipv6, 7);
    let create = |ns: &common::Netns, parent: u32| {
        ns.block_on(|| async move {
            let nl = vrrp_linux::netlink::Netlink::new().expect("netlink");
            let idx = nl
                .create_macvlan(parent, "vrrp6.7", mac)
                .await
                .expect("macvlan");
            let ll = vrrp_linux::wait_link_local(&nl, idx, Duration::from_secs(10))
                .await
                .expect("macvlan link-local after DAD");
            (idx, ll)
        })
    };
    let (ma, lla) = create(&pair.a, ia);
    let (_mb, llb) = create(&pair.b, ib);
    assert_ne!(lla, llb, "link-locals of the two macvlans must differ");
    let rx = pair
        .b
        .run(|| VrrpSocket::open(Family::Ipv6, ib).expect("open B"));
    pair.a.run(|| {
        let tx = VrrpSocket::open_on(Family::Ipv6, ia, ma).expect("open A");
        tx.send(PAYLOAD, IpAddr::V6(lla), IpAddr::V6(MULTICAST_V6))
            .expect("send");
    });
    let mut buf = [0u8; 1500];
    let r = recv_one(&rx, &mut buf);
    assert_eq!(&buf[r.payload.clone()], PAYLOAD);
    assert_eq!(r.meta.src, IpAddr::V6(lla));
    assert_eq!(r.meta.ttl, 255);
    assert_eq!(r.ifindex, ib);
}

/// keepalived's `unicast_ttl`: a send with another TTL / hop limit carries it (IP_TTL /
/// IPV6_HOPLIMIT control message), the socket's 255 is kept for the next send, both
/// families.
#[test]
fn unicast_with_another_ttl() {
    if !common::can_run("unicast_with_another_ttl") {
        return;
    }
    let pair = Pair::new("sut", 8);
    let (ia, ib) = (pair.a.ifindex("va"), pair.b.ifindex("vb"));
    let cases = [
        (
            Family::Ipv4,
            IpAddr::V4(Ipv4Addr::new(10, 99, 8, 1)),
            IpAddr::V4(Ipv4Addr::new(10, 99, 8, 2)),
        ),
        (
            Family::Ipv6,
            IpAddr::V6("fd99:8::1".parse().expect("addr")),
            IpAddr::V6("fd99:8::2".parse().expect("addr")),
        ),
    ];
    for (family, src, dst) in cases {
        let rx = pair.b.run(|| VrrpSocket::open(family, ib).expect("open B"));
        pair.a.run(|| {
            let tx = VrrpSocket::open(family, ia).expect("open A");
            tx.send_with_ttl(PAYLOAD, src, dst, 64).expect("send 64");
            tx.send(PAYLOAD, src, dst).expect("send");
        });
        let mut buf = [0u8; 1500];
        let first = recv_one(&rx, &mut buf);
        let second = recv_one(&rx, &mut buf);
        assert_eq!((first.meta.ttl, second.meta.ttl), (64, 255), "{family:?}");
        assert_eq!(first.meta.dst, dst);
    }
}
