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

use vrrp_testlab::Nginx;
use vrrp_testlab::bgp::{ActiveActive, Announce, Forwarding, PORT, Spec};
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
    let spec = spec(balancers);
    eprintln!("the VIP is announced {:?}", spec.announce);
    let mut aa = ActiveActive::new(tag, spec).expect("build the lab");
    for &i in running {
        aa.start_balancer(i).expect("start a balancer");
    }
    aa.wait_next_hops(running, SESSION_UP)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    // BGP installs a next hop before its BFD session is up (FRR does not hold the session
    // back for BFD): the routes alone do not prove that failure detection is armed.
    let armed = vrrp_testlab::wait_until(SESSION_UP, Duration::from_millis(200), || {
        aa.router_frr.bfd_up() == running.len()
    });
    assert!(
        armed,
        "BFD sessions up: {} of {}",
        aa.router_frr.bfd_up(),
        running.len()
    );
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

/// Which balancer carries each held flow of `flows` (by the balancers' flow sets).
fn carriers(
    aa: &ActiveActive,
    running: &[usize],
    flows: &[FlowRecord],
) -> BTreeMap<(Ipv4Addr, u16), usize> {
    let held: Vec<_> = flows
        .iter()
        .filter_map(|r| Some((r.source?, r.port)))
        .collect();
    let mut m = BTreeMap::new();
    for &i in running {
        for f in aa.balancer_flows(i) {
            if held.contains(&f) {
                m.insert(f, i);
            }
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
    let by = carriers(&aa, &[0, 1, 2], &flows.records());
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

/// New connections from every source, one per request, each bounded.
fn new_connections(aa: &ActiveActive) -> Flows {
    Flows::start(
        &aa.client,
        aa.vip,
        &aa.sources,
        FlowKind::PerRequest,
        EVERY * 2,
        Duration::from_secs(2),
    )
    .expect("start the new connections")
}

/// The server each source's new connections reached over a window (`mh` hashes the
/// source address: one server per source), and the failures.
fn map_sources(aa: &ActiveActive, window: Duration) -> (BTreeMap<Ipv4Addr, Vec<String>>, u64) {
    let f = new_connections(aa);
    std::thread::sleep(window);
    let records = f.stop();
    let failed = records.iter().map(|r| r.failed).sum();
    let map = records
        .into_iter()
        .filter_map(|r| Some((r.source?, r.servers.keys().cloned().collect())))
        .collect();
    (map, failed)
}

/// (c) A real server dies: every balancer stops using it (no new connection fails or
/// reaches it), and its flows move; other flows stay, but for the few slots Maglev's
/// rebuilt table gives to another live server (measured and bounded at 10 %).
#[test]
fn a_dead_real_server_moves_only_its_flows() {
    if !ready() {
        return;
    }
    let aa = lab("bgpc", 3, &[0, 1, 2]);
    let before = a_dead_real_server(&aa);
    the_server_returns_and_a_restarted_balancer_agrees(aa, &before);
}

/// rs2 dies: see the test; returns each source's server before.
fn a_dead_real_server(aa: &ActiveActive) -> BTreeMap<Ipv4Addr, Vec<String>> {
    let (before, failed) = map_sources(aa, Duration::from_secs(2));
    assert_eq!(failed, 0, "no failure before the server dies");
    assert!(
        before.values().all(|s| s.len() == 1),
        "mh: one server per source: {before:?}"
    );
    let flows = held(aa);
    aa.servers[1].1.kill().expect("kill nginx on rs2");
    // Every balancer's checker must take rs2 out: then no new connection fails.
    let clean =
        vrrp_testlab::wait_until(Duration::from_secs(30), Duration::from_millis(500), || {
            let (m, failed) = map_sources(aa, Duration::from_secs(1));
            failed == 0 && m.values().all(|s| !s.contains(&"rs2".to_string()))
        });
    assert!(
        clean,
        "the balancers still send new connections to rs2\n{}",
        aa.core().diag()
    );
    let (after, failed) = map_sources(aa, Duration::from_secs(2));
    let records = flows.stop();
    assert_eq!(failed, 0);
    let (mut moved, mut others) = (0, 0);
    for (src, servers) in &before {
        let now = after.get(src).cloned().unwrap_or_default();
        if servers.first().map(String::as_str) == Some("rs2") {
            moved += 1;
            assert!(!now.contains(&"rs2".to_string()), "{src} still reaches rs2");
        } else if servers != &now {
            others += 1;
        }
    }
    let unexpected = records
        .iter()
        .filter(|r| r.broken.is_some() && r.last_server.as_deref() != Some("rs2"))
        .count();
    let on_rs2 = records
        .iter()
        .filter(|r| r.last_server.as_deref() == Some("rs2"))
        .count();
    eprintln!(
        "rs2 died: {moved} of {} sources moved, {others} others (Maglev's disruption); held flows \
         broken: {} of {on_rs2} on rs2, {unexpected} elsewhere",
        before.len(),
        broken(&records).len() - unexpected
    );
    assert!(moved > 0, "some sources were on rs2: {before:?}");
    // Maglev rebuilds its table: a removal also moves a few slots between live servers
    // (a few per cent); more would be a bug (a table that disagrees, or a rehash).
    let live = before.len() - moved;
    assert!(
        others * 10 <= live,
        "{others} of {live} sources of live servers moved"
    );
    let held_live = records.len() - on_rs2;
    assert!(
        unexpected * 10 <= held_live,
        "{unexpected} of {held_live} held flows to live servers broke"
    );
    before
}

/// (c, continued) rs2 comes back: every source is back on its first server (Maglev's table
/// depends on the live servers only). Then lb2 dies and comes back: its table, built in one
/// go, agrees with those of lb1 and lb3, which lived through rs2's loss and return, so no
/// held flow that ECMP moves onto it breaks.
fn the_server_returns_and_a_restarted_balancer_agrees(
    mut aa: ActiveActive,
    before: &BTreeMap<Ipv4Addr, Vec<String>>,
) {
    let rs2 = aa.servers[1].0.clone();
    aa.servers[1].1 = Nginx::start(&rs2, "rs2", PORT).expect("nginx on rs2 again");
    let back =
        vrrp_testlab::wait_until(Duration::from_secs(30), Duration::from_millis(500), || {
            map_sources(&aa, Duration::from_secs(1)) == (before.clone(), 0)
        });
    assert!(back, "the sources are not back on their first servers");
    let flows = held(&aa);
    aa.crash_balancer(1).expect("crash lb2");
    aa.wait_next_hops(&[0, 2], ROUTE_GONE)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    aa.restart_balancer(1).expect("lb2 back");
    aa.wait_next_hops(&[0, 1, 2], SESSION_UP)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    std::thread::sleep(Duration::from_secs(2));
    let on_lb2 = carriers(&aa, &[1], &flows.records()).len();
    let records = flows.stop();
    eprintln!(
        "rs2 back, lb2 died and came back: {on_lb2} held flows on lb2 again, {} broken",
        broken(&records).len()
    );
    assert!(on_lb2 > 0, "lb2 carries held flows again");
    assert!(
        broken(&records).is_empty(),
        "held flows broke: {:?}",
        broken(&records)
    );
}

/// (d) A balancer put in maintenance drains: its route is withdrawn, its flows move to
/// the others, and no request fails (held or new).
#[test]
fn a_balancer_in_maintenance_drains_without_failures() {
    if !ready() {
        return;
    }
    let aa = lab("bgpd", 3, &[0, 1, 2]);
    let flows = held(&aa);
    let fresh = new_connections(&aa);
    std::thread::sleep(Duration::from_secs(1));
    aa.maintenance(2).expect("lb3 into maintenance");
    let took = aa
        .wait_next_hops(&[0, 1], ROUTE_GONE * 4)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    // lb3 carries nothing once the router forgot it (its flow set empties in 3 s).
    let idle = vrrp_testlab::wait_until(Duration::from_secs(10), EVERY, || {
        aa.balancer_flows(2).is_empty()
    });
    std::thread::sleep(Duration::from_secs(1));
    let (held_after, fresh_after) = (flows.stop(), fresh.stop());
    let failed: u64 = fresh_after.iter().map(|r| r.failed).sum();
    let answered: u64 = fresh_after.iter().map(|r| r.answered).sum();
    eprintln!(
        "lb3 in maintenance: withdrawn after {took:?}; new requests {answered} answered, {failed} failed; held broken {}",
        broken(&held_after).len()
    );
    assert!(idle, "lb3 still carries flows: {:?}", aa.balancer_flows(2));
    assert_eq!(failed, 0, "new requests failed during the drain");
    assert!(
        broken(&held_after).is_empty(),
        "held flows broke: {:?}",
        broken(&held_after)
    );
}

/// (e) A balancer added takes at most 1/N + 5 % of the new flows, and moves no flow to
/// another server (held connections survive whichever balancer ECMP now picks).
#[test]
fn an_added_balancer_takes_its_share_and_breaks_nothing() {
    if !ready() {
        return;
    }
    let mut aa = lab("bgpe", 3, &[0, 1]);
    let flows = held(&aa);
    let before = flows.records();
    let old = carriers(&aa, &[0, 1], &before);
    aa.start_balancer(2).expect("start lb3");
    aa.wait_next_hops(&[0, 1, 2], SESSION_UP)
        .unwrap_or_else(|e| panic!("{e}\n{}", aa.core().diag()));
    std::thread::sleep(Duration::from_secs(3)); // the flow sets forget the old paths
    let syns0: Vec<u64> = (0..3).map(|i| aa.balancer_counts(i).1).collect();
    let (_, failed) = map_sources(&aa, Duration::from_secs(3));
    let syns: Vec<u64> = (0..3).map(|i| aa.balancer_counts(i).1 - syns0[i]).collect();
    let now = carriers(&aa, &[0, 1, 2], &before);
    let after = flows.stop();
    let total: u64 = syns.iter().sum();
    let share = syns[2] as f64 / total.max(1) as f64;
    let to_new = now.values().filter(|&&i| i == 2).count();
    let between_old = old
        .iter()
        .filter(|(f, i)| now.get(f).is_some_and(|j| j != *i && *j != 2))
        .count();
    eprintln!(
        "lb3 added: {:.1} % of {total} new connections ({syns:?}); held flows: {to_new} moved to lb3, \
         {between_old} moved between lb1 and lb2 (kernel ECMP rehash), broken {}",
        share * 100.0,
        broken(&after).len()
    );
    assert_eq!(failed, 0);
    assert!(total > 100, "too few connections measured: {syns:?}");
    assert!(
        share > 0.0 && share <= 1.0 / 3.0 + 0.05,
        "lb3's share {share}"
    );
    assert!(
        broken(&after).is_empty(),
        "held flows broke: {:?}",
        broken(&after)
    );
    for (b, a) in before.iter().zip(&after) {
        assert_eq!(b.last_server, a.last_server, "a held flow changed server");
    }
}
