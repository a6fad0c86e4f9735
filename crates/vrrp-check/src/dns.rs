//! DNS_CHECK: one UDP query of `type` for `name`; up when an answer with the query's id, the
//! QR bit and RCODE 0 comes back (`check_dns.c`: short datagrams, other ids and queries are
//! ignored and the wait goes on; a non-zero RCODE is down). Hand-written: the query is a
//! dozen bytes and only the answer's 12-byte header is looked at, so a DNS crate would
//! bring much code for nothing.

use std::hash::{BuildHasher as _, RandomState};

use socket2::{Protocol, Type};
use tokio::net::UdpSocket;
use vrrp_lb::check::{CheckOutcome, DnsCheck, DnsType};

use crate::net::{Target, io_reason};
use crate::{Stage, Verdict};

pub(crate) async fn probe(d: &DnsCheck, target: &Target, stage: &Stage) -> Verdict {
    let id = random_id();
    let query = query(id, &d.name, d.qtype)?;
    let sock = target
        .socket(Type::DGRAM, Protocol::UDP)
        .map_err(|e| format!("UDP socket for {}: {}", target.addr, io_reason(&e)))?;
    let sock = UdpSocket::from_std(sock.into()).map_err(|e| io_reason(&e))?;
    sock.connect(target.addr)
        .await
        .map_err(|e| format!("connect to {}: {}", target.addr, io_reason(&e)))?;
    stage.set("waiting for the DNS answer");
    sock.send(&query).await.map_err(|e| {
        format!(
            "sending the DNS query to {}: {}",
            target.addr,
            io_reason(&e)
        )
    })?;
    let mut buf = vec![0u8; 4096];
    loop {
        let n = sock
            .recv(&mut buf)
            .await
            .map_err(|e| format!("DNS answer from {}: {}", target.addr, io_reason(&e)))?;
        match answer(id, &buf[..n]) {
            Some(0) => return Ok(CheckOutcome::Up),
            Some(rcode) => {
                return Err(format!(
                    "DNS answer with RCODE {rcode} ({})",
                    rcode_name(rcode)
                ));
            }
            None => continue,
        }
    }
}

/// The RCODE of an answer to query `id`; `None` for what keepalived ignores.
pub(crate) fn answer(id: u16, msg: &[u8]) -> Option<u8> {
    if msg.len() < 12 || u16::from_be_bytes([msg[0], msg[1]]) != id || msg[2] & 0x80 == 0 {
        return None;
    }
    Some(msg[3] & 0x0f)
}

fn rcode_name(rcode: u8) -> &'static str {
    match rcode {
        1 => "FORMERR",
        2 => "SERVFAIL",
        3 => "NXDOMAIN",
        4 => "NOTIMP",
        5 => "REFUSED",
        _ => "error",
    }
}

fn random_id() -> u16 {
    // RandomState is seeded from the OS per instance: enough for a query id.
    RandomState::new().hash_one(std::time::SystemTime::now()) as u16
}

/// The query keepalived sends: RD set, one question, class IN.
pub(crate) fn query(id: u16, name: &str, qtype: DnsType) -> Result<Vec<u8>, String> {
    let mut q = Vec::with_capacity(32 + name.len());
    q.extend_from_slice(&id.to_be_bytes());
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    let trimmed = name.strip_suffix('.').unwrap_or(name);
    if !trimmed.is_empty() {
        for label in trimmed.split('.') {
            if label.is_empty() || label.len() > 63 {
                return Err(format!("invalid DNS name {name:?}"));
            }
            q.push(label.len() as u8);
            q.extend_from_slice(label.as_bytes());
        }
    }
    q.push(0);
    if q.len() - 12 > 255 {
        return Err(format!("DNS name too long: {name:?}"));
    }
    let code: u16 = match qtype {
        DnsType::A => 1,
        DnsType::Ns => 2,
        DnsType::Cname => 5,
        DnsType::Soa => 6,
        DnsType::Mx => 15,
        DnsType::Txt => 16,
        DnsType::Aaaa => 28,
    };
    q.extend_from_slice(&code.to_be_bytes());
    q.extend_from_slice(&1u16.to_be_bytes());
    Ok(q)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries() {
        let q = query(0x1234, ".", DnsType::Soa).unwrap();
        assert_eq!(q, [0x12, 0x34, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1]);
        let q = query(1, "a.bc", DnsType::A).unwrap();
        assert_eq!(&q[12..], [1, b'a', 2, b'b', b'c', 0, 0, 1, 0, 1]);
        assert!(query(1, "a..b", DnsType::A).is_err());
        assert!(query(1, &"x".repeat(64), DnsType::A).is_err());
    }

    #[test]
    fn answers() {
        assert_eq!(
            answer(7, &[0, 7, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]),
            Some(0)
        );
        assert_eq!(
            answer(7, &[0, 7, 0x81, 0x83, 0, 1, 0, 0, 0, 0, 0, 0]),
            Some(3)
        );
        assert_eq!(answer(7, &[0, 8, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]), None);
        assert_eq!(answer(7, &[0, 7, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]), None);
        assert_eq!(answer(7, &[0, 7, 0x81]), None);
    }
}
