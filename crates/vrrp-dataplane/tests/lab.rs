//! The nftables data path in network namespaces with real nginx servers (root only).

mod common;

use std::time::Duration;

use common::{LbLab, counts, service, state, with_persistence};
use vrrp_lb::spec::{Protocol, Scheduler};

#[test]
fn rr_spreads_evenly_and_counts() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = LbLab::new("dprr", 4);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    let dests = (1..=4).map(|i| t.dest(i, vip, 80, 1)).collect();
    let svc = service(vip, 80, Protocol::Tcp, Scheduler::Rr, dests);
    let id = svc.0.clone();
    t.balancer.set(state(vec![svc]));
    let names = t.fetch(vip, 400, None);
    let c = counts(&names);
    assert_eq!(names.len(), 400, "{c:?}");
    assert_eq!(c.len(), 4, "{c:?}");
    for n in c.values() {
        assert!((80..=120).contains(n), "{c:?}");
    }
    let stats = t.balancer.stats();
    let s = &stats.services[&id];
    assert_eq!(s.total.connections, 400, "{s:?}");
    for d in s.destinations.values() {
        assert!(
            d.connections >= 80 && d.packets >= d.connections * 5,
            "{d:?}"
        );
        assert!(d.bytes > d.packets * 40, "{d:?}");
    }
}

#[test]
fn wrr_respects_weights() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = LbLab::new("dpwrr", 3);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    t.balancer
        .set(state(vec![t.http_service(vip, Scheduler::Wrr, &[1, 2, 3])]));
    let c = counts(&t.fetch(vip, 1200, None));
    for (name, want) in [("r1", 200), ("r2", 400), ("r3", 600)] {
        let got = c.get(name).copied().unwrap_or(0);
        assert!(got * 100 >= want * 85 && got * 100 <= want * 115, "{c:?}");
    }
}

/// Eight client addresses, `per` connections each: the server each one reached.
fn by_source(t: &LbLab, per: usize) -> Vec<Vec<String>> {
    (0..8u8)
        .map(|i| {
            let src = t.lab.ipv4(50 + i).into();
            t.fetch(t.vip4(), per, Some(src))
        })
        .collect()
}

fn add_sources(t: &LbLab) {
    for i in 0..8u8 {
        t.client
            .add_address(&format!("{}/24", t.lab.ipv4(50 + i)))
            .unwrap();
    }
}

#[test]
fn sh_and_mh_stick_to_the_client_and_mh_moves_only_the_lost_servers_clients() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = LbLab::new("dphash", 4);
    add_sources(&t);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    for scheduler in [Scheduler::Sh, Scheduler::Mh] {
        t.balancer
            .set(state(vec![t.http_service(vip, scheduler, &[1; 4])]));
        let seen = by_source(&t, 6);
        for names in &seen {
            assert_eq!(names.len(), 6, "{scheduler:?} {seen:?}");
            assert!(
                names.iter().all(|n| *n == names[0]),
                "{scheduler:?} {seen:?}"
            );
        }
    }
    // mh: r4 goes; the clients of the others stay where they were.
    let before: Vec<String> = by_source(&t, 1).into_iter().map(|v| v[0].clone()).collect();
    t.balancer
        .set(state(vec![t.http_service(vip, Scheduler::Mh, &[1; 3])]));
    let after: Vec<String> = by_source(&t, 1).into_iter().map(|v| v[0].clone()).collect();
    let moved = before
        .iter()
        .zip(&after)
        .filter(|(b, a)| *b != "r4" && b != a)
        .count();
    eprintln!("mh: before {before:?} after {after:?}: {moved} clients of live servers moved");
    assert!(moved <= 1, "before {before:?} after {after:?}");
    assert!(!after.contains(&"r4".to_string()));
}

#[test]
fn persistence_keeps_a_client_on_its_server() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = LbLab::new("dppers", 4);
    add_sources(&t);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    let dests = (1..=4).map(|i| t.dest(i, vip, 80, 1)).collect();
    let svc = with_persistence(service(vip, 80, Protocol::Tcp, Scheduler::Rr, dests), 60);
    t.balancer.set(state(vec![svc]));
    let seen = by_source(&t, 5);
    for names in &seen {
        assert!(names.iter().all(|n| *n == names[0]), "{seen:?}");
    }
    let firsts = counts(&seen.iter().map(|v| v[0].clone()).collect::<Vec<_>>());
    assert!(
        firsts.len() >= 3,
        "rr still spreads new clients: {firsts:?}"
    );
    // Persistence edited away: plain rr again, the service keeps working.
    t.balancer
        .set(state(vec![t.http_service(vip, Scheduler::Rr, &[1; 4])]));
    let c = counts(&t.fetch(vip, 8, None));
    assert_eq!(c.len(), 4, "{c:?}");
}

#[test]
fn ipv6_service() {
    vrrp_testlab::require!("nft", "nginx", "curl");
    let mut t = LbLab::new("dpv6", 3);
    t.balancer.open(true).unwrap();
    let vip = t.vip6();
    t.balancer
        .set(state(vec![t.http_service(vip, Scheduler::Rr, &[1; 3])]));
    let c = counts(&t.fetch(vip, 30, None));
    assert_eq!(c.values().sum::<usize>(), 30, "{c:?}");
    assert!(c.values().all(|n| *n == 10), "{c:?}");
}

#[test]
fn udp_service_with_socat() {
    vrrp_testlab::require!("nft", "nginx", "socat");
    let mut t = LbLab::new("dpudp", 2);
    t.balancer.open(true).unwrap();
    let mut procs = Vec::new();
    for (i, (node, _)) in t.servers.iter().enumerate() {
        let reply = format!("SYSTEM:echo r{}", i + 1);
        procs.push(
            node.spawn("socat", &["UDP4-RECVFROM:5353,fork", &reply], &[])
                .unwrap(),
        );
    }
    // socat binds after it starts: wait until each server listens (a loaded machine is slow).
    for (node, _) in &t.servers {
        let listening =
            vrrp_testlab::wait_until(Duration::from_secs(10), Duration::from_millis(50), || {
                node.run_ok("ss", &["-Hlun", "sport = :5353"])
                    .is_ok_and(|out| !out.trim().is_empty())
            });
        assert!(listening, "socat does not listen on {}", node.name());
    }
    let vip = t.vip4();
    let dests = (1..=2).map(|i| t.dest(i, vip, 5353, 1)).collect();
    t.balancer.set(state(vec![service(
        vip,
        5353,
        Protocol::Udp,
        Scheduler::Rr,
        dests,
    )]));
    // Each request is a new flow; rr alternates the flows. A datagram lost on a loaded
    // machine is asked again (a new flow too), so the split is only roughly even.
    let mut answers = Vec::new();
    for _ in 0..6 {
        let answer = (0..3).find_map(|_| {
            let out = t
                .client
                .run_ok(
                    "bash",
                    &["-c", &format!("echo x | socat -t 1 -T 3 - UDP4:{vip}:5353")],
                )
                .ok()?;
            Some(out.trim().to_string()).filter(|a| !a.is_empty())
        });
        answers.push(answer.unwrap_or_default());
    }
    let c = counts(&answers);
    for r in ["r1", "r2"] {
        let n = c.get(r).copied().unwrap_or(0);
        assert!((2..=4).contains(&n), "{r} answered {n} of 6: {answers:?}");
    }
}

#[test]
fn weight_zero_keeps_established_connections_and_takes_no_new_ones() {
    vrrp_testlab::require!("nft", "nginx", "curl", "bash");
    let mut t = LbLab::new("dpw0", 3);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    t.balancer
        .set(state(vec![t.http_service(vip, Scheduler::Rr, &[1; 3])]));
    let held = common::Held::open(&t, vip);
    let server = held.server();
    let i: usize = server.trim_start_matches('r').parse().unwrap();
    let dests = (1..=3)
        .map(|j| t.dest(j, vip, 80, u32::from(j != i)))
        .collect();
    t.balancer.set(state(vec![service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Rr,
        dests,
    )]));
    let c = counts(&t.fetch(vip, 30, None));
    assert!(
        !c.contains_key(&server),
        "{server} took new connections: {c:?}"
    );
    assert_eq!(c.values().sum::<usize>(), 30, "{c:?}");
    let (line, _) = held.trigger();
    assert_eq!(line, format!("second {server}"));
}

#[test]
fn removal_ends_established_connections_at_once() {
    vrrp_testlab::require!("nft", "nginx", "curl", "bash", "conntrack");
    let mut t = LbLab::new("dprm", 3);
    t.balancer.open(true).unwrap();
    let vip = t.vip4();
    t.balancer
        .set(state(vec![t.http_service(vip, Scheduler::Rr, &[1; 3])]));
    let held = common::Held::open(&t, vip);
    let server = held.server();
    let i: usize = server.trim_start_matches('r').parse().unwrap();
    let server_ip = t.servers[i - 1].0.ipv4().to_string();
    let tracked = |t: &LbLab| {
        let out =
            t.lb.run("conntrack", &["-L", "-p", "tcp", "--orig-port-dst", "80"])
                .unwrap();
        String::from_utf8_lossy(&out.stdout).contains(&format!("src={server_ip} "))
    };
    assert!(tracked(&t), "the held connection is tracked");
    let dests = (1..=3)
        .filter(|j| *j != i)
        .map(|j| t.dest(j, vip, 80, 1))
        .collect();
    t.balancer.set(state(vec![service(
        vip,
        80,
        Protocol::Tcp,
        Scheduler::Rr,
        dests,
    )]));
    assert!(!tracked(&t), "its conntrack entry is gone");
    let (line, took) = held.trigger();
    eprintln!("after removal: {line:?} in {took:?}");
    // A reset, seen when reading or, if a delayed ACK already drew it, when writing.
    assert!(
        line == "second closed 1" || line == "second closed write",
        "the client sees a reset: {line}"
    );
    assert!(took < Duration::from_secs(3), "{took:?}");
    let c = counts(&t.fetch(vip, 20, None));
    assert!(
        !c.contains_key(&server) && c.values().sum::<usize>() == 20,
        "{c:?}"
    );
}
