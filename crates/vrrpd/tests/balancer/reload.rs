//! Reload by difference: the unchanged real servers keep their connections, also through a
//! storm of reloads.

use std::collections::BTreeMap;
use std::fs;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use vrrp_testlab::{require, wait_until};

use crate::common::*;

/// Configuration A: rs1, rs2, rs3; B: rs1, rs2, rs4 (rr). A held keep-alive connection to
/// rs1 or rs2 survives `vrrpctl reload` from A to B (rs4 added, rs3 removed) and back.
/// Then 20 reloads in a row (B, A, B, ...) while the client requests continuously, one
/// connection per request: no request to rs1 or rs2 fails. A request in flight to the
/// server a reload removes is reset (its conntrack entry is deleted), so each failed
/// request is traced to its real server through the balancer's conntrack events
/// (`conntrack -E`, matched by the client's port and time) and only those to rs3 or rs4 are
/// allowed; their number is printed.
#[test]
fn reload_keeps_the_unchanged_servers_connections_and_storms_drop_nothing() {
    require!("nginx", "nft", "bash", "conntrack");
    let s = setup("lb-reld", 4);
    let conf = |servers: [usize; 3]| {
        let rs: Vec<Rs> = servers.iter().map(|i| Rs::new(s.rs(*i), 1)).collect();
        config(s.vip, 150, "rr", &[], &[], &rs)
    };
    let (conf_a, conf_b) = (conf([1, 2, 3]), conf([1, 2, 4]));
    let d = start_vrrpd(&s.balancer, &conf_a);
    let (rs1, rs2, rs3, rs4) = (s.rs(1), s.rs(2), s.rs(3), s.rs(4));
    wait_rotation(
        &s.balancer,
        &d,
        &[(rs1, Some(1)), (rs2, Some(1)), (rs3, Some(1))],
        "A",
    );
    assert!(
        wait_until(START, POLL, || s.balancer.has_address(s.vip)),
        "no VIP"
    );
    let reload = |text: &str| {
        fs::write(&d.conf, text).expect("write the configuration");
        let started = Instant::now();
        ctl_json(&s.balancer, &d, &["reload"]);
        started.elapsed()
    };

    // A held connection to rs1 or rs2.
    let held = (0..20)
        .map(|n| Held::open(&s.client, s.vip, &format!("r{n}")))
        .find(|h| ["rs1", "rs2"].contains(&h.server().as_str()))
        .expect("a held connection to rs1 or rs2");
    let server = held.server();
    let took = reload(&conf_b);
    let r = wait_rotation(
        &s.balancer,
        &d,
        &[(rs1, Some(1)), (rs2, Some(1)), (rs4, Some(1))],
        "B",
    );
    assert!(!rotation(&s.balancer, &d).contains_key(&rs_name(rs3)));
    let (line, _) = held.ask();
    eprintln!("reload: A -> B answered in {took:?} (rotation {r:?}); held connection: {line}");
    assert_eq!(line, server, "the held connection to an unchanged server");
    reload(&conf_a);
    wait_rotation(
        &s.balancer,
        &d,
        &[(rs1, Some(1)), (rs2, Some(1)), (rs3, Some(1))],
        "A",
    );
    assert_eq!(held.ask().0, server, "the held connection after B -> A");

    // The storm.
    let events = s
        .balancer
        .spawn("conntrack", &["-E", "-e", "NEW", "-o", "timestamp"], &[])
        .expect("conntrack -E");
    std::thread::sleep(Duration::from_millis(300));
    let client = Client::start(
        &s.client,
        s.vip,
        Duration::from_millis(5),
        Duration::from_secs(3),
    );
    client.wait_answers(20, Duration::from_secs(20));
    let storm = Instant::now();
    let mut times = Vec::new();
    for n in 0..20 {
        times.push(reload(if n % 2 == 0 { &conf_b } else { &conf_a }));
        std::thread::sleep(Duration::from_millis(100));
    }
    let storm = storm.elapsed();
    client.wait_answers(20, Duration::from_secs(20));
    let records = client.stop();
    assert!(
        held.ask().0 == server,
        "the held connection after the storm"
    );
    // Let conntrack print the last events.
    std::thread::sleep(Duration::from_millis(500));
    let log = fs::read_to_string(events.stdout_path()).unwrap_or_default();
    let news = parse_conntrack(&log, s.vip);
    let (seen, failed) = tally(&records);
    let mut by_server: BTreeMap<String, usize> = BTreeMap::new();
    for f in &failed {
        let to = news
            .iter()
            .find(|n| n.port == f.port && f.port != 0 && n.wall >= f.wall - 0.05)
            .map_or("unknown".to_string(), |n| name_of(&s, n.server));
        *by_server.entry(to).or_default() += 1;
    }
    times.sort();
    eprintln!(
        "reload storm: 20 reloads in {storm:?} (each answered in {:?} to {:?}, median {:?}); \
         {} requests: {seen:?}; {} failed, by server: {by_server:?} ({:?}); {} connections \
         in the balancer's conntrack events",
        times[0],
        times[19],
        times[10],
        records.len(),
        failed.len(),
        failed.iter().map(|f| &f.result).collect::<Vec<_>>(),
        news.len()
    );
    let bad: usize = ["rs1", "rs2", "unknown"]
        .iter()
        .filter_map(|k| by_server.get(*k))
        .sum();
    assert_eq!(
        bad, 0,
        "failed requests to unchanged servers: {by_server:?} {failed:?}"
    );
    assert!(
        seen.contains_key("rs1") && seen.contains_key("rs2"),
        "unchanged servers answered: {seen:?}"
    );
    assert!(d.is_running(), "{}", d.tail(20));
}

struct New {
    wall: f64,
    port: u16,
    server: Ipv4Addr,
}

/// `[SECS.USECS]  [NEW] tcp 6 120 SYN_SENT src=C dst=VIP sport=P dport=80 [UNREPLIED]
/// src=RS dst=LB sport=8080 dport=Q` lines for the VIP.
fn parse_conntrack(log: &str, vip: Ipv4Addr) -> Vec<New> {
    let dst = format!("dst={vip} ");
    log.lines()
        .filter(|l| l.contains(&dst) && l.contains("dport=80 "))
        .filter_map(|l| {
            let wall = l
                .trim_start()
                .strip_prefix('[')?
                .split(']')
                .next()?
                .trim()
                .parse()
                .ok()?;
            let field = |name: &str, nth: usize| {
                l.split_whitespace()
                    .filter_map(|w| w.strip_prefix(name))
                    .nth(nth)
                    .map(str::to_string)
            };
            Some(New {
                wall,
                port: field("sport=", 0)?.parse().ok()?,
                server: field("src=", 1)?.parse().ok()?,
            })
        })
        .collect()
}

fn name_of(s: &Setup, addr: Ipv4Addr) -> String {
    (1..=s.servers.len())
        .find(|i| s.rs(*i) == addr)
        .map_or_else(|| addr.to_string(), |i| format!("rs{i}"))
}
