//! vrrp-lb-bench: the load balancer's benchmarks on a namespace LAN. A benchmark binary, not
//! a test.
//!
//! - `datapath`: wrk from a client namespace through vrrpd's nftables NAT data path (the
//!   VIP), through HAProxy in TCP mode in the same balancer namespace, and directly to the
//!   real servers; keep-alive on and off; repetitions interleaved target by target.
//! - `checks`: vrrpd and HAProxy each health-checking the same 1,000 real servers (HTTP GET
//!   /health every second), one after the other, repeated: CPU and RSS of each daemon, and the
//!   checks the servers really answered (nginx's access log).
//! - `apply`: with vrrpd holding 1,000 destinations, the round trip of `vrrpctl rs drain`
//!   and `rs enable`, which reply only after the nftables transaction is committed.
//!
//! Usage: see `usage()`; `scripts/bench-lb.sh` builds in release and runs `all`.

use std::fmt::Write as _;
use std::io::Write as _;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use vrrp_testlab::budget::Budget;
use vrrp_testlab::{Daemon, DaemonProc, Lab, Nginx, Node, Proc, find_tool, run_bounded};

/// Real servers of the data-path benchmark (nginx on port [`WEB_PORT`]).
const WEB_SERVERS: usize = 4;
const WEB_PORT: u16 = 8080;
/// HAProxy's front ends, on the balancer's own address.
const HAPROXY_DATA_PORT: u16 = 8000;
const HAPROXY_CHECK_PORT: u16 = 8001;
/// The check servers listen on `CHECK_BASE_PORT..`, spread over the web server hosts.
const CHECK_BASE_PORT: u16 = 10000;
/// Hard limit for one whole run (the script promises < 10 min with the defaults).
const RUN_BUDGET: Duration = Duration::from_secs(15 * 60);

type Res<T> = Result<T, String>;

fn err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> String + '_ {
    move |e| format!("{what}: {e}")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------
// The lab

struct Bench {
    lab: Lab,
    lb: Node,
    client: Node,
    hosts: Vec<Node>,
    _web: Vec<Nginx>,
    /// The check servers' access logs (one nginx per host).
    check_logs: Vec<PathBuf>,
    /// (address, port) of every check server.
    check_servers: Vec<(Ipv4Addr, u16)>,
    vip: Ipv4Addr,
    vrrpd: PathBuf,
    vrrpctl: PathBuf,
}

impl Bench {
    fn new(check_servers: usize) -> Res<Bench> {
        let vrrpd = match Daemon::vrrpd_next_to_exe() {
            Daemon::Vrrpd { binary } => binary,
            Daemon::Keepalived => return Err("no vrrpd binary next to vrrp-lb-bench".into()),
        };
        let vrrpctl = vrrp_testlab::vrrpctl_next_to(&vrrpd).map_err(|e| e.to_string())?;
        let mut lab = Lab::new("lbb").map_err(|e| e.to_string())?;
        let lb = lab.add_router("lb1").map_err(|e| e.to_string())?;
        let client = lab.add_host("client").map_err(|e| e.to_string())?;
        let mut hosts = Vec::new();
        let mut web = Vec::new();
        for i in 1..=WEB_SERVERS {
            let node = lab.add_host(&format!("rs{i}")).map_err(|e| e.to_string())?;
            web.push(Nginx::start(&node, &format!("rs{i}"), WEB_PORT).map_err(|e| e.to_string())?);
            hosts.push(node);
        }
        // The check servers: one more nginx per host listening on many ports, rather than
        // 1,000 processes; a check is one TCP connection and one GET either way.
        let per_host = check_servers.div_ceil(WEB_SERVERS);
        let mut check_logs = Vec::new();
        let mut servers = Vec::new();
        for node in &hosts {
            let n = per_host.min(check_servers - servers.len());
            let ports: Vec<u16> = (0..n).map(|i| CHECK_BASE_PORT + i as u16).collect();
            check_logs.push(start_check_nginx(node, &ports)?);
            servers.extend(ports.iter().map(|&p| (node.ipv4(), p)));
        }
        let vip = lab.vip4(100);
        Ok(Bench {
            lab,
            lb,
            client,
            hosts,
            _web: web,
            check_logs,
            check_servers: servers,
            vip,
            vrrpd,
            vrrpctl,
        })
    }

    /// Starts vrrpd on the balancer with `servers` behind the VIP, and waits until the VIP
    /// is up and the kernel's slot table holds every server (the checks all passed).
    fn start_vrrpd(&self, b: &Budget, servers: &[(Ipv4Addr, u16)]) -> Res<DaemonProc> {
        let conf = vrrpd_conf(self.vip, servers);
        let d = Daemon::Vrrpd {
            binary: self.vrrpd.clone(),
        }
        .start(&self.lb, &conf)
        .map_err(|e| e.to_string())?;
        let ready = b.wait(
            "vrrpd: the VIP and every server in the nftables table",
            Duration::from_secs(60),
            Duration::from_millis(500),
            || {
                d.is_running()
                    && self.lb.has_address(self.vip)
                    && slots(&self.lb) == Some(servers.len())
            },
        );
        if let Err(e) = ready {
            let lvs = self
                .lb
                .run("nft", &["list", "table", "inet", "vrrpd_lb"])
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            let lvs: String = lvs.lines().take(40).collect::<Vec<_>>().join("\n");
            return Err(format!(
                "{e} (slots: {:?})\n{}\n{lvs}",
                slots(&self.lb),
                d.tail(20)
            ));
        }
        Ok(d)
    }

    fn start_haproxy(&self, name: &str, conf: &str) -> Res<Proc> {
        let path = self
            .lb
            .write_file(&format!("haproxy-{name}.cfg"), conf)
            .map_err(|e| e.to_string())?;
        let path = path.to_string_lossy().into_owned();
        // -db: foreground, no master process; the lab kills it by its PID.
        self.lb
            .spawn("haproxy", &["-db", "-f", &path], &[])
            .map_err(|e| e.to_string())
    }

    /// How many requests the check servers have logged so far.
    fn checks_logged(&self) -> u64 {
        self.check_logs
            .iter()
            .map(|p| {
                std::fs::read(p)
                    .map(|v| v.iter().filter(|&&c| c == b'\n').count() as u64)
                    .unwrap_or(0)
            })
            .sum()
    }

    /// `vrrpctl ARGS` against `d`'s control socket, run directly (the socket is a path, so
    /// no namespace is needed and the timing has no `ip netns exec` in it).
    fn ctl(&self, d: &DaemonProc, args: &[&str]) -> Res<Duration> {
        let sock = d
            .control_socket
            .as_ref()
            .ok_or("vrrpd without a control socket")?;
        let mut c = Command::new(&self.vrrpctl);
        c.arg("--socket").arg(sock).args(args);
        let t0 = Instant::now();
        let out = run_bounded(c, Duration::from_secs(10)).map_err(|e| e.to_string())?;
        let took = t0.elapsed();
        if !out.status.success() {
            return Err(format!(
                "vrrpctl {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        Ok(took)
    }
}

/// nginx on `node` listening on each of `ports`, answering /health, logging every request
/// to its own access log (whose path is returned) so that checks can be counted.
fn start_check_nginx(node: &Node, ports: &[u16]) -> Res<PathBuf> {
    let nginx = find_tool("nginx").ok_or("nginx is not installed")?;
    let root = node.lab_path(&format!("chk-{}", node.name()));
    std::fs::create_dir_all(root.join("tmp")).map_err(err("mkdir"))?;
    let log = root.join("access.log");
    let r = root.display();
    let mut listen = String::new();
    for p in ports {
        let _ = writeln!(listen, "    listen {p};");
    }
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile 16384;\n\
         pid {r}/nginx.pid;\nerror_log stderr warn;\nevents {{ worker_connections 8192; }}\n\
         http {{\n  access_log {log} ;\n  client_body_temp_path {r}/tmp;\n  \
         proxy_temp_path {r}/tmp;\n  fastcgi_temp_path {r}/tmp;\n  uwsgi_temp_path {r}/tmp;\n  \
         scgi_temp_path {r}/tmp;\n  server {{\n{listen}    location = /health {{ return 200 \"ok\\n\"; }}\n  }}\n}}\n",
        log = log.display(),
    );
    let path = node
        .write_file(&format!("chk-{}.conf", node.name()), &conf)
        .map_err(|e| e.to_string())?;
    let path = path.to_string_lossy().into_owned();
    let proc = node
        .spawn(
            &nginx.to_string_lossy(),
            &["-c", &path, "-e", "stderr"],
            &[],
        )
        .map_err(|e| e.to_string())?;
    if let Some(&last) = ports.last() {
        let addr = node.ipv4();
        let up =
            vrrp_testlab::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
                node.run("bash", &["-c", &format!("exec 3<>/dev/tcp/{addr}/{last}")])
                    .is_ok_and(|o| o.status.success())
            });
        if !up {
            return Err(format!(
                "check nginx on {} did not listen: {}",
                node.name(),
                proc.tail(10)
            ));
        }
    }
    Ok(log)
}

/// vrrpd's configuration: a VRRP instance (1 s adverts) holding the VIP, and one virtual
/// server on it, rr, NAT with masquerade, each real server checked by HTTP_GET /health
/// every second.
fn vrrpd_conf(vip: Ipv4Addr, servers: &[(Ipv4Addr, u16)]) -> String {
    let mut c = format!(
        "global_defs {{\n    lb_nat_masquerade\n}}\n\
         vrrp_instance VI_1 {{\n    state MASTER\n    interface eth0\n    virtual_router_id 51\n    \
         priority 150\n    advert_int 1\n    version 3\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n\
         virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
    );
    for (addr, port) in servers {
        let _ = write!(
            c,
            "    real_server {addr} {port} {{\n        HTTP_GET {{\n            url {{\n                path /health\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            delay_before_retry 1\n        }}\n    }}\n"
        );
    }
    c.push_str("}\n");
    c
}

/// HAProxy in TCP mode on the balancer's address, round robin over `servers`, each checked
/// by HTTP GET /health every second when `httpchk`, else by a TCP connect every second.
fn haproxy_conf(bind: Ipv4Addr, port: u16, servers: &[(Ipv4Addr, u16)], httpchk: bool) -> String {
    let mut c = format!(
        "global\n    maxconn 8000\ndefaults\n    mode tcp\n    timeout connect 2s\n    \
         timeout client 30s\n    timeout server 30s\nlisten bench\n    bind {bind}:{port}\n    \
         balance roundrobin\n"
    );
    if httpchk {
        c.push_str("    option httpchk GET /health\n");
    }
    c.push_str("    default-server check inter 1s fall 2 rise 1\n");
    for (i, (addr, p)) in servers.iter().enumerate() {
        let _ = writeln!(c, "    server s{i} {addr}:{p}");
    }
    c
}

/// The number of slots of the (only) service's rr table in the kernel (`numgen inc mod N` in
/// its chain): one per live destination.
fn slots(lb: &Node) -> Option<usize> {
    let out = lb.run("nft", &["list", "table", "inet", "vrrpd_lb"]).ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    // The rule of chain sN (`numgen inc mod N vmap @wN`), not the map's `typeof` line.
    let line = text
        .lines()
        .find(|l| l.contains("numgen inc mod ") && l.contains("vmap @w"))?;
    let at = line.find("numgen inc mod ")?;
    line[at + "numgen inc mod ".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------
// Data path: wrk

#[derive(Clone, Debug)]
struct WrkResult {
    rps: f64,
    p50_us: f64,
    p99_us: f64,
    /// Socket errors and non-2xx responses.
    errors: u64,
}

/// A wrk latency ("123.45us", "1.23ms", "2.00s") in microseconds.
fn wrk_time_us(s: &str) -> Option<f64> {
    let (num, mult) = if let Some(v) = s.strip_suffix("us") {
        (v, 1.0)
    } else if let Some(v) = s.strip_suffix("ms") {
        (v, 1e3)
    } else if let Some(v) = s.strip_suffix('m') {
        (v, 60e6)
    } else if let Some(v) = s.strip_suffix('s') {
        (v, 1e6)
    } else {
        return None;
    };
    num.parse::<f64>().ok().map(|v| v * mult)
}

fn parse_wrk(out: &str) -> Option<WrkResult> {
    let mut rps = None;
    let (mut p50, mut p99) = (None, None);
    let mut errors = 0;
    for line in out.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        match w.as_slice() {
            ["Requests/sec:", v] => rps = v.parse().ok(),
            ["50%", v] => p50 = wrk_time_us(v),
            ["99%", v] => p99 = wrk_time_us(v),
            ["Non-2xx", "or", "3xx", "responses:", n] => errors += n.parse::<u64>().unwrap_or(0),
            ["Socket", "errors:", rest @ ..] => {
                errors += rest
                    .iter()
                    .filter_map(|x| x.trim_end_matches(',').parse::<u64>().ok())
                    .sum::<u64>()
            }
            _ => {}
        }
    }
    Some(WrkResult {
        rps: rps?,
        p50_us: p50?,
        p99_us: p99?,
        errors,
    })
}

fn wrk(
    client: &Node,
    url: &str,
    o: &Opts,
    threads: u32,
    conns: u32,
    close: bool,
) -> Res<WrkResult> {
    let (t, c, d) = (
        threads.to_string(),
        conns.to_string(),
        format!("{}s", o.wrk_secs),
    );
    let mut args = vec!["-t", &t, "-c", &c, "-d", &d, "--latency"];
    if close {
        args.extend_from_slice(&["-H", "Connection: close"]);
    }
    args.push(url);
    let out = client
        .run_timeout("wrk", &args, Duration::from_secs(o.wrk_secs + 30))
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_wrk(&text).ok_or_else(|| {
        format!(
            "cannot read wrk's output for {url}:\n{text}\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// One wrk per server at the same time, the connections split between them (wrk takes one
/// host only): requests/s summed, p50 averaged, p99 the worst of them.
fn wrk_spread(client: &Node, urls: &[String], o: &Opts, close: bool) -> Res<WrkResult> {
    let per = (o.conns / urls.len() as u32).max(1);
    let handles: Vec<_> = urls
        .iter()
        .map(|u| {
            let (client, u, o) = (client.clone(), u.clone(), o.clone());
            std::thread::spawn(move || wrk(&client, &u, &o, 1, per, close))
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        all.push(h.join().map_err(|_| "wrk thread panicked".to_string())??);
    }
    let n = all.len() as f64;
    Ok(WrkResult {
        rps: all.iter().map(|r| r.rps).sum(),
        p50_us: all.iter().map(|r| r.p50_us).sum::<f64>() / n,
        p99_us: all.iter().map(|r| r.p99_us).fold(0.0, f64::max),
        errors: all.iter().map(|r| r.errors).sum(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    Vip,
    Haproxy,
    Direct,
    Spread,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::Vip => "vrrpd nftables (VIP, NAT + masquerade)",
            Target::Haproxy => "HAProxy 2.6, mode tcp, roundrobin",
            Target::Direct => "direct to one real server",
            Target::Spread => "direct, one wrk per server (4 × c/4)",
        }
    }
}

struct DataRow {
    target: Target,
    close: bool,
    runs: Vec<WrkResult>,
    loads: Vec<String>,
}

fn run_datapath(b: &Budget, bench: &Bench, o: &Opts) -> Res<Vec<DataRow>> {
    let web: Vec<(Ipv4Addr, u16)> = bench.hosts.iter().map(|n| (n.ipv4(), WEB_PORT)).collect();
    eprintln!(
        "== data path: starting vrrpd and HAProxy (4 real servers), load {}",
        loadavg()
    );
    let d = bench.start_vrrpd(b, &web)?;
    let hap = bench.start_haproxy(
        "data",
        &haproxy_conf(bench.lb.ipv4(), HAPROXY_DATA_PORT, &web, true),
    )?;
    let hap_url = format!("http://{}:{HAPROXY_DATA_PORT}/", bench.lb.ipv4());
    b.wait(
        "HAProxy to answer",
        Duration::from_secs(15),
        Duration::from_millis(200),
        || {
            bench
                .client
                .run("curl", &["-s", "--max-time", "1", &hap_url])
                .is_ok_and(|o| o.status.success() && !o.stdout.is_empty())
        },
    )
    .map_err(|e| format!("{e}\n{}", hap.tail(10)))?;
    // Let HAProxy's first checks pass (rise 1, inter 1 s).
    b.sleep(Duration::from_secs(2))?;
    let mut targets = vec![Target::Vip, Target::Haproxy, Target::Direct];
    if !o.no_spread {
        targets.push(Target::Spread);
    }
    let mut rows: Vec<DataRow> = Vec::new();
    for close in [false, true] {
        for &t in &targets {
            rows.push(DataRow {
                target: t,
                close,
                runs: Vec::new(),
                loads: Vec::new(),
            });
        }
    }
    let spread_urls: Vec<String> = bench
        .hosts
        .iter()
        .map(|n| format!("http://{}:{WEB_PORT}/", n.ipv4()))
        .collect();
    for rep in 1..=o.reps {
        for row in rows.iter_mut() {
            b.check()?;
            let url = match row.target {
                Target::Vip => format!("http://{}/", bench.vip),
                Target::Haproxy => hap_url.clone(),
                Target::Direct | Target::Spread => spread_urls[0].clone(),
            };
            let load = loadavg();
            let r = match row.target {
                Target::Spread => wrk_spread(&bench.client, &spread_urls, o, row.close)?,
                _ => wrk(&bench.client, &url, o, o.threads, o.conns, row.close)?,
            };
            eprintln!(
                "  rep {rep} {}{}: {:.0} req/s, p50 {:.0} us, p99 {:.0} us, errors {} (load {load})",
                row.target.label(),
                if row.close { ", Connection: close" } else { "" },
                r.rps,
                r.p50_us,
                r.p99_us,
                r.errors
            );
            row.runs.push(r);
            row.loads.push(load);
            // A pause so that the closed connections' TIME_WAIT and conntrack churn of one
            // run settles a little before the next.
            b.sleep(Duration::from_secs(1))?;
        }
    }
    let _ = hap.kill_and_wait();
    let _ = d.stop(Duration::from_secs(5));
    Ok(rows)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn fmt_us(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.2} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn datapath_table(rows: &[DataRow]) -> String {
    let mut md = String::from(
        "| connections | path | req/s (each run) | req/s median | p50 median | p99 median (each run) | errors | vs HAProxy | vs direct |\n\
         |---|---|---|---:|---:|---|---:|---:|---:|\n",
    );
    for close in [false, true] {
        let med = |t: Target| {
            rows.iter()
                .find(|r| r.target == t && r.close == close)
                .map(|r| median(&mut r.runs.iter().map(|x| x.rps).collect::<Vec<_>>()))
        };
        let (hap, direct) = (med(Target::Haproxy), med(Target::Direct));
        for r in rows.iter().filter(|r| r.close == close) {
            let rps = median(&mut r.runs.iter().map(|x| x.rps).collect::<Vec<_>>());
            let p50 = median(&mut r.runs.iter().map(|x| x.p50_us).collect::<Vec<_>>());
            let p99 = median(&mut r.runs.iter().map(|x| x.p99_us).collect::<Vec<_>>());
            let each_rps: Vec<String> = r.runs.iter().map(|x| format!("{:.0}", x.rps)).collect();
            let each_p99: Vec<String> = r.runs.iter().map(|x| fmt_us(x.p99_us)).collect();
            let ratio = |base: Option<f64>| match base {
                Some(b) if b > 0.0 => format!("{:.2}×", rps / b),
                _ => "-".into(),
            };
            let _ = writeln!(
                md,
                "| {} | {} | {} | **{rps:.0}** | {} | {} ({}) | {} | {} | {} |",
                if close {
                    "new per request"
                } else {
                    "keep-alive"
                },
                r.target.label(),
                each_rps.join(" / "),
                fmt_us(p50),
                fmt_us(p99),
                each_p99.join(" / "),
                r.runs.iter().map(|x| x.errors).sum::<u64>(),
                ratio(hap),
                ratio(direct),
            );
        }
    }
    md
}

// ---------------------------------------------------------------------------
// Health-check cost

#[derive(Clone, Debug, Default)]
struct CheckRow {
    daemon: &'static str,
    secs: f64,
    /// utime + stime over the window, in ns.
    cpu_ns: u64,
    rss_kb: u64,
    /// Requests the check servers logged during the window.
    checks: u64,
    threads: u64,
    load: String,
}

fn clk_tck() -> u64 {
    // SAFETY: sysconf has no preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 { t as u64 } else { 100 }
}

/// utime + stime of every thread of `pid` (/proc/PID/stat), in ns.
fn cpu_ns(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 1_000_000_000 / clk_tck())
}

fn status_field(pid: u32, key: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(key))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// CPU and RSS of `pid` over `secs`, with the checks the servers logged meanwhile.
fn measure(b: &Budget, bench: &Bench, daemon: &'static str, pid: u32, secs: f64) -> Res<CheckRow> {
    let load = loadavg();
    let c0 = cpu_ns(pid).ok_or(format!("{daemon} (pid {pid}) is gone"))?;
    let n0 = bench.checks_logged();
    let t0 = Instant::now();
    b.sleep(Duration::from_secs_f64(secs))?;
    let c1 = cpu_ns(pid).ok_or(format!("{daemon} (pid {pid}) died during the window"))?;
    let n1 = bench.checks_logged();
    Ok(CheckRow {
        daemon,
        secs: t0.elapsed().as_secs_f64(),
        cpu_ns: c1.saturating_sub(c0),
        rss_kb: status_field(pid, "VmRSS:"),
        checks: n1.saturating_sub(n0),
        threads: status_field(pid, "Threads:"),
        load,
    })
}

#[derive(Default)]
struct ApplyResult {
    drain_ms: Vec<f64>,
    enable_ms: Vec<f64>,
    baseline_ms: Vec<f64>,
    verified: usize,
}

/// `vrrpctl rs drain` / `rs enable` of one of the 1,000 servers at a time: the reply comes
/// after the balancer thread committed the nftables transaction, so the round trip bounds
/// the time from an operator's (or a checker's) verdict to the kernel's rules. A `show`
/// round trip (no data-path work) is the baseline: process start and socket.
fn measure_apply(b: &Budget, bench: &Bench, d: &DaemonProc, n: usize) -> Res<ApplyResult> {
    let service = format!("{}:80", bench.vip);
    let total = bench.check_servers.len();
    let mut r = ApplyResult::default();
    for i in 0..n {
        b.check()?;
        let (addr, port) = bench.check_servers[(i * 97) % total];
        let rs = format!("{addr}:{port}");
        r.baseline_ms
            .push(bench.ctl(d, &["show", "VI_1"])?.as_secs_f64() * 1e3);
        r.drain_ms
            .push(bench.ctl(d, &["rs", "drain", &service, &rs])?.as_secs_f64() * 1e3);
        // The kernel's table lost that slot already when vrrpctl returned.
        if slots(&bench.lb) == Some(total - 1) {
            r.verified += 1;
        }
        r.enable_ms.push(
            bench
                .ctl(d, &["rs", "enable", &service, &rs])?
                .as_secs_f64()
                * 1e3,
        );
        b.sleep(Duration::from_millis(200))?;
    }
    Ok(r)
}

fn run_checks(b: &Budget, bench: &Bench, o: &Opts) -> Res<(Vec<CheckRow>, Option<ApplyResult>)> {
    let servers = bench.check_servers.clone();
    let mut rows = Vec::new();
    let mut apply = None;
    for rep in 1..=o.check_reps {
        eprintln!(
            "== checks rep {rep}: vrrpd, {} servers, load {}",
            servers.len(),
            loadavg()
        );
        let d = bench.start_vrrpd(b, &servers)?;
        // Past the start (every checker's first verdict, the table's install).
        b.sleep(Duration::from_secs(3))?;
        let row = measure(b, bench, "vrrpd", d.pid(), o.check_secs)?;
        eprintln!(
            "  vrrpd: {:.1} % CPU, RSS {} KiB, {:.0} checks/s",
            row.cpu_ns as f64 / row.secs / 1e7,
            row.rss_kb,
            row.checks as f64 / row.secs
        );
        rows.push(row);
        if apply.is_none() && !o.no_apply {
            eprintln!(
                "== apply: vrrpctl rs drain/enable at {} servers",
                servers.len()
            );
            let a = measure_apply(b, bench, &d, o.apply_reps)?;
            apply = Some(a);
        }
        let _ = d.stop(Duration::from_secs(5));

        eprintln!("== checks rep {rep}: HAProxy, load {}", loadavg());
        let hap = bench.start_haproxy(
            "checks",
            &haproxy_conf(bench.lb.ipv4(), HAPROXY_CHECK_PORT, &servers, true),
        )?;
        // HAProxy spreads its first checks over the interval; give it the same settling.
        b.sleep(Duration::from_secs(5))?;
        if !hap.is_running() {
            return Err(format!("HAProxy exited: {}", hap.tail(20)));
        }
        let row = measure(b, bench, "HAProxy", hap.pid(), o.check_secs)?;
        eprintln!(
            "  HAProxy: {:.1} % CPU, RSS {} KiB, {:.0} checks/s",
            row.cpu_ns as f64 / row.secs / 1e7,
            row.rss_kb,
            row.checks as f64 / row.secs
        );
        rows.push(row);
        let _ = hap.kill_and_wait();
    }
    Ok((rows, apply))
}

fn checks_table(rows: &[CheckRow], servers: usize) -> String {
    let mut md = format!(
        "| daemon ({servers} servers, HTTP GET /health every 1 s) | window | CPU, % of one core | RSS | checks answered / s | threads | load (1/5/15) |\n\
         |---|---:|---:|---:|---:|---:|---|\n"
    );
    for r in rows {
        let _ = writeln!(
            md,
            "| {} | {:.1} s | {:.1} % | {:.1} MiB | {:.0} | {} | {} |",
            r.daemon,
            r.secs,
            r.cpu_ns as f64 / r.secs / 1e7,
            r.rss_kb as f64 / 1024.0,
            r.checks as f64 / r.secs,
            r.threads,
            r.load
        );
    }
    md
}

fn apply_table(a: &ApplyResult, servers: usize) -> String {
    let stats = |v: &[f64]| {
        let mut s = v.to_vec();
        s.sort_by(f64::total_cmp);
        let med = median(&mut s.clone());
        format!(
            "{:.1} / **{med:.1}** / {:.1}",
            s.first().copied().unwrap_or(f64::NAN),
            s.last().copied().unwrap_or(f64::NAN)
        )
    };
    format!(
        "| round trip of (at {servers} destinations, n = {n}) | min / median / max, ms |\n|---|---|\n\
         | `vrrpctl show VI_1` (baseline: process start, socket, no data-path work) | {} |\n\
         | `vrrpctl rs drain VS RS` (reply after the nftables commit) | {} |\n\
         | `vrrpctl rs enable VS RS` (reply after the nftables commit) | {} |\n\n\
         The kernel's slot table had lost the drained server when `drain` returned in {}/{n} cases.\n",
        stats(&a.baseline_ms),
        stats(&a.drain_ms),
        stats(&a.enable_ms),
        a.verified,
        n = a.drain_ms.len(),
    )
}

// ---------------------------------------------------------------------------
// Options and main

#[derive(Clone, Debug)]
struct Opts {
    cmd: String,
    reps: u32,
    wrk_secs: u64,
    threads: u32,
    conns: u32,
    no_spread: bool,
    servers: usize,
    check_reps: u32,
    check_secs: f64,
    no_apply: bool,
    apply_reps: usize,
}

fn usage() -> &'static str {
    "usage: vrrp-lb-bench all|datapath|checks [OPTIONS]\n\
     \x20 --reps N          data-path repetitions, interleaved (3)\n\
     \x20 --duration SECS   wrk -d (10)\n\
     \x20 --threads N       wrk -t (2)\n\
     \x20 --conns N         wrk -c (32)\n\
     \x20 --no-spread       skip the one-wrk-per-server direct runs\n\
     \x20 --servers N       real servers for the check benchmark (1000)\n\
     \x20 --check-reps N    vrrpd/HAProxy alternations (2)\n\
     \x20 --check-secs SECS CPU window per daemon (20)\n\
     \x20 --apply-reps N    drain/enable round trips (15); --no-apply skips them\n\
     Needs root, nginx, haproxy, wrk, curl, nft, and vrrpd/vrrpctl next to this binary."
}

fn parse_args() -> Res<Opts> {
    let mut a = std::env::args().skip(1);
    let cmd = a.next().ok_or(usage())?;
    if !["all", "datapath", "checks"].contains(&cmd.as_str()) {
        return Err(usage().into());
    }
    let mut o = Opts {
        cmd,
        reps: 3,
        wrk_secs: 10,
        threads: 2,
        conns: 32,
        no_spread: false,
        servers: 1000,
        check_reps: 2,
        check_secs: 20.0,
        no_apply: false,
        apply_reps: 15,
    };
    while let Some(flag) = a.next() {
        let mut val = |what: &str| a.next().ok_or(format!("{what} needs a value"));
        fn num<T: std::str::FromStr>(flag: &str, v: String) -> Res<T> {
            v.parse().map_err(|_| format!("{flag} {v}: not a number"))
        }
        match flag.as_str() {
            "--reps" => o.reps = num(&flag, val(&flag)?)?,
            "--duration" => o.wrk_secs = num(&flag, val(&flag)?)?,
            "--threads" => o.threads = num(&flag, val(&flag)?)?,
            "--conns" => o.conns = num(&flag, val(&flag)?)?,
            "--no-spread" => o.no_spread = true,
            "--servers" => o.servers = num(&flag, val(&flag)?)?,
            "--check-reps" => o.check_reps = num(&flag, val(&flag)?)?,
            "--check-secs" => o.check_secs = num(&flag, val(&flag)?)?,
            "--apply-reps" => o.apply_reps = num(&flag, val(&flag)?)?,
            "--no-apply" => o.no_apply = true,
            "-h" | "--help" => return Err(usage().into()),
            x => return Err(format!("unknown option {x}\n{}", usage())),
        }
    }
    if o.servers == 0 || o.servers > 4 * 5000 || o.reps == 0 || o.conns == 0 {
        return Err("--servers 1..20000, --reps and --conns at least 1".into());
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
    if let Some(why) = vrrp_testlab::skip_reason(&["nginx", "haproxy", "wrk", "curl", "nft"]) {
        eprintln!("vrrp-lb-bench: cannot run: {why}");
        return ExitCode::from(2);
    }
    // Ctrl-C: the run stops at its next check and the lab's Drop cleans up.
    vrrp_testlab::budget::catch_interrupts();
    match run(&o) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vrrp-lb-bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(o: &Opts) -> Res<()> {
    let b = Budget {
        end: Instant::now() + RUN_BUDGET,
    };
    let load_start = loadavg();
    let bench = Bench::new(o.servers)?;
    let mut md = String::new();
    let mut problem = None;
    if o.cmd != "checks" {
        match run_datapath(&b, &bench, o) {
            Ok(rows) => {
                let _ = writeln!(
                    md,
                    "### Data path (wrk -t {} -c {} -d {} s --latency, {} runs interleaved)\n",
                    o.threads, o.conns, o.wrk_secs, o.reps
                );
                md.push_str(&datapath_table(&rows));
                md.push('\n');
            }
            Err(e) => problem = Some(e),
        }
    }
    if o.cmd != "datapath" && problem.is_none() {
        match run_checks(&b, &bench, o) {
            Ok((rows, apply)) => {
                let _ = writeln!(
                    md,
                    "### Health checks ({} servers on {} hosts, {} windows of {} s each, alternated)\n",
                    bench.check_servers.len(),
                    bench.hosts.len(),
                    o.check_reps * 2,
                    o.check_secs
                );
                md.push_str(&checks_table(&rows, bench.check_servers.len()));
                md.push('\n');
                if let Some(a) = apply {
                    md.push_str("### One real-server change at the kernel\n\n");
                    md.push_str(&apply_table(&a, bench.check_servers.len()));
                    md.push('\n');
                }
            }
            Err(e) => problem = Some(e),
        }
    }
    let head = format!(
        "vrrp-lb-bench {}: {} CPU(s), load average (1/5/15 min) {load_start} at start, {} at end\n\n",
        o.cmd,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        loadavg()
    );
    print!("{head}{md}");
    let _ = std::io::stdout().flush();
    drop(bench.lab);
    match problem {
        Some(e) => Err(e),
        None => Ok(()),
    }
}
