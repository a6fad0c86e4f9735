//! Partitions and heals: after the heal, exactly one Master per instance within one
//! advertisement interval (RFC 9568 §6.4.3: a Master that hears a higher priority, or an
//! equal one from a higher address, steps down; one that hears a lower one advertises at
//! once).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use vrrp_testlab::chaos::{self, AddressEvents, heal_vrrp, partition_vrrp, realtime_ns};
use vrrp_testlab::{Daemon, DaemonProc, KeepalivedConf, Lab, Node, VrrpInstance, require};

use super::{POLL, csv, knob, loadavg, start, vrrpd};

/// The scheduling margin on top of one advertisement interval, and the time the heal's
/// own nft command takes (the clock starts before it).
const MARGIN: Duration = Duration::from_millis(150);

/// One VRRP instance on both routers.
#[derive(Clone, Copy)]
struct Inst {
    name: &'static str,
    vrid: u8,
    version: u8,
    interval: f64,
    /// Priorities on r1 and r2.
    priority: [u8; 2],
    /// Host part of the VIP.
    vip: u8,
}

impl Inst {
    /// The router (0: r1, 1: r2) that wins after a heal: the higher priority, else the
    /// higher primary address (RFC 9568 §6.4.3), r2's.
    fn winner(&self) -> usize {
        usize::from(self.priority[1] >= self.priority[0])
    }

    /// A Backup's Master_Down_Interval for the lower priority (RFC 9568 §6.1; RFC 3768: the
    /// skew in seconds).
    fn master_down(&self) -> Duration {
        let p = f64::from(self.priority[0].min(self.priority[1]));
        let skew = (256.0 - p) / 256.0
            * if self.version == 2 {
                1.0
            } else {
                self.interval
            };
        Duration::from_secs_f64(3.0 * self.interval + skew)
    }
}

const V3_BY_PRIORITY: Inst = Inst {
    name: "V3_PRIO",
    vrid: 51,
    version: 3,
    interval: 0.1,
    priority: [200, 100],
    vip: 100,
};
const V3_BY_ADDRESS: Inst = Inst {
    name: "V3_ADDR",
    vrid: 52,
    version: 3,
    interval: 0.1,
    priority: [100, 100],
    vip: 101,
};
const V2_BY_PRIORITY: Inst = Inst {
    name: "V2_PRIO",
    vrid: 53,
    version: 2,
    interval: 1.0,
    priority: [100, 200],
    vip: 102,
};
const V2_BY_ADDRESS: Inst = Inst {
    name: "V2_ADDR",
    vrid: 54,
    version: 2,
    interval: 1.0,
    priority: [150, 150],
    vip: 103,
};

fn conf(node: &Node, lab: &Lab, side: usize, insts: &[Inst]) -> String {
    let mut c = KeepalivedConf::new().router_id(node.name());
    for i in insts {
        c = c.instance(
            VrrpInstance::new(i.name, "eth0", i.vrid, i.priority[side])
                .version(i.version)
                .advert_int(i.interval)
                .vip(format!("{}/24", lab.vip4(i.vip))),
        );
    }
    c.render()
}

struct Split {
    lab: Lab,
    nodes: [Node; 2],
    daemons: Vec<DaemonProc>,
    events: [AddressEvents; 2],
    insts: Vec<Inst>,
    label: String,
}

impl Split {
    fn new(tag: &str, kinds: [&Daemon; 2], insts: &[Inst]) -> Split {
        let mut lab = Lab::new(tag).expect("lab");
        let nodes = [
            lab.add_router("r1").expect("router"),
            lab.add_router("r2").expect("router"),
        ];
        let events = [
            AddressEvents::start(&nodes[0]).expect("ip monitor"),
            AddressEvents::start(&nodes[1]).expect("ip monitor"),
        ];
        let daemons = (0..2)
            .map(|s| start(&lab, kinds[s], &nodes[s], &conf(&nodes[s], &lab, s, insts)))
            .collect();
        let label = format!("{} / {}", kinds[0].name(), kinds[1].name());
        Split {
            lab,
            nodes,
            daemons,
            events,
            insts: insts.to_vec(),
            label,
        }
    }

    fn vip(&self, i: &Inst) -> IpAddr {
        IpAddr::V4(self.lab.vip4(i.vip))
    }

    fn diag(&self) -> String {
        self.lab.diag()
    }

    /// Waits (bounded) until `cond(instance, node)` holds for every instance and node.
    fn wait_all(&self, timeout: Duration, cond: impl Fn(&Inst, usize) -> bool) -> bool {
        vrrp_testlab::wait_until(timeout, POLL, || {
            self.insts.iter().all(|i| (0..2).all(|s| cond(i, s)))
        })
    }

    fn longest_master_down(&self) -> Duration {
        self.insts
            .iter()
            .map(Inst::master_down)
            .max()
            .unwrap_or_default()
    }

    /// Only each instance's winner holds its VIP.
    fn one_master_each(&self, timeout: Duration) -> bool {
        self.wait_all(timeout, |i, s| {
            self.nodes[s].has_address(self.vip(i)) == (s == i.winner())
        })
    }

    /// One cut and heal; per instance, the time from the heal to the loser's VIP deletion.
    fn cycle(&self, n: usize) -> Vec<Duration> {
        partition_vrrp(&self.lab).expect("partition");
        let bound = self.longest_master_down() * 2 + Duration::from_secs(5);
        let all_master = self.wait_all(bound, |i, s| self.nodes[s].has_address(self.vip(i)));
        assert!(
            all_master,
            "heal {n}: not all Master while cut{}",
            self.diag()
        );
        // A few advertisements as two Masters, so that the heal meets steady senders.
        std::thread::sleep(Duration::from_millis(150));
        let healed_at = realtime_ns();
        heal_vrrp(&self.lab).expect("heal");
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut took = vec![None; self.insts.len()];
        while took.iter().any(Option::is_none) && Instant::now() < deadline {
            std::thread::sleep(POLL);
            for (k, i) in self.insts.iter().enumerate() {
                let loser = 1 - i.winner();
                let ev = self.events[loser].events().expect("address events");
                took[k] = ev
                    .iter()
                    .find(|e| e.deleted && e.addr == self.vip(i) && e.t_ns >= healed_at)
                    .map(|e| Duration::from_nanos((e.t_ns - healed_at) as u64));
            }
        }
        let settled = self.one_master_each(Duration::from_secs(5));
        assert!(settled, "heal {n}: not one Master each{}", self.diag());
        // The winners never let go.
        for i in &self.insts {
            let ev = self.events[i.winner()].events().expect("address events");
            let lost = ev
                .iter()
                .any(|e| e.deleted && e.addr == self.vip(i) && e.t_ns >= healed_at);
            assert!(
                !lost,
                "heal {n}: {} winner dropped its VIP{}",
                i.name,
                self.diag()
            );
        }
        took.into_iter()
            .zip(&self.insts)
            .map(|(t, i)| t.unwrap_or_else(|| panic!("heal {n}: {} never converged", i.name)))
            .collect()
    }
}

fn run(tag: &str, kinds: [&Daemon; 2], insts: &[Inst], heals: usize) {
    let s = Split::new(tag, kinds, insts);
    // With equal priorities the first to start stays Master: a Backup accepts an equal
    // priority (RFC 9568 §6.4.2); the address decides only between two Masters.
    let elected = s.wait_all(
        s.longest_master_down() * 4 + Duration::from_secs(5),
        |i, _| s.nodes.iter().filter(|n| n.has_address(s.vip(i))).count() == 1,
    );
    assert!(elected, "{}: no initial election{}", s.label, s.diag());
    eprintln!("chaos-split: {}: load before {}", s.label, loadavg());
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); insts.len()];
    for n in 0..heals {
        for (k, t) in s.cycle(n).into_iter().enumerate() {
            let i = &insts[k];
            csv(
                "split.csv",
                "daemons,instance,version,interval_s,heal,converged_ms",
                &format!(
                    "{},{},{},{},{n},{:.3}",
                    s.label,
                    i.name,
                    i.version,
                    i.interval,
                    t.as_secs_f64() * 1e3
                ),
            );
            times[k].push(t);
        }
    }
    eprintln!("chaos-split: {}: load after {}", s.label, loadavg());
    for (i, t) in insts.iter().zip(&mut times) {
        t.sort();
        let bound = Duration::from_secs_f64(i.interval) + MARGIN;
        let within = t.iter().filter(|d| **d <= bound).count();
        let ms = |d: &Duration| d.as_secs_f64() * 1e3;
        eprintln!(
            "chaos-split: {} {} (v{}, {} s): {within} of {} heals within {bound:?}; \
             median {:.1} ms, max {:.1} ms",
            s.label,
            i.name,
            i.version,
            i.interval,
            t.len(),
            ms(&t[t.len() / 2]),
            ms(&t[t.len() - 1])
        );
        assert_eq!(
            within,
            t.len(),
            "{}: {} converged in {:?}{}",
            s.label,
            i.name,
            t,
            s.diag()
        );
    }
    for d in &s.daemons {
        assert!(d.is_running(), "{}", s.diag());
    }
    // Transitions beyond the heals' (and the start-up's: keepalived logs its first BACKUP,
    // the router started first may be Master until the other is up) are flaps.
    for (side, d) in s.daemons.iter().enumerate() {
        for i in insts {
            let t = chaos::transitions(d, i.name);
            let losses = if i.winner() == side { 0 } else { heals as u64 };
            assert!(
                t.to_master <= heals as u64 + 1 && t.to_backup <= losses + 2,
                "{}: {} on r{} flapped: {t:?}{}",
                s.label,
                i.name,
                side + 1,
                s.diag()
            );
        }
    }
}

#[test]
fn partition_heals_converge_vrrpv3() {
    require!("nft");
    let heals = knob("VRRPD_CHAOS_HEALS", 20);
    let v = vrrpd();
    run("splv3", [&v, &v], &[V3_BY_PRIORITY, V3_BY_ADDRESS], heals);
}

#[test]
fn partition_heals_converge_vrrpv2() {
    require!("nft");
    let heals = knob("VRRPD_CHAOS_V2_HEALS", 3);
    let v = vrrpd();
    run("splv2", [&v, &v], &[V2_BY_PRIORITY, V2_BY_ADDRESS], heals);
}

/// v2 and v3 instances side by side on one LAN, keepalived as the peer of each.
#[test]
fn partition_heals_converge_mixed_versions_with_keepalived() {
    require!("nft", "keepalived");
    let heals = knob("VRRPD_CHAOS_V2_HEALS", 3);
    let all = [V3_BY_PRIORITY, V3_BY_ADDRESS, V2_BY_PRIORITY, V2_BY_ADDRESS];
    run("splmx", [&vrrpd(), &Daemon::Keepalived], &all, heals);
}
