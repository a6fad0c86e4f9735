//! Which interface reaches a real server: one `RTM_GETROUTE` (the kernel's own route lookup,
//! in the calling thread's network namespace), for direct routing, which hands the client's
//! frame to the real server on that interface and so needs it on a directly connected
//! network.

use std::net::IpAddr;

use netlink_sys::{Socket, SocketAddr, protocols::NETLINK_ROUTE};

use crate::DataPathError;

const RTM_NEWROUTE: u16 = 24;
const RTM_GETROUTE: u16 = 26;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const RTA_DST: u16 = 1;
const RTA_OIF: u16 = 4;
const RTA_GATEWAY: u16 = 5;
const RTA_VIA: u16 = 18;
const RTN_UNICAST: u8 = 1;
const RTN_LOCAL: u8 = 2;

/// The interface a real server is reached through.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Device {
    /// Its index (names the ingress chain).
    pub(crate) index: u32,
    /// Its name (the ingress hook and `fwd` need it).
    pub(crate) name: String,
}

fn fail(what: String) -> DataPathError {
    DataPathError::Unsupported {
        kind: "nftables",
        what,
    }
}

/// The request: nlmsghdr, rtmsg (family, /32 or /128 destination), RTA_DST.
fn request(addr: IpAddr) -> Vec<u8> {
    let (family, bytes) = match addr {
        IpAddr::V4(a) => (libc::AF_INET as u8, a.octets().to_vec()),
        IpAddr::V6(a) => (libc::AF_INET6 as u8, a.octets().to_vec()),
    };
    let len = 16 + 12 + 4 + bytes.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&RTM_GETROUTE.to_ne_bytes());
    msg.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes());
    msg.extend_from_slice(&0u32.to_ne_bytes());
    let dst_len = (bytes.len() * 8) as u8;
    msg.extend_from_slice(&[family, dst_len, 0, 0, 0, 0, 0, 0]);
    msg.extend_from_slice(&0u32.to_ne_bytes()); // rtm_flags
    msg.extend_from_slice(&((4 + bytes.len()) as u16).to_ne_bytes());
    msg.extend_from_slice(&RTA_DST.to_ne_bytes());
    msg.extend_from_slice(&bytes);
    msg
}

/// What the answer says: route type, output interface, whether it goes through a gateway.
fn parse(reply: &[u8]) -> Result<(u8, Option<u32>, bool), String> {
    let u16_at = |i: usize| {
        reply
            .get(i..i + 2)
            .map(|b| u16::from_ne_bytes([b[0], b[1]]))
    };
    let u32_at = |i: usize| {
        reply
            .get(i..i + 4)
            .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
    };
    let kind = u16_at(4).ok_or("a short rtnetlink answer")?;
    if kind == NLMSG_ERROR {
        let errno = u32_at(16).ok_or("a short rtnetlink error")? as i32;
        return Err(std::io::Error::from_raw_os_error(-errno).to_string());
    }
    if kind != RTM_NEWROUTE {
        return Err(format!("an unexpected rtnetlink answer (type {kind})"));
    }
    let len = (u32_at(0).ok_or("a short rtnetlink answer")? as usize).min(reply.len());
    let route_type = *reply.get(16 + 7).ok_or("a short route")?;
    let (mut oif, mut gateway) = (None, false);
    let mut at = 16 + 12;
    while at + 4 <= len {
        let (Some(alen), Some(atype)) = (u16_at(at), u16_at(at + 2)) else {
            break;
        };
        let alen = usize::from(alen);
        if alen < 4 {
            break;
        }
        match atype & 0x3fff {
            RTA_OIF => oif = u32_at(at + 4),
            RTA_GATEWAY | RTA_VIA => gateway = true,
            _ => {}
        }
        at += (alen + 3) & !3;
    }
    Ok((route_type, oif, gateway))
}

/// The interface that reaches `addr` directly; an error if the route goes through a
/// gateway, is local, or there is none.
pub(crate) fn device_to(addr: IpAddr) -> Result<Device, DataPathError> {
    let io = |what: &str, e: std::io::Error| fail(format!("route to {addr}: {what}: {e}"));
    let mut socket = Socket::new(NETLINK_ROUTE).map_err(|e| io("socket", e))?;
    socket.bind_auto().map_err(|e| io("bind", e))?;
    socket
        .connect(&SocketAddr::new(0, 0))
        .map_err(|e| io("connect", e))?;
    socket.send(&request(addr), 0).map_err(|e| io("send", e))?;
    let mut reply = Vec::with_capacity(8192);
    socket.recv(&mut reply, 0).map_err(|e| io("recv", e))?;
    let (route_type, oif, gateway) =
        parse(&reply).map_err(|e| fail(format!("route to real server {addr}: {e}")))?;
    if route_type == RTN_LOCAL {
        return Err(fail(format!(
            "real server {addr} is an address of the balancer itself"
        )));
    }
    if gateway || route_type != RTN_UNICAST {
        return Err(fail(format!(
            "real server {addr} is not on a directly connected network (direct routing \
             hands it the client's frame, so it must share a link with the balancer)"
        )));
    }
    let index = oif.ok_or_else(|| fail(format!("route to {addr}: no output interface")))?;
    let name = crate::ifname::name_of(index)
        .ok_or_else(|| fail(format!("route to {addr}: interface {index} has no name")))?;
    // The name goes into nft text between quotes.
    if name.contains(['"', '\\']) || name.is_empty() {
        return Err(fail(format!(
            "interface name {name:?} cannot be written in nft"
        )));
    }
    Ok(Device { index, name })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_and_answer_layout() {
        let r = request("10.0.0.2".parse().unwrap());
        assert_eq!(r.len(), 36);
        assert_eq!(&r[16..18], &[libc::AF_INET as u8, 32]);
        assert_eq!(&r[32..36], &[10, 0, 0, 2]);
        let mut a = vec![0u8; 16 + 12 + 8 + 8];
        let len = a.len() as u32;
        a[0..4].copy_from_slice(&len.to_ne_bytes());
        a[4..6].copy_from_slice(&RTM_NEWROUTE.to_ne_bytes());
        a[16 + 7] = RTN_UNICAST;
        a[28..30].copy_from_slice(&8u16.to_ne_bytes());
        a[30..32].copy_from_slice(&RTA_OIF.to_ne_bytes());
        a[32..36].copy_from_slice(&7u32.to_ne_bytes());
        a[36..38].copy_from_slice(&8u16.to_ne_bytes());
        a[38..40].copy_from_slice(&RTA_GATEWAY.to_ne_bytes());
        assert_eq!(parse(&a).unwrap(), (RTN_UNICAST, Some(7), true));
        assert!(parse(&a[..3]).is_err());
    }
}
