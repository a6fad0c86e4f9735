//! vrrp-flood-bench: the floods of `crates/vrrpd/tests/flood.rs` against vrrpd and against
//! keepalived, same keepalived.conf: a Master r1 (VI_1: VRRPv3, advert_int 0.1, VRID 51;
//! VI_2: VRRPv2, `auth_type PASS`, VRID 61), a Backup r2 (priority 100) and an attacker
//! flooding the group from a raw socket. Per kind: what was sent, what r1 counted and
//! its socket dropped, r1's and r2's CPU per packet (keepalived: its VRRP process), the gaps
//! between r1's VI_1 advertisements on the bridge, r1's state changes, and the Backup's
//! advertisements (a spurious takeover). A benchmark binary, not a test;
//! `scripts/bench-flood.sh` runs it.
//!
//! usage: vrrp-flood-bench [--seconds N] [--daemons vrrpd,keepalived]

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use vrrp_testlab::attacker::{
    self, GROUP4, RawSender, cpu_seconds, ip_packet, pcap_ipv4, raw_drops,
};
use vrrp_testlab::flood_payloads::{FloodPayloads, flood_payloads};
use vrrp_testlab::starve::{self, Advert};
use vrrp_testlab::{Daemon, DaemonProc, KeepalivedConf, Lab, Node, VrrpInstance, wait_until};

type Res<T> = Result<T, String>;

struct Kind {
    name: &'static str,
    packets: Vec<Vec<u8>>,
    rate: u64,
    /// r1's counter for the kind: (instance, vrrpd's name, keepalived's name).
    counter: (&'static str, &'static str, &'static str),
}

fn kinds(src: Ipv4Addr, vips: [Ipv4Addr; 3]) -> Vec<Kind> {
    let FloodPayloads {
        other_vrids: other,
        takeover,
        bad_checksum,
        oversized,
        wrong_pass,
    } = flood_payloads(src, vips[0], vips[1], vips[2]);
    let one = |p: &[u8], ttl| vec![ip_packet(src, GROUP4, ttl, p)];
    let k = |name, packets, rate, counter| Kind {
        name,
        packets,
        rate,
        counter,
    };
    vec![
        k(
            "other VRIDs 52-60",
            other.clone(),
            10_000,
            ("VI_1", "-", "-"),
        ),
        k(
            "VRID 51 prio 254 TTL 64",
            one(&takeover, 64),
            10_000,
            ("VI_1", "ip_ttl_errors", "Packet Errors/TTL"),
        ),
        k(
            "VRID 51 prio 254 bad checksum",
            one(&bad_checksum, 255),
            10_000,
            ("VI_1", "checksum_errors", "-"),
        ),
        k(
            "VRID 51 prio 254 + 1400 bytes",
            one(&oversized, 255),
            10_000,
            ("VI_1", "packet_length_errors", "Packet Errors/Length"),
        ),
        k(
            "VRID 61 wrong password",
            one(&wrong_pass, 255),
            10_000,
            ("VI_2", "auth_failures", "Authentication Errors/Failure"),
        ),
        k("other VRIDs 52-60", other, 100_000, ("VI_1", "-", "-")),
    ]
}

fn conf(prio: u8, vips: [Ipv4Addr; 3]) -> String {
    KeepalivedConf::new()
        .router_id(format!("flood{prio}"))
        .instance(
            VrrpInstance::new("VI_1", "eth0", 51, prio)
                .version(3)
                .advert_int(0.1)
                .vip(format!("{}/24", vips[0])),
        )
        .instance(
            VrrpInstance::new("VI_2", "eth0", 61, prio)
                .version(2)
                .advert_int(1.0)
                .auth_pass("secret1")
                .vip(format!("{}/24", vips[1])),
        )
        .render()
}

/// A router, its daemon and where keepalived writes its statistics.
struct Router {
    node: Node,
    d: DaemonProc,
    tmp: PathBuf,
}

impl Router {
    fn start(daemon: &Daemon, node: Node, conf: &str) -> Res<Router> {
        let tmp = node.lab_path(&format!("{}-tmp", node.name()));
        std::fs::create_dir_all(&tmp).map_err(|e| e.to_string())?;
        let t = tmp.to_string_lossy().into_owned();
        let d = daemon
            .start_with(&node, conf, &[], &[("TMPDIR", &t)])
            .map_err(|e| e.to_string())?;
        d.wait_ready(Duration::from_secs(15))
            .map_err(|e| e.to_string())?;
        Ok(Router { node, d, tmp })
    }

    /// The process that receives: keepalived's VRRP child, vrrpd itself.
    fn worker(&self) -> u32 {
        match self.d.daemon {
            Daemon::Keepalived => self
                .d
                .proc
                .children()
                .first()
                .map_or(self.d.pid(), |&p| u32::try_from(p).unwrap_or(0)),
            Daemon::Vrrpd { .. } => self.d.pid(),
        }
    }

    fn cpu(&self) -> f64 {
        cpu_seconds(self.worker()).unwrap_or(0.0)
    }

    /// Counters per instance (vrrpctl, or keepalived's statistics file).
    fn counters(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        match (&self.d.daemon, &self.d.control_socket) {
            (Daemon::Vrrpd { binary }, Some(sock)) => ["VI_1", "VI_2"]
                .iter()
                .map(|i| (i.to_string(), vrrpctl_counters(binary, sock, i)))
                .collect(),
            _ => attacker::keepalived_stats(&self.d, &self.tmp).unwrap_or_default(),
        }
    }
}

fn vrrpctl_counters(
    vrrpd: &std::path::Path,
    sock: &std::path::Path,
    inst: &str,
) -> BTreeMap<String, u64> {
    let Ok(ctl) = vrrp_testlab::vrrpctl_next_to(vrrpd) else {
        return BTreeMap::new();
    };
    let out = std::process::Command::new(ctl)
        .arg("--socket")
        .arg(sock)
        .args(["show", inst, "--json"])
        .output();
    let v: serde_json::Value = out
        .ok()
        .and_then(|o| serde_json::from_slice(&o.stdout).ok())
        .unwrap_or_default();
    v["counters"]
        .as_object()
        .map(|c| {
            c.iter()
                .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                .collect()
        })
        .unwrap_or_default()
}

fn delta(
    before: &BTreeMap<String, BTreeMap<String, u64>>,
    after: &BTreeMap<String, BTreeMap<String, u64>>,
    inst: &str,
    key: &str,
) -> i64 {
    let get = |m: &BTreeMap<String, BTreeMap<String, u64>>| {
        m.get(inst).and_then(|c| c.get(key)).copied().unwrap_or(0) as i64
    };
    get(after) - get(before)
}

fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// One daemon's run: its lab, every kind in turn; prints a row per kind.
fn run(daemon: &Daemon, seconds: f64) -> Res<()> {
    let e = |e: vrrp_testlab::Error| e.to_string();
    let mut lab = Lab::new("fbench").map_err(e)?;
    let n1 = lab.add_router("r1").map_err(e)?;
    let n2 = lab.add_router("r2").map_err(e)?;
    let atk = lab.add_host("atk").map_err(e)?;
    let vips = [lab.vip4(100), lab.vip4(101), lab.vip4(102)];
    let r1 = Router::start(daemon, n1, &conf(200, vips))?;
    if !wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        r1.node.has_address(vips[0]) && r1.node.has_address(vips[1])
    }) {
        return Err(format!("r1 did not become Master{}", lab.diag()));
    }
    let r2 = Router::start(daemon, n2, &conf(100, vips))?;
    std::thread::sleep(Duration::from_secs(3));
    // The daemons' own adverts only: the flood would swamp tcpdump.
    let capture = lab
        .capture(
            "adverts",
            &format!("ip proto 112 and not ether src {}", atk.mac()),
        )
        .map_err(e)?;
    let sender = RawSender::open(&atk).map_err(e)?;
    let mut windows = Vec::new();
    for kind in kinds(atk.ipv4(), vips) {
        let (c1, c2) = (r1.counters(), r2.counters());
        let drops = raw_drops(&r1.node).unwrap_or(0);
        let (cpu1, cpu2) = (r1.cpu(), r2.cpu());
        let from = unix_now();
        let sent = sender.flood(&kind.packets, kind.rate, Duration::from_secs_f64(seconds));
        let to = unix_now();
        let (cpu1, cpu2) = (r1.cpu() - cpu1, r2.cpu() - cpu2);
        std::thread::sleep(Duration::from_millis(500));
        let dropped = raw_drops(&r1.node).unwrap_or(0) - drops;
        let (a1, a2) = (r1.counters(), r2.counters());
        let (inst, vname, kname) = kind.counter;
        let name = if matches!(daemon, Daemon::Keepalived) {
            kname
        } else {
            vname
        };
        let counted = if name == "-" {
            "—".to_string()
        } else {
            format!("`{name}` +{}", delta(&c1, &a1, inst, name))
        };
        let (became, released) = match daemon {
            Daemon::Keepalived => ("Became master", "Released master"),
            Daemon::Vrrpd { .. } => ("master_transitions", "master_releases"),
        };
        let changes = |c: &BTreeMap<_, _>, a: &BTreeMap<_, _>| {
            ["VI_1", "VI_2"]
                .map(|i| format!("+{}/−{}", delta(c, a, i, became), delta(c, a, i, released)))
                .join(", ")
        };
        let per = |cpu: f64| cpu * 1e6 / sent.packets.max(1) as f64;
        windows.push((
            format!(
                "| {} | {} | {} / {:.0} | {} | {counted} | {dropped} | {:.2} | {:.2}",
                daemon.name(),
                kind.name,
                kind.rate,
                sent.rate(),
                sent.packets,
                per(cpu1),
                per(cpu2),
            ),
            from,
            to,
            format!(
                "{} | {} | {} |",
                changes(&c1, &a1),
                changes(&c2, &a2),
                loadavg()
            ),
        ));
    }
    let pcap = capture.stop().map_err(e)?;
    let frames = pcap_ipv4(&pcap).map_err(e)?;
    for (head, from, to, tail) in windows {
        let adverts = |node: &Node, vrid| -> Vec<Advert> {
            frames
                .iter()
                .filter(|f| f.src_mac == node.mac() && f.t >= from - 0.2 && f.t <= to)
                .filter(|f| f.vrid_priority().is_some_and(|(v, p)| v == vrid && p > 0))
                .map(|f| Advert {
                    t_ns: (f.t * 1e9) as i64,
                    src: IpAddr::V4(node.ipv4()),
                    vrid,
                    prio: f.vrid_priority().map_or(0, |(_, p)| p),
                })
                .collect()
        };
        let g = starve::gaps(&adverts(&r1.node, 51), IpAddr::V4(r1.node.ipv4()));
        let backup = adverts(&r2.node, 51).len() + adverts(&r2.node, 61).len();
        println!(
            "{head} | {:.1} / {:.1} | {backup} | {tail}",
            g.p50_ns as f64 / 1e6,
            g.max_ns as f64 / 1e6
        );
    }
    Ok(())
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let seconds: f64 = arg(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(5.0);
    let daemons: Vec<Daemon> = arg(&args, "--daemons")
        .unwrap_or("vrrpd,keepalived")
        .split(',')
        .filter_map(|d| match d {
            "vrrpd" => Some(Daemon::vrrpd_next_to_exe()),
            "keepalived" => Some(Daemon::Keepalived),
            _ => None,
        })
        .collect();
    println!("{} CPU(s), {seconds} s per kind", starve::online_cpus());
    println!();
    println!(
        "| daemon | kind | rate asked / achieved (pps) | sent | r1 (Master) counted | r1 socket drops | r1 CPU µs/packet | r2 (Backup) CPU µs/packet | r1 VI_1 advert gap p50 / max (ms) | r2 adverts (takeovers) | r1 VI_1, VI_2 to/from Master | r2 VI_1, VI_2 to/from Master | load (1/5/15 min) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = false;
    for d in &daemons {
        if let Err(e) = run(d, seconds) {
            eprintln!("{}: {e}", d.name());
            failed = true;
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
