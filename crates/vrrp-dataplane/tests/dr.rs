//! Direct routing on the nftables data path (root only): the balancer holds the VIP and
//! hands the client's frames to real servers that hold it on `lo` (with `arp_ignore=1`,
//! `arp_announce=2`) and answer the client themselves. Nothing listens on the balancer,
//! so an answer proves the frame went through.

mod common;

use std::net::IpAddr;

use common::{Held, LbLab, counts, service, state};
use vrrp_lb::dataplane::{DesiredState, Destination};
use vrrp_lb::spec::{Forwarding, Protocol, Scheduler};

fn dr_lab(tag: &str, servers: usize) -> LbLab {
    let t = LbLab::new(tag, servers);
    for (node, _) in &t.servers {
        for dev in ["all", "eth0"] {
            node.sysctl(&format!("net.ipv4.conf.{dev}.arp_ignore"), "1")
                .unwrap();
            node.sysctl(&format!("net.ipv4.conf.{dev}.arp_announce"), "2")
                .unwrap();
        }
        let v4 = format!("{}/32", t.vip4());
        node.run_ok("ip", &["addr", "add", &v4, "dev", "lo"])
            .unwrap();
        let v6 = format!("{}/128", t.vip6());
        node.run_ok("ip", &["-6", "addr", "add", &v6, "dev", "lo", "nodad"])
            .unwrap();
    }
    t
}

/// Real server `i` by direct routing.
fn dr(t: &LbLab, i: usize, vip: IpAddr, weight: u32) -> Destination {
    let mut d = t.dest(i, vip, 80, weight);
    d.forwarding = Forwarding::Dr;
    d
}

fn dr_service(t: &LbLab, vip: IpAddr, scheduler: Scheduler, weights: &[u32]) -> DesiredState {
    let dests = weights
        .iter()
        .enumerate()
        .map(|(i, w)| dr(t, i + 1, vip, *w))
        .collect();
    state(vec![service(vip, 80, Protocol::Tcp, scheduler, dests)])
}

fn within(got: usize, want: usize, percent: usize) -> bool {
    got * 100 >= want * (100 - percent) && got * 100 <= want * (100 + percent)
}

#[test]
fn dr_spreads_by_weight_keeps_flows_and_counts() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = dr_lab("dprdr", 3);
    let vip = t.vip4();
    // Nothing answers on the balancer itself.
    assert!(t.fetch(vip, 3, None).is_empty());
    t.balancer.open(false).unwrap();
    let rr = dr_service(&t, vip, Scheduler::Rr, &[1, 1, 1]);
    let id = rr.services.keys().next().unwrap().clone();
    t.balancer.set(rr);
    let c = counts(&t.fetch(vip, 300, None));
    eprintln!("rr: {c:?}");
    assert_eq!(c.values().sum::<usize>(), 300, "{c:?}");
    for name in ["r1", "r2", "r3"] {
        assert!(within(c.get(name).copied().unwrap_or(0), 100, 35), "{c:?}");
    }
    let stats = t.balancer.stats();
    let s = &stats.services[&id];
    eprintln!("rr stats: {s:?}");
    assert!((300..=330).contains(&s.total.connections), "{s:?}");
    for i in 1..=3 {
        let d = &s.destinations[&dr(&t, i, vip, 1).key];
        let answered = c.get(&format!("r{i}")).copied().unwrap_or(0) as u64;
        // A retransmitted SYN would count twice.
        assert!((answered..=answered + 5).contains(&d.connections), "{d:?}");
        assert!(d.packets >= d.connections * 4, "{d:?}");
        assert!(d.bytes > d.packets * 40, "{d:?}");
    }

    t.balancer
        .set(dr_service(&t, vip, Scheduler::Wrr, &[1, 2, 3]));
    let c = counts(&t.fetch(vip, 1200, None));
    eprintln!("wrr: {c:?}");
    for (name, want) in [("r1", 200), ("r2", 400), ("r3", 600)] {
        assert!(within(c.get(name).copied().unwrap_or(0), want, 25), "{c:?}");
    }

    // A held connection stays on its server while another server goes.
    let held = Held::open(&t, vip);
    let first = held.server();
    let gone = (1..=3).find(|i| format!("r{i}") != first).unwrap();
    let mut weights = vec![1, 2, 3];
    weights[gone - 1] = 0;
    t.balancer
        .set(dr_service(&t, vip, Scheduler::Wrr, &weights));
    let (second, _) = held.trigger();
    assert_eq!(second, format!("second {first}"));
    let c = counts(&t.fetch(vip, 200, None));
    eprintln!("r{gone} at weight 0: {c:?}");
    assert_eq!(c.values().sum::<usize>(), 200, "{c:?}");
    assert!(!c.contains_key(&format!("r{gone}")), "{c:?}");
    // Removed altogether.
    let mut dests = vec![];
    for (i, w) in weights.iter().enumerate() {
        if i + 1 != gone {
            dests.push(dr(&t, i + 1, vip, *w));
        }
    }
    t.balancer.set(state(vec![service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Wrr,
        dests,
    )]));
    let c = counts(&t.fetch(vip, 100, None));
    assert_eq!(c.values().sum::<usize>(), 100, "{c:?}");
    assert!(!c.contains_key(&format!("r{gone}")), "{c:?}");
    t.balancer.shutdown(false);
    assert!(t.fetch(vip, 3, None).is_empty());
}

#[test]
fn dr_sh_and_mh_stick_to_the_client_and_ipv6_forwards() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = dr_lab("dpdrsh", 3);
    for i in 0..8u8 {
        t.client
            .add_address(&format!("{}/24", t.lab.ipv4(50 + i)))
            .unwrap();
    }
    t.balancer.open(false).unwrap();
    let (vip, vip6) = (t.vip4(), t.vip6());
    for scheduler in [Scheduler::Sh, Scheduler::Mh] {
        let mut both = dr_service(&t, vip, scheduler, &[1, 1, 1]);
        both.services
            .extend(dr_service(&t, vip6, Scheduler::Rr, &[1, 1, 1]).services);
        t.balancer.set(both);
        let mut servers = std::collections::BTreeSet::new();
        for i in 0..8u8 {
            let names = t.fetch(vip, 5, Some(t.lab.ipv4(50 + i).into()));
            assert_eq!(names.len(), 5, "{scheduler:?} {names:?}");
            assert!(names.iter().all(|n| *n == names[0]), "{names:?}");
            servers.insert(names[0].clone());
        }
        eprintln!("{scheduler:?}: 8 clients on {servers:?}");
        assert!(servers.len() >= 2, "{servers:?}");
    }
    let c = counts(&t.fetch(vip6, 90, None));
    eprintln!("ipv6 rr: {c:?}");
    assert_eq!(c.values().sum::<usize>(), 90, "{c:?}");
    assert_eq!(c.len(), 3, "{c:?}");
}

#[test]
fn a_service_changes_method_in_one_transaction_and_shutdown_removes_both_tables() {
    vrrp_testlab::require!("nft");
    let mut t = LbLab::new("dpdrmv", 1);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    let nat = service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Rr,
        vec![t.dest(1, vip, 80, 1)],
    );
    let list = |family: &str| {
        let name = if family == "inet" {
            "vrrpd_lb"
        } else {
            "vrrpd_lb_dr"
        };
        t.lb.run_ok("nft", &["list", "table", family, name])
            .unwrap()
    };
    t.balancer.set(state(vec![nat.clone()]));
    t.balancer.set(dr_service(&t, vip, Scheduler::Rr, &[1]));
    assert!(!list("inet").contains("jump s"), "{}", list("inet"));
    let dr_table = list("netdev");
    let fwd = format!("fwd ip to {} device \"eth0\"", t.servers[0].0.ipv4());
    assert!(dr_table.contains(&fwd), "{dr_table}");
    assert!(
        dr_table.contains("hook ingress device \"eth0\""),
        "{dr_table}"
    );
    t.balancer.set(state(vec![nat]));
    assert!(list("inet").contains("jump s"), "{}", list("inet"));
    assert!(!list("netdev").contains("chain"), "{}", list("netdev"));
    t.balancer.shutdown(false);
    let tables = t.lb.run_ok("nft", &["list", "tables"]).unwrap();
    assert!(!tables.contains("vrrpd_lb"), "{tables}");
}

/// `services` DR services of `per` destinations on 10.200.0.0/16 (on-link for the
/// balancer), wrr; `edit` sets the weight of one destination of the first service.
fn many(services: usize, per: usize, edit: Option<(usize, u32)>) -> DesiredState {
    let vip: IpAddr = "10.99.0.100".parse().unwrap();
    let list = (0..services)
        .map(|s| {
            let dests = (0..per)
                .map(|i| {
                    let n = s * per + i;
                    let addr = IpAddr::from([10, 200, (n / 250) as u8, (n % 250 + 2) as u8]);
                    let weight = match edit {
                        Some((at, w)) if s == 0 && i == at => w,
                        _ => 1,
                    };
                    Destination {
                        key: vrrp_lb::spec::RealServerKey { addr, port: 0 },
                        weight,
                        forwarding: Forwarding::Dr,
                        upper_threshold: 0,
                        lower_threshold: 0,
                    }
                })
                .collect();
            service(vip, 1000 + s as u16, Protocol::Tcp, Scheduler::Wrr, dests)
        })
        .collect();
    state(list)
}

#[test]
fn a_dr_weight_change_at_1000_destinations_is_applied_quickly() {
    vrrp_testlab::require!("nft");
    let mut t = LbLab::new("dpdrlat", 0);
    t.lb.add_address("10.200.0.1/16").unwrap();
    for (services, per) in [(1, 1000), (10, 100)] {
        t.balancer.state = DesiredState::default();
        t.balancer.open(false).unwrap();
        let full = t.balancer.set(many(services, per, None));
        let mut weights = Vec::new();
        for i in 0..15 {
            let w = if i % 2 == 0 { 0 } else { 3 };
            weights.push(t.balancer.set(many(services, per, Some((per / 2, w)))));
        }
        weights.sort();
        let weight = weights[weights.len() / 2];
        let start = std::time::Instant::now();
        let stats = t.balancer.stats();
        let read = start.elapsed();
        assert_eq!(stats.services.len(), services);
        eprintln!(
            "DR {services} service(s) x {per} destinations: install {full:?}, weight change \
             (median of 15) {weight:?}, stats {read:?}"
        );
        assert!(weight < std::time::Duration::from_millis(200), "{weight:?}");
    }
}
