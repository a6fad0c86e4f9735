//! vrrp-starve: a VRRPv3 Master/Backup pair under CPU hogs (two busy loops per CPU at the
//! daemons' nice value), vrrpd and keepalived with the same keepalived.conf, with and
//! without `vrrp_rt_priority` / `vrrp_priority`. For each case: the Backup's advertisements
//! while the Master lives (a spurious takeover), the gaps between the Master's advertisements
//! on the wire, and the takeover time after SIGKILL of the Master, still under the hogs. A
//! benchmark binary, not a test; `scripts/bench-starvation.sh` runs it.
//!
//! usage: vrrp-starve [--seconds N] [--daemons vrrpd,keepalived] [--intervals 0.1,1]

use std::net::IpAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vrrp_testlab::starve::{self, Advert, Hogs};
use vrrp_testlab::{Daemon, DaemonProc, KeepalivedConf, Lab, Node, VrrpInstance, wait_until};

const PRIO_MASTER: u8 = 200;
const PRIO_BACKUP: u8 = 100;
const RT_PRIORITY: u8 = 50;
const NICE: i32 = -5;
const HOGS_PER_CPU: usize = 2;

type Res<T> = Result<T, String>;

/// Scheduling keywords of a case.
#[derive(Clone, Copy)]
enum Sched {
    Plain,
    Rt,
}

impl Sched {
    fn label(self) -> String {
        match self {
            Sched::Plain => "none".into(),
            Sched::Rt => format!("rt {RT_PRIORITY}, nice {NICE}"),
        }
    }

    /// The hogs run at the daemon's own nice value.
    fn nice(self) -> i32 {
        match self {
            Sched::Plain => 0,
            Sched::Rt => NICE,
        }
    }
}

struct Case {
    daemon: Daemon,
    sched: Sched,
    interval_s: f64,
}

struct Row {
    label: String,
    policy: String,
    master_adverts: usize,
    gaps: starve::Gaps,
    spurious: usize,
    /// First advert of the Backup after the kill, from the kill.
    takeover_ns: Option<i64>,
    /// The same from the Master's last advert, minus Master_Down_Interval: how late the
    /// Backup's timer fired.
    late_ns: Option<i64>,
    master_down_ns: i64,
}

fn realtime_ns() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn conf(case: &Case, prio: u8, vip: IpAddr) -> String {
    let mut c = KeepalivedConf::new().router_id(format!("starve{prio}"));
    if let Sched::Rt = case.sched {
        c = c
            .global(format!("vrrp_rt_priority {RT_PRIORITY}"))
            .global(format!("vrrp_priority {NICE}"));
    }
    c.instance(
        VrrpInstance::new("VI_1", "eth0", 51, prio)
            .version(3)
            .advert_int(case.interval_s)
            .vip(format!("{vip}/24")),
    )
    .render()
}

/// The process whose timers send the adverts: keepalived's VRRP child, vrrpd itself.
fn timer_pid(d: &DaemonProc) -> u32 {
    match d.daemon {
        Daemon::Keepalived => d
            .proc
            .children()
            .first()
            .map_or(d.pid(), |&p| u32::try_from(p).unwrap_or(0)),
        Daemon::Vrrpd { .. } => d.pid(),
    }
}

fn policy(d: &DaemonProc) -> String {
    let pid = timer_pid(d);
    match starve::thread_policy(pid, pid) {
        Some((2, prio)) => format!("RR {}", 99 - prio),
        Some((0, prio)) => format!("OTHER nice {}", prio - 120),
        Some((p, _)) => format!("policy {p}"),
        None => "?".into(),
    }
}

fn start(case: &Case, node: &Node, prio: u8, vip: IpAddr) -> Res<DaemonProc> {
    let d = case
        .daemon
        .start(node, &conf(case, prio, vip))
        .map_err(|e| e.to_string())?;
    d.wait_ready(Duration::from_secs(15))
        .map_err(|e| e.to_string())?;
    Ok(d)
}

fn run_case(case: &Case, seconds: u64) -> Res<Row> {
    let mut lab = Lab::new("starve").map_err(|e| e.to_string())?;
    let r1 = lab.add_router("r1").map_err(|e| e.to_string())?;
    let r2 = lab.add_router("r2").map_err(|e| e.to_string())?;
    let vip = IpAddr::V4(lab.vip4(100));
    let master = start(case, &r1, PRIO_MASTER, vip)?;
    if !wait_until(Duration::from_secs(15), Duration::from_millis(50), || {
        r1.has_address(vip)
    }) {
        return Err(format!("r1 did not become Master{}", lab.diag()));
    }
    let backup = start(case, &r2, PRIO_BACKUP, vip)?;
    std::thread::sleep(Duration::from_secs(1));
    let policy = policy(&master);
    let capture = lab
        .capture("adverts", "ip proto 112")
        .map_err(|e| e.to_string())?;
    let hogs = Hogs::start(&r1, HOGS_PER_CPU, case.sched.nice()).map_err(|e| e.to_string())?;
    std::thread::sleep(Duration::from_secs(seconds));
    let killed_at = realtime_ns();
    master.crash().map_err(|e| e.to_string())?;
    let deadline = Instant::now() + Duration::from_secs_f64(case.interval_s * 6.0 + 3.0);
    while Instant::now() < deadline && !r2.has_address(vip) {
        std::thread::sleep(Duration::from_millis(20));
    }
    // The Backup's first adverts are on the wire once it holds the VIP; one more interval.
    std::thread::sleep(Duration::from_secs_f64(case.interval_s + 0.2));
    drop(hogs);
    let pcap = capture.stop().map_err(|e| e.to_string())?;
    let adverts = starve::read_adverts(&pcap).map_err(|e| e.to_string())?;
    drop(backup);
    Ok(row(case, policy, &adverts, &r1, &r2, killed_at))
}

fn row(
    case: &Case,
    policy: String,
    adverts: &[Advert],
    r1: &Node,
    r2: &Node,
    killed_at: i64,
) -> Row {
    let (m, b) = (IpAddr::V4(r1.ipv4()), IpAddr::V4(r2.ipv4()));
    let alive: Vec<Advert> = adverts
        .iter()
        .copied()
        .filter(|a| a.t_ns < killed_at)
        .collect();
    let gaps = starve::gaps(&alive, m);
    let spurious = alive.iter().filter(|a| a.src == b).count();
    let first = adverts.iter().find(|a| a.src == b && a.t_ns >= killed_at);
    let last_master = alive.iter().rev().find(|a| a.src == m);
    let int_ns = (case.interval_s * 1e9) as i64;
    let skew = (256 - i64::from(PRIO_BACKUP)) * int_ns / 256;
    let master_down_ns = 3 * int_ns + skew;
    Row {
        label: format!(
            "{} | {} | {} s",
            case.daemon.name(),
            case.sched.label(),
            case.interval_s
        ),
        policy,
        master_adverts: gaps.adverts,
        gaps,
        spurious,
        takeover_ns: first.map(|a| a.t_ns - killed_at),
        late_ns: first
            .zip(last_master)
            .map(|(f, l)| f.t_ns - l.t_ns - master_down_ns),
        master_down_ns,
    }
}

fn ms(ns: i64) -> String {
    format!("{:.1}", ns as f64 / 1e6)
}

fn print_row(r: &Row, load: &str) {
    let takeover = r.takeover_ns.map_or("none".into(), ms);
    let late = r.late_ns.map_or("—".into(), ms);
    println!(
        "| {} | {} | {} | {} / {} / {} | {} | {} | {} (of {}) | {} |",
        r.label,
        r.policy,
        r.master_adverts,
        ms(r.gaps.p50_ns),
        ms(r.gaps.p99_ns),
        ms(r.gaps.max_ns),
        r.spurious,
        takeover,
        late,
        ms(r.master_down_ns),
        load
    );
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let seconds = arg(&args, "--seconds")
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let daemons: Vec<Daemon> = arg(&args, "--daemons")
        .unwrap_or("vrrpd,keepalived")
        .split(',')
        .filter_map(|d| match d {
            "vrrpd" => Some(Daemon::vrrpd_next_to_exe()),
            "keepalived" => Some(Daemon::Keepalived),
            _ => None,
        })
        .collect();
    let intervals: Vec<f64> = arg(&args, "--intervals")
        .unwrap_or("0.1,1")
        .split(',')
        .filter_map(|s| s.parse().ok())
        .collect();
    println!(
        "{} CPU(s), {} hogs per CPU at the daemons' nice, {seconds} s per case",
        starve::online_cpus(),
        HOGS_PER_CPU
    );
    println!();
    println!(
        "| daemon | scheduling keywords | advert_int | Master's timer thread | Master adverts | gap p50 / p99 / max (ms) | Backup adverts while the Master lives | takeover after SIGKILL (ms) | Backup's timer lateness (ms) (of Master_Down_Interval) | load (1/5/15 min) |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    let mut failed = false;
    let mut pair = 0;
    for &interval_s in &intervals {
        for sched in [Sched::Plain, Sched::Rt] {
            // Each daemon runs first of its pair in turn (v k, k v, k v, v k), so that a
            // drift of the machine's load does not always hit the same one.
            let mut order = daemons.clone();
            if matches!(pair % 4, 1 | 2) {
                order.reverse();
            }
            pair += 1;
            for daemon in order {
                let case = Case {
                    daemon,
                    sched,
                    interval_s,
                };
                match run_case(&case, seconds) {
                    Ok(r) => print_row(&r, &loadavg()),
                    Err(e) => {
                        eprintln!("{} {}: {e}", case.daemon.name(), sched.label());
                        failed = true;
                    }
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
