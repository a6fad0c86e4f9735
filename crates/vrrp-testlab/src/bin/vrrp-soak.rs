//! vrrp-soak: a long run of a vrrpd Master/Backup pair with 110 VRRPv3 instances (VRIDs 1-100
//! at advert_int 0.01, 101-110 at 1 s; two sync groups, a track_file on every instance, a
//! track_script on eight), optionally a keepalived pair with the same configuration on a
//! second LAN beside it. Every S seconds: each daemon process's RSS, PSS, VmHWM, fds,
//! threads and CPU; vrrpd's protocol timer lateness (metrics endpoint) and `vrrpctl status`;
//! a few seconds of the Master's adverts on the bridge, the gaps per VRID; transitions from
//! the daemons' logs; the load average. Every F minutes a failover and back (the track_file
//! lowers the Master's priority below the Backup's, then is reset), daemons kept up.
//! Raw CSV in the output directory; `--summarize DIR` prints the report.
//!
//! usage: vrrp-soak [--minutes N] [--sample-seconds S] [--capture-seconds C]
//!                  [--failover-minutes F] [--keepalived] [--rt-priority P] [--out DIR]
//!        vrrp-soak --summarize DIR

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vrrp_testlab::budget::{catch_interrupts, interrupted};
use vrrp_testlab::soak::{self, Footprint, Histogram, count_transitions};
use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, vrrpctl_next_to, wait_until};

type Res<T> = Result<T, String>;

const FAST: u8 = 100;
const SLOW: u8 = 10;
const PRIO_MASTER: u8 = 200;
const PRIO_BACKUP: u8 = 100;
/// In the Master's track file (weight -1): 200 - 150 = 50, below the Backup's 100.
const FAILOVER_VALUE: &str = "150\n";
const METRICS: &str = "127.0.0.1:9650";
const LATENESS: &str = "vrrp_protocol_timer_lateness_seconds";

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

fn interval_s(vrid: u8) -> f64 {
    if vrid <= FAST { 0.01 } else { 1.0 }
}

fn unix_s() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

struct Opts {
    minutes: f64,
    sample_s: f64,
    capture_s: f64,
    failover_min: f64,
    keepalived: bool,
    /// `vrrp_rt_priority` in both daemons' global_defs.
    rt: Option<u8>,
    out: PathBuf,
}

/// The VIPs of VRID `v` (two on the 1 s instances).
fn vips(lab: &Lab, v: u8) -> Vec<IpAddr> {
    let mut out = vec![IpAddr::V4(lab.vip4(99 + v))];
    if v > FAST {
        out.push(IpAddr::V4(lab.vip4(99 + v + SLOW)));
    }
    out
}

fn conf(lab: &Lab, router: &str, prio: u8, track: &Path, rt: Option<u8>) -> String {
    let rt = rt.map_or(String::new(), |p| format!("    vrrp_rt_priority {p}\n"));
    let mut c = format!(
        "global_defs {{\n    router_id soak-{router}\n    script_user root\n{rt}}}\n\
         vrrp_track_file failover {{\n    file \"{}\"\n    weight -1\n}}\n\
         vrrp_script chk {{\n    script \"/bin/true\"\n    interval 1\n    weight 0\n}}\n",
        track.display()
    );
    for (g, a, b) in [("G_FAST", 1, 2), ("G_SLOW", FAST + 1, FAST + 2)] {
        c.push_str(&format!(
            "vrrp_sync_group {g} {{\n    group {{\n        VI_{a}\n        VI_{b}\n    }}\n    \
             sync_group_tracking_weight\n}}\n"
        ));
    }
    for v in 1..=FAST + SLOW {
        let addrs: String = vips(lab, v)
            .iter()
            .map(|ip| format!("        {ip}/24\n"))
            .collect();
        let script = if v > FAST + 2 {
            "    track_script {\n        chk\n    }\n"
        } else {
            ""
        };
        c.push_str(&format!(
            "vrrp_instance VI_{v} {{\n    state BACKUP\n    interface eth0\n    virtual_router_id {v}\n    \
             priority {prio}\n    advert_int {}\n    version 3\n    virtual_ipaddress {{\n{addrs}    }}\n    \
             track_file {{\n        failover\n    }}\n{script}}}\n",
            interval_s(v)
        ));
    }
    c
}

/// One daemon process sampled: its row label and the previous sample's CPU ticks.
struct Watched {
    label: String,
    pid: u32,
    ticks: Option<(Instant, u64)>,
}

/// A LAN with a Master (r1) and a Backup (r2) of one daemon.
struct Side {
    name: &'static str,
    lab: Lab,
    r1: Node,
    r2: Node,
    d: [DaemonProc; 2],
    track: PathBuf,
    vips: Vec<IpAddr>,
    procs: Vec<Watched>,
    vrrpctl: Option<PathBuf>,
    hist: [Histogram; 2],
    logs: [LogCount; 2],
    transitions0: [usize; 2],
}

fn start(daemon: &Daemon, node: &Node, conf: &str) -> Res<DaemonProc> {
    let d = match daemon {
        Daemon::Vrrpd { .. } => daemon.start_with(node, conf, &["--metrics-listen", METRICS], &[]),
        Daemon::Keepalived => daemon.start(node, conf),
    }
    .map_err(e)?;
    d.wait_ready(Duration::from_secs(30)).map_err(e)?;
    Ok(d)
}

fn held(node: &Node, vips: &[IpAddr]) -> usize {
    node.addresses()
        .map(|a| a.iter().filter(|ip| vips.contains(ip)).count())
        .unwrap_or(0)
}

impl Side {
    fn new(daemon: Daemon, rt: Option<u8>) -> Res<Side> {
        let name = daemon.name();
        let mut lab = Lab::new(&format!("soak{}", &name[..1])).map_err(e)?;
        lab.keep_dir();
        let r1 = lab.add_router("r1").map_err(e)?;
        let r2 = lab.add_router("r2").map_err(e)?;
        let track = r1.write_file("failover.value", "0\n").map_err(e)?;
        let track2 = r2.write_file("failover2.value", "0\n").map_err(e)?;
        let vips: Vec<IpAddr> = (1..=FAST + SLOW).flat_map(|v| vips(&lab, v)).collect();
        let d1 = start(&daemon, &r1, &conf(&lab, "r1", PRIO_MASTER, &track, rt))?;
        let all = |n: &Node| held(n, &vips) == vips.len();
        if !wait_until(Duration::from_secs(60), Duration::from_millis(200), || {
            all(&r1)
        }) {
            return Err(format!(
                "{name}: r1 holds {} VIPs{}",
                held(&r1, &vips),
                lab.diag()
            ));
        }
        let d2 = start(&daemon, &r2, &conf(&lab, "r2", PRIO_BACKUP, &track2, rt))?;
        let vrrpctl = match &daemon {
            Daemon::Vrrpd { binary } => Some(vrrpctl_next_to(binary).map_err(e)?),
            Daemon::Keepalived => None,
        };
        let mut side = Side {
            name,
            lab,
            r1,
            r2,
            d: [d1, d2],
            track,
            vips,
            procs: Vec::new(),
            vrrpctl,
            hist: Default::default(),
            logs: Default::default(),
            transitions0: [0; 2],
        };
        std::thread::sleep(Duration::from_secs(5));
        side.watch();
        side.transitions0 = side.transitions();
        Ok(side)
    }

    /// The processes to sample: vrrpd itself, keepalived's parent and its VRRP child.
    fn watch(&mut self) {
        for (d, role) in self.d.iter().zip(["master", "backup"]) {
            self.procs.push(Watched {
                label: role.into(),
                pid: d.pid(),
                ticks: None,
            });
            if let Some(&child) = d.proc.children().first() {
                self.procs.push(Watched {
                    label: format!("{role}-vrrp"),
                    pid: u32::try_from(child).unwrap_or(0),
                    ticks: None,
                });
            }
        }
    }

    /// State changes each daemon logged so far (its log read on from where the last call
    /// stopped: the logs grow for an hour).
    fn transitions(&mut self) -> [usize; 2] {
        for (d, log) in self.d.iter().zip(self.logs.iter_mut()) {
            for (path, offset) in [d.proc.stdout_path(), d.proc.stderr_path()]
                .into_iter()
                .zip(log.offsets.iter_mut())
            {
                log.count += count_transitions(&d.daemon, path, offset);
            }
        }
        [self.logs[0].count, self.logs[1].count]
    }

    fn vrrpctl(&self, d: &DaemonProc, args: &[&str]) -> Option<(String, f64)> {
        let bin = self.vrrpctl.as_ref()?;
        let mut cmd = std::process::Command::new(bin);
        cmd.arg("--socket")
            .arg(d.control_socket.as_ref()?)
            .args(args);
        let t = Instant::now();
        let out = vrrp_testlab::run_bounded(cmd, Duration::from_secs(10)).ok()?;
        let ms = t.elapsed().as_secs_f64() * 1e3;
        out.status
            .success()
            .then(|| (String::from_utf8_lossy(&out.stdout).into_owned(), ms))
    }
}

/// Where a daemon's log was read up to, and the transitions in it so far.
#[derive(Default)]
struct LogCount {
    offsets: [u64; 2],
    count: usize,
}

fn count_masters(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Object(m) => {
            let own = m
                .get("state")
                .and_then(|s| s.as_str())
                .is_some_and(|s| s.eq_ignore_ascii_case("master"));
            usize::from(own) + m.values().map(count_masters).sum::<usize>()
        }
        serde_json::Value::Array(a) => a.iter().map(count_masters).sum(),
        _ => 0,
    }
}

/// vrrpd's own view: Masters in `status --json`, the lateness since the last sample, the
/// lifetime maximum from `show --json`, master changes from the metrics; CSV fields.
fn vrrpd_fields(side: &mut Side, i: usize) -> String {
    let d = side.d[i].clone();
    let status = side.vrrpctl(&d, &["status", "--json"]);
    let masters = status
        .as_ref()
        .and_then(|(s, _)| serde_json::from_str(s).ok())
        .map(|v| count_masters(&v));
    let max_life = side
        .vrrpctl(&d, &["show", "VI_1", "--json"])
        .and_then(|(s, _)| serde_json::from_str::<serde_json::Value>(&s).ok())
        .and_then(|v| v.pointer("/protocol_timer/max_late_us")?.as_f64());
    let node = if i == 0 { &side.r1 } else { &side.r2 };
    let t = Instant::now();
    let url = format!("http://{METRICS}/metrics");
    let scrape = node
        .run("curl", &["-s", "--max-time", "10", &url])
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let scrape_ms = t.elapsed().as_secs_f64() * 1e3;
    let Some(text) = scrape else {
        return format!("{},,,,,,,{},,", opt(masters), opt(max_life));
    };
    let h = Histogram::parse(&text, LATENESS);
    let w = h.since(&side.hist[i]);
    side.hist[i] = h;
    let us = |q| w.quantile_bound(q).map(|b| b * 1e6);
    let mean = (w.count > 0).then(|| w.sum / w.count as f64 * 1e6);
    format!(
        "{},{},{},{},{},{},{},{},{},{:.1}",
        opt(masters),
        w.count,
        opt(mean),
        opt(us(0.5)),
        opt(us(0.99)),
        w.above(1e-3),
        w.above(5e-3),
        opt(max_life),
        soak::metric_sum(&text, "vrrp_master_changes_total"),
        scrape_ms + status.map_or(0.0, |s| s.1),
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or(String::new(), |v| v.to_string())
}

const SAMPLES_HEADER: &str = "t_s,unix_s,side,proc,pid,rss_kb,pss_kb,hwm_kb,fds,threads,cpu_pct,load1,load5,load15,vips_held,transitions,masters,late_n,late_mean_us,late_p50_le_us,late_p99_le_us,late_over_1ms,late_over_5ms,late_max_life_us,master_changes,ctl_ms";
const GAPS_HEADER: &str =
    "t_s,side,vrid,interval_ms,adverts,p50_ms,p99_ms,max_ms,over3,backup_adverts,dropped";
const EVENTS_HEADER: &str = "t_s,side,event,seconds,ok";

struct Out {
    samples: File,
    gaps: File,
    events: File,
}

fn open(dir: &Path, name: &str, header: &str) -> Res<File> {
    let path = dir.join(name);
    let fresh = !path.exists();
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|x| format!("{}: {x}", path.display()))?;
    if fresh {
        writeln!(f, "{header}").map_err(e)?;
    }
    Ok(f)
}

fn sample_procs(side: &mut Side, t_s: f64, out: &mut Out) -> Res<()> {
    let load = soak::loadavg();
    let trans = side.transitions();
    let held_by = [held(&side.r1, &side.vips), held(&side.r2, &side.vips)];
    let mut daemon_fields = [String::new(), String::new()];
    if side.vrrpctl.is_some() {
        daemon_fields = [vrrpd_fields(side, 0), vrrpd_fields(side, 1)];
    }
    for w in &mut side.procs {
        let i = usize::from(w.label.starts_with("backup"));
        if w.pid == 0 {
            continue;
        }
        let Some(f) = soak::footprint(w.pid) else {
            // A dead daemon is a finding, not the end of the other side's run.
            let line = format!(
                "{t_s:.1},{},{} gone (pid {}),0,false",
                side.name, w.label, w.pid
            );
            eprintln!("{line}");
            writeln!(out.events, "{line}").map_err(e)?;
            w.pid = 0;
            continue;
        };
        let now = Instant::now();
        let cpu = w.ticks.map(|(at, ticks)| {
            let dt = now.duration_since(at).as_secs_f64();
            (f.cpu_ticks.saturating_sub(ticks)) as f64 / soak::clock_ticks() / dt * 100.0
        });
        w.ticks = Some((now, f.cpu_ticks));
        let Footprint {
            rss_kb,
            pss_kb,
            hwm_kb,
            fds,
            threads,
            ..
        } = f;
        let extra = if daemon_fields[i].is_empty() {
            ",,,,,,,,,".to_string()
        } else {
            daemon_fields[i].clone()
        };
        writeln!(
            out.samples,
            "{t_s:.1},{:.1},{},{},{},{rss_kb},{pss_kb},{hwm_kb},{fds},{threads},{},{:.2},{:.2},{:.2},{},{},{extra}",
            unix_s(),
            side.name,
            w.label,
            w.pid,
            opt(cpu.map(|c| format!("{c:.1}"))),
            load[0],
            load[1],
            load[2],
            held_by[i],
            trans[i] - side.transitions0[i].min(trans[i]),
        )
        .map_err(e)?;
    }
    Ok(())
}

fn write_gaps(side: &Side, pcap: &Path, dropped: u64, t_s: f64, out: &mut Out) -> Res<()> {
    let adverts = soak::read_adverts(pcap).map_err(e)?;
    // The pcap stays (overwritten by the next sample's) for a look at the last capture.
    let master = IpAddr::V4(side.r1.ipv4());
    let backup = IpAddr::V4(side.r2.ipv4());
    let gaps = soak::gaps_by_vrid(&adverts, master);
    for v in 1..=FAST + SLOW {
        let int_ns = interval_s(v) * 1e9;
        let g = gaps.get(&v).map(Vec::as_slice).unwrap_or(&[]);
        let ms = |ns: i64| format!("{:.3}", ns as f64 / 1e6);
        let over3 = g.iter().filter(|&&x| x as f64 > 3.0 * int_ns).count();
        let from_backup = adverts
            .iter()
            .filter(|a| a.vrid == v && a.src == backup)
            .count();
        let n = if g.is_empty() { 0 } else { g.len() + 1 };
        writeln!(
            out.gaps,
            "{t_s:.1},{},{v},{},{n},{},{},{},{over3},{from_backup},{}",
            side.name,
            interval_s(v) * 1e3,
            ms(soak::percentile(g, 0.5)),
            ms(soak::percentile(g, 0.99)),
            ms(g.last().copied().unwrap_or(0)),
            // The capture's drops, once per capture.
            if v == 1 { dropped } else { 0 },
        )
        .map_err(e)?;
    }
    Ok(())
}

/// Every side's bridge captured at the same time.
fn capture_all(sides: &[Side], secs: f64, dir: &Path) -> Res<Vec<(PathBuf, u64)>> {
    std::thread::scope(|scope| {
        let jobs: Vec<_> = sides
            .iter()
            .map(|s| {
                let pcap = dir.join(format!("{}.pcap", s.name));
                scope.spawn(move || {
                    let dropped = soak::capture(s.lab.bridge_ns(), "br0", secs, &pcap);
                    dropped.map(|d| (pcap, d)).map_err(e)
                })
            })
            .collect();
        jobs.into_iter()
            .map(|j| {
                j.join()
                    .map_err(|_| "capture thread panicked".to_string())?
            })
            .collect()
    })
}

fn sample(sides: &mut [Side], t_s: f64, opts: &Opts, out: &mut Out) -> Res<()> {
    let pcaps = capture_all(sides, opts.capture_s, &opts.out)?;
    for (side, (pcap, dropped)) in sides.iter_mut().zip(pcaps) {
        write_gaps(side, &pcap, dropped, t_s, out)?;
        sample_procs(side, t_s, out)?;
    }
    out.samples.flush().map_err(e)?;
    out.gaps.flush().map_err(e)
}

/// The Master's priority drops below the Backup's, every VIP must move, then back.
fn failover(side: &Side, t_s: f64, out: &mut Out) -> Res<()> {
    let n = side.vips.len();
    let mut leg = |event: &str, value: &str, to: &Node, from: &Node| -> Res<()> {
        std::fs::write(&side.track, value).map_err(e)?;
        let t = Instant::now();
        let ok = wait_until(Duration::from_secs(60), Duration::from_millis(100), || {
            held(to, &side.vips) == n && held(from, &side.vips) == 0
        });
        let line = format!(
            "{t_s:.1},{},{event},{:.2},{ok}",
            side.name,
            t.elapsed().as_secs_f64()
        );
        writeln!(out.events, "{line}").map_err(e)?;
        eprintln!("{line}");
        Ok(())
    };
    leg("failover", FAILOVER_VALUE, &side.r2, &side.r1)?;
    std::thread::sleep(Duration::from_secs(3));
    leg("failback", "0\n", &side.r1, &side.r2)?;
    out.events.flush().map_err(e)
}

fn run(opts: &Opts) -> Res<()> {
    std::fs::create_dir_all(&opts.out).map_err(e)?;
    let mut out = Out {
        samples: open(&opts.out, "samples.csv", SAMPLES_HEADER)?,
        gaps: open(&opts.out, "gaps.csv", GAPS_HEADER)?,
        events: open(&opts.out, "events.csv", EVENTS_HEADER)?,
    };
    let mut sides = vec![Side::new(Daemon::vrrpd_next_to_exe(), opts.rt)?];
    if opts.keepalived {
        sides.push(Side::new(Daemon::Keepalived, opts.rt)?);
    }
    for s in &sides {
        eprintln!(
            "{}: lab {} ({})",
            s.name,
            s.lab.prefix(),
            s.lab.dir().display()
        );
    }
    let t0 = Instant::now();
    let end = Duration::from_secs_f64(opts.minutes * 60.0);
    let mut next_failover = opts.failover_min * 60.0;
    let mut k = 0u32;
    while !interrupted() {
        let due = Duration::from_secs_f64(opts.sample_s * f64::from(k));
        if due > end {
            break;
        }
        while t0.elapsed() < due && !interrupted() {
            std::thread::sleep(Duration::from_millis(200));
        }
        let t_s = t0.elapsed().as_secs_f64();
        if opts.failover_min > 0.0
            && t_s >= next_failover
            && t_s + opts.sample_s < end.as_secs_f64()
        {
            for s in &sides {
                failover(s, t_s, &mut out)?;
            }
            next_failover += opts.failover_min * 60.0;
            // Let the 1 s instances' Backups hear the Master again before capturing.
            std::thread::sleep(Duration::from_secs(3));
        }
        sample(&mut sides, t_s, opts, &mut out)?;
        k += 1;
    }
    Ok(())
}

fn arg<'a>(args: &'a [String], name: &str) -> Option<&'a str> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .map(String::as_str)
}

fn num(args: &[String], name: &str, default: f64) -> f64 {
    arg(args, name)
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    if let Some(dir) = arg(&args, "--summarize") {
        return match soak::summary::report(Path::new(dir)) {
            Ok(text) => {
                print!("{text}");
                ExitCode::SUCCESS
            }
            Err(x) => {
                eprintln!("vrrp-soak: {x}");
                ExitCode::FAILURE
            }
        };
    }
    let opts = Opts {
        minutes: num(&args, "--minutes", 60.0),
        sample_s: num(&args, "--sample-seconds", 30.0).max(5.0),
        capture_s: num(&args, "--capture-seconds", 3.0).max(0.5),
        failover_min: num(&args, "--failover-minutes", 10.0),
        keepalived: args.iter().any(|a| a == "--keepalived"),
        rt: arg(&args, "--rt-priority").and_then(|v| v.parse().ok()),
        out: arg(&args, "--out").map_or_else(
            || PathBuf::from(format!("/var/tmp/soak-{}", unix_s() as u64)),
            PathBuf::from,
        ),
    };
    catch_interrupts();
    eprintln!("raw CSV in {}", opts.out.display());
    match run(&opts) {
        Ok(()) => {
            eprintln!("done; vrrp-soak --summarize {}", opts.out.display());
            ExitCode::SUCCESS
        }
        Err(x) => {
            eprintln!("vrrp-soak: {x}");
            ExitCode::FAILURE
        }
    }
}
