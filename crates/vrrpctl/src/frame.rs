//! Link-layer and IP parsing down to the VRRP payload: Ethernet (with 802.1Q / 802.1ad
//! tags), Linux cooked captures (SLL and SLL2), raw IP; IPv4 and IPv6 (walking the
//! extension headers). Every access is bounds-checked: any bytes give a result or `None`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use vrrp_core::packet::IPPROTO_VRRP;

use crate::capture::{
    LINKTYPE_ETHERNET, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2,
    LINKTYPE_RAW,
};

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const ETHERTYPE_VLAN: u16 = 0x8100;
const ETHERTYPE_QINQ: u16 = 0x88a8;
const ARPHRD_ETHER: u16 = 1;
const ARPHRD_LOOPBACK: u16 = 772;

/// An IP packet carrying protocol 112, with what the link and IP headers said.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VrrpPacket<'a> {
    /// The source MAC, when the link layer has one.
    pub src_mac: Option<[u8; 6]>,
    /// The outermost 802.1Q VLAN id, if the frame was tagged.
    pub vlan: Option<u16>,
    /// The IP source address.
    pub src: IpAddr,
    /// The IP destination address.
    pub dst: IpAddr,
    /// IPv4 TTL or IPv6 hop limit.
    pub ttl: u8,
    /// The VRRP message: the IP payload, cut to the IP length and to what was captured.
    pub payload: &'a [u8],
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let bytes: [u8; 2] = b.get(at..at.checked_add(2)?)?.try_into().ok()?;
    Some(u16::from_be_bytes(bytes))
}

fn mac_at(b: &[u8], at: usize) -> Option<[u8; 6]> {
    b.get(at..at.checked_add(6)?)?.try_into().ok()
}

/// The VRRP packet in a captured frame of the given link type, or `None` when the frame
/// is not IPv4/IPv6 protocol 112 (or too short to tell).
pub fn parse_frame(linktype: u32, data: &[u8]) -> Option<VrrpPacket<'_>> {
    match linktype {
        LINKTYPE_ETHERNET => parse_ethernet(data),
        LINKTYPE_LINUX_SLL => {
            // packet type (2), ARPHRD (2), address length (2), address (8), protocol (2).
            let hatype = be16(data, 2)?;
            let alen = be16(data, 4)?;
            let mac = (alen == 6 && matches!(hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK))
                .then(|| mac_at(data, 6))
                .flatten();
            parse_ethertype(be16(data, 14)?, data.get(16..)?, mac, None, 0)
        }
        LINKTYPE_LINUX_SLL2 => {
            // protocol (2), reserved (2), ifindex (4), ARPHRD (2), packet type (1),
            // address length (1), address (8).
            let proto = be16(data, 0)?;
            let hatype = be16(data, 8)?;
            let alen = *data.get(11)?;
            let mac = (alen == 6 && matches!(hatype, ARPHRD_ETHER | ARPHRD_LOOPBACK))
                .then(|| mac_at(data, 12))
                .flatten();
            parse_ethertype(proto, data.get(20..)?, mac, None, 0)
        }
        LINKTYPE_RAW | LINKTYPE_IPV4 | LINKTYPE_IPV6 => parse_ip(data, None, None),
        _ => None,
    }
}

/// An Ethernet II frame, with up to two VLAN tags.
pub fn parse_ethernet(data: &[u8]) -> Option<VrrpPacket<'_>> {
    let mac = mac_at(data, 6)?;
    parse_ethertype(be16(data, 12)?, data.get(14..)?, Some(mac), None, 0)
}

fn parse_ethertype<'a>(
    ethertype: u16,
    rest: &'a [u8],
    mac: Option<[u8; 6]>,
    vlan: Option<u16>,
    depth: u8,
) -> Option<VrrpPacket<'a>> {
    match ethertype {
        ETHERTYPE_VLAN | ETHERTYPE_QINQ => {
            // TCI (2), inner ethertype (2). At most two tags (802.1ad + 802.1Q).
            if depth >= 2 {
                return None;
            }
            let tci = be16(rest, 0)?;
            let inner = be16(rest, 2)?;
            let vlan = vlan.or(Some(tci & 0x0fff));
            parse_ethertype(inner, rest.get(4..)?, mac, vlan, depth + 1)
        }
        ETHERTYPE_IPV4 | ETHERTYPE_IPV6 => parse_ip(rest, mac, vlan),
        _ => None,
    }
}

/// An IPv4 or IPv6 packet (by its version nibble).
pub fn parse_ip(data: &[u8], mac: Option<[u8; 6]>, vlan: Option<u16>) -> Option<VrrpPacket<'_>> {
    match data.first()? >> 4 {
        4 => parse_ipv4(data, mac, vlan),
        6 => parse_ipv6(data, mac, vlan),
        _ => None,
    }
}

fn parse_ipv4(data: &[u8], mac: Option<[u8; 6]>, vlan: Option<u16>) -> Option<VrrpPacket<'_>> {
    let ihl = usize::from(data.first()? & 0x0f) * 4;
    if ihl < 20 {
        return None;
    }
    let total = usize::from(be16(data, 2)?);
    let frag = be16(data, 6)?;
    // A later fragment holds no VRRP header (VRRP is never fragmented anyway).
    if frag & 0x1fff != 0 {
        return None;
    }
    let ttl = *data.get(8)?;
    if *data.get(9)? != IPPROTO_VRRP {
        return None;
    }
    let src: [u8; 4] = data.get(12..16)?.try_into().ok()?;
    let dst: [u8; 4] = data.get(16..20)?.try_into().ok()?;
    // Cut to the IP total length (drops Ethernet padding and FCS) and to the capture.
    let end = total.clamp(ihl, data.len().max(ihl));
    let payload = data.get(ihl..end.min(data.len())).unwrap_or(&[]);
    Some(VrrpPacket {
        src_mac: mac,
        vlan,
        src: IpAddr::V4(Ipv4Addr::from(src)),
        dst: IpAddr::V4(Ipv4Addr::from(dst)),
        ttl,
        payload,
    })
}

/// IPv6 extension headers that can stand before the upper-layer header (RFC 8200 §4,
/// RFC 7045), each with the "length in 8-octet units, not counting the first" layout
/// except AH (4-octet units) and Fragment (fixed 8).
const EXT_HOP_BY_HOP: u8 = 0;
const EXT_ROUTING: u8 = 43;
const EXT_FRAGMENT: u8 = 44;
const EXT_AH: u8 = 51;
const EXT_DEST_OPTS: u8 = 60;
const EXT_MOBILITY: u8 = 135;
const EXT_HIP: u8 = 139;
const EXT_SHIM6: u8 = 140;

fn parse_ipv6(data: &[u8], mac: Option<[u8; 6]>, vlan: Option<u16>) -> Option<VrrpPacket<'_>> {
    let payload_len = usize::from(be16(data, 4)?);
    let mut next = *data.get(6)?;
    let hop_limit = *data.get(7)?;
    let src: [u8; 16] = data.get(8..24)?.try_into().ok()?;
    let dst: [u8; 16] = data.get(24..40)?.try_into().ok()?;
    let end = (40 + payload_len).min(data.len());
    let mut at = 40usize;
    // Each header is at least 8 bytes, so the walk ends within the packet; the count cap
    // is a second bound.
    for _ in 0..16 {
        if next == IPPROTO_VRRP {
            let payload = data.get(at..end.max(at)).unwrap_or(&[]);
            return Some(VrrpPacket {
                src_mac: mac,
                vlan,
                src: IpAddr::V6(Ipv6Addr::from(src)),
                dst: IpAddr::V6(Ipv6Addr::from(dst)),
                ttl: hop_limit,
                payload,
            });
        }
        let len = match next {
            EXT_HOP_BY_HOP | EXT_ROUTING | EXT_DEST_OPTS | EXT_MOBILITY | EXT_HIP | EXT_SHIM6 => {
                (usize::from(*data.get(at + 1)?) + 1) * 8
            }
            EXT_AH => (usize::from(*data.get(at + 1)?) + 2) * 4,
            EXT_FRAGMENT => {
                // Only the first fragment carries the upper-layer header.
                if be16(data, at + 2)? & 0xfff8 != 0 {
                    return None;
                }
                8
            }
            _ => return None,
        };
        next = *data.get(at)?;
        at = at.checked_add(len)?;
        if at > data.len() {
            return None;
        }
    }
    None
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const MAC: [u8; 6] = [0x02, 0x00, 0x5e, 0x00, 0x01, 0x33];

    /// An IPv4 header (no options) around `payload`.
    pub(crate) fn ipv4(src: [u8; 4], dst: [u8; 4], ttl: u8, proto: u8, payload: &[u8]) -> Vec<u8> {
        let total = (20 + payload.len()) as u16;
        let mut p = vec![0x45, 0xc0];
        p.extend(total.to_be_bytes());
        p.extend([0, 0, 0, 0, ttl, proto, 0, 0]);
        p.extend(src);
        p.extend(dst);
        p.extend(payload);
        p
    }

    pub(crate) fn ipv6(src: Ipv6Addr, dst: Ipv6Addr, hop: u8, next: u8, payload: &[u8]) -> Vec<u8> {
        let mut p = vec![0x60, 0, 0, 0];
        p.extend((payload.len() as u16).to_be_bytes());
        p.extend([next, hop]);
        p.extend(src.octets());
        p.extend(dst.octets());
        p.extend(payload);
        p
    }

    pub(crate) fn ethernet(ethertype: u16, payload: &[u8]) -> Vec<u8> {
        let mut f = vec![0x01, 0x00, 0x5e, 0x00, 0x00, 0x12];
        f.extend(MAC);
        f.extend(ethertype.to_be_bytes());
        f.extend(payload);
        f
    }

    #[test]
    fn ethernet_ipv4_vrrp_with_padding() {
        let ip = ipv4([10, 99, 0, 1], [224, 0, 0, 18], 255, 112, &[0x21, 1, 2, 3]);
        let mut frame = ethernet(ETHERTYPE_IPV4, &ip);
        frame.extend([0; 20]); // padding to the minimum frame size
        let p = parse_frame(LINKTYPE_ETHERNET, &frame).unwrap();
        assert_eq!(p.src_mac, Some(MAC));
        assert_eq!(p.src, IpAddr::from([10, 99, 0, 1]));
        assert_eq!(p.dst, IpAddr::from([224, 0, 0, 18]));
        assert_eq!(p.ttl, 255);
        assert_eq!(p.payload, &[0x21, 1, 2, 3]);
        assert_eq!(p.vlan, None);
    }

    #[test]
    fn other_protocols_are_skipped() {
        let ip = ipv4([10, 99, 0, 1], [10, 99, 0, 2], 64, 17, &[0; 8]);
        assert!(parse_frame(LINKTYPE_ETHERNET, &ethernet(ETHERTYPE_IPV4, &ip)).is_none());
        assert!(parse_frame(LINKTYPE_ETHERNET, &ethernet(0x0806, &[0; 28])).is_none());
        assert!(parse_frame(9999, &ethernet(ETHERTYPE_IPV4, &ip)).is_none());
    }

    #[test]
    fn vlan_tags() {
        let ip = ipv4([10, 99, 0, 1], [224, 0, 0, 18], 255, 112, &[0x31]);
        let mut tagged = vec![0x00, 0x2a];
        tagged.extend(ETHERTYPE_IPV4.to_be_bytes());
        tagged.extend(&ip);
        let f = ethernet(ETHERTYPE_VLAN, &tagged);
        let p = parse_frame(LINKTYPE_ETHERNET, &f).unwrap();
        assert_eq!(p.vlan, Some(42));
        assert_eq!(p.payload, &[0x31]);
        let mut qinq = vec![0x00, 0x07];
        qinq.extend(ETHERTYPE_VLAN.to_be_bytes());
        qinq.extend(&tagged);
        let f = ethernet(ETHERTYPE_QINQ, &qinq);
        let p = parse_frame(LINKTYPE_ETHERNET, &f).unwrap();
        assert_eq!(p.vlan, Some(7));
        assert_eq!(p.payload, &[0x31]);
    }

    #[test]
    fn ipv6_walks_extension_headers() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "ff02::12".parse().unwrap();
        // Hop-by-hop (8 bytes) -> destination options (16 bytes) -> VRRP.
        let mut payload = vec![EXT_DEST_OPTS, 0, 1, 4, 0, 0, 0, 0];
        payload.extend([112, 1, 1, 12]);
        payload.extend([0; 12]);
        payload.extend([0x31, 7, 100, 1]);
        let ip = ipv6(src, dst, 255, EXT_HOP_BY_HOP, &payload);
        let f = ethernet(ETHERTYPE_IPV6, &ip);
        let p = parse_frame(LINKTYPE_ETHERNET, &f).unwrap();
        assert_eq!(p.src, IpAddr::V6(src));
        assert_eq!(p.ttl, 255);
        assert_eq!(p.payload, &[0x31, 7, 100, 1]);
        // No extension headers.
        let ip = ipv6(src, dst, 1, 112, &[0x31]);
        let p = parse_ip(&ip, None, None).unwrap();
        assert_eq!((p.ttl, p.payload), (1, &[0x31][..]));
        // A later fragment is not VRRP; an unknown next header neither.
        let frag = [112, 0, 0, 8, 0, 0, 0, 1, 0x31];
        assert!(parse_ip(&ipv6(src, dst, 255, EXT_FRAGMENT, &frag), None, None).is_none());
        assert!(parse_ip(&ipv6(src, dst, 255, 6, &[0; 20]), None, None).is_none());
        // An extension header running past the end.
        assert!(parse_ip(&ipv6(src, dst, 255, EXT_ROUTING, &[112, 9]), None, None).is_none());
    }

    #[test]
    fn linux_cooked_captures() {
        let ip = ipv4([10, 99, 0, 2], [224, 0, 0, 18], 255, 112, &[0x21, 9]);
        let mut sll = vec![0, 0, 0, 1, 0, 6];
        sll.extend(MAC);
        sll.extend([0, 0]);
        sll.extend(ETHERTYPE_IPV4.to_be_bytes());
        sll.extend(&ip);
        let p = parse_frame(LINKTYPE_LINUX_SLL, &sll).unwrap();
        assert_eq!(p.src_mac, Some(MAC));
        assert_eq!(p.payload, &[0x21, 9]);

        let mut sll2 = ETHERTYPE_IPV4.to_be_bytes().to_vec();
        sll2.extend([0, 0, 0, 0, 0, 3, 0, 1, 0, 6]);
        sll2.extend(MAC);
        sll2.extend([0, 0]);
        sll2.extend(&ip);
        let p = parse_frame(LINKTYPE_LINUX_SLL2, &sll2).unwrap();
        assert_eq!(p.src_mac, Some(MAC));
        assert_eq!(p.src, IpAddr::from([10, 99, 0, 2]));

        let p = parse_frame(LINKTYPE_RAW, &ip).unwrap();
        assert_eq!(p.src_mac, None);
    }

    #[test]
    fn truncated_ip_gives_a_short_payload_or_nothing() {
        let ip = ipv4(
            [10, 99, 0, 1],
            [224, 0, 0, 18],
            255,
            112,
            &[0x21, 1, 2, 3, 4, 5],
        );
        let p = parse_ip(&ip[..23], None, None).unwrap();
        assert_eq!(p.payload, &[0x21, 1, 2]);
        assert!(parse_ip(&ip[..19], None, None).is_none());
        // A total length shorter than the header.
        let mut bad = ip.clone();
        bad[2] = 0;
        bad[3] = 4;
        assert_eq!(parse_ip(&bad, None, None).unwrap().payload, &[] as &[u8]);
    }
}
