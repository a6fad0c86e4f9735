//! keepalived's top-level static configuration and the multicast group of `global_defs`, on
//! real LANs (network namespaces, `vrrp-testlab`):
//!
//! - `static_ipaddress`, `static_routes` and `static_rules` are in the kernel once vrrpd has
//!   started, whatever the VRRP state, and gone after SIGTERM;
//! - with `vrrp_mcast_group4 224.0.0.19` (`vrrp_mcast_group6 ff02::13`) two vrrpd elect one
//!   Master through that group, and every advertisement on the wire goes to it (captured with
//!   tcpdump on the LAN's bridge);
//! - with `dynamic_interfaces` vrrpd starts although an instance's interface is missing, and
//!   the instance runs once the interface appears.
//!
//! Needs root; without it every test prints `SKIPPED: ...` (a failure under
//! `VRRPD_LAB_REQUIRED=1`, as in CI). The lab kills the daemons it started and deletes its
//! namespaces on drop, also when a test panics. See docs/testing.md.

use std::fs;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, require, wait_until};

/// Bound of every wait (an election takes well under a second with advert_int 0.1).
const STEP: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(50);

fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

fn vrrpd() -> Daemon {
    Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
}

/// Starts vrrpd in `node` and waits until it logs "vrrpd started".
fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start(node, conf)
    .expect("spawn vrrpd");
    d.wait_ready(STEP).expect("vrrpd starts");
    d
}

/// `ip ARGS` in `node`'s namespace: its standard output.
fn ip(node: &Node, args: &[&str]) -> String {
    node.run_ok("ip", args)
        .unwrap_or_else(|e| panic!("ip {}: {e}", args.join(" ")))
}

/// What `ip` shows of the static configuration of `static_conf` (addresses, routes, rules).
fn kernel_view(node: &Node) -> String {
    [
        ip(node, &["-4", "addr", "show", "dev", "eth0"]),
        ip(node, &["-6", "addr", "show", "dev", "eth0"]),
        ip(node, &["-4", "route", "show", "table", "all"]),
        ip(node, &["-4", "rule", "show"]),
    ]
    .join("\n")
}

fn vrrp_instance(vrid: u8, priority: u8, vip: IpAddr) -> String {
    let len = if vip.is_ipv6() { 64 } else { 24 };
    format!(
        "vrrp_instance VI_1 {{\n    interface eth0\n    virtual_router_id {vrid}\n    priority {priority}\n    \
         version 3\n    advert_int 0.1\n    virtual_ipaddress {{\n        {vip}/{len}\n    }}\n}}\n"
    )
}

/// The static configuration is in the kernel after start (a Backup's too: it does not depend
/// on the VRRP state), a reload replaces what changed, and SIGTERM removes it.
#[test]
fn static_configuration_is_set_at_start_and_removed_at_stop() {
    require!();
    let mut lab = Lab::new("stat").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let gateway = lab.ipv4(50);
    let address = lab.ipv4(201);
    let address6 = lab.ipv6(201);
    // A peer that outranks us keeps this router Backup: statics do not wait for Master.
    let r2 = lab.add_router("r2").expect("router");
    let vip = IpAddr::V4(lab.vip4(100));
    let conf = format!(
        "global_defs {{\n    default_interface eth0\n}}\n\
         static_ipaddress {{\n    {address}/24\n    {address6}/64 dev eth0\n}}\n\
         static_routes {{\n    10.99.251.0/24 via {gateway} dev eth0 metric 7\n    blackhole 10.99.252.0/24 table 100\n}}\n\
         static_rules {{\n    from 10.99.253.0/24 table 100 priority 1000\n}}\n{}",
        vrrp_instance(61, 100, vip)
    );
    let master = start_vrrpd(&r2, &vrrp_instance(61, 200, vip));
    assert!(
        wait_until(STEP, POLL, || r2.has_address(vip)),
        "r2 should become Master{}",
        lab.diag()
    );
    let d = start_vrrpd(&r1, &conf);
    let expected = [
        format!("inet {address}/24"),
        format!("inet6 {address6}/64"),
        format!("10.99.251.0/24 via {gateway} dev eth0"),
        "blackhole 10.99.252.0/24 table 100".to_string(),
        // `ip rule` puts a tab or nothing after the priority, by version.
        "from 10.99.253.0/24 lookup 100".to_string(),
    ];
    let all_there = wait_until(STEP, POLL, || {
        let view = kernel_view(&r1);
        expected.iter().all(|e| view.contains(e.as_str()))
    });
    assert!(
        all_there,
        "static configuration missing after start:\n{}\n{}",
        kernel_view(&r1),
        d.tail(30)
    );
    // Still Backup: the VIP is r2's alone.
    assert!(!r1.has_address(vip), "r1 should be Backup{}", lab.diag());

    // A reload: the blackhole route leaves the file, another route comes in.
    let new_route = format!("10.99.254.0/24 via {gateway} dev eth0");
    let reloaded = conf.replace(
        "    blackhole 10.99.252.0/24 table 100\n",
        &format!("    {new_route}\n"),
    );
    fs::write(&d.conf, reloaded).expect("write the new configuration");
    d.proc.kill_main(libc::SIGHUP).expect("SIGHUP");
    let replaced = wait_until(STEP, POLL, || {
        let view = kernel_view(&r1);
        view.contains(&new_route) && !view.contains("blackhole 10.99.252.0/24")
    });
    assert!(
        replaced,
        "reload did not replace the static route:\n{}\n{}",
        kernel_view(&r1),
        d.tail(30)
    );
    let expected: Vec<String> = expected
        .into_iter()
        .filter(|e| !e.starts_with("blackhole"))
        .chain([new_route])
        .collect();

    assert!(
        d.stop(STEP).expect("stop vrrpd"),
        "vrrpd did not exit on SIGTERM"
    );
    let view = kernel_view(&r1);
    for e in &expected {
        assert!(
            !view.contains(e.as_str()),
            "`{e}` still there after stop:\n{view}\n{}",
            d.tail(30)
        );
    }
    let log = fs::read_to_string(d.proc.stderr_path()).unwrap_or_default();
    assert!(
        log.contains("static configuration set: 2 address(es), 2 route(s), 1 rule(s)"),
        "{log}"
    );
    drop(master);
}

/// The IPv4 destinations of the VRRP packets in a pcap file, as tcpdump reads them back.
fn vrrp_destinations(pcap: &std::path::Path) -> Vec<String> {
    let out = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(pcap)
        .output()
        .expect("run tcpdump -r");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("VRRP"))
        .filter_map(|l| {
            let (_, rest) = l.split_once(" > ")?;
            Some(rest.split(": ").next()?.to_string())
        })
        .collect()
}

/// Two routers elect through `keyword group` (`vrrp_mcast_group4/6`), r1 running vrrpd and
/// r2 `peer`: one Master (only r1 holds the VIP, for a while), r2's `eth0` joined `group`
/// and not `default`, and every advertisement tcpdump saw on the bridge went to `group`.
fn elect_through_group(
    lab: &mut Lab,
    peer: Daemon,
    vip: IpAddr,
    (keyword, group, default): (&str, &str, &str),
) {
    let r1 = lab.add_router("r1").expect("router");
    let r2 = lab.add_router("r2").expect("router");
    let filter = if vip.is_ipv6() {
        "ip6 and ip6[6] == 112"
    } else {
        "ip proto 112"
    };
    let capture = lab.capture("vrrp", filter).expect("tcpdump");
    let conf = |priority| {
        format!(
            "global_defs {{\n    {keyword} {group}\n}}\n{}",
            vrrp_instance(62, priority, vip)
        )
    };
    let d2 = match peer {
        Daemon::Vrrpd { .. } => start_vrrpd(&r2, &conf(100)),
        other => {
            let d = other.start(&r2, &conf(100)).expect("start the peer");
            d.wait_started(STEP).expect("the peer starts");
            d
        }
    };
    let d1 = start_vrrpd(&r1, &conf(200));
    let sole = |node: &Node, other: &Node| node.has_address(vip) && !other.has_address(vip);
    assert!(
        wait_until(STEP, POLL, || sole(&r1, &r2)),
        "r1 should be the only Master{}",
        lab.diag()
    );
    // It stays so: r2 hears r1's adverts on the group (else it would take over in ~0.4 s).
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        sole(&r1, &r2),
        "r2 took the VIP: it does not hear r1{}",
        lab.diag()
    );
    let joined = ip(&r2, &["maddr", "show", "dev", "eth0"]);
    assert!(joined.contains(group), "group not joined:\n{joined}");
    assert!(!joined.contains(default), "default group joined:\n{joined}");
    let pcap = capture.stop().expect("stop tcpdump");
    let dsts = vrrp_destinations(&pcap);
    assert!(dsts.len() >= 10, "few adverts captured: {dsts:?}");
    assert!(
        dsts.iter().all(|d| d == group),
        "adverts to another group: {dsts:?}"
    );
    drop((d1, d2));
}

#[test]
fn custom_ipv4_multicast_group_carries_the_election() {
    require!("tcpdump");
    let mut lab = Lab::new("mcg").expect("lab");
    let vip = IpAddr::V4(lab.vip4(100));
    let groups = ("vrrp_mcast_group4", "224.0.0.19", "224.0.0.18");
    elect_through_group(&mut lab, vrrpd(), vip, groups);
}

/// keepalived 2.2.7 as the Backup, with the same `vrrp_mcast_group4`: the same election.
#[test]
fn custom_ipv4_multicast_group_with_keepalived() {
    require!("tcpdump", "keepalived");
    let mut lab = Lab::new("mcgk").expect("lab");
    let vip = IpAddr::V4(lab.vip4(100));
    let groups = ("vrrp_mcast_group4", "224.0.0.19", "224.0.0.18");
    elect_through_group(&mut lab, Daemon::Keepalived, vip, groups);
}

#[test]
fn custom_ipv6_multicast_group_carries_the_election() {
    require!("tcpdump");
    let mut lab = Lab::new("mcg6").expect("lab");
    let vip = IpAddr::V6(lab.vip6(100));
    let groups = ("vrrp_mcast_group6", "ff02::13", "ff02::12");
    elect_through_group(&mut lab, vrrpd(), vip, groups);
}

/// `dynamic_interfaces`: vrrpd starts although VI_1's interface `dyn0` does not exist (VI_2
/// on eth0 runs meanwhile); once `dyn0` is created (a veth with an address, then up), VI_1
/// starts and, alone on it, becomes Master and adds its VIP there. `dyn0` deleted, VI_1 stops
/// and waits again; re-created (a new index, its address added last), VI_1 starts on the new
/// interface.
#[test]
fn dynamic_interfaces_instance_waits_for_its_interface() {
    require!();
    let mut lab = Lab::new("dyni").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let vip_eth0 = IpAddr::V4(lab.vip4(100));
    let vip_dyn = "10.99.254.100".parse::<IpAddr>().expect("addr");
    let conf = format!(
        "global_defs {{\n    dynamic_interfaces\n}}\n\
         vrrp_instance VI_1 {{\n    interface dyn0\n    virtual_router_id 63\n    priority 100\n    \
         version 3\n    advert_int 0.1\n    virtual_ipaddress {{\n        {vip_dyn}/24\n    }}\n}}\n{}",
        vrrp_instance(64, 100, vip_eth0).replace("VI_1", "VI_2")
    );
    let d = start_vrrpd(&r1, &conf);
    let log = || fs::read_to_string(d.proc.stderr_path()).unwrap_or_default();
    assert!(
        log().contains("VI_1: interface dyn0 does not exist; the instance waits for it"),
        "{}",
        d.tail(30)
    );
    // The other instance runs meanwhile.
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip_eth0)),
        "VI_2 should become Master{}",
        lab.diag()
    );
    assert!(!r1.has_address(vip_dyn));
    // A veth pair inside the node (no dummy module on every kernel); its peer up first, so
    // that dyn0 has carrier when it comes up.
    let create_dyn0 = || {
        ip(
            &r1,
            &[
                "link", "add", "dyn0", "type", "veth", "peer", "name", "dyn0p",
            ],
        );
        ip(&r1, &["link", "set", "dyn0p", "up"]);
        ip(&r1, &["addr", "add", "10.99.254.1/24", "dev", "dyn0"]);
        ip(&r1, &["link", "set", "dyn0", "up"]);
    };
    let started = |n: usize| {
        r1.has_address(vip_dyn)
            && log()
                .matches("VI_1: interface dyn0 appeared; the instance started")
                .count()
                == n
    };
    create_dyn0();
    assert!(
        wait_until(STEP, POLL, || started(1)),
        "VI_1 did not start on dyn0:\n{}",
        d.tail(30)
    );
    ip(&r1, &["link", "del", "dyn0"]);
    let gone = "VI_1: interface dyn0 is gone; the instance waits for it again";
    assert!(
        wait_until(STEP, POLL, || log().contains(gone)),
        "{}",
        d.tail(30)
    );
    // This time the address comes last, after the link is up: no link event follows it.
    ip(
        &r1,
        &[
            "link", "add", "dyn0", "type", "veth", "peer", "name", "dyn0p",
        ],
    );
    ip(&r1, &["link", "set", "dyn0p", "up"]);
    ip(&r1, &["link", "set", "dyn0", "up"]);
    std::thread::sleep(Duration::from_millis(300));
    ip(&r1, &["addr", "add", "10.99.254.1/24", "dev", "dyn0"]);
    assert!(
        wait_until(STEP, POLL, || started(2)),
        "VI_1 did not start again on the new dyn0:\n{}",
        d.tail(30)
    );
    assert!(r1.has_address(vip_eth0), "VI_2 was disturbed{}", lab.diag());
    assert!(
        d.stop(STEP).expect("stop vrrpd"),
        "vrrpd did not exit on SIGTERM"
    );
    assert!(!r1.has_address(vip_dyn), "VIP left on dyn0 after stop");
}
