//! A hostile host on the lab's LAN: a raw IPv4 socket with `IP_HDRINCL` in a node's
//! namespace, so that the source address, the TTL and the checksum are the attacker's
//! choice; paced floods; genuine packets read back from a capture for replays; and what a
//! flood cost the daemon (its CPU, the drops at its raw sockets).
//!
//! The packets' VRRP payloads come from the caller (`vrrp_core::packet::encode`).

use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::time::{Duration, Instant};

use crate::{DaemonProc, Error, Node, Result, wait_until};

/// IP protocol number of VRRP.
pub const VRRP_PROTO: u8 = 112;
/// The IPv4 VRRP group.
pub const GROUP4: Ipv4Addr = Ipv4Addr::new(224, 0, 0, 18);

/// An IPv4 header (the kernel fills in the total length, the ID and the header checksum
/// under `IP_HDRINCL`) for `src` → `dst` with `ttl`, and `vrrp` after it.
pub fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, vrrp: &[u8]) -> Vec<u8> {
    let mut p = vec![0x45, 0xc0, 0, 0, 0, 0, 0, 0, ttl, VRRP_PROTO, 0, 0];
    p.extend(src.octets());
    p.extend(dst.octets());
    p.extend(vrrp);
    p
}

/// A raw IPv4 socket opened in a node's namespace, bound to its `eth0`. The socket keeps
/// its namespace, so it may be used from any thread.
pub struct RawSender {
    fd: OwnedFd,
}

impl RawSender {
    /// Opens the socket in `node`'s namespace (on a thread of its own: `setns` changes
    /// only the calling thread).
    pub fn open(node: &Node) -> Result<RawSender> {
        let path = format!("/run/netns/{}", node.ns());
        std::thread::scope(|s| {
            s.spawn(|| open_in(&path))
                .join()
                .map_err(|_| Error::msg("raw socket thread panicked"))?
        })
    }

    /// Sends one IP packet (as built by [`ip_packet`]) to the destination in its header.
    pub fn send(&self, packet: &[u8]) -> Result<()> {
        let dst = packet
            .get(16..20)
            .and_then(|b| <[u8; 4]>::try_from(b).ok())
            .ok_or_else(|| Error::msg("not an IPv4 packet"))?;
        // SAFETY: all-zero is a valid sockaddr_in.
        let mut to: libc::sockaddr_in = unsafe { std::mem::zeroed() };
        to.sin_family = libc::AF_INET as libc::sa_family_t;
        to.sin_addr.s_addr = u32::from_ne_bytes(dst);
        // SAFETY: `packet` and `to` outlive the call; the lengths are theirs.
        let n = unsafe {
            libc::sendto(
                self.fd.as_raw_fd(),
                packet.as_ptr().cast(),
                packet.len(),
                0,
                (&to as *const libc::sockaddr_in).cast(),
                size_of::<libc::sockaddr_in>() as libc::socklen_t,
            )
        };
        if n == packet.len() as isize {
            Ok(())
        } else {
            Err(Error::msg(format!(
                "sendto: {}",
                std::io::Error::last_os_error()
            )))
        }
    }

    /// Sends `packets` round robin, paced at `rate` per second for `duration`, on the
    /// calling thread.
    pub fn flood(&self, packets: &[Vec<u8>], rate: u64, duration: Duration) -> Sent {
        let t = Instant::now();
        let (mut sent, mut errors) = (0u64, 0u64);
        while t.elapsed() < duration && !packets.is_empty() {
            let due = (t.elapsed().as_secs_f64() * rate as f64) as u64;
            if sent + errors >= due {
                std::thread::sleep(Duration::from_micros(50));
                continue;
            }
            for _ in 0..(due - sent - errors).min(64) {
                let p = &packets[((sent + errors) % packets.len() as u64) as usize];
                match self.send(p) {
                    Ok(()) => sent += 1,
                    Err(_) => errors += 1,
                }
            }
        }
        Sent {
            packets: sent,
            errors,
            elapsed: t.elapsed(),
        }
    }
}

fn open_in(netns: &str) -> Result<RawSender> {
    let ns = std::fs::File::open(netns)?;
    // SAFETY: setns on a descriptor we own, for this thread only.
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(Error::msg(format!(
            "setns {netns}: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: a plain socket call; the descriptor is owned by the OwnedFd at once.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_RAW, i32::from(VRRP_PROTO)) };
    if raw < 0 {
        return Err(Error::msg(format!(
            "raw socket: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: `raw` is a fresh descriptor nobody else owns.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let one: libc::c_int = 1;
    // The group has no route in the attacker's namespace: the device says where.
    let dev = b"eth0\0";
    // SAFETY: the option values live across the calls, their lengths are theirs.
    let ok = unsafe {
        libc::setsockopt(
            raw,
            libc::IPPROTO_IP,
            libc::IP_HDRINCL,
            (&one as *const libc::c_int).cast(),
            size_of::<libc::c_int>() as libc::socklen_t,
        ) == 0
            && libc::setsockopt(
                raw,
                libc::SOL_SOCKET,
                libc::SO_BINDTODEVICE,
                dev.as_ptr().cast(),
                dev.len() as libc::socklen_t,
            ) == 0
    };
    if !ok {
        return Err(Error::msg(format!(
            "setsockopt: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(RawSender { fd })
}

/// What a flood achieved.
#[derive(Debug, Clone, Copy)]
pub struct Sent {
    /// Packets the kernel took.
    pub packets: u64,
    /// Packets `sendto` refused.
    pub errors: u64,
    /// How long it ran.
    pub elapsed: Duration,
}

impl Sent {
    /// Packets per second achieved.
    pub fn rate(&self) -> f64 {
        self.packets as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// An IPv4 packet read from a capture.
#[derive(Debug, Clone)]
pub struct Frame {
    /// Capture time, unix seconds.
    pub t: f64,
    /// The Ethernet source, lower-case `aa:bb:cc:dd:ee:ff` (as [`Node::mac`]): who really
    /// sent it, whatever its IP source says.
    pub src_mac: String,
    /// The IP packet.
    pub ip: Vec<u8>,
}

impl Frame {
    /// IP source and destination.
    pub fn addrs(&self) -> Option<(Ipv4Addr, Ipv4Addr)> {
        let a = |at: usize| -> Option<Ipv4Addr> {
            Some(Ipv4Addr::from(
                <[u8; 4]>::try_from(self.ip.get(at..at + 4)?).ok()?,
            ))
        };
        Some((a(12)?, a(16)?))
    }

    /// The VRRP message after the IP header, if it is one.
    pub fn vrrp(&self) -> Option<&[u8]> {
        let ihl = usize::from(self.ip.first()? & 0x0f) * 4;
        (*self.ip.get(9)? == VRRP_PROTO).then(|| self.ip.get(ihl..))?
    }

    /// VRID and priority of a VRRP message.
    pub fn vrid_priority(&self) -> Option<(u8, u8)> {
        let v = self.vrrp()?;
        Some((*v.get(1)?, *v.get(2)?))
    }
}

/// The IPv4 packets of a pcap file written by `tcpdump -w` on an Ethernet link (link type
/// 1, microsecond or nanosecond stamps); a partial last record is left out.
pub fn pcap_ipv4(pcap: &Path) -> Result<Vec<Frame>> {
    let data = std::fs::read(pcap)?;
    let magic = data
        .get(0..4)
        .ok_or_else(|| Error::msg("pcap: no header"))?;
    let (le, nanos) = match magic {
        [0xd4, 0xc3, 0xb2, 0xa1] => (true, false),
        [0x4d, 0x3c, 0xb2, 0xa1] => (true, true),
        [0xa1, 0xb2, 0xc3, 0xd4] => (false, false),
        [0xa1, 0xb2, 0x3c, 0x4d] => (false, true),
        _ => return Err(Error::msg("pcap: not a pcap file")),
    };
    let u32_at = |at: usize| -> Option<u32> {
        let b: [u8; 4] = data.get(at..at + 4)?.try_into().ok()?;
        Some(if le {
            u32::from_le_bytes(b)
        } else {
            u32::from_be_bytes(b)
        })
    };
    if u32_at(20) != Some(1) {
        return Err(Error::msg("pcap: not an Ethernet capture"));
    }
    let mut out = Vec::new();
    let mut at = 24;
    while let (Some(secs), Some(frac), Some(len)) = (u32_at(at), u32_at(at + 4), u32_at(at + 8)) {
        // A capture still being written may end in a partial record.
        let Some(frame) = data.get(at + 16..at + 16 + len as usize) else {
            break;
        };
        at += 16 + len as usize;
        let t = f64::from(secs) + f64::from(frac) / if nanos { 1e9 } else { 1e6 };
        // Ethernet II with EtherType IPv4 only (the lab's bridge has no VLANs).
        if frame.get(12..14) == Some(&[0x08, 0x00]) && frame.len() > 14 {
            let src_mac = frame[6..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<Vec<_>>()
                .join(":");
            out.push(Frame {
                t,
                src_mac,
                ip: frame[14..].to_vec(),
            });
        }
    }
    Ok(out)
}

/// utime + stime of process `pid` (all its threads), in seconds.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(") ")?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of proc(5); `rest` starts at field 3.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf reads a constant of the system.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    Some(ticks as f64 / hz.max(1) as f64)
}

/// Drops of the VRRP (protocol 112) raw sockets in `node`'s namespace, the last column of
/// `/proc/net/raw`.
pub fn raw_drops(node: &Node) -> Result<u64> {
    let text = node.run_ok("cat", &["/proc/net/raw"])?;
    Ok(text
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let proto = f.get(1)?.rsplit(':').next()?;
            (u16::from_str_radix(proto, 16).ok()? == u16::from(VRRP_PROTO))
                .then(|| f.last()?.parse::<u64>().ok())?
        })
        .sum())
}

/// Per instance, `"Section/Line"` → value.
pub type KeepalivedStats =
    std::collections::BTreeMap<String, std::collections::BTreeMap<String, u64>>;

/// Asks keepalived (`d`, started with `TMPDIR=tmpdir`) for its statistics: SIGUSR2 to the
/// parent, which has its VRRP process write `tmpdir/keepalived.stats` (bounded wait).
pub fn keepalived_stats(d: &DaemonProc, tmpdir: &Path) -> Result<KeepalivedStats> {
    let file = tmpdir.join("keepalived.stats");
    let _ = std::fs::remove_file(&file);
    d.proc.kill_main(libc::SIGUSR2)?;
    let mut text = String::new();
    let written = wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        // Complete once it ends with the last instance's last line.
        text = std::fs::read_to_string(&file).unwrap_or_default();
        text.trim_end()
            .lines()
            .last()
            .is_some_and(|l| l.trim_start().starts_with("Sent:"))
            && text.contains("Priority Zero")
    });
    if !written {
        return Err(Error::msg(format!("no {} after SIGUSR2", file.display())));
    }
    Ok(parse_keepalived_stats(&text))
}

/// keepalived's statistics (`TMPDIR/keepalived.stats`, written by its VRRP process on
/// SIGUSR2), per instance: `"Section/Line"` → value, e.g. `"Advertisements/Received"`,
/// `"Became master"`, `"Authentication Errors/Failure"`.
pub fn parse_keepalived_stats(text: &str) -> KeepalivedStats {
    let mut out = KeepalivedStats::new();
    let mut instance = String::new();
    let mut section = String::new();
    for line in text.lines() {
        if let Some(name) = line.strip_prefix("VRRP Instance: ") {
            instance = name.trim().to_owned();
            continue;
        }
        let depth = line.len() - line.trim_start().len();
        let Some((key, value)) = line.trim().split_once(':') else {
            continue;
        };
        let value = value.trim();
        if value.is_empty() {
            section = key.to_owned();
            continue;
        }
        let Ok(v) = value.parse::<u64>() else {
            continue;
        };
        let key = if depth > 2 {
            format!("{section}/{key}")
        } else {
            key.to_owned()
        };
        out.entry(instance.clone()).or_default().insert(key, v);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keepalived_stats_are_read() {
        let text = "VRRP Instance: VI_1\n  Advertisements:\n    Received: 12\n    Sent: 3\n  Became master: 1\n  Released master: 0\n  Packet Errors:\n    Length: 0\n    TTL: 5\n  Authentication Errors:\n    Invalid Type: 0\n    Failure: 7\n";
        let s = parse_keepalived_stats(text);
        let i = &s["VI_1"];
        assert_eq!(i["Advertisements/Received"], 12);
        assert_eq!(i["Became master"], 1);
        assert_eq!(i["Packet Errors/TTL"], 5);
        assert_eq!(i["Authentication Errors/Failure"], 7);
    }

    #[test]
    fn an_ip_packet_has_the_fields_asked() {
        let p = ip_packet(Ipv4Addr::new(10, 99, 1, 9), GROUP4, 64, &[1, 2]);
        assert_eq!((p[8], p[9], p.len()), (64, 112, 22));
        assert_eq!(&p[16..20], &[224, 0, 0, 18]);
    }
}
