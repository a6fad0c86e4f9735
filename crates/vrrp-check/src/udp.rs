//! UDP_CHECK (`check_udp.c`): a connected UDP socket sends the payload. With `require_reply`
//! the first reply decides: its length within `min_reply_length`..=`max_reply_length`
//! (default 0..=255), and its first bytes (as many as both have) equal to the pattern, `XX`
//! matching any byte. Without it, the server is up unless an ICMP unreachable comes back
//! (ECONNREFUSED on the connected socket) before the deadline; so such a probe lasts its
//! whole `connect_timeout`.

use std::io;

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;
use tokio::time::Instant;
use vrrp_lb::check::{CheckOutcome, ReplyByte, UdpCheck};

use crate::net::{Target, io_reason};
use crate::{Stage, Verdict};

/// keepalived's default `max_reply_length`.
const DEFAULT_MAX_REPLY: usize = 255;

pub(crate) async fn probe(
    u: &UdpCheck,
    target: &Target,
    deadline: Instant,
    stage: &Stage,
) -> Verdict {
    let sock = target
        .socket(Type::DGRAM, Protocol::UDP)
        .map_err(|e| format!("UDP socket for {}: {}", target.addr, io_reason(&e)))?;
    let sock = UdpSocket::from_std(sock.into()).map_err(|e| io_reason(&e))?;
    sock.connect(target.addr)
        .await
        .map_err(|e| format!("connect to {}: {}", target.addr, io_reason(&e)))?;
    sock.send(&u.payload)
        .await
        .map_err(|e| refused(target, &e))?;
    stage.set("waiting for the UDP reply");
    let max = u.max_reply_length.unwrap_or(DEFAULT_MAX_REPLY);
    // One byte more than the maximum, to see a reply that is too long.
    let mut buf = vec![0u8; max.saturating_add(1).min(65536)];
    let got = tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await;
    match (got, &u.require_reply) {
        (Err(_), None) => Ok(CheckOutcome::Up),
        (Err(_), Some(_)) => Err(format!(
            "no UDP reply from {} within the deadline",
            target.addr
        )),
        (Ok(Err(e)), _) => Err(refused(target, &e)),
        (Ok(Ok(_)), None) => Ok(CheckOutcome::Up),
        (Ok(Ok(n)), Some(pattern)) => {
            reply_matches(&buf[..n], pattern, u.min_reply_length.unwrap_or(0), max)
                .map(|()| CheckOutcome::Up)
        }
    }
}

fn refused(target: &Target, e: &io::Error) -> String {
    if e.kind() == io::ErrorKind::ConnectionRefused {
        format!("{}: ICMP port unreachable", target.addr)
    } else {
        format!("UDP to {}: {}", target.addr, io_reason(e))
    }
}

/// keepalived's `check_udp_reply`, as a reason when it fails.
pub(crate) fn reply_matches(
    reply: &[u8],
    pattern: &[ReplyByte],
    min: usize,
    max: usize,
) -> Result<(), String> {
    if reply.len() < min || reply.len() > max {
        return Err(format!(
            "UDP reply of {} bytes, not within {min}-{max}",
            reply.len()
        ));
    }
    for (i, (got, want)) in reply.iter().zip(pattern).enumerate() {
        if let Some(w) = want
            && got != w
        {
            return Err(format!("UDP reply byte {i} is {got:02x}, expected {w:02x}"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_rule() {
        let p = [Some(1), None, Some(3)];
        assert!(reply_matches(&[1, 9, 3, 4], &p, 0, 255).is_ok());
        assert!(reply_matches(&[1, 9], &p, 0, 255).is_ok());
        assert!(reply_matches(&[2, 9, 3], &p, 0, 255).is_err());
        assert!(reply_matches(&[1, 9, 3], &p, 4, 255).is_err());
        assert!(reply_matches(&[1, 9, 3], &p, 0, 2).is_err());
    }
}
