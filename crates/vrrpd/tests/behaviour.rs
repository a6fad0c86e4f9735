//! Behaviour of the vrrpd daemon on real LANs (network namespaces, `vrrp-testlab`).
//!
//! Each test builds its own lab (bridge + router namespaces + a client), starts vrrpd in the
//! routers and observes the result from outside: who holds the VIP, whether the client
//! reaches it and through which MAC, what the daemons log and count. The lab removes
//! everything it created when dropped, also when a test panics.
//!
//! The tests need root; without it they print `SKIPPED: ...` (a failure under
//! `VRRPD_LAB_REQUIRED=1`, as in CI). Waits are generous (seconds); the timings the product
//! exists for are asserted against the protocol's bound plus a margin that only a real bug
//! breaks (SIGKILL and interface cut: Master_Down_Interval + 100 ms; SIGTERM: Skew_Time +
//! 100 ms), timed by an address monitor rather than polling; the tests must pass
//! on a loaded two-core machine. See docs/testing.md, "Daemon behaviour tests".

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use vrrp_testlab::{
    AddressWatch, Daemon, DaemonProc, KeepalivedConf, Lab, Node, ProbeReport, SIGTERM, State,
    VrrpInstance, require, run_bounded, wait_until,
};

/// Bound of every wait for a protocol step (an election takes well under a second with
/// the intervals used here; the slack is for a loaded machine).
const STEP: Duration = Duration::from_secs(15);
/// How long a daemon may take to start (pid file written).
const START: Duration = Duration::from_secs(10);
/// Polling period of the waits.
const POLL: Duration = Duration::from_millis(10);
const VRID: u8 = 51;

fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

/// One router of a test: its node, its configuration, its running daemon.
struct Router {
    node: Node,
    conf: String,
    daemon: Option<DaemonProc>,
}

impl Router {
    fn name(&self) -> &str {
        self.node.name()
    }

    fn daemon(&self) -> &DaemonProc {
        self.daemon.as_ref().expect("the daemon was started")
    }

    /// The current daemon's standard error (its log).
    fn log(&self) -> String {
        self.daemon
            .as_ref()
            .map(|d| std::fs::read_to_string(d.proc.stderr_path()).unwrap_or_default())
            .unwrap_or_default()
    }

    fn stats_path(&self) -> PathBuf {
        stats_path(self.daemon())
    }
}

/// Where `start_vrrpd` asks the daemon to write its SIGUSR2 statistics.
fn stats_path(d: &DaemonProc) -> PathBuf {
    d.stats_file()
}

/// Starts vrrpd in `node` (the lab's `Daemon::Vrrpd`: every file in the lab directory,
/// dumps next to the configuration) and waits until it runs.
fn start_vrrpd(node: &Node, conf: &str) -> DaemonProc {
    let d = Daemon::Vrrpd {
        binary: vrrpd_binary(),
    }
    .start(node, conf)
    .expect("spawn vrrpd");
    d.wait_started(START).expect("vrrpd starts");
    d
}

/// A LAN with routers (name, priority, instance) and one client host.
struct Net {
    lab: Lab,
    routers: Vec<Router>,
    client: Node,
}

impl Net {
    /// Builds the lab: routers r1, r2, ... with these priorities and a client;
    /// `instance(index, lab, node, priority)` gives each router's instance.
    fn new(
        tag: &str,
        priorities: &[u8],
        mut instance: impl FnMut(usize, &Lab, &Node, u8) -> VrrpInstance,
    ) -> Net {
        let mut lab = Lab::new(tag).expect("lab");
        let mut nodes = Vec::new();
        for i in 0..priorities.len() {
            nodes.push(lab.add_router(&format!("r{}", i + 1)).expect("router"));
        }
        let client = lab.add_host("client").expect("client");
        let routers = nodes
            .into_iter()
            .zip(priorities)
            .enumerate()
            .map(|(i, (node, &prio))| {
                let conf = KeepalivedConf::new()
                    .router_id(node.name())
                    .instance(instance(i, &lab, &node, prio))
                    .render();
                Router {
                    node,
                    conf,
                    daemon: None,
                }
            })
            .collect();
        Net {
            lab,
            routers,
            client,
        }
    }

    /// The usual instance: VRRPv3, `advert_int`, the IPv4 VIP .100/24.
    fn v3(lab: &Lab, node: &Node, prio: u8, advert_int: f64) -> VrrpInstance {
        VrrpInstance::new("VI_1", node.ifname(), VRID, prio)
            .version(3)
            .advert_int(advert_int)
            .vip(format!("{}/24", lab.vip4(100)))
    }

    fn vip(&self) -> IpAddr {
        self.lab.vip4(100).into()
    }

    fn start(&mut self, i: usize) {
        let d = start_vrrpd(&self.routers[i].node, &self.routers[i].conf);
        self.routers[i].daemon = Some(d);
    }

    fn start_all(&mut self) {
        for i in 0..self.routers.len() {
            self.start(i);
        }
    }

    /// Routers holding `ip`.
    fn holders(&self, ip: IpAddr) -> Vec<usize> {
        (0..self.routers.len())
            .filter(|&i| self.routers[i].node.has_address(ip))
            .collect()
    }

    /// Waits until router `i` holds `ip` and no other router does, except those in
    /// `ignore` (a crashed router keeps its VIP in the kernel). Returns how long it took.
    fn wait_sole_holder(&self, i: usize, ip: IpAddr, ignore: &[usize]) -> Option<Duration> {
        let t = Instant::now();
        wait_until(STEP, POLL, || {
            let h = self.holders(ip);
            h.contains(&i) && h.iter().all(|j| *j == i || ignore.contains(j))
        })
        .then(|| t.elapsed())
    }

    fn expect_sole_holder(&self, i: usize, ip: IpAddr, ignore: &[usize], what: &str) -> Duration {
        match self.wait_sole_holder(i, ip, ignore) {
            Some(d) => d,
            None => panic!(
                "{what}: {} did not become the only holder of {ip} within {STEP:?} \
                 (holders: {:?}){}",
                self.routers[i].name(),
                self.holders(ip)
                    .iter()
                    .map(|&j| self.routers[j].name())
                    .collect::<Vec<_>>(),
                self.lab.diag()
            ),
        }
    }

    /// Checks for `hold` that router `i` stays the only holder of `ip`.
    fn expect_stays_sole_holder(&self, i: usize, ip: IpAddr, hold: Duration, what: &str) {
        let end = Instant::now() + hold;
        while Instant::now() < end {
            let h = self.holders(ip);
            assert!(
                h == [i],
                "{what}: expected only {} to hold {ip}, holders are {:?}{}",
                self.routers[i].name(),
                h.iter()
                    .map(|&j| self.routers[j].name())
                    .collect::<Vec<_>>(),
                self.lab.diag()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Waits until the log of router `i`'s current daemon contains `needle` `count` times.
    fn expect_log(&self, i: usize, needle: &str, count: usize) {
        let ok = wait_until(STEP, Duration::from_millis(20), || {
            self.routers[i].log().matches(needle).count() >= count
        });
        assert!(
            ok,
            "{}: log line {needle:?} (x{count}) not seen within {STEP:?}{}",
            self.routers[i].name(),
            self.lab.diag()
        );
    }

    /// The client pings `ip` (bounded) and asserts it answers.
    fn expect_client_reaches(&self, ip: IpAddr, what: &str) {
        assert!(
            self.client.ping(ip, 3, Duration::from_secs(10)),
            "{what}: the client cannot ping {ip}{}",
            self.lab.diag()
        );
    }

    /// The client's neighbour entry for `ip` becomes `mac` (after a ping refreshed it).
    fn expect_client_neighbour(&self, ip: IpAddr, mac: &str, what: &str) {
        let ok = wait_until(Duration::from_secs(5), Duration::from_millis(50), || {
            self.client.neighbour_mac(ip).as_deref() == Some(mac)
        });
        assert!(
            ok,
            "{what}: the client's neighbour entry for {ip} is {:?}, expected {mac}{}",
            self.client.neighbour_mac(ip),
            self.lab.diag()
        );
    }

    /// SIGKILL the daemon of router `i` and pull its cable (a killed daemon leaves its VIP
    /// in the kernel; the cable keeps that VIP from answering, as after a real crash).
    fn crash(&self, i: usize) {
        let r = &self.routers[i];
        r.daemon().crash().expect("SIGKILL the daemon");
        r.node.link_down().expect("link down");
    }
}

/// Master_Down_Interval of VRRPv3 (RFC 9568 §6.1) for `prio` and `advert_int` seconds.
fn master_down_interval(prio: u8, advert_int: f64) -> Duration {
    Duration::from_secs_f64(
        3.0 * advert_int + f64::from(256 - u16::from(prio)) * advert_int / 256.0,
    )
}

/// Skew_Time of VRRPv3 (RFC 9568 §6.1) for `prio` and `advert_int` seconds.
fn skew_time(prio: u8, advert_int: f64) -> Duration {
    Duration::from_secs_f64(f64::from(256 - u16::from(prio)) * advert_int / 256.0)
}

/// What a takeover may take beyond its protocol bound in these tests: scheduling on a
/// loaded two-core machine and the address watch's 1 ms polling, never a missed
/// advertisement interval.
const TAKEOVER_MARGIN: Duration = Duration::from_millis(100);

/// Waits for `watch` to see `vip` added and asserts that it came within `bound` of `t0`
/// (the event's instant). Returns the time taken.
fn expect_takeover_within(
    net: &Net,
    watch: &AddressWatch,
    vip: IpAddr,
    t0: Instant,
    bound: Duration,
    what: &str,
) -> Duration {
    let Some(added) = watch.wait_added(vip, STEP) else {
        panic!("{what}: {vip} not added within {STEP:?}{}", net.lab.diag());
    };
    let took = added.saturating_duration_since(t0);
    assert!(
        took <= bound,
        "{what}: the VIP came after {took:?}, beyond the bound {bound:?}{}",
        net.lab.diag()
    );
    took
}

/// What the client's prober lost between `from` and `to` (probe send times).
fn client_outage(report: &ProbeReport, from: Duration, to: Option<Duration>) -> String {
    let outages: Vec<_> = report
        .outages()
        .into_iter()
        .filter(|o| o.end.is_none_or(|e| e >= from) && to.is_none_or(|t| o.start < t))
        .collect();
    // A probe can also be late rather than lost: the old Master forwards it (routers have
    // forwarding on) once the new one answers ARP.
    let slowest = report
        .records
        .iter()
        .filter(|r| r.sent >= from && to.is_none_or(|t| r.sent < t))
        .filter_map(|r| r.reply.as_ref().map(|(rtt, _)| *rtt))
        .max()
        .unwrap_or_default();
    if outages.is_empty() {
        return format!("no probe lost, slowest answer {slowest:?}");
    }
    let lost: usize = outages.iter().map(|o| o.lost).sum();
    let longest = outages
        .iter()
        .filter_map(|o| o.duration())
        .max()
        .unwrap_or_default();
    format!("{lost} probe(s) lost, longest gap {longest:?}, slowest answer {slowest:?}")
}

/// Sends SIGUSR2 to the daemon and reads `counter` of its (single) instance from the
/// statistics dump. `None` if no dump appears.
fn stats_counter(r: &Router, counter: &str) -> Option<u64> {
    let path = r.stats_path();
    let _ = std::fs::remove_file(&path);
    r.daemon().proc.kill_main(libc::SIGUSR2).ok()?;
    let mut text = String::new();
    wait_until(Duration::from_secs(5), Duration::from_millis(20), || {
        text = std::fs::read_to_string(&path).unwrap_or_default();
        text.contains(counter)
    });
    json_number(&text, counter)
}

/// The number after `"key":` in a JSON text (first occurrence).
fn json_number(text: &str, key: &str) -> Option<u64> {
    let quoted = format!("\"{key}\"");
    let at = text.find(&quoted)? + quoted.len();
    let rest = text[at..].trim_start().strip_prefix(':')?.trim_start();
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// -------------------------------------------------------------------------------------------
// 1. Election

#[test]
fn highest_priority_wins_and_only_the_master_holds_the_vip() {
    require!("nft", "ping");
    // The highest priority is not the first router started.
    let mut net = Net::new("elec", &[100, 200, 150], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1)
    });
    net.start_all();
    let vip = net.vip();
    let took = net.expect_sole_holder(1, vip, &[], "election");
    println!("election: r2 (priority 200) holds the VIP alone after {took:?}");
    net.expect_stays_sole_holder(1, vip, Duration::from_secs(1), "after the election");
    net.expect_log(1, "-> MASTER", 1);
    for i in [0, 2] {
        let log = net.routers[i].log();
        let last = log.lines().rfind(|l| l.contains(" -> "));
        assert!(
            last.is_some_and(|l| l.contains("-> BACKUP")),
            "{} should end up in BACKUP; last transition {last:?}{}",
            net.routers[i].name(),
            net.lab.diag()
        );
    }
}

// 2. The client reaches the VIP through the Master's MAC

#[test]
fn client_reaches_the_vip_at_the_masters_mac() {
    require!("nft", "ping");
    let mut net = Net::new("reach", &[200, 100], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1)
    });
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");
    net.expect_client_reaches(vip, "r1 Master");
    let mac = net.routers[0].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "r1 Master");
}

// 2b. Accept_Mode off (no_accept): the Master answers ARP for the VIP but drops packets
//     addressed to it (RFC 5798 §6.4.3); with accept (keepalived's default) they pass.

#[test]
fn no_accept_drops_packets_to_the_vip_but_answers_arp() {
    require!("nft", "ping");
    let mut net = Net::new("noacc", &[200, 100], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1).line("no_accept")
    });
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");
    assert!(
        !net.client.ping(vip, 2, Duration::from_secs(3)),
        "no_accept: the client's ping to {vip} should be dropped{}",
        net.lab.diag()
    );
    let mac = net.routers[0].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "no_accept: ARP still answered by r1");
    let own = IpAddr::V4(net.routers[0].node.ipv4());
    net.expect_client_reaches(own, "no_accept: r1's own address is not filtered");
    // The filter is the daemon's: it goes with it.
    net.routers[0]
        .daemon()
        .stop(Duration::from_secs(10))
        .expect("stop r1");
    let rules = net.routers[0]
        .node
        .run("nft", &["list", "ruleset"])
        .expect("nft");
    assert!(
        !String::from_utf8_lossy(&rules.stdout).contains("vrrpd"),
        "the no_accept table is left behind{}",
        net.lab.diag()
    );
}

// 3. SIGKILL of the Master

#[test]
fn sigkill_of_the_master_fails_over_to_the_next() {
    require!("nft", "ping");
    let mut net = Net::new("kill", &[200, 150, 100], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.2)
    });
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");
    net.expect_client_reaches(vip, "r1 Master");

    let watch = AddressWatch::start(&net.routers[1].node).expect("ip monitor");
    let t0 = Instant::now();
    net.crash(0);
    let bound = master_down_interval(150, 0.2) + TAKEOVER_MARGIN;
    let took = expect_takeover_within(&net, &watch, vip, t0, bound, "SIGKILL of r1");
    net.expect_sole_holder(1, vip, &[0], "after SIGKILL of r1");
    println!("SIGKILL of r1: r2 added the VIP after {took:?} (bound {bound:?})");
    net.expect_log(1, "BACKUP -> MASTER (master down timer expired)", 1);
    net.expect_client_reaches(vip, "r2 Master after the crash");
    let mac = net.routers[1].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "r2 Master after the crash");
    assert!(
        !net.routers[2].node.has_address(vip),
        "r3 (priority 100) must stay Backup{}",
        net.lab.diag()
    );
}

// 4. SIGTERM: priority-0 handover, faster than a crash

#[test]
fn sigterm_hands_over_faster_than_a_crash() {
    require!("nft", "ping");
    const ADVERT: f64 = 0.5;
    let mut net = Net::new("term", &[200, 150], |_, lab, node, prio| {
        Net::v3(lab, node, prio, ADVERT)
    });
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");
    let v4 = net.lab.vip4(100);
    let prober = net
        .client
        .start_probe(v4, Duration::from_millis(10), Duration::from_secs(120))
        .expect("prober");
    let r2mac = net.routers[1].node.mac().to_string();
    assert!(
        wait_until(STEP, POLL, || prober.last_answer().is_some()),
        "the VIP does not answer the client's probes{}",
        net.lab.diag()
    );

    // SIGTERM: r1 sends priority 0, r2 takes over after its Skew_Time.
    let d1 = net.routers[0].daemon().clone();
    let watch = AddressWatch::start(&net.routers[1].node).expect("ip monitor");
    let t_term = prober.elapsed();
    let t = Instant::now();
    d1.proc.kill_main(SIGTERM).expect("SIGTERM");
    let term_bound = skew_time(150, ADVERT) + TAKEOVER_MARGIN;
    let term = expect_takeover_within(&net, &watch, vip, t, term_bound, "SIGTERM of r1");
    watch.stop();
    net.expect_sole_holder(1, vip, &[], "after SIGTERM of r1");
    let status = d1.proc.wait_timeout(STEP).expect("wait");
    let exited = t.elapsed();
    assert!(
        status.is_some_and(|s| s.success()),
        "vrrpd on r1 must exit 0 after SIGTERM, got {status:?}{}",
        net.lab.diag()
    );
    net.expect_log(0, "SIGTERM: shutting down", 1);
    net.expect_log(1, "BACKUP -> MASTER (master left (priority 0))", 1);
    let zero = stats_counter(&net.routers[1], "rcvd_pri_zero_packets");
    assert!(
        zero.is_some_and(|n| n >= 1),
        "r2 should count the priority-0 advertisement, got {zero:?}{}",
        net.lab.diag()
    );
    assert!(
        wait_until(STEP, POLL, || prober
            .last_answer()
            .is_some_and(|(_, m)| m == r2mac)),
        "the VIP does not answer from r2 after the SIGTERM{}",
        net.lab.diag()
    );
    let t_restart = prober.elapsed();

    // r1 comes back and preempts.
    net.start(0);
    net.expect_sole_holder(0, vip, &[], "r1 back");
    let r1mac = net.routers[0].node.mac().to_string();
    assert!(
        wait_until(STEP, POLL, || prober
            .last_answer()
            .is_some_and(|(_, m)| m == r1mac)),
        "the VIP does not answer from r1 after its return{}",
        net.lab.diag()
    );

    // SIGKILL: r2 waits for its Master_Down_Interval.
    let watch = AddressWatch::start(&net.routers[1].node).expect("ip monitor");
    let t_kill = prober.elapsed();
    let t = Instant::now();
    net.crash(0);
    let kill_bound = master_down_interval(150, ADVERT) + TAKEOVER_MARGIN;
    let kill = expect_takeover_within(&net, &watch, vip, t, kill_bound, "SIGKILL of r1");
    net.expect_sole_holder(1, vip, &[0], "after SIGKILL of r1");
    assert!(
        wait_until(STEP, POLL, || prober
            .last_answer()
            .is_some_and(|(_, m)| m == r2mac)),
        "the VIP does not answer from r2 after the crash{}",
        net.lab.diag()
    );
    let report = prober.stop().expect("prober");
    let term_client = client_outage(&report, t_term, Some(t_restart));
    let kill_client = client_outage(&report, t_kill, None);

    let mdi = master_down_interval(150, ADVERT);
    println!(
        "advert_int {ADVERT} s, r2's Master_Down_Interval {mdi:?}:\n  \
         SIGTERM handover: r2 added the VIP after {term:?} (bound {term_bound:?}), \
         r1 exited after {exited:?}; client (probe every 10 ms): {term_client}\n  \
         SIGKILL failover: r2 added the VIP after {kill:?} (bound {kill_bound:?}); \
         client: {kill_client}"
    );
    assert!(
        term < mdi,
        "the SIGTERM handover ({term:?}) should beat the Master_Down_Interval ({mdi:?}){}",
        net.lab.diag()
    );
    assert!(
        term < kill,
        "the SIGTERM handover ({term:?}) should be faster than the crash failover ({kill:?})"
    );
}

// 5. Interface cut: FAULT, takeover, return and preemption

#[test]
fn interface_cut_goes_to_fault_and_back() {
    require!("nft", "ping");
    let mut net = Net::new("cut", &[200, 150, 100], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.2)
    });
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");

    // The cut link carries no priority-0 advertisement: r2 takes over on its
    // Master_Down_Interval (RFC 9568 §6.4.2).
    let watch = AddressWatch::start(&net.routers[1].node).expect("ip monitor");
    let t0 = Instant::now();
    net.routers[0].node.link_down().expect("link down");
    let bound = master_down_interval(150, 0.2) + TAKEOVER_MARGIN;
    let took = expect_takeover_within(&net, &watch, vip, t0, bound, "r1's interface cut");
    net.expect_log(0, "MASTER -> FAULT (interface down)", 1);
    // A router in FAULT holds no VIP; the next one takes over.
    net.expect_sole_holder(1, vip, &[], "r1's interface down");
    println!("interface cut on r1: r2 added the VIP after {took:?} (bound {bound:?})");
    assert!(
        net.routers[0].daemon().is_running(),
        "vrrpd on r1 must survive the interface cut{}",
        net.lab.diag()
    );

    net.routers[0].node.link_up().expect("link up");
    net.expect_log(0, "FAULT -> BACKUP (interface up)", 1);
    let took = net.expect_sole_holder(0, vip, &[], "r1's interface up");
    println!("interface back on r1: r1 preempted after {took:?}");
    net.expect_log(0, "BACKUP -> MASTER", 2);
    net.expect_client_reaches(vip, "r1 Master again");
    let mac = net.routers[0].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "r1 Master again");
}

// 6. Preemption: preempt (default), nopreempt, preempt_delay

#[test]
fn returning_master_preempts() {
    require!("nft", "ping");
    let mut net = Net::new("pre", &[200, 150], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1)
    });
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");
    net.routers[0]
        .daemon()
        .stop(STEP)
        .expect("stop r1 with SIGTERM");
    net.expect_sole_holder(1, vip, &[], "r1 stopped");
    net.start(0);
    let took = net.expect_sole_holder(0, vip, &[], "r1 restarted");
    println!("r1 restarted and preempted after {took:?}");
    net.expect_log(1, "MASTER -> BACKUP (higher priority advertisement)", 1);
}

#[test]
fn nopreempt_leaves_the_current_master() {
    require!("nft", "ping");
    const ADVERT: f64 = 0.1;
    let mut net = Net::new("nopr", &[200, 150], |i, lab, node, prio| {
        let inst = Net::v3(lab, node, prio, ADVERT).state(State::Backup);
        if i == 0 { inst.nopreempt() } else { inst }
    });
    // r1 first: with nopreempt it would not take over from r2 if r2 won the start.
    net.start(0);
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "r1 alone");
    net.start(1);
    net.expect_log(1, "INIT -> BACKUP", 1);
    net.expect_stays_sole_holder(0, vip, Duration::from_millis(500), "r2 started");
    net.routers[0]
        .daemon()
        .stop(STEP)
        .expect("stop r1 with SIGTERM");
    net.expect_sole_holder(1, vip, &[], "r1 stopped");
    net.start(0);
    net.expect_log(0, "INIT -> BACKUP", 1);
    // Many Master_Down_Intervals: r1 hears r2 (lower priority) and leaves it Master.
    let hold = Duration::from_secs(2);
    assert!(hold > master_down_interval(200, ADVERT) * 5);
    net.expect_stays_sole_holder(1, vip, hold, "r1 back with nopreempt");
    assert!(
        !net.routers[0].log().contains("-> MASTER"),
        "r1 (nopreempt) became Master{}",
        net.lab.diag()
    );
}

#[test]
fn preempt_delay_postpones_the_takeover() {
    require!("nft", "ping");
    const DELAY: u32 = 3;
    let mut net = Net::new("pdel", &[200, 150], |i, lab, node, prio| {
        let inst = Net::v3(lab, node, prio, 0.1);
        if i == 0 {
            inst.preempt_delay(DELAY)
        } else {
            inst
        }
    });
    // r2 alone is Master; then r1 (higher priority, preempt_delay 3) comes up.
    net.start(1);
    let vip = net.vip();
    net.expect_sole_holder(1, vip, &[], "r2 alone");
    let t = Instant::now();
    net.start(0);
    net.expect_log(0, "INIT -> BACKUP", 1);
    net.expect_stays_sole_holder(
        1,
        vip,
        Duration::from_millis(1500),
        "during r1's preempt_delay",
    );
    net.expect_sole_holder(0, vip, &[], "after r1's preempt_delay");
    let took = t.elapsed();
    println!("r1 with preempt_delay {DELAY}: took over {took:?} after its start");
    // Slack below: the daemon starts a little after we spawn it, never before.
    assert!(
        took >= Duration::from_millis(u64::from(DELAY) * 1000 - 300),
        "r1 took over after {took:?}, before its preempt_delay of {DELAY} s{}",
        net.lab.diag()
    );
}

// 7. IPv6

#[test]
fn ipv6_vip_is_reachable() {
    require!("nft", "ping");
    let mut net = Net::new("ip6", &[200, 150], |_, lab, node, prio| {
        VrrpInstance::new("VI_6", node.ifname(), VRID, prio)
            .version(3)
            .advert_int(0.1)
            .vip("fe80::100/64")
            .vip(format!("{}/64", lab.vip6(100)))
    });
    net.start_all();
    let vip: IpAddr = net.lab.vip6(100).into();
    net.expect_sole_holder(0, vip, &[], "IPv6 election");
    net.expect_client_reaches(vip, "r1 Master (IPv6)");
    let mac = net.routers[0].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "r1 Master (IPv6)");

    // Handover: the client follows the unsolicited NA.
    net.routers[0]
        .daemon()
        .stop(STEP)
        .expect("stop r1 with SIGTERM");
    net.expect_sole_holder(1, vip, &[], "r1 stopped (IPv6)");
    net.expect_client_reaches(vip, "r2 Master (IPv6)");
    let mac = net.routers[1].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "r2 Master (IPv6)");
}

// 8. Virtual MAC

/// The MACs that answer an ARP request for `ip` from `node` (`arping`), lower-case.
/// Reads both arpings' output: Debian's `arping` (Thomas Habets: "42 bytes from MAC (IP)")
/// and iputils' ("Unicast reply from IP [MAC]").
fn arp_answers(node: &Node, ip: IpAddr) -> Vec<String> {
    let ip = ip.to_string();
    let iputils = node
        .run("arping", &["-V"])
        .map(|o| String::from_utf8_lossy(&o.stdout).contains("iputils"))
        .unwrap_or(false);
    let mut args = vec!["-c", "3", "-w", "5"];
    if iputils {
        args.extend(["-I", node.ifname()]);
    } else {
        args.extend(["-W", "0.2", "-i", node.ifname()]);
    }
    args.push(&ip);
    let out = node
        .run_timeout("arping", &args, Duration::from_secs(20))
        .expect("arping");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            if let Some(at) = l.find(" bytes from ") {
                let rest = &l[at + " bytes from ".len()..];
                return rest.split_whitespace().next().map(str::to_ascii_lowercase);
            }
            let open = l
                .find("reply from")
                .and_then(|at| l[at..].find('[').map(|o| o + at))?;
            let close = l[open..].find(']')? + open;
            Some(l[open + 1..close].to_ascii_lowercase())
        })
        .collect()
}

fn vmac_net(tag: &str) -> (Net, String) {
    let mut net = Net::new(tag, &[200, 150], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1).use_vmac("")
    });
    net.start_all();
    (net, format!("00:00:5e:00:01:{VRID:02x}"))
}

#[test]
fn use_vmac_answers_arp_with_the_virtual_mac_across_failover() {
    require!("nft", "ping", "arping");
    let (net, vmac) = vmac_net("vmac");
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election (use_vmac)");
    net.expect_log(0, "virtual MAC interface vrrp.51", 1);
    let answers = arp_answers(&net.client, vip);
    assert!(
        !answers.is_empty() && answers.iter().all(|m| *m == vmac),
        "r1 Master: ARP for {vip} answered by {answers:?}, expected only {vmac}{}",
        net.lab.diag()
    );
    net.expect_client_reaches(vip, "r1 Master (use_vmac)");

    net.crash(0);
    net.expect_sole_holder(1, vip, &[0], "after SIGKILL of r1 (use_vmac)");
    let answers = arp_answers(&net.client, vip);
    assert!(
        !answers.is_empty() && answers.iter().all(|m| *m == vmac),
        "r2 Master: ARP for {vip} answered by {answers:?}, expected only {vmac}{}",
        net.lab.diag()
    );
    net.expect_client_reaches(vip, "r2 Master (use_vmac)");
}

#[test]
fn use_vmac_keeps_the_clients_neighbour_entry_across_failover() {
    require!("nft", "ping");
    let (net, vmac) = vmac_net("vmcn");
    let vip = net.vip();
    // Right after a ping, not after the second GARP burst (garp_master_delay) repaired it.
    let check = |what: &str| {
        net.expect_client_reaches(vip, what);
        let ok = wait_until(Duration::from_secs(1), Duration::from_millis(50), || {
            net.client.neighbour_mac(vip).as_deref() == Some(vmac.as_str())
        });
        assert!(
            ok,
            "{what}: the client's neighbour entry for {vip} is {:?}, expected {vmac} \
             (r1 is {}, r2 is {}){}",
            net.client.neighbour_mac(vip),
            net.routers[0].node.mac(),
            net.routers[1].node.mac(),
            net.lab.diag()
        );
    };
    net.expect_sole_holder(0, vip, &[], "election (use_vmac)");
    check("r1 Master (use_vmac)");
    net.crash(0);
    net.expect_sole_holder(1, vip, &[0], "after SIGKILL of r1 (use_vmac)");
    check("r2 Master (use_vmac)");
}

// 9. Unicast

#[test]
fn unicast_works_without_multicast() {
    require!("nft", "ping");
    let mut net = Net::new("uni", &[200, 150, 100], |i, lab, node, prio| {
        let mut inst = Net::v3(lab, node, prio, 0.1).unicast_src(node.ipv4().to_string());
        for j in 1..=3u8 {
            if usize::from(j) != i + 1 {
                inst = inst.unicast_peer(lab.ipv4(j).to_string());
            }
        }
        inst
    });
    for r in &net.routers {
        r.node.drop_vrrp_multicast().expect("drop VRRP multicast");
    }
    net.start_all();
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "unicast election");
    net.expect_stays_sole_holder(0, vip, Duration::from_secs(1), "unicast election");
    net.expect_client_reaches(vip, "r1 Master (unicast)");

    net.crash(0);
    let took = net.expect_sole_holder(1, vip, &[0], "after SIGKILL of r1 (unicast)");
    println!("unicast: r2 took over after {took:?}");
    net.expect_client_reaches(vip, "r2 Master (unicast)");
    assert!(!net.routers[2].node.has_address(vip), "r3 must stay Backup");
}

// 10. Stale VIP at start-up

#[test]
fn stale_vip_is_removed_at_startup() {
    require!("nft", "ping");
    let mut net = Net::new("stal", &[200, 100], |i, lab, node, prio| {
        let inst = Net::v3(lab, node, prio, 0.1);
        if i == 1 {
            inst.state(State::Backup)
        } else {
            inst
        }
    });
    net.start(0);
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "r1 alone");
    // A VIP left on r2 by an earlier run.
    net.routers[1]
        .node
        .add_address(&format!("{vip}/24"))
        .expect("add the stale VIP");
    assert!(net.routers[1].node.has_address(vip));
    net.start(1);
    net.expect_log(1, &format!("removed stale VIP {vip}"), 1);
    net.expect_sole_holder(0, vip, &[], "stale VIP removed from r2");
    net.expect_log(1, "INIT -> BACKUP", 1);
    net.expect_stays_sole_holder(0, vip, Duration::from_secs(1), "r2 Backup");
    net.client.flush_neighbour(vip);
    net.expect_client_reaches(vip, "r1 Master");
    let mac = net.routers[0].node.mac().to_string();
    net.expect_client_neighbour(vip, &mac, "r1 Master");
}

// 11. Mismatched VRRPv2 passwords

#[test]
fn mismatched_passwords_are_dropped_and_counted() {
    require!("nft", "ping");
    let mut net = Net::new("auth", &[200, 150], |i, lab, node, prio| {
        VrrpInstance::new("VI_1", node.ifname(), VRID, prio)
            .version(2)
            .advert_int(1.0)
            .vip(format!("{}/24", lab.vip4(100)))
            .auth_pass(format!("secret{i}"))
    });
    net.start_all();
    let vip = net.vip();
    // Each drops the other's advertisements: both become Master.
    let ok = wait_until(STEP, Duration::from_millis(50), || {
        net.holders(vip).len() == 2
    });
    assert!(
        ok,
        "with different passwords both routers should be Master; holders {:?}{}",
        net.holders(vip),
        net.lab.diag()
    );
    for i in 0..2 {
        net.expect_log(i, "BACKUP -> MASTER (master down timer expired)", 1);
    }
    // Let a few advertisements (1 s apart) arrive at each.
    let ok = wait_until(STEP, Duration::from_millis(500), || {
        net.routers
            .iter()
            .all(|r| stats_counter(r, "auth_failures").is_some_and(|n| n >= 2))
    });
    let counts: Vec<_> = net
        .routers
        .iter()
        .map(|r| {
            (
                stats_counter(r, "auth_failures"),
                stats_counter(r, "rcvd_advertisements"),
            )
        })
        .collect();
    println!("(auth_failures, rcvd_advertisements) per router: {counts:?}");
    assert!(
        ok,
        "auth failures not counted in the statistics dump: {counts:?}{}",
        net.lab.diag()
    );
    for (auth, rcvd) in &counts {
        assert_eq!(
            *rcvd,
            Some(0),
            "an advertisement with the wrong password was accepted{}",
            net.lab.diag()
        );
        assert!(auth.is_some());
    }
}

// 12. Configuration check

#[test]
fn config_test_reports_the_error_position() {
    // No network needed: runs as any user.
    let dir = std::env::temp_dir().join(format!("vrrpd-behaviour-conf-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let good = KeepalivedConf::new()
        .instance(
            VrrpInstance::new("VI_1", "eth0", VRID, 150)
                .version(3)
                .advert_int(0.1)
                .vip("192.0.2.100/24"),
        )
        .render();
    let good_path = dir.join("good.conf");
    std::fs::write(&good_path, &good).expect("write");
    // The same with an unsupported keyword: find where it lands.
    let bad = KeepalivedConf::new()
        .instance(
            VrrpInstance::new("VI_1", "eth0", VRID, 150)
                .version(3)
                .advert_int(0.1)
                .vip("192.0.2.100/24")
                .line("use_vmac_addr"),
        )
        .render();
    let line = bad
        .lines()
        .position(|l| l.trim() == "use_vmac_addr")
        .expect("the line is rendered")
        + 1;
    let column = bad
        .lines()
        .nth(line - 1)
        .expect("line")
        .find('u')
        .expect("u")
        + 1;
    let bad_path = dir.join("bad.conf");
    std::fs::write(&bad_path, &bad).expect("write");

    let check = |path: &Path| {
        let mut cmd = Command::new(vrrpd_binary());
        cmd.arg("-t").arg("-f").arg(path);
        run_bounded(cmd, Duration::from_secs(30)).expect("run vrrpd -t")
    };
    let out = check(&good_path);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "good config refused:\n{text}");

    let out = check(&bad_path);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        !out.status.success(),
        "bad config accepted:\n{stderr}{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let at = format!("{}:{line}:{column}", bad_path.display());
    assert!(
        stderr.contains(&at),
        "the error should name {at}:\n{stderr}"
    );
    assert!(
        stderr.contains("use_vmac_addr"),
        "the error should name the keyword:\n{stderr}"
    );
}

// 13. A second daemon with the same pid file

#[test]
fn second_daemon_with_the_same_pid_file_refuses_to_start() {
    require!("nft", "ping");
    let mut net = Net::new("pidf", &[200], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1)
    });
    net.start(0);
    let first = net.routers[0].daemon().clone();
    let pidfile = first.pidfile.to_string_lossy().into_owned();
    let sock = net.routers[0].node.lab_path("second.sock");
    let (out, stderr) = run_second_vrrpd(&net.routers[0].node, &first, &first.pidfile, &sock);
    println!("second vrrpd: {:?}\n{stderr}", out.status);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "the second vrrpd must exit non-zero, got {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("already running")
            && stderr.contains(&first.pid().to_string())
            && stderr.contains(&pidfile),
        "the error should say vrrpd runs, with its pid and the pid file:\n{stderr}"
    );
    assert!(
        first.is_running(),
        "the first vrrpd must keep running{}",
        net.lab.diag()
    );
    let content = std::fs::read_to_string(&first.pidfile).unwrap_or_default();
    assert_eq!(
        content.trim(),
        first.pid().to_string(),
        "the pid file must still name the first daemon"
    );
    net.expect_sole_holder(0, net.vip(), &[], "the first daemon still works");
}

/// Runs a second vrrpd in `node` with `first`'s configuration, the pid file `pidfile` and
/// the control socket `sock` (bounded); returns its exit and its stderr.
fn run_second_vrrpd(
    node: &Node,
    first: &DaemonProc,
    pidfile: &Path,
    sock: &Path,
) -> (std::process::Output, String) {
    let out = node
        .run_timeout(
            &vrrpd_binary().to_string_lossy(),
            &[
                "-n",
                "-l",
                "-f",
                &first.conf.to_string_lossy(),
                "-p",
                &pidfile.to_string_lossy(),
                "--control-socket",
                &sock.to_string_lossy(),
            ],
            Duration::from_secs(20),
        )
        .expect("run the second vrrpd");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    (out, stderr)
}

/// A second vrrpd with its own pid file but the first one's control socket: the socket
/// answers, so it belongs to a live daemon and is never taken over; the second exits before
/// touching the kernel (it would otherwise remove the first one's VIP as stale).
#[test]
fn second_daemon_with_a_live_control_socket_refuses_to_start() {
    require!("nft", "ping");
    let mut net = Net::new("sock", &[200], |_, lab, node, prio| {
        Net::v3(lab, node, prio, 0.1)
    });
    net.start(0);
    let vip = net.vip();
    net.expect_sole_holder(0, vip, &[], "election");
    let first = net.routers[0].daemon().clone();
    let Some(sock) = first.control_socket.clone() else {
        panic!("the lab starts vrrpd with a control socket");
    };
    let pidfile = net.routers[0].node.lab_path("second.pid");
    let (out, stderr) = run_second_vrrpd(&net.routers[0].node, &first, &pidfile, &sock);
    assert!(
        out.status.code().is_some_and(|c| c != 0),
        "the second vrrpd must exit non-zero, got {:?}\n{stderr}",
        out.status
    );
    assert!(
        stderr.contains("another daemon answers on the control socket")
            && stderr.contains(&*sock.to_string_lossy()),
        "the error should name the live socket:\n{stderr}"
    );
    assert!(first.is_running(), "the first vrrpd must keep running");
    // The first daemon still answers on its socket, and still holds its VIP.
    let mut stream = std::os::unix::net::UnixStream::connect(&sock).expect("the socket answers");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::io::Write::write_all(&mut stream, b"{\"v\":1,\"command\":\"status\"}\n").expect("ask");
    let mut answer = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(stream), &mut answer).expect("answer");
    assert!(answer.contains("\"ok\":true"), "status answer: {answer}");
    net.expect_stays_sole_holder(0, vip, Duration::from_millis(500), "the first daemon's VIP");
}

// 14. A dump request during start-up

#[test]
fn dump_signal_during_startup_does_not_kill_the_daemon() {
    require!("nft", "ping");
    let mut lab = Lab::new("sigs").expect("lab");
    let node = lab.add_router("r1").expect("router");
    let conf = KeepalivedConf::new()
        .global("vrrp_startup_delay 2")
        .instance(Net::v3(&lab, &node, 200, 0.1))
        .render();
    let d = start_vrrpd(&node, &conf);
    // The pid file exists: a monitoring script may ask for statistics now.
    std::thread::sleep(Duration::from_millis(200));
    d.proc.kill_main(libc::SIGUSR2).expect("SIGUSR2");
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        d.is_running(),
        "vrrpd died of a SIGUSR2 received during vrrp_startup_delay: {:?}{}",
        d.proc.status(),
        lab.diag()
    );
    let vip = lab.vip4(100);
    assert!(
        wait_until(STEP, POLL, || node.has_address(vip)),
        "vrrpd did not become Master after its start-up delay{}",
        lab.diag()
    );
}
