//! Announcing the virtual addresses after becoming Master: gratuitous ARP for IPv4 VIPs
//! through an AF_PACKET socket and unsolicited neighbour advertisements for IPv6 VIPs through
//! a raw ICMPv6 socket (RFC 5798 §6.4.1, §6.4.2; RFC 3768 §6.4.2).
//!
//! Open the [`Announcer`] on the interface that carries the VIPs: with `use_vmac` that is the
//! macvlan, so that the frames' Ethernet source is the virtual MAC (for a GARP the source MAC
//! is written into the frame; for an NA the kernel uses the interface's address).

use std::io;
use std::io::IoSlice;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddrV6};
use std::os::fd::AsRawFd;

use nix::sys::socket::{ControlMessage, MsgFlags, SockaddrIn6, sendmsg};
use socket2::{Domain, Protocol, SockAddr, SockAddrStorage, SockFilter, Socket, Type};

use crate::socket::interface_name;

const ETH_P_ARP: u16 = 0x0806;
const ETH_P_IPV6: u16 = 0x86dd;
const BROADCAST: [u8; 6] = [0xff; 6];
/// All-nodes multicast, the destination of unsolicited advertisements (RFC 4861 §7.2.6).
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);

/// A gratuitous ARP: an Ethernet broadcast ARP request whose sender and target protocol
/// addresses are both `ip` and whose sender hardware address is `src_mac` (RFC 5227 §3,
/// "ARP Announcement"; the form keepalived and most routers send). The target hardware
/// address is zero, as RFC 5227 asks.
pub fn gratuitous_arp_frame(src_mac: [u8; 6], ip: Ipv4Addr) -> [u8; 42] {
    let mut f = [0u8; 42];
    f[0..6].copy_from_slice(&BROADCAST);
    f[6..12].copy_from_slice(&src_mac);
    f[12..14].copy_from_slice(&ETH_P_ARP.to_be_bytes());
    f[14..16].copy_from_slice(&1u16.to_be_bytes()); // hardware type: Ethernet
    f[16..18].copy_from_slice(&0x0800u16.to_be_bytes()); // protocol type: IPv4
    f[18] = 6; // hardware address length
    f[19] = 4; // protocol address length
    f[20..22].copy_from_slice(&1u16.to_be_bytes()); // operation: request
    f[22..28].copy_from_slice(&src_mac); // sender hardware address
    f[28..32].copy_from_slice(&ip.octets()); // sender protocol address
    // 32..38 target hardware address: zero
    f[38..42].copy_from_slice(&ip.octets()); // target protocol address
    f
}

/// The ICMPv6 body of an unsolicited Neighbor Advertisement for `target` (RFC 4861 §4.4):
/// Router flag set (the sender is a router), Solicited clear, Override set, and a Target
/// Link-Layer Address option carrying `src_mac`, the virtual MAC (RFC 5798 §6.4.2). The
/// checksum is left zero; the kernel fills it in on a raw ICMPv6 socket.
pub fn unsolicited_na(src_mac: [u8; 6], target: Ipv6Addr) -> Vec<u8> {
    let mut b = Vec::with_capacity(32);
    b.push(136); // type: Neighbor Advertisement
    b.push(0); // code
    b.extend_from_slice(&[0, 0]); // checksum
    b.push(0b1010_0000); // R=1, S=0, O=1
    b.extend_from_slice(&[0, 0, 0]); // reserved
    b.extend_from_slice(&target.octets());
    b.push(2); // option: Target Link-Layer Address
    b.push(1); // length in units of 8 octets
    b.extend_from_slice(&src_mac);
    b
}

/// Sends gratuitous ARPs and unsolicited NAs on one interface.
#[derive(Debug)]
pub struct Announcer {
    ifindex: u32,
    packet: Socket,
    icmp6: Socket,
}

impl Announcer {
    /// Opens the AF_PACKET and ICMPv6 sockets for `ifindex`. Both are send-only.
    pub fn open(ifindex: u32) -> io::Result<Announcer> {
        let name = interface_name(ifindex)?;
        // Protocol 0: the packet socket receives nothing; frames are sent with sendto.
        let packet = Socket::new(Domain::PACKET, Type::RAW, Some(Protocol::from(0)))
            .map_err(|e| ctx(e, "open AF_PACKET socket", ifindex))?;
        packet
            .set_nonblocking(true)
            .map_err(|e| ctx(e, "set non-blocking", ifindex))?;

        let icmp6 = Socket::new(Domain::IPV6, Type::RAW, Some(Protocol::ICMPV6))
            .map_err(|e| ctx(e, "open ICMPv6 socket", ifindex))?;
        icmp6
            .set_nonblocking(true)
            .map_err(|e| ctx(e, "set non-blocking", ifindex))?;
        icmp6
            .bind_device(Some(name.as_bytes()))
            .map_err(|e| ctx(e, "SO_BINDTODEVICE", ifindex))?;
        // Neighbour discovery messages must carry hop limit 255 (RFC 4861 §7.1.2).
        icmp6
            .set_multicast_hops_v6(255)
            .map_err(|e| ctx(e, "IPV6_MULTICAST_HOPS", ifindex))?;
        icmp6
            .set_unicast_hops_v6(255)
            .map_err(|e| ctx(e, "IPV6_UNICAST_HOPS", ifindex))?;
        icmp6
            .set_multicast_if_v6(ifindex)
            .map_err(|e| ctx(e, "IPV6_MULTICAST_IF", ifindex))?;
        icmp6
            .set_multicast_loop_v6(false)
            .map_err(|e| ctx(e, "IPV6_MULTICAST_LOOP", ifindex))?;
        // The socket is send-only: a classic BPF "ret #0" keeps ICMPv6 from queueing up.
        const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
        icmp6
            .attach_filter(&[SockFilter::new(BPF_RET_K, 0, 0, 0)])
            .map_err(|e| ctx(e, "attach drop filter", ifindex))?;
        // No IPV6_CHECKSUM: on ICMPv6 sockets the kernel always computes the checksum
        // (offset 2) and refuses the option with EINVAL (RFC 3542 §3.1).
        Ok(Announcer {
            ifindex,
            packet,
            icmp6,
        })
    }

    /// The interface this announcer sends on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// Sends one gratuitous ARP for `ip` with Ethernet and ARP sender address `src_mac`.
    pub fn send_garp(&self, src_mac: [u8; 6], ip: Ipv4Addr) -> io::Result<()> {
        let frame = gratuitous_arp_frame(src_mac, ip);
        let to = link_sockaddr(self.ifindex, ETH_P_ARP, BROADCAST);
        let n = self
            .packet
            .send_to(&frame, &to)
            .map_err(|e| ctx(e, "send gratuitous ARP", self.ifindex))?;
        short_write(n, frame.len())
    }

    /// Sends one unsolicited NA for `target` to ff02::1, hop limit 255, with Target
    /// Link-Layer Address `src_mac`.
    ///
    /// The IPv6 source is the VIP itself (RFC 4861 §4.4: "an address assigned to the
    /// interface"; keepalived does the same), so the announcement does not depend on the
    /// interface's link-local having finished DAD; add IPv6 VIPs with `nodad` first. If the
    /// VIP is not (yet) usable as a source the kernel picks one (the link-local).
    pub fn send_na(&self, src_mac: [u8; 6], target: Ipv6Addr) -> io::Result<()> {
        let body = unsolicited_na(src_mac, target);
        match self.send_na_from(&body, Some(target)) {
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL) | Some(libc::EADDRNOTAVAIL)
                ) =>
            {
                self.send_na_from(&body, None)
            }
            r => r,
        }
        .map_err(|e| ctx(e, "send unsolicited NA", self.ifindex))
    }

    fn send_na_from(&self, body: &[u8], src: Option<Ipv6Addr>) -> io::Result<()> {
        // SAFETY: in6_pktinfo is a plain C struct for which all-zeroes is valid.
        let mut info: libc::in6_pktinfo = unsafe { mem::zeroed() };
        info.ipi6_ifindex = self.ifindex;
        if let Some(src) = src {
            info.ipi6_addr.s6_addr = src.octets();
        }
        let to = SockaddrIn6::from(SocketAddrV6::new(ALL_NODES, 0, 0, self.ifindex));
        let n = sendmsg(
            self.icmp6.as_raw_fd(),
            &[IoSlice::new(body)],
            &[ControlMessage::Ipv6PacketInfo(&info)],
            MsgFlags::empty(),
            Some(&to),
        )?;
        short_write(n, body.len())
    }
}

/// The IPv6 Ethernet multicast address for an IPv6 multicast group (RFC 2464 §7).
pub fn ipv6_multicast_mac(group: Ipv6Addr) -> [u8; 6] {
    let o = group.octets();
    [0x33, 0x33, o[12], o[13], o[14], o[15]]
}

/// A `sockaddr_ll` for sending on an AF_PACKET socket: interface, EtherType and destination
/// hardware address (see packet(7)). Neither socket2 nor nix can build one, hence this small
/// helper.
pub fn link_sockaddr(ifindex: u32, protocol: u16, dst: [u8; 6]) -> SockAddr {
    let mut storage = SockAddrStorage::zeroed();
    // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_ll, and every bit
    // pattern is valid for this plain C struct; `view_as` only reinterprets the zeroed bytes.
    let ll: &mut libc::sockaddr_ll = unsafe { storage.view_as() };
    ll.sll_family = libc::AF_PACKET as libc::sa_family_t;
    ll.sll_protocol = protocol.to_be();
    ll.sll_ifindex = ifindex as libc::c_int;
    ll.sll_halen = 6;
    ll.sll_addr[..6].copy_from_slice(&dst);
    let len = mem::size_of::<libc::sockaddr_ll>() as libc::socklen_t;
    // SAFETY: the storage holds an initialised sockaddr_ll of length `len`.
    unsafe { SockAddr::new(storage, len) }
}

/// The EtherType of IPv6, for tests and packet sockets that want it.
pub const ETHERTYPE_IPV6: u16 = ETH_P_IPV6;
/// The EtherType of ARP.
pub const ETHERTYPE_ARP: u16 = ETH_P_ARP;

fn short_write(n: usize, want: usize) -> io::Result<()> {
    if n == want {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::WriteZero,
            format!("short write {n} of {want}"),
        ))
    }
}

fn ctx(e: io::Error, op: &str, ifindex: u32) -> io::Error {
    io::Error::new(e.kind(), format!("{op} on ifindex {ifindex}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use etherparse::{ArpOperation, Icmpv6Slice, Icmpv6Type, NetSlice, SlicedPacket};

    const MAC: [u8; 6] = [0x00, 0x00, 0x5e, 0x00, 0x01, 0x07];

    #[test]
    fn garp_frame_is_an_arp_announcement() {
        let vip = Ipv4Addr::new(10, 99, 0, 100);
        let f = gratuitous_arp_frame(MAC, vip);
        let p = SlicedPacket::from_ethernet(&f).expect("parses");
        let Some(etherparse::LinkSlice::Ethernet2(eth)) = &p.link else {
            panic!("no Ethernet header");
        };
        assert_eq!(eth.destination(), BROADCAST);
        assert_eq!(eth.source(), MAC);
        let Some(NetSlice::Arp(arp)) = &p.net else {
            panic!("not ARP");
        };
        let arp = arp.to_packet().try_eth_ipv4().expect("Ethernet/IPv4 ARP");
        assert_eq!(arp.operation, ArpOperation::REQUEST);
        assert_eq!(arp.sender_mac, MAC);
        assert_eq!(arp.sender_ipv4, vip.octets());
        assert_eq!(arp.target_ipv4, vip.octets());
        assert_eq!(arp.target_mac, [0; 6]);
    }

    #[test]
    fn na_body_has_flags_and_tlla() {
        let vip: Ipv6Addr = "fd99::100".parse().expect("addr");
        let b = unsolicited_na(MAC, vip);
        assert_eq!(b.len(), 32);
        let icmp = Icmpv6Slice::from_slice(&b).expect("parses");
        let Icmpv6Type::NeighborAdvertisement(h) = icmp.icmp_type() else {
            panic!("not an NA: {:?}", icmp.icmp_type());
        };
        assert!(h.router && !h.solicited && h.r#override);
        let payload = icmp.payload();
        assert_eq!(payload[..16], vip.octets());
        assert_eq!(payload[16..18], [2, 1]);
        assert_eq!(payload[18..24], MAC);
    }

    #[test]
    fn multicast_macs() {
        assert_eq!(ipv6_multicast_mac(ALL_NODES), [0x33, 0x33, 0, 0, 0, 1]);
    }
}
