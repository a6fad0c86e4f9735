//! vrrp-vips-bench: many VIPs taken over at once, vrrpd against keepalived with the same
//! keepalived.conf. A Master r1 (priority 200) and a Backup r2 (100) hold `--instances`
//! instances (VRID 1..) sharing `--vips` /32 addresses (per instance the first one in
//! `virtual_ipaddress`, the others in `virtual_ipaddress_excluded`, as keepalived advises
//! beyond what an advertisement carries); advert_int 1 s, keepalived's GARP defaults. r1's
//! daemon is SIGKILLed and its link cut; a client sweeps every VIP with ARP
//! (`vrrp_testlab::sweep`) from r2's first advertisement on. Then r2 is stopped with
//! SIGTERM: how long it takes to release them. Repetitions alternate the daemons, each in
//! a fresh lab. A benchmark binary, not a test; `scripts/bench-vips.sh` runs it.
//!
//! usage: vrrp-vips-bench [--vips N] [--instances M] [--reps R]
//!        [--daemons vrrpd,keepalived] [--vrrpd PATH] [--csv FILE]

use std::collections::HashMap;
use std::io::Write;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use vrrp_testlab::sweep::{Sweep, Sweeper};
use vrrp_testlab::{Daemon, DaemonProc, KeepalivedConf, Lab, Node, VrrpInstance, wait_until};

type Res<T> = Result<T, String>;

/// VIP `i`: 10.99.(200 + i / 250).(1 + i % 250), outside the lab's own /24 (the lab's
/// namespaces hold them, nothing else).
fn vip(i: usize) -> Ipv4Addr {
    let third = u8::try_from(200 + i / 250).unwrap_or(255);
    let fourth = u8::try_from(1 + i % 250).unwrap_or(255);
    Ipv4Addr::new(10, 99, third, fourth)
}

fn conf(prio: u8, vips: &[Ipv4Addr], instances: usize) -> String {
    let per = vips.len().div_ceil(instances.max(1)).max(1);
    let mut c = KeepalivedConf::new().router_id(format!("vips{prio}"));
    for (k, chunk) in vips.chunks(per).enumerate() {
        let vrid = u8::try_from(k + 1).unwrap_or(255);
        let mut inst = VrrpInstance::new(&format!("VI_{}", k + 1), "eth0", vrid, prio)
            .version(2)
            .advert_int(1.0);
        if let Some(first) = chunk.first() {
            inst = inst.vip(format!("{first}/32"));
        }
        if chunk.len() > 1 {
            let mut block = String::from("virtual_ipaddress_excluded {\n");
            for v in &chunk[1..] {
                block.push_str(&format!("        {v}/32\n"));
            }
            block.push_str("    }");
            inst = inst.line(block);
        }
        c = c.instance(inst);
    }
    c.render()
}

/// The VIPs present on `node`.
fn held(node: &Node, vips: &[Ipv4Addr]) -> usize {
    let Ok(out) = node.run("ip", &["-o", "-4", "addr", "show", "dev", node.ifname()]) else {
        return 0;
    };
    let text = String::from_utf8_lossy(&out.stdout);
    let have: std::collections::HashSet<&str> = text
        .split_whitespace()
        .filter_map(|w| w.strip_suffix("/32"))
        .collect();
    vips.iter()
        .filter(|v| have.contains(v.to_string().as_str()))
        .count()
}

/// One repetition's figures.
struct Row {
    sweep: Sweep,
    release: Duration,
    left: usize,
    /// vrrpd's own trace of the takeover (its log line), if any.
    trace: String,
    load: String,
}

fn start(daemon: &Daemon, node: &Node, conf: &str) -> Res<DaemonProc> {
    let d = daemon.start(node, conf).map_err(|e| e.to_string())?;
    d.wait_ready(Duration::from_secs(60))
        .map_err(|e| e.to_string())?;
    Ok(d)
}

fn rep(daemon: &Daemon, vips: &[Ipv4Addr], instances: usize) -> Res<Row> {
    let e = |e: vrrp_testlab::Error| e.to_string();
    let mut lab = Lab::new("vips").map_err(e)?;
    let n1 = lab.add_router("r1").map_err(e)?;
    let n2 = lab.add_router("r2").map_err(e)?;
    let client = lab.add_host("c").map_err(e)?;
    let d1 = start(daemon, &n1, &conf(200, vips, instances))?;
    if !wait_until(Duration::from_secs(90), Duration::from_millis(250), || {
        held(&n1, vips) == vips.len()
    }) {
        return Err(format!("r1 did not take all VIPs{}", lab.diag()));
    }
    let d2 = start(daemon, &n2, &conf(100, vips, instances))?;
    std::thread::sleep(Duration::from_secs(4));
    let sweeper =
        Sweeper::start(&client, n2.mac(), vips.to_vec(), Duration::from_secs(60)).map_err(e)?;
    d1.crash().map_err(e)?;
    n1.link_down().map_err(e)?;
    let sweep = sweeper.wait().map_err(e)?;
    let load = vrrp_testlab::soak::loadavg()
        .map(|l| format!("{l:.2}"))
        .join(" ");
    let t = Instant::now();
    d2.stop(Duration::from_secs(60)).map_err(e)?;
    let release = t.elapsed();
    let left = held(&n2, vips);
    let trace = d2
        .tail(400)
        .lines()
        .filter(|l| l.contains("takeover trace"))
        .take(3)
        .collect::<Vec<_>>()
        .join(" / ");
    Ok(Row {
        sweep,
        release,
        left,
        trace,
        load,
    })
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("—".into(), |d| format!("{:.2}", d.as_secs_f64() * 1e3))
}

/// The columns of a repetition's row, in the Markdown table and the CSV alike.
const COLUMNS: [&str; 15] = [
    "daemon",
    "rep",
    "first GARP (ms)",
    "median VIP GARPed (ms)",
    "every VIP GARPed (ms)",
    "median VIP answers ARP (ms)",
    "every VIP answers ARP (ms)",
    "answered",
    "GARPs before the advert",
    "r2's advert after the sweep began (s)",
    "sweep passes",
    "longest pass (ms)",
    "release on SIGTERM (ms)",
    "VIPs left",
    "load (1/5/15 min)",
];

fn values(daemon: &Daemon, rep: usize, row: &Row) -> [String; 15] {
    let s = &row.sweep;
    [
        daemon.name().to_string(),
        rep.to_string(),
        ms(s.first_garp()),
        ms(s.median_garp()),
        ms(s.all_garp()),
        ms(s.median_reply()),
        ms(s.all_reply()),
        format!("{}/{}", s.answered(), s.seen.len()),
        s.early_garps.to_string(),
        format!("{:.3}", s.advert.map_or(0.0, |a| a.as_secs_f64())),
        s.passes.to_string(),
        ms(Some(s.pass)),
        ms(Some(row.release)),
        row.left.to_string(),
        row.load.clone(),
    ]
}

fn main() -> ExitCode {
    // `--name value` pairs.
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opts: HashMap<&str, &str> = args
        .chunks(2)
        .filter_map(|p| Some((p.first()?.as_str(), p.get(1)?.as_str())))
        .collect();
    let num = |name, default: usize| {
        opts.get(name)
            .and_then(|s| s.parse().ok())
            .unwrap_or(default)
    };
    let (count, instances, reps) = (
        num("--vips", 10_000),
        num("--instances", 1).clamp(1, 255),
        num("--reps", 3),
    );
    let vrrpd = opts
        .get("--vrrpd")
        .map_or_else(Daemon::vrrpd_next_to_exe, |p| Daemon::Vrrpd {
            binary: PathBuf::from(p),
        });
    let daemons: Vec<Daemon> = opts
        .get("--daemons")
        .unwrap_or(&"vrrpd,keepalived")
        .split(',')
        .filter_map(|d| match d {
            "vrrpd" => Some(vrrpd.clone()),
            "keepalived" => Some(Daemon::Keepalived),
            _ => None,
        })
        .collect();
    let mut csv = opts.get("--csv").and_then(|p| {
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(p)
            .ok()
    });
    if let Some(f) = csv.as_mut() {
        let _ = writeln!(f, "{},vips,instances,trace", COLUMNS.join(","));
    }
    let vips: Vec<Ipv4Addr> = (0..count).map(vip).collect();
    println!("{count} VIPs in {instances} instance(s); times from r2's first advertisement");
    println!();
    println!("| {} |", COLUMNS.join(" | "));
    println!("|---|{}", "---:|".repeat(COLUMNS.len() - 1));
    let mut failed = false;
    for r in 0..reps {
        for d in &daemons {
            match rep(d, &vips, instances) {
                Ok(row) => {
                    let v = values(d, r, &row);
                    println!("| {} |", v.join(" | "));
                    if !row.trace.is_empty() {
                        eprintln!("{}: {}", d.name(), row.trace);
                    }
                    if let Some(f) = csv.as_mut() {
                        let trace = row.trace.replace(',', ";");
                        let _ = writeln!(f, "{},{count},{instances},{trace}", v.join(","));
                    }
                }
                Err(e) => {
                    eprintln!("{} rep {r}: {e}", d.name());
                    failed = true;
                }
            }
        }
    }
    ExitCode::from(u8::from(failed))
}
