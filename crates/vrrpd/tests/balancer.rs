//! The load balancer end to end: vrrpd balancing a VIP over real nginx servers in network
//! namespaces, with curl as the client (`vrrp-testlab`). One LAN: the client, the
//! balancer(s) and the real servers; NAT with `lb_nat_masquerade`, so that the real servers'
//! replies come back through the balancer.
//!
//! Each test builds its own lab and leaves nothing behind (the lab kills what it started and
//! deletes its namespaces on drop, also when a test panics). Bounds are generous: checks run
//! every second here, and a bound is several of their periods.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_testlab::{Daemon, DaemonProc, Lab, Nginx, Node, require, wait_until};

const START: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);
/// How long a real server may take to leave or join the rotation: its checker runs every
/// second (delay_loop 1, connect_timeout 1, retry 1, delay_before_retry 0.5), so a few
/// seconds at most; the rest is slack for a loaded machine.
const ROTATION: Duration = Duration::from_secs(15);

fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

fn vrrpctl() -> PathBuf {
    vrrp_testlab::vrrpctl_next_to(&vrrpd_binary()).expect("a vrrpctl binary")
}

/// A balancer's configuration: a VRRP instance holding `vip`, and one virtual server on it
/// over `servers` (address, weight), checked by HTTP_GET on /health every second.
fn config(vip: Ipv4Addr, priority: u8, scheduler: &str, servers: &[(Ipv4Addr, u32)]) -> String {
    let mut real_servers = String::new();
    for (addr, weight) in servers {
        real_servers.push_str(&format!(
            "    real_server {addr} 8080 {{\n        weight {weight}\n        HTTP_GET {{\n            url {{\n                path /health\n                status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            delay_before_retry 0.5\n        }}\n    }}\n"
        ));
    }
    format!(
        "global_defs {{\n    lb_nat_masquerade\n}}\n\
         vrrp_instance VI_1 {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority {priority}\n    advert_int 0.1\n    version 3\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n\
         virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo {scheduler}\n    lb_kind NAT\n    protocol TCP\n{real_servers}}}\n"
    )
}

/// Starts vrrpd in `node` and waits until it logs that it started.
fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start_with(node, conf, &[], &[])
    .expect("spawn vrrpd");
    let started = wait_until(START, POLL, || {
        !d.is_running()
            || fs::read_to_string(d.proc.stderr_path()).is_ok_and(|l| l.contains("vrrpd started"))
    });
    assert!(
        started && d.is_running(),
        "vrrpd on {} did not start:\n{}",
        node.name(),
        d.tail(30)
    );
    d
}

/// `vrrpctl --socket SOCK ARGS --json` in `node`, as JSON.
fn ctl_json(node: &Node, daemon: &DaemonProc, args: &[&str]) -> Value {
    let sock = daemon
        .control_socket
        .as_ref()
        .expect("a control socket")
        .to_string_lossy()
        .into_owned();
    let bin = vrrpctl().to_string_lossy().into_owned();
    let mut all = vec!["--socket", &sock];
    all.extend_from_slice(args);
    all.push("--json");
    let out = node.run_ok(&bin, &all).expect("vrrpctl");
    serde_json::from_str(&out).expect("vrrpctl --json prints JSON")
}

/// The real servers of the first service as `vrrpctl lvs` shows them: address -> weight in
/// the data path (None: out).
fn rotation(node: &Node, daemon: &DaemonProc) -> BTreeMap<String, Option<u64>> {
    let lvs = ctl_json(node, daemon, &["lvs"]);
    lvs["services"][0]["real_servers"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|rs| {
                    (
                        rs["address"].as_str().unwrap_or_default().to_string(),
                        rs["weight"].as_u64(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `n` requests to `http://VIP/` from `client`, one connection each: who answered, and how
/// many requests failed.
fn requests(client: &Node, vip: Ipv4Addr, n: usize) -> (BTreeMap<String, usize>, usize) {
    let script =
        format!("for i in $(seq {n}); do curl -s --max-time 2 http://{vip}/ || echo FAILED; done");
    let out = client
        .run_timeout(
            "bash",
            &["-c", &script],
            Duration::from_secs(n as u64 * 3 + 30),
        )
        .expect("curl loop");
    let mut seen = BTreeMap::new();
    let mut failed = 0;
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        if line.contains("FAILED") {
            failed += 1;
        } else {
            *seen.entry(line.to_string()).or_default() += 1;
        }
    }
    (seen, failed)
}

struct Setup {
    lab: Lab,
    client: Node,
    balancer: Node,
    servers: Vec<(Node, Nginx)>,
    vip: Ipv4Addr,
}

fn setup(tag: &str, count: usize) -> Setup {
    let mut lab = Lab::new(tag).expect("lab");
    let balancer = lab.add_router("lb1").expect("lb1");
    let client = lab.add_host("client").expect("client");
    let mut servers = Vec::new();
    for i in 1..=count {
        let node = lab.add_host(&format!("rs{i}")).expect("real server");
        let web = Nginx::start(&node, &format!("rs{i}"), 8080).expect("nginx");
        servers.push((node, web));
    }
    let vip = lab.vip4(100);
    Setup {
        lab,
        client,
        balancer,
        servers,
        vip,
    }
}

#[test]
fn requests_spread_over_live_servers_and_a_dead_one_leaves_the_rotation() {
    require!("nginx", "curl", "nft");
    let s = setup("lb-basic", 3);
    let servers: Vec<(Ipv4Addr, u32)> = s.servers.iter().map(|(n, _)| (n.ipv4(), 1)).collect();
    let conf = config(s.vip, 150, "rr", &servers);
    let d = start_vrrpd(&s.balancer, &conf);
    let all_in = wait_until(ROTATION, POLL, || {
        s.balancer.has_address(s.vip) && rotation(&s.balancer, &d).values().all(|w| *w == Some(1))
    });
    assert!(
        all_in,
        "not all servers in rotation: {:?}\n{}",
        rotation(&s.balancer, &d),
        d.tail(30)
    );

    let (seen, failed) = requests(&s.client, s.vip, 60);
    assert_eq!(failed, 0, "failed requests with every server up: {seen:?}");
    for i in 1..=3 {
        let n = seen.get(&format!("rs{i}")).copied().unwrap_or(0);
        assert!((10..=30).contains(&n), "rr gave rs{i} {n} of 60: {seen:?}");
    }

    // rs2 dies: its checker fails, it leaves the rotation, and requests go to the others.
    s.servers[1].1.kill().expect("kill nginx");
    let killed = Instant::now();
    let rs2 = format!("[{}]:8080", s.servers[1].0.ipv4());
    let out = wait_until(ROTATION, POLL, || {
        rotation(&s.balancer, &d).get(&rs2) == Some(&None)
    });
    assert!(
        out,
        "rs2 still in rotation: {:?}\n{}",
        rotation(&s.balancer, &d),
        d.tail(30)
    );
    eprintln!("rs2 left the rotation {:?} after it died", killed.elapsed());
    let (seen, failed) = requests(&s.client, s.vip, 30);
    assert_eq!(failed, 0, "failed requests after rs2 left: {seen:?}");
    assert!(!seen.contains_key("rs2"), "rs2 still answers: {seen:?}");

    // It comes back.
    let node = &s.servers[1].0;
    let _web = Nginx::start(node, "rs2", 8080).expect("nginx again");
    let back = wait_until(ROTATION, POLL, || {
        rotation(&s.balancer, &d).get(&rs2) == Some(&Some(1))
    });
    assert!(
        back,
        "rs2 did not come back: {:?}",
        rotation(&s.balancer, &d)
    );
    drop(s.lab);
}

/// prometheus_client's OpenMetrics parser (the reference): the samples as JSON.
const PARSE_OPENMETRICS: &str = r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
samples = []
for fam in text_string_to_metric_families(open(sys.argv[1]).read()):
    for s in fam.samples:
        samples.append({"name": s.name, "labels": s.labels, "value": s.value})
print(json.dumps(samples))
"#;

fn python_parser_ok() -> bool {
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    cmd.args(["-c", "import prometheus_client.openmetrics.parser"]);
    vrrp_testlab::run_bounded(cmd, Duration::from_secs(60)).is_ok_and(|o| o.status.success())
}

/// Scrapes the metrics endpoint in `node` and parses them with the reference parser.
fn scrape(lab: &Lab, node: &Node) -> Vec<Value> {
    let url = "http://127.0.0.1:9650/metrics";
    let mut body = String::new();
    let ok = wait_until(START, Duration::from_millis(100), || {
        node.run("curl", &["-s", "-f", "-m", "5", url])
            .map(|o| {
                body = String::from_utf8_lossy(&o.stdout).into_owned();
                o.status.success()
            })
            .unwrap_or(false)
    });
    assert!(ok, "no metrics at {url}");
    let path = lab.write_file("lb-metrics.txt", &body).expect("write");
    let mut cmd = std::process::Command::new("/usr/bin/python3");
    // run_bounded gives the child no stdin: the file is an argument.
    cmd.args(["-c", PARSE_OPENMETRICS]).arg(&path);
    let out = vrrp_testlab::run_bounded(cmd, Duration::from_secs(60)).expect("python3");
    assert!(
        out.status.success(),
        "the OpenMetrics parser refused the metrics: {}\n{body}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&out.stdout).expect("parser JSON")
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(samples: &[Value], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s["name"] == name && labels.iter().all(|(k, v)| s["labels"][*k] == *v))
        .and_then(|s| s["value"].as_f64())
}

#[test]
fn metrics_show_services_real_servers_checkers_and_traffic() {
    require!("nginx", "curl", "nft");
    if !vrrp_testlab::need(
        python_parser_ok(),
        "needs /usr/bin/python3 with prometheus_client (python3-prometheus-client)",
    ) {
        return;
    }
    let s = setup("lb-metr", 2);
    let servers: Vec<(Ipv4Addr, u32)> = s.servers.iter().map(|(n, _)| (n.ipv4(), 2)).collect();
    let conf = config(s.vip, 150, "wrr", &servers);
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start_with(
        &s.balancer,
        &conf,
        &["--metrics-listen", "127.0.0.1:9650"],
        &[],
    )
    .expect("spawn vrrpd");
    let all_in = wait_until(ROTATION, POLL, || {
        s.balancer.has_address(s.vip) && rotation(&s.balancer, &d).values().all(|w| *w == Some(2))
    });
    assert!(all_in, "not all servers in rotation:\n{}", d.tail(30));
    // A real server starts up; the latency comes with its first probe.
    let probed = wait_until(ROTATION, POLL, || {
        let lvs = ctl_json(&s.balancer, &d, &["lvs"]);
        lvs["services"][0]["real_servers"]
            .as_array()
            .is_some_and(|a| {
                a.iter()
                    .all(|rs| rs["checkers"][0]["probes"].as_u64() >= Some(1))
            })
    });
    assert!(probed, "no probe ran:\n{}", d.tail(30));
    let (_, failed) = requests(&s.client, s.vip, 10);
    assert_eq!(failed, 0);

    let svc = format!("[{}]:tcp:80", s.vip);
    let rs1 = format!("[{}]:8080", s.servers[0].0.ipv4());
    let rs2 = format!("[{}]:8080", s.servers[1].0.ipv4());
    let m = scrape(&s.lab, &s.balancer);
    let service = [("service", svc.as_str())];
    let at = |rs: &str| [("service", svc.clone()), ("real_server", rs.to_string())];
    let get = |m: &[Value], name: &str, labels: &[(String, String)]| {
        let l: Vec<(&str, &str)> = labels
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        sample(m, name, &l).unwrap_or_else(|| panic!("no {name}{labels:?}"))
    };
    let pairs = |a: &[(&str, String)]| -> Vec<(String, String)> {
        a.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
    };
    assert_eq!(
        sample(&m, "vrrpd_lb_service_quorum_up", &service),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "vrrpd_lb_service_connections_total", &service),
        Some(10.0)
    );
    assert_eq!(sample(&m, "node_ipvs_connections_total", &[]), Some(10.0));
    for rs in [&rs1, &rs2] {
        let l = pairs(&at(rs));
        assert_eq!(get(&m, "vrrpd_lb_real_server_up", &l), 1.0);
        assert_eq!(get(&m, "vrrpd_lb_real_server_weight", &l), 2.0);
        let mut c = l.clone();
        c.push(("checker".into(), "HTTP_GET".into()));
        assert_eq!(get(&m, "vrrpd_lb_checker_up", &c), 1.0);
        let latency = get(&m, "vrrpd_lb_checker_latency_seconds", &c);
        assert!(latency > 0.0 && latency < 1.0, "latency {latency}");
    }
    let conns: f64 = [&rs1, &rs2]
        .iter()
        .map(|rs| {
            get(
                &m,
                "vrrpd_lb_real_server_connections_total",
                &pairs(&at(rs)),
            )
        })
        .sum();
    assert_eq!(conns, 10.0);
    let backend = [
        ("local_address", s.vip.to_string()),
        ("local_port", "80".into()),
        ("remote_address", s.servers[0].0.ipv4().to_string()),
        ("remote_port", "8080".into()),
        ("proto", "TCP".into()),
    ];
    assert_eq!(get(&m, "node_ipvs_backend_weight", &pairs(&backend)), 2.0);

    // rs2 dies: the scrape shows it down, out of the data path, its checker failing.
    s.servers[1].1.kill().expect("kill nginx");
    let out = wait_until(ROTATION, POLL, || {
        rotation(&s.balancer, &d).get(&rs2) == Some(&None)
    });
    assert!(out, "rs2 still in rotation:\n{}", d.tail(30));
    let m = scrape(&s.lab, &s.balancer);
    let l = pairs(&at(&rs2));
    assert_eq!(get(&m, "vrrpd_lb_real_server_up", &l), 0.0);
    assert_eq!(get(&m, "vrrpd_lb_real_server_weight", &l), 0.0);
    assert_eq!(get(&m, "vrrpd_lb_real_server_configured_weight", &l), 2.0);
    let mut c = l.clone();
    c.push(("checker".into(), "HTTP_GET".into()));
    assert_eq!(get(&m, "vrrpd_lb_checker_up", &c), 0.0);
    assert!(get(&m, "vrrpd_lb_checker_consecutive_failures", &c) >= 1.0);
    assert_eq!(
        sample(&m, "vrrpd_lb_service_live_weight", &service),
        Some(2.0)
    );
    // The VRRP series are still there.
    assert!(sample(&m, "vrrp_state", &[("state", "MASTER")]).is_some());
    drop(s.lab);
}
