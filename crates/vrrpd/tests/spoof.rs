//! Spoofed advertisements (docs/reliability.md, "Spoofed advertisements"): a Master r1
//! (priority 200), a Backup r2 (100) and an attacker on one LAN, run with vrrpd and with
//! keepalived 2.2.7 on the same keepalived.conf. The attacker sends from a raw socket
//! (`vrrp_testlab::attacker`) payloads of `vrrp_core::packet::encode`, or replays packets
//! captured on the bridge. Who really sent a packet is told by its Ethernet source.
//!
//! - unicast (`unicast_src_ip`, `unicast_peer`): a non-peer claims priority 254 to r1 for
//!   VI_1 (`check_unicast_src`) and VI_2 (without). VI_1 stays with r1, and vrrpd counts
//!   each packet in `unicast_src_errors`; VI_2 moves (r1 yields, r2 takes over).
//! - multicast, VRRPv3 VI_1 and VRRPv2 VI_2 (`auth_type PASS`): forged priority-0 adverts
//!   (from the attacker's address, from the Master's, and sent to r2's unicast address),
//!   a wrong password (counted by both daemons), then r1 killed and its captured adverts
//!   replayed: r2 does not take over while the replay lasts (VRRP has no defence against
//!   it), and takes over once it stops.
//!
//! The outcomes are printed (`--no-capture`) for the docs. A lab test (root, namespaces):
//! `SKIPPED` without root, a failure under `VRRPD_LAB_REQUIRED=1`; the lab kills what it
//! started and deletes its namespaces on drop.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::Value;
use vrrp_core::packet::{self, Advertisement, Auth, ChecksumForm, Version};
use vrrp_testlab::attacker::{self, Frame, GROUP4, RawSender, ip_packet, pcap_ipv4};
use vrrp_testlab::{Daemon, DaemonProc, KeepalivedConf, Lab, Node, VrrpInstance, lab_ready};

const START: Duration = Duration::from_secs(15);
/// VRRPv3 interval: Master_Down_Interval of r2 is 1.5 s + 0.305 s of Skew_Time.
const ADV: f64 = 0.5;
/// Unicast lab: the attacker claims 254, above the Master.
const MASTER: u8 = 200;
const BACKUP: u8 = 100;
/// Multicast lab: r2's Skew_Time is 11.7 ms (v3), so that a priority-0 advert moves the
/// role unless the Master answers it within that time.
const MASTER_M: u8 = 254;
const BACKUP_M: u8 = 250;

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

fn sleep(s: f64) {
    std::thread::sleep(Duration::from_secs_f64(s));
}

/// One router of the lab and its daemon.
struct Router {
    node: Node,
    d: DaemonProc,
    tmp: PathBuf,
}

impl Router {
    fn start(daemon: &Daemon, node: Node, conf: &str) -> Router {
        // keepalived writes its statistics to $TMPDIR/keepalived.stats: one per router.
        let tmp = node.lab_path(&format!("{}-tmp", node.name()));
        std::fs::create_dir_all(&tmp).expect("tmp dir");
        let tmp_s = tmp.to_string_lossy().into_owned();
        let d = daemon
            .start_with(&node, conf, &[], &[("TMPDIR", &tmp_s)])
            .expect("start the daemon");
        d.wait_ready(START).expect("daemon ready");
        Router { node, d, tmp }
    }

    /// The counters of `instance`: vrrpd's (`vrrpctl show --json`), or keepalived's
    /// statistics file (`Section/Line` names).
    fn counters(&self, instance: &str) -> BTreeMap<String, u64> {
        match &self.d.control_socket {
            Some(sock) => {
                let vrrpd = PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"));
                let out = Command::new(vrrp_testlab::vrrpctl_next_to(&vrrpd).expect("vrrpctl"))
                    .arg("--socket")
                    .arg(sock)
                    .args(["show", instance, "--json"])
                    .output()
                    .expect("run vrrpctl");
                let v: Value = serde_json::from_slice(&out.stdout).expect("show --json");
                v["counters"]
                    .as_object()
                    .map(|c| {
                        c.iter()
                            .map(|(k, v)| (k.clone(), v.as_u64().unwrap_or(0)))
                            .collect()
                    })
                    .unwrap_or_default()
            }
            None => attacker::keepalived_stats(&self.d, &self.tmp)
                .expect("keepalived stats")
                .remove(instance)
                .unwrap_or_default(),
        }
    }
}

/// What moved between two counter snapshots (sent advertisements left out).
fn moved(before: &BTreeMap<String, u64>, after: &BTreeMap<String, u64>) -> BTreeMap<String, u64> {
    after
        .iter()
        .filter(|(k, _)| !k.starts_with("sent_") && !k.ends_with("/Sent"))
        .map(|(k, v)| {
            (
                k.clone(),
                v.saturating_sub(before.get(k).copied().unwrap_or(0)),
            )
        })
        .filter(|(_, d)| *d != 0)
        .collect()
}

fn v3(vrid: u8, priority: u8, vip: Ipv4Addr) -> Advertisement {
    Advertisement {
        version: Version::V3,
        vrid,
        priority,
        interval_cs: (ADV * 100.0) as u16,
        auth: Auth::None,
        addresses: vec![IpAddr::V4(vip)],
    }
}

/// `adv` from `src` to `dst` with TTL 255, its checksum right.
fn forged(adv: &Advertisement, src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let vrrp = packet::encode(
        adv,
        IpAddr::V4(src),
        IpAddr::V4(dst),
        ChecksumForm::PseudoHeader,
    )
    .expect("encode");
    ip_packet(src, dst, 255, &vrrp)
}

/// Advertisements for `vrid` that `node` really sent (by its MAC), priority > 0, captured
/// within `[from, to]`.
fn adverts_of(frames: &[Frame], node: &Node, vrid: u8, from: f64, to: f64) -> usize {
    frames
        .iter()
        .filter(|f| f.t >= from && f.t <= to && f.src_mac == node.mac())
        .filter(|f| f.vrid_priority().is_some_and(|(v, p)| v == vrid && p > 0))
        .count()
}

fn frames(pcap: &Path) -> Vec<Frame> {
    pcap_ipv4(pcap).expect("read the capture")
}

fn conf_unicast(prio: u8, me: Ipv4Addr, peer: Ipv4Addr, vips: [Ipv4Addr; 2]) -> String {
    let inst = |name: &str, vrid, vip: Ipv4Addr| {
        VrrpInstance::new(name, "eth0", vrid, prio)
            .version(3)
            .advert_int(ADV)
            .unicast_src(me.to_string())
            .unicast_peer(peer.to_string())
            .vip(format!("{vip}/24"))
    };
    KeepalivedConf::new()
        .router_id(format!("spoof{prio}"))
        .instance(inst("VI_1", 51, vips[0]).line("check_unicast_src"))
        .instance(inst("VI_2", 52, vips[1]))
        .render()
}

fn unicast_non_peers_with(daemon: Daemon) {
    if !lab_ready(&["tcpdump"]) {
        return;
    }
    if daemon == Daemon::Keepalived && !lab_ready(&["keepalived"]) {
        return;
    }
    let mut lab = Lab::new("spoofu").expect("lab");
    let (n1, n2) = (
        lab.add_router("r1").expect("r1"),
        lab.add_router("r2").expect("r2"),
    );
    let atk = lab.add_host("atk").expect("atk");
    let vips = [lab.vip4(100), lab.vip4(101)];
    let (a1, a2) = (n1.ipv4(), n2.ipv4());
    let r1 = Router::start(&daemon, n1, &conf_unicast(MASTER, a1, a2, vips));
    assert!(
        vrrp_testlab::wait_until(START, Duration::from_millis(50), || {
            r1.node.has_address(vips[0]) && r1.node.has_address(vips[1])
        }),
        "r1 should be Master{}",
        lab.diag()
    );
    let r2 = Router::start(&daemon, n2, &conf_unicast(BACKUP, a2, a1, vips));
    sleep(4.0 * ADV);
    let capture = lab.capture("vrrp", "ip proto 112").expect("capture");
    let before = r1.counters("VI_1");
    // The attacker's first packets must not wait for ARP.
    assert!(
        atk.ping(a1, 1, Duration::from_secs(2)),
        "atk cannot reach r1"
    );
    let sender = RawSender::open(&atk).expect("raw socket");
    let packets = [
        forged(&v3(51, 254, vips[0]), atk.ipv4(), a1),
        forged(&v3(52, 254, vips[1]), atk.ipv4(), a1),
    ];
    let from = unix_now();
    let sent = sender.flood(&packets, 20, Duration::from_secs(3));
    let to = unix_now();
    sleep(0.3);
    let moved1 = moved(&before, &r1.counters("VI_1"));
    let all = frames(&capture.stop().expect("stop capture"));
    let took = |vrid| adverts_of(&all, &r2.node, vrid, from, to);
    // Round robin from VI_1: VI_1 gets the odd one.
    let per_vrid = sent.packets.div_ceil(2);
    eprintln!(
        "{}: unicast, {} spoofed adverts per VRID at 10/s: VI_1 (check_unicast_src): r2 adverts {}, \
         r1 VI_1 counters moved {moved1:?}; VI_2 (no check): r2 adverts {}",
        daemon.name(),
        per_vrid,
        took(51),
        took(52)
    );
    assert!(took(52) > 0, "VI_2 should move without check_unicast_src");
    if daemon != Daemon::Keepalived {
        // keepalived refuses them too, but each refused packet restarts its Master's
        // advertisement timer: at 10/s it stops advertising and r2 takes over (printed).
        assert_eq!(took(51), 0, "VI_1 moved to r2{}", lab.diag());
        assert!(r1.node.has_address(vips[0]), "r1 lost VI_1's VIP");
        // keepalived only logs them (and counts them as received advertisements).
        assert_eq!(
            moved1.get("unicast_src_errors").copied(),
            Some(per_vrid),
            "{moved1:?}"
        );
        assert!(r1.d.is_running() && r2.d.is_running());
    }
}

fn conf_multicast(prio: u8, vips: [Ipv4Addr; 2]) -> String {
    KeepalivedConf::new()
        .router_id(format!("spoof{prio}"))
        .instance(
            VrrpInstance::new("VI_1", "eth0", 51, prio)
                .version(3)
                .advert_int(ADV)
                .vip(format!("{}/24", vips[0])),
        )
        .instance(
            VrrpInstance::new("VI_2", "eth0", 61, prio)
                .version(2)
                .advert_int(1.0)
                .auth_pass("secret1")
                .vip(format!("{}/24", vips[1])),
        )
        .render()
}

/// Sends a forged priority-0 advert twice, 0.5 s apart; returns the window in which a
/// takeover by r2 is looked for, after giving r1 time to take the role back.
fn priority_zero(atk: &RawSender, packet: Vec<u8>) -> (f64, f64) {
    let from = unix_now();
    atk.flood(&[packet], 2, Duration::from_secs_f64(1.45));
    let to = unix_now() + 0.3;
    // r1 preempts a lower-priority Master at once: an interval or two settle it.
    sleep(0.3 + 2.0 * ADV);
    (from, to)
}

fn multicast_forgeries_and_replays_with(daemon: Daemon) {
    if !lab_ready(&["tcpdump"]) {
        return;
    }
    if daemon == Daemon::Keepalived && !lab_ready(&["keepalived"]) {
        return;
    }
    let mut lab = Lab::new("spoofm").expect("lab");
    let (n1, n2) = (
        lab.add_router("r1").expect("r1"),
        lab.add_router("r2").expect("r2"),
    );
    let atk = lab.add_host("atk").expect("atk");
    let vips = [lab.vip4(100), lab.vip4(101)];
    let (a1, a2, a) = (n1.ipv4(), n2.ipv4(), atk.ipv4());
    let capture = lab.capture("vrrp", "ip proto 112").expect("capture");
    let r1 = Router::start(&daemon, n1, &conf_multicast(MASTER_M, vips));
    assert!(
        vrrp_testlab::wait_until(START, Duration::from_millis(50), || {
            r1.node.has_address(vips[0]) && r1.node.has_address(vips[1])
        }),
        "r1 should be Master{}",
        lab.diag()
    );
    let r2 = Router::start(&daemon, n2, &conf_multicast(BACKUP_M, vips));
    sleep(2.0);
    let sender = RawSender::open(&atk).expect("raw socket");
    let zero = v3(51, 0, vips[0]);
    let cases = [
        (
            "priority 0 from the attacker, to the group",
            forged(&zero, a, GROUP4),
        ),
        (
            "priority 0 from the Master's address, to the group",
            forged(&zero, a1, GROUP4),
        ),
        (
            "priority 0 from the attacker, to r2's address",
            forged(&zero, a, a2),
        ),
    ];
    let mut windows = Vec::new();
    for (what, p) in cases {
        windows.push((what, priority_zero(&sender, p)));
    }

    // A wrong password for VI_2, five times.
    let before2 = r2.counters("VI_2");
    let wrong = Advertisement {
        version: Version::V2,
        vrid: 61,
        priority: 254,
        interval_cs: 100,
        auth: Auth::simple_password("guessed"),
        addresses: vec![IpAddr::V4(vips[1])],
    };
    let wrong = forged(&wrong, a, GROUP4);
    for _ in 0..5 {
        sender.send(&wrong).expect("send");
        sleep(0.05);
    }
    sleep(0.3);
    let moved_pass = moved(&before2, &r2.counters("VI_2"));

    // Replays: r1's own adverts from the capture, after r1 died.
    let genuine = |vrid: u8| {
        frames(capture.path())
            .into_iter()
            .find(|f| f.src_mac == r1.node.mac() && f.vrid_priority() == Some((vrid, MASTER_M)))
            .map(|f| f.ip)
            .expect("a captured advert of r1")
    };
    let replays = [genuine(51), genuine(61)];
    r1.d.crash().expect("kill r1");
    let killed = unix_now();
    let before_r2 = r2.counters("VI_1");
    // Master_Down_Interval: VI_1 1.51 s, VI_2 (advert_int 1) 3.02 s.
    sender.flood(&replays, 4, Duration::from_secs_f64(4.5));
    let replay_end = unix_now();
    let moved_replay = moved(&before_r2, &r2.counters("VI_1"));
    let took_over =
        vrrp_testlab::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
            r2.node.has_address(vips[0]) && r2.node.has_address(vips[1])
        });
    let took_at = unix_now();
    let all = frames(&capture.stop().expect("stop capture"));

    let mut failures = Vec::new();
    for (what, (from, to)) in &windows {
        let n = adverts_of(&all, &r2.node, 51, *from, *to);
        let answers = adverts_of(&all, &r1.node, 51, *from, *to);
        eprintln!(
            "{}: {what}: r2 (Backup) sent {n} VI_1 adverts (took over: {}); r1 sent {answers}",
            daemon.name(),
            n > 0
        );
        if what.contains("r2's address") && daemon != Daemon::Keepalived && n > 0 {
            failures.push(format!("{what}: r2 took over"));
        }
    }
    let during = [51, 61].map(|v| adverts_of(&all, &r2.node, v, killed, replay_end));
    eprintln!(
        "{}: wrong password x5 at r2: {moved_pass:?}; replay of r1's adverts for 4.5 s after its death: \
         r2 adverts VI_1/VI_2 {during:?}, r2 VI_1 counters {moved_replay:?}; r2 took over {:.1} s after the replay stopped",
        daemon.name(),
        took_at - replay_end
    );
    let auth = if daemon == Daemon::Keepalived {
        "Authentication Errors/Failure"
    } else {
        "auth_failures"
    };
    if moved_pass.get(auth) != Some(&5) {
        failures.push(format!("wrong password not counted: {moved_pass:?}"));
    }
    if during != [0, 0] {
        failures.push(format!("r2 took over during the replay: {during:?}"));
    }
    if !took_over {
        failures.push("r2 did not take over after the replay".into());
    }
    assert!(failures.is_empty(), "{failures:#?}{}", lab.diag());
}

fn vrrpd() -> Daemon {
    Daemon::Vrrpd {
        binary: PathBuf::from(env!("CARGO_BIN_EXE_vrrpd")),
    }
}

/// vrrpd and keepalived at once, each on a lab of its own (the binary's wall time halves).
fn both(scenario: fn(Daemon)) {
    std::thread::scope(|s| {
        let k = s.spawn(|| scenario(Daemon::Keepalived));
        let v = s.spawn(|| scenario(vrrpd()));
        let (k, v) = (k.join(), v.join());
        if let Err(e) = v.and(k) {
            std::panic::resume_unwind(e);
        }
    });
}

#[test]
fn unicast_non_peers() {
    both(unicast_non_peers_with);
}

#[test]
fn multicast_forgeries_and_replays() {
    both(multicast_forgeries_and_replays_with);
}
