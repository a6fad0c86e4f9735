//! The table's life, refusals, fwmark and range services, and apply latency (root only).

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use common::{LbLab, service, state};
use vrrp_dataplane::DataPathError;
use vrrp_lb::dataplane::{DesiredState, Destination};
use vrrp_lb::spec::{
    Forwarding, IpFamily, Protocol, RealServerKey, Scheduler, ServiceAddr, ServiceId, ServiceKey,
};

fn tables(t: &LbLab) -> String {
    t.lb.run_ok("nft", &["list", "tables"]).unwrap()
}

#[test]
fn stale_table_is_replaced_other_tables_untouched_shutdown_removes_or_keeps() {
    vrrp_testlab::require!("nft");
    let mut t = LbLab::new("dptab", 1);
    let stale =
        t.lb.write_file(
            "stale.nft",
            "table inet vrrpd_lb {\n chain junk {\n }\n}\ntable inet othertool {\n chain keepme {\n }\n}\n",
        )
        .unwrap();
    t.lb.run_ok("nft", &["-f", &stale.display().to_string()])
        .unwrap();
    t.balancer.open(false).unwrap();
    let ours =
        t.lb.run_ok("nft", &["list", "table", "inet", "vrrpd_lb"])
            .unwrap();
    assert!(
        !ours.contains("junk") && ours.contains("prerouting"),
        "{ours}"
    );
    let vip = t.vip4();
    let dests = vec![t.dest(1, vip, 80, 1)];
    t.balancer.set(state(vec![service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Rr,
        dests,
    )]));
    t.balancer.shutdown(true);
    let kept =
        t.lb.run_ok("nft", &["list", "table", "inet", "vrrpd_lb"])
            .unwrap();
    assert!(kept.contains("chain s1"), "{kept}");
    // A new run replaces what the old one kept, and removes it at shutdown.
    t.balancer.open(false).unwrap();
    t.balancer.state = DesiredState::default();
    let fresh =
        t.lb.run_ok("nft", &["list", "table", "inet", "vrrpd_lb"])
            .unwrap();
    assert!(!fresh.contains("chain s1"), "{fresh}");
    t.balancer.shutdown(false);
    let list = tables(&t);
    assert!(!list.contains("vrrpd_lb"), "{list}");
    let other =
        t.lb.run_ok("nft", &["list", "table", "inet", "othertool"])
            .unwrap();
    assert!(other.contains("keepme"), "{other}");
}

#[test]
fn unsupported_settings_are_refused_and_change_nothing() {
    vrrp_testlab::require!("nft");
    let mut t = LbLab::new("dpref", 1);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    let ok = service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Rr,
        vec![t.dest(1, vip, 80, 1)],
    );
    t.balancer.set(state(vec![ok.clone()]));
    let before =
        t.lb.run_ok("nft", &["list", "table", "inet", "vrrpd_lb"])
            .unwrap();
    // Direct routing rewrites no port, and one service forwards one way.
    let mut dr_dest = t.dest(1, vip, 80, 1);
    dr_dest.forwarding = Forwarding::Dr;
    let dr_port = service(vip, 81, Protocol::Tcp, Scheduler::Rr, vec![dr_dest]);
    let mixed = service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Rr,
        vec![dr_dest, t.dest(1, vip, 8080, 1)],
    );
    let lc = service(
        vip,
        81,
        Protocol::Tcp,
        Scheduler::Lc,
        vec![t.dest(1, vip, 80, 1)],
    );
    let sctp = service(
        vip,
        82,
        Protocol::Sctp,
        Scheduler::Rr,
        vec![t.dest(1, vip, 80, 1)],
    );
    let v6 = service(
        vip,
        83,
        Protocol::Tcp,
        Scheduler::Rr,
        vec![t.dest(1, t.vip6(), 80, 1)],
    );
    let mut ops = ok.clone();
    ops.1.flags.one_packet = true;
    let mut threshold = ok.clone();
    for d in threshold.1.destinations.values_mut() {
        d.upper_threshold = 100;
    }
    for bad in [
        vec![mixed],
        vec![dr_port],
        vec![ops],
        vec![threshold],
        vec![ok.clone(), lc],
        vec![ok.clone(), sctp],
        vec![ok.clone(), v6],
    ] {
        match t.balancer.try_set(state(bad)) {
            Err(e @ DataPathError::Unsupported { .. }) => eprintln!("refused: {e}"),
            other => panic!("accepted: {other:?}"),
        }
    }
    // Changes that do not lead from the installed state to the desired one.
    let wrong = t.balancer.run(|dp| {
        use vrrp_dataplane::DataPath;
        dp.as_mut().unwrap().apply(&DesiredState::default(), &[])
    });
    assert!(
        matches!(wrong, Err(DataPathError::Inconsistent(_))),
        "{wrong:?}"
    );
    let after =
        t.lb.run_ok("nft", &["list", "table", "inet", "vrrpd_lb"])
            .unwrap();
    assert_eq!(before, after);
    assert_eq!(t.fetch(vip, 3, None), vec!["r1"; 3]);
}

#[test]
fn fwmark_and_address_range_services() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = LbLab::new("dpfwm", 2);
    t.balancer.open(true).unwrap();
    let (vip, vip2) = (t.lab.vip4(100), t.lab.vip4(101));
    // Another tool marks port 8080 of the VIP before nat (mangle priority).
    let marker =
        t.lb.write_file(
            "marker.nft",
            &format!(
                "table ip marker {{\n chain pre {{\n type filter hook prerouting priority mangle;\n \
                 ip daddr {vip} tcp dport 8080 meta mark set 7\n }}\n}}\n"
            ),
        )
        .unwrap();
    t.lb.run_ok("nft", &["-f", &marker.display().to_string()])
        .unwrap();
    let fwm = ServiceId {
        key: ServiceKey::Fwmark(7),
        protocol: Protocol::Tcp,
    };
    let mut fwm_svc = service(
        vip.into(),
        0,
        Protocol::Tcp,
        Scheduler::Rr,
        vec![t.dest(1, vip.into(), 80, 1)],
    )
    .1;
    fwm_svc.addrs = vec![ServiceAddr::Fwmark {
        mark: 7,
        family: IpFamily::V4,
    }];
    let group = ServiceId {
        key: ServiceKey::Group("web".into()),
        protocol: Protocol::Tcp,
    };
    // Port 0: the packet's own port (80) is kept.
    let mut group_svc = service(
        vip.into(),
        0,
        Protocol::Tcp,
        Scheduler::Rr,
        vec![t.dest(2, vip.into(), 0, 1)],
    )
    .1;
    group_svc.addrs = vec![ServiceAddr::Range {
        first: vip.into(),
        last: vip2.into(),
        port: 80,
    }];
    t.balancer
        .set(state(vec![(fwm, fwm_svc), (group, group_svc)]));
    let url8080 = format!("http://{vip}:8080/");
    let out = t
        .client
        .run_ok("curl", &["-s", "--max-time", "5", &url8080])
        .unwrap();
    assert_eq!(out.trim(), "r1");
    assert_eq!(t.fetch(vip.into(), 2, None), vec!["r2"; 2]);
    assert_eq!(t.fetch(vip2.into(), 2, None), vec!["r2"; 2]);
}

fn many(services: usize, per: usize, changed: Option<(usize, usize, u32)>) -> DesiredState {
    let mut list = Vec::new();
    for s in 0..services {
        let vip = IpAddr::V4(Ipv4Addr::new(10, 99, 250, 1));
        let dests: Vec<Destination> = (0..per)
            .map(|d| {
                let weight = match changed {
                    Some((cs, cd, w)) if cs == s && cd == d => w,
                    _ => 1 + (d % 5) as u32,
                };
                Destination {
                    key: RealServerKey {
                        addr: IpAddr::V4(Ipv4Addr::new(10, 99, 251, (d % 200) as u8 + 1)),
                        port: 1000 + (d / 200) as u16,
                    },
                    weight,
                    forwarding: Forwarding::Nat,
                    upper_threshold: 0,
                    lower_threshold: 0,
                }
            })
            .collect();
        list.push(service(
            vip,
            1000 + s as u16,
            Protocol::Tcp,
            Scheduler::Wrr,
            dests,
        ));
    }
    state(list)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// One real-server change at 1,000 destinations: the figure of docs/dataplane.md.
#[test]
fn one_change_at_1000_destinations_is_applied_quickly() {
    vrrp_testlab::require!("nft");
    let mut t = LbLab::new("dplat", 0);
    t.balancer.open(true).unwrap();
    for (services, per) in [(1, 1000), (100, 10)] {
        t.balancer.state = DesiredState::default();
        t.balancer.open(true).unwrap();
        let full = t.balancer.set(many(services, per, None));
        let mut weight = Vec::new();
        for i in 0..15 {
            let w = if i % 2 == 0 { 0 } else { 3 };
            weight.push(t.balancer.set(many(services, per, Some((0, 500 % per, w)))));
        }
        let base = many(services, per, None);
        let mut removed = base.clone();
        let first = removed.services.values_mut().next().unwrap();
        let key = *first.destinations.keys().nth(per / 2).unwrap();
        first.destinations.remove(&key);
        t.balancer.set(base.clone());
        let remove = t.balancer.set(removed);
        let add = t.balancer.set(base);
        let weight = median(weight);
        eprintln!(
            "{services} service(s) x {per} destinations: install {full:?}, weight change \
             (median of 15) {weight:?}, removal {remove:?}, addition {add:?}"
        );
        assert!(weight < Duration::from_millis(100), "{weight:?}");
        assert!(remove < Duration::from_millis(200) && add < Duration::from_millis(200));
    }
}
