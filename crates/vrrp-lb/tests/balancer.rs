//! The balancer's behaviour, scenario by scenario, through its public API.

mod common;

use std::time::Duration;

use common::*;
use vrrp_lb::check::CheckOutcome;
use vrrp_lb::spec::{Forwarding, RealServerKey, SorryServer};
use vrrp_lb::{Event, Input, OperatorCommand, OperatorError, Override};

fn sorry() -> SorryServer {
    SorryServer {
        key: key(200),
        forwarding: Forwarding::Nat,
        inhibit: false,
    }
}

fn three(quorum: u32, hysteresis: u32) -> vrrp_lb::spec::ServiceSpec {
    let c = tcp(1000, 0, 500, 0);
    let mut s = service(
        (1..=3)
            .map(|n| real_server(n, 1, vec![c.clone()]))
            .collect(),
    );
    s.quorum = quorum;
    s.hysteresis = hysteresis;
    s
}

fn down_set(
    bad: &'static [u8],
) -> impl FnMut(&vrrp_lb::CheckerId, vrrp_lb::Timestamp) -> CheckOutcome {
    move |c, _| {
        if bad.iter().any(|&n| key(n) == c.real_server) {
            CheckOutcome::Down("refused".into())
        } else {
            CheckOutcome::Up
        }
    }
}

fn kinds(d: &Driver) -> Vec<&'static str> {
    d.events
        .iter()
        .map(|(_, e)| match e {
            Event::RealServerUp { .. } => "rs-up",
            Event::RealServerDown { .. } => "rs-down",
            Event::QuorumUp { .. } => "quorum-up",
            Event::QuorumDown { .. } => "quorum-down",
            Event::SorryServerIn { .. } => "sorry-in",
            Event::SorryServerOut { .. } => "sorry-out",
            Event::WeightChanged { .. } => "weight",
            Event::OperatorOverride { .. } => "operator",
            Event::ServiceSuspended { .. } => "suspended",
            Event::ServiceResumed { .. } => "resumed",
            Event::CheckFailed { .. } => "check-failed",
        })
        .collect()
}

#[test]
fn quorum_loss_brings_the_sorry_server_in_and_takes_the_live_servers_out() {
    let mut s = three(2, 0);
    s.sorry_server = Some(sorry());
    let mut d = Driver::new(one(s), 1);
    d.run_until(ms(1500), down_set(&[1]));
    assert_eq!(kinds(&d), ["rs-down"]);
    assert_eq!(d.weight(key(2)), Some(1));
    d.run_until(ms(2500), down_set(&[1, 2]));
    assert_eq!(kinds(&d), ["rs-down", "rs-down", "sorry-in", "quorum-down"]);
    // keepalived's perform_quorum_state: only the sorry server is left.
    assert_eq!(d.weight(key(3)), None);
    assert_eq!(d.weight(key(200)), Some(1));
    assert!(d.b.status()[0].sorry_server_in);
    assert!(
        d.fifo()
            .contains(&"VS [10.99.0.100]:tcp:80 DOWN".to_string())
    );
    d.run_until(ms(3500), down_set(&[1]));
    assert_eq!(
        kinds(&d)[4..],
        ["rs-up", "sorry-out", "quorum-up"],
        "{:?}",
        d.events
    );
    assert_eq!(d.weight(key(200)), None);
    assert_eq!(d.weight(key(2)), Some(1));
    assert_eq!(d.weight(key(3)), Some(1));
}

#[test]
fn hysteresis_holds_the_quorum_inside_its_band() {
    // quorum 3, hysteresis 1: lost below 2, regained at 4.
    let c = tcp(1000, 0, 500, 0);
    let mut s = service(
        (1..=4)
            .map(|n| real_server(n, 1, vec![c.clone()]))
            .collect(),
    );
    s.quorum = 3;
    s.hysteresis = 1;
    let mut d = Driver::new(one(s), 1);
    d.run_until(ms(1500), down_set(&[1, 2]));
    assert!(d.b.status()[0].quorum_up, "live 2 is inside the band");
    d.run_until(ms(2500), down_set(&[1, 2, 3]));
    assert!(!d.b.status()[0].quorum_up, "live 1 < 3 - 1");
    d.run_until(ms(3500), down_set(&[1]));
    assert!(!d.b.status()[0].quorum_up, "live 3 < 3 + 1");
    d.run_until(ms(4500), down_set(&[]));
    assert!(d.b.status()[0].quorum_up, "live 4 >= 3 + 1");
}

#[test]
fn inhibit_on_failure_keeps_a_failed_server_at_weight_zero() {
    let mut s = three(1, 0);
    s.real_servers[0].inhibit_on_failure = true;
    let mut d = Driver::new(one(s), 1);
    d.run_until(ms(1500), down_set(&[1]));
    assert_eq!(d.weight(key(1)), Some(0));
    d.run_until(ms(2500), down_set(&[]));
    assert_eq!(d.weight(key(1)), Some(1));
}

#[test]
fn alpha_servers_start_out_and_the_quorum_starts_lost() {
    let mut s = three(1, 0);
    for rs in &mut s.real_servers {
        rs.alpha = true;
    }
    s.sorry_server = Some(sorry());
    let mut d = Driver::new(one(s), 1);
    assert_eq!(kinds(&d), ["sorry-in", "quorum-down"]);
    assert_eq!(d.weight(key(1)), None);
    assert_eq!(d.weight(key(200)), Some(1));
    // The first checks (warmup 0: at once) bring them in; one that fails is reported
    // down once, as keepalived notifies an alpha server's first failure.
    d.run_until(ms(10), down_set(&[3]));
    assert_eq!(
        kinds(&d),
        [
            "sorry-in",
            "quorum-down",
            "rs-up",
            "sorry-out",
            "quorum-up",
            "rs-up",
            "rs-down"
        ]
    );
    d.run_until(ms(1500), down_set(&[3]));
    assert_eq!(kinds(&d).len(), 7, "no second report");
    assert_eq!(d.weight(key(1)), Some(1));
    assert_eq!(d.weight(key(3)), None);
    assert_eq!(d.weight(key(200)), None);
}

#[test]
fn file_check_offsets_move_the_configured_weight() {
    let mut d = Driver::new(one(three(1, 0)), 1);
    d.run_until(ms(10), |c, _| match c.real_server {
        k if k == key(1) => CheckOutcome::WeightOffset(4),
        k if k == key(2) => CheckOutcome::WeightOffset(-5),
        _ => CheckOutcome::Up,
    });
    // Configured weight 1: 1 + 4, and 1 - 5 floored at 0 (in the pool, no new connections).
    assert_eq!(d.weight(key(1)), Some(5));
    assert_eq!(d.weight(key(2)), Some(0));
    assert_eq!(d.weight(key(3)), Some(1));
}

#[test]
fn checker_set_weights_and_operator_overrides() {
    let mut d = Driver::new(one(three(1, 0)), 1);
    d.run_until(ms(10), |c, _| {
        if c.real_server == key(2) {
            CheckOutcome::Weight(7)
        } else {
            CheckOutcome::Up
        }
    });
    assert_eq!(d.weight(key(2)), Some(7));
    let cmd = |rs: RealServerKey, action| OperatorCommand {
        service: sid(),
        real_server: rs,
        action,
    };
    let now = d.now;
    d.b.operator(now, cmd(key(1), Some(Override::Weight(5))))
        .unwrap();
    d.drain();
    assert_eq!(d.weight(key(1)), Some(5));
    d.b.operator(now, cmd(key(1), Some(Override::Drain)))
        .unwrap();
    d.drain();
    assert_eq!(d.weight(key(1)), Some(0));
    d.b.operator(now, cmd(key(1), Some(Override::Disable)))
        .unwrap();
    d.drain();
    assert_eq!(d.weight(key(1)), None);
    assert_eq!(d.b.status()[0].live_weight, 8);
    d.b.operator(now, cmd(key(1), None)).unwrap();
    d.drain();
    assert_eq!(d.weight(key(1)), Some(1));
    assert_eq!(
        d.b.operator(now, cmd(key(9), None)),
        Err(OperatorError::NoSuchRealServer(sid(), key(9)))
    );
    // A reload that changes the server drops its override.
    d.b.operator(now, cmd(key(3), Some(Override::Weight(9))))
        .unwrap();
    d.drain();
    let mut s = three(1, 0);
    s.real_servers[2].weight = 4;
    d.input(Input::Reload(one(s)));
    assert_eq!(d.weight(key(3)), Some(4));
}

#[test]
fn ha_suspend_runs_nothing_until_the_address_is_held() {
    let mut s = three(1, 0);
    s.ha_suspend = true;
    let mut d = Driver::new(one(s), 1);
    assert!(d.b.desired().services.is_empty());
    assert_eq!(d.b.poll_timeout(), None);
    assert!(d.outstanding.is_empty());
    let vip = "10.99.0.100".parse().unwrap();
    let asked = d.input(Input::VipHeld {
        addr: vip,
        held: true,
    });
    assert_eq!(asked.len(), 3, "warmup 0: checks at once");
    assert_eq!(d.weight(key(1)), Some(1));
    d.run_until(ms(1500), down_set(&[]));
    d.input(Input::VipHeld {
        addr: vip,
        held: false,
    });
    assert!(d.b.desired().services.is_empty());
    assert_eq!(d.b.poll_timeout(), None);
    assert_eq!(kinds(&d), ["resumed", "suspended"]);
}

#[test]
fn a_service_resumed_without_its_quorum_says_so() {
    let mut s = three(1, 0);
    s.ha_suspend = true;
    s.sorry_server = Some(sorry());
    for rs in &mut s.real_servers {
        rs.alpha = true;
    }
    let mut d = Driver::new(one(s), 1);
    assert!(d.events.is_empty(), "suspended: nothing to tell");
    let vip = "10.99.0.100".parse().unwrap();
    d.input(Input::VipHeld {
        addr: vip,
        held: true,
    });
    assert_eq!(kinds(&d), ["resumed", "sorry-in", "quorum-down"]);
    assert_eq!(d.weight(key(200)), Some(1));
}

#[test]
fn reload_keeps_state_and_adds_and_removes() {
    let spec = three(1, 0);
    let mut d = Driver::new(one(spec.clone()), 1);
    d.run_until(ms(1500), down_set(&[1]));
    let (changes, events) = (d.changes, d.events.len());
    d.input(Input::Reload(one(spec.clone())));
    assert_eq!(
        (d.changes, d.events.len()),
        (changes, events),
        "same spec, nothing"
    );
    assert_eq!(d.weight(key(1)), None, "still failed");
    let mut bigger = spec;
    bigger.real_servers.remove(1);
    bigger
        .real_servers
        .push(real_server(4, 2, vec![tcp(1000, 0, 500, 0)]));
    d.input(Input::Reload(one(bigger.clone())));
    let removed = d.events.last().unwrap().1.clone();
    assert_eq!(
        removed.fifo_line().unwrap(),
        "RS [10.99.1.2]:tcp:80 [10.99.0.100]:tcp:80 DOWN",
        "a live server removed is reported down"
    );
    assert_eq!(d.weight(key(2)), None);
    assert_eq!(d.weight(key(4)), Some(2));
    assert_eq!(d.weight(key(1)), None);
    d.run_until(ms(3000), down_set(&[]));
    assert_eq!(d.weight(key(1)), Some(1));
    // A service removed: its servers and its quorum go down.
    let before = d.events.len();
    d.input(Input::Reload(vrrp_lb::spec::BalancerSpec::default()));
    assert!(d.b.desired().services.is_empty());
    assert_eq!(
        kinds(&d)[before..],
        ["rs-down", "rs-down", "rs-down", "quorum-down"]
    );
    assert_eq!(d.b.poll_timeout(), None);
}

#[test]
fn shutdown_with_omega_tells_and_empties() {
    let mut s = three(1, 0);
    s.omega = true;
    let mut d = Driver::new(one(s.clone()), 1);
    d.run_until(ms(500), down_set(&[]));
    d.input(Input::Shutdown { keep: false });
    assert_eq!(kinds(&d), ["rs-down", "rs-down", "rs-down", "quorum-down"]);
    assert!(d.b.desired().services.is_empty());
    assert_eq!(d.b.poll_timeout(), None);
    let mut kept = Driver::new(one(s), 1);
    kept.input(Input::Shutdown { keep: true });
    assert_eq!(kept.weight(key(1)), Some(1));
}

#[test]
fn a_probe_never_answered_counts_as_failed() {
    // connect_timeout 3 s + 1 s margin; retry 1 with 0.5 s between.
    let spec = one(service(vec![real_server(1, 1, vec![tcp(1000, 1, 500, 0)])]));
    let mut d = Driver::new(spec, 1);
    assert_eq!(d.outstanding.len(), 1);
    assert_eq!(d.b.poll_timeout(), Some(ms(4000)));
    d.now = ms(4000);
    d.outstanding.clear();
    let asked = d.input(Input::Timeout);
    assert!(asked.is_empty(), "retry after delay_before_retry");
    assert_eq!(d.b.poll_timeout(), Some(ms(4500)));
    let c = d.b.status()[0].real_servers[0].checkers[0].clone();
    assert_eq!(c.consecutive_failures, 1);
    assert!(c.last_failure.unwrap().contains("no answer"));
    // A late answer for the lost probe is ignored.
    let late = vrrp_lb::CheckerId {
        service: sid(),
        real_server: key(1),
        index: 0,
    };
    d.input(Input::CheckDone {
        checker: late,
        probe: 1,
        outcome: CheckOutcome::Up,
        latency: Some(Duration::from_secs(5)),
    });
    assert_eq!(
        d.b.status()[0].real_servers[0].checkers[0].consecutive_failures,
        1
    );
}

#[test]
fn sorry_server_inhibit_keeps_it_at_weight_zero() {
    let mut s = three(2, 0);
    s.sorry_server = Some(SorryServer {
        inhibit: true,
        ..sorry()
    });
    let mut d = Driver::new(one(s), 1);
    assert_eq!(d.weight(key(200)), Some(0));
    d.run_until(ms(1500), down_set(&[1, 2]));
    assert_eq!(d.weight(key(200)), Some(1));
    d.run_until(ms(2500), down_set(&[]));
    assert_eq!(d.weight(key(200)), Some(0));
}

#[test]
fn warmup_spreads_the_first_checks_reproducibly() {
    let c = tcp(10_000, 0, 500, 5_000);
    let spec = one(service(
        (1..=20)
            .map(|n| real_server(n, 1, vec![c.clone()]))
            .collect(),
    ));
    let first = |seed| {
        let d = Driver::new(spec.clone(), seed);
        assert!(d.outstanding.is_empty());
        d.b.poll_timeout().unwrap()
    };
    assert_eq!(first(7), first(7));
    assert!(first(7) < ms(5000));
}
