//! PING_CHECK: one ICMP or ICMPv6 echo (`check_ping.c`). An unprivileged ICMP datagram
//! socket when `net.ipv4.ping_group_range` allows it (the kernel then picks the id and
//! filters replies), else a raw socket (root). The reply must carry our sequence number and
//! payload (and id, on a raw socket).

use std::hash::{BuildHasher as _, RandomState};
use std::io;
use std::net::SocketAddr;

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;
use vrrp_lb::check::CheckOutcome;

use crate::net::{Target, io_reason};
use crate::{Stage, Verdict};

const PAYLOAD: &[u8; 16] = b"vrrpd PING_CHECK";

pub(crate) async fn probe(target: &Target, stage: &Stage) -> Verdict {
    let v6 = target.addr.is_ipv6();
    let proto = if v6 {
        Protocol::ICMPV6
    } else {
        Protocol::ICMPV4
    };
    let fail = |e: io::Error| format!("ICMP socket for {}: {}", target.addr.ip(), io_reason(&e));
    let (sock, raw) = match target.socket(Type::DGRAM, proto) {
        Ok(s) => (s, false),
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            (target.socket(Type::RAW, proto).map_err(fail)?, true)
        }
        Err(e) => return Err(fail(e)),
    };
    let peer = SocketAddr::new(target.addr.ip(), 0);
    sock.connect(&peer.into())
        .or_else(|e| match e.raw_os_error() {
            Some(libc::EINPROGRESS) => Ok(()),
            _ => Err(e),
        })
        .map_err(|e| format!("connect to {}: {}", peer.ip(), io_reason(&e)))?;
    let sock = UdpSocket::from_std(sock.into()).map_err(|e| io_reason(&e))?;
    let r = RandomState::new().hash_one(std::time::SystemTime::now());
    let (id, seq) = (r as u16, (r >> 16) as u16);
    stage.set("waiting for the ICMP echo reply");
    sock.send(&echo_request(v6, id, seq))
        .await
        .map_err(|e| format!("ICMP echo to {}: {}", peer.ip(), io_reason(&e)))?;
    let mut buf = vec![0u8; 2048];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("ICMP echo to {}: {}", peer.ip(), io_reason(&e)))?;
        let mut msg = &buf[..n];
        if raw && !v6 {
            // A raw IPv4 socket hands over the IP header too.
            let ihl = usize::from(msg.first().copied().unwrap_or(0) & 0x0f) * 4;
            msg = msg.get(ihl..).unwrap_or(&[]);
        }
        if is_our_reply(msg, v6, raw.then_some(id), seq) {
            return Ok(CheckOutcome::Up);
        }
    }
}

/// An echo request with our id, sequence number and payload.
pub(crate) fn echo_request(v6: bool, id: u16, seq: u16) -> Vec<u8> {
    let mut m = vec![if v6 { 128 } else { 8 }, 0, 0, 0];
    m.extend_from_slice(&id.to_be_bytes());
    m.extend_from_slice(&seq.to_be_bytes());
    m.extend_from_slice(PAYLOAD);
    if !v6 {
        // ICMPv6's checksum covers a pseudo header: the kernel fills it in.
        let sum = checksum(&m);
        m[2..4].copy_from_slice(&sum.to_be_bytes());
    }
    m
}

/// Whether `msg` (an ICMP message) answers our echo.
pub(crate) fn is_our_reply(msg: &[u8], v6: bool, id: Option<u16>, seq: u16) -> bool {
    let reply_type = if v6 { 129 } else { 0 };
    msg.len() >= 8
        && msg[0] == reply_type
        && msg[1] == 0
        && id.is_none_or(|id| msg[4..6] == id.to_be_bytes())
        && msg[6..8] == seq.to_be_bytes()
        && &msg[8..] == PAYLOAD
}

/// The Internet checksum (RFC 1071).
fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], c.get(1).copied().unwrap_or(0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn echo_round_trip() {
        let req = echo_request(false, 0x1234, 7);
        assert_eq!(checksum(&req), 0);
        let mut reply = req.clone();
        reply[0] = 0;
        assert!(is_our_reply(&reply, false, Some(0x1234), 7));
        assert!(is_our_reply(&reply, false, None, 7));
        assert!(!is_our_reply(&reply, false, Some(0x1235), 7));
        assert!(!is_our_reply(&reply, false, None, 8));
        assert!(!is_our_reply(&req, false, None, 7));
        assert!(!is_our_reply(&reply[..7], false, None, 7));
    }
}
