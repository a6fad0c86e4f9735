//! Addresses and interfaces changed under the daemon (docs/reliability.md, "Addresses and
//! interfaces changed under the daemon"), each scenario on namespace LANs of its own:
//!
//! - **a VIP removed by hand**: `ip addr del VIP` on the Master (r1, priority 200; r2 100).
//!   vrrpd puts it back at once (`vip_restores` counted, a warning logged, GARPs on the
//!   wire), r2 never holds it. keepalived 2.2.7 beside, on a LAN of its own: its figures
//!   are printed (it steps down to Backup and comes back after the Master down interval).
//!   The reverse, a VIP added by hand on the Backup, is left alone, as keepalived does.
//! - **the VRRP interface re-created**: r1's eth0 (a veth) deleted, then created again under
//!   the same name (another index): r1 is in FAULT meanwhile and r2 takes over; re-created,
//!   r1 moves to the new index (sockets, addresses) and preempts again, VIP on the new eth0,
//!   without a restart. keepalived beside, figures printed.
//! - **netlink overrun**: vrrpd with a tiny receive buffer on its link/address subscription
//!   (`VRRPD_NETLINK_RCVBUF`), 5,000 addresses added and deleted in one `ip -batch`, the VIP
//!   deleted and a tracked interface set down in the middle of it: the overrun is logged
//!   and followed by a full resync; the VIP is back, and the tracked interface's state and
//!   the priority match the kernel. keepalived 2.2.7 beside through the same burst (its
//!   VRRP process stopped): what it saw is printed.
//!
//! Lab tests: root and namespaces; `SKIPPED` without them, a failure under
//! `VRRPD_LAB_REQUIRED=1`. Every lab kills what it started, by PID, and deletes its
//! namespaces on drop, also when a test panics.

use std::fs;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use vrrp_testlab::{
    AddressWatch, Daemon, DaemonProc, KeepalivedConf, Lab, Node, VrrpInstance, require, wait_until,
};

const START: Duration = Duration::from_secs(15);
const STEP: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);

fn vrrpd() -> Daemon {
    Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    }
}

fn start(lab: &Lab, daemon: &Daemon, node: &Node, conf: &str, env: &[(&str, &str)]) -> DaemonProc {
    let d = daemon
        .start_with(node, conf, &[], env)
        .unwrap_or_else(|e| panic!("starting {daemon} on {}: {e}{}", node.name(), lab.diag()));
    if let Err(e) = d.wait_ready(START) {
        panic!("{daemon} on {}: {e}{}", node.name(), lab.diag());
    }
    d
}

fn conf(priority: u8, advert_int: f64, vip: IpAddr, extra: &[&str]) -> String {
    let mut i = VrrpInstance::new("VI_1", "eth0", 81, priority)
        .version(3)
        .advert_int(advert_int)
        .vip(format!("{vip}/24"));
    for l in extra {
        i = i.line(*l);
    }
    KeepalivedConf::new().instance(i).render()
}

fn show(d: &DaemonProc) -> Value {
    let ctl = vrrp_testlab::vrrpctl_next_to(Path::new(env!("CARGO_BIN_EXE_vrrpd")))
        .expect("vrrpctl next to vrrpd");
    let sock = d
        .control_socket
        .clone()
        .expect("vrrpd has a control socket");
    let out = Command::new(ctl)
        .arg("--socket")
        .arg(sock)
        .args(["show", "VI_1", "--json"])
        .output()
        .expect("run vrrpctl");
    serde_json::from_slice(&out.stdout).unwrap_or(Value::Null)
}

fn log(d: &DaemonProc) -> String {
    fs::read_to_string(d.proc.stderr_path()).unwrap_or_default()
}

fn loadavg() -> String {
    fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

/// A Master r1 (200) and a Backup r2 (100) of `vip`, r1 holding it.
fn pair(lab: &mut Lab, daemon: &Daemon, advert_int: f64) -> (Node, Node, DaemonProc, DaemonProc) {
    let r1 = lab.add_router("r1").expect("router");
    let r2 = lab.add_router("r2").expect("router");
    let vip = IpAddr::V4(lab.vip4(100));
    let d1 = start(lab, daemon, &r1, &conf(200, advert_int, vip, &[]), &[]);
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "{daemon}: r1 should become Master{}",
        lab.diag()
    );
    let d2 = start(lab, daemon, &r2, &conf(100, advert_int, vip, &[]), &[]);
    std::thread::sleep(Duration::from_millis(500));
    (r1, r2, d1, d2)
}

/// GARPs for `vip` in a capture (tcpdump's text of it).
fn garps(pcap: &Path, vip: IpAddr) -> usize {
    let out = Command::new("tcpdump")
        .args(["-n", "-r"])
        .arg(pcap)
        .output()
        .expect("tcpdump -r");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains(&format!("who-has {vip} tell {vip}")))
        .count()
}

/// `ip addr del VIP` on the Master: how long until the VIP is on r1 again, and whether r2
/// held it meanwhile.
fn remove_vip_by_hand(lab: &Lab, r1: &Node, r2: &Node) -> (Option<Duration>, bool) {
    let vip = IpAddr::V4(lab.vip4(100));
    let on_r1 = AddressWatch::start(r1).expect("ip monitor on r1");
    let on_r2 = AddressWatch::start(r2).expect("ip monitor on r2");
    let t0 = Instant::now();
    r1.del_address(&format!("{vip}/24")).expect("ip addr del");
    let back = on_r1.wait_added(vip, STEP).map(|t| t - t0);
    std::thread::sleep(Duration::from_millis(300));
    let r2_held = on_r2.wait_added(vip, Duration::ZERO).is_some();
    (back, r2_held)
}

#[test]
fn a_vip_removed_by_hand_is_restored_and_announced() {
    require!("tcpdump");
    let mut lab = Lab::new("nlvip").expect("lab");
    let (r1, r2, d1, _d2) = pair(&mut lab, &vrrpd(), 1.0);
    let vip = IpAddr::V4(lab.vip4(100));
    let capture = lab.capture("garp", "arp").expect("capture");
    let (back, r2_held) = remove_vip_by_hand(&lab, &r1, &r2);
    std::thread::sleep(Duration::from_millis(500));
    let pcap = capture.stop().expect("stop capture");
    let back = back.unwrap_or_else(|| panic!("vrrpd did not restore the VIP{}", lab.diag()));
    let announced = garps(&pcap, vip);
    eprintln!(
        "vrrpd: VIP back {:.1} ms after ip addr del, r2 held it: {r2_held}, {announced} GARP(s) (load {})",
        back.as_secs_f64() * 1e3,
        loadavg()
    );
    // Expected in milliseconds; the bound is for a loaded machine.
    assert!(back < Duration::from_secs(2), "restored after {back:?}");
    assert!(!r2_held, "r2 took the VIP over{}", lab.diag());
    assert!(announced >= 1, "no GARP for the restored VIP");
    let s = show(&d1);
    assert_eq!(s["state"], "MASTER", "{s}");
    assert_eq!(s["counters"]["vip_restores"], 1, "{s}");
    assert!(
        log(&d1).contains("went away from interface"),
        "{}",
        d1.tail(20)
    );

    // The reverse: a VIP added by hand on the Backup stays, as with keepalived; removed
    // by hand again, nothing restores it there.
    r2.add_address(&format!("{vip}/32"))
        .expect("ip addr add on r2");
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        r2.has_address(vip),
        "the Backup's hand-made address was removed"
    );
    r2.del_address(&format!("{vip}/32"))
        .expect("ip addr del on r2");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !r2.has_address(vip),
        "the Backup restored an address it does not hold"
    );
    assert!(r1.has_address(vip), "{}", lab.diag());

    // keepalived 2.2.7 beside, for the figures (docs/reliability.md).
    if Daemon::Keepalived.unavailable().is_none() {
        let mut ka = Lab::new("nlvipk").expect("lab");
        let (k1, k2, _k1d, _k2d) = pair(&mut ka, &Daemon::Keepalived, 1.0);
        let (back, r2_held) = remove_vip_by_hand(&ka, &k1, &k2);
        eprintln!(
            "keepalived: VIP back on r1 after {:?} (ip addr del), r2 held it: {r2_held}",
            back.map(|b| format!("{:.1} ms", b.as_secs_f64() * 1e3))
        );
    }
}

fn ifindex(node: &Node) -> u32 {
    node.run_ok("cat", &["/sys/class/net/eth0/ifindex"])
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

/// r1's eth0 created again on the bridge under the same name (a veth, its addresses, up):
/// the kernel gives it another index, returned.
fn plug_eth0(lab: &Lab, node: &Node) -> u32 {
    let br = lab.bridge_ns();
    let port = node.bridge_port();
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    ip(&[
        "-n",
        br,
        "link",
        "add",
        port,
        "type",
        "veth",
        "peer",
        "name",
        "eth0",
        "netns",
        node.ns(),
    ]);
    ip(&["-n", br, "link", "set", port, "master", "br0", "up"]);
    let v4 = format!("{}/24", node.ipv4());
    let v6 = format!("{}/64", node.ipv6());
    ip(&["-n", node.ns(), "addr", "add", &v4, "dev", "eth0"]);
    ip(&["-n", node.ns(), "addr", "add", &v6, "dev", "eth0", "nodad"]);
    ip(&["-n", node.ns(), "link", "set", "eth0", "up"]);
    ifindex(node)
}

/// Deletes r1's eth0, waits for r2 to take over, re-creates it: the time from the
/// re-creation until r1 holds the VIP again (on the new eth0), and the indexes.
fn recreate_scenario(
    lab: &Lab,
    r1: &Node,
    r2: &Node,
    d1: &DaemonProc,
) -> (Option<Duration>, u32, u32) {
    let vip = IpAddr::V4(lab.vip4(100));
    let before = ifindex(r1);
    r1.run_ok("ip", &["link", "del", "eth0"]).expect("link del");
    assert!(
        wait_until(STEP, POLL, || r2.has_address(vip)),
        "{}: r2 should take over while r1's eth0 is gone{}",
        d1.daemon,
        lab.diag()
    );
    if matches!(d1.daemon, Daemon::Vrrpd { .. }) {
        assert!(
            wait_until(STEP, POLL, || show(d1)["state"] == "FAULT"),
            "r1 should be in FAULT while eth0 is gone: {}\n{}",
            show(d1),
            d1.tail(20)
        );
    }
    std::thread::sleep(Duration::from_millis(500));
    let t0 = Instant::now();
    let after = plug_eth0(lab, r1);
    let back = wait_until(STEP, Duration::from_millis(5), || {
        r1.has_address(vip) && !r2.has_address(vip)
    })
    .then(|| t0.elapsed());
    (back, before, after)
}

#[test]
fn the_vrrp_interface_recreated_with_another_index_is_followed() {
    require!();
    let mut lab = Lab::new("nlif").expect("lab");
    let (r1, r2, d1, _d2) = pair(&mut lab, &vrrpd(), 0.1);
    let (back, before, after) = recreate_scenario(&lab, &r1, &r2, &d1);
    let back = back.unwrap_or_else(|| {
        panic!(
            "vrrpd did not resume on the re-created eth0 ({before} -> {after}):\n{}{}",
            d1.tail(30),
            lab.diag()
        )
    });
    eprintln!(
        "vrrpd: eth0 index {before} -> {after}; VIP back on r1 {:.0} ms after the re-creation (load {})",
        back.as_secs_f64() * 1e3,
        loadavg()
    );
    assert_ne!(before, after, "the kernel reused the index");
    assert!(d1.is_running(), "vrrpd exited");
    assert_eq!(show(&d1)["state"], "MASTER");
    assert!(log(&d1).contains("was re-created"), "{}", d1.tail(20));

    if Daemon::Keepalived.unavailable().is_none() {
        let mut ka = Lab::new("nlifk").expect("lab");
        let (k1, k2, k1d, _k2d) = pair(&mut ka, &Daemon::Keepalived, 0.1);
        let (back, before, after) = recreate_scenario(&ka, &k1, &k2, &k1d);
        eprintln!(
            "keepalived: eth0 index {before} -> {after}; VIP back on r1: {:?}, running: {}",
            back.map(|b| format!("{:.0} ms", b.as_secs_f64() * 1e3)),
            k1d.is_running()
        );
    }
}

/// `ip -batch` lines: `n` addresses added to eth0, `middle` lines, the same deleted. IPv4
/// /32s in 10.99.200-219.x, which exist only inside the node's namespace for the run (the
/// kernel takes 30 s for as many IPv6 ones, 2 s for these).
fn flood_batch(n: u32, middle: &[String]) -> String {
    let addr = |i: u32| format!("10.99.{}.{}/32", 200 + i / 250, 1 + i % 250);
    let mut out = String::new();
    for i in 0..n {
        out.push_str(&format!("address add {} dev eth0\n", addr(i)));
    }
    for l in middle {
        out.push_str(l);
        out.push('\n');
    }
    for i in 0..n {
        out.push_str(&format!("address del {} dev eth0\n", addr(i)));
    }
    out
}

/// Runs `batch` in `node` (`ip -batch`), bounded; how long it took.
fn run_batch(node: &Node, name: &str, batch: &str) -> Duration {
    let path = node.write_file(name, batch).expect("batch file");
    let t0 = Instant::now();
    let out = node
        .run_timeout(
            "ip",
            &["-batch", &path.to_string_lossy()],
            Duration::from_secs(60),
        )
        .expect("ip -batch");
    assert!(
        out.status.success(),
        "ip -batch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    t0.elapsed()
}

/// The resync lines logged so far.
fn resyncs(d: &DaemonProc) -> Vec<String> {
    log(d)
        .lines()
        .filter(|l| l.contains("resynchronised"))
        .map(str::to_string)
        .collect()
}

/// The tracked interface trk0 as `vrrpctl show` has it (up or not), and the priority.
fn trk0_and_priority(d: &DaemonProc) -> (Value, Value) {
    let s = show(d);
    let trk0 = s["trackers"]
        .as_array()
        .and_then(|t| t.iter().find(|t| t["name"] == "trk0"))
        .map(|t| t["up"].clone())
        .unwrap_or(Value::Null);
    (trk0, s["priority"].clone())
}

#[test]
fn a_netlink_overrun_is_followed_by_a_full_resync() {
    require!();
    let mut lab = Lab::new("nlovr").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let vip = IpAddr::V4(lab.vip4(100));
    let ip = |args: &[&str]| r1.run_ok("ip", args).expect("ip");
    ip(&[
        "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p",
    ]);
    ip(&["link", "set", "trk0p", "up"]);
    ip(&["link", "set", "trk0", "up"]);
    let track = "track_interface {\n        trk0 weight -50\n    }";
    let conf = conf(200, 1.0, vip, &[track]);
    // A tiny buffer, so that the burst overruns it for certain; `VRRPD_CHAOS_NETLINK_RCVBUF`
    // sets another for the figures (`default`: the daemon's own, 4 MiB), and then the
    // resync is only reported, not required.
    let knob = std::env::var("VRRPD_CHAOS_NETLINK_RCVBUF").unwrap_or_else(|_| "4096".into());
    let env: &[(&str, &str)] = match knob.as_str() {
        "default" => &[],
        bytes => &[("VRRPD_NETLINK_RCVBUF", bytes)],
    };
    let tiny = knob == "4096";
    let d = start(&lab, &vrrpd(), &r1, &conf, env);
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)
            && show(&d)["state"] == "MASTER"),
        "r1 should become Master{}",
        lab.diag()
    );
    let n = 5_000;

    // 1. The daemon stopped (SIGSTOP) through the burst: its buffer holds a handful of
    //    notifications, the VIP's removal and trk0 going down are certainly among the lost
    //    ones. Resumed, it must learn both from the resync alone.
    let middle = [
        format!("address del {vip}/24 dev eth0"),
        "link set dev trk0 down".to_string(),
    ];
    d.proc.kill_main(libc::SIGSTOP).expect("SIGSTOP");
    let took = run_batch(&r1, "stopped.batch", &flood_batch(n, &middle));
    d.proc.kill_main(libc::SIGCONT).expect("SIGCONT");
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "VIP not restored after the overrun:\n{}{}",
        d.tail(20),
        lab.diag()
    );
    assert!(
        wait_until(STEP, POLL, || trk0_and_priority(&d)
            == (false.into(), 150.into())),
        "trk0 is down in the kernel: {}",
        show(&d)
    );
    let first = resyncs(&d);
    eprintln!(
        "stopped daemon: {} changes in {:.0} ms; {} (load {})",
        2 * n + 2,
        took.as_secs_f64() * 1e3,
        first.join(" | "),
        loadavg()
    );
    if tiny {
        assert!(
            first
                .iter()
                .any(|l| l.contains("1 virtual address(es) to put back")),
            "the resync, not an event, restored the VIP: {first:?}"
        );
        assert_eq!(show(&d)["counters"]["vip_restores"], 1);
    }

    // 2. The daemon running through the same burst (trk0 up, the VIP deleted again): it
    //    overruns on its own; whatever was lost, the end state matches the kernel.
    let middle = [
        format!("address del {vip}/24 dev eth0"),
        "link set dev trk0 up".to_string(),
    ];
    let took = run_batch(&r1, "running.batch", &flood_batch(n, &middle));
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)
            && trk0_and_priority(&d) == (true.into(), 200.into())),
        "after the running flood: VIP {}, {}",
        r1.has_address(vip),
        show(&d)
    );
    let second = resyncs(&d);
    let overruns: u64 = second[first.len()..]
        .iter()
        .filter_map(|l| {
            let before = l.split(" overrun(s)").next()?;
            before.rsplit(' ').next()?.parse::<u64>().ok()
        })
        .sum();
    eprintln!(
        "running daemon: {} changes in {:.0} ms; {overruns} overrun(s), {} more resync(s): {} (load {})",
        2 * n + 2,
        took.as_secs_f64() * 1e3,
        second.len() - first.len(),
        second[first.len()..].join(" | "),
        loadavg()
    );
    assert_eq!(show(&d)["state"], "MASTER");
    assert!(d.is_running());
    keepalived_overrun(n);
}

/// keepalived 2.2.7 through the stopped-daemon burst, for the figures: its VRRP process
/// stopped meanwhile. Whether it put the VIP back and saw trk0 go down is printed.
fn keepalived_overrun(n: u32) {
    if Daemon::Keepalived.unavailable().is_some() {
        return;
    }
    let mut lab = Lab::new("nlovrk").expect("lab");
    let r1 = lab.add_router("r1").expect("router");
    let vip = IpAddr::V4(lab.vip4(100));
    let ip = |args: &[&str]| r1.run_ok("ip", args).expect("ip");
    ip(&[
        "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p",
    ]);
    ip(&["link", "set", "trk0p", "up"]);
    ip(&["link", "set", "trk0", "up"]);
    let track = "track_interface {\n        trk0 weight -50\n    }";
    let d = start(
        &lab,
        &Daemon::Keepalived,
        &r1,
        &conf(200, 1.0, vip, &[track]),
        &[],
    );
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "keepalived: r1 should become Master{}",
        lab.diag()
    );
    let children = d.proc.children();
    let signal = |sig| {
        for pid in &children {
            // SAFETY: kill(2) on the lab's own keepalived VRRP process, by PID.
            unsafe { libc::kill(*pid, sig) };
        }
    };
    let middle = [
        format!("address del {vip}/24 dev eth0"),
        "link set dev trk0 down".to_string(),
    ];
    signal(libc::SIGSTOP);
    let took = run_batch(&r1, "stopped.batch", &flood_batch(n, &middle));
    signal(libc::SIGCONT);
    std::thread::sleep(Duration::from_secs(3));
    let text = format!(
        "{}{}",
        fs::read_to_string(d.proc.stdout_path()).unwrap_or_default(),
        log(&d)
    );
    eprintln!(
        "keepalived (VRRP process stopped, {} changes in {:.0} ms): VIP on r1 3 s later: {}, overrun logged: {}, priority 150 logged: {}",
        2 * n + 2,
        took.as_secs_f64() * 1e3,
        r1.has_address(vip),
        text.contains("Receive buffer overrun"),
        text.contains("effective priority from 200 to 150")
    );
}
