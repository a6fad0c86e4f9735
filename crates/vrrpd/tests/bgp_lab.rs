//! Active-active balancers behind ECMP (issue 12): a router running FRR (bgpd, bfdd, zebra;
//! kernel ECMP with L4 hashing), three balancer nodes (vrrpd + FRR, the VIP/32 announced
//! over BGP with BFD 100 ms x 3), four nginx real servers and a client whose flows each
//! have their own source address (`vrrp_testlab::bgp`, `vrrp_testlab::flows`). DR with
//! `mh`: every balancer maps a flow to the same server, so a flow moved by ECMP to another
//! balancer survives.
//!
//! Each test builds its own lab and removes it (namespaces and processes, also on failure).
//! Bounds are several times what is measured here; the measuring runs are
//! `scripts/bench-bgp.sh` (docs/benchmarks.md).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::time::Duration;

use vrrp_testlab::bgp::{ActiveActive, Announce, Forwarding, Spec};
use vrrp_testlab::flows::{FlowKind, FlowRecord, Flows};
use vrrp_testlab::{frr::frr_unavailable, skip};

/// BFD detects in 300 ms, bgpd and zebra then withdraw: a bound only a real bug breaks.
const ROUTE_GONE: Duration = Duration::from_secs(5);
/// A BGP session comes up within a few seconds (connect retry 1 s).
const SESSION_UP: Duration = Duration::from_secs(30);
/// A held flow's request: a retransmission after a move must be answered within this.
const ANSWER: Duration = Duration::from_secs(6);
/// Requests on each flow every 50 ms.
const EVERY: Duration = Duration::from_millis(50);

fn vrrpd_binary() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_vrrpd"))
}

/// Whether this vrrpd announces with `bgp_announce` (bgp-core's feature), asked of
/// `vrrpd -t`; otherwise the lab installs the route by hand.
fn announce_mode() -> Announce {
    vrrp_testlab::bgp::announce_supported(&vrrpd_binary())
}

fn spec(balancers: usize) -> Spec {
    Spec {
        balancers,
        servers: 4,
        client_addresses: 48,
        forwarding: Forwarding::Dr,
        scheduler: "mh".into(),
        announce: announce_mode(),
        vrrpd: vrrpd_binary(),
    }
}

/// The lab with balancers `running` started and routed through; None (skipped) when FRR
/// or the tools are missing.
fn lab(tag: &str, balancers: usize, running: &[usize]) -> ActiveActive {
    let mut aa = ActiveActive::new(tag, spec(balancers)).expect("build the lab");
    for &i in running {
        aa.start_balancer(i).expect("start a balancer");
    }
    aa.wait_next_hops(running, SESSION_UP)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    aa
}

fn ready() -> bool {
    if !vrrp_testlab::lab_ready(&["nft", "nginx", "vtysh"]) {
        return false;
    }
    if let Some(why) = frr_unavailable() {
        skip(&why);
        return false;
    }
    true
}

fn held(aa: &ActiveActive) -> Flows {
    let f = Flows::start(
        &aa.client,
        aa.vip,
        &aa.sources,
        FlowKind::Held,
        EVERY,
        ANSWER,
    )
    .expect("start the held flows");
    assert!(
        f.wait_answered(3, Duration::from_secs(20)),
        "not every held flow is answered: {:?}",
        f.records()
            .iter()
            .filter(|r| r.answered < 3)
            .collect::<Vec<_>>()
    );
    f
}

fn broken(records: &[FlowRecord]) -> Vec<&FlowRecord> {
    records.iter().filter(|r| r.broken.is_some()).collect()
}

/// Which balancer carries each held flow (by the balancers' flow sets).
fn carriers(aa: &ActiveActive, running: &[usize]) -> BTreeMap<(Ipv4Addr, u16), usize> {
    let mut m = BTreeMap::new();
    for &i in running {
        for f in aa.balancer_flows(i) {
            m.insert(f, i);
        }
    }
    m
}

/// (a) then (b): three next hops, every balancer carries flows; one balancer is SIGKILLed
/// (its BFD session drops), the route goes within the detection time plus margin, and no
/// held connection breaks (DR + mh).
#[test]
fn balancers_share_and_one_dies_without_breaking_connections() {
    if !ready() {
        return;
    }
    let mut aa = lab("bgpa", 3, &[0, 1, 2]);
    let flows = held(&aa);
    std::thread::sleep(Duration::from_secs(1));
    let by = carriers(&aa, &[0, 1, 2]);
    let mut share = [0usize; 3];
    for i in by.values() {
        share[*i] += 1;
    }
    let packets: Vec<u64> = (0..3).map(|i| aa.balancer_counts(i).0).collect();
    eprintln!("flows per balancer {share:?}, packets per balancer {packets:?}");
    assert!(
        share.iter().all(|&n| n > 0) && packets.iter().all(|&p| p > 0),
        "every balancer carries traffic: flows {share:?} packets {packets:?}"
    );
    let before = flows.records();
    let victims: Vec<_> = by
        .iter()
        .filter(|(_, i)| **i == 1)
        .map(|(f, _)| *f)
        .collect();
    assert_eq!(aa.router_frr.bfd_up(), 3, "three BFD sessions up");
    let killed = aa.crash_balancer(1).expect("crash lb2");
    aa.wait_next_hops(&[0, 2], ROUTE_GONE)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    eprintln!(
        "lb2 SIGKILLed: route withdrawn {:?} after ({} flows were on lb2)",
        killed.elapsed(),
        victims.len()
    );
    assert_eq!(aa.router_frr.bfd_up(), 2, "lb2's BFD session is down");
    // Every flow must be answered again after the move.
    let at = flows
        .records()
        .iter()
        .map(|r| r.answered)
        .collect::<Vec<_>>();
    let moved_on = vrrp_testlab::wait_until(Duration::from_secs(15), EVERY, || {
        flows
            .records()
            .iter()
            .zip(&at)
            .all(|(r, n)| r.broken.is_some() || r.answered > n + 2)
    });
    let after = flows.stop();
    let broke = broken(&after);
    let gap = after.iter().map(|r| r.max_gap).max().unwrap_or_default();
    eprintln!(
        "held flows {}: broken {}, longest gap {gap:?}",
        after.len(),
        broke.len()
    );
    assert!(moved_on, "some flows were not answered again");
    assert!(broke.is_empty(), "held connections broke: {broke:?}");
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.last_server, a.last_server, "a flow changed server");
    }
}
