//! The load balancer's checkers never touch the VRRP timing (issue 10): the protocol timer
//! of a Master sending adverts every 0.1 s is measured (`vrrpctl show VI_1 --json` →
//! `protocol_timer`) once without a load balancer and once with 100 real servers of 10
//! TCP_CHECKs each, every second (1,000 checks per second), and the second may not be worse
//! than the first beyond a generous margin.
//!
//! The real servers are one nginx listening on 1,000 ports of one host (1,000 processes
//! would measure the machine, not vrrpd); its `stub_status` counts the connections it
//! accepted, which shows that the checks really ran at the rate claimed.
//!
//! Bounded to about 30 s; the lab kills what it started and deletes its namespaces on drop.

use std::fs;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;
use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, Proc, find_tool, require, wait_until};

/// nginx's ports: one per checker.
const SERVERS: u16 = 1000;
/// 100 real servers with 10 TCP checkers each (each on its own port): 1,000 checks per
/// second with `delay_loop 1`. Not 1,000 real servers of one check: the load balancer's
/// core does work in proportion to the service's real servers after each verdict (profiled
/// in docs/benchmarks.md, "Load balancer"), and a debug build of it managed only about 350
/// verdicts per second with 1,000 real servers; this test is about the checks.
const REAL_SERVERS: u16 = 100;
const CHECKERS_PER_SERVER: u16 = 10;
const BASE_PORT: u16 = 10000;
/// The window over which each run's lateness is compared.
const WINDOW: Duration = Duration::from_secs(8);
const POLL: Duration = Duration::from_millis(100);

fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

/// nginx on `node` listening on `BASE_PORT..BASE_PORT + SERVERS`; `/status` is its
/// `stub_status` (accepted connections).
fn start_servers(node: &Node) -> Proc {
    let nginx = find_tool("nginx").expect("nginx");
    let root = node.lab_path("chk-root");
    fs::create_dir_all(root.join("tmp")).expect("nginx root");
    let r = root.display();
    let listen: String = (0..SERVERS)
        .map(|i| format!("    listen {};\n", BASE_PORT + i))
        .collect();
    // Enough descriptors for 1,000 listening sockets and the checks' connections.
    let conf = format!(
        "daemon off;\nmaster_process off;\nworker_processes 1;\nworker_rlimit_nofile 8192;\n\
         pid {r}/nginx.pid;\nerror_log stderr warn;\nevents {{ worker_connections 4096; }}\n\
         http {{\n  access_log off;\n  client_body_temp_path {r}/tmp;\n  proxy_temp_path {r}/tmp;\n  \
         fastcgi_temp_path {r}/tmp;\n  uwsgi_temp_path {r}/tmp;\n  scgi_temp_path {r}/tmp;\n  \
         server {{\n{listen}    location = /status {{ stub_status; }}\n  }}\n}}\n"
    );
    let path = node.write_file("chk.conf", &conf).expect("nginx conf");
    let proc = node
        .spawn(
            &nginx.to_string_lossy(),
            &["-c", &path.to_string_lossy(), "-e", "stderr"],
            &[],
        )
        .expect("spawn nginx");
    let last = format!("http://{}:{}/status", node.ipv4(), BASE_PORT + SERVERS - 1);
    let up = wait_until(Duration::from_secs(10), POLL, || {
        node.run("curl", &["-sf", "--max-time", "1", &last])
            .is_ok_and(|o| o.status.success())
    });
    assert!(up, "nginx did not listen on 1,000 ports: {}", proc.tail(10));
    proc
}

/// Connections nginx accepted so far (`stub_status`: "server accepts handled requests").
fn accepted(node: &Node) -> u64 {
    let url = format!("http://{}:{BASE_PORT}/status", node.ipv4());
    let out = node
        .run_ok("curl", &["-sf", "--max-time", "2", &url])
        .expect("nginx stub_status");
    out.lines()
        .nth(2)
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .expect("stub_status's accepts")
}

fn config(vip: std::net::Ipv4Addr, rs: Option<std::net::Ipv4Addr>) -> String {
    let mut c = format!(
        "vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority 150\n    advert_int 0.1\n    version 3\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n"
    );
    if let Some(rs) = rs {
        c.push_str(&format!(
            "virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    protocol TCP\n"
        ));
        for i in 0..REAL_SERVERS {
            let port = BASE_PORT + i * CHECKERS_PER_SERVER;
            c.push_str(&format!("    real_server {rs} {port} {{\n"));
            for j in 0..CHECKERS_PER_SERVER {
                c.push_str(&format!(
                    "        TCP_CHECK {{\n            connect_port {}\n            connect_timeout 1\n        }}\n",
                    port + j
                ));
            }
            c.push_str("    }\n");
        }
        c.push_str("}\n");
    }
    c
}

fn ctl_json(node: &Node, d: &DaemonProc, args: &[&str]) -> Value {
    let sock = d
        .control_socket
        .as_ref()
        .expect("a control socket")
        .to_string_lossy()
        .into_owned();
    let bin = vrrp_testlab::vrrpctl_next_to(&vrrpd_binary()).expect("a vrrpctl binary");
    let mut all = vec!["--socket", &sock];
    all.extend_from_slice(args);
    all.push("--json");
    let out = node.run_ok(&bin.to_string_lossy(), &all).expect("vrrpctl");
    serde_json::from_str(&out).expect("vrrpctl --json prints JSON")
}

/// The protocol timer's counters at one instant.
#[derive(Clone, Debug, Default)]
struct Timer {
    fired: u64,
    mean_late_us: f64,
    max_late_us: u64,
    /// (label, count), in the daemon's order (le_50us ... more).
    buckets: Vec<(String, u64)>,
}

fn timer(node: &Node, d: &DaemonProc) -> Timer {
    let v = ctl_json(node, d, &["show", "VI_1"]);
    let t = &v["protocol_timer"];
    let mut buckets: Vec<(String, u64)> = t["late_buckets"]
        .as_object()
        .expect("late_buckets")
        .iter()
        .map(|(k, n)| (k.clone(), n.as_u64().unwrap_or(0)))
        .collect();
    // le_50us < le_100us < ... < more, whatever order the map came in.
    let bound = |k: &str| {
        k.strip_prefix("le_")
            .and_then(|s| s.strip_suffix("us"))
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX)
    };
    buckets.sort_by_key(|(k, _)| bound(k));
    Timer {
        fired: t["fired"].as_u64().expect("fired"),
        mean_late_us: t["mean_late_us"].as_f64().expect("mean_late_us"),
        max_late_us: t["max_late_us"].as_u64().expect("max_late_us"),
        buckets,
    }
}

/// What one run measured: the window's fires, mean and histogram (differences of two
/// snapshots), the maximum since the daemon started (the daemon keeps no windowed maximum,
/// so it also covers the balancer's start), and the checks nginx saw per second.
#[derive(Debug)]
struct Run {
    fired: u64,
    mean_us: f64,
    max_us: u64,
    buckets: Vec<(String, u64)>,
    checks_per_s: f64,
}

impl Run {
    /// The upper bound of the bucket that holds the window's median fire (u64::MAX: the
    /// last bucket, later than 5 ms).
    fn median_le_us(&self) -> u64 {
        let half = self.fired.div_ceil(2);
        let mut seen = 0;
        for (k, n) in &self.buckets {
            seen += n;
            if seen >= half {
                return k
                    .strip_prefix("le_")
                    .and_then(|s| s.strip_suffix("us"))
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(u64::MAX);
            }
        }
        u64::MAX
    }

    fn histogram(&self) -> String {
        self.buckets
            .iter()
            .map(|(k, n)| format!("{k}={n}"))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Starts vrrpd, waits for Master (and, with a load balancer, for all real servers in the
/// rotation: every checker has run), then measures a window.
fn measure(lb: &Node, rs: &Node, conf: &str, vip: std::net::Ipv4Addr, balanced: bool) -> Run {
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start(lb, conf)
    .expect("spawn vrrpd");
    let ready = wait_until(Duration::from_secs(20), POLL, || {
        if !d.is_running() || !lb.has_address(vip) {
            return false;
        }
        if !balanced {
            return true;
        }
        let lvs = ctl_json(lb, &d, &["lvs"]);
        lvs["services"][0]["real_servers"]
            .as_array()
            .is_some_and(|a| {
                a.len() == usize::from(REAL_SERVERS)
                    && a.iter().all(|r| r["weight"].as_u64() == Some(1))
            })
    });
    assert!(
        ready,
        "vrrpd not ready (balanced: {balanced}):\n{}",
        d.tail(30)
    );
    // Past the transition to Master and the first round of checks.
    std::thread::sleep(Duration::from_secs(1));
    let t0 = timer(lb, &d);
    let a0 = accepted(rs);
    std::thread::sleep(WINDOW);
    let t1 = timer(lb, &d);
    let a1 = accepted(rs);
    let _ = d.stop(Duration::from_secs(5));
    let fired = t1.fired - t0.fired;
    let total = |t: &Timer| t.mean_late_us * t.fired as f64;
    Run {
        fired,
        mean_us: (total(&t1) - total(&t0)) / fired.max(1) as f64,
        max_us: t1.max_late_us,
        buckets: t1
            .buckets
            .iter()
            .zip(&t0.buckets)
            .map(|((k, n1), (_, n0))| (k.clone(), n1 - n0))
            .collect(),
        // Two status requests per window are nginx's own.
        checks_per_s: a1.saturating_sub(a0).saturating_sub(2) as f64 / WINDOW.as_secs_f64(),
    }
}

#[test]
fn thousand_checks_per_second_do_not_delay_the_vrrp_timer() {
    require!("nginx", "curl", "nft");
    let mut lab = Lab::new("lb-timing").expect("lab");
    let lb = lab.add_router("lb1").expect("lb1");
    let rs = lab.add_host("rs1").expect("rs1");
    let _servers = start_servers(&rs);
    let vip = lab.vip4(100);

    let alone = measure(&lb, &rs, &config(vip, None), vip, false);
    let checked = measure(&lb, &rs, &config(vip, Some(rs.ipv4())), vip, true);
    for (what, r) in [
        ("without checks", &alone),
        ("with 1,000 checks/s", &checked),
    ] {
        eprintln!(
            "{what}: {} fires in {:?}, mean {:.0} µs late, max {} µs (since start), {:.0} checks/s; {}",
            r.fired,
            WINDOW,
            r.mean_us,
            r.max_us,
            r.checks_per_s,
            r.histogram()
        );
    }

    // The checks really ran at about 1,000 per second (nginx accepted their connections).
    assert!(
        checked.checks_per_s > 800.0,
        "only {:.0} checks/s reached the servers",
        checked.checks_per_s
    );
    // The Master kept advertising in both: about 10 fires per second, none lost.
    for r in [&alone, &checked] {
        assert!(r.fired >= 70, "too few timer fires: {r:?}");
    }
    // Generous margins. They catch checks (or data-path transactions) running on the
    // protocol thread or blocking it, which would delay most fires by a round of checks, and
    // lateness that could cost a failover. What they tolerate is CPU contention on a small
    // shared machine: the balancer's thread and nginx's 1,000 connections per second compete
    // for the same cores as the protocol thread. Measured on 2 cores: at load average below
    // 2 no difference (means 0.1-0.25 ms either way); at 4-7, mean 0.4-1.3 ms without checks
    // and 0.7-3.6 ms with them, maxima up to 80 ms (docs/benchmarks.md, "Load balancer");
    // stricter bounds would make this test fail on the machine rather than on vrrpd.
    assert!(
        checked.median_le_us() <= 1000,
        "half the fires later than 1 ms with checks: {}",
        checked.histogram()
    );
    assert!(
        checked.mean_us <= alone.mean_us + 5000.0,
        "mean lateness {:.0} µs with checks against {:.0} µs without",
        checked.mean_us,
        alone.mean_us
    );
    // Half the Backup's master-down interval (3 × 0.1 s plus the skew): no failover risk.
    assert!(
        checked.max_us < 150_000,
        "max lateness {} µs with checks (without: {} µs)",
        checked.max_us,
        alone.max_us
    );
    drop(lab);
}
