//! vrrp-scale-bench: vrrpd beside keepalived with many instances, same keepalived.conf,
//! interleaved rounds, each daemon pinned to one CPU. Cases: "thousand" (1,000 VRRPv3
//! instances at 1 s over 7 LANs) and "fast" (100 at 10 ms on one LAN). Per case and
//! daemon: start-up of the Master alone (exec to every VIP held) and of the Backup beside
//! it (exec to every instance in Backup, from its log); a steady window of the pair: CPU (%
//! of a core, schedstat), RSS and PSS, vrrpd's timer lateness histogram, and the Master's
//! advert gaps on every bridge minus the interval. "thousand" also: SIGHUP of each with
//! the configuration unchanged (time to the reload's last log line, transitions, adverts
//! delayed meanwhile) and SIGTERM of the Master (time to its last priority-0 advert).
//! Raw CSV (daemon,case,round,metric,value) in the output directory; a Markdown table on
//! stdout.
//!
//! usage: vrrp-scale-bench [--rounds N] [--seconds S] [--cpu C] [--cases thousand,fast]
//!                         [--daemons vrrpd,keepalived] [--out DIR]

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use vrrp_testlab::budget::{catch_interrupts, interrupted};
use vrrp_testlab::scale::{self, ScaleLab, StateLog, pinned, time_until};
use vrrp_testlab::soak::{self, Histogram};
use vrrp_testlab::{Daemon, DaemonProc, Node};

type Res<T> = Result<T, String>;

const METRICS: &str = "127.0.0.1:9650";
const LATENESS: &str = "vrrp_protocol_timer_lateness_seconds";
const POLL: Duration = Duration::from_millis(2);

fn e(x: impl std::fmt::Display) -> String {
    x.to_string()
}

#[derive(Clone, Copy)]
struct Case {
    name: &'static str,
    instances: usize,
    interval_s: f64,
    /// Reload and SIGTERM too.
    lifecycle: bool,
}

const CASES: [Case; 2] = [
    Case {
        name: "thousand",
        instances: 1000,
        interval_s: 1.0,
        lifecycle: true,
    },
    Case {
        name: "fast",
        instances: 100,
        interval_s: 0.01,
        lifecycle: false,
    },
];

struct Opts {
    rounds: usize,
    seconds: f64,
    cpu: usize,
    cases: Vec<Case>,
    daemons: Vec<Daemon>,
    out: PathBuf,
}

/// The rows of one (daemon, case, round).
struct Rows<'a> {
    csv: &'a mut File,
    all: &'a mut Vec<(String, String, String, f64)>,
    daemon: &'static str,
    case: &'static str,
    round: usize,
}

impl Rows<'_> {
    fn put(&mut self, metric: &str, value: f64) {
        let _ = writeln!(
            self.csv,
            "{},{},{},{metric},{value}",
            self.daemon, self.case, self.round
        );
        self.all
            .push((self.case.into(), metric.into(), self.daemon.into(), value));
        eprintln!(
            "  {} {} r{}: {metric} = {value:.3}",
            self.daemon, self.case, self.round
        );
    }
}

fn start(daemon: &Daemon, node: &Node, conf: &str, cpu: usize) -> Res<DaemonProc> {
    pinned(cpu, || match daemon {
        Daemon::Vrrpd { .. } => daemon.start_with(node, conf, &["--metrics-listen", METRICS], &[]),
        Daemon::Keepalived => daemon.start(node, conf),
    })
    .map_err(e)
}

fn scrape(node: &Node) -> Option<Histogram> {
    let url = format!("http://{METRICS}/metrics");
    let out = node
        .run("curl", &["-s", "--max-time", "10", &url])
        .ok()
        .filter(|o| o.status.success())?;
    Some(Histogram::parse(
        &String::from_utf8_lossy(&out.stdout),
        LATENESS,
    ))
}

/// One case of one daemon: a new lab, start-ups, the steady window, reload and SIGTERM.
fn run_case(daemon: &Daemon, case: Case, o: &Opts, rows: &mut Rows) -> Res<()> {
    let lab = ScaleLab::new("scal", case.instances).map_err(e)?;
    let n = case.instances;
    let conf1 = lab.conf("r1", 200, n, case.interval_s);
    let conf2 = lab.conf("r2", 100, n, case.interval_s);
    let t0 = Instant::now();
    let d1 = start(daemon, &lab.r1, &conf1, o.cpu)?;
    let limit = Duration::from_secs(60);
    time_until(limit, Duration::from_millis(10), || {
        lab.held(&lab.r1, n) == n
    })
    .ok_or_else(|| {
        format!(
            "r1 holds {} of {n} VIPs\n{}",
            lab.held(&lab.r1, n),
            d1.tail(20)
        )
    })?;
    rows.put("startup_master_s", t0.elapsed().as_secs_f64());
    let t0 = Instant::now();
    let d2 = start(daemon, &lab.r2, &conf2, o.cpu)?;
    let mut log2 = StateLog::new(&d2, true);
    time_until(limit, POLL, || {
        log2.poll();
        log2.count("BACKUP") >= n
    })
    .ok_or_else(|| format!("r2: {} Backups\n{}", log2.count("BACKUP"), d2.tail(20)))?;
    rows.put("startup_backup_s", t0.elapsed().as_secs_f64());
    std::thread::sleep(Duration::from_secs(3));
    steady(&lab, [&d1, &d2], case, o, rows)?;
    if case.lifecycle {
        reload(&lab, [&d2, &d1], "backup", case, rows)?;
        reload(&lab, [&d1, &d2], "master", case, rows)?;
        sigterm(&lab, &d1, rows)?;
    }
    let _ = d2.stop(Duration::from_secs(20));
    Ok(())
}

/// The pair in steady state for `o.seconds`: CPU, memory, lateness (metrics and wire).
fn steady(lab: &ScaleLab, d: [&DaemonProc; 2], case: Case, o: &Opts, rows: &mut Rows) -> Res<()> {
    let nodes = [&lab.r1, &lab.r2];
    let pids = d.map(scale::processes);
    let h0 = nodes.map(scrape);
    let cpu0 = pids.clone().map(|p| scale::on_cpu_ns(&p));
    let t0 = Instant::now();
    let adverts = lab.capture(o.seconds, "steady").map_err(e)?;
    let wall = t0.elapsed().as_secs_f64() * 1e9;
    for (i, role) in ["master", "backup"].iter().enumerate() {
        let busy = scale::on_cpu_ns(&pids[i]).saturating_sub(cpu0[i]) as f64;
        rows.put(&format!("{role}_cpu_pct"), busy / wall * 100.0);
        let fp: Vec<_> = pids[i].iter().filter_map(|&p| soak::footprint(p)).collect();
        rows.put(
            &format!("{role}_rss_kb"),
            fp.iter().map(|f| f.rss_kb).sum::<u64>() as f64,
        );
        rows.put(
            &format!("{role}_pss_kb"),
            fp.iter().map(|f| f.pss_kb).sum::<u64>() as f64,
        );
        let t = Instant::now();
        let h1 = scrape(nodes[i]);
        if h1.is_some() {
            rows.put(
                &format!("{role}_metrics_scrape_ms"),
                t.elapsed().as_secs_f64() * 1e3,
            );
        }
        if let (Some(a), Some(b)) = (&h0[i], h1) {
            let w = b.since(a);
            for (q, name) in [(0.5, "p50"), (0.99, "p99"), (1.0, "max")] {
                if let Some(bound) = w.quantile_bound(q) {
                    rows.put(&format!("{role}_timer_late_{name}_le_ms"), bound * 1e3);
                }
            }
            rows.put(
                &format!("{role}_timer_late_over_1ms"),
                w.above(0.001) as f64,
            );
        }
    }
    let late = lab.r1_lateness(&adverts, case.interval_s);
    rows.put("wire_gaps", late.len() as f64);
    for (q, name) in [(0.5, "p50"), (0.99, "p99"), (1.0, "max")] {
        rows.put(
            &format!("wire_late_{name}_ms"),
            soak::percentile(&late, q) as f64 / 1e6,
        );
    }
    let over = late.iter().filter(|&&l| l > 1_000_000).count();
    rows.put("wire_late_over_1ms", over as f64);
    Ok(())
}

/// SIGHUP to `d[0]` with its configuration unchanged: the time to the reload's last log
/// line, transitions of both daemons, and the Master's adverts around it.
fn reload(lab: &ScaleLab, d: [&DaemonProc; 2], role: &str, case: Case, rows: &mut Rows) -> Res<()> {
    let mut logs = d.map(|p| StateLog::new(p, false));
    let (late, done) = std::thread::scope(|s| {
        let cap = s.spawn(|| lab.capture(4.0, &format!("reload-{role}")));
        std::thread::sleep(Duration::from_millis(1500));
        let t0 = Instant::now();
        let sent = d[0].proc.kill_main(libc::SIGHUP);
        // The reload is over when its summary is logged (vrrpd) or, for keepalived which
        // logs no end, when its log has not grown for a second.
        let vrrpd = matches!(d[0].daemon, Daemon::Vrrpd { .. });
        let mut summary = None;
        time_until(
            Duration::from_millis(2200),
            Duration::from_millis(1),
            || {
                let text = logs[0].poll();
                if vrrpd && summary.is_none() && text.contains("reload") && !text.contains("SIGHUP")
                {
                    summary = Some(t0.elapsed());
                }
                summary.is_some()
            },
        );
        let done = summary.or_else(|| logs[0].grew.map(|g| g - t0));
        let late = cap.join().map_err(|_| "capture panicked".to_string());
        (sent.map_err(e).and(late), done)
    });
    let adverts = late?.map_err(e)?;
    std::thread::sleep(Duration::from_secs(1));
    logs.iter_mut().for_each(|l| {
        l.poll();
    });
    let moves: usize = logs.iter().map(|l| l.entered.len()).sum();
    rows.put(
        &format!("reload_{role}_ms"),
        done.map_or(f64::NAN, |t| t.as_secs_f64() * 1e3),
    );
    rows.put(&format!("reload_{role}_transitions"), moves as f64);
    let late = lab.r1_lateness(&adverts, case.interval_s);
    rows.put(
        &format!("reload_{role}_wire_late_max_ms"),
        late.last().copied().unwrap_or(0) as f64 / 1e6,
    );
    Ok(())
}

fn unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i64)
}

/// SIGTERM to the Master: its priority-0 adverts on the wire, the last one's delay.
fn sigterm(lab: &ScaleLab, d: &DaemonProc, rows: &mut Rows) -> Res<()> {
    let (adverts, t_sig, exit) = std::thread::scope(|s| {
        let cap = s.spawn(|| lab.capture(4.0, "sigterm"));
        std::thread::sleep(Duration::from_millis(1500));
        let t_sig = unix_ns();
        let t0 = Instant::now();
        let _ = d.proc.kill_main(libc::SIGTERM);
        let exit = time_until(Duration::from_secs(30), POLL, || !d.is_running());
        let exit = exit.map(|_| t0.elapsed());
        (cap.join(), t_sig, exit)
    });
    let adverts = adverts
        .map_err(|_| "capture panicked".to_string())?
        .map_err(e)?;
    let zero: Vec<i64> = adverts
        .iter()
        .filter(|(lan, a)| a.prio == 0 && a.src == lab.r1_source(*lan))
        .map(|(_, a)| a.t_ns - t_sig)
        .collect();
    rows.put("sigterm_prio0_adverts", zero.len() as f64);
    let first = zero.iter().min().copied().unwrap_or(0);
    rows.put("sigterm_first_prio0_ms", first as f64 / 1e6);
    let last = zero.iter().max().copied().unwrap_or(0);
    rows.put("sigterm_last_prio0_ms", last as f64 / 1e6);
    rows.put(
        "sigterm_exit_ms",
        exit.map_or(f64::NAN, |t| t.as_secs_f64() * 1e3),
    );
    Ok(())
}

fn args() -> Res<Opts> {
    let mut o = Opts {
        rounds: 3,
        seconds: 20.0,
        cpu: 1,
        cases: CASES.to_vec(),
        daemons: vec![Daemon::vrrpd_next_to_exe(), Daemon::Keepalived],
        out: PathBuf::from(format!(
            "/tmp/vrrp-scale-bench-{}",
            unix_ns() / 1_000_000_000
        )),
    };
    let mut it = std::env::args().skip(1);
    while let Some(a) = it.next() {
        let mut v = || it.next().ok_or(format!("{a} needs a value"));
        match a.as_str() {
            "--rounds" => o.rounds = v()?.parse().map_err(e)?,
            "--seconds" => o.seconds = v()?.parse().map_err(e)?,
            "--cpu" => o.cpu = v()?.parse().map_err(e)?,
            "--out" => o.out = v()?.into(),
            "--cases" => {
                let names = v()?;
                o.cases = CASES
                    .into_iter()
                    .filter(|c| names.split(',').any(|n| n == c.name))
                    .collect();
            }
            "--daemons" => {
                let names = v()?;
                o.daemons
                    .retain(|d| names.split(',').any(|n| n == d.name()));
            }
            _ => return Err(format!("unknown argument {a}")),
        }
    }
    Ok(o)
}

/// `median [min-max]` per (case, metric) and daemon, as a Markdown table.
fn table(all: &[(String, String, String, f64)], daemons: &[Daemon]) -> String {
    let mut by: BTreeMap<(&str, &str), BTreeMap<&str, Vec<f64>>> = BTreeMap::new();
    for (case, metric, daemon, v) in all {
        by.entry((case, metric))
            .or_default()
            .entry(daemon)
            .or_default()
            .push(*v);
    }
    let names: Vec<&str> = daemons.iter().map(Daemon::name).collect();
    let mut out = format!(
        "| case | metric | {} |\n|---|---|{}\n",
        names.join(" | "),
        "---|".repeat(names.len())
    );
    for ((case, metric), per) in by {
        let cells: Vec<String> = names
            .iter()
            .map(|n| per.get(n).map_or("-".into(), |v| summary(v)))
            .collect();
        out.push_str(&format!("| {case} | {metric} | {} |\n", cells.join(" | ")));
    }
    out
}

fn summary(v: &[f64]) -> String {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let med = soak::percentile(&s, 0.5);
    if s.len() > 1 {
        format!("{med:.2} [{:.2}–{:.2}]", s[0], s[s.len() - 1])
    } else {
        format!("{med:.2}")
    }
}

fn main() -> ExitCode {
    catch_interrupts();
    let o = match args() {
        Ok(o) => o,
        Err(m) => {
            eprintln!("vrrp-scale-bench: {m}");
            return ExitCode::from(2);
        }
    };
    if let Some(why) = o.daemons.iter().find_map(Daemon::unavailable) {
        eprintln!("vrrp-scale-bench: {why}");
        return ExitCode::FAILURE;
    }
    let _ = std::fs::create_dir_all(&o.out);
    let Ok(mut csv) = File::create(o.out.join("scale.csv")) else {
        eprintln!("vrrp-scale-bench: cannot write in {}", o.out.display());
        return ExitCode::FAILURE;
    };
    let _ = writeln!(csv, "daemon,case,round,metric,value");
    let mut all = Vec::new();
    let mut failed = false;
    for round in 1..=o.rounds {
        for case in &o.cases {
            // Interleaved: the first daemon alternates from round to round.
            let mut order: Vec<&Daemon> = o.daemons.iter().collect();
            if round % 2 == 0 {
                order.reverse();
            }
            for d in order {
                if interrupted() {
                    break;
                }
                eprintln!("round {round}: {} {}", d.name(), case.name);
                let mut rows = Rows {
                    csv: &mut csv,
                    all: &mut all,
                    daemon: d.name(),
                    case: case.name,
                    round,
                };
                rows.put("load1", soak::loadavg()[0]);
                if let Err(m) = run_case(d, *case, &o, &mut rows) {
                    eprintln!(
                        "vrrp-scale-bench: {} {} round {round}: {m}",
                        d.name(),
                        case.name
                    );
                    failed = true;
                }
            }
        }
    }
    println!("{}", table(&all, &o.daemons));
    eprintln!("raw CSV: {}", o.out.join("scale.csv").display());
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
