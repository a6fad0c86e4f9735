//! Link flaps with and without `interface_up_down_delays`: the Master's `eth0` and a
//! tracked interface set down and up at several lengths.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp_testlab::churn::{self, States};
use vrrp_testlab::{Daemon, DaemonProc, Lab, Node, require, wait_until};

use super::{Lazy, POLL, START, knob, loadavg, side_by_side, start};

/// VRRPv3 at 0.5 s: the Backup's Master_Down_Interval (priority 100) is 1.8 s, longer
/// than a short flap and the down delay together, as keepalived's man page asks.
const INTERVAL: f64 = 0.5;
/// `interface_up_down_delays` (down, up), both interfaces.
const DELAY: Duration = Duration::from_millis(600);
const SHORT: Duration = Duration::from_millis(200);
/// Longer than the down delay and the Backup's Master_Down_Interval after it (a tracked
/// interface's weight lowers the Master's priority, whose adverts then no longer hold
/// the Backup off).
const LONG: Duration = Duration::from_millis(3500);
/// Between short flaps: the up delay and more.
const BETWEEN: Duration = Duration::from_millis(800);

/// name, VRID, VIP host number, tracking of `trk0`.
const INSTANCES: [(&str, u8, u8, &str); 3] = [
    ("VI_1", 51, 100, ""),
    (
        "VI_T",
        52,
        101,
        "    track_interface {\n        trk0 weight -150\n    }\n",
    ),
    (
        "VI_F",
        53,
        102,
        "    track_interface {\n        trk0\n    }\n",
    ),
];

fn conf(lab: &Lab, node: usize, delays: bool) -> String {
    let prio = if node == 0 { 200 } else { 100 };
    let mut s = format!("global_defs {{\n    router_id r{}\n}}\n", node + 1);
    if delays {
        let d = DELAY.as_secs_f64();
        s.push_str(&format!(
            "interface_up_down_delays {{\n    eth0 {d} {d}\n    trk0 {d} {d}\n}}\n"
        ));
    }
    for (name, vrid, vip, track) in INSTANCES {
        s.push_str(&format!(
            "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    \
             version 3\n    priority {prio}\n    advert_int {INTERVAL}\n{track}    \
             virtual_ipaddress {{\n        {}/24\n    }}\n}}\n",
            lab.vip4(vip)
        ));
    }
    s
}

struct Pair {
    lab: Lab,
    r: [Node; 2],
    d: Vec<[DaemonProc; 2]>,
}

impl Pair {
    fn vip(&self, i: usize) -> IpAddr {
        IpAddr::V4(self.lab.vip4(INSTANCES[i].2))
    }

    fn r1_master(&self) -> bool {
        (0..3).all(|i| self.r[0].has_address(self.vip(i)) && !self.r[1].has_address(self.vip(i)))
    }

    /// Every instance's states so far, per node, over every daemon process it ran.
    fn states(&self) -> [[States; 3]; 2] {
        let mut out = [[States::default(); 3]; 2];
        for pair in &self.d {
            for (n, d) in pair.iter().enumerate() {
                for (i, x) in out[n].iter_mut().enumerate() {
                    *x = *x + churn::states(d, INSTANCES[i].0);
                }
            }
        }
        out
    }

    fn start(&mut self, daemon: &Daemon, delays: bool) {
        let a = start(&self.lab, daemon, &self.r[0], &conf(&self.lab, 0, delays));
        let up = wait_until(START, POLL, || {
            (0..3).all(|i| self.r[0].has_address(self.vip(i)))
        });
        assert!(up, "{daemon}: r1 not Master{}", self.lab.diag());
        let b = start(&self.lab, daemon, &self.r[1], &conf(&self.lab, 1, delays));
        self.d.push([a, b]);
        std::thread::sleep(Duration::from_secs(1));
    }

    /// The configuration with or without delays, applied by a reload (SIGHUP), so that a
    /// reload is seen to change the delays.
    fn reload(&self, delays: bool) {
        for (n, d) in self.d.iter().flatten().enumerate() {
            churn::swap_file(&d.conf, &conf(&self.lab, n, delays)).expect("conf");
            d.proc.kill_main(libc::SIGHUP).expect("SIGHUP");
        }
        std::thread::sleep(Duration::from_secs(1));
    }
}

fn set(node: &Node, ifname: &str, up: bool) {
    let state = if up { "up" } else { "down" };
    node.run_ok("ip", &["link", "set", ifname, state])
        .unwrap_or_else(|e| panic!("ip link set {ifname} {state}: {e}"));
}

/// One series' outcome: states entered per node and instance, and the time from the
/// last link up to r1 holding every VIP again.
struct Series {
    name: String,
    /// One flap of `LONG` (else short ones).
    long: bool,
    states: [[States; 3]; 2],
    recovery: Option<Duration>,
}

/// `count` flaps of `down` on r1's `ifname`, `BETWEEN` apart; then waits (bounded) for
/// r1 to be Master of every instance again.
fn series(p: &Pair, name: String, ifname: &str, count: u32, down: Duration) -> Series {
    let before = p.states();
    let mut up_at = Instant::now();
    for k in 0..count {
        if k > 0 {
            std::thread::sleep(BETWEEN);
        }
        set(&p.r[0], ifname, false);
        std::thread::sleep(down);
        set(&p.r[0], ifname, true);
        up_at = Instant::now();
    }
    let back = wait_until(Duration::from_secs(12), POLL, || p.r1_master());
    let recovery = back.then(|| up_at.elapsed());
    // A late takeover, or one after the return, would show here.
    std::thread::sleep(Duration::from_millis(1200));
    let after = p.states();
    let mut states = [[States::default(); 3]; 2];
    for n in 0..2 {
        for i in 0..3 {
            states[n][i] = after[n][i] - before[n][i];
        }
    }
    Series {
        name,
        long: down == LONG,
        states,
        recovery,
    }
}

fn run(daemon: Daemon) -> (Pair, Vec<Series>) {
    let flaps: u32 = knob("VRRPD_CHURN_FLAPS", 2);
    let mut lab = Lab::new(&format!("fl{}", &daemon.name()[..1])).expect("lab");
    let r = [
        lab.add_router("r1").expect("router"),
        lab.add_router("r2").expect("router"),
    ];
    // The tracked interface: a veth pair inside the node (this kernel may lack dummy).
    for n in &r {
        n.run_ok(
            "ip",
            &[
                "link", "add", "trk0", "type", "veth", "peer", "name", "trk0p",
            ],
        )
        .expect("veth");
        set(n, "trk0p", true);
        set(n, "trk0", true);
    }
    let mut p = Pair {
        lab,
        r,
        d: Vec::new(),
    };
    let mut out = Vec::new();
    for delays in [true, false] {
        if delays {
            p.start(&daemon, delays);
        } else {
            p.reload(delays);
        }
        let tag = if delays { "delays" } else { "no delays" };
        for ifname in ["eth0", "trk0"] {
            let (s, l) = (SHORT.as_millis(), LONG.as_millis());
            out.push(series(
                &p,
                format!("{tag}, {ifname} {flaps} x {s} ms"),
                ifname,
                flaps,
                SHORT,
            ));
            out.push(series(
                &p,
                format!("{tag}, {ifname} 1 x {l} ms"),
                ifname,
                1,
                LONG,
            ));
        }
    }
    (p, out)
}

fn report(daemon: &str, series: &[Series]) {
    for s in series {
        let cells: Vec<String> = (0..2)
            .map(|n| {
                let per: Vec<String> = s.states[n]
                    .iter()
                    .zip(INSTANCES)
                    .map(|(x, i)| format!("{} {x}", i.0))
                    .collect();
                format!("r{} [{}]", n + 1, per.join(", "))
            })
            .collect();
        let rec = s.recovery.map_or("no return".into(), |d| {
            format!("{:.0} ms", d.as_secs_f64() * 1e3)
        });
        eprintln!(
            "churn-flap: {daemon} {:<26} back {rec:>9}; {}",
            s.name,
            cells.join("; ")
        );
    }
}

fn check(p: &Pair, series: &[Series]) {
    let diag = Lazy(|| p.lab.diag());
    let zero = States::default();
    let cycle_r1 = |x: &States| x.master == 1 && x.fault + x.backup >= 1;
    let cycle_r2 = |x: &States| (x.master, x.backup, x.fault) == (1, 1, 0);
    for s in series {
        let (r1, r2) = (&s.states[0], &s.states[1]);
        let what = Lazy(|| format!("{}: r1 {r1:?} r2 {r2:?}{diag}", s.name));
        assert!(s.recovery.is_some(), "{}: r1 did not return{diag}", s.name);
        let delays = s.name.starts_with("delays");
        let long = s.long;
        let eth0 = s.name.contains("eth0");
        match (delays, long, eth0) {
            (true, false, _) => assert_eq!([*r1, *r2], [[zero; 3]; 2], "{what}"),
            (true, true, true) => {
                assert!(r1.iter().all(|x| x.fault == 1 && cycle_r1(x)), "{what}");
                assert!(r2.iter().all(cycle_r2), "{what}");
            }
            (true, true, false) => {
                assert_eq!((r1[0], r2[0]), (zero, zero), "{what}");
                assert!(r1[1].fault == 0 && cycle_r1(&r1[1]), "{what}");
                assert!(r1[2].fault == 1 && cycle_r1(&r1[2]), "{what}");
                assert!(cycle_r2(&r2[1]) && cycle_r2(&r2[2]), "{what}");
            }
            // Without delays every flap is followed: r1 left Master each time.
            (false, _, true) => {
                let flaps = if long {
                    1
                } else {
                    knob("VRRPD_CHURN_FLAPS", 2)
                };
                assert!(r1.iter().all(|x| x.fault >= flaps), "{what}");
            }
            (false, _, false) => {
                let flaps = if long {
                    1
                } else {
                    knob("VRRPD_CHURN_FLAPS", 2)
                };
                assert!(r1[2].fault >= flaps, "{what}");
                assert_eq!((r1[0], r2[0]), (zero, zero), "{what}");
            }
        }
        if delays && long {
            // The Master returns no sooner than the up delay after the link.
            let rec = s.recovery.unwrap_or_default();
            assert!(rec >= DELAY, "{}: back after {rec:?}{diag}", s.name);
        }
    }
}

#[test]
fn link_flaps_with_up_down_delays() {
    require!("ip");
    eprintln!("churn-flap: load before {}", loadavg());
    let ((p, v), k) = side_by_side(run);
    report("vrrpd", &v);
    if let Some((_, k)) = &k {
        report("keepalived", k);
        assert!(!k.is_empty(), "keepalived did not run");
    }
    eprintln!("churn-flap: load after {}", loadavg());
    check(&p, &v);
}
