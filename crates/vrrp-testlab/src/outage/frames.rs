//! The client's probe frames (ARP / Neighbour Solicitation, ICMP / ICMPv6 echo, TCP SYN)
//! and the classification of what a router sends out of its bridge port.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::benchkit::csum;

/// The TCP port of the listeners on both routers (and of the client's SYNs).
pub(crate) const TCP_PORT: u16 = 8080;

/// Who probes and what: the client's addresses and the VIP it wants.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Probe {
    pub(crate) mac: [u8; 6],
    pub(crate) src: IpAddr,
    pub(crate) vip: IpAddr,
    /// ICMP echo identifier.
    pub(crate) ident: u16,
}

/// What a router's frame means to the outage measurement.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Seen {
    /// A VRRP advertisement (interval in centiseconds; v2: seconds × 100).
    Advert { prio: u8, int_cs: u16 },
    /// Gratuitous ARP or unsolicited Neighbour Advertisement for the VIP.
    Announce,
    /// ARP reply / solicited Neighbour Advertisement for the VIP, to the client.
    Resolved,
    /// Echo reply from the VIP to the client.
    Echo,
    /// SYN-ACK from the VIP's listener to the client.
    SynAck,
}

fn eth(dst: &[u8; 6], src: &[u8; 6], ty: u16) -> Vec<u8> {
    let mut f = dst.to_vec();
    f.extend_from_slice(src);
    f.extend_from_slice(&ty.to_be_bytes());
    f
}

/// Checksum over the IPv4/IPv6 pseudo-header and the upper-layer packet.
fn l4_csum(src: IpAddr, dst: IpAddr, proto: u8, body: &[u8]) -> u16 {
    let mut ph = Vec::with_capacity(40 + body.len());
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            ph.extend_from_slice(&s.octets());
            ph.extend_from_slice(&d.octets());
            ph.extend_from_slice(&[0, proto]);
            ph.extend_from_slice(&(body.len() as u16).to_be_bytes());
        }
        (s, d) => {
            ph.extend_from_slice(&v6(s).octets());
            ph.extend_from_slice(&v6(d).octets());
            ph.extend_from_slice(&(body.len() as u32).to_be_bytes());
            ph.extend_from_slice(&[0, 0, 0, proto]);
        }
    }
    ph.extend_from_slice(body);
    csum(&ph)
}

fn v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V6(a) => a,
        IpAddr::V4(a) => a.to_ipv6_mapped(),
    }
}

/// An IP packet (v4 or v6 after the addresses) carrying `body`, in an Ethernet frame.
fn ip_frame(
    p: &Probe,
    dst_mac: &[u8; 6],
    dst: IpAddr,
    proto: u8,
    hops: u8,
    body: &[u8],
) -> Vec<u8> {
    match (p.src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let mut f = eth(dst_mac, &p.mac, 0x0800);
            let mut ip = vec![0x45, 0];
            ip.extend_from_slice(&((20 + body.len()) as u16).to_be_bytes());
            ip.extend_from_slice(&[0, 0, 0x40, 0, hops, proto, 0, 0]);
            ip.extend_from_slice(&s.octets());
            ip.extend_from_slice(&d.octets());
            let k = csum(&ip);
            ip[10..12].copy_from_slice(&k.to_be_bytes());
            f.extend_from_slice(&ip);
            f.extend_from_slice(body);
            f
        }
        (s, d) => {
            let mut f = eth(dst_mac, &p.mac, 0x86dd);
            f.extend_from_slice(&[0x60, 0, 0, 0]);
            f.extend_from_slice(&(body.len() as u16).to_be_bytes());
            f.extend_from_slice(&[proto, hops]);
            f.extend_from_slice(&v6(s).octets());
            f.extend_from_slice(&v6(d).octets());
            f.extend_from_slice(body);
            f
        }
    }
}

/// ARP request (IPv4) or Neighbour Solicitation to the solicited-node group (IPv6).
pub(crate) fn resolve_req(p: &Probe) -> Vec<u8> {
    match (p.src, p.vip) {
        (IpAddr::V4(s), IpAddr::V4(t)) => {
            let mut f = eth(&[0xff; 6], &p.mac, 0x0806);
            f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
            f.extend_from_slice(&p.mac);
            f.extend_from_slice(&s.octets());
            f.extend_from_slice(&[0; 6]);
            f.extend_from_slice(&t.octets());
            f
        }
        (s, t) => {
            let t = v6(t).octets();
            let group = Ipv6Addr::new(
                0xff02,
                0,
                0,
                0,
                0,
                1,
                0xff00 | u16::from(t[13]),
                u16::from_be_bytes([t[14], t[15]]),
            );
            let mac = [0x33, 0x33, 0xff, t[13], t[14], t[15]];
            let mut icmp = vec![135, 0, 0, 0, 0, 0, 0, 0];
            icmp.extend_from_slice(&t);
            icmp.extend_from_slice(&[1, 1]);
            icmp.extend_from_slice(&p.mac);
            let k = l4_csum(s, IpAddr::V6(group), 58, &icmp);
            icmp[2..4].copy_from_slice(&k.to_be_bytes());
            ip_frame(p, &mac, IpAddr::V6(group), 58, 255, &icmp)
        }
    }
}

/// ICMP / ICMPv6 echo request number `seq` to the VIP through `dst_mac`.
pub(crate) fn echo_req(p: &Probe, dst_mac: &[u8; 6], seq: u16) -> Vec<u8> {
    let (ty, proto) = if p.vip.is_ipv4() { (8, 1) } else { (128, 58) };
    let mut icmp = vec![ty, 0, 0, 0];
    icmp.extend_from_slice(&p.ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"vrrp-outage");
    let k = if p.vip.is_ipv4() {
        csum(&icmp)
    } else {
        l4_csum(p.src, p.vip, 58, &icmp)
    };
    icmp[2..4].copy_from_slice(&k.to_be_bytes());
    ip_frame(p, dst_mac, p.vip, proto, 64, &icmp)
}

/// A TCP SYN to the VIP's listener from a fresh source port (`seq` picks it), so that
/// every probe is a new connection attempt; the client's kernel resets the SYN-ACK.
pub(crate) fn syn(p: &Probe, dst_mac: &[u8; 6], seq: u16) -> Vec<u8> {
    let sport = 20_000 + seq % 40_000;
    let mut tcp = Vec::with_capacity(20);
    tcp.extend_from_slice(&sport.to_be_bytes());
    tcp.extend_from_slice(&TCP_PORT.to_be_bytes());
    tcp.extend_from_slice(&(u32::from(seq) << 8).to_be_bytes());
    tcp.extend_from_slice(&[0, 0, 0, 0, 0x50, 0x02, 0xfa, 0xf0, 0, 0, 0, 0]);
    let k = l4_csum(p.src, p.vip, 6, &tcp);
    tcp[16..18].copy_from_slice(&k.to_be_bytes());
    ip_frame(p, dst_mac, p.vip, 6, 64, &tcp)
}

/// The MAC a frame received by the client announces for the VIP (ARP reply or
/// gratuitous ARP; Neighbour Advertisement), if it does.
pub(crate) fn owner_of(p: &Probe, f: &[u8]) -> Option<[u8; 6]> {
    let ty = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let l3 = f.get(14..)?;
    match (ty, p.vip) {
        (0x0806, IpAddr::V4(vip)) if l3.len() >= 28 => {
            let spa = Ipv4Addr::new(l3[14], l3[15], l3[16], l3[17]);
            (spa == vip).then(|| l3[8..14].try_into().ok()).flatten()
        }
        (0x86dd, IpAddr::V6(vip)) => {
            let icmp = l3.get(40..)?;
            if l3[6] != 58 || icmp.len() < 24 || icmp[0] != 136 || icmp[8..24] != vip.octets() {
                return None;
            }
            // The target link-layer option, else the frame's source.
            let opt = icmp.get(24..32).filter(|o| o[0] == 2 && o[1] == 1);
            opt.map_or_else(|| f[6..12].try_into().ok(), |o| o[2..8].try_into().ok())
        }
        _ => None,
    }
}

/// What a frame a router sent out of its bridge port means, for the probe `p`.
pub(crate) fn classify(p: &Probe, f: &[u8]) -> Option<Seen> {
    let ty = u16::from_be_bytes([*f.get(12)?, *f.get(13)?]);
    let l3 = f.get(14..)?;
    let to_client = f[..6] == p.mac;
    match ty {
        0x0806 if l3.len() >= 28 => {
            let spa = IpAddr::V4(Ipv4Addr::new(l3[14], l3[15], l3[16], l3[17]));
            let tpa = IpAddr::V4(Ipv4Addr::new(l3[24], l3[25], l3[26], l3[27]));
            if spa != p.vip {
                None
            } else if spa == tpa {
                Some(Seen::Announce)
            } else {
                (l3[7] == 2 && to_client).then_some(Seen::Resolved)
            }
        }
        0x0800 if l3.len() >= 20 => {
            let ihl = usize::from(l3[0] & 0x0f) * 4;
            let src = IpAddr::V4(Ipv4Addr::new(l3[12], l3[13], l3[14], l3[15]));
            upper(p, l3[9], src, l3.get(ihl..)?, to_client)
        }
        0x86dd if l3.len() >= 40 => {
            let src = IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(&l3[8..24]).ok()?));
            upper(p, l3[6], src, &l3[40..], to_client)
        }
        _ => None,
    }
}

fn upper(p: &Probe, proto: u8, src: IpAddr, b: &[u8], to_client: bool) -> Option<Seen> {
    match proto {
        112 if b.len() >= 8 => {
            let int_cs = if b[0] >> 4 == 3 {
                u16::from_be_bytes([b[4] & 0x0f, b[5]])
            } else {
                u16::from(b[5]) * 100
            };
            Some(Seen::Advert { prio: b[2], int_cs })
        }
        1 if src == p.vip && to_client && b.first() == Some(&0) => Some(Seen::Echo),
        58 if b.len() >= 24 && b[0] == 136 && b[8..24] == v6(p.vip).octets() => {
            // Solicited flag: an answer to the client's solicitation.
            if b[4] & 0x40 != 0 {
                to_client.then_some(Seen::Resolved)
            } else {
                Some(Seen::Announce)
            }
        }
        58 if src == p.vip && to_client && b.first() == Some(&129) => Some(Seen::Echo),
        6 if src == p.vip && to_client && b.len() >= 14 => {
            let sport = u16::from_be_bytes([b[0], b[1]]);
            (sport == TCP_PORT && b[13] & 0x12 == 0x12).then_some(Seen::SynAck)
        }
        _ => None,
    }
}
