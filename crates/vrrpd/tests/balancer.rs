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
