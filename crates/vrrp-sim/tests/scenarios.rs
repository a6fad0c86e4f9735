//! Scripted scenarios with exact expectations.

use std::time::Duration;

use vrrp_core::{Family, State, Timestamp, Version, timers};
use vrrp_sim::check;
use vrrp_sim::{Action, LinkParams, LinkScope, NodeId, RouterSpec, Scenario, Trace, VrKey, What};

fn secs(s: u64) -> Timestamp {
    Timestamp::from_millis(s * 1000)
}

/// When `node` entered `to` for `vr` at or after `since`.
fn entered(
    trace: &Trace,
    vr: VrKey,
    node: NodeId,
    to: State,
    since: Timestamp,
) -> Option<Timestamp> {
    trace.events.iter().find_map(|e| match e.what {
        What::State { to: t, .. }
            if t == to && e.at >= since && e.vr == Some(vr) && e.node == Some(node) =>
        {
            Some(e.at)
        }
        _ => None,
    })
}

/// The last time `node` received an advertisement of `vr` from `from` up to `until`.
fn last_recv(trace: &Trace, vr: VrKey, node: NodeId, from: NodeId, until: Timestamp) -> Timestamp {
    trace
        .events
        .iter()
        .rev()
        .filter(|e| e.at <= until && e.node == Some(node) && e.vr == Some(vr))
        .find_map(|e| match e.what {
            What::Recv { from: f, .. } if f == from => Some(e.at),
            _ => None,
        })
        .expect("an advertisement was received")
}

fn demo(version: Version) -> Scenario {
    let mut s = Scenario::new(1);
    for (name, n, prio) in [("r1", 1, 200), ("r2", 2, 150), ("r3", 3, 100)] {
        s.router(RouterSpec::new(name, n).priority(prio).version(version));
    }
    s.at(secs(5), Action::Crash(0))
        .at(secs(12), Action::Start(0))
        .at(secs(20), Action::Shutdown(0));
    s
}

/// The demo's story, with exact RFC timings, for both versions.
#[test]
fn demo_failover_preemption_and_handover() {
    for version in [Version::V3, Version::V2] {
        let s = demo(version);
        let mut sim = s.build();
        sim.run_until(secs(26));
        let t = sim.trace();
        let vr = VrKey::v4(1);
        // Election: r1 after its Master_Down_Interval from startup.
        assert_eq!(
            entered(t, vr, 0, State::Master, Timestamp::ZERO),
            Some(Timestamp::ZERO + timers::master_down_interval(version, 200, 100))
        );
        // Crash: r2 exactly Master_Down_Interval after r1's last advertisement reached it.
        let rx = last_recv(t, vr, 1, 0, secs(5) + Duration::from_millis(1));
        let mdi2 = timers::master_down_interval(version, 150, 100);
        assert_eq!(entered(t, vr, 1, State::Master, secs(5)), Some(rx + mdi2));
        assert_eq!(
            entered(t, vr, 2, State::Master, secs(5)),
            None,
            "r3 stays Backup"
        );
        // Restart: r1 preempts one Master_Down_Interval after startup.
        let mdi1 = timers::master_down_interval(version, 200, 100);
        assert_eq!(
            entered(t, vr, 0, State::Master, secs(12)),
            Some(secs(12) + mdi1)
        );
        // Shutdown: r2 Skew_Time after the priority-0 advertisement reached it.
        let rx0 = t
            .events
            .iter()
            .find_map(|e| match e.what {
                What::Recv {
                    from: 0,
                    priority: 0,
                    ..
                } if e.node == Some(1) => Some(e.at),
                _ => None,
            })
            .expect("priority 0 received");
        let skew2 = timers::skew_time(version, 150, 100);
        assert_eq!(
            entered(t, vr, 1, State::Master, secs(20)),
            Some(rx0 + skew2)
        );
        let report = check::check_all(&s, t);
        assert!(report.ok(), "{:?}", report.violations);
    }
}

/// A crash sends nothing; a shutdown sends priority 0.
#[test]
fn crash_is_silent_shutdown_says_goodbye() {
    let s = demo(Version::V3);
    let mut sim = s.build();
    sim.run_until(secs(26));
    let prio0: Vec<Timestamp> = sim
        .trace()
        .events
        .iter()
        .filter_map(|e| match e.what {
            What::Send { priority: 0, .. } => Some(e.at),
            _ => None,
        })
        .collect();
    assert_eq!(prio0, vec![secs(20)]);
}

/// IPv4 and IPv6 groups with the same VRID, and a VRRPv2 group, share one LAN without
/// interfering; each elects its best router.
#[test]
fn several_vrids_and_families_on_one_lan() {
    let mut s = Scenario::new(3);
    let v4 = |vrid| vrrp_sim::InstanceSpec::new(vrid);
    let v6 = |vrid| vrrp_sim::InstanceSpec {
        key: VrKey::v6(vrid),
        ..vrrp_sim::InstanceSpec::new(vrid)
    };
    let v2 = |vrid| vrrp_sim::InstanceSpec {
        version: Version::V2,
        ..vrrp_sim::InstanceSpec::new(vrid)
    };
    for (n, prios) in [
        (1u8, [200, 100, 50]),
        (2, [100, 200, 60]),
        (3, [50, 60, 200]),
    ] {
        let instances = vec![
            vrrp_sim::InstanceSpec {
                priority: prios[0],
                ..v4(1)
            },
            vrrp_sim::InstanceSpec {
                priority: prios[1],
                ..v6(1)
            },
            vrrp_sim::InstanceSpec {
                priority: prios[2],
                ..v2(2)
            },
        ];
        s.router(RouterSpec::new(format!("r{n}"), n).instances(instances));
    }
    let mut sim = s.build();
    sim.run_until(secs(10));
    assert_eq!(sim.masters(VrKey::v4(1)), vec![0]);
    assert_eq!(sim.masters(VrKey::v6(1)), vec![1]);
    assert_eq!(sim.masters(VrKey::v4(2)), vec![2]);
    let report = check::check_all(&s, sim.trace());
    assert!(report.ok(), "{:?}", report.violations);
    assert_eq!(
        sim.instance(1, VrKey::v6(1)).map(|i| i.config().family),
        Some(Family::Ipv6)
    );
}

/// Link down puts the Master in Fault and a Backup takes over; link up brings it back and
/// it preempts again.
#[test]
fn link_down_and_up() {
    let mut s = Scenario::new(4);
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("r2", 2).priority(100))
        .at(secs(10), Action::LinkDown(0))
        .at(secs(20), Action::LinkUp(0));
    let mut sim = s.build();
    sim.run_until(secs(15));
    let vr = VrKey::v4(1);
    assert_eq!(sim.instance(0, vr).map(|i| i.state()), Some(State::Fault));
    assert_eq!(sim.masters(vr), vec![1]);
    sim.run_until(secs(30));
    assert_eq!(sim.masters(vr), vec![0]);
    let report = check::check_all(&s, sim.trace());
    assert!(report.ok(), "{:?}", report.violations);
}

/// An observer follows the Master, reports silence, and never sends.
#[test]
fn observer_follows_and_stays_silent() {
    let mut s = Scenario::new(5);
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("obs", 2).observer())
        .at(secs(10), Action::Crash(0));
    let mut sim = s.build();
    sim.run_until(secs(8));
    let vr = VrKey::v4(1);
    let master = sim
        .instance(1, vr)
        .and_then(|i| i.master())
        .map(|m| m.address);
    assert_eq!(master, Some(s.routers[0].address(Family::Ipv4)));
    sim.run_until(secs(20));
    assert_eq!(sim.instance(1, vr).and_then(|i| i.master()), None);
    assert!(
        !sim.trace()
            .events
            .iter()
            .any(|e| e.node == Some(1) && matches!(e.what, What::Send { .. }))
    );
}

/// Full loss to one router makes it a second Master; restoring the link resolves it.
#[test]
fn per_receiver_loss_splits_and_rejoins() {
    let mut s = Scenario::new(6);
    let deaf = LinkParams {
        loss: 1.0,
        ..LinkParams::default()
    };
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("r2", 2).priority(100))
        .at(secs(10), Action::SetLink(LinkScope::To(1), deaf))
        .at(
            secs(20),
            Action::SetLink(LinkScope::All, LinkParams::default()),
        );
    let mut sim = s.build();
    sim.run_until(secs(19));
    assert_eq!(sim.masters(VrKey::v4(1)), vec![0, 1]);
    sim.run_until(secs(25));
    assert_eq!(sim.masters(VrKey::v4(1)), vec![0]);
}

/// Setting a Master's priority below a Backup's lets the Backup preempt.
#[test]
fn priority_change_hands_over() {
    let mut s = Scenario::new(7);
    s.router(RouterSpec::new("r1", 1).priority(200))
        .router(RouterSpec::new("r2", 2).priority(150))
        .at(
            secs(10),
            Action::SetPriority {
                node: 0,
                vrid: None,
                priority: 100,
            },
        );
    let mut sim = s.build();
    sim.run_until(secs(20));
    assert_eq!(sim.masters(VrKey::v4(1)), vec![1]);
    let report = check::check_all(&s, sim.trace());
    assert!(report.ok(), "{:?}", report.violations);
}

/// Every packet goes through the codec: sends carry the encoded length.
#[test]
fn packets_are_encoded() {
    let s = demo(Version::V3);
    let mut sim = s.build();
    sim.run_until(secs(6));
    let lens: Vec<usize> = sim
        .trace()
        .events
        .iter()
        .filter_map(|e| match e.what {
            What::Send { len, .. } => Some(len),
            _ => None,
        })
        .collect();
    // VRRPv3 over IPv4 with one address: 8-byte header + 4-byte address.
    assert!(
        !lens.is_empty() && lens.iter().all(|&l| l == 12),
        "{lens:?}"
    );
}
