//! Raw VRRP sockets (IP protocol 112), one per (family, interface).
//!
//! The socket receives advertisements sent to 224.0.0.18 / ff02::12 (or the group configured
//! with `vrrp_mcast_group4/6`), and unicast ones, on one interface and sends advertisements with an explicit source address and outgoing interface.
//! The bytes handed out and taken in are the VRRP message only; the codec lives in
//! `vrrp_core::packet`. No checksum is computed or verified here: in particular
//! `IPV6_CHECKSUM` is *not* set, so that the codec sees (and can count) bad checksums.
//!
//! With `use_vmac` the instance receives on the base interface and sends from the macvlan
//! (so that the Ethernet source of its advertisements is the virtual MAC, RFC 5798 §7.3):
//! see [`VrrpSocket::open_on`].

use std::ffi::CString;
use std::io;
use std::io::{IoSlice, IoSliceMut};
use std::mem;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddrV4, SocketAddrV6};
use std::ops::Range;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};

use nix::sys::socket::{
    ControlMessage, ControlMessageOwned, MsgFlags, SockaddrIn, SockaddrIn6, SockaddrStorage,
    recvmsg, sendmsg, setsockopt, sockopt,
};
use socket2::{Domain, InterfaceIndexOrAddress, Protocol, SockFilter, Socket, Type};
use vrrp_core::packet::{Family, IPPROTO_VRRP, IpMeta, MULTICAST_V4, MULTICAST_V6, VRRP_TTL};

/// A received VRRP packet: where its VRRP bytes are in the caller's buffer and its IP facts.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Received {
    /// The VRRP message within the buffer passed to [`VrrpSocket::recv`] (IPv4: after the IP
    /// header, honouring IHL and the total length).
    pub payload: Range<usize>,
    /// Source, destination and TTL (IPv4 header) or hop limit (`IPV6_HOPLIMIT` cmsg).
    pub meta: IpMeta,
    /// The interface the packet arrived on (from the pktinfo cmsg).
    pub ifindex: u32,
}

/// A raw IP socket for VRRP on one interface. Non-blocking: poll it with tokio `AsyncFd` or
/// epoll through [`AsRawFd`] / [`AsFd`].
#[derive(Debug)]
pub struct VrrpSocket {
    family: Family,
    ifindex: u32,
    send_ifindex: u32,
    socket: Socket,
    /// A second, send-only socket bound to `send_ifindex` when it differs from `ifindex`.
    send_socket: Option<Socket>,
}

impl VrrpSocket {
    /// Opens a VRRP socket that receives and sends on `ifindex`.
    pub fn open(family: Family, ifindex: u32) -> io::Result<VrrpSocket> {
        Self::open_on(family, ifindex, ifindex)
    }

    /// Opens a VRRP socket that receives on `ifindex` and sends through `send_ifindex`.
    ///
    /// This is the `use_vmac` case: receive on the base interface, send from the macvlan
    /// carrying the virtual MAC, so the advertisements' Ethernet source is the virtual MAC
    /// (RFC 5798 §7.3). The macvlan is created in bridge mode (see `netlink::create_macvlan`),
    /// which passes a peer's advertisements (whose source is the same virtual MAC) up to the
    /// base interface. Rather than rely on how the kernel reconciles a pktinfo interface with
    /// a different bound device, a second socket is bound to `send_ifindex`; it never
    /// receives (a drop-all socket filter, no group membership).
    pub fn open_on(family: Family, ifindex: u32, send_ifindex: u32) -> io::Result<VrrpSocket> {
        let group = match family {
            Family::Ipv4 => IpAddr::V4(MULTICAST_V4),
            Family::Ipv6 => IpAddr::V6(MULTICAST_V6),
        };
        Self::open_in_group(family, ifindex, send_ifindex, group)
    }

    /// [`VrrpSocket::open_on`] joining `group` instead of RFC 5798's (keepalived's
    /// `vrrp_mcast_group4` / `vrrp_mcast_group6`). `group` must be a multicast address of
    /// `family`.
    pub fn open_in_group(
        family: Family,
        ifindex: u32,
        send_ifindex: u32,
        group: IpAddr,
    ) -> io::Result<VrrpSocket> {
        let socket = open_raw(family, ifindex, Some(group))?;
        let send_socket = if send_ifindex != ifindex {
            let s = open_raw(family, send_ifindex, None)?;
            // Classic BPF "ret #0": accept no packet at all on the send-only socket.
            const BPF_RET_K: u16 = (libc::BPF_RET | libc::BPF_K) as u16;
            s.attach_filter(&[SockFilter::new(BPF_RET_K, 0, 0, 0)])
                .map_err(|e| ctx(e, "attach drop filter", send_ifindex))?;
            Some(s)
        } else {
            None
        };
        Ok(VrrpSocket {
            family,
            ifindex,
            send_ifindex,
            socket,
            send_socket,
        })
    }

    /// The family this socket was opened for.
    pub fn family(&self) -> Family {
        self.family
    }

    /// The interface this socket receives on.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    /// The interface this socket sends through.
    pub fn send_ifindex(&self) -> u32 {
        self.send_ifindex
    }

    /// Receives one packet into `buf`. Returns `WouldBlock` when nothing is queued, and
    /// `InvalidData` for a packet that is truncated or lacks the expected control messages
    /// (the caller should count it and go on reading).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo, libc::c_int, libc::in_pktinfo);
        let mut ifindex = None;
        let mut dst = None;
        let mut hop_limit = None;
        let (len, source) = {
            let mut iov = [IoSliceMut::new(buf)];
            let msg = recvmsg::<SockaddrStorage>(
                self.socket.as_raw_fd(),
                &mut iov,
                Some(&mut cmsg),
                MsgFlags::MSG_DONTWAIT,
            )?;
            if msg
                .flags
                .intersects(MsgFlags::MSG_TRUNC | MsgFlags::MSG_CTRUNC)
            {
                return Err(invalid("truncated packet or control data"));
            }
            for c in msg.cmsgs().map_err(io::Error::from)? {
                match c {
                    ControlMessageOwned::Ipv4PacketInfo(info) => {
                        ifindex = Some(info.ipi_ifindex as u32);
                        dst = Some(IpAddr::V4(Ipv4Addr::from(u32::from_be(
                            info.ipi_addr.s_addr,
                        ))));
                    }
                    ControlMessageOwned::Ipv6PacketInfo(info) => {
                        ifindex = Some(info.ipi6_ifindex);
                        dst = Some(IpAddr::V6(Ipv6Addr::from(info.ipi6_addr.s6_addr)));
                    }
                    ControlMessageOwned::Ipv6HopLimit(h) => hop_limit = u8::try_from(h).ok(),
                    _ => {}
                }
            }
            (msg.bytes, msg.address)
        };
        let ifindex = ifindex.ok_or_else(|| invalid("no pktinfo control message"))?;
        match self.family {
            Family::Ipv4 => {
                let data = buf.get(..len).ok_or_else(|| invalid("length"))?;
                let (payload, src, hdr_dst, ttl) = parse_ipv4(data)?;
                Ok(Received {
                    payload,
                    meta: IpMeta {
                        src: IpAddr::V4(src),
                        dst: IpAddr::V4(hdr_dst),
                        ttl,
                    },
                    ifindex,
                })
            }
            Family::Ipv6 => {
                let src = source
                    .as_ref()
                    .and_then(|a| a.as_sockaddr_in6())
                    .map(|a| IpAddr::V6(a.ip()))
                    .ok_or_else(|| invalid("no IPv6 source address"))?;
                let ttl = hop_limit.ok_or_else(|| invalid("no hop limit control message"))?;
                Ok(Received {
                    payload: 0..len,
                    meta: IpMeta {
                        src,
                        dst: dst.ok_or_else(|| invalid("no destination address"))?,
                        ttl,
                    },
                    ifindex,
                })
            }
        }
    }

    /// Sends one VRRP message from `src` to `dst` (the multicast group or a unicast peer)
    /// through the send interface, with TTL / hop limit 255 (RFC 5798 §5.1.1.3, §5.1.2.3).
    /// The source address and the outgoing interface go in an `IP_PKTINFO` /
    /// `IPV6_PKTINFO` control message; `src` must be an address of this host (for IPv6 a
    /// link-local source must be on the send interface and not tentative).
    pub fn send(&self, payload: &[u8], src: IpAddr, dst: IpAddr) -> io::Result<()> {
        self.send_with_ttl(payload, src, dst, VRRP_TTL)
    }

    /// [`VrrpSocket::send`] with another TTL / hop limit than the socket's 255, in an
    /// `IP_TTL` / `IPV6_HOPLIMIT` control message (keepalived's `unicast_ttl`: the socket is
    /// shared by every instance on the interface).
    pub fn send_with_ttl(
        &self,
        payload: &[u8],
        src: IpAddr,
        dst: IpAddr,
        ttl: u8,
    ) -> io::Result<()> {
        let hops = libc::c_int::from(ttl);
        let fd = self
            .send_socket
            .as_ref()
            .unwrap_or(&self.socket)
            .as_raw_fd();
        let iov = [IoSlice::new(payload)];
        let sent = match (self.family, src, dst) {
            (Family::Ipv4, IpAddr::V4(src), IpAddr::V4(dst)) => {
                // SAFETY: in_pktinfo is a plain C struct for which all-zeroes is valid.
                let mut info: libc::in_pktinfo = unsafe { mem::zeroed() };
                info.ipi_ifindex = self.send_ifindex as libc::c_int;
                info.ipi_spec_dst.s_addr = u32::from(src).to_be();
                let addr = SockaddrIn::from(SocketAddrV4::new(dst, 0));
                let pktinfo = ControlMessage::Ipv4PacketInfo(&info);
                let cmsgs = [pktinfo, ControlMessage::Ipv4Ttl(&hops)];
                let cmsgs = if ttl == VRRP_TTL {
                    &cmsgs[..1]
                } else {
                    &cmsgs[..]
                };
                sendmsg(fd, &iov, cmsgs, MsgFlags::empty(), Some(&addr))?
            }
            (Family::Ipv6, IpAddr::V6(src), IpAddr::V6(dst)) => {
                // SAFETY: in6_pktinfo is a plain C struct for which all-zeroes is valid.
                let mut info: libc::in6_pktinfo = unsafe { mem::zeroed() };
                info.ipi6_ifindex = self.send_ifindex;
                info.ipi6_addr.s6_addr = src.octets();
                let scope = if needs_scope(&dst) {
                    self.send_ifindex
                } else {
                    0
                };
                let addr = SockaddrIn6::from(SocketAddrV6::new(dst, 0, 0, scope));
                let pktinfo = ControlMessage::Ipv6PacketInfo(&info);
                let cmsgs = [pktinfo, ControlMessage::Ipv6HopLimit(&hops)];
                let cmsgs = if ttl == VRRP_TTL {
                    &cmsgs[..1]
                } else {
                    &cmsgs[..]
                };
                sendmsg(fd, &iov, cmsgs, MsgFlags::empty(), Some(&addr))?
            }
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "VRRP send: addresses {src} -> {dst} do not match the socket family {:?}",
                        self.family
                    ),
                ));
            }
        };
        if sent != payload.len() {
            return Err(io::Error::new(
                io::ErrorKind::WriteZero,
                format!("VRRP send: short write {sent} of {}", payload.len()),
            ));
        }
        Ok(())
    }
}

impl AsRawFd for VrrpSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}

impl AsFd for VrrpSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.socket.as_fd()
    }
}

/// The interface name for an index (`if_indextoname`).
pub fn interface_name(ifindex: u32) -> io::Result<String> {
    let name: CString = nix::net::if_::if_indextoname(ifindex)
        .map_err(|e| ctx(e.into(), "look up interface name", ifindex))?;
    name.into_string()
        .map_err(|_| invalid("interface name is not UTF-8"))
}

fn needs_scope(dst: &Ipv6Addr) -> bool {
    // Link-local unicast (fe80::/10) and link- or interface-local multicast need a scope id.
    (dst.segments()[0] & 0xffc0) == 0xfe80
        || (dst.is_multicast() && matches!(dst.segments()[0] & 0x000f, 1 | 2))
}

/// Opens and configures one raw VRRP socket on `ifindex`; a receiving socket joins `group`.
fn open_raw(family: Family, ifindex: u32, group: Option<IpAddr>) -> io::Result<Socket> {
    let name = interface_name(ifindex)?;
    let domain = match family {
        Family::Ipv4 => Domain::IPV4,
        Family::Ipv6 => Domain::IPV6,
    };
    // socket2 creates sockets with SOCK_CLOEXEC on Linux.
    let s = Socket::new(
        domain,
        Type::RAW,
        Some(Protocol::from(i32::from(IPPROTO_VRRP))),
    )
    .map_err(|e| ctx(e, "open raw VRRP socket", ifindex))?;
    s.set_nonblocking(true)
        .map_err(|e| ctx(e, "set non-blocking", ifindex))?;
    // Only packets that arrive on this interface.
    s.bind_device(Some(name.as_bytes()))
        .map_err(|e| ctx(e, "SO_BINDTODEVICE", ifindex))?;
    let ttl = u32::from(VRRP_TTL);
    match family {
        Family::Ipv4 => {
            // Without this a raw socket sees every group joined by any socket on the host.
            s.set_multicast_all_v4(false)
                .map_err(|e| ctx(e, "IP_MULTICAST_ALL", ifindex))?;
            s.set_multicast_loop_v4(false)
                .map_err(|e| ctx(e, "IP_MULTICAST_LOOP", ifindex))?;
            s.set_multicast_ttl_v4(ttl)
                .map_err(|e| ctx(e, "IP_MULTICAST_TTL", ifindex))?;
            s.set_ttl_v4(ttl).map_err(|e| ctx(e, "IP_TTL", ifindex))?;
            // By index: a namespace without a default route has no route to 224.0.0.18.
            set_multicast_if_v4_index(&s, ifindex)
                .map_err(|e| ctx(e, "IP_MULTICAST_IF", ifindex))?;
            setsockopt(&s, sockopt::Ipv4PacketInfo, &true)
                .map_err(|e| ctx(e.into(), "IP_PKTINFO", ifindex))?;
            match group {
                Some(IpAddr::V4(g)) => s
                    .join_multicast_v4_n(&g, &InterfaceIndexOrAddress::Index(ifindex))
                    .map_err(|e| ctx(e, &format!("join {g}"), ifindex))?,
                Some(IpAddr::V6(g)) => return Err(not_family(g.into(), family)),
                None => {}
            }
        }
        Family::Ipv6 => {
            s.set_multicast_all_v6(false)
                .map_err(|e| ctx(e, "IPV6_MULTICAST_ALL", ifindex))?;
            s.set_multicast_loop_v6(false)
                .map_err(|e| ctx(e, "IPV6_MULTICAST_LOOP", ifindex))?;
            s.set_multicast_hops_v6(ttl)
                .map_err(|e| ctx(e, "IPV6_MULTICAST_HOPS", ifindex))?;
            s.set_unicast_hops_v6(ttl)
                .map_err(|e| ctx(e, "IPV6_UNICAST_HOPS", ifindex))?;
            s.set_multicast_if_v6(ifindex)
                .map_err(|e| ctx(e, "IPV6_MULTICAST_IF", ifindex))?;
            setsockopt(&s, sockopt::Ipv6RecvPacketInfo, &true)
                .map_err(|e| ctx(e.into(), "IPV6_RECVPKTINFO", ifindex))?;
            s.set_recv_hoplimit_v6(true)
                .map_err(|e| ctx(e, "IPV6_RECVHOPLIMIT", ifindex))?;
            match group {
                Some(IpAddr::V6(g)) => s
                    .join_multicast_v6(&g, ifindex)
                    .map_err(|e| ctx(e, &format!("join {g}"), ifindex))?,
                Some(IpAddr::V4(g)) => return Err(not_family(g.into(), family)),
                None => {}
            }
        }
    }
    Ok(s)
}

/// `IP_MULTICAST_IF` with a `struct ip_mreqn` naming the interface by index (socket2 only
/// takes an address, and the interface may have none yet).
fn set_multicast_if_v4_index(s: &Socket, ifindex: u32) -> io::Result<()> {
    let mreqn = libc::ip_mreqn {
        imr_multiaddr: libc::in_addr { s_addr: 0 },
        imr_address: libc::in_addr { s_addr: 0 },
        imr_ifindex: ifindex as libc::c_int,
    };
    // SAFETY: the pointer and length describe `mreqn`, a live ip_mreqn on the stack, and the
    // fd is owned by `s`.
    let rc = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_IP,
            libc::IP_MULTICAST_IF,
            (&mreqn as *const libc::ip_mreqn).cast(),
            mem::size_of::<libc::ip_mreqn>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Splits a received IPv4 datagram: (VRRP payload range, source, destination, TTL).
fn parse_ipv4(data: &[u8]) -> io::Result<(Range<usize>, Ipv4Addr, Ipv4Addr, u8)> {
    if data.len() < 20 || data[0] >> 4 != 4 {
        return Err(invalid("not an IPv4 header"));
    }
    let ihl = usize::from(data[0] & 0x0f) * 4;
    let total = usize::from(u16::from_be_bytes([data[2], data[3]]));
    if ihl < 20 || ihl > data.len() {
        return Err(invalid("bad IPv4 header length"));
    }
    // The kernel hands raw sockets the whole datagram; trust the smaller of the two lengths.
    let end = if total >= ihl {
        total.min(data.len())
    } else {
        data.len()
    };
    let src = Ipv4Addr::new(data[12], data[13], data[14], data[15]);
    let dst = Ipv4Addr::new(data[16], data[17], data[18], data[19]);
    Ok((ihl..end, src, dst, data[8]))
}

fn not_family(group: IpAddr, family: Family) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidInput,
        format!("multicast group {group} is not of the socket family {family:?}"),
    )
}

fn invalid(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("VRRP recv: {what}"))
}

fn ctx(e: io::Error, op: &str, ifindex: u32) -> io::Error {
    io::Error::new(e.kind(), format!("{op} on ifindex {ifindex}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4_header_with_options() {
        let mut p = vec![0u8; 24 + 8];
        p[0] = 0x46; // IHL 6 (one option word)
        p[2..4].copy_from_slice(&(32u16).to_be_bytes());
        p[8] = 255;
        p[12..16].copy_from_slice(&[10, 99, 0, 1]);
        p[16..20].copy_from_slice(&[224, 0, 0, 18]);
        let (r, src, dst, ttl) = parse_ipv4(&p).expect("parses");
        assert_eq!(r, 24..32);
        assert_eq!(src, Ipv4Addr::new(10, 99, 0, 1));
        assert_eq!(dst, MULTICAST_V4);
        assert_eq!(ttl, 255);
    }

    #[test]
    fn ipv4_garbage_is_rejected() {
        assert!(parse_ipv4(&[0x45; 10]).is_err());
        let mut p = vec![0u8; 20];
        p[0] = 0x4f; // IHL 15 > length
        assert!(parse_ipv4(&p).is_err());
        p[0] = 0x65;
        assert!(parse_ipv4(&p).is_err());
    }

    #[test]
    fn scope_ids() {
        assert!(needs_scope(&MULTICAST_V6));
        assert!(needs_scope(&"fe80::1".parse().expect("addr")));
        assert!(!needs_scope(&"fd99::1".parse().expect("addr")));
        assert!(!needs_scope(&"ff0e::1".parse().expect("addr")));
    }
}
