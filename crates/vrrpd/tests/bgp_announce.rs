//! `bgp_announce` end to end: vrrpd announces a virtual server's VIP through a real FRR
//! (zebra + bgpd in the balancer's namespace, configured as `docs/loadbalancer.md` says) to
//! an FRR peer router in another namespace, and withdraws it when the quorum is lost, on
//! `vrrpctl announce drain`, on a reload that drops it (withdrawn before the reload answers,
//! which waits `bgp_announce_drain`), and on SIGTERM before the daemon exits. The observer is the
//! peer's kernel: the route bgpd installed there (`proto bgp`).
//!
//! One LAN (`vrrp-testlab`): the balancer `lb1` (AS 65001), the peer router (AS 65000) and
//! one nginx real server. The lab kills what it started (by PID) and removes its namespaces
//! on drop, also when a test fails. Needs root and FRR (`/usr/lib/frr`); with
//! VRRPD_LAB_REQUIRED=1 a missing piece fails the test.

#[path = "balancer/common.rs"]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::*;
use vrrp_testlab::{Lab, Node, Proc, require, wait_until};

const ZEBRA: &str = "/usr/lib/frr/zebra";
const BGPD: &str = "/usr/lib/frr/bgpd";
/// BGP sessions come up in a few seconds with the timers below; the rest is slack for a
/// loaded 2-core machine.
const SESSION: Duration = Duration::from_secs(60);
/// A route change reaches the peer within a second here (advertisement-interval 0); checks
/// run every second with one retry.
const CHANGE: Duration = Duration::from_secs(30);

/// zebra and bgpd of one node.
struct Frr {
    _zebra: Proc,
    _bgpd: Proc,
}

/// FRR's configuration of the balancer, as `docs/loadbalancer.md` shows it: zebra imports
/// table 200, bgpd redistributes it.
fn balancer_frr(peer: &Node) -> (String, String) {
    let zebra = "ip import-table 200\n".to_string();
    let bgpd = format!(
        "router bgp 65001\n no bgp ebgp-requires-policy\n neighbor {p} remote-as 65000\n \
         neighbor {p} timers 1 3\n neighbor {p} timers connect 1\n \
         neighbor {p} advertisement-interval 0\n !\n address-family ipv4 unicast\n  \
         redistribute table 200\n exit-address-family\nexit\n",
        p = peer.ipv4()
    );
    (zebra, bgpd)
}

/// The peer router: learns what the balancer announces.
fn peer_frr(lb: &Node) -> String {
    format!(
        "router bgp 65000\n no bgp ebgp-requires-policy\n neighbor {l} remote-as 65001\n \
         neighbor {l} timers 1 3\n neighbor {l} timers connect 1\n \
         neighbor {l} advertisement-interval 0\nexit\n",
        l = lb.ipv4()
    )
}

/// Starts zebra, then bgpd, in `node`, each with its own file (FRR's daemons drop to the
/// `frr` user: their directory is its).
fn start_frr(node: &Node, zebra_conf: &str, bgpd_conf: &str) -> Frr {
    let name = node.name().to_string();
    let dir = node.lab_path(&format!("{name}-frr"));
    std::fs::create_dir_all(&dir).expect("FRR directory");
    node.run_ok("chown", &["frr:frr", &dir.to_string_lossy()])
        .expect("chown frr");
    let d = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let sock = d("zserv.api");
    let zconf = node
        .write_file(&format!("{name}-zebra.conf"), zebra_conf)
        .expect("zebra.conf");
    let bconf = node
        .write_file(&format!("{name}-bgpd.conf"), bgpd_conf)
        .expect("bgpd.conf");
    let vty = dir.to_string_lossy().into_owned();
    let common = |conf: &PathBuf, pid: &str| -> Vec<String> {
        [
            "-f",
            &conf.to_string_lossy(),
            "-i",
            &d(pid),
            "-z",
            &sock,
            "--vty_socket",
            &vty,
            "-P",
            "0",
            "--log",
            "stdout",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    };
    let args = common(&zconf, "zebra.pid");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let zebra = node.spawn(ZEBRA, &args, &[]).expect("spawn zebra");
    let up = wait_until(Duration::from_secs(15), POLL, || {
        std::path::Path::new(&sock).exists() || !zebra.is_running()
    });
    assert!(
        up && zebra.is_running(),
        "zebra on {name}:\n{}",
        zebra.tail(20)
    );
    let args = common(&bconf, "bgpd.pid");
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let bgpd = node.spawn(BGPD, &args, &[]).expect("spawn bgpd");
    std::thread::sleep(Duration::from_millis(500));
    assert!(bgpd.is_running(), "bgpd on {name}:\n{}", bgpd.tail(20));
    Frr {
        _zebra: zebra,
        _bgpd: bgpd,
    }
}

/// Whether the peer's kernel has bgpd's route to `vip`.
fn peer_has_route(peer: &Node, vip: std::net::Ipv4Addr) -> bool {
    let dst = format!("{vip}/32");
    peer.run_ok("ip", &["-4", "route", "show", &dst, "proto", "bgp"])
        .is_ok_and(|out| out.contains(&vip.to_string()))
}

/// The balancer's configuration: VRRP for the LAN's gateway address and BGP for the
/// service VIP, side by side.
fn config(lab: &Lab, vip: std::net::Ipv4Addr, rs: std::net::Ipv4Addr, frr_conf: &str) -> String {
    format!(
        "global_defs {{\n    lb_nat_masquerade\n    bgp_frr_config {frr_conf}\n    \
         bgp_announce_drain 5\n}}\n\
         vrrp_instance GW {{\n    state BACKUP\n    interface eth0\n    virtual_router_id 51\n    \
         priority 150\n    advert_int 0.1\n    version 3\n    virtual_ipaddress {{\n        {gw}/24\n    }}\n}}\n\
         virtual_server {vip} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    \
         protocol TCP\n    alpha\n    bgp_announce\n    real_server {rs} 8080 {{\n        \
         HTTP_GET {{\n            url {{\n                path /alive\n                \
         status_code 200\n            }}\n            connect_timeout 1\n            retry 1\n            \
         delay_before_retry 0.5\n        }}\n    }}\n}}\n",
        gw = lab.vip4(1)
    )
}

/// The `announcements` entry of `vip` in `vrrpctl lvs --json`.
fn announcement(node: &Node, d: &vrrp_testlab::DaemonProc, vip: &str) -> serde_json::Value {
    let lvs = ctl_json(node, d, &["lvs"]);
    lvs["announcements"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["vip"] == vip).cloned())
        .unwrap_or_default()
}

#[test]
fn the_vip_is_announced_with_quorum_and_withdrawn_on_loss_maintenance_and_stop() {
    require!("nginx", "nft");
    let frr = [ZEBRA, BGPD]
        .iter()
        .all(|p| std::path::Path::new(p).is_file());
    if !vrrp_testlab::need(
        frr,
        "FRR is not installed (/usr/lib/frr; apt-get install frr)",
    ) {
        return;
    }
    let mut s = setup("bgp-ann", 1);
    let peer = s.lab.add_router("peer").expect("peer router");
    let lab = &s.lab;
    let (lb, vip, rs) = (&s.balancer, s.vip, s.servers[0].0.ipv4());
    let web = &s.servers[0].1;
    web.put("alive", b"ok\n").expect("health file");
    let (zebra_conf, bgpd_conf) = balancer_frr(&peer);
    let _peer_frr = start_frr(&peer, "!\n", &peer_frr(lb));
    let _lb_frr = start_frr(lb, &zebra_conf, &bgpd_conf);
    // What vrrpd checks at start: the integrated configuration and `daemons` beside it.
    let frr_dir = lab.dir().join("lb1-etc-frr");
    std::fs::create_dir_all(&frr_dir).expect("etc dir");
    let frr_conf = frr_dir.join("frr.conf");
    std::fs::write(&frr_conf, format!("{zebra_conf}!\n{bgpd_conf}")).expect("frr.conf");
    std::fs::write(frr_dir.join("daemons"), "zebra=yes\nbgpd=yes\n").expect("daemons");
    // What a killed run would leave: a route for a VIP no longer configured.
    let stale = lab.vip4(200).to_string();
    let stale_dst = format!("{stale}/32");
    lb.run_ok(
        "ip",
        &[
            "route", "add", &stale_dst, "dev", "lo", "table", "200", "proto", "201",
        ],
    )
    .expect("stale route");
    let conf_text = config(lab, vip, rs, &frr_conf.to_string_lossy());
    let d = start_vrrpd(lb, &conf_text);
    let v = vip.to_string();

    let t = Instant::now();
    assert!(
        wait_until(SESSION, POLL, || peer_has_route(&peer, vip)),
        "the peer never learnt {vip}: {}\n{}",
        announcement(lb, &d, &v),
        lb.run_ok("ip", &["route", "show", "table", "200"])
            .unwrap_or_default()
    );
    println!("announced: the peer has the route after {:?}", t.elapsed());
    let a = announcement(lb, &d, &v);
    assert_eq!(a["announced"], true, "{a}");
    let table = lb.run_ok("ip", &["route", "show", "table", "200", "proto", "201"]);
    let table = table.unwrap_or_default();
    assert!(table.contains(&v), "the host route in table 200: {table}");
    assert!(
        !table.contains(&stale),
        "the stale route was removed: {table}"
    );

    // The only real server fails its check: the quorum is lost, the VIP withdrawn.
    web.remove("alive").expect("remove the health file");
    let t = Instant::now();
    assert!(
        wait_until(CHANGE, POLL, || !peer_has_route(&peer, vip)),
        "still announced without quorum: {}",
        announcement(lb, &d, &v)
    );
    println!("quorum lost: withdrawn after {:?}", t.elapsed());
    assert_eq!(announcement(lb, &d, &v)["withheld"], "no-quorum");

    web.put("alive", b"ok\n").expect("health file");
    assert!(
        wait_until(CHANGE, POLL, || peer_has_route(&peer, vip)),
        "not announced again with the quorum back"
    );

    // Maintenance: withdrawn until restored, whatever the quorum.
    let out = ctl(lb, &d, &["announce", "drain", &v]);
    assert!(out.contains("withdrawn (maintenance)"), "{out}");
    let t = Instant::now();
    assert!(
        wait_until(CHANGE, POLL, || !peer_has_route(&peer, vip)),
        "still announced in maintenance"
    );
    println!("maintenance: withdrawn after {:?}", t.elapsed());
    ctl(lb, &d, &["announce", "restore", &v]);
    assert!(
        wait_until(CHANGE, POLL, || peer_has_route(&peer, vip)),
        "not announced again after restore"
    );
    let metrics_ok = announcement(lb, &d, &v)["transitions"].as_u64() >= Some(4);
    assert!(metrics_ok, "{}", announcement(lb, &d, &v));

    // A reload that drops `bgp_announce`: withdrawn; a reload back: announced again.
    std::fs::write(&d.conf, conf_text.replace("    bgp_announce\n", "")).expect("conf");
    let t = Instant::now();
    ctl_json(lb, &d, &["reload"]);
    assert!(
        !peer_has_route(&peer, vip),
        "still announced after the reload"
    );
    println!(
        "reload without bgp_announce: withdrawn, answered after {:?}",
        t.elapsed()
    );
    std::fs::write(&d.conf, &conf_text).expect("conf");
    ctl_json(lb, &d, &["reload"]);
    assert!(
        wait_until(CHANGE, POLL, || peer_has_route(&peer, vip)),
        "not announced again after the reload back"
    );

    // SIGTERM: withdrawn first; the daemon exits only after the drain (5 s).
    let t = Instant::now();
    d.proc.kill(libc::SIGTERM).expect("SIGTERM");
    let withdrawn = wait_until(CHANGE, POLL, || {
        !peer_has_route(&peer, vip) || !d.proc.is_running()
    });
    let running = d.proc.is_running();
    let gone = !peer_has_route(&peer, vip);
    println!(
        "SIGTERM: withdrawn after {:?} (vrrpd running: {running})",
        t.elapsed()
    );
    assert!(withdrawn && gone, "still announced after SIGTERM");
    assert!(running, "vrrpd exited before the peer lost the route");
    let status = d.proc.wait_timeout(Duration::from_secs(30)).expect("wait");
    assert!(
        status.is_some_and(|s| s.success()),
        "vrrpd exit: {status:?}"
    );
    println!("SIGTERM: exited after {:?}", t.elapsed());
    let table = lb
        .run_ok("ip", &["route", "show", "table", "200"])
        .unwrap_or_default();
    assert!(!table.contains(&v), "route left behind: {table}");
}

#[test]
fn a_missing_frr_setup_is_a_start_error_at_the_keyword() {
    let dir = std::env::temp_dir().join(format!("vrrpd-bgp-check-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let frr_conf = dir.join("frr.conf");
    std::fs::write(&frr_conf, "router bgp 65001\n").expect("frr.conf");
    std::fs::write(dir.join("daemons"), "bgpd=yes\n").expect("daemons");
    let conf = dir.join("vrrpd.conf");
    let text = format!(
        "global_defs {{\n    bgp_frr_config {}\n}}\nvirtual_server 10.99.0.100 80 {{\n    \
         lvs_sched rr\n    bgp_announce\n    real_server 10.99.0.2 80 {{\n    }}\n}}\n",
        frr_conf.display()
    );
    std::fs::write(&conf, text).expect("vrrpd.conf");
    let mut cmd = std::process::Command::new(vrrpd_binary());
    cmd.arg("-t").arg("-f").arg(&conf);
    let out = vrrp_testlab::run_bounded(cmd, Duration::from_secs(30)).expect("vrrpd -t");
    let _ = std::fs::remove_dir_all(&dir);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(":6:5"), "located at bgp_announce: {stderr}");
    assert!(stderr.contains("ip import-table 200"), "{stderr}");
    assert!(stderr.contains("redistribute table 200"), "{stderr}");
}
