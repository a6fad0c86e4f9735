//! A client sweeping many VIPs with ARP: when each one's first gratuitous ARP from the new
//! Master arrived, and when it first answered a request, counted from the new Master's
//! first advertisement seen on the LAN.
//!
//! The sweep starts at that advertisement (sweeping all the time before it would load the
//! machine the daemons share); from then on it asks every address that has not answered,
//! one pass after another at [`RATE`] requests a second, so an address's reply time is
//! late by at most one pass ([`Sweep::pass`]; passes shorten as addresses answer, so the
//! last address's error is small). Gratuitous ARPs are recorded as they come, without that
//! error.

use crate::probe::{ETH_P_ARP, ETH_P_IP, arp_who_has, open_socket, parse_mac, send_frame};
use crate::{Error, Node, Result};
use std::collections::HashMap;
use std::fs::File;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// ARP requests a second: enough to sweep 10,000 addresses in a quarter of a second, few
/// enough to leave the daemons' CPU alone (the unthrottled sweep took a core).
pub const RATE: u64 = 40_000;

/// Per address, times since the new Master's first advertisement.
#[derive(Clone, Debug, Default)]
pub struct Seen {
    /// Its first gratuitous ARP from the new Master.
    pub garp: Option<Duration>,
    /// Its first reply to the sweep, from the new Master.
    pub reply: Option<Duration>,
}

/// What a sweep saw.
#[derive(Debug, Default)]
pub struct Sweep {
    /// The new Master's first advertisement, since the sweep started waiting.
    pub advert: Option<Duration>,
    /// Per address, in the order given.
    pub seen: Vec<Seen>,
    /// Passes over the unanswered addresses.
    pub passes: u32,
    /// The longest pass: the resolution of the reply times.
    pub pass: Duration,
    /// Gratuitous ARPs from the new Master before its first advertisement (not timed).
    pub early_garps: u32,
}

impl Sweep {
    /// The latest of the addresses' first gratuitous ARPs / first replies, if all had one.
    pub fn all_garp(&self) -> Option<Duration> {
        self.seen.iter().map(|s| s.garp).max().flatten()
    }

    /// See [`Sweep::all_garp`].
    pub fn all_reply(&self) -> Option<Duration> {
        self.seen.iter().map(|s| s.reply).max().flatten()
    }

    /// The median address's first gratuitous ARP / first reply (of those that had one).
    pub fn median_garp(&self) -> Option<Duration> {
        median(self.seen.iter().filter_map(|s| s.garp).collect())
    }

    /// See [`Sweep::median_garp`].
    pub fn median_reply(&self) -> Option<Duration> {
        median(self.seen.iter().filter_map(|s| s.reply).collect())
    }

    /// The earliest gratuitous ARP.
    pub fn first_garp(&self) -> Option<Duration> {
        self.seen.iter().filter_map(|s| s.garp).min()
    }

    /// Addresses that answered.
    pub fn answered(&self) -> usize {
        self.seen.iter().filter(|s| s.reply.is_some()).count()
    }
}

fn median(mut v: Vec<Duration>) -> Option<Duration> {
    v.sort();
    v.get(v.len() / 2).copied()
}

/// A sweep under way on its own thread (in the client's namespace).
pub struct Sweeper {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<Result<Sweep>>>,
}

struct Cfg {
    mac: [u8; 6],
    ip: Ipv4Addr,
    master: [u8; 6],
    targets: Vec<Ipv4Addr>,
    max: Duration,
}

impl Sweeper {
    /// Waits (at most `max`) on `client` for an advertisement from `master_mac`, then
    /// sweeps `targets` until all answered or `max` ran out.
    pub fn start(
        client: &Node,
        master_mac: &str,
        targets: Vec<Ipv4Addr>,
        max: Duration,
    ) -> Result<Sweeper> {
        let ns_path = format!("/run/netns/{}", client.ns());
        let ns = File::open(&ns_path).map_err(|e| Error::msg(format!("{ns_path}: {e}")))?;
        let cfg = Cfg {
            mac: parse_mac(client.mac())?,
            ip: client.ipv4(),
            master: parse_mac(master_mac)?,
            targets,
            max,
        };
        let ifname = client.ifname().to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = Arc::clone(&stop);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel::<Result<()>>();
        let handle = std::thread::Builder::new()
            .name("vrrp-lab-sweep".into())
            .spawn(move || {
                let sock = match open_socket(&ns, &ifname).and_then(big_buffer) {
                    Ok(s) => s,
                    Err(e) => {
                        let _ = ready_tx.send(Err(Error::msg(e.to_string())));
                        return Err(e);
                    }
                };
                let _ = ready_tx.send(Ok(()));
                sweep(&sock, &cfg, &s2)
            })
            .map_err(Error::from)?;
        ready_rx
            .recv_timeout(Duration::from_secs(10))
            .map_err(|_| Error::msg("sweeper thread did not start"))??;
        Ok(Sweeper {
            stop,
            handle: Some(handle),
        })
    }

    /// Waits for the sweep to end (all answered, or its time ran out) and returns it.
    pub fn wait(mut self) -> Result<Sweep> {
        let h = self.handle.take().ok_or_else(|| Error::msg("no sweep"))?;
        h.join()
            .map_err(|_| Error::msg("sweeper thread panicked"))?
    }
}

impl Drop for Sweeper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// 5 bursts of 10,000 gratuitous ARPs must not overflow the socket.
fn big_buffer(sock: (OwnedFd, i32)) -> Result<(OwnedFd, i32)> {
    let bytes: libc::c_int = 256 << 20;
    // SAFETY: setsockopt with a valid int.
    let r = unsafe {
        libc::setsockopt(
            sock.0.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUFFORCE,
            &bytes as *const _ as *const libc::c_void,
            std::mem::size_of::<libc::c_int>() as u32,
        )
    };
    if r != 0 {
        return Err(Error::msg(format!(
            "SO_RCVBUFFORCE: {}",
            std::io::Error::last_os_error()
        )));
    }
    Ok(sock)
}

enum Rx {
    Advert,
    Garp(Ipv4Addr),
    Reply(Ipv4Addr),
}

/// Frames from the new Master: a VRRP advertisement, a gratuitous ARP, an ARP reply to us.
fn parse(cfg: &Cfg, f: &[u8]) -> Option<Rx> {
    if f.get(6..12)? != cfg.master {
        return None;
    }
    let p = f.get(14..)?;
    match u16::from_be_bytes([*f.get(12)?, *f.get(13)?]) {
        ETH_P_IP if p.get(9) == Some(&112) => Some(Rx::Advert),
        ETH_P_ARP if p.len() >= 28 => {
            let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let tpa = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            match u16::from_be_bytes([p[6], p[7]]) {
                _ if spa == tpa => Some(Rx::Garp(spa)),
                2 if tpa == cfg.ip => Some(Rx::Reply(spa)),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `SIOCGSTAMPNS` (x86-64 and the other 64-bit ABIs): the arrival time of the last packet
/// read, so that a frame read late still counts from when it came.
const SIOCGSTAMPNS: libc::c_ulong = 0x8907;

/// Now on the realtime clock, the kernel's packet timestamps' clock.
fn realtime() -> Duration {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
}

/// When the packet just read arrived (realtime).
fn arrival(sock: &(OwnedFd, i32)) -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: SIOCGSTAMPNS writes one timespec into `ts`.
    let r = unsafe { libc::ioctl(sock.0.as_raw_fd(), SIOCGSTAMPNS as _, &mut ts) };
    match (r, u64::try_from(ts.tv_sec), u32::try_from(ts.tv_nsec)) {
        (0, Ok(s), Ok(ns)) => Duration::new(s, ns),
        _ => realtime(),
    }
}

struct State {
    index: HashMap<Ipv4Addr, usize>,
    out: Sweep,
    /// The new Master's first advertisement (realtime).
    t0: Option<Duration>,
}

impl State {
    /// Reads what is queued; false once nothing is left.
    fn drain(&mut self, sock: &(OwnedFd, i32), cfg: &Cfg, buf: &mut [u8]) -> bool {
        // SAFETY: recv into our buffer; non-blocking socket.
        let n = unsafe {
            libc::recv(
                sock.0.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        let Ok(n) = usize::try_from(n) else {
            return false;
        };
        let Some(rx) = buf.get(..n).and_then(|f| parse(cfg, f)) else {
            return n > 0;
        };
        let now = arrival(sock);
        let since = |t0: Option<Duration>| t0.map(|t| now.saturating_sub(t));
        match Some(rx) {
            Some(Rx::Advert) if self.t0.is_none() => self.t0 = Some(now),
            Some(Rx::Garp(_)) if self.t0.is_none() => self.out.early_garps += 1,
            Some(Rx::Garp(ip)) => {
                if let Some(s) = self.index.get(&ip).and_then(|&i| self.out.seen.get_mut(i)) {
                    s.garp = s.garp.or(since(self.t0));
                }
            }
            Some(Rx::Reply(ip)) => {
                if let Some(s) = self.index.get(&ip).and_then(|&i| self.out.seen.get_mut(i)) {
                    s.reply = s.reply.or(since(self.t0));
                }
            }
            _ => {}
        }
        n > 0
    }
}

fn sweep(sock: &(OwnedFd, i32), cfg: &Cfg, stop: &AtomicBool) -> Result<Sweep> {
    let started = Instant::now();
    let started_real = realtime();
    let mut st = State {
        index: cfg
            .targets
            .iter()
            .enumerate()
            .map(|(i, a)| (*a, i))
            .collect(),
        out: Sweep {
            seen: vec![Seen::default(); cfg.targets.len()],
            ..Sweep::default()
        },
        t0: None,
    };
    let mut buf = vec![0u8; 2048];
    let frames: Vec<Vec<u8>> = cfg
        .targets
        .iter()
        .map(|&t| arp_who_has(&cfg.mac, cfg.ip, t))
        .collect();
    while !stop.load(Ordering::SeqCst) && started.elapsed() < cfg.max {
        if st.t0.is_none() {
            let mut pfd = libc::pollfd {
                fd: sock.0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut pfd, 1, 20) };
            while st.drain(sock, cfg, &mut buf) {}
            continue;
        }
        let pass = Instant::now();
        let mut pending: u64 = 0;
        for (i, frame) in frames.iter().enumerate() {
            if st.out.seen.get(i).is_some_and(|s| s.reply.is_none()) {
                pending += 1;
                send_frame(sock, frame);
                if pending.is_multiple_of(64) {
                    while st.drain(sock, cfg, &mut buf) {}
                    let due = pass + Duration::from_micros(pending * 1_000_000 / RATE);
                    std::thread::sleep(due.saturating_duration_since(Instant::now()));
                }
            }
        }
        std::thread::sleep(Duration::from_millis(1));
        while st.drain(sock, cfg, &mut buf) {}
        st.out.passes += 1;
        st.out.pass = st.out.pass.max(pass.elapsed());
        if pending == 0 {
            break;
        }
    }
    // Late gratuitous ARPs of the first burst.
    let linger = Instant::now();
    while linger.elapsed() < Duration::from_millis(200) {
        if !st.drain(sock, cfg, &mut buf) {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    st.out.advert = st.t0.map(|t| t.saturating_sub(started_real));
    Ok(st.out)
}
