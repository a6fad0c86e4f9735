//! A VIP prober: ARP + ICMP echo over an AF_PACKET socket in a node's namespace.
//!
//! Every `interval` the prober broadcasts an ARP request for the target (so it
//! learns at once which MAC owns the address, independently of the node's
//! neighbour cache) and sends an ICMP echo request to the MAC that answered
//! last. A probe counts as answered when its echo reply arrives; the report
//! keeps, per probe, the send time and the MAC the reply came from. This is
//! more precise than parsing `ping` output and shows the answering MAC per
//! probe. The socket lives in a thread that `setns(2)`-ed into the node's
//! network namespace (network namespaces are per thread).

use crate::{Error, Node, Result, lock};
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// One probe: when it was sent (since the prober started) and the reply.
#[derive(Clone, Debug)]
pub struct ProbeRecord {
    /// The ICMP echo sequence number.
    pub seq: u16,
    /// When it was sent, since the prober started.
    pub sent: Duration,
    /// Round-trip time and source MAC of the echo reply.
    pub reply: Option<(Duration, String)>,
}

/// A run of consecutive unanswered probes.
#[derive(Clone, Debug)]
pub struct Outage {
    /// Send time of the first lost probe.
    pub start: Duration,
    /// Send time of the first answered probe after it (None: still out).
    pub end: Option<Duration>,
    /// How many probes went unanswered.
    pub lost: usize,
    /// The MAC that answered last before the outage.
    pub mac_before: Option<String>,
    /// The MAC that answered first after it (None: still out).
    pub mac_after: Option<String>,
}

impl Outage {
    /// From the first lost probe to the first answered one; `None` while still out.
    pub fn duration(&self) -> Option<Duration> {
        self.end.map(|e| e.saturating_sub(self.start))
    }
}

/// What a prober saw.
#[derive(Clone, Debug)]
pub struct ProbeReport {
    /// The address probed.
    pub target: Ipv4Addr,
    /// The time between two probes.
    pub interval: Duration,
    /// Every probe, in send order.
    pub records: Vec<ProbeRecord>,
}

impl ProbeReport {
    /// How many probes were sent.
    pub fn sent(&self) -> usize {
        self.records.len()
    }

    /// How many probes were answered.
    pub fn answered(&self) -> usize {
        self.records.iter().filter(|r| r.reply.is_some()).count()
    }

    /// Runs of lost probes after the first answer (losses before the first
    /// answer are not outages: the VIP was not up yet).
    pub fn outages(&self) -> Vec<Outage> {
        let mut v = Vec::new();
        let mut last_mac: Option<String> = None;
        let mut cur: Option<Outage> = None;
        let mut seen_answer = false;
        for r in &self.records {
            match &r.reply {
                Some((_, mac)) => {
                    if let Some(mut o) = cur.take() {
                        o.end = Some(r.sent);
                        o.mac_after = Some(mac.clone());
                        v.push(o);
                    }
                    seen_answer = true;
                    last_mac = Some(mac.clone());
                }
                None if seen_answer => {
                    let o = cur.get_or_insert_with(|| Outage {
                        start: r.sent,
                        end: None,
                        lost: 0,
                        mac_before: last_mac.clone(),
                        mac_after: None,
                    });
                    o.lost += 1;
                }
                None => {}
            }
        }
        if let Some(o) = cur {
            v.push(o);
        }
        v
    }

    /// The longest outage (by lost probes).
    pub fn longest_outage(&self) -> Option<Outage> {
        self.outages().into_iter().max_by_key(|o| o.lost)
    }

    /// Longest time without an answered probe, after the first answer.
    pub fn longest_gap(&self) -> Duration {
        self.longest_outage()
            .map(|o| {
                o.duration()
                    .unwrap_or_else(|| self.records.last().map_or(o.start, |r| r.sent) - o.start)
            })
            .unwrap_or_default()
    }

    /// When the answering MAC changed: (send time, new MAC), first answer
    /// included.
    pub fn mac_changes(&self) -> Vec<(Duration, String)> {
        let mut v: Vec<(Duration, String)> = Vec::new();
        for r in &self.records {
            if let Some((_, mac)) = &r.reply
                && v.last().is_none_or(|(_, m)| m != mac)
            {
                v.push((r.sent, mac.clone()));
            }
        }
        v
    }

    /// MAC of the last answer.
    pub fn last_mac(&self) -> Option<String> {
        self.records
            .iter()
            .rev()
            .find_map(|r| r.reply.as_ref().map(|(_, m)| m.clone()))
    }

    /// First probe sent at or after `t` that `mac` answered: its send time.
    pub fn first_answer_from(&self, mac: &str, t: Duration) -> Option<Duration> {
        self.records
            .iter()
            .filter(|r| r.sent >= t)
            .find(|r| r.reply.as_ref().is_some_and(|(_, m)| m == mac))
            .map(|r| r.sent)
    }

    /// First answer sent at or after `t`: (send time, MAC).
    pub fn first_answer_after(&self, t: Duration) -> Option<(Duration, String)> {
        self.records
            .iter()
            .filter(|r| r.sent >= t)
            .find_map(|r| r.reply.as_ref().map(|(_, m)| (r.sent, m.clone())))
    }
}

/// A background prober; see the module docs. Stops by itself after its
/// maximum duration; [`Prober::stop`] returns the report.
pub struct Prober {
    stop: Arc<AtomicBool>,
    records: Arc<Mutex<Vec<ProbeRecord>>>,
    handle: Option<JoinHandle<Result<()>>>,
    started: Instant,
    target: Ipv4Addr,
    interval: Duration,
}

impl Prober {
    /// Starts probing `target` from `node` every `interval`, for at most `max`.
    pub fn start(
        node: &Node,
        target: Ipv4Addr,
        interval: Duration,
        max: Duration,
    ) -> Result<Prober> {
        let interval = interval.max(Duration::from_millis(1));
        let ns_path = format!("/run/netns/{}", node.ns());
        let ns = File::open(&ns_path).map_err(|e| Error::msg(format!("{ns_path}: {e}")))?;
        let src_mac = parse_mac(node.mac())?;
        let src_ip = node.ipv4();
        let ifname = node.ifname().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let records = Arc::new(Mutex::new(Vec::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<Instant>>();
        let (s2, r2) = (stop.clone(), records.clone());
        let handle = std::thread::Builder::new()
            .name("vrrp-lab-probe".into())
            .spawn(move || {
                let sock = match open_socket(&ns, &ifname) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::msg(e.to_string())));
                        return Err(e);
                    }
                };
                let started = Instant::now();
                let _ = ready_tx.send(Ok(started));
                let cfg = Cfg {
                    src_mac,
                    src_ip,
                    target,
                    interval,
                    max,
                    ident: (std::process::id() as u16) ^ 0x5a5a,
                };
                probe_loop(&sock, &cfg, started, &s2, &r2)
            })
            .map_err(Error::from)?;
        let started = ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::msg("prober thread did not start"))??;
        Ok(Prober {
            stop,
            records,
            handle: Some(handle),
            started,
            target,
            interval,
        })
    }

    /// Time since the prober started (the records' time base).
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// The records so far.
    pub fn snapshot(&self) -> ProbeReport {
        ProbeReport {
            target: self.target,
            interval: self.interval,
            records: lock(&self.records).clone(),
        }
    }

    /// MAC of the latest answered probe.
    pub fn last_answer(&self) -> Option<(Duration, String)> {
        lock(&self.records)
            .iter()
            .rev()
            .find_map(|r| r.reply.as_ref().map(|(_, m)| (r.sent, m.clone())))
    }

    /// Stops the prober (waiting briefly for late replies) and reports.
    pub fn stop(mut self) -> Result<ProbeReport> {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            match h.join() {
                Ok(r) => r?,
                Err(_) => return Err(Error::msg("prober thread panicked")),
            }
        }
        Ok(self.snapshot())
    }
}

impl Drop for Prober {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

struct Cfg {
    src_mac: [u8; 6],
    src_ip: Ipv4Addr,
    target: Ipv4Addr,
    interval: Duration,
    max: Duration,
    ident: u16,
}

pub(crate) fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let v: Vec<u8> = s
        .split(':')
        .filter_map(|h| u8::from_str_radix(h, 16).ok())
        .collect();
    v.try_into().map_err(|_| Error::msg(format!("bad MAC {s}")))
}

fn fmt_mac(m: &[u8]) -> String {
    m.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

const ETH_P_ALL: u16 = 0x0003;
pub(crate) const ETH_P_IP: u16 = 0x0800;
pub(crate) const ETH_P_ARP: u16 = 0x0806;

pub(crate) fn open_socket(ns: &File, ifname: &str) -> Result<(OwnedFd, i32)> {
    // SAFETY: setns on this thread only (CLONE_NEWNET is per-thread).
    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(Error::msg(format!(
            "setns: {}",
            std::io::Error::last_os_error()
        )));
    }
    let cname = std::ffi::CString::new(ifname).map_err(|_| Error::msg("bad ifname"))?;
    // SAFETY: valid C string.
    let ifindex = unsafe { libc::if_nametoindex(cname.as_ptr()) } as i32;
    if ifindex == 0 {
        return Err(Error::msg(format!("no interface {ifname} in namespace")));
    }
    // SAFETY: plain socket(2).
    let fd = unsafe {
        libc::socket(
            libc::AF_PACKET,
            libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
            (ETH_P_ALL.to_be()) as i32,
        )
    };
    if fd < 0 {
        return Err(Error::msg(format!(
            "AF_PACKET socket: {}",
            std::io::Error::last_os_error()
        )));
    }
    // SAFETY: fd is a fresh, owned descriptor.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: zeroed sockaddr_ll is valid; we fill the fields we need.
    let mut sll: libc::sockaddr_ll = unsafe { std::mem::zeroed() };
    sll.sll_family = libc::AF_PACKET as u16;
    sll.sll_protocol = ETH_P_ALL.to_be();
    sll.sll_ifindex = ifindex;
    // SAFETY: sll is a valid sockaddr_ll of the given size.
    let r = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            &sll as *const _ as *const libc::sockaddr,
            std::mem::size_of::<libc::sockaddr_ll>() as u32,
        )
    };
    if r != 0 {
        return Err(Error::msg(format!(
            "bind AF_PACKET: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok((fd, ifindex))
}

pub(crate) fn send_frame(sock: &(OwnedFd, i32), frame: &[u8]) {
    // SAFETY: send(2) on a bound packet socket with a valid buffer.
    unsafe {
        libc::send(
            sock.0.as_raw_fd(),
            frame.as_ptr() as *const libc::c_void,
            frame.len(),
            0,
        );
    }
}

fn checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn arp_request(cfg: &Cfg) -> Vec<u8> {
    arp_who_has(&cfg.src_mac, cfg.src_ip, cfg.target)
}

/// A broadcast ARP request for `target` from `mac` / `ip`.
pub(crate) fn arp_who_has(mac: &[u8; 6], ip: Ipv4Addr, target: Ipv4Addr) -> Vec<u8> {
    let mut f = Vec::with_capacity(42);
    f.extend_from_slice(&[0xff; 6]);
    f.extend_from_slice(mac);
    f.extend_from_slice(&ETH_P_ARP.to_be_bytes());
    f.extend_from_slice(&[0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(mac);
    f.extend_from_slice(&ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&target.octets());
    f
}

fn icmp_echo(cfg: &Cfg, dst_mac: &[u8; 6], seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&cfg.ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"vrrplab!vrrplab!");
    let c = checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&total.to_be_bytes());
    ip.extend_from_slice(&seq.to_be_bytes()); // identification
    ip.extend_from_slice(&[0x40, 0, 64, 1, 0, 0]); // DF, ttl 64, ICMP
    ip.extend_from_slice(&cfg.src_ip.octets());
    ip.extend_from_slice(&cfg.target.octets());
    let c = checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    let mut f = Vec::with_capacity(14 + ip.len() + icmp.len());
    f.extend_from_slice(dst_mac);
    f.extend_from_slice(&cfg.src_mac);
    f.extend_from_slice(&ETH_P_IP.to_be_bytes());
    f.extend_from_slice(&ip);
    f.extend_from_slice(&icmp);
    f
}

enum Rx {
    ArpOwner([u8; 6]),
    EchoReply(u16, [u8; 6]),
}

fn parse_rx(cfg: &Cfg, f: &[u8]) -> Option<Rx> {
    if f.len() < 14 {
        return None;
    }
    let eth_src: [u8; 6] = f[6..12].try_into().ok()?;
    let ty = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ty {
        ETH_P_ARP if p.len() >= 28 => {
            // ARP reply, or a gratuitous ARP, from the target address.
            let oper = u16::from_be_bytes([p[6], p[7]]);
            let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let sha: [u8; 6] = p[8..14].try_into().ok()?;
            if spa == cfg.target && (oper == 2 || oper == 1) && sha != cfg.src_mac {
                Some(Rx::ArpOwner(sha))
            } else {
                None
            }
        }
        ETH_P_IP if p.len() >= 20 => {
            let ihl = ((p[0] & 0x0f) as usize) * 4;
            if p[9] != 1 || p.len() < ihl + 8 {
                return None;
            }
            let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let dst = Ipv4Addr::new(p[16], p[17], p[18], p[19]);
            let icmp = &p[ihl..];
            let ident = u16::from_be_bytes([icmp[4], icmp[5]]);
            if src == cfg.target && dst == cfg.src_ip && icmp[0] == 0 && ident == cfg.ident {
                Some(Rx::EchoReply(
                    u16::from_be_bytes([icmp[6], icmp[7]]),
                    eth_src,
                ))
            } else {
                None
            }
        }
        _ => None,
    }
}

fn probe_loop(
    sock: &(OwnedFd, i32),
    cfg: &Cfg,
    started: Instant,
    stop: &AtomicBool,
    records: &Mutex<Vec<ProbeRecord>>,
) -> Result<()> {
    let mut owner: Option<[u8; 6]> = None;
    let mut seq: u16 = 0;
    let mut next_send = started;
    let mut stop_at: Option<Instant> = None;
    let mut buf = vec![0u8; 2048];
    let max_probes = (cfg.max.as_micros() / cfg.interval.as_micros().max(1)) as u64 + 2;
    let mut sent_total: u64 = 0;
    loop {
        let now = Instant::now();
        if stop_at.is_none()
            && (stop.load(Ordering::SeqCst)
                || now.duration_since(started) >= cfg.max
                || sent_total >= max_probes)
        {
            // Linger a little for replies to the last probes.
            stop_at = Some(now + Duration::from_millis(150).max(cfg.interval));
        }
        if let Some(t) = stop_at
            && now >= t
        {
            return Ok(());
        }
        if stop_at.is_none() && now >= next_send {
            send_frame(sock, &arp_request(cfg));
            if let Some(mac) = owner {
                send_frame(sock, &icmp_echo(cfg, &mac, seq));
            }
            lock(records).push(ProbeRecord {
                seq,
                sent: now.duration_since(started),
                reply: None,
            });
            seq = seq.wrapping_add(1);
            sent_total += 1;
            next_send += cfg.interval;
            if next_send < now {
                next_send = now + cfg.interval; // fell behind (busy machine)
            }
        }
        let wake = stop_at.unwrap_or(next_send);
        let wait = wake.saturating_duration_since(Instant::now());
        let mut pfd = libc::pollfd {
            fd: sock.0.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let ms = wait.as_millis().min(100) as i32;
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, ms) };
        // Drain (bounded).
        for _ in 0..256 {
            // SAFETY: recv into our buffer; non-blocking socket.
            let n = unsafe {
                libc::recv(
                    sock.0.as_raw_fd(),
                    buf.as_mut_ptr() as *mut libc::c_void,
                    buf.len(),
                    0,
                )
            };
            if n <= 0 {
                break;
            }
            match parse_rx(cfg, &buf[..n as usize]) {
                Some(Rx::ArpOwner(mac)) => owner = Some(mac),
                Some(Rx::EchoReply(s, mac)) => {
                    let at = started.elapsed();
                    let mut recs = lock(records);
                    // seq wraps after 65536 probes; search from the end.
                    if let Some(r) = recs.iter_mut().rev().find(|r| r.seq == s)
                        && r.reply.is_none()
                    {
                        r.reply = Some((at.saturating_sub(r.sent), fmt_mac(&mac)));
                    }
                }
                None => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(ms: u64, mac: Option<&str>) -> ProbeRecord {
        ProbeRecord {
            seq: ms as u16,
            sent: Duration::from_millis(ms),
            reply: mac.map(|m| (Duration::from_millis(1), m.to_string())),
        }
    }

    #[test]
    fn outages_and_macs() {
        let r = ProbeReport {
            target: Ipv4Addr::new(10, 0, 0, 1),
            interval: Duration::from_millis(10),
            records: vec![
                rec(0, None),
                rec(10, Some("a")),
                rec(20, None),
                rec(30, None),
                rec(40, Some("b")),
                rec(50, None),
                rec(60, Some("b")),
            ],
        };
        let o = r.outages();
        assert_eq!(o.len(), 2);
        assert_eq!(o[0].lost, 2);
        assert_eq!(o[0].duration(), Some(Duration::from_millis(20)));
        assert_eq!(o[0].mac_after.as_deref(), Some("b"));
        assert_eq!(r.longest_gap(), Duration::from_millis(20));
        assert_eq!(r.mac_changes().len(), 2);
        assert_eq!(r.answered(), 3);
    }

    #[test]
    fn checksum_ok() {
        let cfg = Cfg {
            src_mac: [2, 0, 0, 0, 0, 1],
            src_ip: Ipv4Addr::new(10, 0, 0, 1),
            target: Ipv4Addr::new(10, 0, 0, 2),
            interval: Duration::from_millis(1),
            max: Duration::from_secs(1),
            ident: 7,
        };
        let f = icmp_echo(&cfg, &[2, 0, 0, 0, 0, 2], 5);
        assert_eq!(checksum(&f[14..34]), 0);
        assert_eq!(checksum(&f[34..]), 0);
    }
}
