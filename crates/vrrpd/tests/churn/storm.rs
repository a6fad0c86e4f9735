//! Reload storms during failovers: SIGHUP every 100-200 ms to both nodes of a pair while
//! the configuration stays, alternates, breaks, crosses the peer's priority, and while the
//! Master is killed and restarted.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp_testlab::chaos::{AddressEvents, realtime_ns};
use vrrp_testlab::churn::{self, Lateness, Pace, States, Usage};
use vrrp_testlab::{Capture, Daemon, DaemonProc, Lab, Node, require, wait_until};

use super::{POLL, START, knob, loadavg, side_by_side, start, vrrpctl};

#[path = "storm_figures.rs"]
mod figures;
use figures::{check, report};

/// The instances: name, VRID, version, interval (s), VIP host number.
const INSTANCES: [(&str, u8, u8, f64, u8); 4] = [
    ("V3A", 51, 3, 0.1, 100),
    ("V3B", 52, 3, 0.1, 101),
    ("V2A", 61, 2, 1.0, 110),
    ("V2B", 62, 2, 1.0, 111),
];
/// The sync group's members (moved together by the crossing priority).
const SYNCED: [&str; 2] = ["V3A", "V3B"];

/// The configurations swapped under the daemons.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Variant {
    /// The base.
    A,
    /// V2B has a second VIP, V2A another priority (not crossing the peer's), and V2C is
    /// added.
    B,
    /// The sync group's members on r1 below r2's priority: the group moves to r2. (One
    /// member alone would not move it: members go Master together or not at all, and the
    /// other still hears r1, as in keepalived.)
    Low,
    /// A syntax error.
    Bad,
}

fn conf(lab: &Lab, node: usize, host: &Node, v: Variant) -> String {
    let base: u8 = if node == 0 { 200 } else { 100 };
    let mut s = format!(
        "global_defs {{\n    router_id r{}\n}}\n\
         vrrp_sync_group G1 {{\n    group {{\n        V3A\n        V3B\n    }}\n}}\n",
        node + 1
    );
    for (name, vrid, version, interval, vip) in INSTANCES {
        let prio = match (v, name, node) {
            (Variant::B, "V2A", _) => base - 10,
            (Variant::Low, "V3A" | "V3B", 0) => 50,
            _ => base,
        };
        let mut vips = format!("        {}/24\n", lab.vip4(vip));
        if v == Variant::B && name == "V2B" {
            vips.push_str(&format!("        {}/24\n", lab.vip4(112)));
        }
        s.push_str(&instance(name, vrid, version, interval, prio, &vips));
    }
    if v == Variant::B {
        let vips = format!("        {}/24\n", lab.vip4(113));
        s.push_str(&instance("V2C", 63, 2, 1.0, base, &vips));
    }
    s.push_str(&format!(
        "virtual_server {} 80 {{\n    delay_loop 1\n    lb_algo rr\n    lb_kind NAT\n    \
         protocol TCP\n    real_server {} 80 {{\n        TCP_CHECK {{\n            \
         connect_timeout 1\n        }}\n    }}\n}}\n",
        lab.vip4(100),
        host.ipv4()
    ));
    if v == Variant::Bad {
        s.push_str("vrrp_instance BROKEN {\n    interface eth0\n    priority\n");
    }
    s
}

fn instance(name: &str, vrid: u8, version: u8, interval: f64, prio: u8, vips: &str) -> String {
    format!(
        "vrrp_instance {name} {{\n    interface eth0\n    virtual_router_id {vrid}\n    \
         version {version}\n    priority {prio}\n    advert_int {interval}\n    \
         virtual_ipaddress {{\n{vips}    }}\n}}\n"
    )
}

/// One pair on its LAN, with what watches it.
struct Side {
    daemon: Daemon,
    lab: Lab,
    r: [Node; 2],
    host: Node,
    d: [DaemonProc; 2],
    /// Killed processes, for their logs.
    dead: Vec<DaemonProc>,
    events: [AddressEvents; 2],
    capture: Option<Capture>,
    pace: Pace,
    hups: u64,
    /// Whether a restarted daemon may be signalled yet (before its handlers, SIGHUP kills).
    ready: [bool; 2],
    /// Off for the quiet phase that the storm is compared with.
    hup: bool,
}

/// The states entered, per node and per instance of [`INSTANCES`].
type Counts = [[States; 4]; 2];

/// What a phase saw: the states each node's instances entered, and its time span.
#[derive(Clone, Debug)]
struct Phase {
    name: &'static str,
    from_ns: i64,
    to_ns: i64,
    hups: u64,
    /// Per node, per instance of [`INSTANCES`].
    states: [[States; 4]; 2],
    /// Each node's daemon at the phase's end (default once gone).
    usage: [Usage; 2],
}

impl Side {
    fn vip(&self, i: usize) -> IpAddr {
        IpAddr::V4(self.lab.vip4(INSTANCES[i].4))
    }

    fn states(&self) -> [[States; 4]; 2] {
        let mut out = [[States::default(); 4]; 2];
        for (n, row) in out.iter_mut().enumerate() {
            for (i, s) in row.iter_mut().enumerate() {
                let name = INSTANCES[i].0;
                let logs = self.dead.iter().filter(|d| d.node == self.r[n].name());
                *s = logs
                    .chain(std::iter::once(&self.d[n]))
                    .map(|d| churn::states(d, name))
                    .fold(States::default(), |a, b| a + b);
            }
        }
        out
    }

    fn write(&self, v: [Variant; 2]) {
        for (n, v) in v.into_iter().enumerate() {
            let text = conf(&self.lab, n, &self.host, v);
            churn::swap_file(&self.d[n].conf, &text).expect("swap conf");
        }
    }

    fn is_ready(&self, n: usize) -> bool {
        let d = &self.d[n];
        match d.daemon {
            Daemon::Keepalived => d.pidfile.exists() && !d.proc.children().is_empty(),
            Daemon::Vrrpd { .. } => churn::count_lines(d, "vrrpd started") > 0,
        }
    }

    /// SIGHUP every 100-200 ms for `secs` (or until `done`), with `variant(step)` written
    /// first when it gives one; a phase record.
    fn storm(
        &mut self,
        name: &'static str,
        secs: f64,
        mut variant: impl FnMut(u64) -> Option<[Variant; 2]>,
        done: impl Fn(&Side) -> bool,
    ) -> Phase {
        let (from_ns, before, hups) = (realtime_ns(), self.states(), self.hups);
        let t0 = Instant::now();
        let mut step = 0;
        while t0.elapsed().as_secs_f64() < secs && !done(self) {
            std::thread::sleep(self.pace.between(100, 200));
            if let Some(v) = variant(step) {
                self.write(v);
            }
            for n in 0..2 {
                self.ready[n] = self.ready[n] || self.is_ready(n);
                if self.hup && self.ready[n] && self.d[n].is_running() {
                    let _ = self.d[n].proc.kill_main(libc::SIGHUP);
                    self.hups += 1;
                }
            }
            step += 1;
        }
        self.phase(name, from_ns, before, hups)
    }

    /// The record of a phase begun at `from_ns` with `before` and `hups`.
    fn phase(&self, name: &'static str, from_ns: i64, before: Counts, hups: u64) -> Phase {
        let after = self.states();
        let states = [0, 1].map(|n| [0, 1, 2, 3].map(|i| after[n][i] - before[n][i]));
        let usage = [0, 1].map(|n| churn::daemon_usage(&self.d[n]).unwrap_or_default());
        Phase {
            name,
            from_ns,
            to_ns: realtime_ns(),
            hups: self.hups - hups,
            states,
            usage,
        }
    }

    /// Restarts, with the good file, the daemons found dead; which ones.
    fn revive(&mut self) -> [bool; 2] {
        self.write([Variant::A; 2]);
        let dead = [0, 1].map(|n| !self.d[n].is_running());
        for (n, &dead) in dead.iter().enumerate() {
            if dead {
                let node = self.r[n].clone();
                let new = self.d[n].restart(&node).expect("restart");
                new.wait_ready(START).expect("restarted");
                self.dead.push(std::mem::replace(&mut self.d[n], new));
            }
        }
        let settled = wait_until(Duration::from_secs(10), POLL, || self.master_of_all(0));
        if dead.contains(&true) {
            eprintln!(
                "churn-storm: {} revived {dead:?}: r1 Master: {settled}",
                self.daemon
            );
        }
        dead
    }

    /// Reloads completed so far by both nodes' daemons, every process counted.
    fn reloads_done(&self) -> usize {
        self.dead
            .iter()
            .chain(self.d.iter())
            .map(|x| match x.daemon {
                Daemon::Vrrpd { .. } => churn::count_lines(x, " unchanged, "),
                Daemon::Keepalived => churn::count_lines(x, "Reload complete"),
            })
            .sum()
    }

    /// SIGHUP to both nodes every millisecond for `secs`; then how long the reloads went
    /// on after the last signal (ms), and how many ran.
    fn flood(&mut self, secs: f64) -> (Phase, f64, usize) {
        let (from_ns, before, hups, done0) =
            (realtime_ns(), self.states(), self.hups, self.reloads_done());
        let t0 = Instant::now();
        while t0.elapsed().as_secs_f64() < secs {
            std::thread::sleep(Duration::from_millis(1));
            for d in &self.d {
                if d.proc.kill_main(libc::SIGHUP).is_ok() {
                    self.hups += 1;
                }
            }
        }
        let end = Instant::now();
        let (mut last, mut at) = (self.reloads_done(), end);
        while at.elapsed() < Duration::from_millis(500) && end.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.reloads_done();
            if now != last {
                (last, at) = (now, Instant::now());
            }
        }
        let phase = self.phase("flood", from_ns, before, hups);
        let backlog = at.saturating_duration_since(end).as_secs_f64() * 1e3;
        (phase, backlog, last - done0)
    }

    fn master_of_all(&self, n: usize) -> bool {
        (0..4)
            .all(|i| self.r[n].has_address(self.vip(i)) && !self.r[1 - n].has_address(self.vip(i)))
    }
}

fn setup(daemon: Daemon) -> Side {
    let mut lab = Lab::new(&format!("st{}", &daemon.name()[..1])).expect("lab");
    let r = [
        lab.add_router("r1").expect("router"),
        lab.add_router("r2").expect("router"),
    ];
    let host = lab.add_host("h").expect("host");
    let events = [
        AddressEvents::start(&r[0]).expect("ip monitor"),
        AddressEvents::start(&r[1]).expect("ip monitor"),
    ];
    let d0 = start(&lab, &daemon, &r[0], &conf(&lab, 0, &host, Variant::A));
    let vip = |i: usize| IpAddr::V4(lab.vip4(INSTANCES[i].4));
    let up = wait_until(START, POLL, || (0..4).all(|i| r[0].has_address(vip(i))));
    assert!(up, "{daemon}: r1 not Master of all{}", lab.diag());
    let d1 = start(&lab, &daemon, &r[1], &conf(&lab, 1, &host, Variant::A));
    Side {
        daemon,
        capture: Some(lab.capture("storm", "vrrp").expect("capture")),
        lab,
        r,
        host,
        d: [d0, d1],
        dead: Vec::new(),
        events,
        pace: Pace::new(0x5eed),
        hups: 0,
        ready: [true, true],
        hup: true,
    }
}

/// What one pair did through the storm.
struct Run {
    side: Side,
    phases: Vec<Phase>,
    adverts: Vec<churn::Advert>,
    usage: [(Usage, Usage); 2],
    /// The protocol timer before and after: r1 until the kill, r2 throughout.
    late: [Option<(Lateness, Lateness)>; 2],
    /// r1's protocol timer over the quiet phase.
    late_quiet: Option<(Lateness, Lateness)>,
    refused: usize,
    /// The kill phase's span: r1's VIPs stay in the kernel from the kill to the restart.
    killed: (i64, i64),
    /// Which nodes' daemons the bad file killed (each restarted with the good one).
    /// Which nodes' daemons died of the flood, and of the bad file (each restarted).
    died: [[bool; 2]; 2],
    /// The flood: signals sent, reloads run, how long they went on after it (ms).
    flood: (u64, usize, f64),
    seconds: f64,
}

fn run(daemon: Daemon) -> Run {
    let secs: f64 = knob("VRRPD_CHURN_SECONDS", 3.0);
    let mut s = setup(daemon);
    let settled = wait_until(Duration::from_secs(10), POLL, || s.master_of_all(0));
    assert!(settled, "{}: r1 not Master{}", s.daemon, s.lab.diag());
    std::thread::sleep(Duration::from_secs(1));
    let usage = |s: &Side, n| churn::daemon_usage(&s.d[n]).unwrap_or_default();
    let before = [usage(&s, 0), usage(&s, 1)];
    let sock = s.d[1].control_socket.clone();
    let late = |sock: &Option<std::path::PathBuf>| {
        sock.as_ref()
            .and_then(|p| churn::lateness(&vrrpctl(), p, "V3A").ok())
    };
    let late0 = [late(&s.d[0].control_socket), late(&sock)];
    let mut phases = Vec::new();
    let never = |_: &Side| false;
    s.hup = false;
    phases.push(s.storm("quiet", secs.min(3.0), |_| None, never));
    s.hup = true;
    let late_quiet = late(&s.d[0].control_socket);
    phases.push(s.storm("same", secs, |_| None, never));
    phases.push(s.storm(
        "alternate",
        secs,
        |k| Some([if k % 2 == 0 { Variant::B } else { Variant::A }; 2]),
        never,
    ));
    s.write([Variant::A; 2]);
    phases.push(s.storm("same-again", 1.0, |_| None, never));
    let (phase, backlog, ran) = s.flood(knob("VRRPD_CHURN_FLOOD", 1.0));
    let flood = (phase.hups, ran, backlog);
    phases.push(phase);
    let died_of_flood = s.revive();
    let refused0 = churn::count_lines(&s.d[0], "reload refused");
    phases.push(s.storm("bad", 1.0, |_| Some([Variant::Bad; 2]), never));
    let refused = churn::count_lines(&s.d[0], "reload refused") - refused0;
    let died_of_bad = s.revive();
    let low = [Variant::Low, Variant::A];
    phases.push(s.storm(
        "low",
        4.0,
        |_| Some(low),
        |s| {
            SYNCED.iter().all(|n| {
                let i = INSTANCES.iter().position(|x| x.0 == *n).unwrap_or(0);
                s.r[1].has_address(s.vip(i)) && !s.r[0].has_address(s.vip(i))
            })
        },
    ));
    phases.push(s.storm("low-held", 1.0, |_| Some(low), never));
    phases.push(s.storm(
        "back",
        4.0,
        |_| Some([Variant::A; 2]),
        |s| s.master_of_all(0),
    ));
    phases.push(s.storm("back-held", 1.0, |_| None, never));
    let usage_r1 = usage(&s, 0);
    let late_r1 = late(&s.d[0].control_socket);
    let killed_at = realtime_ns();
    s.d[0].crash().expect("SIGKILL r1");
    phases.push(s.storm(
        "kill",
        6.0,
        |_| None,
        |s| (0..4).all(|i| s.r[1].has_address(s.vip(i))),
    ));
    let node = s.r[0].clone();
    let new = s.d[0].restart(&node).expect("restart r1");
    s.dead.push(std::mem::replace(&mut s.d[0], new));
    s.ready[0] = false;
    let restarted_at = realtime_ns();
    phases.push(s.storm("restart", 10.0, |_| None, |s| s.master_of_all(0)));
    phases.push(s.storm("restart-held", 1.5, |_| None, never));
    std::thread::sleep(Duration::from_secs(1));
    let after_r2 = usage(&s, 1);
    let late1 = late(&sock);
    let pcap = s.capture.take().map(|c| c.stop().expect("capture"));
    let adverts = pcap
        .map(|p| churn::read_adverts(&p).expect("adverts"))
        .unwrap_or_default();
    let seconds = phases
        .iter()
        .map(|p| (p.to_ns - p.from_ns) as f64 / 1e9)
        .sum();
    Run {
        usage: [(before[0], usage_r1), (before[1], after_r2)],
        late: [late_quiet.zip(late_r1), late0[1].zip(late1)],
        late_quiet: late0[0].zip(late_quiet),
        died: [died_of_flood, died_of_bad],
        flood,
        side: s,
        phases,
        adverts,
        refused,
        killed: (killed_at, restarted_at),
        seconds,
    }
}

#[test]
fn reload_storm_during_failovers() {
    require!("nft", "tcpdump");
    eprintln!("churn-storm: load before {}", loadavg());
    let (v, k) = side_by_side(run);
    report(&v);
    if let Some(k) = &k {
        report(k);
        assert!(!k.phases.is_empty(), "keepalived did not run");
    }
    check(&v);
    for x in v
        .side
        .d
        .iter()
        .chain(k.iter().flat_map(|k| k.side.d.iter()))
    {
        let _ = x.stop(Duration::from_secs(10));
    }
}
