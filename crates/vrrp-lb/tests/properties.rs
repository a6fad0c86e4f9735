//! Properties of the balancer over random configurations, probe outcomes and time steps.
//! The driver (tests/common) checks on every step that the emitted changes rebuild
//! `desired()`, that at most one probe per checker is out, and that deadlines are ahead.

mod common;

use common::*;
use proptest::prelude::*;
use vrrp_lb::check::CheckOutcome;
use vrrp_lb::spec::{BalancerSpec, Forwarding, SorryServer};
use vrrp_lb::{Event, Input, OperatorCommand, Override};

#[derive(Clone, Debug)]
enum Op {
    /// Time passes by this many ms, then a timeout.
    Advance(u64),
    /// The n-th outstanding probe (modulo their number) answers.
    Answer(usize, CheckOutcome),
    /// An operator's command on the n-th real server.
    Operator(usize, Option<Override>),
    /// The same configuration again.
    Reload,
    /// VRRP adds or removes the VIP here (`ha_suspend`).
    Vip(bool),
}

fn outcome() -> impl Strategy<Value = CheckOutcome> {
    prop_oneof![
        3 => Just(CheckOutcome::Up),
        3 => Just(CheckOutcome::Down("refused".into())),
        1 => (0u32..5).prop_map(CheckOutcome::Weight),
        1 => (-3i64..3).prop_map(CheckOutcome::WeightOffset),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u64..1500).prop_map(Op::Advance),
        6 => (any::<usize>(), outcome()).prop_map(|(n, o)| Op::Answer(n, o)),
        1 => (any::<usize>(), prop_oneof![
            Just(None),
            Just(Some(Override::Drain)),
            Just(Some(Override::Disable)),
            (0u32..4).prop_map(|w| Some(Override::Weight(w))),
        ]).prop_map(|(n, a)| Op::Operator(n, a)),
        1 => Just(Op::Reload),
        1 => any::<bool>().prop_map(Op::Vip),
    ]
}

fn spec() -> impl Strategy<Value = BalancerSpec> {
    let checker = (
        100u64..2000,
        0u32..3,
        50u64..1000,
        0u64..1000,
        any::<bool>(),
    )
        .prop_map(|(delay, retry, before, warmup, alpha)| {
            let mut c = tcp(delay, retry, before, warmup);
            c.timing.alpha = alpha;
            c.timing.connect_timeout = std::time::Duration::from_millis(delay);
            c
        });
    let rs = (0u32..4, prop::collection::vec(checker, 0..3), any::<bool>());
    (
        prop::collection::vec(rs, 1..5),
        1u32..8,
        0u32..3,
        prop::option::of(any::<bool>()),
        any::<bool>(),
    )
        .prop_map(|(servers, quorum, hysteresis, sorry, ha_suspend)| {
            let real_servers = servers
                .into_iter()
                .enumerate()
                .map(|(i, (weight, checkers, inhibit))| {
                    let mut rs = real_server(i as u8 + 1, weight, checkers);
                    rs.inhibit_on_failure = inhibit;
                    rs
                })
                .collect();
            let mut s = service(real_servers);
            s.quorum = quorum;
            // Inside [quorum - hysteresis, quorum + hysteresis) the live weight stays > 0.
            s.hysteresis = hysteresis.min(quorum - 1);
            s.ha_suspend = ha_suspend;
            s.sorry_server = sorry.map(|inhibit| SorryServer {
                key: key(200),
                forwarding: Forwarding::Nat,
                inhibit,
            });
            one(s)
        })
}

/// The properties that hold after every step.
fn check_state(d: &Driver, spec: &BalancerSpec) {
    let statuses = d.b.status();
    assert_eq!(statuses.len(), spec.services.len());
    for (status, vs_spec) in statuses.iter().zip(&spec.services) {
        let Some(service) = d.b.desired().services.get(&vs_spec.id) else {
            assert!(status.suspended, "only a suspended service is absent");
            continue;
        };
        assert!(!status.suspended);
        for (rs, rs_spec) in status.real_servers.iter().zip(&vs_spec.real_servers) {
            let weight = service.destinations.get(&rs.key).map(|dest| dest.weight);
            if !rs.up {
                // (2) checkers say down: never weight > 0, absent without inhibit.
                assert!(
                    weight.unwrap_or(0) == 0,
                    "{:?} is down with weight {weight:?}",
                    rs.key
                );
                if !rs_spec.inhibit_on_failure {
                    assert_eq!(weight, None, "{:?} is down and present", rs.key);
                }
            }
        }
        // (3) the sorry server carries traffic iff the quorum is lost.
        if vs_spec.sorry_server.is_some() {
            let sorry = service.destinations.get(&key(200)).map(|dest| dest.weight);
            assert_eq!(sorry.unwrap_or(0) > 0, !status.quorum_up, "sorry {sorry:?}");
        }
    }
}

/// (1) the quorum changes only outside the hysteresis band.
fn check_quorum_events(events: &[(vrrp_lb::Timestamp, Event)], quorum: u32, hysteresis: u32) {
    let (q, h) = (u64::from(quorum), u64::from(hysteresis));
    for (_, e) in events {
        match e {
            Event::QuorumUp { live_weight, .. } => {
                assert!(*live_weight >= q + h, "gained at {live_weight}")
            }
            Event::QuorumDown { live_weight, .. } => assert!(
                *live_weight == 0 || *live_weight + h < q,
                "lost at {live_weight}"
            ),
            _ => {}
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn invariants_hold(spec in spec(), ops in prop::collection::vec(op(), 1..150), seed in any::<u64>()) {
        let mut d = Driver::new(spec.clone(), seed);
        let (quorum, hysteresis) = (spec.services[0].quorum, spec.services[0].hysteresis);
        let mut quorum_up = d.b.status()[0].quorum_up;
        for op in ops {
            let before = d.events.len();
            match op {
                Op::Advance(dt) => {
                    d.now += std::time::Duration::from_millis(dt);
                    // A lost answer is failed by the core; forget it here too.
                    let lost: Vec<_> = d.outstanding.keys().cloned().collect();
                    d.input(Input::Timeout);
                    let status = d.b.status();
                    for c in lost {
                        let rs = status[0].real_servers.iter().find(|r| r.key == c.real_server).unwrap();
                        if rs.checkers[c.index].last_check == Some(d.now)
                            && rs.checkers[c.index].last_failure.as_deref().is_some_and(|f| f.contains("no answer"))
                        {
                            d.outstanding.remove(&c);
                        }
                    }
                }
                Op::Answer(n, outcome) => {
                    let mut out: Vec<_> = d.outstanding.keys().cloned().collect();
                    out.sort_by_key(|c| (c.real_server, c.index));
                    if !out.is_empty() {
                        let c = out[n % out.len()].clone();
                        d.answer(c, outcome);
                    }
                }
                Op::Operator(n, action) => {
                    let rs = &spec.services[0].real_servers;
                    let cmd = OperatorCommand { service: sid(), real_server: rs[n % rs.len()].key, action };
                    let now = d.now;
                    d.b.operator(now, cmd).unwrap();
                    d.drain();
                }
                Op::Reload => {
                    d.b.handle(d.now, Input::Reload(spec.clone()));
                    // (5) the same configuration changes nothing.
                    prop_assert_eq!(d.b.poll_output(), None);
                }
                Op::Vip(held) => {
                    let addr = VIP.parse::<std::net::SocketAddr>().unwrap().ip();
                    d.input(Input::VipHeld { addr, held });
                    if d.b.status()[0].suspended {
                        // A suspended service's probes are forgotten.
                        prop_assert_eq!(d.b.poll_timeout(), None);
                        d.outstanding.clear();
                    }
                }
            }
            check_state(&d, &spec);
            let new_events = &d.events[before..];
            // A resumed service reports the quorum it has, as at start (keepalived's start
            // test: up iff live weight >= quorum + hysteresis); that is no transition.
            let resumed = new_events.iter().any(|(_, e)| matches!(e, Event::ServiceResumed { .. }));
            let changed = new_events.iter().any(|(_, e)| matches!(e, Event::QuorumUp { .. } | Event::QuorumDown { .. }));
            let now_up = d.b.status()[0].quorum_up;
            if !resumed {
                check_quorum_events(new_events, quorum, hysteresis);
                prop_assert_eq!(changed, now_up != quorum_up, "quorum changed without its event");
            }
            quorum_up = now_up;
        }
        d.input(Input::Shutdown { keep: false });
        prop_assert!(d.b.desired().services.is_empty());
        prop_assert_eq!(d.b.poll_timeout(), None);
    }
}

/// A second service on port 81: the same shape, other timings.
fn two_services() -> impl Strategy<Value = BalancerSpec> {
    (spec(), spec()).prop_map(|(a, b)| {
        let mut second = b.services[0].clone();
        let vip: std::net::SocketAddr = "10.99.0.100:81".parse().unwrap();
        second.id.key = vrrp_lb::spec::ServiceKey::Socket(vip);
        second.addrs = vec![vrrp_lb::spec::ServiceAddr::Socket(vip)];
        BalancerSpec {
            services: vec![a.services[0].clone(), second],
        }
    })
}

/// The probes still worth answering after a reload from `old` to `new`: those of checkers
/// kept (same service, real server, position, kind and target).
fn kept_probes(d: &mut Driver, old: &BalancerSpec, new: &BalancerSpec) {
    let checker = |spec: &BalancerSpec, c: &vrrp_lb::CheckerId| {
        spec.services
            .iter()
            .find(|s| s.id == c.service)
            .and_then(|s| s.real_servers.iter().find(|r| r.key == c.real_server))
            .and_then(|r| r.checkers.get(c.index))
            .map(|k| (k.kind.clone(), k.target.clone()))
    };
    d.outstanding
        .retain(|c, _| checker(old, c).is_some() && checker(old, c) == checker(new, c));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Two services, reloads between two configurations: the driver's invariants, (2), (3)
    /// and (5) hold throughout.
    #[test]
    fn reloads_keep_the_invariants(
        a in two_services(),
        b in two_services(),
        ops in prop::collection::vec((op(), any::<bool>()), 1..150),
        seed in any::<u64>(),
    ) {
        let mut d = Driver::new(a.clone(), seed);
        let mut current = a.clone();
        for (op, pick_b) in ops {
            match op {
                Op::Advance(dt) => {
                    d.now += std::time::Duration::from_millis(dt);
                    d.outstanding.clear(); // late answers are ignored anyway
                    d.input(Input::Timeout);
                }
                Op::Answer(n, outcome) => {
                    let mut out: Vec<_> = d.outstanding.keys().cloned().collect();
                    out.sort_by_key(|c| (c.service.clone(), c.real_server, c.index));
                    if !out.is_empty() {
                        let c = out[n % out.len()].clone();
                        d.answer(c, outcome);
                    }
                }
                Op::Operator(n, action) => {
                    let vs = &current.services[n % 2];
                    let rs = &vs.real_servers;
                    let cmd = OperatorCommand { service: vs.id.clone(), real_server: rs[n % rs.len()].key, action };
                    let now = d.now;
                    d.b.operator(now, cmd).unwrap();
                    d.drain();
                }
                Op::Reload => {
                    let next = if pick_b { b.clone() } else { a.clone() };
                    let same = next == current;
                    kept_probes(&mut d, &current, &next);
                    d.b.handle(d.now, Input::Reload(next.clone()));
                    if same {
                        // (5) the same configuration changes nothing.
                        prop_assert_eq!(d.b.poll_output(), None);
                    }
                    d.drain();
                    current = next;
                }
                Op::Vip(held) => {
                    let addr = VIP.parse::<std::net::SocketAddr>().unwrap().ip();
                    d.input(Input::VipHeld { addr, held });
                    let suspended: Vec<_> = d.b.status().into_iter().filter(|s| s.suspended).map(|s| s.id).collect();
                    d.outstanding.retain(|c, _| !suspended.contains(&c.service));
                }
            }
            check_state(&d, &current);
        }
    }
}
