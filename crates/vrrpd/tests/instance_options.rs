//! keepalived's less common `vrrp_instance` keywords where the wire shows them, in network
//! namespaces (`vrrp-testlab`): `unicast_ttl` (the TTL of unicast adverts, and a Backup that
//! still hears them), `garp_extra_if all` (GARPs on the other interface of a VIP), and
//! `notify_deleted` (a reload that removes instances notifies DELETED, or FAULT without it),
//! `notify_priority_changes` (priority lines on the VRRP FIFO), `track_src_ip` (FAULT while
//! the source address is gone), and the GARP pacing of `garp_master_repeat`,
//! `garp_master_delay` and `vrrp_garp_interval`.
//!
//! The tests need root and tcpdump; without them they print `SKIPPED: ...` (a failure under
//! `VRRPD_LAB_REQUIRED=1`). The lab removes its namespaces and processes when dropped, also
//! when a test panics. Each test takes under 15 s.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, SIGTERM, require, run_bounded, wait_until};

/// Bound of every wait for a protocol step; generous for a loaded two-core machine.
const STEP: Duration = Duration::from_secs(15);
const POLL: Duration = Duration::from_millis(20);

fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    }
    .start(node, conf)
    .expect("spawn vrrpd");
    d.wait_started(Duration::from_secs(10))
        .unwrap_or_else(|e| panic!("vrrpd starts: {e}\n{}", d.tail(30)));
    d
}

/// `tcpdump -r PCAP -n -e -v`: one text line per packet.
fn read_pcap(path: &Path) -> String {
    let mut cmd = Command::new("tcpdump");
    cmd.args(["-r", &path.to_string_lossy(), "-n", "-e", "-v"]);
    let out = run_bounded(cmd, Duration::from_secs(10)).expect("tcpdump -r");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn script(lab: &Lab, name: &str, body: &str) -> PathBuf {
    let path = lab
        .write_file(name, &format!("#!/bin/sh\n{body}"))
        .expect("write a script");
    fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).expect("chmod 0755");
    path
}

/// Two routers advertise to each other by unicast with `unicast_ttl 64`: every advert on
/// the wire has TTL 64, and the Backup accepts them (it does not become Master as well).
#[test]
fn unicast_adverts_carry_the_configured_ttl() {
    require!("tcpdump");
    let mut lab = Lab::new("uttl").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let r2 = lab.add_router("r2").expect("r2");
    let vip = lab.vip4(100);
    let conf = |me: &Node, peer: &Node, priority: u8| {
        format!(
            "vrrp_instance VI_1 {{\n    interface {}\n    virtual_router_id 51\n    priority {priority}\n    version 3\n    advert_int 0.1\n    unicast_src_ip {}\n    unicast_ttl 64\n    unicast_peer {{\n        {}\n    }}\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n",
            me.ifname(),
            me.ipv4(),
            peer.ipv4()
        )
    };
    let capture = lab.capture("uttl", "ip proto 112").expect("tcpdump");
    let d2 = start_vrrpd(&r2, &conf(&r2, &r1, 100));
    let d1 = start_vrrpd(&r1, &conf(&r1, &r2, 200));
    let sole = || r1.has_address(vip) && !r2.has_address(vip);
    assert!(
        wait_until(STEP, POLL, sole),
        "r1 should hold {vip} alone:\n{}",
        lab.diag()
    );
    // Stays so: r2 hears r1's TTL-64 adverts (10 per second).
    assert!(
        !wait_until(Duration::from_secs(2), POLL, || !sole()),
        "r2 took {vip} too: it discards TTL 64?\n{}",
        d2.tail(20)
    );
    let pcap = capture.stop().expect("stop tcpdump");
    let _ = (d1.stop(STEP), d2.stop(STEP));
    let text = read_pcap(&pcap);
    let adverts: Vec<&str> = text.lines().filter(|l| l.contains("VRRP")).collect();
    assert!(adverts.len() >= 10, "too few adverts captured:\n{text}");
    // Shutdown adverts (priority 0) leave with the same TTL.
    let wrong: Vec<&&str> = adverts.iter().filter(|l| !l.contains("ttl 64")).collect();
    assert!(wrong.is_empty(), "adverts without TTL 64: {wrong:#?}");
}

/// `garp_extra_if all 1`: while Master, one gratuitous ARP a second for the VIP that lives on
/// another interface (a veth inside the router here), with that interface's MAC, after the
/// burst every VIP gets on its own interface on becoming Master.
#[test]
fn garp_extra_if_sends_gratuitous_arps_on_the_other_interface() {
    require!("tcpdump");
    let mut lab = Lab::new("gxif").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    // A veth pair inside r1 (no dummy module needed): xtra0 is the VIP's interface.
    r1.run_ok(
        "ip",
        &[
            "link", "add", "xtra0", "type", "veth", "peer", "name", "xtra1",
        ],
    )
    .expect("veth");
    for ifname in ["xtra0", "xtra1"] {
        r1.run_ok("ip", &["link", "set", ifname, "up"]).expect("up");
    }
    let mac = r1
        .run_ok("cat", &["/sys/class/net/xtra0/address"])
        .expect("mac")
        .trim()
        .to_string();
    let (vip, other) = (lab.vip4(100), lab.vip4(222));
    let pcap = lab.dir().join("xtra0.pcap");
    let capture = r1
        .spawn(
            "tcpdump",
            &[
                "-i",
                "xtra0",
                "--immediate-mode",
                "-U",
                "-n",
                "-w",
                &pcap.to_string_lossy(),
                "arp",
            ],
            &[],
        )
        .expect("tcpdump");
    assert!(
        wait_until(Duration::from_secs(5), POLL, || {
            fs::read_to_string(capture.stderr_path()).is_ok_and(|t| t.contains("listening on"))
        }),
        "tcpdump did not start: {}",
        capture.tail(5)
    );
    let conf = format!(
        "vrrp_instance VI_1 {{\n    interface {}\n    virtual_router_id 52\n    priority 255\n    version 3\n    advert_int 0.1\n    garp_master_delay 0\n    garp_extra_if all 1\n    virtual_ipaddress {{\n        {vip}/24\n        {other}/32 dev xtra0\n    }}\n}}\n",
        r1.ifname()
    );
    let d = start_vrrpd(&r1, &conf);
    assert!(
        wait_until(STEP, POLL, || r1.has_address(other)),
        "{other} not added on xtra0:\n{}",
        d.tail(20)
    );
    std::thread::sleep(Duration::from_millis(3_600));
    capture.kill(SIGTERM).expect("stop tcpdump");
    let _ = capture.wait_timeout(Duration::from_secs(5));
    let _ = d.stop(STEP);
    let text = read_pcap(&pcap);
    let garps: Vec<&str> = text
        .lines()
        .filter(|l| l.contains(&other.to_string()))
        .collect();
    // garp_master_repeat's 5 on becoming Master (each VIP on its own interface, as
    // keepalived sends them), then about 3 in 3.6 s: at 1, 2 and 3 s (0.5 s of slack for a
    // loaded machine).
    assert!(
        (7..=9).contains(&garps.len()),
        "expected 5 + about 3 GARPs for {other} on xtra0:\n{text}"
    );
    assert!(
        garps.iter().all(|l| l.contains(&mac)),
        "GARPs not from xtra0's MAC {mac}:\n{text}"
    );
    assert!(
        !text.contains(&format!("{vip},")) && !text.contains(&format!("{vip} ")),
        "{vip} lives on the instance's interface, not on xtra0:\n{text}"
    );
}

/// `garp_master_repeat 2`, `garp_master_delay 1` and `vrrp_garp_interval 0.05` with three
/// VIPs, as keepalived documents them: on becoming Master a burst of 2 rounds (6 GARPs), a
/// second one 1 s later, and never two GARPs on the interface closer than 50 ms.
#[test]
fn garp_bursts_follow_repeat_delay_and_interval() {
    require!("tcpdump");
    let mut lab = Lab::new("gpace").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let vips = [lab.vip4(100), lab.vip4(101), lab.vip4(102)];
    let capture = lab
        .capture("gpace", &format!("arp and ether src {}", r1.mac()))
        .expect("tcpdump");
    let conf = format!(
        "global_defs {{\n    vrrp_garp_interval 0.05\n}}\nvrrp_instance VI_1 {{\n    interface {}\n    virtual_router_id 53\n    priority 255\n    version 3\n    advert_int 0.1\n    garp_master_repeat 2\n    garp_master_delay 1\n    virtual_ipaddress {{\n        {}/24\n        {}/24\n        {}/24\n    }}\n}}\n",
        r1.ifname(),
        vips[0],
        vips[1],
        vips[2]
    );
    let d = start_vrrpd(&r1, &conf);
    assert!(
        wait_until(STEP, POLL, || vips.iter().all(|&v| r1.has_address(v))),
        "VIPs not added:\n{}",
        d.tail(20)
    );
    std::thread::sleep(Duration::from_millis(2_500));
    let pcap = capture.stop().expect("stop tcpdump");
    let _ = d.stop(STEP);
    let mut cmd = Command::new("tcpdump");
    cmd.args(["-r", &pcap.to_string_lossy(), "-n", "-tt"]);
    let out = run_bounded(cmd, Duration::from_secs(10)).expect("tcpdump -r");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    // Gratuitous: "who-has V tell V"; the time is the first word.
    let times: Vec<f64> = text
        .lines()
        .filter(|l| {
            vips.iter()
                .any(|v| l.contains(&format!("who-has {v} tell {v},")))
        })
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    assert_eq!(times.len(), 12, "expected 2 bursts of 2 x 3 GARPs:\n{text}");
    let gaps: Vec<f64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // 45 ms: the pacing is 50 ms, the capture's timestamps are not exact.
    assert!(
        gaps.iter().all(|&g| g >= 0.045),
        "GARPs closer than vrrp_garp_interval: {gaps:?}\n{text}"
    );
    // The second burst's first GARP about 1 s after the first burst's (wide margins for a
    // loaded machine; its own pacing may push it later).
    let second = times[6] - times[0];
    assert!(
        (0.8..=1.8).contains(&second),
        "second burst {second:.3} s after the first, expected about 1 s:\n{text}"
    );
    assert!(
        gaps[..5].iter().all(|&g| g < 0.5) && gaps[6..].iter().all(|&g| g < 0.5),
        "a burst's GARPs should follow each other at the pacing: {gaps:?}"
    );
}

/// A reload that removes two Master instances: the one with `notify_deleted SCRIPT` is
/// notified DELETED and its script runs; the other one FAULT (keepalived's default). The
/// instance that stays is not notified again.
#[test]
fn notify_deleted_runs_when_a_reload_removes_the_instance() {
    require!();
    let mut lab = Lab::new("ndel").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let log = lab.dir().join("notify.log");
    let notify = script(
        &lab,
        "notify.sh",
        &format!("echo \"$*\" >> {}\n", log.display()),
    );
    let deleted = script(
        &lab,
        "deleted.sh",
        &format!("echo \"deleted.sh $*\" >> {}\n", log.display()),
    );
    let instance = |name: &str, vrid: u8, extra: &str| {
        format!(
            "vrrp_instance {name} {{\n    interface {}\n    virtual_router_id {vrid}\n    priority 255\n    version 3\n    advert_int 0.1\n    notify {}\n{extra}    virtual_ipaddress {{\n        {}/24\n    }}\n}}\n",
            r1.ifname(),
            notify.display(),
            lab.vip4(vrid + 100),
        )
    };
    let kept = instance("VI_1", 1, "");
    let full = format!(
        "global_defs {{\n    script_user root\n}}\n{kept}{}{}",
        instance(
            "VI_2",
            2,
            &format!("    notify_deleted \"{} gone\"\n", deleted.display())
        ),
        instance("VI_3", 3, ""),
    );
    let d = start_vrrpd(&r1, &full);
    let read = || fs::read_to_string(&log).unwrap_or_default();
    let masters = || {
        let l = read();
        (1..=3).all(|i| l.contains(&format!("INSTANCE VI_{i} MASTER 255")))
    };
    assert!(
        wait_until(STEP, POLL, masters),
        "three Masters:\n{}\n{}",
        read(),
        d.tail(20)
    );
    let before = read();
    let reduced = format!("global_defs {{\n    script_user root\n}}\n{kept}");
    fs::write(&d.conf, reduced).expect("rewrite the configuration");
    d.proc.kill_main(libc::SIGHUP).expect("SIGHUP");
    let notified = || {
        let l = read();
        l.contains("INSTANCE VI_2 DELETED 255")
            && l.contains("deleted.sh gone")
            && l.contains("INSTANCE VI_3 FAULT 255")
    };
    assert!(
        wait_until(STEP, POLL, notified),
        "after the reload:\n{}\n{}",
        read(),
        d.tail(20)
    );
    // Nothing else: no STOP for the removed ones, nothing for VI_1.
    std::thread::sleep(Duration::from_millis(300));
    let after = read();
    let new = &after[before.len()..];
    assert_eq!(new.lines().count(), 3, "unexpected notifications:\n{new}");
    assert!(!d.tail(50).contains("panicked"));
    let _ = d.stop(STEP);
}

/// `notify_priority_changes`: a `track_file` change that lowers the priority of two Masters
/// writes `INSTANCE "VI_1" MASTER_PRIORITY 80` to the VRRP FIFO for the instance that asks
/// for it, and nothing for the other one.
#[test]
fn notify_priority_changes_writes_fifo_lines() {
    require!();
    let mut lab = Lab::new("nprio").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let (fifo, copied, level) = (
        lab.dir().join("vrrp.fifo"),
        lab.dir().join("fifo.out"),
        lab.dir().join("level"),
    );
    fs::write(&level, "0\n").expect("level");
    // vrrpd starts the reader with the FIFO as its last argument.
    let reader = script(
        &lab,
        "reader.sh",
        &format!(
            "trap '' TERM\nwhile read -r line; do echo \"$line\" >> {}; done < \"$1\"\n",
            copied.display()
        ),
    );
    let instance = |name: &str, vrid: u8, extra: &str| {
        format!(
            "vrrp_instance {name} {{\n    interface {}\n    virtual_router_id {vrid}\n    priority 100\n    version 3\n    advert_int 0.1\n{extra}    track_file {{\n        level\n    }}\n    virtual_ipaddress {{\n        {}/24\n    }}\n}}\n",
            r1.ifname(),
            lab.vip4(vrid + 100),
        )
    };
    let conf = format!(
        "global_defs {{\n    script_user root\n    vrrp_notify_fifo {}\n    vrrp_notify_fifo_script \"{}\"\n}}\nvrrp_track_file level {{\n    file \"{}\"\n    weight -10\n}}\n{}{}",
        fifo.display(),
        reader.display(),
        level.display(),
        instance("VI_1", 1, "    notify_priority_changes\n"),
        instance("VI_2", 2, ""),
    );
    let d = start_vrrpd(&r1, &conf);
    let read = || fs::read_to_string(&copied).unwrap_or_default();
    let masters = || {
        let l = read();
        l.contains("INSTANCE \"VI_1\" MASTER 100") && l.contains("INSTANCE \"VI_2\" MASTER 100")
    };
    assert!(
        wait_until(STEP, POLL, masters),
        "two Masters:\n{}\n{}",
        read(),
        d.tail(20)
    );
    fs::write(&level, "2\n").expect("level 2");
    assert!(
        wait_until(STEP, POLL, || read()
            .contains("INSTANCE \"VI_1\" MASTER_PRIORITY 80")),
        "VI_1's priority line:\n{}\n{}",
        read(),
        d.tail(20)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        !read().contains("\"VI_2\" MASTER_PRIORITY") && !read().contains("BACKUP_PRIORITY"),
        "only VI_1 asked for priority lines:\n{}",
        read()
    );
    let _ = d.stop(STEP);
}

/// `track_src_ip`: the Master whose `mcast_src_ip` is removed from the host goes to FAULT
/// and releases its VIP; the address back, it is Master again.
#[test]
fn track_src_ip_faults_while_the_source_address_is_gone() {
    require!();
    let mut lab = Lab::new("tsrc").expect("lab");
    let r1 = lab.add_router("r1").expect("r1");
    let (src, vip) = (lab.ipv4(150), lab.vip4(100));
    let src_cidr = format!("{src}/24");
    r1.add_address(&src_cidr).expect("source address");
    let conf = format!(
        "vrrp_instance VI_1 {{\n    interface {}\n    virtual_router_id 55\n    priority 100\n    version 3\n    advert_int 0.1\n    mcast_src_ip {src}\n    track_src_ip\n    virtual_ipaddress {{\n        {vip}/24\n    }}\n}}\n",
        r1.ifname()
    );
    let d = start_vrrpd(&r1, &conf);
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "Master with {vip}:\n{}",
        d.tail(20)
    );
    r1.del_address(&src_cidr)
        .expect("remove the source address");
    assert!(
        wait_until(STEP, POLL, || !r1.has_address(vip)),
        "{vip} still held without {src}:\n{}",
        d.tail(20)
    );
    let log = fs::read_to_string(d.proc.stderr_path()).unwrap_or_default();
    assert!(
        log.contains(&format!("source address {src} is gone")) && log.contains("FAULT"),
        "{log}"
    );
    r1.add_address(&src_cidr).expect("source address back");
    assert!(
        wait_until(STEP, POLL, || r1.has_address(vip)),
        "Master again with {src} back:\n{}",
        d.tail(20)
    );
    let _ = d.stop(STEP);
}
