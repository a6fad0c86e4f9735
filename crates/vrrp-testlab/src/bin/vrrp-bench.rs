//! vrrp-bench: failover latency, timer accuracy under load, and cost (CPU, memory) of
//! vrrpd against keepalived, on namespace LANs. A benchmark binary, not a test.
//!
//! Every measurement runs both daemons with the same keepalived.conf in the same run,
//! interleaved repetition by repetition (vrrpd, keepalived, vrrpd, ...), so slow drifts of
//! the machine's load hit both alike.
//!
//! Clocks: the kill instant, the bridge capture (kernel `SO_TIMESTAMPNS` receive stamps)
//! and the client prober all use CLOCK_REALTIME.
//!
//! Usage: see `usage()`; `scripts/bench.sh` builds in release and runs `all`.

use std::fmt::Write as _;
use std::fs::File;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vrrp_testlab::benchkit::{
    LinkSwitch, Res, Rng, Stats, Worker, chrono_utc, csum, daemon_pids, enable_stamps, err, f2,
    fmt_secs, in_netns, load1, loadavg, lock, mdi_ns, ms, packet_socket, parse_mac, poll_in,
    realtime_ns, recv_stamped, send_frame, sigkill_all, skew_ns, start_daemon, stats, wait_daemon,
};
use vrrp_testlab::budget::Budget;
use vrrp_testlab::outage;
use vrrp_testlab::{Daemon, KeepalivedConf, Lab, Node, Proc, VrrpInstance};

const VRID: u8 = 51;
const PRIO_MASTER: u8 = 200;
const PRIO_BACKUP: u8 = 100;
/// Client probe period (ARP + ICMP echo each).
const PROBE_INTERVAL: Duration = Duration::from_millis(1);
/// Hard limit for one whole `vrrp-bench` run.
const RUN_BUDGET: Duration = Duration::from_secs(3 * 3600);

// ---------------------------------------------------------------------------
// The bridge sniffer: VRRP advertisements and gratuitous ARPs with kernel time stamps

#[derive(Clone, Copy, Debug)]
enum Kind {
    Vrrp {
        src: Ipv4Addr,
        vrid: u8,
        prio: u8,
        /// Advertisement interval in centiseconds (v2: seconds × 100).
        int_cs: u16,
    },
    Garp {
        mac: [u8; 6],
        ip: Ipv4Addr,
    },
}

#[derive(Clone, Copy, Debug)]
struct Event {
    t: i64,
    kind: Kind,
}

fn parse_frame(f: &[u8]) -> Option<Kind> {
    if f.len() < 14 {
        return None;
    }
    let ty = u16::from_be_bytes([f[12], f[13]]);
    let p = &f[14..];
    match ty {
        0x0800 if p.len() >= 28 => {
            let ihl = usize::from(p[0] & 0x0f) * 4;
            if p[9] != 112 || p.len() < ihl + 8 {
                return None;
            }
            let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
            let v = &p[ihl..];
            let version = v[0] >> 4;
            let int_cs = if version == 3 {
                u16::from_be_bytes([v[4] & 0x0f, v[5]])
            } else {
                u16::from(v[5]) * 100
            };
            Some(Kind::Vrrp {
                src,
                vrid: v[1],
                prio: v[2],
                int_cs,
            })
        }
        0x0806 if p.len() >= 28 => {
            let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
            let tpa = Ipv4Addr::new(p[24], p[25], p[26], p[27]);
            let broadcast = f[..6] == [0xff; 6];
            if spa == tpa && broadcast {
                let mac: [u8; 6] = p[8..14].try_into().ok()?;
                Some(Kind::Garp { mac, ip: spa })
            } else {
                None
            }
        }
        _ => None,
    }
}

struct Sniffer {
    events: Arc<Mutex<Vec<Event>>>,
    /// Frames whose kernel stamp was missing or implausible (then: the read time).
    fallbacks: Arc<AtomicU64>,
    _worker: Worker,
}

impl Sniffer {
    fn start(bridge_ns: &str, max: Duration) -> Res<Sniffer> {
        let sock = in_netns(bridge_ns, || {
            let (fd, _) = packet_socket("br0")?;
            enable_stamps(&fd)?;
            Ok(fd)
        })?;
        let events = Arc::new(Mutex::new(Vec::new()));
        let fallbacks = Arc::new(AtomicU64::new(0));
        let (e2, f2) = (events.clone(), fallbacks.clone());
        let worker = Worker::spawn("bench-sniffer", move |stop| {
            sniff_loop(&sock, max, stop, &e2, &f2)
        })?;
        Ok(Sniffer {
            events,
            fallbacks,
            _worker: worker,
        })
    }

    fn events(&self) -> Vec<Event> {
        lock(&self.events).clone()
    }

    fn clear(&self) {
        lock(&self.events).clear();
    }
}

fn sniff_loop(
    sock: &OwnedFd,
    max: Duration,
    stop: &AtomicBool,
    events: &Mutex<Vec<Event>>,
    fallbacks: &AtomicU64,
) {
    let start = Instant::now();
    let mut buf = vec![0u8; 2048];
    while !stop.load(Ordering::SeqCst) && start.elapsed() < max {
        poll_in(&[sock], Duration::from_millis(50));
        for _ in 0..1024 {
            let Some(s) = recv_stamped(sock, &mut buf) else {
                break;
            };
            let Some(kind) = parse_frame(&buf[..s.len]) else {
                continue;
            };
            if s.fallback {
                fallbacks.fetch_add(1, Ordering::Relaxed);
            }
            lock(events).push(Event { t: s.t, kind });
        }
    }
}

// ---------------------------------------------------------------------------
// The client prober: ARP + ICMP echo to the VIP every PROBE_INTERVAL, real-time stamps

#[derive(Clone, Copy)]
struct Probe {
    seq: u16,
    sent: i64,
    reply_mac: Option<[u8; 6]>,
    /// Arrival of the echo reply (CLOCK_REALTIME ns).
    reply_t: i64,
}

struct Prober {
    records: Arc<Mutex<Vec<Probe>>>,
    _worker: Worker,
}

struct ProbeCfg {
    mac: [u8; 6],
    ip: Ipv4Addr,
    target: Ipv4Addr,
    ident: u16,
}

fn arp_req(c: &ProbeCfg) -> Vec<u8> {
    let mut f = vec![0xff; 6];
    f.extend_from_slice(&c.mac);
    f.extend_from_slice(&[0x08, 0x06, 0, 1, 8, 0, 6, 4, 0, 1]);
    f.extend_from_slice(&c.mac);
    f.extend_from_slice(&c.ip.octets());
    f.extend_from_slice(&[0; 6]);
    f.extend_from_slice(&c.target.octets());
    f
}

fn echo_req(c: &ProbeCfg, dst: &[u8; 6], seq: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&c.ident.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(b"vrrpbench");
    let k = csum(&icmp);
    icmp[2..4].copy_from_slice(&k.to_be_bytes());
    let mut ip = vec![0x45, 0];
    ip.extend_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    ip.extend_from_slice(&seq.to_be_bytes());
    ip.extend_from_slice(&[0x40, 0, 64, 1, 0, 0]);
    ip.extend_from_slice(&c.ip.octets());
    ip.extend_from_slice(&c.target.octets());
    let k = csum(&ip);
    ip[10..12].copy_from_slice(&k.to_be_bytes());
    let mut f = dst.to_vec();
    f.extend_from_slice(&c.mac);
    f.extend_from_slice(&[0x08, 0x00]);
    f.extend_from_slice(&ip);
    f.extend_from_slice(&icmp);
    f
}

impl Prober {
    fn start(client: &Node, target: Ipv4Addr, max: Duration) -> Res<Prober> {
        let ns = client.ns().to_string();
        let (sock, _) = in_netns(&ns, || packet_socket("eth0"))?;
        let cfg = ProbeCfg {
            mac: parse_mac(client.mac())?,
            ip: client.ipv4(),
            target,
            ident: (std::process::id() as u16) ^ 0x6b62,
        };
        let records = Arc::new(Mutex::new(Vec::new()));
        let r2 = records.clone();
        let worker = Worker::spawn("bench-prober", move |stop| {
            probe_loop(&sock, &cfg, max, stop, &r2)
        })?;
        Ok(Prober {
            records,
            _worker: worker,
        })
    }

    fn records(&self) -> Vec<Probe> {
        lock(&self.records).clone()
    }

    /// MAC of the latest answered probe.
    fn last_mac(&self) -> Option<[u8; 6]> {
        lock(&self.records).iter().rev().find_map(|p| p.reply_mac)
    }
}

fn probe_loop(
    sock: &OwnedFd,
    c: &ProbeCfg,
    max: Duration,
    stop: &AtomicBool,
    records: &Mutex<Vec<Probe>>,
) {
    let start = Instant::now();
    let mut next = start;
    let mut owner: Option<[u8; 6]> = None;
    let mut seq: u16 = 0;
    let mut buf = vec![0u8; 2048];
    let max_probes = max.as_micros() / PROBE_INTERVAL.as_micros() + 2;
    let mut sent: u128 = 0;
    while !stop.load(Ordering::SeqCst) && start.elapsed() < max && sent < max_probes {
        let now = Instant::now();
        if now >= next {
            send_frame(sock, &arp_req(c));
            if let Some(m) = owner {
                send_frame(sock, &echo_req(c, &m, seq));
            }
            lock(records).push(Probe {
                seq,
                sent: realtime_ns(),
                reply_mac: None,
                reply_t: 0,
            });
            seq = seq.wrapping_add(1);
            sent += 1;
            next += PROBE_INTERVAL;
            if next < now {
                next = now + PROBE_INTERVAL;
            }
        }
        let wait = next.saturating_duration_since(Instant::now());
        let ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: wait.as_nanos().min(100_000_000) as libc::c_long,
        };
        let mut pfd = libc::pollfd {
            fd: sock.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one pollfd, a valid timespec, no signal mask.
        unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        for _ in 0..256 {
            // SAFETY: recv into our buffer on a non-blocking socket.
            let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
            if n <= 0 {
                break;
            }
            let f = &buf[..n as usize];
            if f.len() < 42 || f[6..12] == c.mac {
                continue;
            }
            let src_mac: [u8; 6] = f[6..12].try_into().unwrap_or_default();
            let p = &f[14..];
            match u16::from_be_bytes([f[12], f[13]]) {
                0x0806 => {
                    let spa = Ipv4Addr::new(p[14], p[15], p[16], p[17]);
                    if spa == c.target {
                        owner = p[8..14].try_into().ok();
                    }
                }
                0x0800 => {
                    let ihl = usize::from(p[0] & 0x0f) * 4;
                    if p[9] != 1 || p.len() < ihl + 8 {
                        continue;
                    }
                    let src = Ipv4Addr::new(p[12], p[13], p[14], p[15]);
                    let icmp = &p[ihl..];
                    if src != c.target
                        || icmp[0] != 0
                        || u16::from_be_bytes([icmp[4], icmp[5]]) != c.ident
                    {
                        continue;
                    }
                    let s = u16::from_be_bytes([icmp[6], icmp[7]]);
                    let mut recs = lock(records);
                    if let Some(r) = recs.iter_mut().rev().take(60_000).find(|r| r.seq == s)
                        && r.reply_mac.is_none()
                    {
                        r.reply_mac = Some(src_mac);
                        r.reply_t = realtime_ns();
                    }
                }
                _ => {}
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Daemons

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Sig {
    Kill,
    Term,
}

impl Sig {
    fn name(self) -> &'static str {
        match self {
            Sig::Kill => "SIGKILL",
            Sig::Term => "SIGTERM",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Scenario {
    version: u8,
    /// Advertisement interval in centiseconds.
    int_cs: u16,
    sig: Sig,
    load: bool,
}

impl Scenario {
    fn label(&self) -> String {
        format!(
            "VRRPv{} {} s{}",
            self.version,
            fmt_secs(self.int_cs),
            if self.load { ", 2 busy loops" } else { "" }
        )
    }

    fn key(&self) -> String {
        format!(
            "v{}-{}cs-{}{}",
            self.version,
            self.int_cs,
            if self.sig == Sig::Kill {
                "kill"
            } else {
                "term"
            },
            if self.load { "-load" } else { "" }
        )
    }
}

fn instance(name: &str, vrid: u8, prio: u8, version: u8, int_cs: u16, vip: &str) -> VrrpInstance {
    VrrpInstance::new(name, "eth0", vrid, prio)
        .version(version)
        .advert_int(f64::from(int_cs) / 100.0)
        .vip(vip)
}

struct FoLab {
    /// Owns the namespaces (deleted on drop).
    _lab: Lab,
    r1: Node,
    r2: Node,
    client: Node,
    vip: Ipv4Addr,
    r1_link: LinkSwitch,
    sniffer: Sniffer,
}

impl FoLab {
    fn new(tag: &str) -> Res<FoLab> {
        let mut lab = Lab::new(tag).map_err(|e| e.to_string())?;
        let r1 = lab.add_router("r1").map_err(|e| e.to_string())?;
        let r2 = lab.add_router("r2").map_err(|e| e.to_string())?;
        let client = lab.add_host("client").map_err(|e| e.to_string())?;
        let vip = lab.vip4(100);
        let r1_link = LinkSwitch::open(r1.ns(), r1.ifname())?;
        let sniffer = Sniffer::start(lab.bridge_ns(), RUN_BUDGET)?;
        Ok(FoLab {
            _lab: lab,
            r1,
            r2,
            client,
            vip,
            r1_link,
            sniffer,
        })
    }

    fn cleanup_vip(&self) {
        let cidr = format!("{}/24", self.vip);
        for n in [&self.r1, &self.r2] {
            if n.has_address(self.vip) {
                let _ = n.del_address(&cidr);
            }
        }
    }
}

#[derive(Clone, Debug)]
struct FoSample {
    daemon: &'static str,
    rep: u32,
    /// From the kill to the new Master's first advertisement, GARP, answered probe (ns).
    advert: Option<i64>,
    garp: Option<i64>,
    client: Option<i64>,
    /// From the reference (last advert of the dead Master / its priority-0 advert) to
    /// the new Master's first advertisement, minus the protocol's bound (ns).
    late: Option<i64>,
    bound: i64,
    /// From the reference to the kill (ns; negative for SIGTERM: the priority-0 advert
    /// comes after the signal).
    ref_to_kill: Option<i64>,
    load1: f64,
    note: String,
}

fn failover_rep(
    b: &Budget,
    fo: &FoLab,
    daemon: &Daemon,
    sc: &Scenario,
    rep: u32,
    rng: &mut Rng,
) -> Res<FoSample> {
    let cidr = format!("{}/24", fo.vip);
    let conf = |prio: u8| {
        KeepalivedConf::new()
            .router_id(format!("bench{prio}"))
            .instance(instance("VI_1", VRID, prio, sc.version, sc.int_cs, &cidr))
            .render()
    };
    let int_ns = i64::from(sc.int_cs) * 10_000_000;
    let r1_ip = fo.r1.ipv4();
    let r2_ip = fo.r2.ipv4();
    let r1_mac = parse_mac(fo.r1.mac())?;
    let r2_mac = parse_mac(fo.r2.mac())?;
    fo.r1_link.set(true)?;
    fo.cleanup_vip();
    fo.sniffer.clear();
    let t_start = realtime_ns();
    let d2 = start_daemon(daemon, &fo.r2, &conf(PRIO_BACKUP))?;
    let d1 = start_daemon(daemon, &fo.r1, &conf(PRIO_MASTER))?;
    let result = (|| -> Res<FoSample> {
        wait_daemon(b, &d2)?;
        wait_daemon(b, &d1)?;
        let prober = Prober::start(&fo.client, fo.vip, Duration::from_secs(120))?;
        // Steady state: r1 holds the VIP, r2 does not and has been silent for a while, r1
        // advertises, the client's probes are answered by r1.
        let quiet = 3 * int_ns + 50_000_000;
        let setup_timeout =
            Duration::from_nanos((8 * mdi_ns(sc.version, PRIO_BACKUP, sc.int_cs)) as u64)
                + Duration::from_secs(10);
        b.wait(
            "r1 to be the only Master",
            setup_timeout,
            Duration::from_millis(10),
            || {
                let now = realtime_ns();
                let ev = fo.sniffer.events();
                let r1_adverts = ev
                    .iter()
                    .filter(|e| matches!(e.kind, Kind::Vrrp { src, vrid, .. } if src == r1_ip && vrid == VRID))
                    .count();
                let r2_last = ev
                    .iter()
                    .rev()
                    .find(|e| {
                        matches!(e.kind, Kind::Vrrp { src, .. } if src == r2_ip)
                            || matches!(e.kind, Kind::Garp { mac, .. } if mac == r2_mac)
                    })
                    .map(|e| e.t);
                r1_adverts >= 3
                    && r2_last.is_none_or(|t| now - t > quiet)
                    && now - t_start > quiet
                    && prober.last_mac() == Some(r1_mac)
                    && fo.r1.has_address(fo.vip)
                    && !fo.r2.has_address(fo.vip)
            },
        )?;
        // Kill at a random phase of the advertisement period.
        b.sleep(Duration::from_nanos(
            (int_ns as f64 * (1.0 + rng.frac())) as u64,
        ))?;
        let t_kill = realtime_ns();
        match sc.sig {
            Sig::Kill => {
                sigkill_all(&d1);
                // The dead Master's VIP stays in its kernel: pull its cable at once.
                fo.r1_link.set(false)?;
            }
            Sig::Term => {
                d1.proc
                    .kill_main(libc::SIGTERM)
                    .map_err(|e| e.to_string())?;
            }
        }
        let load1 = load1();
        let bound_guess = match sc.sig {
            Sig::Kill => mdi_ns(sc.version, PRIO_BACKUP, sc.int_cs),
            Sig::Term => skew_ns(sc.version, PRIO_BACKUP, sc.int_cs),
        };
        let timeout =
            Duration::from_nanos((2 * bound_guess + 2 * int_ns) as u64) + Duration::from_secs(3);
        let done = |ev: &[Event], probes: &[Probe]| {
            let adv = ev
                .iter()
                .any(|e| e.t >= t_kill && matches!(e.kind, Kind::Vrrp { src, .. } if src == r2_ip));
            let garp = ev.iter().any(|e| {
                e.t >= t_kill && matches!(e.kind, Kind::Garp { mac, .. } if mac == r2_mac)
            });
            let cl = probes
                .iter()
                .any(|p| p.reply_t >= t_kill && p.reply_mac == Some(r2_mac));
            adv && garp && cl
        };
        let _ = b.wait("the takeover", timeout, Duration::from_millis(2), || {
            done(&fo.sniffer.events(), &prober.records())
        });
        b.sleep(Duration::from_millis(20))?;
        let ev = fo.sniffer.events();
        let probes = prober.records();
        if std::env::var_os("VRRP_BENCH_DEBUG").is_some() {
            for e in ev
                .iter()
                .filter(|e| (e.t - t_kill).abs() < 3 * int_ns + 500_000_000)
            {
                eprintln!("    ev {:+.3} ms {:?}", ms(e.t - t_kill), e.kind);
            }
            for p in probes
                .iter()
                .filter(|p| (p.sent - t_kill).abs() < 2 * int_ns + 20_000_000)
            {
                eprintln!(
                    "    probe {} {:+.3} ms {:?}",
                    p.seq,
                    ms(p.sent - t_kill),
                    p.reply_mac
                );
            }
            eprintln!("    r1 {:?} r2 {:?}", r1_mac, r2_mac);
        }
        drop(prober);
        let advert_t = ev
            .iter()
            .find(|e| e.t >= t_kill && matches!(e.kind, Kind::Vrrp { src, .. } if src == r2_ip))
            .map(|e| e.t);
        let garp_t = ev
            .iter()
            .find(|e| {
                e.t >= t_kill
                    && matches!(e.kind, Kind::Garp { mac, ip } if mac == r2_mac && ip == fo.vip)
            })
            .map(|e| e.t);
        let client_t = probes
            .iter()
            .filter(|p| p.reply_t >= t_kill && p.reply_mac == Some(r2_mac))
            .map(|p| p.reply_t)
            .min();
        // The reference: the dead Master's last advertisement (SIGKILL) or its first
        // priority-0 advertisement (SIGTERM); the bound uses the interval it advertised.
        let before = advert_t.unwrap_or(i64::MAX);
        let reference = match sc.sig {
            Sig::Kill => ev
                .iter()
                .rev()
                .filter(|e| e.t < before)
                .find_map(|e| match e.kind {
                    Kind::Vrrp {
                        src, prio, int_cs, ..
                    } if src == r1_ip && prio != 0 => Some((e.t, int_cs)),
                    _ => None,
                })
                .map(|(t, cs)| (t, cs, mdi_ns(sc.version, PRIO_BACKUP, cs))),
            Sig::Term => ev
                .iter()
                .filter(|e| e.t >= t_kill)
                .find_map(|e| match e.kind {
                    Kind::Vrrp {
                        src,
                        prio: 0,
                        int_cs,
                        ..
                    } if src == r1_ip => Some((e.t, int_cs)),
                    _ => None,
                })
                .map(|(t, cs)| (t, cs, skew_ns(sc.version, PRIO_BACKUP, cs))),
        };
        let mut note = String::new();
        if advert_t.is_none() {
            note.push_str("no advert from the new Master; ");
        }
        if garp_t.is_none() {
            note.push_str("no GARP; ");
        }
        if client_t.is_none() {
            note.push_str("client never answered by the new Master; ");
        }
        if reference.is_none() {
            note.push_str(match sc.sig {
                Sig::Kill => "no advert of the old Master seen; ",
                Sig::Term => "no priority-0 advert seen; ",
            });
        }
        Ok(FoSample {
            daemon: daemon.name(),
            rep,
            advert: advert_t.map(|t| t - t_kill),
            garp: garp_t.map(|t| t - t_kill),
            client: client_t.map(|t| t - t_kill),
            late: match (reference, advert_t) {
                (Some((r, _, bound)), Some(a)) => Some(a - r - bound),
                _ => None,
            },
            bound: reference.map_or(bound_guess, |r| r.2),
            ref_to_kill: reference.map(|r| t_kill - r.0),
            load1,
            note,
        })
    })();
    // Tear down: both daemons gone, the VIP off both routers, r1's cable back in.
    if sc.sig == Sig::Term {
        let _ = d1.proc.wait_timeout(Duration::from_secs(5));
    }
    let _ = d1.crash();
    let _ = d2.crash();
    let _ = fo.r1_link.set(true);
    fo.cleanup_vip();
    if let Err(e) = &result {
        eprintln!("{}\n{}\n{}", e, d1.tail(15), d2.tail(15));
    }
    result
}

struct Busy {
    procs: Vec<Proc>,
}

impl Busy {
    fn start(node: &Node, n: usize) -> Res<Busy> {
        let mut procs = Vec::new();
        for _ in 0..n {
            procs.push(
                node.spawn("sh", &["-c", "while :; do :; done"], &[])
                    .map_err(|e| e.to_string())?,
            );
        }
        Ok(Busy { procs })
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        for p in &self.procs {
            let _ = p.kill_and_wait();
        }
    }
}

fn run_failover(
    b: &Budget,
    fo: &FoLab,
    daemons: &[Daemon],
    sc: &Scenario,
    reps: u32,
    rng: &mut Rng,
) -> Res<Vec<FoSample>> {
    let busy = if sc.load {
        Some(Busy::start(&fo.client, 2)?)
    } else {
        None
    };
    let mut out = Vec::new();
    for rep in 0..reps {
        for d in daemons {
            b.check()?;
            // One retry: a repetition can fail to reach a steady state on a loaded machine.
            let mut r = failover_rep(b, fo, d, sc, rep, rng);
            if r.is_err() && !vrrp_testlab::budget::interrupted() {
                eprintln!("  retrying {} rep {rep}", d.name());
                r = failover_rep(b, fo, d, sc, rep, rng);
            }
            match r {
                Ok(s) => {
                    eprintln!(
                        "  {} {:<10} rep {rep:2}: advert {} GARP {} client {} late {} {}",
                        sc.key(),
                        s.daemon,
                        opt_ms(s.advert),
                        opt_ms(s.garp),
                        opt_ms(s.client),
                        opt_ms(s.late),
                        s.note
                    );
                    out.push(s);
                }
                Err(e) => {
                    if vrrp_testlab::budget::interrupted() {
                        return Err(e);
                    }
                    eprintln!("  {} {} rep {rep}: FAILED: {e}", sc.key(), d.name());
                }
            }
        }
    }
    drop(busy);
    Ok(out)
}

fn opt_ms(v: Option<i64>) -> String {
    v.map_or("-".into(), |v| format!("{:.2}", ms(v)))
}

// ---------------------------------------------------------------------------
// Cost

#[derive(Clone, Debug, Default)]
struct ProcCost {
    /// On-CPU time from /proc/PID/task/*/schedstat (ns).
    sched_ns: u64,
    /// utime + stime from /proc/PID/stat (ns, clock-tick resolution).
    ticks_ns: u64,
    rss_kb: u64,
    pss_kb: u64,
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

fn read_cpu(pid: i32) -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let mut sched = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .ok()?
        .flatten()
        .take(1000)
    {
        if let Ok(s) = std::fs::read_to_string(t.path().join("schedstat")) {
            sched += s
                .split_whitespace()
                .next()
                .and_then(|x| x.parse::<u64>().ok())
                .unwrap_or(0);
        }
    }
    Some((sched, ticks * 1_000_000_000 / clk_tck()))
}

fn read_kb(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

#[derive(Clone, Debug)]
struct CostRow {
    daemon: &'static str,
    instances: u32,
    int_cs: u16,
    secs: f64,
    /// "master" / "backup", and the process ("vrrpd", "vrrp", "parent").
    role: &'static str,
    process: &'static str,
    cost: ProcCost,
    adverts: u64,
    load1: f64,
}

fn run_cost(
    b: &Budget,
    daemon: &Daemon,
    instances: u32,
    int_cs: u16,
    secs: f64,
) -> Res<Vec<CostRow>> {
    let mut lab = Lab::new("cost").map_err(|e| e.to_string())?;
    let r1 = lab.add_router("r1").map_err(|e| e.to_string())?;
    let r2 = lab.add_router("r2").map_err(|e| e.to_string())?;
    let sniffer = Sniffer::start(lab.bridge_ns(), RUN_BUDGET)?;
    let conf = |prio: u8| {
        let mut c = KeepalivedConf::new().router_id(format!("cost{prio}"));
        for i in 0..instances {
            let vip = format!("{}/24", lab.vip4(100 + i as u8));
            c = c.instance(instance(
                &format!("VI_{}", i + 1),
                (i + 1) as u8,
                prio,
                3,
                int_cs,
                &vip,
            ));
        }
        c.render()
    };
    let d2 = start_daemon(daemon, &r2, &conf(PRIO_BACKUP))?;
    let d1 = start_daemon(daemon, &r1, &conf(PRIO_MASTER))?;
    wait_daemon(b, &d2)?;
    wait_daemon(b, &d1)?;
    let first = lab.vip4(100);
    let last = lab.vip4(100 + (instances - 1) as u8);
    b.wait(
        "r1 to hold every VIP",
        Duration::from_secs(30),
        Duration::from_millis(50),
        || {
            r1.has_address(first)
                && r1.has_address(last)
                && !r2.has_address(first)
                && !r2.has_address(last)
        },
    )
    .map_err(|e| format!("{e}\n{}\n{}", d1.tail(10), d2.tail(10)))?;
    // Let the startup (GARP bursts, garp_master_delay's second burst) pass.
    b.sleep(Duration::from_secs(6))?;
    let procs: Vec<(&'static str, &'static str, i32)> = daemon_pids(&d1)
        .into_iter()
        .map(|(p, pid)| ("master", p, pid))
        .chain(
            daemon_pids(&d2)
                .into_iter()
                .map(|(p, pid)| ("backup", p, pid)),
        )
        .collect();
    let before: Vec<Option<(u64, u64)>> = procs.iter().map(|p| read_cpu(p.2)).collect();
    sniffer.clear();
    let t0 = Instant::now();
    b.sleep(Duration::from_secs_f64(secs))?;
    let after: Vec<Option<(u64, u64)>> = procs.iter().map(|p| read_cpu(p.2)).collect();
    let elapsed = t0.elapsed().as_secs_f64();
    let ev = sniffer.events();
    let r1_ip = r1.ipv4();
    let r2_ip = r2.ipv4();
    let adverts = ev
        .iter()
        .filter(|e| matches!(e.kind, Kind::Vrrp { src, .. } if src == r1_ip))
        .count() as u64;
    let backup_adverts = ev
        .iter()
        .filter(|e| matches!(e.kind, Kind::Vrrp { src, .. } if src == r2_ip))
        .count();
    if backup_adverts > 0 {
        eprintln!("  warning: the backup sent {backup_adverts} adverts during the window");
    }
    let load1 = load1();
    let mut rows = Vec::new();
    for (i, &(role, process, pid)) in procs.iter().enumerate() {
        let (Some(a), Some(z)) = (before[i], after[i]) else {
            return Err(format!(
                "{role} {process} (pid {pid}) vanished during the window"
            ));
        };
        let cost = ProcCost {
            sched_ns: z.0.saturating_sub(a.0),
            ticks_ns: z.1.saturating_sub(a.1),
            rss_kb: read_kb(&format!("/proc/{pid}/status"), "VmRSS:"),
            pss_kb: read_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss:"),
        };
        rows.push(CostRow {
            daemon: daemon.name(),
            instances,
            int_cs,
            secs: elapsed,
            role,
            process,
            cost,
            adverts,
            load1,
        });
    }
    let _ = d1.crash();
    let _ = d2.crash();
    drop(lab);
    Ok(rows)
}

// ---------------------------------------------------------------------------
// Statistics and report

fn full(s: &Option<Stats>) -> String {
    s.as_ref().map_or("-".into(), |s| {
        format!(
            "{} / {} / {} / {}",
            f2(s.min),
            f2(s.med),
            f2(s.p90),
            f2(s.max)
        )
    })
}

fn medp90(s: &Option<Stats>) -> String {
    s.as_ref()
        .map_or("-".into(), |s| format!("{} / {}", f2(s.med), f2(s.p90)))
}

struct FoResult {
    sc: Scenario,
    samples: Vec<FoSample>,
    load: (String, String),
}

fn failover_table(results: &[FoResult], daemons: &[Daemon]) -> String {
    let mut t = String::new();
    t.push_str(
        "| scenario | signal | daemon | n | to first advert, ms (min / med / p90 / max) | to first GARP, ms (med / p90) | client answered, ms (med / p90) | bound, ms | late vs bound, ms (med / p90 / max) | median advert vrrpd/keepalived |\n\
         | --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in results {
        let per: Vec<(&str, Vec<&FoSample>)> = daemons
            .iter()
            .map(|d| {
                (
                    d.name(),
                    r.samples.iter().filter(|s| s.daemon == d.name()).collect(),
                )
            })
            .collect();
        let med_of = |name: &str| {
            per.iter()
                .find(|(n, _)| *n == name)
                .and_then(|(_, v)| stats(v.iter().map(|s| s.advert)))
                .map(|s| s.med)
        };
        let ratio = match (med_of("vrrpd"), med_of("keepalived")) {
            (Some(a), Some(k)) if k > 0 => format!("{:.2}", a as f64 / k as f64),
            _ => "-".into(),
        };
        for (name, v) in &per {
            let adv = stats(v.iter().map(|s| s.advert));
            let garp = stats(v.iter().map(|s| s.garp));
            let cl = stats(v.iter().map(|s| s.client));
            let late = stats(v.iter().map(|s| s.late));
            let bound = stats(v.iter().map(|s| Some(s.bound)));
            let lt = late.as_ref().map_or("-".into(), |s| {
                format!("{} / {} / {}", f2(s.med), f2(s.p90), f2(s.max))
            });
            let _ = writeln!(
                t,
                "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.sc.label(),
                r.sc.sig.name(),
                name,
                adv.as_ref().map_or(0, |s| s.n),
                full(&adv),
                medp90(&garp),
                medp90(&cl),
                bound.as_ref().map_or("-".into(), |s| f2(s.med)),
                lt,
                if *name == "vrrpd" { ratio.as_str() } else { "" }
            );
        }
    }
    t
}

fn cost_table(rows: &[CostRow]) -> String {
    let mut t = String::from(
        "| instances | advert_int | daemon | role (process) | CPU ms / 30 s | % of keepalived | µs per advert | VmRSS kB | Pss kB | adverts in window |\n\
         | ---: | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n",
    );
    for r in rows {
        let per30 = r.cost.sched_ns as f64 * 30.0 / r.secs / 1e6;
        let ka = rows.iter().find(|k| {
            k.daemon == "keepalived"
                && k.instances == r.instances
                && k.int_cs == r.int_cs
                && k.role == r.role
                && k.process == "vrrp"
        });
        let rel = match (r.daemon, ka) {
            ("vrrpd", Some(k)) if k.cost.sched_ns > 0 => format!(
                "{:.0} %",
                100.0 * r.cost.sched_ns as f64 / k.cost.sched_ns as f64 * k.secs / r.secs
            ),
            _ => String::new(),
        };
        let per_adv = if r.adverts > 0 && r.process != "parent" {
            format!("{:.1}", r.cost.sched_ns as f64 / 1e3 / r.adverts as f64)
        } else {
            "-".into()
        };
        let _ = writeln!(
            t,
            "| {} | {} s | {} | {} ({}) | {:.1} | {} | {} | {} | {} | {} |",
            r.instances,
            fmt_secs(r.int_cs),
            r.daemon,
            r.role,
            r.process,
            per30,
            rel,
            per_adv,
            r.cost.rss_kb,
            r.cost.pss_kb,
            r.adverts
        );
    }
    t
}

fn write_csv(dir: &Path, fo: &[FoResult], cost: &[CostRow]) -> Res<()> {
    std::fs::create_dir_all(dir).map_err(err(&dir.display().to_string()))?;
    if !fo.is_empty() {
        let p = dir.join("failover.csv");
        let mut f = File::create(&p).map_err(err(&p.display().to_string()))?;
        let _ = writeln!(
            f,
            "scenario,version,advert_int_s,signal,load,daemon,rep,advert_ms,garp_ms,client_ms,late_ms,bound_ms,ref_to_kill_ms,load1,note"
        );
        for r in fo {
            for s in &r.samples {
                let o = |v: Option<i64>| v.map_or(String::new(), |v| format!("{:.3}", ms(v)));
                let _ = writeln!(
                    f,
                    "{},{},{},{},{},{},{},{},{},{},{},{:.3},{},{:.2},\"{}\"",
                    r.sc.key(),
                    r.sc.version,
                    fmt_secs(r.sc.int_cs),
                    r.sc.sig.name(),
                    r.sc.load,
                    s.daemon,
                    s.rep,
                    o(s.advert),
                    o(s.garp),
                    o(s.client),
                    o(s.late),
                    ms(s.bound),
                    o(s.ref_to_kill),
                    s.load1,
                    s.note.trim()
                );
            }
        }
    }
    if !cost.is_empty() {
        let p = dir.join("cost.csv");
        let mut f = File::create(&p).map_err(err(&p.display().to_string()))?;
        let _ = writeln!(
            f,
            "daemon,instances,advert_int_s,window_s,role,process,cpu_sched_us,cpu_ticks_us,vmrss_kb,pss_kb,adverts,load1"
        );
        for r in cost {
            let _ = writeln!(
                f,
                "{},{},{},{:.3},{},{},{},{},{},{},{},{:.2}",
                r.daemon,
                r.instances,
                fmt_secs(r.int_cs),
                r.secs,
                r.role,
                r.process,
                r.cost.sched_ns / 1000,
                r.cost.ticks_ns / 1000,
                r.cost.rss_kb,
                r.cost.pss_kb,
                r.adverts,
                r.load1
            );
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Command line

fn usage() -> &'static str {
    "usage: vrrp-bench all [--quick] [OPTIONS]\n\
     \x20      vrrp-bench failover --version 2|3 --advert-int SECS --signal kill|term [--load] [OPTIONS]\n\
     \x20      vrrp-bench cost --instances N --advert-int SECS [OPTIONS]\n\
     \x20      vrrp-bench outage [--cases TEXT] [--advert-int SECS] [OPTIONS]\n\
     \n\
     Namespace-LAN benchmark of vrrpd against keepalived (same keepalived.conf, same run,\n\
     interleaved). Prints markdown tables on stdout, progress on stderr. Needs root.\n\
     \n\
     options:\n\
     \x20 --out DIR        write the raw samples (failover.csv, cost.csv) into DIR\n\
     \x20 --reps N         failover repetitions per daemon and scenario (default 10; --quick 5)\n\
     \x20 --reps-v2 N      repetitions of the VRRPv2 1 s scenarios (default: --reps; --quick 3)\n\
     \x20 --secs S         cost window in seconds (default 30; --quick 10)\n\
     \x20 --only DAEMON    vrrpd or keepalived (default both)\n\
     \x20 --vrrpd PATH     vrrpd binary (default: next to this executable)\n\
     \x20 --no-failover, --no-load, --no-cost, --no-outage   skip a part of `all`\n\
     \x20 --cases TEXT     outage: only the cases whose key contains TEXT (e.g. v3-ipv6, kill-vmac)\n\
     \x20 --advert-int S   outage: the VRRPv3 interval (default 0.1; VRRPv2 is always 1 s)\n\
     \x20 outage repetitions: --reps (VRRPv3, default 10; --quick 2), --reps-v2 (default 5; --quick 2)\n\
     \n\
     environment: VRRP_LAB_KEEP=1 keeps every lab directory (daemon configs and logs);\n\
     VRRP_BENCH_DEBUG=1 prints the captured events and probes around each kill."
}

struct Opts {
    cmd: String,
    quick: bool,
    out: Option<PathBuf>,
    reps: Option<u32>,
    reps_v2: Option<u32>,
    secs: Option<f64>,
    daemons: Vec<Daemon>,
    version: u8,
    int_cs: u16,
    sig: Sig,
    load: bool,
    instances: u32,
    no_failover: bool,
    no_load: bool,
    no_cost: bool,
    no_outage: bool,
    cases: Option<String>,
}

fn parse_args() -> Res<Opts> {
    let mut args = std::env::args().skip(1);
    let cmd = args.next().ok_or_else(|| usage().to_string())?;
    if !["all", "failover", "cost", "outage"].contains(&cmd.as_str()) {
        return Err(usage().to_string());
    }
    let mut o = Opts {
        cmd,
        quick: false,
        out: None,
        reps: None,
        reps_v2: None,
        secs: None,
        daemons: Vec::new(),
        version: 3,
        int_cs: 10,
        sig: Sig::Kill,
        load: false,
        instances: 1,
        no_failover: false,
        no_load: false,
        no_cost: false,
        no_outage: false,
        cases: None,
    };
    let mut only: Option<String> = None;
    let mut vrrpd: Option<PathBuf> = None;
    for _ in 0..100 {
        let Some(a) = args.next() else { break };
        let mut val = || args.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--quick" => o.quick = true,
            "--load" => o.load = true,
            "--no-failover" => o.no_failover = true,
            "--no-load" => o.no_load = true,
            "--no-cost" => o.no_cost = true,
            "--no-outage" => o.no_outage = true,
            "--cases" => o.cases = Some(val()?),
            "--out" => o.out = Some(val()?.into()),
            "--reps" => o.reps = Some(val()?.parse().map_err(err("--reps"))?),
            "--reps-v2" => o.reps_v2 = Some(val()?.parse().map_err(err("--reps-v2"))?),
            "--secs" => o.secs = Some(val()?.parse().map_err(err("--secs"))?),
            "--only" => only = Some(val()?),
            "--vrrpd" => vrrpd = Some(val()?.into()),
            "--version" => o.version = val()?.parse().map_err(err("--version"))?,
            "--instances" => o.instances = val()?.parse().map_err(err("--instances"))?,
            "--advert-int" => {
                let v: f64 = val()?.parse().map_err(err("--advert-int"))?;
                if !(0.01..=40.0).contains(&v) {
                    return Err("--advert-int: 0.01..=40 seconds".into());
                }
                o.int_cs = (v * 100.0).round() as u16;
            }
            "--signal" => {
                o.sig = match val()?.as_str() {
                    "kill" => Sig::Kill,
                    "term" => Sig::Term,
                    s => return Err(format!("--signal {s}: kill or term")),
                }
            }
            "-h" | "--help" => return Err(usage().to_string()),
            other => return Err(format!("unknown argument {other}\n{}", usage())),
        }
    }
    if !(1..=200).contains(&o.instances) {
        return Err("--instances: 1..=200".into());
    }
    if o.version == 2 && !o.int_cs.is_multiple_of(100) {
        return Err("VRRPv2 needs a whole-second --advert-int".into());
    }
    let v = match vrrpd {
        Some(binary) => Daemon::Vrrpd { binary },
        None => Daemon::vrrpd_next_to_exe(),
    };
    o.daemons = match only.as_deref() {
        None => vec![v, Daemon::Keepalived],
        Some("vrrpd") => vec![v],
        Some("keepalived") => vec![Daemon::Keepalived],
        Some(x) => return Err(format!("--only {x}: vrrpd or keepalived")),
    };
    for d in &o.daemons {
        if let Some(why) = d.unavailable() {
            return Err(why);
        }
    }
    Ok(o)
}

fn main() -> ExitCode {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("{e}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = vrrp_testlab::skip_reason(&[]) {
        eprintln!("vrrp-bench: cannot run: {why}");
        return ExitCode::from(2);
    }
    vrrp_testlab::budget::catch_interrupts();
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrrp-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Opts) -> Res<()> {
    let b = Budget {
        end: Instant::now() + RUN_BUDGET,
    };
    let reps = o.reps.unwrap_or(if o.quick { 5 } else { 10 });
    let reps_v2 = o.reps_v2.unwrap_or(if o.quick { 3 } else { reps });
    let secs = o.secs.unwrap_or(if o.quick { 10.0 } else { 30.0 });
    let mut rng = Rng(realtime_ns() as u64 | 1);
    let started = chrono_utc();
    let load_start = loadavg();
    let mut fo_scenarios = Vec::new();
    let mut cost_cases = Vec::new();
    match o.cmd.as_str() {
        "failover" => fo_scenarios.push(Scenario {
            version: o.version,
            int_cs: o.int_cs,
            sig: o.sig,
            load: o.load,
        }),
        "cost" => cost_cases.push((o.instances, o.int_cs)),
        "outage" => {}
        _ => {
            if !o.no_failover {
                for (version, int_cs) in [(3, 1), (3, 10), (2, 100)] {
                    for sig in [Sig::Kill, Sig::Term] {
                        fo_scenarios.push(Scenario {
                            version,
                            int_cs,
                            sig,
                            load: false,
                        });
                    }
                }
            }
            if !o.no_load {
                for int_cs in [1, 10] {
                    fo_scenarios.push(Scenario {
                        version: 3,
                        int_cs,
                        sig: Sig::Kill,
                        load: true,
                    });
                }
            }
            if !o.no_cost {
                for instances in [1, 50] {
                    for int_cs in [100, 10] {
                        cost_cases.push((instances, int_cs));
                    }
                }
            }
        }
    }
    let mut fo_results = Vec::new();
    let mut cost_rows = Vec::new();
    let mut problem = None;
    let mut outage = Vec::new();
    if o.cmd == "outage" || (o.cmd == "all" && !o.no_outage) {
        match run_outage(&b, o, &mut rng) {
            Ok(r) => outage = r,
            Err(e) => problem = Some(e),
        }
    }
    if !fo_scenarios.is_empty() && problem.is_none() {
        let fo = FoLab::new("bench")?;
        for sc in &fo_scenarios {
            let n = if sc.version == 2 { reps_v2 } else { reps };
            let l0 = loadavg();
            eprintln!(
                "== failover {} {} ({n} reps), load {l0}",
                sc.label(),
                sc.sig.name()
            );
            match run_failover(&b, &fo, &o.daemons, sc, n, &mut rng) {
                Ok(samples) => fo_results.push(FoResult {
                    sc: *sc,
                    samples,
                    load: (l0, loadavg()),
                }),
                Err(e) => {
                    problem = Some(e);
                    break;
                }
            }
        }
        let fb = fo.sniffer.fallbacks.load(Ordering::Relaxed);
        if fb > 0 {
            eprintln!("note: {fb} captured frames had no usable kernel time stamp");
        }
        drop(fo);
    }
    if problem.is_none() {
        'cost: for &(instances, int_cs) in &cost_cases {
            for d in &o.daemons {
                eprintln!(
                    "== cost {} instance(s), VRRPv3 {} s, {} ({secs} s window), load {}",
                    instances,
                    fmt_secs(int_cs),
                    d.name(),
                    loadavg()
                );
                match run_cost(&b, d, instances, int_cs, secs) {
                    Ok(rows) => cost_rows.extend(rows),
                    Err(e) => {
                        eprintln!("  FAILED: {e}");
                        if vrrp_testlab::budget::interrupted() {
                            problem = Some(e);
                            break 'cost;
                        }
                    }
                }
            }
        }
    }
    let load_end = loadavg();
    let mut md = String::new();
    let _ = writeln!(
        md,
        "vrrp-bench {}: started {started}, {} CPU(s), load average (1/5/15 min) {load_start} at start, {load_end} at end; reps {reps} (VRRPv2: {reps_v2}), cost window {secs} s\n",
        o.cmd,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    if !fo_results.is_empty() {
        let (idle, loaded): (Vec<_>, Vec<_>) = fo_results.into_iter().partition(|r| !r.sc.load);
        for (title, set) in [
            ("Failover", &idle),
            ("Failover under load (2 busy loops)", &loaded),
        ] {
            if set.is_empty() {
                continue;
            }
            let _ = writeln!(md, "### {title}\n");
            md.push_str(&failover_table(set, &o.daemons));
            md.push('\n');
            for r in set.iter() {
                let _ = writeln!(
                    md,
                    "- {} {}: load {} → {}",
                    r.sc.label(),
                    r.sc.sig.name(),
                    r.load.0,
                    r.load.1
                );
            }
            md.push('\n');
        }
        if let Some(dir) = &o.out {
            let all: Vec<FoResult> = idle.into_iter().chain(loaded).collect();
            write_csv(dir, &all, &[])?;
        }
    }
    if !outage.is_empty() {
        let _ = writeln!(md, "### Outage seen by a client\n");
        md.push_str(&outage::table(&outage, &o.daemons));
        md.push('\n');
        for r in &outage {
            let _ = writeln!(md, "- {}: load {} → {}", r.case.label(), r.load.0, r.load.1);
        }
        md.push('\n');
        if let Some(dir) = &o.out {
            outage::write_csv(dir, &outage)?;
        }
    }
    if !cost_rows.is_empty() {
        let _ = writeln!(md, "### Cost\n");
        md.push_str(&cost_table(&cost_rows));
        md.push('\n');
        if let Some(dir) = &o.out {
            write_csv(dir, &[], &cost_rows)?;
        }
    }
    print!("{md}");
    let _ = std::io::stdout().flush();
    match problem {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// The outage benchmark (`vrrp_testlab::outage`): the matrix, or the cases `--cases` picks.
fn run_outage(b: &Budget, o: &Opts, rng: &mut Rng) -> Res<Vec<outage::CaseResult>> {
    let v3_int = if o.cmd == "outage" && o.int_cs != 10 {
        o.int_cs
    } else {
        10
    };
    let cases: Vec<outage::Case> = outage::matrix(v3_int)
        .into_iter()
        .filter(|c| {
            o.cases
                .as_ref()
                .is_none_or(|t| c.key().contains(t.as_str()))
        })
        .collect();
    let reps_v3 = o.reps.unwrap_or(if o.quick { 2 } else { 10 });
    let reps_v2 = o.reps_v2.unwrap_or(if o.quick { 2 } else { 5 });
    let lab = outage::OutageLab::new("outage")?;
    outage::run(
        b,
        &lab,
        &o.daemons,
        &cases,
        |c| {
            if c.family.version() == 2 {
                reps_v2
            } else {
                reps_v3
            }
        },
        rng,
    )
}
